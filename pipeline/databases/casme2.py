"""CASME II (Institute of Psychology, CAS), 200 fps, as it ships.

Three coding-sheet releases exist: `CASME2-coding-20190701.xlsx` (the latest, preferred when
several are present), `CASME2-coding-20140508.xlsx` (both with two unnamed columns) and
`CASME2_label_Ver_2.xls` (seven named columns). Frames come cropped
(`Cropped/subNN/<Filename>/reg_img<N>.jpg`) or raw (`CASME2_RAW_selected/.../img<N>.jpg`).
"""

from __future__ import annotations

from pathlib import Path

from pipeline.databases.coded import CodedDatabase, read_release
from pipeline.databases.common import AdapterResult
from pipeline.databases.frames import FrameLayout

SHEETS = ("CASME2-coding-20190701.xlsx", "CASME2-coding-20140508.xlsx", "CASME2_label_Ver_2.xls")
LAYOUTS = (FrameLayout("Cropped", r"reg_img(\d+)\.jpg", "reg_img<N>.jpg"),
           FrameLayout("CASME2_RAW_selected", r"img(\d+)\.jpg", "img<N>.jpg"))
EMOTIONS = ("happiness", "surprise", "disgust", "repression", "others", "fear", "sadness")


def compact_aus(cell: object) -> str:
    """'1+2+ L4 ' -> '1+2+L4'; a single AU read as the number 4 -> '4'; '?' and L/R kept."""
    return "" if cell is None else "".join(str(cell).split())


CASME2 = CodedDatabase(
    key="casme2", fps=200,
    columns={"subject": "Subject", "clip": "Filename", "onset": "OnsetFrame",
             "apex": "ApexFrame", "offset": "OffsetFrame", "aus": "Action Units",
             "emotion": "Estimated Emotion"},
    emotions=EMOTIONS, subject_folder=lambda n: f"sub{n:02d}", clean_aus=compact_aus)


def read_casme2(root: Path | str) -> AdapterResult:
    return read_release(CASME2, root, "CASME II", "CASME2-coding-*.xlsx and Cropped/", SHEETS, LAYOUTS)
