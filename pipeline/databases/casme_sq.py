"""CAS(ME)^2 (Institute of Psychology, CAS), 30 fps: micro- and macro-expressions in long videos.

`code_final.xlsx` holds three worksheets, none with a header:
- the first, one row per expression: `subject, video, onset, apex, offset, au, emotion, type,
  selfReport`, e.g. `1 | disgust1_2 | <onset> | <apex> | <offset> | 4+7 | negative |
  micro-expression | <self-report>`;
- the second maps the subject number of the first (column C) to the subject folder (column B,
  `s15`; a bare 15 is read as `s15`); column A is not read;
- the third maps the video name's prefix (column B, `disgust1`: the name up to its first `_`) to
  the stimulus's 4-digit code (column A, `0101`; a number 101 is padded back to `0101`).
Frames: `rawpic/s15/15_0101disgustingteeth/img<n>.jpg`. The folder name's stimulus title
(`disgustingteeth`) is in no sheet and its leading number is not always the subject's
(`s19/23_0502funnyerrors`), so a video is the one folder of its subject whose name has the
stimulus code after its first `_`. A row whose first cell is not a number (a header someone
added) is passed over, as are rows of the mapping worksheets that hold no mapping.

Accepted variants (the release's own names are not confirmed): the sheet as `code_final.xlsx`,
`CAS(ME)2code_final.xlsx` or any other `*code_final*.xlsx` in the root; the frames in
`rawpic/` or `rawpic/rawpic/` (as unpacked from a `rawpic` archive); frame numbers padded to
three digits (`img001.jpg`) or not.

Only `micro-expression` rows become clips; `macro-expression` rows are not read. Clip ids are
the video cell (`disgust1_1`), unique within a subject (duplicates handled as in casme3.py).
Offset `0` means not coded: the clip ends at its apex (repaired, reported). Every other range
rule is CAS(ME)^3's (`casme3.settle`): both databases cut micro-expressions out of the same
kind of 30 fps long video.
"""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.databases.casme2 import compact_aus
from pipeline.databases.casme3 import Movement, movements_to_clips, respelled, unique_clips
from pipeline.databases.coded import Skip
from pipeline.databases.common import AdapterResult, DatabaseError
from pipeline.databases.frames import FrameLayout, require_root, subfolders
from pipeline.databases.sheets import clean, frame_cell, load_pages, subject_cell

KEY = "casme_sq"
FPS = 30
SHEETS = ("code_final.xlsx", "CAS(ME)2code_final.xlsx")
FRAMES = FrameLayout("rawpic", r"img(\d+)\.jpg", "img<N>.jpg")
EMOTIONS = ("positive", "negative", "surprise", "others")
MICRO, MACRO = "micro-expression", "macro-expression"
# columns of the first worksheet, in order
COLUMNS = ("subject", "video", "onset", "apex", "offset", "au", "emotion", "type", "selfReport")
VIDEO_FOLDER = re.compile(r"\d+_(\d{4})")


def find_code_sheet(root: Path) -> Path:
    for name in SHEETS:
        if (root / name).is_file():
            return root / name
    others = sorted(p for p in root.glob("*code_final*.xls*") if not p.name.startswith("~$"))
    if others:
        return others[0]
    raise DatabaseError(f"{root}: no CAS(ME)^2 coding sheet found; looked for "
                        f"{', '.join(SHEETS)}; put the release's code_final.xlsx in this folder")


def find_frames(root: Path) -> Path:
    """rawpic/, or rawpic/rawpic/ when the subject folders lie one level deeper."""
    outer = root / FRAMES.folder
    inner = outer / FRAMES.folder
    if inner.is_dir() and not any(re.fullmatch(r"s\d+", p.name) for p in subfolders(outer)):
        return inner
    if outer.is_dir():
        return outer
    raise DatabaseError(f"{root}: no CAS(ME)^2 frame folder; looked for rawpic/; put the "
                        "release's rawpic/ folder here")


