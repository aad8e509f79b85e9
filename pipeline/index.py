"""`index` stage: every configured database -> one sample table and a human-readable report.

Reads each database in `index.use` through its adapter (pipeline/databases), labels every clip
under every class scheme (pipeline/schemes.py), takes the MEGC 2019 composite membership from the
challenge's ground-truth file when one is configured, and writes

    data/index/samples.csv   one row per clip: ids, frame folder, files and their numbers,
                             a digest of the frame files' bytes, onset/apex/offset (frame
                             numbers), native label, AUs, one column per class scheme
                             (pipeline/samples.py reads it)
    data/index/report.json   counts per database / scheme / class / subject, repaired and
                             skipped rows with reasons
    data/index/report.md     the same for people
    data/frames/videos/      the frames of a `videos` database, decoded once from its video
                             files (pipeline/databases/videos.py); empty when none is in use

A database that cannot be read stops the stage with one line (file, row, what to do); rows that
can be repaired or must be skipped are listed in the report instead. Outputs are written to
temporary files and renamed, so a failed run leaves nothing half-written.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd

from pipeline.aus import parse_aus
from pipeline.atomic import write_atomic
from pipeline.databases import read_database
from pipeline.databases.common import Clip, DatabaseError, RowIssue
from pipeline.databases.megc import megc_composite, read_megc2019_gt
from pipeline.databases.videos import FRAMES, clear_frames, read_videos
from pipeline.params import ParamsError, parse, read_params, section
from pipeline.samples import COLUMNS, frames_digest
from pipeline.schemes import SCHEMES, add_scheme_columns

# The adapter key -> the `databases:` entry in params.yaml holding its root.
ROOT_KEY = {"casme2": "casme2", "samm": "samm", "smic_hs": "smic", "smic_vis": "smic",
            "smic_nir": "smic", "casme": "casme", "casme3": "casme3", "casme_sq": "casme_sq",
            "mmew": "mmew", "fourdme": "fourdme", "videos": "videos"}


@dataclass(frozen=True)
class DatabasesParams:
    """params.yaml `databases`: where each database lives, as it ships (README)."""

    casme2: str          # folder holding the CASME II coding sheet and Cropped/ (or the raw frames)
    samm: str
    smic: str            # holds SMIC_all_cropped/{HS,VIS,NIR} (or SMIC_all_raw/)
    casme: str           # CASME (I)
    casme3: str          # CAS(ME)^3 part A
    casme_sq: str        # CAS(ME)^2
    mmew: str
    fourdme: str
    videos: str          # a folder of video files and videos.csv (pipeline/databases/videos.py)
    megc2019_gt: str     # the MEGC 2019 composite list, combined_3class_gt.csv

    def check(self) -> None:
        for key, value in vars(self).items():
            if not value.strip():
                raise ValueError(f"{key}: give a path (dvc.yaml's index stage depends on it)")


@dataclass(frozen=True)
class IndexParams:
    """params.yaml `index`."""

    use: list[str]                 # databases the index reads (keys of ROOT_KEY)
    megc3: Literal["list", "rule"]  # MEGC 2019 composite from databases.megc2019_gt, or by rule

    def check(self) -> None:
        unknown = [name for name in self.use if name not in ROOT_KEY]
        if unknown:
            raise ValueError(f"use: unknown database {unknown[0]!r}; choose from {sorted(ROOT_KEY)}")
        if not self.use or len(set(self.use)) != len(self.use):
            raise ValueError(f"use: name each database once, at least one: {self.use}")


def clip_row(clip: Clip, repo: Path) -> dict:
    """One table row; frame folders inside the repository are stored relative to it."""
    frame_dir = Path(clip.frame_dir).resolve()
    try:
        frame_dir = frame_dir.relative_to(repo)
    except ValueError:
        pass
    return {
        "sample_id": clip.sample_id, "database": clip.database, "subject": clip.subject,
        "subject_id": clip.subject_id, "clip": clip.clip, "frame_dir": frame_dir.as_posix(),
        "frames": " ".join(clip.frames),
        "frame_numbers": " ".join(map(str, clip.frame_numbers)),
        "frames_sha256": frames_digest(clip.frame_dir, clip.frames),
        "first_frame": clip.frame_numbers[0], "last_frame": clip.frame_numbers[-1],
        "n_frames": len(clip.frames),
        "onset": clip.onset, "apex": clip.apex, "offset": clip.offset, "fps": clip.fps,
        "emotion": clip.emotion, "action_units": clip.action_units,
        "objective_class": clip.objective_class, "source": clip.source, "row": clip.row,
        "repairs": "; ".join(clip.repairs),
    }


def build_index(use: list[str], roots: dict[str, str], megc_gt: str | None,
                repo: Path = Path("."), frames: Path = FRAMES) -> tuple[pd.DataFrame, list[RowIssue]]:
    """Read the databases and label every clip; raises DatabaseError on unusable input. A
    `videos` database has its frames decoded into `frames`."""
    unknown = [name for name in use if name not in ROOT_KEY]
    if unknown:
        raise DatabaseError(f"params.yaml index.use: unknown database {unknown[0]!r}; "
                            f"choose from {sorted(ROOT_KEY)}")
    clips: list[Clip] = []
    issues: list[RowIssue] = []
    for name in use:
        root = roots[ROOT_KEY[name]]
        result = read_videos(root, frames) if name == "videos" else read_database(name, root)
        clips += result.clips
        issues += result.issues
    for clip in clips:                  # an AU cell with pieces that are no AU: say so
        parsed = parse_aus(clip.action_units)
        if parsed.unparsed:
            kept = "+".join(str(u) for u in parsed.units) or "no AU"
            issues.append(RowIssue(clip.database, clip.source, clip.row, clip.sample_id,
                                   "repaired", f"AUs {parsed.text!r}: could not read "
                                   f"{', '.join(map(repr, parsed.unparsed))}; kept {kept}"))
    duplicated = [sid for sid, n in Counter(c.sample_id for c in clips).items() if n > 1]
    if duplicated:
        raise DatabaseError(f"sample id {duplicated[0]!r} occurs twice across the configured "
                            "databases; give each database its own root in params.yaml")

    repo = repo.resolve()
    table = pd.DataFrame([clip_row(c, repo) for c in clips], columns=COLUMNS)
    for col in ["apex", "objective_class", "row"]:
        table[col] = table[col].astype("Int64")
    table = add_scheme_columns(table)

    composite_dbs = {"casme2", "samm", "smic_hs"} & set(use)
    if megc_gt and composite_dbs:
        # The official composite list decides membership and class; the rule-based labels stay
        # available for comparison, and every disagreement is reported.
        gt_rows = [r for r in read_megc2019_gt(Path(megc_gt)) if r[0] in composite_dbs]
        official, gt_issues = megc_composite([c for c in clips if c.database in composite_dbs],
                                             gt_rows)
        issues += gt_issues
        rule = table["megc3"]
        table["megc3"] = table["sample_id"].map(official).astype("string")
        for sid, by_rule, by_gt in zip(table["sample_id"], rule, table["megc3"]):
            by_rule = None if pd.isna(by_rule) else str(by_rule)
            by_gt = None if pd.isna(by_gt) else str(by_gt)
            if by_rule == by_gt:
                continue
            issues.append(RowIssue(sid.split("/")[0], str(megc_gt), None, sid, "repaired",
                                   f"megc3 label {by_gt or 'excluded'} from the composite list, "
                                   f"rule gives {by_rule or 'excluded'}"))
    return table.sort_values("sample_id").reset_index(drop=True), issues


def summarise(table: pd.DataFrame, issues: list[RowIssue]) -> dict:
    """Counts per database, per scheme and class, per subject; every repair and skip."""
    schemes = {}
    for key in SCHEMES:
        labelled = table[table[key].notna()]
        if labelled.empty:
            continue
        schemes[key] = {
            "samples": len(labelled),
            "subjects": int(labelled["subject_id"].nunique()),
            "per_class": {str(k): int(v) for k, v in labelled[key].value_counts().sort_index().items()},
            "per_database": {str(k): int(v) for k, v in labelled["database"].value_counts().sort_index().items()},
        }
    per_db = {}
    for db, rows in table.groupby("database"):
        per_db[str(db)] = {
            "samples": len(rows), "subjects": int(rows["subject"].nunique()),
            "frames": int(rows["n_frames"].sum()),
            "missing_apex": int(rows["apex"].isna().sum()),
            "per_emotion": {str(k): int(v) for k, v in rows["emotion"].fillna("")
                            .replace("", "(unlabelled)").value_counts().sort_index().items()},
            "per_subject": {str(k): int(v) for k, v in rows["subject"].value_counts().sort_index().items()},
        }
    return {
        "samples": len(table), "subjects": int(table["subject_id"].nunique()),
        "frames": int(table["n_frames"].sum()),
        "databases": per_db, "schemes": schemes,
        "repaired": [vars(i) for i in issues if i.action == "repaired"],
        "skipped": [vars(i) for i in issues if i.action == "skipped"],
    }


def report_markdown(summary: dict) -> str:
    """The report people read: counts first, then every repaired and skipped row."""
    lines = ["# Index report", "",
             f"{summary['samples']} clips, {summary['subjects']} subjects, "
             f"{summary['frames']} frames; {len(summary['repaired'])} rows repaired, "
             f"{len(summary['skipped'])} skipped.", "", "## Databases", "",
             "| database | clips | subjects | frames | missing apex | emotions |",
             "|---|---|---|---|---|---|"]
    for db, s in summary["databases"].items():
        emotions = ", ".join(f"{k} {v}" for k, v in s["per_emotion"].items())
        lines.append(f"| {db} | {s['samples']} | {s['subjects']} | {s['frames']} | "
                     f"{s['missing_apex']} | {emotions} |")
    lines += ["", "## Class schemes", "", "| scheme | samples | subjects | per class | per database |",
              "|---|---|---|---|---|"]
    for key, s in summary["schemes"].items():
        per_class = ", ".join(f"{k} {v}" for k, v in s["per_class"].items())
        per_db = ", ".join(f"{k} {v}" for k, v in s["per_database"].items())
        lines.append(f"| {key} | {s['samples']} | {s['subjects']} | {per_class} | {per_db} |")
    lines += ["", "## Clips per subject", ""]
    for db, s in summary["databases"].items():
        lines.append(f"- {db}: " + ", ".join(f"{k} {v}" for k, v in s["per_subject"].items()))
    for action in ("repaired", "skipped"):
        lines += ["", f"## {action.capitalize()} rows", ""]
        if not summary[action]:
            lines.append("None.")
            continue
        lines += ["| database | clip | file | row | reason |", "|---|---|---|---|---|"]
        for i in summary[action]:
            lines.append(f"| {i['database']} | {i['clip']} | {short_source(i['source'])} | "
                         f"{i['row'] if i['row'] is not None else ''} | {i['reason']} |")
    return "\n".join(lines) + "\n"


def short_source(source: str) -> str:
    """A spreadsheet by its name; a clip or frame folder by its last three path parts, which
    locate it inside the database (`Cropped/sub06/EP16f`)."""
    path = Path(source)
    if path.suffix.lower() in {".xlsx", ".xls", ".csv"}:
        return path.name
    return "/".join(path.parts[-3:])


def main(params_path: str = "params.yaml", out_dir: str = "data/index") -> None:
    params = read_params(params_path)
    roots = parse(DatabasesParams, section(params, "databases"), "databases")
    config = parse(IndexParams, section(params, "index"), "index")
    megc_list = roots.megc2019_gt if config.megc3 == "list" else None
    out = Path(out_dir)
    frames = out.parent / FRAMES.relative_to("data")     # data/index -> data/frames/videos
    table, issues = build_index(config.use, vars(roots), megc_list, frames=frames)
    if "videos" not in config.use:      # frames decoded by an earlier run are not the index's now
        clear_frames(frames)
    summary = summarise(table, issues)
    write_atomic(out / "samples.csv", table.to_csv(index=False))
    write_atomic(out / "report.json", json.dumps(summary, indent=2) + "\n")
    write_atomic(out / "report.md", report_markdown(summary))
    print(f"indexed {summary['samples']} clips from {len(summary['databases'])} databases "
          f"({summary['frames']} frames); {len(summary['repaired'])} repaired, "
          f"{len(summary['skipped'])} skipped -> {out / 'report.md'}")


if __name__ == "__main__":
    try:
        main(*sys.argv[1:])
    except (DatabaseError, ParamsError) as error:
        sys.exit(f"index: {error}")
