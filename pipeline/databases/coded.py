"""Databases labelled by a coding sheet (CASME II, SAMM, CASME I): rows -> clips on disk.

The three releases differ in file names, column names, label spellings and frame naming, all
captured by a `CodedDatabase`; how a row meets its frames is the same for all of them, and so are
the quirks of the real sheets (a missing apex, a range that disagrees with the frames on disk,
folders without rows and rows without folders, duplicated rows). Each quirk is repaired or the
row skipped, and recorded both as a `RowIssue` and on the clip, so the index report lists it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pipeline.databases.common import AdapterResult, Clip, DatabaseError, RowIssue
from pipeline.databases.frames import (FrameLayout, find_layout, first_missing, list_frames,
                                       require_root, subfolders,
                                       unreadable_frame)
from pipeline.databases.sheets import find_sheet, frame_cell, read_sheet, subject_cell

APEX_MISSING = "-> missing, spotted later"


@dataclass(frozen=True)
class CodedDatabase:
    key: str                                   # adapter key: casme2, samm, casme
    fps: float
    columns: dict[str, str]                    # role -> header: subject, clip, onset, apex,
                                               # offset, aus, emotion
    emotions: tuple[str, ...]                  # allowed labels, as the release spells them;
                                               # other capitalisations are respelled (repaired)
    subject_folder: Callable[[int], str]       # 6 -> "006", 1 -> "sub01"
    clean_aus: Callable[[object], str]         # AU cell -> normalised string
    objective_column: str | None = None        # SAMM's "Objective Classes"


@dataclass
class Annotation:
    """One coding-sheet row after parsing, before it meets the frames on disk."""

    row: int
    subject: str                   # folder name
    clip: str
    onset: int | None
    apex: object                   # the cell as read; "/" and empty mean missing
    offset: int | None
    emotion: str
    aus: str
    objective: int | None
    repairs: list[str]             # made while reading the row (label spelling)

    def content(self) -> tuple:
        return (self.onset, self.apex, self.offset, self.emotion, self.aus, self.objective)


class Skip(Exception):
    """This row or folder cannot become a clip; the message is the reason."""


def parse_row(db: CodedDatabase, sheet: Path, cells: dict, row: int) -> Annotation:
    """Check and normalise one row; a cell no repair can make sense of stops the stage."""
    col = db.columns
    written = "" if cells[col["emotion"]] is None else str(cells[col["emotion"]])
    spelling = {e.lower(): e for e in db.emotions}
    if written.lower() not in spelling:
        raise DatabaseError(f"{sheet} row {row}: unknown emotion {written!r} in "
                            f"{col['emotion']}; allowed: {', '.join(db.emotions)}; correct the cell")
    emotion = spelling[written.lower()]
    if cells[col["clip"]] is None:
        raise DatabaseError(f"{sheet} row {row}: {col['clip']} is empty; fill in the clip's "
                            "folder name or delete the row")
    objective = cells.get(db.objective_column) if db.objective_column else None
    return Annotation(
        row=row, subject=db.subject_folder(subject_cell(cells[col["subject"]], sheet, row, col["subject"])),
        clip=str(cells[col["clip"]]),
        onset=frame_cell(cells[col["onset"]], sheet, row, col["onset"]),
        apex=cells[col["apex"]],
        offset=frame_cell(cells[col["offset"]], sheet, row, col["offset"]),
        emotion=emotion, aus=db.clean_aus(cells[col["aus"]]),
        objective=objective_cell(objective),
        repairs=[] if emotion == written else [f"emotion {written!r} -> {emotion!r}"])


ROMAN = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5, "VI": 6, "VII": 7}


def objective_cell(value: object) -> int | None:
    """An objective class cell: 7, '7' (a text cell) or 'VII' -> 7; anything else None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 1 <= value <= 7 else None
    text = str(value).strip().upper() if value is not None else ""
    number = int(text) if text.isdigit() else ROMAN.get(text)
    return number if number is not None and 1 <= number <= 7 else None


def read_annotations(db: CodedDatabase, sheet: Path) -> tuple[list[Annotation], list[RowIssue]]:
    """Every data row, with identical duplicates dropped; conflicting duplicates stop."""
    columns = list(db.columns.values())
    optional = [db.objective_column] if db.objective_column else []
    kept: dict[tuple[str, str], Annotation] = {}
    issues = []
    for sheet_row in read_sheet(sheet, columns, optional):
        note = parse_row(db, sheet, sheet_row.cells, sheet_row.excel_row)
        first = kept.get((note.subject, note.clip))
        if first is None:
            kept[(note.subject, note.clip)] = note
        elif first.content() == note.content():
            issues.append(RowIssue(db.key, str(sheet), note.row, f"{db.key}/{note.subject}/{note.clip}",
                                   "skipped", f"duplicate of row {first.row}"))
        else:
            raise DatabaseError(f"{sheet} rows {first.row} and {note.row}: both describe "
                                f"{note.subject}/{note.clip} but differ; delete the wrong row")
    return list(kept.values()), issues


