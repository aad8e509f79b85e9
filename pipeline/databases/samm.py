"""SAMM (Manchester Metropolitan), 200 fps greyscale, as it ships.

Frames: `SAMM/<SSS>/<SSS>_<inducement>_<k>/<SSS>_<FFFFF>.jpg`. The FACS-codes sheet comes as
`SAMM_Micro_FACS_Codes_v2.xlsx` (13 title rows, header on Excel row 14) or
`SAMM_20181215_Micro_FACS_Codes_v2.xlsx` (header on row 1); the header is found by its column
names, so both read the same way. Labels keep SAMM's spelling (`Other`, not `Others`).
"""

from __future__ import annotations

from pathlib import Path

from pipeline.databases.coded import CodedDatabase, read_coded
from pipeline.databases.common import AdapterResult
from pipeline.databases.frames import FrameLayout, find_layout, require_root
from pipeline.databases.sheets import find_sheet

SHEETS = ("SAMM_Micro_FACS_Codes_v2.xlsx", "SAMM_20181215_Micro_FACS_Codes_v2.xlsx")
LAYOUTS = (FrameLayout("SAMM", r"\d+_(\d+)\.jpg", "<SSS>_<FFFFF>.jpg"),)
EMOTIONS = ("Anger", "Other", "Happiness", "Surprise", "Contempt", "Disgust", "Fear", "Sadness")


def samm_aus(cell: object) -> str:
    """SAMM's AU cells are free text ('A/L12', '4 or 7', 'ref(..)'): kept as written, surrounding
    spaces removed; a single AU read as the number 12 -> '12'."""
    return "" if cell is None else str(cell).strip()


SAMM = CodedDatabase(
    key="samm", fps=200,
    columns={"subject": "Subject", "clip": "Filename", "onset": "Onset Frame",
             "apex": "Apex Frame", "offset": "Offset Frame", "aus": "Action Units",
             "emotion": "Estimated Emotion"},
    emotions=EMOTIONS, subject_folder=lambda n: f"{n:03d}", clean_aus=samm_aus,
    objective_column="Objective Classes")


def read_samm(root: Path | str) -> AdapterResult:
    root = require_root(root, "SAMM", "samm", "SAMM_Micro_FACS_Codes_v2.xlsx and SAMM/")
    sheet = find_sheet(root, SHEETS, "SAMM FACS-codes sheet")
    layout = find_layout(root, LAYOUTS, "SAMM")
    return read_coded(SAMM, sheet, root / layout.folder, layout)
