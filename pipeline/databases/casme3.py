"""CAS(ME)^3 part A (Institute of Psychology, CAS), 30 fps: micro-expressions inside long videos.

The label sheet `cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx` (worksheet `label`, next to two
empty worksheets) has one row per micro-expression: `Subject, Filename, Onset, Apex, Offset, AU,
Objective class, emotion`, every cell text ('175', 'spNO.1', 'IV'). Filename is a video letter
(`a`..`m`) and several movements share one video: its frames are
`<frames root>/<Subject>/<Filename>/color/<n>.jpg`, n the frame number, unpadded. A clip is the
frames onset..offset of its movement, so that later stages read only those frames of the shared
folder.

Where the files lie is not fixed by the release, so this adapter accepts:
- the frames root: the configured root itself, or the first folder one or two levels below it
  that holds `spNO.<k>` folders (`part_A/`, `data/`, `RGB/`, `part_A/RGB/`);
- the label sheet: any .xlsx / .xls in the root or a folder one or two levels below it
  (`annotation/`, `annotation/partA/`), frame folders excluded, that has a worksheet with the
  header above; the release's file name is taken first, then a name with `v2` in it (the
  superseded `..._JpgIndex_v1.xls` may carry the same header), then .xlsx before .xls.

Clip ids are `<Filename>_<Onset>` (`a_175`), the onset as the sheet writes it: unique within a
video because two rows that agree on subject, video and onset are duplicates, and stable because
they depend on the sheet alone, not on row order or on the frames on disk. A second, different
movement on the same onset keeps its row and gets `a_175_2`.

The sheet's known faults, each repaired or skipped and reported (`settle`):
- offset `0` (two rows of spNO.40/e): not coded. The .xls release has the offsets, but not
  every copy has the .xls; the clip ends at its apex instead (the rule CAS(ME)^2's loaders apply
  to its offset-0 rows), because onset..apex holds the rising movement every method needs and
  the label is intact, whereas an invented offset would feed frames the coders never saw as
  part of the movement;
- onset `0` (spNO.216/e, onset = apex = 0): there is no frame 0, so the onset becomes the video's
  first frame on disk and the apex is spotted later;
- onset after offset (spNO.216/d's onset 3647, where the .xls has 2647, likely is one):
  skipped, the range is unknown;
- ranges longer than MAX_SECONDS (spNO.214/c 5..3460, spNO.190/m 8..737, spNO.2/j 7..408: 13 s
  to 115 s): skipped, a micro-expression lasts under half a second;
- ranges outside the frames on disk, or with a dropped frame inside: skipped;
- an apex outside onset..offset (spNO.149/d's 83, where the .xls has 160, may be one) or on
  the onset: missing, spotted later;
- `Others` (3 rows): folded into `others`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pipeline.databases.casme2 import compact_aus
from pipeline.databases.coded import APEX_MISSING, Skip, apex_of, objective_cell
from pipeline.databases.common import AdapterResult, Clip, DatabaseError, RowIssue
from pipeline.databases.frames import (FrameLayout, first_missing, list_frames, require_root,
                                       subfolders, unreadable_frame)
from pipeline.databases.sheets import SheetRow, frame_cell, read_sheet

KEY = "casme3"
FPS = 30
# Micro-expressions last under 0.5 s (the database's own criterion); four times that leaves room
# for slow offsets, while the sheet's wrong rows (13 s, 24 s, 115 s) are far beyond it.
MAX_SECONDS = 2.0
SHEET = "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx"
COLUMNS = {"subject": "Subject", "video": "Filename", "onset": "Onset", "apex": "Apex",
           "offset": "Offset", "emotion": "emotion"}
OPTIONAL = {"aus": "AU", "objective": "Objective class"}
EMOTIONS = ("disgust", "surprise", "others", "fear", "anger", "sad", "happy")
FRAMES = FrameLayout("color", r"(\d+)\.jpg", "<N>.jpg")
SUBJECT = re.compile(r"spNO\.(\d+)", re.IGNORECASE)
SEARCH_DEPTH = 2                # folders below the root searched for the sheet and the frames


@dataclass
class Movement:
    """One annotated micro-expression of a long video, before it meets the video's frames."""

    row: int                       # 1-based Excel row
    subject: str                   # subject folder name: spNO.1, s15
    video: str                     # the video as the sheet names it: a, disgust1_1
    clip: str                      # clip id, unique within the subject: a_175
    onset: int | None
    apex: object                   # the cell as read (coded.apex_of interprets it)
    offset: int | None
    emotion: str                   # the database's spelling
    aus: str
    objective: int | None
    repairs: list[str]             # made while reading the row (label spelling)

    def content(self) -> tuple:
        return (self.onset, self.apex, self.offset, self.emotion, self.aus, self.objective)


