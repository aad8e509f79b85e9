"""Layout writers: put clips on disk exactly where and how the real database releases do.

Each writer takes `ClipToWrite` records one at a time: `add` writes the frames at once (so a
large database never sits in memory) and keeps the clip's spreadsheet row; `finish` writes the
coding sheet with those rows in insertion order. Cell values are written as given, so a quirky
annotation (apex "/", an AU cell that is a number) reaches the adapters the way the real file
presents it. Every file is written under a temporary name and renamed, so an interrupted run
never leaves a truncated frame or sheet behind.

CASME (I) is written as loaders of the release read it: `casme.xlsx` with `Subject | Filename |
(blank) | OnsetF | ApexF1 | ApexF2 | OffsetF | (blank) | AU | Emotion` and frames
`Cropped/subNN/<Filename>/reg_<Filename>-<n>.jpg`, the number zero-padded to three digits from
sheet row 92 on.
"""

from __future__ import annotations

import csv
import datetime
import io
import re
import zipfile
from abc import ABC, abstractmethod
from pathlib import Path

import cv2
import numpy as np
import openpyxl
import xlwt

from pipeline.atomic import write_atomic
from pipeline.synthetic.spec import ClipToWrite

JPEG_QUALITY = 95

CASME2_SHEETS = {"xlsx2014": "CASME2-coding-20140508.xlsx",
                 "xlsx2019": "CASME2-coding-20190701.xlsx",
                 "xls": "CASME2_label_Ver_2.xls"}
# The .xlsx releases carry two unnamed, empty columns (pandas: `Unnamed: 2`, `Unnamed: 6`).
CASME2_XLSX_HEADER = ["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None,
                      "Action Units", "Estimated Emotion"]
CASME2_XLS_HEADER = ["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame",
                     "Action Units", "Estimated Emotion"]
CASME2_FRAMES = {"cropped": ("Cropped", "reg_img{}.jpg"), "raw": ("CASME2_RAW_selected", "img{}.jpg")}

SAMM_SHEETS = {"v2": "SAMM_Micro_FACS_Codes_v2.xlsx",
               "single_header": "SAMM_20181215_Micro_FACS_Codes_v2.xlsx"}
SAMM_HEADER = ["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame",
               "Offset Frame", "Duration", "Micro", "Action Units", "Estimated Emotion",
               "Objective Classes", "Notes"]
# Excel rows 1-13 of the v2 release are a title block; the header is row 14.
SAMM_TITLE = ["SAMM: Spontaneous Actions and Micro-Movements", None,
              "Micro-movement FACS coding, version 2", None,
              "Subject: participant number; the frames are in SAMM/<SSS>/<Filename>/",
              "Inducement Code: the stimulus video that induced the movement",
              "Onset, Apex and Offset Frame: frame numbers as in the image file names",
              "Duration: number of frames from onset to offset",
              "Action Units: FACS coding of the movement",
              "Estimated Emotion: the emotion the stimulus was chosen to induce",
              "Objective Classes: classes from action units (Davison et al. 2018)",
              None, None]

SMIC_FRAMES = {"cropped": ("SMIC_all_cropped", "reg_image{:06d}.bmp"),
               "raw": ("SMIC_all_raw", "image{:06d}.bmp")}
SMIC_NON_MICRO_FRAMES = 3

CASME_SHEET = "casme.xlsx"
CASME_HEADER = ["Subject", "Filename", None, "OnsetF", "ApexF1", "ApexF2", "OffsetF", None, "AU",
                "Emotion"]
CASME_FRAMES = {"cropped": ("Cropped", "reg_{clip}-{number}.jpg"),
                "raw": ("CASME_raw_selected", "{clip}-{number}.jpg")}
CASME_PADDED_FROM_ROW = 92     # Excel row from which frame numbers are written as 001, 002 ...