def number(value: object) -> int | None:
    """An int cell or digit text -> int; anything else (a header cell) None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return int(value) if isinstance(value, str) and value.isdigit() else None


def subject_codes(rows: list[list], sheet: Path) -> dict[int, str]:
    """Second worksheet: subject number (column C) -> folder (column B): 1 -> s15."""
    codes: dict[int, str] = {}
    for index, raw in enumerate(rows):
        cells = [clean(v) for v in raw] + [None] * 3
        n = number(cells[2])
        match = re.fullmatch(r"[sS]?0*(\d+)", str(cells[1])) if cells[1] is not None else None
        if n is None or not match:
            continue
        code = f"s{int(match.group(1))}"
        if codes.setdefault(n, code) != code:
            raise DatabaseError(f"{sheet} second worksheet row {index + 1}: subject {n} is both "
                                f"{codes[n]} and {code}; delete the wrong row")
    if not codes:
        raise DatabaseError(f"{sheet}: the second worksheet maps no subject number to a folder "
                            "(column B s15, column C the number); use the release's sheet")
    return codes


def video_codes(rows: list[list], sheet: Path) -> dict[str, str]:
    """Third worksheet: video name prefix (column B) -> stimulus code (column A): disgust1 -> 0101."""
    codes: dict[str, str] = {}
    for index, raw in enumerate(rows):
        cells = [clean(v) for v in raw] + [None] * 2
        n = number(cells[0])
        if n is None or cells[1] is None:
            continue
        name, code = str(cells[1]).lower(), f"{n:04d}"
        if codes.setdefault(name, code) != code:
            raise DatabaseError(f"{sheet} third worksheet row {index + 1}: video {cells[1]!r} is "
                                f"both {codes[name]} and {code}; delete the wrong row")
    if not codes:
        raise DatabaseError(f"{sheet}: the third worksheet maps no video name to a code (column "
                            "A 0101, column B disgust1); use the release's sheet")
    return codes


def read_rows(sheet: Path) -> tuple[list[tuple[int, dict]], dict[int, str], dict[str, str]]:
    """(Excel row, cells by column name) of the micro-expression rows, and the two mappings."""
    pages = load_pages(sheet)
    if len(pages) < 3:
        raise DatabaseError(f"{sheet}: {len(pages)} worksheet(s); the release has three (codes, "
                            "subject folders, video codes); use the release's code_final.xlsx")
    subjects, videos = subject_codes(pages[1], sheet), video_codes(pages[2], sheet)
    rows = []
    for index, raw in enumerate(pages[0]):
        cells = dict(zip(COLUMNS, [clean(v) for v in raw] + [None] * len(COLUMNS)))
        if all(v is None for v in cells.values()):
            continue
        if not rows and number(cells["subject"]) is None and number(cells["onset"]) is None:
            continue                                        # a header row
        kind = str(cells["type"]).lower() if cells["type"] is not None else ""
        if kind not in (MICRO, MACRO):
            raise DatabaseError(f"{sheet} row {index + 1}: type {cells['type']!r} in column H; "
                                f"allowed: {MICRO}, {MACRO}; correct the cell")
        rows.append((index + 1, cells))
    return [(row, cells) for row, cells in rows if str(cells["type"]).lower() == MICRO], subjects, videos


def parse_row(sheet: Path, row: int, cells: dict, subjects: dict[int, str]) -> Movement:
    emotion, repairs = respelled(cells["emotion"], EMOTIONS, sheet, row, "column G (emotion)")
    if cells["video"] is None:
        raise DatabaseError(f"{sheet} row {row}: video (column B) is empty; fill in the video "
                            "name or delete the row")
    n = subject_cell(cells["subject"], sheet, row, "subject (column A)")
    video = str(cells["video"])
    return Movement(row=row, subject=subjects.get(n, str(n)), video=video, clip=video,
                    onset=frame_cell(cells["onset"], sheet, row, "onset (column C)"),
                    apex=cells["apex"],
                    offset=frame_cell(cells["offset"], sheet, row, "offset (column E)"),
                    emotion=emotion, aus=compact_aus(cells["au"]), objective=None, repairs=repairs)


def video_folder(frames_root: Path, m: Movement, codes: dict[str, str],
                 subjects: dict[int, str]) -> tuple[Path, str]:
    """The movement's video folder and how to name it in reasons; Skip when the sheets do not
    lead to one folder."""
    if m.subject not in subjects.values():
        raise Skip(f"subject {m.subject} is not in the second worksheet's subject folders")
    prefix = m.video.split("_")[0]
    code = codes.get(prefix.lower())
    if code is None:
        raise Skip(f"video {prefix!r} is not in the third worksheet's video names")
    shown = f"{FRAMES.folder}/{m.subject}/*_{code}*"
    base = frames_root / m.subject
    found = [p for p in subfolders(base) if (match := VIDEO_FOLDER.match(p.name))
             and match.group(1) == code] if base.is_dir() else []
    if len(found) > 1:
        raise Skip(f"{len(found)} frame folders {shown}: {found[0].name}, {found[1].name}")
    if not found:
        raise Skip(f"no frame folder {shown} on disk")
    return found[0], f"{m.subject}/{found[0].name}"


def read_casme_sq(root: Path | str) -> AdapterResult:
    """Clips for every usable micro-expression row, in sheet order; repairs and skips as
    RowIssues."""
    root = require_root(root, "CAS(ME)^2", KEY, "code_final.xlsx and rawpic/")
    sheet = find_code_sheet(root)
    frames_root = find_frames(root)
    rows, subjects, codes = read_rows(sheet)
    movements = [parse_row(sheet, row, cells, subjects) for row, cells in rows]
    movements, issues = unique_clips(KEY, sheet, movements)
    return movements_to_clips(KEY, FPS, FRAMES, sheet, movements,
                              lambda m: video_folder(frames_root, m, codes, subjects), issues)
