"""MMEW (Ben et al. 2021), 90 fps, as it ships.

One sheet, `MMEW_Micro_Exp.xlsx`: `Subject | Filename | OnsetFrame | ApexFrame | OffsetFrame |
Action Units | Estimated Emotion | remarks`. Frames are filed by emotion, not by subject:
`Micro_Expression/<Estimated Emotion>/<Filename>/<n>.jpg`, n unpadded. The folder of the rows
labelled `others` is `repression` (loaders rename the label before they build the path), so
`repression/` is looked in first and an `others/` folder is taken when that is what is there.

With no subject folder, a subject is named by its number, two digits (`7`, `'7'` and `'07'` are
all `07`); `S07` in a Subject cell reads the same. The macro-expressions (`Macro_Expression/`)
are not read.
"""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.databases.casme2 import compact_aus
from pipeline.databases.coded import Annotation, CodedDatabase, read_coded
from pipeline.databases.common import AdapterResult, DatabaseError
from pipeline.databases.frames import FrameLayout, find_layout, require_root
from pipeline.databases.sheets import find_sheet

SHEETS = ("MMEW_Micro_Exp.xlsx",)
LAYOUTS = (FrameLayout("Micro_Expression", r"(\d+)\.jpg", "<n>.jpg"),)
EMOTIONS = ("happiness", "surprise", "anger", "disgust", "fear", "sadness", "others")
# label -> the emotion folders its clips may be in, first choice first
FOLDERS = {"others": ("repression", "others")}


def subject_name(cell: object, sheet: Path, row: int, column: str) -> str:
    """A Subject cell: 7, '7', '07' or 'S07' -> '07'."""
    if isinstance(cell, int) and not isinstance(cell, bool):
        return f"{cell:02d}"
    match = re.fullmatch(r"S?0*(\d+)", str(cell), flags=re.IGNORECASE) if cell else None
    if not match:
        raise DatabaseError(f"{sheet} row {row}: {column} {cell!r} is not a subject number; "
                            "correct the cell")
    return f"{int(match.group(1)):02d}"


def emotion_folders(note: Annotation) -> tuple[str, ...]:
    """`<emotion>/<Filename>`, and for `others` rows `repression/` before `others/`."""
    return tuple(f"{folder}/{note.clip}" for folder in FOLDERS.get(note.emotion, (note.emotion,)))


MMEW = CodedDatabase(
    key="mmew", fps=90,
    columns={"subject": "Subject", "clip": "Filename", "onset": "OnsetFrame",
             "apex": "ApexFrame", "offset": "OffsetFrame", "aus": "Action Units",
             "emotion": "Estimated Emotion"},
    emotions=EMOTIONS, subject_folder=lambda n: f"{n:02d}", clean_aus=compact_aus,
    subject_name=subject_name, clip_folders=emotion_folders)


def read_mmew(root: Path | str) -> AdapterResult:
    root = require_root(root, "MMEW", "mmew", "MMEW_Micro_Exp.xlsx and Micro_Expression/")
    sheet = find_sheet(root, SHEETS, "MMEW micro-expression sheet")
    layout = find_layout(root, LAYOUTS, "MMEW")
    return read_coded(MMEW, sheet, root / layout.folder, layout)