# Workbooks carry the time they were written (document properties, zip entry dates); a fixed
# time makes the same rows give the same bytes, so `dvc repro` of synthesize changes nothing.
WORKBOOK_TIME = datetime.datetime(2014, 5, 8)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def write_image(path: Path, image: np.ndarray) -> None:
    """Encode an RGB (or grey) uint8 image with OpenCV, JPEG at quality 95, BGR on disk."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if path.suffix == ".jpg" else []
    ok, data = cv2.imencode(path.suffix, image, params)
    if not ok:
        raise ValueError(f"OpenCV could not encode {path.name}")
    write_atomic(path, data.tobytes())


def write_xlsx(path: Path, rows: list[list], sheet: str = "Sheet1") -> None:
    """Rows as given (None = empty cell); openpyxl keeps ints as numbers, strings as text.
    Written reproducibly: the same rows give the same bytes."""
    book = openpyxl.Workbook()
    book.active.title = sheet
    book.properties.created = WORKBOOK_TIME
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    write_atomic(path, restamp_workbook(buffer.getvalue()))


def restamp_workbook(data: bytes) -> bytes:
    """The same .xlsx with every zip entry dated ZIP_TIME and the document's `modified`
    property set to WORKBOOK_TIME (openpyxl stamps both with the time of saving)."""
    stamp = WORKBOOK_TIME.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                                 rb"\g<1>" + stamp + rb"\g<2>", content)
            entry = zipfile.ZipInfo(info.filename, ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(entry, content)
    return out.getvalue()


def write_xls(path: Path, rows: list[list], sheet: str = "Sheet1") -> None:
    """The legacy .xls format with xlwt; empty cells are left out, as Excel does."""
    book = xlwt.Workbook()
    page = book.add_sheet(sheet)
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value is not None:
                page.write(r, c, value)
    write_atomic(path, lambda tmp: book.save(str(tmp)))


class LayoutWriter(ABC):
    """Frames now, sheet rows kept for `finish`; subclasses say where things go."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.rows: list[list] = []

    @abstractmethod
    def frame_path(self, clip: ClipToWrite, number: int) -> Path:
        """Where frame `number` of `clip` goes."""

    def row(self, clip: ClipToWrite) -> list | None:
        """The clip's spreadsheet row; None for databases without a sheet."""
        return None

    def pixels(self, image: np.ndarray) -> np.ndarray:
        return image

    def add(self, clip: ClipToWrite) -> None:
        if len(clip.frames) != len(clip.frame_numbers):
            raise ValueError(f"{clip.clip}: {len(clip.frames)} frames but "
                             f"{len(clip.frame_numbers)} frame numbers")
        if clip.on_disk:
            for number, image in zip(clip.frame_numbers, clip.frames):
                write_image(self.frame_path(clip, number), self.pixels(image))
        row = self.row(clip)
        if clip.in_sheet and row is not None:
            self.rows.append(row)

    def finish(self) -> None:
        """Nothing to write for databases labelled by folder names (SMIC)."""


class CASME2Writer(LayoutWriter):
    """CASME II: `Cropped/subNN/<Filename>/reg_img<N>.jpg` (or the raw `CASME2_RAW_selected/...
    img<N>.jpg`) and one of the three coding-sheet releases."""

    def __init__(self, root: Path, variant: str = "xlsx2014", layout: str = "cropped"):
        super().__init__(root)
        if variant not in CASME2_SHEETS or layout not in CASME2_FRAMES:
            raise ValueError(f"CASME II variant {variant!r} / layout {layout!r}: choose from "
                             f"{sorted(CASME2_SHEETS)} / {sorted(CASME2_FRAMES)}")
        self.variant = variant
        self.folder, self.name = CASME2_FRAMES[layout]

    def frame_path(self, clip: ClipToWrite, number: int) -> Path:
        return self.root / self.folder / f"sub{clip.subject:02d}" / clip.clip / self.name.format(number)

    def row(self, clip: ClipToWrite) -> list:
        if self.variant == "xls":
            return [clip.subject, clip.clip, clip.onset, clip.apex, clip.offset,
                    clip.action_units, clip.emotion]
        return [clip.subject, clip.clip, None, clip.onset, clip.apex, clip.offset, None,
                clip.action_units, clip.emotion]

    def finish(self) -> None:
        path = self.root / CASME2_SHEETS[self.variant]
        if self.variant == "xls":
            write_xls(path, [CASME2_XLS_HEADER] + self.rows)
        else:
            write_xlsx(path, [CASME2_XLSX_HEADER] + self.rows)


