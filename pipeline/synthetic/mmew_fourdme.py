"""MMEW and 4DME: layout writers and the generators of their synthetic copies.

MMEW files its micro-expression clips by emotion (`Micro_Expression/<emotion>/<Filename>/<n>.jpg`,
the `others` clips in a folder named `repression`) beside one sheet, `MMEW_Micro_Exp.xlsx`.
4DME keeps grey frames per subject (`gray_micro/<sub_ID>/<fold_name>/<n>.jpg`) beside
`4DME_Labelling_Micro_release v1.xlsx`, whose labels may join several emotions with "+" and whose
AU cells mark static AUs with `(k)`. Both sheets list their rows by subject, as the releases do,
whatever order the clips were written in.

Neither release documents every detail; where it does not, the writers choose and say so: 4DME
frames are written `<n>.jpg` unpadded by default (`img<n>.jpg` and zero-padded names on request),
sub_IDs as `S01`, fold_names in the pattern of the older internal folders (`S13_1st_001_01_1`),
and the optional columns `fold, eye blink, Positive .. Others, Total` with one 0/1 flag per label
and Total = the number of labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
from tqdm import tqdm

from pipeline.synthetic.layouts import LayoutWriter, write_xlsx
from pipeline.synthetic.motion import au_string
from pipeline.synthetic.spec import ClipToWrite

if TYPE_CHECKING:                      # pipeline.synthesize imports this module
    from pipeline.synthesize import Size, Synthesizer

MMEW_SHEET = "MMEW_Micro_Exp.xlsx"
MMEW_HEADER = ["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Action Units",
               "Estimated Emotion", "remarks"]
MMEW_OTHERS_FOLDERS = ("repression", "others")

FOURDME_SHEET = "4DME_Labelling_Micro_release v1.xlsx"
FOURDME_LABELS_ORDER = ("Positive", "Negative", "Surprise", "Repression", "Others")
FOURDME_HEADER = ["sub_ID", "fold_name", "Emotion", "Onset", "Apex", "Offset", "AUs"]
FOURDME_FULL_HEADER = ["sub_ID", "fold", "fold_name", "Emotion", "Onset", "Apex", "Offset", "AUs",
                       "eye blink", *FOURDME_LABELS_ORDER, "Total"]
FOURDME_NAMES = {"plain": "{}.jpg", "img": "img{}.jpg", "padded": "{:04d}.jpg"}

# MMEW's label frequencies (300 clips, 30 subjects).
MMEW_LABELS = {"happiness": 36, "surprise": 89, "anger": 8, "disgust": 72, "fear": 16,
               "sadness": 13, "others": 66}
# 4DME: 267 clips of 41 subjects; the release's per-label counts are not published in a file
# we have, so this mix is ours: negative the largest class (as in every database elicited with
# film clips), combinations a minority (one in seven), each combination the notes list present.
FOURDME_LABELS = {"Negative": 90, "Others": 50, "Surprise": 35, "Positive": 30, "Repression": 22,
                  "Surprise+Positive": 10, "Negative+Repression": 10, "Positive+Repression": 8,
                  "Surprise+Negative": 7, "Surprise+Repression": 5}
# AUs a 4DME coder marks static ("(k)"): present through the clip, not part of the movement.
STATIC_AUS = ("4", "7", "12", "14", "17", "25")


@dataclass
class SheetClip(ClipToWrite):
    """A clip plus the cells only MMEW's and 4DME's sheets have."""

    subject_cell: int | str | None = None  # the Subject / sub_ID cell when not the default
    remarks: str | None = None             # MMEW's remarks column
    fold: str | None = None                # 4DME's fold column
    eye_blink: int = 0                     # 4DME's eye blink flag
    flags_emotion: str | None = None       # the label 4DME's flag columns describe (the row's
                                           # own unless a quirk moved another row's there)


class SubjectOrderWriter(LayoutWriter):
    """Keeps each row's subject and clip name, so `finish` lists rows by subject as the
    releases do, whatever order the generator made the clips in."""

    def __init__(self, root: Path):
        super().__init__(root)
        self.keys: list[tuple] = []

    def add(self, clip: ClipToWrite) -> None:
        before = len(self.rows)
        super().add(clip)
        if len(self.rows) > before:
            self.keys.append((clip.subject, clip.clip))      # names are zero-padded

    def sorted_rows(self) -> list[list]:
        order = sorted(range(len(self.rows)), key=lambda i: self.keys[i])
        return [self.rows[i] for i in order]


class MMEWWriter(SubjectOrderWriter):
    """MMEW: `Micro_Expression/<Estimated Emotion>/<Filename>/<n>.jpg` (n unpadded; the
    `others` clips under `others_folder`, `repression` as the release names it) and
    `MMEW_Micro_Exp.xlsx`."""

    def __init__(self, root: Path, others_folder: str = "repression"):
        super().__init__(root)
        if others_folder not in MMEW_OTHERS_FOLDERS:
            raise ValueError(f"MMEW others_folder {others_folder!r}: choose from "
                             f"{', '.join(MMEW_OTHERS_FOLDERS)}")
        self.others_folder = others_folder

    def frame_path(self, clip: ClipToWrite, number: int) -> Path:
        emotion = clip.emotion.strip()
        folder = self.others_folder if emotion.lower() == "others" else emotion
        return self.root / "Micro_Expression" / folder / clip.clip / f"{number}.jpg"

    def row(self, clip: ClipToWrite) -> list:
        subject = getattr(clip, "subject_cell", None)
        return [clip.subject if subject is None else subject, clip.clip, clip.onset, clip.apex,
                clip.offset, clip.action_units, clip.emotion, getattr(clip, "remarks", None)]

    def finish(self) -> None:
        write_xlsx(self.root / MMEW_SHEET, [MMEW_HEADER] + self.sorted_rows())


class FourDMEWriter(SubjectOrderWriter):
    """4DME: grey `gray_micro/<sub_ID>/<fold_name>/<n>.jpg` and the labelling sheet, with or
    without the optional columns; `naming` picks the frame file name (plain, img, padded)."""

    def __init__(self, root: Path, naming: str = "plain", full_columns: bool = True):
        super().__init__(root)
        if naming not in FOURDME_NAMES:
            raise ValueError(f"4DME naming {naming!r}: choose from {', '.join(FOURDME_NAMES)}")
        self.name = FOURDME_NAMES[naming]
        self.full_columns = full_columns

    @staticmethod
    def sub_id(clip: ClipToWrite) -> int | str:
        """The sub_ID cell; its text is the subject folder's name."""
        cell = getattr(clip, "subject_cell", None)
        return f"S{clip.subject:02d}" if cell is None else cell

    def frame_path(self, clip: ClipToWrite, number: int) -> Path:
        folder = self.root / "gray_micro" / str(self.sub_id(clip)) / clip.clip
        return folder / self.name.format(number)

    def pixels(self, image: np.ndarray) -> np.ndarray:
        """The grey 2D videos: single-channel JPEGs."""
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image

    def row(self, clip: ClipToWrite) -> list:
        if not self.full_columns:
            return [self.sub_id(clip), clip.clip, clip.emotion, clip.onset, clip.apex,
                    clip.offset, clip.action_units]
        described = getattr(clip, "flags_emotion", None) or clip.emotion
        labels = {p.strip().lower() for p in described.split("+")}
        flags = [int(label.lower() in labels) for label in FOURDME_LABELS_ORDER]
        return [self.sub_id(clip), getattr(clip, "fold", None), clip.clip, clip.emotion,
                clip.onset, clip.apex, clip.offset, clip.action_units,
                getattr(clip, "eye_blink", 0), *flags, sum(flags)]

    def finish(self) -> None:
        header = FOURDME_FULL_HEADER if self.full_columns else FOURDME_HEADER
        write_xlsx(self.root / FOURDME_SHEET, [header] + self.sorted_rows())


