"""Databases labelled by a coding sheet (CASME II, SAMM, CASME I, MMEW, 4DME): rows -> clips.

The releases differ in file names, column names, label spellings and frame naming, all captured
by a `CodedDatabase` (MMEW files clips by emotion rather than subject, 4DME joins labels with
"+": both through its optional hooks); how a row meets its frames is the same for all of them,
and so are the quirks of the real sheets (a missing apex, a range that disagrees with the frames
on disk, folders without rows and rows without folders, duplicated rows). Each quirk is repaired
or the row skipped, and recorded both as a `RowIssue` and on the clip, so the index report
lists it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pipeline.databases.common import AdapterResult, Clip, DatabaseError, RowIssue
from pipeline.databases.frames import (FrameLayout, find_layout, first_missing, list_frames,
                                       require_root, subfolders,
                                       unreadable_frame)
from pipeline.databases.sheets import SheetRow, find_sheet, frame_cell, read_sheet, subject_cell

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
    # The hooks below default to the CASME II / SAMM way; MMEW and 4DME differ.
    subject_name: Callable[[object, Path, int, str], str] | None = None
                                               # (cell, sheet, row, column) -> subject name,
                                               # when the release uses the cell as written
                                               # (4DME); None: subject_folder(number)
    clip_folders: Callable[["Annotation"], tuple[str, ...]] | None = None
                                               # row -> where its frames may be, relative to
                                               # the frame folder, first choice first (MMEW:
                                               # "<emotion>/<Filename>"); None: "<subject>/<clip>"
    multi_label: bool = False                  # emotion cells may join labels with "+" (4DME)
    optional_columns: tuple[str, ...] = ()     # read when present, for `repair_rows`
    repair_rows: Callable[[Path, list[SheetRow]], dict[int, list[str]]] | None = None
                                               # fixes cells in place before rows are parsed;
                                               # returns the repairs made, by Excel row


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


def emotion_cell(db: CodedDatabase, sheet: Path, written: str, row: int) -> str:
    """The label in the release's spelling; with `multi_label`, every "+"-joined part is one
    (4DME's "Surprise+Positive"), kept in the order written."""
    column = db.columns["emotion"]
    spelling = {e.lower(): e for e in db.emotions}
    parts = [p.strip() for p in written.split("+")] if db.multi_label else [written]
    if not all(p.lower() in spelling for p in parts):
        several = " or several joined by +" if db.multi_label else ""
        raise DatabaseError(f"{sheet} row {row}: unknown emotion {written!r} in {column}; "
                            f"allowed: {', '.join(db.emotions)}{several}; correct the cell")
    return "+".join(spelling[p.lower()] for p in parts)


def parse_row(db: CodedDatabase, sheet: Path, cells: dict, row: int) -> Annotation:
    """Check and normalise one row; a cell no repair can make sense of stops the stage."""
    col = db.columns
    written = "" if cells[col["emotion"]] is None else str(cells[col["emotion"]])
    emotion = emotion_cell(db, sheet, written, row)
    if cells[col["clip"]] is None:
        raise DatabaseError(f"{sheet} row {row}: {col['clip']} is empty; fill in the clip's "
                            "folder name or delete the row")
    objective = cells.get(db.objective_column) if db.objective_column else None
    if db.subject_name is not None:
        subject = db.subject_name(cells[col["subject"]], sheet, row, col["subject"])
    else:
        subject = db.subject_folder(subject_cell(cells[col["subject"]], sheet, row, col["subject"]))
    return Annotation(
        row=row, subject=subject,
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
    optional = ([db.objective_column] if db.objective_column else []) + list(db.optional_columns)
    kept: dict[tuple[str, str], Annotation] = {}
    issues = []
    rows = read_sheet(sheet, columns, optional)
    repaired = db.repair_rows(sheet, rows) if db.repair_rows is not None else {}
    for sheet_row in rows:
        note = parse_row(db, sheet, sheet_row.cells, sheet_row.excel_row)
        note.repairs = repaired.get(note.row, []) + note.repairs
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
        # The sheet counts from another origin than the file names (CASME II sub07/EP06_01:
        # annotated 15..68, frames 56..91): the whole annotation moves, not the onset alone,
        # else the offset (and apex) keep the old origin and the clip is cut short.
        shift = first - onset
        repairs.append(f"onset {onset} before the first frame on disk {first} (annotation and "
                       f"frames disagree) -> onset, apex and offset moved by +{shift}")
        onset, offset = first, offset + shift
        apex = None if apex is None else apex + shift
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
        raise Skip(f"no frame folder {folder.parent.parent.name}/{folder.parent.name}/"
                   f"{folder.name} on disk")
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


def clip_folder(db: CodedDatabase, frames_root: Path, note: Annotation) -> Path:
    """Where a row's frames are: the first of its candidate folders on disk, else the first
    choice (so that the skip names the folder the release should have)."""
    if db.clip_folders is None:
        return frames_root / note.subject / note.clip
    candidates = [frames_root / relative for relative in db.clip_folders(note)]
    return next((c for c in candidates if c.is_dir()), candidates[0])


def read_coded(db: CodedDatabase, sheet: Path, frames_root: Path, layout: FrameLayout) -> AdapterResult:
    """Clips for every usable row, in sheet order; every repair and skip as a RowIssue."""
    notes, issues = read_annotations(db, sheet)
    clips = []
    annotated = set()
    for note in notes:
        sample = f"{db.key}/{note.subject}/{note.clip}"
        folder = clip_folder(db, frames_root, note)
        annotated.add(folder.relative_to(frames_root).parts)
        try:
            clip = make_clip(db, sheet, note, folder, layout)
        except Skip as skip:
            issues.append(RowIssue(db.key, str(sheet), note.row, sample, "skipped", str(skip)))
            continue
        clips.append(clip)
        issues += [RowIssue(db.key, str(sheet), note.row, sample, "repaired", r) for r in clip.repairs]
    for group in subfolders(frames_root):
        for folder in subfolders(group):
            if (group.name, folder.name) not in annotated:
                issues.append(RowIssue(db.key, str(folder), None,
                                       f"{db.key}/{group.name}/{folder.name}", "skipped",
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