class SAMMWriter(LayoutWriter):
    """SAMM: grey `SAMM/<SSS>/<SSS>_<ind>_<k>/<SSS>_<FFFFF>.jpg` and the FACS-codes sheet, either
    the v2 release (13 title rows above the header) or the single-header one."""

    def __init__(self, root: Path, variant: str = "v2"):
        super().__init__(root)
        if variant not in SAMM_SHEETS:
            raise ValueError(f"SAMM variant {variant!r}: choose from {sorted(SAMM_SHEETS)}")
        self.variant = variant

    def frame_path(self, clip: ClipToWrite, number: int) -> Path:
        subject = f"{clip.subject:03d}"
        return self.root / "SAMM" / subject / clip.clip / f"{subject}_{number:05d}.jpg"

    def pixels(self, image: np.ndarray) -> np.ndarray:
        """SAMM was filmed in greyscale: single-channel JPEGs."""
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image

    def row(self, clip: ClipToWrite) -> list:
        timed = isinstance(clip.onset, int) and isinstance(clip.offset, int)
        duration = clip.offset - clip.onset + 1 if timed else None
        return [clip.subject, clip.clip, clip.inducement, clip.onset, clip.apex, clip.offset,
                duration, "Micro", clip.action_units, clip.emotion, clip.objective_class, None]

    def finish(self) -> None:
        title = [[line] for line in SAMM_TITLE] if self.variant == "v2" else []
        write_xlsx(self.root / SAMM_SHEETS[self.variant], title + [SAMM_HEADER] + self.rows)


class SMICWriter(LayoutWriter):
    """SMIC: `SMIC_all_cropped/<HS|VIS|NIR>/s<k>/micro/<class>/<clip>/reg_image<6 digits>.bmp`
    (raw: `SMIC_all_raw/.../image<6 digits>.bmp`). Labels live in the folder names only. With
    `non_micro`, each subject also gets the sibling `non_micro/` folder the release has."""

    def __init__(self, root: Path, modality: str = "HS", layout: str = "cropped",
                 non_micro: bool = True):
        super().__init__(root)
        if modality not in ("HS", "VIS", "NIR") or layout not in SMIC_FRAMES:
            raise ValueError(f"SMIC modality {modality!r} / layout {layout!r}: choose from "
                             f"HS, VIS, NIR / {sorted(SMIC_FRAMES)}")
        folder, self.name = SMIC_FRAMES[layout]
        self.base = self.root / folder / modality
        self.non_micro = non_micro
        self.subjects_done: set[int] = set()

    def frame_path(self, clip: ClipToWrite, number: int) -> Path:
        return self.base / f"s{clip.subject}" / "micro" / clip.emotion / clip.clip / self.name.format(number)

    def add(self, clip: ClipToWrite) -> None:
        super().add(clip)
        if self.non_micro and clip.on_disk and clip.subject not in self.subjects_done:
            self.subjects_done.add(clip.subject)
            folder = self.base / f"s{clip.subject}" / "non_micro" / f"s{clip.subject}_non_01"
            for number, image in list(zip(clip.frame_numbers, clip.frames))[:SMIC_NON_MICRO_FRAMES]:
                write_image(folder / self.name.format(number), image)


class CASMEWriter(LayoutWriter):
    """CASME (I): `Cropped/subNN/<Filename>/reg_<Filename>-<n>.jpg` (raw: `CASME_raw_selected/...
    <Filename>-<n>.jpg`) and `casme.xlsx` (see the module docstring). Clips are added in sheet
    order: a clip's row decides whether its frame numbers are padded."""

    def __init__(self, root: Path, layout: str = "cropped"):
        super().__init__(root)
        if layout not in CASME_FRAMES:
            raise ValueError(f"CASME layout {layout!r}: choose from {sorted(CASME_FRAMES)}")
        self.folder, self.name = CASME_FRAMES[layout]

    def frame_path(self, clip: ClipToWrite, number: int) -> Path:
        excel_row = len(self.rows) + 2                 # the row this clip gets: header is row 1
        shown = f"{number:03d}" if excel_row >= CASME_PADDED_FROM_ROW else str(number)
        return (self.root / self.folder / f"sub{clip.subject:02d}" / clip.clip /
                self.name.format(clip=clip.clip, number=shown))

    def row(self, clip: ClipToWrite) -> list:
        return [clip.subject, clip.clip, None, clip.onset, clip.apex, None, clip.offset, None,
                clip.action_units, clip.emotion]

    def finish(self) -> None:
        write_xlsx(self.root / CASME_SHEET, [CASME_HEADER] + self.rows)


def write_megc2019_gt(path: Path, rows: list[tuple[str, str, str, str]]) -> None:
    """MEGC 2019 `combined_3class_gt.csv`: no header; dataset,subject,filename,class with the
    challenge's subject ids (`sub01`, `6`, `s01`)."""
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    write_atomic(path, text.getvalue())