def synthesize_mmew(syn: Synthesizer, size: Size, quirks: bool) -> None:
    """MMEW: Micro_Expression/<emotion>/S<NN>-<VV>-<KKK>/<n>.jpg + MMEW_Micro_Exp.xlsx. Quirks:
    an apex after the offset and an offset past the last frame (the sheet rows loaders
    re-annotate), and a Subject cell written as text ('07')."""
    from pipeline import synthesize as synth      # the generator's helpers
    rng = syn.rng("mmew")
    labels = synth.allocate(MMEW_LABELS, size.clips)
    subjects = synth.assign_subjects(labels, list(range(1, size.subjects + 1)), rng)
    writer = MMEWWriter(syn.out / "MMEW")
    counter: dict[tuple[int, int], int] = {}
    quirk_of = synth.pick_quirks(["apex_after_offset", "offset_past_end", "text_subject"],
                                 len(labels), rng) if quirks else {}
    clips = list(zip(labels, subjects))
    for i, (emotion, subject) in enumerate(tqdm(clips, desc="mmew", unit="clip")):
        crng = syn.rng("mmew", i)
        video = int(crng.integers(1, 16))
        k = counter[(subject, video)] = counter.get((subject, video), 0) + 1
        name = f"S{subject:02d}-{video:02d}-{k:03d}"
        ident = syn.identity("mmew", subject, size.shape, grey=False)
        frames, aus, info = syn.clip("mmew", "", ident, emotion, size, False, crng)
        numbers = list(range(1, len(frames) + 1))       # clips are numbered from 1
        truth = info["truth"]
        onset, apex, offset = numbers[truth.onset], numbers[truth.apex], numbers[truth.offset]
        q = quirk_of.get(i, "")
        subject_cell: int | str = subject
        if q == "apex_after_offset":
            apex = offset + 6
        elif q == "offset_past_end":
            offset += 9
        elif q == "text_subject":
            subject_cell = f"{subject:02d}"
        au_cell: str | int = int(aus[0]) if len(aus) == 1 and aus[0].isdigit() else au_string(aus)
        writer.add(SheetClip(subject, name, frames, numbers, onset, apex, offset, emotion, au_cell,
                             subject_cell=subject_cell))
        syn.record(f"mmew/{subject:02d}/{name}", numbers, info, q)
    writer.finish()