def apex_of(cell: object) -> tuple[int | None, list[str]]:
    """The annotated apex, or None with the reason (CASME II writes "/" for "no apex")."""
    if cell is None:
        return None, [f"apex empty {APEX_MISSING}"]
    if isinstance(cell, int) and not isinstance(cell, bool):
        return cell, []
    if isinstance(cell, str) and cell.lstrip("+-").isdigit():
        return int(cell), []
    return None, [f"apex {str(cell)!r} {APEX_MISSING}"]


def reconcile(note: Annotation, numbers: list[int]) -> tuple[int, int | None, int, list[str]]:
    """Onset, apex, offset made consistent with the frames on disk, and what was changed."""
    first, last = numbers[0], numbers[-1]
    onset, offset = note.onset, note.offset
    apex, repairs = apex_of(note.apex)
    repairs = note.repairs + repairs
    if onset is None:
        onset = first
        repairs.append(f"onset missing -> first frame on disk {first}")
    if offset is None:
        offset = last
        repairs.append(f"offset missing -> last frame on disk {last}")
    elif offset < onset:
        repairs.append(f"offset {offset} before onset {onset} -> last frame on disk {last}")
        offset = last
    if offset < first or onset > last:
        raise Skip(f"annotated onset..offset {onset}..{offset} does not overlap the frames on "
                   f"disk {first}..{last}")
    if onset < first:
        repairs.append(f"onset {onset} before the first frame on disk {first} (annotation and "
                       f"frames disagree) -> {first}")
        onset = first
    if offset > last:
        repairs.append(f"offset {offset} past the last frame on disk {last} -> {last}")
        offset = last
    if apex is not None and not onset <= apex <= offset:
        repairs.append(f"apex {apex} outside onset..offset {onset}..{offset} {APEX_MISSING}")
        apex = None
    elif apex is not None and apex in (onset, offset):
        which = "onset" if apex == onset else "offset"
        repairs.append(f"apex {apex} equals {which} {APEX_MISSING}")
        apex = None
    return onset, apex, offset, repairs


def make_clip(db: CodedDatabase, sheet: Path, note: Annotation, folder: Path,
              layout: FrameLayout) -> Clip:
    """The clip for one row, or Skip when its frames cannot serve it."""
    if not folder.is_dir():
        raise Skip(f"no frame folder {folder.parent.parent.name}/{note.subject}/{note.clip} on disk")
    names, numbers = list_frames(folder, layout)
    if not names:
        raise Skip(f"empty folder: no {layout.shown} frames")
    onset, apex, offset, repairs = reconcile(note, numbers)
    gap = first_missing(numbers, onset, offset)
    if gap is not None:
        raise Skip(f"frame {gap} missing inside onset..offset {onset}..{offset}")
    bad = unreadable_frame(folder, names)
    if bad is not None:
        raise Skip(f"unreadable frame {bad}")
    return Clip(database=db.key, subject=note.subject, clip=note.clip, frame_dir=folder,
                frames=names, frame_numbers=numbers, onset=onset, apex=apex, offset=offset,
                fps=db.fps, emotion=note.emotion, action_units=note.aus,
                objective_class=note.objective, source=str(sheet), row=note.row, repairs=repairs)


def read_coded(db: CodedDatabase, sheet: Path, frames_root: Path, layout: FrameLayout) -> AdapterResult:
    """Clips for every usable row, in sheet order; every repair and skip as a RowIssue."""
    notes, issues = read_annotations(db, sheet)
    clips = []
    for note in notes:
        sample = f"{db.key}/{note.subject}/{note.clip}"
        try:
            clip = make_clip(db, sheet, note, frames_root / note.subject / note.clip, layout)
        except Skip as skip:
            issues.append(RowIssue(db.key, str(sheet), note.row, sample, "skipped", str(skip)))
            continue
        clips.append(clip)
        issues += [RowIssue(db.key, str(sheet), note.row, sample, "repaired", r) for r in clip.repairs]
    annotated = {(note.subject, note.clip) for note in notes}
    for subject in subfolders(frames_root):
        for folder in subfolders(subject):
            if (subject.name, folder.name) not in annotated:
                issues.append(RowIssue(db.key, str(folder), None,
                                       f"{db.key}/{subject.name}/{folder.name}", "skipped",
                                       "no annotation row; no label"))
    return AdapterResult(clips, issues)


def read_release(db: CodedDatabase, root: Path | str, title: str, holds: str,
                 sheets: tuple[str, ...], layouts: tuple[FrameLayout, ...]) -> AdapterResult:
    """A coding-sheet release under `root`: the first of its sheet names present, the first of
    its frame layouts present (cropped before raw), then `read_coded`. `title` and `holds` name
    the database and what its folder must contain in the errors."""
    root = require_root(root, title, db.key, holds)
    sheet = find_sheet(root, sheets, f"{title} coding sheet")
    layout = find_layout(root, layouts, title)
    return read_coded(db, sheet, root / layout.folder, layout)
