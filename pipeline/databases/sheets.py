"""Coding sheets as the releases ship them, read by column name, never by position.

One database ships in several spreadsheet variants (CASME II: two .xlsx dates with two unnamed
columns, and an .xls without them; SAMM: 13 title rows above the header, or none), so the header
row is found by the column names it must contain and every cell is looked up by its column's
name. Row numbers are the ones Excel shows, so that an error or a report line can be checked
against the file directly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import xlrd

from pipeline.databases.common import DatabaseError

HEADER_ROWS_SEARCHED = 30   # SAMM v2's header is row 14; no release puts it lower


@dataclass
class SheetRow:
    excel_row: int                 # 1-based, as Excel shows it
    cells: dict[str, object]       # column name as asked for -> cleaned cell value (None = empty)


def find_sheet(root: Path, names: tuple[str, ...], title: str) -> Path:
    """The first of the release's file names present in root."""
    for name in names:
        if (root / name).is_file():
            return root / name
    raise DatabaseError(f"{root}: no {title} found; looked for {', '.join(names)}; put the "
                        "release's file in this folder")


def find_sheet_by_header(root: Path, names: tuple[str, ...], required: list[str],
                         title: str) -> Path:
    """A release whose sheet's file name is not settled (CASME I): the first of `names`
    present, else the first other .xlsx/.xls in root whose header holds every required column.
    A named file is taken as it is, so a broken one says so rather than being passed over."""
    for name in names:
        if (root / name).is_file():
            return root / name
    others = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in (".xlsx", ".xls")
                    and not p.name.startswith("~$")) if root.is_dir() else []
    for path in others:
        try:
            read_sheet(path, required)
        except DatabaseError:
            continue
        return path
    seen = f" ({', '.join(p.name for p in others)} lack them)" if others else ""
    raise DatabaseError(f"{root}: no {title} found; looked for {', '.join(names)} and any "
                        f".xlsx/.xls with the columns {', '.join(required)}{seen}; put the "
                        "release's file in this folder")


def clean(value: object) -> object:
    """Cell value as people read it: 4.0 -> 4 (xlrd reads every number as float), text
    stripped, empty text -> None."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return value.strip() or None
    return value


def load_pages(path: Path) -> list[list[list]]:
    """Raw cell values of every worksheet, row by row (index 0 is Excel row 1)."""
    try:
        if path.suffix.lower() == ".xls":
            book = xlrd.open_workbook(str(path))
            return [[page.row_values(r) for r in range(page.nrows)] for page in book.sheets()]
        book = openpyxl.load_workbook(path, data_only=True)
        return [[list(row) for row in page.iter_rows(values_only=True)] for page in book.worksheets]
    except Exception as error:  # any parser failure means the same thing: not a usable sheet
        reason = " ".join(str(error).split()) or type(error).__name__
        raise DatabaseError(f"{path}: cannot be read as a spreadsheet ({reason}); replace it "
                            "with the release's file") from None


def header_key(value: object) -> str:
    return " ".join(str(value).split()).lower() if value is not None else ""


def read_sheet(path: Path, required: list[str], optional: list[str] = ()) -> list[SheetRow]:
    """Data rows below the first row holding every required column name (case and spacing
    ignored), on whichever worksheet has it. Fully empty rows are dropped."""
    best: tuple[int, int, list] = (-1, 0, [])
    for rows in load_pages(path):
        for index, raw in enumerate(rows[:HEADER_ROWS_SEARCHED]):
            keys = [header_key(v) for v in raw]
            found = sum(header_key(c) in keys for c in required)
            if found == len(required):
                return data_rows(rows, index, keys, list(required) + list(optional))
            if found > best[0]:
                best = (found, index + 1, raw)
    found, row, raw = best
    shown = " | ".join("(blank)" if v is None or str(v).strip() == "" else str(v).strip() for v in raw)
    missing = [c for c in required if header_key(c) not in [header_key(v) for v in raw]]
    raise DatabaseError(f"{path} row {row}: missing columns {', '.join(missing)}; header found: "
                        f"{shown or '(empty)'}; use the release's sheet or rename its columns")


def data_rows(rows: list[list], header: int, keys: list[str], columns: list[str]) -> list[SheetRow]:
    where = {c: keys.index(header_key(c)) for c in columns if header_key(c) in keys}
    out = []
    for index in range(header + 1, len(rows)):
        raw = rows[index]
        cells = {c: clean(raw[i]) if i < len(raw) else None for c, i in where.items()}
        if any(v is not None for v in cells.values()):
            out.append(SheetRow(index + 1, cells))
    return out


def frame_cell(value: object, path: Path, row: int, column: str) -> int | None:
    """A frame number cell: an int, a digit string, or empty (None); anything else stops."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value):
        return int(value)
    if value is None:
        return None
    raise DatabaseError(f"{path} row {row}: {column} {value!r} is not a frame number; correct "
                        "the cell")


def subject_cell(value: object, path: Path, row: int, column: str) -> int:
    """A subject number: 6, '006', '06' or 'sub06' -> 6."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = re.fullmatch(r"(?:sub)?0*(\d+)", str(value), flags=re.IGNORECASE) if value else None
    if not match:
        raise DatabaseError(f"{path} row {row}: {column} {value!r} is not a subject number; "
                            "correct the cell")
    return int(match.group(1))
