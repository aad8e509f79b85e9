"""The sample table (data/index/samples.csv): its columns, reading it, and one row as a clip.

The index stage writes it (pipeline/index.py, through the database adapters); every later stage
reads it through this module, which needs none of the adapters, so a change to how a database
is read re-runs the index and, only if the table changes, what comes after it.

One row per clip. `frames_sha256` is a digest of the clip's frame files, in order: the table
changes whenever a frame's pixels do, even when every file name stays the same (a re-cropped
release, a corrected frame), so DVC re-runs the preprocessing stages that depend on the table.
Every column after COLUMNS is the clip's label under one class scheme (pipeline/schemes.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

SAMPLES = Path("data/index/samples.csv")
COLUMNS = ["sample_id", "database", "subject", "subject_id", "clip", "frame_dir", "frames",
           "frame_numbers", "frames_sha256", "first_frame", "last_frame", "n_frames", "onset",
           "apex", "offset", "fps", "emotion", "action_units", "objective_class", "source",
           "row", "repairs"]
INTEGER_COLUMNS = ["apex", "objective_class", "row"]      # nullable: Int64
TEXT_COLUMNS = ["subject", "clip", "action_units", "repairs", "frames", "frame_numbers",
                "frames_sha256"]


def frames_digest(frame_dir: str | Path, names: Sequence[str]) -> str:
    """sha256 over the clip's frame files (name and bytes, in clip order), 32 hex digits."""
    digest = hashlib.sha256()
    for name in names:
        digest.update(name.encode() + b"\0")
        with open(Path(frame_dir) / name, "rb") as file:
            digest.update(hashlib.file_digest(file, "sha256").digest())
    return digest.hexdigest()[:32]


def scheme_columns(table: pd.DataFrame) -> list[str]:
    """The class-scheme columns of a sample table: everything after the fixed columns."""
    return [c for c in table.columns if c not in COLUMNS]


def read_samples(path: str | Path = SAMPLES) -> pd.DataFrame:
    """The sample table with its nullable integer and text columns restored."""
    table = pd.read_csv(path, dtype={c: str for c in TEXT_COLUMNS})
    for col in INTEGER_COLUMNS:
        table[col] = table[col].astype("Int64")
    for col in scheme_columns(table):
        table[col] = table[col].astype("string")
    return table


@dataclass(frozen=True)
class ClipRow:
    """One clip as the sample table describes it, in the form a worker process needs."""

    sample_id: str
    database: str
    subject: str
    frame_dir: str
    frames: tuple[str, ...]
    frame_numbers: tuple[int, ...]
    onset: int                  # 0-based indices into `frames`
    apex: int | None
    offset: int
    fps: float
    labels: dict[str, Any]      # native label, AUs and one label per class scheme (None if none)

    def attrs(self) -> dict[str, Any]:
        """What every shard sample carries, so that a trainer needs no other file."""
        return {"database": self.database, "subject": self.subject,
                "subject_id": f"{self.database}/{self.subject}", "fps": self.fps,
                "onset": self.onset, "apex_annotated": self.apex, "offset": self.offset,
                "frame_numbers": list(self.frame_numbers), **self.labels}


def clip_rows(table: pd.DataFrame) -> list[ClipRow]:
    """Table rows -> ClipRows (sorted by sample id) with onset/apex/offset frame numbers turned
    into 0-based indices into the clip's frames."""
    schemes = scheme_columns(table)
    rows = []
    for r in table.sort_values("sample_id").to_dict("records"):
        names = tuple(str(r["frames"]).split())
        numbers = tuple(int(n) for n in str(r["frame_numbers"]).split())
        position = {n: i for i, n in enumerate(numbers)}
        labels = {"emotion": r["emotion"], "action_units": r["action_units"],
                  **{key: r[key] for key in schemes}}
        labels = {k: (None if pd.isna(v) else str(v)) for k, v in labels.items()}
        rows.append(ClipRow(
            sample_id=r["sample_id"], database=r["database"], subject=str(r["subject"]),
            frame_dir=str(r["frame_dir"]), frames=names, frame_numbers=numbers,
            onset=position[int(r["onset"])], offset=position[int(r["offset"])],
            apex=None if pd.isna(r["apex"]) else position[int(r["apex"])],
            fps=float(r["fps"]), labels=labels))
    return rows