def respelled(written: object, emotions: tuple[str, ...], sheet: Path, row: int,
              column: str) -> tuple[str, list[str]]:
    """The label in the database's spelling, and the repair when the cell spells it otherwise
    (`Others` -> `others`); a label the database does not have stops the stage."""
    text = "" if written is None else str(written)
    spelling = {e.lower(): e for e in emotions}
    if text.lower() not in spelling:
        raise DatabaseError(f"{sheet} row {row}: unknown emotion {text!r} in {column}; allowed: "
                            f"{', '.join(emotions)}; correct the cell")
    emotion = spelling[text.lower()]
    return emotion, [] if emotion == text else [f"emotion {text!r} -> {emotion!r}"]


def subject_folder(value: object, sheet: Path, row: int) -> str:
    """'spNO.1', 'spno.01', '1' or 1 -> 'spNO.1', the folder name."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"spNO.{value}"
    text = str(value).strip() if value is not None else ""
    match = SUBJECT.fullmatch(text) or re.fullmatch(r"(\d+)", text)
    if not match:
        raise DatabaseError(f"{sheet} row {row}: Subject {value!r} is not a subject (spNO.1); "
                            "correct the cell")
    return f"spNO.{int(match.group(1))}"


def parse_row(sheet: Path, sheet_row: SheetRow) -> Movement:
    cells, row = sheet_row.cells, sheet_row.excel_row
    emotion, repairs = respelled(cells[COLUMNS["emotion"]], EMOTIONS, sheet, row, COLUMNS["emotion"])
    video = cells[COLUMNS["video"]]
    if video is None:
        raise DatabaseError(f"{sheet} row {row}: Filename is empty; fill in the video letter or "
                            "delete the row")
    onset = frame_cell(cells[COLUMNS["onset"]], sheet, row, COLUMNS["onset"])
    return Movement(
        row=row, subject=subject_folder(cells[COLUMNS["subject"]], sheet, row), video=str(video),
        clip=f"{video}_{'' if onset is None else onset}", onset=onset, apex=cells[COLUMNS["apex"]],
        offset=frame_cell(cells[COLUMNS["offset"]], sheet, row, COLUMNS["offset"]),
        emotion=emotion, aus=compact_aus(cells.get(OPTIONAL["aus"])),
        objective=objective_cell(cells.get(OPTIONAL["objective"])), repairs=repairs)


def unique_clips(key: str, sheet: Path, movements: list[Movement]) -> tuple[list[Movement], list[RowIssue]]:
    """Identical rows counted once (the later ones skipped); a different movement with the same
    clip id (same subject, video and onset) kept under `<id>_2`, `<id>_3`, reported."""
    kept: dict[tuple[str, str], Movement] = {}
    issues = []
    for m in movements:
        first = kept.get((m.subject, m.clip))
        if first is not None and first.content() == m.content():
            issues.append(RowIssue(key, str(sheet), m.row, f"{key}/{m.subject}/{m.clip}",
                                   "skipped", f"duplicate of row {first.row}"))
            continue
        if first is not None:
            n = 2
            while (m.subject, f"{m.clip}_{n}") in kept:
                n += 1
            renamed = f"{m.clip}_{n}"
            m.repairs.append(f"same subject, video and onset as row {first.row} but another "
                             f"movement -> clip id {renamed}")
            m.clip = renamed
        kept[(m.subject, m.clip)] = m
    return list(kept.values()), issues


def settle(m: Movement, numbers: list[int], fps: float) -> tuple[int, int | None, int, list[str]]:
    """Onset, apex and offset of one movement checked against its video's frames on disk, and
    what was repaired; Skip when no range can be trusted (see the module docstring)."""
    first, last = numbers[0], numbers[-1]
    onset, offset = m.onset, m.offset
    apex, repairs = apex_of(m.apex)
    repairs = m.repairs + repairs
    if onset is None:
        raise Skip("onset empty: the movement's frames are unknown")
    if onset == 0 and first > 0:
        repairs.append(f"onset 0 (not coded) -> the video's first frame on disk {first}")
        onset = first
        if apex == 0:
            repairs.append(f"apex 0 (not coded) {APEX_MISSING}")
            apex = None
    ends_at_apex = False
    if offset is None or offset == 0:
        if apex is None or apex < onset:
            raise Skip(f"offset {'empty' if offset is None else 0} (not coded) and no usable apex "
                       "to end the clip at")
        repairs.append(f"offset {'empty' if offset is None else 0} (not coded) -> apex {apex}: "
                       "the clip ends at its apex")
        offset, ends_at_apex = apex, True
    if offset < onset:
        raise Skip(f"onset {onset} after offset {offset}: the movement's frames are unknown")
    longest = round(MAX_SECONDS * fps)
    if offset - onset + 1 > longest:
        raise Skip(f"onset..offset {onset}..{offset} lasts {(offset - onset + 1) / fps:.1f} s, "
                   f"longer than {MAX_SECONDS:g} s ({longest} frames): not a micro-expression, "
                   "the annotation is wrong")
    if onset < first or offset > last:
        raise Skip(f"onset..offset {onset}..{offset} outside the video's frames on disk "
                   f"{first}..{last}")
    if apex is not None and not onset <= apex <= offset:
        repairs.append(f"apex {apex} outside onset..offset {onset}..{offset} {APEX_MISSING}")
        apex = None
    elif apex is not None and (apex == onset or (apex == offset and not ends_at_apex)):
        which = "onset" if apex == onset else "offset"
        repairs.append(f"apex {apex} equals {which} {APEX_MISSING}")
        apex = None
    gap = first_missing(numbers, onset, offset)
    if gap is not None:
        raise Skip(f"frame {gap} missing inside onset..offset {onset}..{offset}")
    return onset, apex, offset, repairs


class Videos:
    """Each video folder listed once, however many movements it holds."""

    def __init__(self, layout: FrameLayout):
        self.layout = layout
        self.listed: dict[Path, tuple[list[str], list[int]]] = {}

    def frames(self, folder: Path) -> tuple[list[str], list[int]]:
        if folder not in self.listed:
            self.listed[folder] = list_frames(folder, self.layout)
        return self.listed[folder]


def movement_clip(key: str, fps: float, sheet: Path, m: Movement, folder: Path, shown: str,
                  videos: Videos) -> Clip:
    """The clip of one movement: its onset..offset frames of the video in `folder` (`shown`
    names the folder in reasons), or Skip."""
    if not folder.is_dir():
        raise Skip(f"no frame folder {shown} on disk")
    names, numbers = videos.frames(folder)
    if not names:
        raise Skip(f"no {videos.layout.shown} frames in {shown}")
    onset, apex, offset, repairs = settle(m, numbers, fps)
    start, stop = numbers.index(onset), numbers.index(offset) + 1
    names, numbers = names[start:stop], numbers[start:stop]
    bad = unreadable_frame(folder, names)
    if bad is not None:
        raise Skip(f"unreadable frame {bad}")
    return Clip(database=key, subject=m.subject, clip=m.clip, frame_dir=folder, frames=names,
                frame_numbers=numbers, onset=onset, apex=apex, offset=offset, fps=fps,
                emotion=m.emotion, action_units=m.aus, objective_class=m.objective,
                source=str(sheet), row=m.row, repairs=repairs)


def movements_to_clips(key: str, fps: float, layout: FrameLayout, sheet: Path,
                       movements: list[Movement], locate: Callable[[Movement], tuple[Path, str]],
                       issues: list[RowIssue]) -> AdapterResult:
    """Every movement's clip, or its skip; `locate(m)` gives the video folder and how reasons
    show it, or raises Skip. Each video folder is listed once, whatever it holds."""
    videos = Videos(layout)
    clips = []
    for m in movements:
        sample = f"{key}/{m.subject}/{m.clip}"
        try:
            clip = movement_clip(key, fps, sheet, m, *locate(m), videos)
        except Skip as skip:
            issues.append(RowIssue(key, str(sheet), m.row, sample, "skipped", str(skip)))
            continue
        clips.append(clip)
        issues += [RowIssue(key, str(sheet), m.row, sample, "repaired", r) for r in clip.repairs]
    return AdapterResult(clips, issues)


def child(folder: Path, name: str) -> Path:
    """folder/name, or the one entry spelling name in another case (`J` for `j`)."""
    exact = folder / name
    if exact.exists() or not folder.is_dir():
        return exact
    others = [p for p in folder.iterdir() if p.name.lower() == name.lower()]
    return others[0] if len(others) == 1 else exact


def holds_subjects(folder: Path) -> bool:
    return any(p.is_dir() and SUBJECT.fullmatch(p.name) for p in folder.iterdir())


def searched_folders(root: Path) -> list[list[Path]]:
    """The root, then the folders one level below it, then two; subject folders left out."""
    levels = [[root]]
    for _ in range(SEARCH_DEPTH):
        levels.append([p for folder in levels[-1] for p in subfolders(folder)
                       if not SUBJECT.fullmatch(p.name)])
    return levels


def find_frames_root(root: Path, levels: list[list[Path]]) -> Path:
    for level in levels:
        found = [folder for folder in level if holds_subjects(folder)]
        if len(found) > 1:
            raise DatabaseError(f"{root}: spNO.* subject folders in {found[0]} and {found[1]}; "
                                "keep one copy of the frames, or set databases.casme3 to the "
                                "folder that holds the one to read")
        if found:
            return found[0]
    raise DatabaseError(f"{root}: no spNO.* subject folders here or {SEARCH_DEPTH} levels below; "
                        "set databases.casme3 in params.yaml to the folder holding part A's frames")


def find_label_sheet(root: Path, levels: list[list[Path]]) -> tuple[Path, list[SheetRow]]:
    """The label sheet and its rows, found by its header (module docstring)."""
    books = [p for level in levels for folder in level for p in sorted(folder.iterdir())
             if p.is_file() and p.suffix.lower() in (".xlsx", ".xls") and not p.name.startswith("~$")]
    books.sort(key=lambda p: (p.name.lower() != SHEET.lower(), "v2" not in p.name.lower(),
                              p.suffix.lower() != ".xlsx", len(p.relative_to(root).parts), str(p)))
    required = list(COLUMNS.values())
    errors = []
    for book in books:
        try:
            return book, read_sheet(book, required, list(OPTIONAL.values()))
        except DatabaseError as error:
            errors.append(error)
    if len(errors) == 1:
        raise errors[0]
    names = ", ".join(p.name for p in books[:3]) + (", ..." if len(books) > 3 else "")
    looked = "no .xlsx or .xls file" if not books else f"none of {len(books)} workbooks ({names})"
    raise DatabaseError(f"{root}: {looked} here or {SEARCH_DEPTH} levels below has the label "
                        f"header {', '.join(required)}; put {SHEET} in {root}")


def read_casme3(root: Path | str) -> AdapterResult:
    """Clips for every usable micro-expression row, in sheet order; repairs and skips as
    RowIssues. Videos without micro-expressions are not listed: most of a long video is none."""
    root = require_root(root, "CAS(ME)^3 part A", KEY, f"{SHEET} and the spNO.* frame folders")
    levels = searched_folders(root)
    frames_root = find_frames_root(root, levels)
    sheet, rows = find_label_sheet(root, levels)
    movements, issues = unique_clips(KEY, sheet, [parse_row(sheet, r) for r in rows])

    def locate(m: Movement) -> tuple[Path, str]:
        return (child(child(frames_root, m.subject), m.video) / FRAMES.folder,
                f"{m.subject}/{m.video}/{FRAMES.folder}")

    return movements_to_clips(KEY, FPS, FRAMES, sheet, movements, locate, issues)