def fourdme_aus(aus: list[str], rng: np.random.Generator) -> str:
    """4DME's spelling: one `AU` prefix ('AU1+2'), and now and then a static AU ('AU4(k)+L7')."""
    terms = list(aus)
    if rng.random() < 0.25:
        static = [au for au in STATIC_AUS if au not in {a.lstrip("LR") for a in aus}]
        au = static[int(rng.integers(len(static)))]
        terms.insert(int(rng.integers(len(terms) + 1)), f"{au}(k)")
    return "AU" + "+".join(terms) if terms else ""


def moving_label(emotion: str) -> str:
    """The label whose AUs a clip shows: the first one that is not Repression (repression
    holds the other emotion back, it does not move the face its own way)."""
    parts = emotion.split("+")
    return next((p for p in parts if p != "Repression"), parts[0])


def synthesize_fourdme(syn: Synthesizer, size: Size, quirks: bool) -> None:
    """4DME: gray_micro/S<NN>/<fold_name>/<n>.jpg (grey) + the labelling sheet with its optional
    columns. Quirks: an AUs cell and the Apex cell exchanged; two neighbouring rows with their
    AUs and emotion flags exchanged (sheet rows 144/145); frame cells as floats and as text."""
    from pipeline import synthesize as synth      # the generator's helpers
    rng = syn.rng("fourdme")
    labels = synth.allocate(FOURDME_LABELS, size.clips)
    subjects = synth.assign_subjects(labels, list(range(1, size.subjects + 1)), rng)
    writer = FourDMEWriter(syn.out / "4DME", naming="plain", full_columns=True)
    # numbered in a shuffled order, so that a subject's rows do not come grouped by label
    names: list[tuple[str, str]] = [("", "")] * len(labels)
    counter: dict[tuple[int, str], int] = {}
    for i in rng.permutation(len(labels)):
        subject = subjects[i]
        recording = ("1st", "2nd")[int(syn.rng("fourdme", int(i), "name").integers(2))]
        k = counter[(subject, recording)] = counter.get((subject, recording), 0) + 1
        names[i] = (f"S{subject:02d}_{recording}", f"S{subject:02d}_{recording}_{k:03d}_01_1")
    quirk_of = synth.pick_quirks(["aus_in_apex", "float_frames", "text_frames"], len(labels),
                                 rng) if quirks else {}
    pair = (neighbours_to_swap(labels, subjects, [n for _, n in names], set(quirk_of))
            if quirks else ())
    held: dict[int, SheetClip] = {}
    clips = list(zip(labels, subjects))
    for i, (emotion, subject) in enumerate(tqdm(clips, desc="fourdme", unit="clip")):
        crng = syn.rng("fourdme", i)
        fold, name = names[i]
        ident = syn.identity("fourdme", subject, size.shape, grey=True)
        frames, aus, info = syn.clip("fourdme", "", ident, moving_label(emotion), size, True, crng)
        info["emotion"] = emotion
        first = int(crng.integers(1, 3000))
        numbers = list(range(first, first + len(frames)))
        truth = info["truth"]
        onset, apex, offset = numbers[truth.onset], numbers[truth.apex], numbers[truth.offset]
        cells: list[int | float | str] = [onset, apex, offset]
        au_cell: str | int = fourdme_aus(aus, crng)
        q = quirk_of.get(i, "swapped_with_neighbour" if i in pair else "")
        if q == "aus_in_apex":
            cells[1], au_cell = au_cell, apex
        elif q == "float_frames":
            cells = [float(c) for c in cells]
        elif q == "text_frames":
            cells = [str(c) for c in cells]
        clip = SheetClip(subject, name, frames, numbers, *cells, emotion, au_cell, fold=fold,
                         eye_blink=int(crng.random() < 0.1))
        syn.record(f"fourdme/S{subject:02d}/{name}", numbers, info, q)
        if i in pair:
            held[i] = clip
            if len(held) < 2:
                continue
            a, b = held.values()
            a.action_units, b.action_units = b.action_units, a.action_units
            a.flags_emotion, b.flags_emotion = b.emotion, a.emotion
            a.eye_blink, b.eye_blink = b.eye_blink, a.eye_blink
            writer.add(a)
            writer.add(b)
            continue
        writer.add(clip)
    writer.finish()


def neighbours_to_swap(labels: list[str], subjects: list[int], names: list[str],
                       taken: set[int]) -> tuple[int, ...]:
    """Two clips whose rows end up next to each other in the sheet, with different labels and
    no other quirk: the pair whose AUs the sheet exchanges. Empty when there is none."""
    order = sorted(range(len(labels)), key=lambda i: (subjects[i], names[i]))
    for a, b in zip(order, order[1:]):
        if labels[a] != labels[b] and not {a, b} & taken:
            return (a, b)
    return ()
