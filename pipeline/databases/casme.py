"""CASME (I), 60 fps, in the layout pipeline.synthetic.layouts.CASMEWriter documents.

The release "resembles CASME II": per-subject folders of per-clip frame folders
(`Cropped/subNN/<Filename>/reg_img<N>.jpg`) and a coding sheet `CASME-coding.xlsx` with
`Subject | Filename | OnsetFrame | ApexFrame | OffsetFrame | Action Units | Emotion`, so it goes
through the same row-to-frames rules as CASME II.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.databases.casme2 import compact_aus
from pipeline.databases.coded import CodedDatabase, read_release
from pipeline.databases.common import AdapterResult
from pipeline.databases.frames import FrameLayout

SHEETS = ("CASME-coding.xlsx",)
LAYOUTS = (FrameLayout("Cropped", r"reg_img(\d+)\.jpg", "reg_img<N>.jpg"),)
EMOTIONS = ("disgust", "repression", "surprise", "tense", "happiness", "fear", "sadness",
            "contempt")

CASME = CodedDatabase(
    key="casme", fps=60,
    columns={"subject": "Subject", "clip": "Filename", "onset": "OnsetFrame",
             "apex": "ApexFrame", "offset": "OffsetFrame", "aus": "Action Units",
             "emotion": "Emotion"},
    emotions=EMOTIONS, subject_folder=lambda n: f"sub{n:02d}", clean_aus=compact_aus)


def read_casme(root: Path | str) -> AdapterResult:
    return read_release(CASME, root, "CASME (I)", "CASME-coding.xlsx and Cropped/", SHEETS, LAYOUTS)
