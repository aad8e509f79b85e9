"""Databases of long videos with several micro-expressions each: CAS(ME)^3 part A and CAS(ME)^2.

Unlike CASME II or SAMM, these releases do not cut a folder per clip: a subject's video is one
folder of frames, and the sheet gives each micro-expression's onset, apex and offset in that
video's frame numbers. A `VideoToWrite` is such a video with the sheet rows of the movements it
shows; the writers put it on disk in the release's layout (pipeline/databases/casme3.py and
casme_sq.py describe them) and write the workbook, reproducibly, when `finish` is called.

The generators render each movement as one clip (pipeline.synthesize.Synthesizer.clip) and lay
the clips end to end in one video, the face held still for a few frames before, between and
after them, frame numbers running on from 1. Each movement's truth is recorded under the sample
id the adapter gives it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import openpyxl
from tqdm import tqdm

from pipeline.atomic import write_atomic
from pipeline.schemes import objective_from_aus
from pipeline.synthetic.layouts import WORKBOOK_TIME, restamp_workbook, write_image
from pipeline.synthetic.motion import au_string

if TYPE_CHECKING:   # pipeline.synthesize imports this module's generators
    from pipeline.synthesize import Size, Synthesizer

CASME3_SHEET = "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx"
CASME3_HEADER = ["Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Objective class",
                 "emotion"]
# The label sheet's 860 rows (notes/datasets-more.md); its 3 `Others` rows are a quirk here.
CASME3_LABELS = {"disgust": 250, "surprise": 187, "others": 158, "fear": 86, "anger": 64,
                 "sad": 57, "happy": 55}
CASME3_VIDEOS = "abcdefghijklm"             # a subject's video letters
ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII")

CASME_SQ_SHEET = "code_final.xlsx"
# The second worksheet: subject number in the first worksheet -> folder number (s15 ...).
CASME_SQ_SUBJECTS = {1: 15, 2: 16, 3: 19, 4: 20, 5: 21, 6: 22, 7: 23, 8: 24, 9: 25, 10: 26,
                     11: 27, 12: 29, 13: 30, 14: 31, 15: 32, 16: 33, 17: 34, 18: 35, 19: 36,
                     20: 37, 21: 38, 22: 40}
# The third worksheet: video name prefix -> stimulus code; the title is in the folder name only.
CASME_SQ_VIDEOS = {"disgust1": ("0101", "disgustingteeth"), "disgust2": ("0102", "eatingworms"),
                   "anger1": ("0401", "girlcrashing"), "anger2": ("0402", "beatingpregnantwoman"),
                   "happy1": ("0502", "funnyerrors"), "happy2": ("0503", "unnyfarting"),
                   "happy3": ("0505", "funnyinnovations"), "happy4": ("0507", "climbingthewall"),
                   "happy5": ("0508", "funnydunkey")}
# Relative class weights only (negative the largest class); the notes give no per-class counts.
CASME_SQ_LABELS = {"negative": 3, "others": 2, "surprise": 1, "positive": 1}

# The label a native emotion's AUs are drawn for (pipeline/synthetic/motion.py's names).
MOTION_EMOTION = {"happy": "happiness", "sad": "sadness", "Others": "others"}
GAP_FRAMES = (2, 5)                # neutral frames before, between and after movements: [min, max)
MOVEMENTS_PER_VIDEO = 3


@dataclass
class MovementToWrite:
    """One sheet row of a long video, cells as written (a quirk may put 0 in the offset)."""

    onset: int | str
    apex: int | str
    offset: int | str
    emotion: str
    action_units: str | int = ""
    objective_class: str | int | None = None   # CAS(ME)^3: roman I..VII
    kind: str = "micro-expression"             # CAS(ME)^2's type column
    self_report: str | None = None             # CAS(ME)^2's selfReport column


@dataclass
class VideoToWrite:
    subject: int                   # CAS(ME)^3: k of spNO.k; CAS(ME)^2: the sheet's number (1 -> s15)
    video: str                     # CAS(ME)^3: the letter; CAS(ME)^2: the name prefix (disgust1)
    frames: np.ndarray             # (T, H, W, 3) uint8 RGB
    frame_numbers: list[int]       # number written into each file name
    movements: list[MovementToWrite] = field(default_factory=list)
    folder_digits: int | None = None   # CAS(ME)^2: the number in front of the folder name when
                                       # it is not the subject's (s19/23_0502funnyerrors)


def write_workbook(path: Path, sheets: dict[str, list[list]]) -> None:
    """Several worksheets, in the order given (an empty list: an empty worksheet); cells as
    given. Reproducible like layouts.write_xlsx: the same sheets give the same bytes."""
    book = openpyxl.Workbook()
    book.properties.created = WORKBOOK_TIME
    for k, (title, rows) in enumerate(sheets.items()):
        page = book.active if k == 0 else book.create_sheet()
        page.title = title
        for row in rows:
            page.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    write_atomic(path, restamp_workbook(buffer.getvalue()))


def as_text(value: object) -> object:
    """The label sheet stores every cell as text: 175 -> '175'; empty stays empty."""
    return None if value is None or value == "" else str(value)


class CASME3Writer:
    """CAS(ME)^3 part A: `<frames>/spNO.<k>/<letter>/color/<n>.jpg` and the label sheet (worksheet
    `label`, then the empty `Sheet1` and `Sheet3`) in `<sheet_folder>/`. `text`: every cell a
    text cell, as the release has it; False writes numbers as numbers."""

    def __init__(self, root: Path, frames: str = "", sheet_folder: str = "", text: bool = True,
                 sheet: str = CASME3_SHEET):
        self.root, self.text = Path(root), text
        self.frames = self.root / frames
        self.sheet = self.root / sheet_folder / sheet
        self.rows: list[list] = []

    def add(self, video: VideoToWrite) -> None:
        folder = self.frames / f"spNO.{video.subject}" / video.video / "color"
        for number, image in zip(video.frame_numbers, video.frames, strict=True):
            write_image(folder / f"{number}.jpg", image)
        for m in video.movements:
            row = [f"spNO.{video.subject}", video.video, m.onset, m.apex, m.offset,
                   m.action_units, m.objective_class, m.emotion]
            self.rows.append([as_text(v) for v in row] if self.text else row)

    def finish(self) -> None:
        write_workbook(self.sheet, {"label": [CASME3_HEADER] + self.rows, "Sheet1": [], "Sheet3": []})


class CASMESqWriter:
    """CAS(ME)^2: `rawpic/s<NN>/<NN>_<code><title>/img<n>.jpg` (n padded to `padding` digits) and
    `code_final.xlsx`: three worksheets without headers (rows, subject folders, video codes).
    A movement's video cell is `<prefix>_<k>`, k counting the video's rows from 1."""

    def __init__(self, root: Path, padding: int = 3, sheet: str = CASME_SQ_SHEET,
                 frames: str = "rawpic"):
        self.root, self.padding = Path(root), padding
        self.frames = self.root / frames
        self.sheet = self.root / sheet
        self.rows: list[list] = []

    def folder(self, video: VideoToWrite) -> Path:
        digits = CASME_SQ_SUBJECTS[video.subject]
        code, title = CASME_SQ_VIDEOS[video.video]
        lead = digits if video.folder_digits is None else video.folder_digits
        return self.frames / f"s{digits}" / f"{lead}_{code}{title}"

    def add(self, video: VideoToWrite) -> None:
        folder = self.folder(video)
        for number, image in zip(video.frame_numbers, video.frames, strict=True):
            write_image(folder / f"img{number:0{self.padding}d}.jpg", image)
        for k, m in enumerate(video.movements, start=1):
            self.rows.append([video.subject, f"{video.video}_{k}", m.onset, m.apex, m.offset,
                              m.action_units, m.emotion, m.kind, m.self_report])

    def finish(self) -> None:
        subjects = [[digits, f"s{digits}", n] for n, digits in CASME_SQ_SUBJECTS.items()]
        videos = [[code, prefix] for prefix, (code, _) in CASME_SQ_VIDEOS.items()]
        write_workbook(self.sheet, {"Sheet1": self.rows, "Sheet2": subjects, "Sheet3": videos})


@dataclass
class Placed:
    """One movement rendered into a video: where it starts and what it shows."""

    start: int                     # index of its first frame in the video
    length: int
    aus: list[str]
    info: dict                     # Synthesizer.clip's truth record


def render_video(syn: Synthesizer, db: str, subject: int, video: str, emotions: list[str],
                 size: Size) -> tuple[np.ndarray, list[Placed]]:
    """One long video (T, H, W, 3) uint8 showing `emotions` one after another, the face held
    still for GAP_FRAMES frames before, between and after them (the next clip's neutral first
    frame repeated, after the last one its neutral last frame)."""
    rng = syn.rng(db, subject, video)
    identity = syn.identity(db, subject, size.shape, grey=False)
    pieces, placed, at = [], [], 0
    for k, emotion in enumerate(emotions):
        frames, aus, info = syn.clip(db, "", identity, MOTION_EMOTION.get(emotion, emotion), size,
                                     False, syn.rng(db, subject, video, k))
        info["emotion"] = emotion
        gap = int(rng.integers(*GAP_FRAMES))
        pieces += [np.repeat(frames[:1], gap, axis=0), frames]      # (gap, H, W, 3), (n, H, W, 3)
        placed.append(Placed(at + gap, len(frames), aus, info))
        at += gap + len(frames)
    pieces.append(np.repeat(pieces[-1][-1:], int(rng.integers(*GAP_FRAMES)), axis=0))
    return np.concatenate(pieces), placed


def plan_videos(subjects: list[int], names: list[str], rotate: bool = False
                ) -> list[tuple[int, str, list[int]]]:
    """(subject, video name, indices into subjects): a subject's movements in order, up to
    MOVEMENTS_PER_VIDEO per video, videos named from `names` in turn (`rotate`: starting at
    the subject's own place in them, so that subjects do not all watch the first stimulus)."""
    videos: list[tuple[int, str, list[int]]] = []
    for subject in sorted(set(subjects)):
        mine = [i for i, s in enumerate(subjects) if s == subject]
        first = subject if rotate else 0
        for v, start in enumerate(range(0, len(mine), MOVEMENTS_PER_VIDEO)):
            videos.append((subject, names[(first + v) % len(names)],
                           mine[start:start + MOVEMENTS_PER_VIDEO]))
    return videos


def assign_quirks(kinds: dict[str, list[int]], rng: np.random.Generator) -> dict[int, str]:
    """Each quirk to a different movement among its candidates (as far as there are any)."""
    out: dict[int, str] = {}
    for kind, candidates in kinds.items():
        free = [i for i in candidates if i not in out]
        if free:
            out[int(free[int(rng.integers(len(free)))])] = kind
    return out


def synthesize_casme3(syn: Synthesizer, size: Size, quirks: bool) -> None:
    """CAS(ME)^3 part A: spNO.<k>/<letter>/color/<n>.jpg + the label sheet, all cells text.

    Quirks (the real sheet's): offset 0 (spNO.40/e), onset = apex = 0 on a video's first
    movement (spNO.216/e), a 115 s range (spNO.214/c), onset after offset (spNO.216/d), a row
    written twice, and `Others` for others."""
    from pipeline.synthesize import allocate, assign_subjects

    rng = syn.rng("casme3")
    labels = allocate(CASME3_LABELS, size.clips)
    subjects = assign_subjects(labels, list(range(1, size.subjects + 1)), rng)
    plan = plan_videos(subjects, list(CASME3_VIDEOS))
    firsts = [indices[0] for _, _, indices in plan]
    quirk_of = assign_quirks({"onset_apex_zero": firsts,
                              "capital_others": [i for i, e in enumerate(labels) if e == "others"],
                              **{k: list(range(len(labels))) for k in
                                 ("offset_zero", "huge_range", "onset_after_offset", "duplicate_row")}},
                             rng) if quirks else {}
    writer = CASME3Writer(syn.out / "CASME3")
    for subject, letter, indices in tqdm(plan, desc="casme3", unit="video"):
        frames, placed = render_video(syn, "casme3", subject, letter, [labels[i] for i in indices], size)
        numbers = list(range(1, len(frames) + 1))
        video = VideoToWrite(subject, letter, frames, numbers)
        for i, p in zip(indices, placed):
            own = numbers[p.start:p.start + p.length]
            truth = p.info["truth"]
            onset, apex, offset = own[truth.onset], own[truth.apex], own[truth.offset]
            aus = au_string(p.aus)
            q = quirk_of.get(i, "")
            emotion = "Others" if q == "capital_others" else labels[i]
            if q == "offset_zero":
                offset = 0
            elif q == "onset_apex_zero":
                onset = apex = 0
            elif q == "huge_range":
                offset = onset + 3455
            elif q == "onset_after_offset":
                onset = offset + 1000
            row = MovementToWrite(onset, apex, offset, emotion, aus, ROMAN[objective_from_aus(aus) - 1])
            video.movements += [row, row] if q == "duplicate_row" else [row]
            syn.record(f"casme3/spNO.{subject}/{letter}_{onset}", own, p.info, q)
        writer.add(video)
    writer.finish()


def synthesize_casme_sq(syn: Synthesizer, size: Size, quirks: bool) -> None:
    """CAS(ME)^2: rawpic/s<NN>/<NN>_<code><title>/img<nnn>.jpg + code_final.xlsx. Each video's
    first row is a macro-expression over its opening still frames (the adapter passes it over).

    Quirks (the real release's): offset 0 (the clip then ends at its apex), and a video folder
    whose leading number is not the subject's (s19/23_0502funnyerrors)."""
    from pipeline.synthesize import allocate, assign_subjects

    rng = syn.rng("casme_sq")
    labels = allocate(CASME_SQ_LABELS, size.clips)
    pool = list(CASME_SQ_SUBJECTS)[: size.subjects]
    subjects = assign_subjects(labels, pool, rng)
    plan = plan_videos(subjects, list(CASME_SQ_VIDEOS), rotate=True)
    quirk_of = assign_quirks({"offset_zero": list(range(len(labels))),
                              "folder_digits": [indices[0] for _, _, indices in plan]},
                             rng) if quirks else {}
    writer = CASMESqWriter(syn.out / "CASME_sq")
    for subject, prefix, indices in tqdm(plan, desc="casme_sq", unit="video"):
        frames, placed = render_video(syn, "casme_sq", subject, prefix, [labels[i] for i in indices], size)
        numbers = list(range(1, len(frames) + 1))
        stimulus = prefix.rstrip("0123456789")
        video = VideoToWrite(subject, prefix, frames, numbers,
                             [MovementToWrite(1, 2, placed[0].start, "others", "", kind="macro-expression",
                                              self_report=stimulus)])
        if any(quirk_of.get(i) == "folder_digits" for i in indices):
            video.folder_digits = CASME_SQ_SUBJECTS[subject] + 4
        for i, p in zip(indices, placed):
            own = numbers[p.start:p.start + p.length]
            truth = p.info["truth"]
            onset, apex, offset = own[truth.onset], own[truth.apex], own[truth.offset]
            q = quirk_of.get(i, "")
            if q == "offset_zero":
                offset = 0
            video.movements.append(MovementToWrite(onset, apex, offset, labels[i], au_string(p.aus),
                                                   self_report=stimulus))
            name = f"{prefix}_{len(video.movements)}"
            syn.record(f"casme_sq/s{CASME_SQ_SUBJECTS[subject]}/{name}", own, p.info, q)
        writer.add(video)
    writer.finish()
