"""4DME (Li et al. 2022), its grey 2D micro-expression clips, as they ship.

Sheet `4DME_Labelling_Micro_release v1.xlsx`: `sub_ID | fold_name | Emotion | Onset | Apex |
Offset | AUs`, with or without the further columns `fold | eye blink | Positive | Negative |
Surprise | Repression | Others | Total` (read when present, never required). Frames:
`gray_micro/<sub_ID>/<fold_name>/<n>.jpg`; the file naming is not documented, so `<n>.jpg`,
`img<n>.jpg`, `image<n>.jpg`, `frame<n>.jpg` and `<anything>_<n>.jpg` are all read, zero-padded
or not (the number is the digit run before `.jpg`). The sub_ID is the folder name as the cell writes it
(`S01` stays `S01`, a number 7 is `7`), because that is how the folder is named from the cell.
60 fps: the sheet and the file names do not say; the paper gives 60 fps for its 4D and grey
recordings.

Labels are multi-label text: one of Positive, Negative, Surprise, Repression, Others or a
combination such as `Surprise+Positive`, kept on the clip as written. AUs carry an `AU` prefix
and `(k)` marks a static AU (`AU4(k)+L7`): the AU string keeps it, the AU set leaves it out
(pipeline.aus). Frame cells arrive as numbers, floats (`123.0`) or text (`'123'`).

AUs in the wrong place are found from the cells' content and put back:
an AUs cell holding a frame number while a frame cell holds AUs (the two cells exchanged), and
two neighbouring rows whose AUs (with the emotion flags beside them) were exchanged, seen when
each row's Positive..Others flags name the other row's Emotion (a loader patches the pair at
pandas rows 144 and 145, Excel rows 146 and 147, by index). Without the flag columns such a pair
cannot be told from the content and is read as written.
"""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.aus import parse_aus
from pipeline.databases.coded import CodedDatabase, read_coded
from pipeline.databases.common import AdapterResult, DatabaseError
from pipeline.databases.frames import FrameLayout, find_layout, require_root
from pipeline.databases.sheets import SheetRow, find_sheet

SHEETS = ("4DME_Labelling_Micro_release v1.xlsx",)
LAYOUTS = (FrameLayout("gray_micro", r"(?:[^.]*[_-])?(?:img|image|frame)?0*(\d+)\.jpg",
                       "<n>.jpg (or img<n>.jpg, zero-padded)"),)
EMOTIONS = ("Positive", "Negative", "Surprise", "Repression", "Others")
FLAGS = EMOTIONS                            # one 0/1 column per label, when the sheet has them
FRAME_COLUMNS = ("Onset", "Apex", "Offset")
EXTRA_COLUMNS = ("fold", "eye blink", *FLAGS, "Total")
# exchanged together when two rows' AUs were swapped: everything describing the movement
MOVEMENT_COLUMNS = ("AUs", "eye blink", *FLAGS, "Total")


def subject_name(cell: object, sheet: Path, row: int, column: str) -> str:
    """The sub_ID as written: 'S01' -> 'S01', 7 -> '7'; empty or a path stops."""
    name = "" if cell is None else str(cell)
    if not name or "/" in name or "\\" in name:
        raise DatabaseError(f"{sheet} row {row}: {column} {cell!r} is not a subject folder "
                            "name; correct the cell")
    return name


def fourdme_aus(cell: object) -> str:
    """'AU4(k) + L7' -> 'AU4(k)+L7': spaces removed, prefix and static marks kept."""
    return "" if cell is None else "".join(str(cell).split())


def as_frame(value: object) -> object:
    """123.0 and '123.0' -> 123, '123' -> 123; anything else as it was."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\d+(?:\.0*)?", value):
        return int(float(value))
    return value


def is_frame(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_aus(value: object) -> bool:
    """Text that reads as AUs and not as a frame number: 'AU4(k)+L7', '12+15'."""
    if not isinstance(value, str) or is_frame(as_frame(value)):
        return False
    parsed = parse_aus(value)
    return bool(parsed.units) and not parsed.unparsed


def flags_of(cells: dict) -> frozenset[str] | None:
    """The labels whose flag column holds 1; None when the sheet has no 0/1 flags here."""
    values = {label: as_frame(cells.get(label)) for label in FLAGS}
    if not all(v in (0, 1, None) for v in values.values()) or 1 not in values.values():
        return None
    return frozenset(label for label, v in values.items() if v == 1)


def labels_of(cells: dict) -> frozenset[str]:
    text = "" if cells.get("Emotion") is None else str(cells["Emotion"])
    spelling = {e.lower(): e for e in EMOTIONS}
    return frozenset(spelling.get(p.strip().lower(), p.strip()) for p in text.split("+"))


def repair_rows(sheet: Path, rows: list[SheetRow]) -> dict[int, list[str]]:
    """Frame cells made ints, and AUs put back where content shows they were misplaced."""
    repairs: dict[int, list[str]] = {}
    for row in rows:
        cells = row.cells
        for column in FRAME_COLUMNS:
            cells[column] = as_frame(cells[column])
        misplaced = [c for c in FRAME_COLUMNS if is_aus(cells[c])]
        if is_frame(as_frame(cells["AUs"])) and len(misplaced) == 1:
            column = misplaced[0]
            repairs.setdefault(row.excel_row, []).append(
                f"AUs {cells['AUs']!r} and {column} {cells[column]!r} swapped -> exchanged back")
            cells["AUs"], cells[column] = cells[column], as_frame(cells["AUs"])
    for this, other in zip(rows, rows[1:]):
        mine, theirs = flags_of(this.cells), flags_of(other.cells)
        if mine is None or theirs is None or mine == labels_of(this.cells):
            continue
        if mine == labels_of(other.cells) and theirs == labels_of(this.cells):
            for a, b in ((this, other), (other, this)):
                repairs.setdefault(a.excel_row, []).append(
                    f"AUs {a.cells['AUs']!r} and Emotion flags belong to row {b.excel_row} "
                    f"(they name its Emotion {b.cells['Emotion']!r}) -> exchanged with it")
            for column in MOVEMENT_COLUMNS:
                if column in this.cells:
                    mine_cell, their_cell = this.cells[column], other.cells[column]
                    this.cells[column], other.cells[column] = their_cell, mine_cell
    return repairs


FOURDME = CodedDatabase(
    key="fourdme", fps=60,
    columns={"subject": "sub_ID", "clip": "fold_name", "onset": "Onset", "apex": "Apex",
             "offset": "Offset", "aus": "AUs", "emotion": "Emotion"},
    emotions=EMOTIONS, subject_folder=str, clean_aus=fourdme_aus, subject_name=subject_name,
    multi_label=True, optional_columns=EXTRA_COLUMNS, repair_rows=repair_rows)


def read_fourdme(root: Path | str) -> AdapterResult:
    root = require_root(root, "4DME", "fourdme", f"{SHEETS[0]} and gray_micro/")
    sheet = find_sheet(root, SHEETS, "4DME labelling sheet")
    layout = find_layout(root, LAYOUTS, "4DME")
    return read_coded(FOURDME, sheet, root / layout.folder, layout)
