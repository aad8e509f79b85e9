"""CASME (I) (Yan et al. 2013), 60 fps, as it ships.

The coding sheet's file name is not settled (loaders call it `casme.xlsx`), so it is found by its
header: `Subject | Filename | (blank) | OnsetF | ApexF1 | ApexF2 | OffsetF | (blank) | AU |
Emotion`. Frames come cropped (`Cropped/subNN/<Filename>/reg_<Filename>-<n>.jpg`) or raw
(`CASME_raw_selected/subNN/<Filename>/<Filename>-<n>.jpg`); from sheet row 92 on the frame
number is zero-padded to three digits (`reg_EP12_2-007.jpg`), which the frame numbers absorb.

ApexF1 is the apex. ApexF2, filled where the coders marked the apex as lasting several frames,
is the plateau's last frame and is not needed: every network takes one apex frame. The release
spells contempt `comtempt`; the label is kept as spelled and the class schemes list both.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.databases.casme2 import compact_aus
from pipeline.databases.coded import CodedDatabase, read_coded
from pipeline.databases.common import AdapterResult
from pipeline.databases.frames import FrameLayout, find_layout, require_root
from pipeline.databases.sheets import find_sheet_by_header

SHEETS = ("casme.xlsx", "CASME.xlsx", "CASME-coding.xlsx")
# The file name repeats the Filename: `.+` up to the last hyphen takes any clip name.
LAYOUTS = (FrameLayout("Cropped", r"reg_.+-(\d+)\.jpg", "reg_<Filename>-<n>.jpg"),
           FrameLayout("CASME_raw_selected", r"(?!reg_).+-(\d+)\.jpg", "<Filename>-<n>.jpg"))
EMOTIONS = ("disgust", "repression", "surprise", "tense", "happiness", "fear", "sadness",
            "contempt", "comtempt")

CASME = CodedDatabase(
    key="casme", fps=60,
    columns={"subject": "Subject", "clip": "Filename", "onset": "OnsetF", "apex": "ApexF1",
             "offset": "OffsetF", "aus": "AU", "emotion": "Emotion"},
    emotions=EMOTIONS, subject_folder=lambda n: f"sub{n:02d}", clean_aus=compact_aus)


def read_casme(root: Path | str) -> AdapterResult:
    root = require_root(root, "CASME (I)", CASME.key, "the coding sheet and Cropped/")
    sheet = find_sheet_by_header(root, SHEETS, list(CASME.columns.values()), "CASME (I) coding sheet")
    layout = find_layout(root, LAYOUTS, "CASME (I)")
    return read_coded(CASME, sheet, root / layout.folder, layout)
