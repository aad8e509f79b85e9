"""The MEGC 2019 composite (CDE protocol): the challenge's own list of clips and classes.

`combined_3class_gt.csv` has no header and one `dataset,subject,filename,class` line per clip,
with the challenge's subject ids (`sub01`, SAMM `6`, SMIC `s01`, zero-padded unlike SMIC's
folders). They are converted here to the adapters' keys and folder names, so that a line can be
matched to an indexed clip.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from pipeline.databases.common import Clip, DatabaseError, RowIssue

CLASSES = ("negative", "positive", "surprise")
# dataset -> (adapter key, subject id pattern, folder name from the subject number)
DATASETS = {"casme2": ("casme2", r"(?:sub)?0*(\d+)", "sub{:02d}"),
            "samm": ("samm", r"0*(\d+)", "{:03d}"),
            "smic": ("smic_hs", r"s0*(\d+)", "s{}")}


def parse_line(fields: list[str], path: Path, line: int) -> tuple[str, str, str, str]:
    expected = "expected dataset,subject,filename,class"
    if len(fields) != 4 or not all(f.strip() for f in fields):
        raise DatabaseError(f"{path} line {line}: {len(fields)} fields {','.join(fields)!r}; "
                            f"{expected}; correct the line")
    dataset, subject, clip, label = (f.strip() for f in fields)
    if dataset.lower() not in DATASETS:
        raise DatabaseError(f"{path} line {line}: unknown dataset {dataset!r}; allowed: "
                            f"{', '.join(DATASETS)}; correct the line")
    key, pattern, folder = DATASETS[dataset.lower()]
    match = re.fullmatch(pattern, subject, flags=re.IGNORECASE)
    if not match:
        raise DatabaseError(f"{path} line {line}: subject {subject!r} is not a {dataset} "
                            "subject id (sub01, 6, s01); correct the line")
    if label.lower() not in CLASSES:
        raise DatabaseError(f"{path} line {line}: unknown class {label!r}; allowed: "
                            f"{', '.join(CLASSES)}; correct the line")
    return key, folder.format(int(match.group(1))), clip, label.lower()


def read_megc2019_gt(path: Path) -> list[tuple[str, str, str, str]]:
    """(adapter key, subject folder, clip, class) per line; repeated lines count once, lines
    that give one clip two classes stop."""
    path = Path(path)
    if not path.is_file():
        raise DatabaseError(f"{path}: MEGC 2019 list not found; set databases.megc2019_gt in "
                            "params.yaml to combined_3class_gt.csv, or to \"\" to derive the "
                            "composite from the labels")
    rows: dict[tuple[str, str, str], tuple[int, str]] = {}
    with open(path, newline="", encoding="utf-8-sig") as file:
        for line, fields in enumerate(csv.reader(file), start=1):
            if not fields or not "".join(fields).strip():
                continue
            key, subject, clip, label = parse_line(fields, path, line)
            seen = rows.setdefault((key, subject, clip), (line, label))
            if seen[1] != label:
                raise DatabaseError(f"{path} lines {seen[0]} and {line}: {key}/{subject}/{clip} "
                                    f"is both {seen[1]} and {label}; delete the wrong line")
    return [(*sample, label) for sample, (_, label) in rows.items()]


def megc_composite(clips: list[Clip], gt: list[tuple[str, str, str, str]],
                   source: str = "combined_3class_gt.csv") -> tuple[dict[str, str], list[RowIssue]]:
    """sample_id -> class for every listed clip that was indexed; listed clips that were not
    (skipped rows, a partial copy of a database) become issues."""
    ids = {(c.database, c.subject, c.clip): c.sample_id for c in clips}
    labels: dict[str, str] = {}
    issues = []
    for key, subject, clip, label in gt:
        sample = ids.get((key, subject, clip))
        if sample is None:
            issues.append(RowIssue(key, source, None, f"{key}/{subject}/{clip}", "skipped",
                                   f"in the MEGC 2019 list as {label} but no such clip was indexed"))
        else:
            labels[sample] = label
    return labels, issues
