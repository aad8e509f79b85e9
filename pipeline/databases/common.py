"""What every database adapter returns, and the one error type it raises.

An adapter reads one licensed database exactly as it ships (or the synthetic copy written in the
same layout) and returns a list of `Clip` records plus a list of `RowIssue`s: every annotation row
it had to repair or skip, with the reason, so that the index report can list them. Problems that
make the whole database unusable (missing spreadsheet, missing columns, unknown labels, a root
that does not exist) raise `DatabaseError` with one line naming the file, the row and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


class DatabaseError(Exception):
    """A database cannot be read as configured. The message is one line: file, row, what to do."""


@dataclass
class Clip:
    """One micro-expression clip as found on disk, with its annotation after quirk handling.

    Frame numbers are the database's own (`reg_img46.jpg` -> 46); `onset`, `apex` and `offset`
    use the same numbering. `apex` is None when the database has none (SMIC) or when the
    annotated apex was unusable; later stages spot it from the frames.
    """

    database: str                  # adapter key: casme2, samm, smic_hs, smic_vis, smic_nir, casme
    subject: str                   # native subject folder name: sub01, 006, s1
    clip: str                      # native clip folder / Filename: EP02_01f, 006_1_2, s1_ne_01
    frame_dir: Path                # folder holding the frames
    frames: list[str]              # frame file names, sorted by frame number
    frame_numbers: list[int]       # the number in each file name, same order
    onset: int
    apex: int | None
    offset: int
    fps: float
    emotion: str                   # native label exactly as the database spells it
    action_units: str = ""         # normalised AU string ("1+2+L4"), empty when unknown
    objective_class: int | None = None  # SAMM's Objective Classes column (1..7), else None
    source: str = ""               # annotation file (or folder) the label came from
    row: int | None = None         # 1-based spreadsheet row as Excel shows it
    repairs: list[str] = field(default_factory=list)  # repairs applied to this clip, human-readable

    @property
    def subject_id(self) -> str:
        """Subject namespaced by database, so that LOSO never merges two people."""
        return f"{self.database}/{self.subject}"

    @property
    def sample_id(self) -> str:
        """Stable id used as the HDF5 group key downstream."""
        return f"{self.database}/{self.subject}/{self.clip}"


@dataclass
class RowIssue:
    """A repaired or skipped annotation row (or on-disk folder), listed in the index report."""

    database: str
    source: str                    # file (or folder) concerned
    row: int | None                # 1-based Excel row, None for folders
    clip: str                      # sample id or native clip name
    action: str                    # "repaired" or "skipped"
    reason: str


@dataclass
class AdapterResult:
    clips: list[Clip]
    issues: list[RowIssue]
