"""`synthesize` stage: the embedded databases, written in the real databases' layouts.

No licensed micro-expression database can ship with the code, so this stage writes CASME II-,
SAMM-, SMIC- (HS, VIS, NIR) and CASME (I)-like databases in their exact on-disk layouts and
spreadsheet formats, plus the MEGC 2019 composite list and a macro-expression image set for
pre-training. The default pipeline then reads them through the same adapters a user's real copy
goes through.

Every clip is a real face (skimage's astronaut) varied per subject, showing an AU-like local
deformation chosen from its emotion, rising from onset to apex and falling to offset, with
rigid head jitter and sensor noise. Class frequencies follow the real databases; a few of their
annotation quirks are injected on purpose (`quirks: true`) so that the adapters' repairs run.

The truth (true onset/apex/offset, landmarks per frame, the displacement field's parameters,
which quirk each clip carries) goes to `ground_truth.h5`, which only tests read.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import h5py
import numpy as np
from tqdm import tqdm

from pipeline.atomic import write_atomic
from pipeline.params import ParamsError, parse, read_params, section
from pipeline.schemes import label
from pipeline.synthetic.faces import Identity, make_identity
from pipeline.synthetic.layouts import (CASME2Writer, CASMEWriter, SAMMWriter, SMICWriter,
                                        write_megc2019_gt)
from pipeline.synthetic.longvideos import synthesize_casme3, synthesize_casme_sq
from pipeline.synthetic.mmew_fourdme import synthesize_fourdme, synthesize_mmew
from pipeline.synthetic.motion import au_string, render_clip, render_macro, sample_aus
from pipeline.synthetic.spec import ClipToWrite

# Label frequencies of the real releases (notes/datasets.md); synthetic clips follow them.
CASME2_LABELS = {"others": 99, "disgust": 63, "happiness": 32, "repression": 27,
                 "surprise": 25, "sadness": 7, "fear": 2}
SAMM_LABELS = {"Anger": 57, "Other": 26, "Happiness": 26, "Surprise": 15, "Contempt": 12,
               "Disgust": 9, "Fear": 8, "Sadness": 6}
SMIC_HS_LABELS = {"negative": 70, "positive": 51, "surprise": 43}
SMIC_VIS_NIR_LABELS = {"negative": 23, "positive": 28, "surprise": 20}
# CASME (I), Yan et al. 2013: 195 clips; STANet uses its 4 largest classes.
CASME_LABELS = {"tense": 69, "disgust": 44, "repression": 38, "surprise": 20, "happiness": 9,
                "sadness": 6, "contempt": 3, "fear": 2}
CASME_SPELLING = {"contempt": "comtempt"}
# Subject numbers as the real releases name them.
SAMM_SUBJECTS = [s for s in range(6, 38) if s not in (8, 27, 29)]
SMIC_HS_SUBJECTS = [1, 2, 3, 4, 5, 6, 8, 9, 11, 12, 13, 14, 15, 18, 19, 20]
SMIC_VIS_NIR_SUBJECTS = [11, 12, 13, 14, 15, 18, 19, 20]
SMIC_SHORT = {"negative": "ne", "positive": "po", "surprise": "sur"}
# SAMM's Objective Classes (Davison et al. 2018) for the synthetic emotion; 7 = other.
SAMM_OBJECTIVE = {"Happiness": 1, "Surprise": 2, "Anger": 3, "Disgust": 4, "Sadness": 5,
                  "Fear": 6, "Contempt": 7, "Other": 7}
FPS = {"casme2": 200, "samm": 200, "smic_hs": 100, "smic_vis": 25, "smic_nir": 25, "casme": 60,
       "casme3": 30, "casme_sq": 30, "mmew": 90, "fourdme": 60, "videos": 30}
VIDEO_LEAD = (6, 4)            # still frames before the onset and after the offset of a recording
MACRO_LABELS = ["anger", "contempt", "disgust", "fear", "happiness", "neutral", "sadness",
                "surprise"]

# The benchmark setting: CASME II at its real scale (26 subjects, 255 clips, ~17k frames).
CASME2_SCALE = {"subjects": 26, "clips": 255, "frames": [24, 110], "shape": [340, 280]}


@dataclass(frozen=True)
class Size:
    """One synthetic database's size."""

    subjects: int
    clips: int                     # spread over subjects and classes like the real database
    frames: tuple[int, int]        # min, max frames per clip
    shape: tuple[int, int]         # frame H, W

    def check(self) -> None:
        if self.subjects < 1 or self.clips < self.subjects:
            raise ValueError(f"clips: need at least one subject and a clip per subject, got "
                             f"{self.subjects} subjects, {self.clips} clips")
        if not 3 <= self.frames[0] <= self.frames[1]:
            raise ValueError(f"frames: need 3 <= min <= max, got {list(self.frames)}")
        if min(self.shape) < 100:
            raise ValueError(f"shape: frames of at least 100 x 100 (dlib must find the face), "
                             f"got {list(self.shape)}")


@dataclass(frozen=True)
class MacroSize:
    """The macro-expression image set for Micro-Attention's pre-training."""

    subjects: int
    per_class: int                 # images per subject and class
    shape: tuple[int, int]         # image H, W

    def check(self) -> None:
        if self.subjects < 1 or self.per_class < 1 or min(self.shape) < 100:
            raise ValueError("subjects: at least one subject and image per class, 100 x 100 px")


@dataclass(frozen=True)
class Motion:
    amplitude_px: tuple[float, float]
    shading: tuple[float, float]
    jitter_px: float
    noise_std: float


@dataclass(frozen=True)
class SynthesizeParams:
    """params.yaml `synthesize`."""

    seed: int
    out: str                       # folder the databases are written to
    casme2: Size
    samm: Size
    smic_hs: Size
    smic_vis: Size
    smic_nir: Size
    casme: Size
    casme3: Size                   # CAS(ME)^3 part A: several movements per long video
    casme_sq: Size                 # CAS(ME)^2
    mmew: Size
    fourdme: Size
    videos: Size                   # recordings of one's own: mp4 files and videos.csv
    macro: MacroSize
    amplitude_px: tuple[float, float]   # peak AU displacement at apex, [min, max] px
    shading: tuple[float, float]   # darkening of the AUs' creases at apex, [min, max] (shading.py)
    jitter_px: float               # slow rigid head sway over a clip, px
    noise_std: float               # sensor noise, fraction of full scale
    quirks: bool                   # inject the real databases' annotation quirks

    def check(self) -> None:
        if not 0 <= self.amplitude_px[0] <= self.amplitude_px[1]:
            raise ValueError(f"amplitude_px: need 0 <= min <= max, got {list(self.amplitude_px)}")
        if not 0 <= self.shading[0] <= self.shading[1] < 1:
            raise ValueError(f"shading: need 0 <= min <= max < 1, got {list(self.shading)}")
        if self.jitter_px < 0 or self.noise_std < 0:
            raise ValueError("jitter_px: head sway and noise must be 0 or more")


def allocate(frequencies: dict[str, int], n: int) -> list[str]:
    """n labels in the real proportions (largest remainder), each class at least once when n
    leaves room for it, so that small databases stay imbalanced but complete."""
    total = sum(frequencies.values())
    exact = {k: n * v / total for k, v in frequencies.items()}
    counts = {k: int(x) for k, x in exact.items()}
    if n >= 2 * len(frequencies):
        counts = {k: max(1, c) for k, c in counts.items()}
    while sum(counts.values()) < n:
        k = max(exact, key=lambda k: exact[k] - counts[k])
        counts[k] += 1
    while sum(counts.values()) > n:
        k = max(counts, key=lambda k: (counts[k] - exact[k], counts[k]))
        counts[k] -= 1
    return [k for k, c in counts.items() for _ in range(c)]


def assign_subjects(labels: list[str], subjects: list[int], rng: np.random.Generator) -> list[int]:
    """Spread clips over subjects unevenly (real databases range from 2 to 36 clips a subject),
    every subject getting at least two clips when there are enough."""
    n = len(labels)
    weights = rng.dirichlet(np.full(len(subjects), 1.5))
    base = min(2, n // len(subjects))
    extra = rng.multinomial(n - base * len(subjects), weights)
    per_subject = [base + int(e) for e in extra]
    owners = [s for s, k in zip(subjects, per_subject) for _ in range(k)]
    rng.shuffle(owners)
    return owners


def in_sheet_order(labels: list[str], subjects: list[int]) -> list[tuple[int, str, int]]:
    """(i, label, subject) sorted by subject, as the real coding sheets list their rows (a
    reader that pairs predictions with rows by position must meet the real order). Clip i keeps
    its index, and with it its random stream: the order changes the sheet, not the clips."""
    return sorted(((i, e, s) for i, (e, s) in enumerate(zip(labels, subjects))),
                  key=lambda item: (item[2], item[0]))


class Synthesizer:
    """Renders clips for one database and hands them to that database's layout writer."""

    def __init__(self, out: Path, seed: int, motion: Motion, truth: h5py.File):
        self.out, self.seed, self.motion, self.truth = out, seed, motion, truth
        self.identities: dict[tuple[str, int, bool], Identity] = {}

    def rng(self, *key: int | str) -> np.random.Generator:
        words = [self.seed] + [int.from_bytes(str(k).encode(), "little") % 2**32 for k in key]
        return np.random.default_rng(np.random.SeedSequence(words))

    def identity(self, group: str, subject: int, size: tuple[int, int], grey: bool) -> Identity:
        """One identity per person; SMIC HS/VIS/NIR film the same people, so they share one."""
        key = (group, subject, grey)
        if key not in self.identities:
            seed = int(self.rng("identity", group, subject).integers(2**31))
            self.identities[key] = make_identity(seed, size, grey=grey)
        return self.identities[key]

    def clip(self, db: str, sample_id: str, identity: Identity, emotion: str, size: Size,
             grey: bool, rng: np.random.Generator) -> tuple[np.ndarray, list[str], dict]:
        """Render one clip: frames (T, H, W[, 3]) uint8, its AUs, and the truth to record."""
        n = int(rng.integers(size.frames[0], size.frames[1] + 1))
        apex = int(round(rng.uniform(0.3, 0.7) * (n - 1)))
        aus = sample_aus(emotion, rng)
        amplitude = float(rng.uniform(*self.motion.amplitude_px))
        shading = float(rng.uniform(*self.motion.shading))
        frames, truth = render_clip(identity, aus, n, 0, apex, n - 1, amplitude, rng,
                                    jitter_px=self.motion.jitter_px,
                                    noise_std=self.motion.noise_std, grey=grey, shading=shading)
        return frames, aus, {"truth": truth, "emotion": emotion, "aus": au_string(aus),
                             "amplitude_px": amplitude}

    def record(self, sample_id: str, frame_numbers: list[int], info: dict, quirk: str) -> None:
        """Write a clip's ground truth; frame numbers convert the truth's indices."""
        group = self.truth.create_group(sample_id)
        truth = info["truth"]
        for name, value in dataclasses.asdict(truth).items():
            if isinstance(value, np.ndarray):
                group.create_dataset(name, data=value)
            elif isinstance(value, (list, tuple)) and value and isinstance(value[0], (list, tuple, np.ndarray)):
                group.create_dataset(name, data=np.asarray(value, dtype=np.float64))
            elif value is not None:
                group.attrs[name] = value if not isinstance(value, (list, tuple)) else np.asarray(value)
        group.create_dataset("frame_numbers", data=np.asarray(frame_numbers))
        for key in ("onset", "apex", "offset"):
            group.attrs[f"true_{key}"] = frame_numbers[getattr(truth, key)]
        group.attrs["emotion"] = info["emotion"]
        group.attrs["action_units"] = info["aus"]
        group.attrs["amplitude_px"] = info["amplitude_px"]
        group.attrs["quirk"] = quirk


def casme2_name(rng: np.random.Generator, taken: set[str]) -> str:
    """Opaque CASME II Filenames: EP02_01f, EP01_2, EP09f, EP06_02_01 ..."""
    while True:
        ep = int(rng.integers(1, 20))
        form = int(rng.integers(4))
        name = [f"EP{ep:02d}_{int(rng.integers(1, 10)):02d}f", f"EP{ep:02d}_{int(rng.integers(1, 10))}",
                f"EP{ep:02d}f", f"EP{ep:02d}_{int(rng.integers(1, 4)):02d}_{int(rng.integers(1, 4)):02d}"][form]
        if name not in taken:
            taken.add(name)
            return name


def synthesize_casme2(syn: Synthesizer, size: Size, quirks: bool) -> list[tuple]:
    """CASME II: Cropped/subNN/<Filename>/reg_img<N>.jpg + CASME2-coding-20140508.xlsx."""
    rng = syn.rng("casme2")
    labels = allocate(CASME2_LABELS, size.clips)
    subjects = assign_subjects(labels, list(range(1, size.subjects + 1)), rng)
    writer = CASME2Writer(syn.out / "CASME2", variant="xlsx2014", layout="cropped")
    names: dict[int, set[str]] = {}
    quirk_of = pick_quirks(["apex_slash", "range_shift", "offset_past_end", "apex_at_onset",
                            "no_sheet_row"], len(labels), rng) if quirks else {}
    gt_rows = []
    for i, emotion, subject in tqdm(in_sheet_order(labels, subjects), desc="casme2", unit="clip"):
        name, frames, aus, info, numbers = casme_style_clip(syn, "casme2", i, subject, emotion,
                                                            size, names, (30, 300))
        truth = info["truth"]
        onset, apex, offset = numbers[truth.onset], numbers[truth.apex], numbers[truth.offset]
        q = quirk_of.get(i, "")
        cell_apex: int | str = apex
        in_sheet = True
        if q == "apex_slash":
            cell_apex = "/"
        elif q == "range_shift":        # sub07/EP06_01: annotated 15..68, frames 56..91
            shift = len(numbers) // 2
            onset, cell_apex, offset = onset - shift, apex - shift, offset - shift
        elif q == "offset_past_end":    # sub12/EP09_06: offset past the last frame
            offset += 7
        elif q == "apex_at_onset":
            cell_apex = onset
        elif q == "no_sheet_row":       # sub09/EP02_02f: a folder with no spreadsheet row
            in_sheet = False
        au_cell: str | int = int(aus[0]) if len(aus) == 1 and aus[0].isdigit() else au_string(aus)
        writer.add(ClipToWrite(subject, name, frames, numbers, onset, cell_apex, offset, emotion,
                               au_cell, in_sheet=in_sheet))
        sample_id = f"casme2/sub{subject:02d}/{name}"
        syn.record(sample_id, numbers, info, q)
        mega = label("megc3", "casme2", emotion, au_string(aus), None)
        if mega and in_sheet:
            gt_rows.append(("casme2", f"sub{subject:02d}", name, mega))
    writer.finish()
    return gt_rows


def casme_style_clip(syn: Synthesizer, db: str, i: int, subject: int, emotion: str, size: Size,
                     names: dict[int, set[str]], first_frame: tuple[int, int]
                     ) -> tuple[str, np.ndarray, list[str], dict, list[int]]:
    """One CASME / CASME II clip: its Filename, frames, AUs, truth, and frame numbers starting
    at a random first frame in `first_frame` (the releases cut clips out of longer recordings)."""
    crng = syn.rng(db, i)
    name = casme2_name(crng, names.setdefault(subject, set()))
    ident = syn.identity(db, subject, size.shape, grey=False)
    frames, aus, info = syn.clip(db, "", ident, emotion, size, False, crng)
    first = int(crng.integers(*first_frame))
    return name, frames, aus, info, list(range(first, first + len(frames)))


def pick_quirks(kinds: list[str], n: int, rng: np.random.Generator) -> dict[int, str]:
    """Give each quirk to a different clip (as far as there are clips)."""
    chosen = rng.permutation(n)[: len(kinds)]
    return {int(i): k for i, k in zip(chosen, kinds)}


def synthesize_samm(syn: Synthesizer, size: Size, quirks: bool) -> list[tuple]:
    """SAMM: SAMM/<SSS>/<SSS>_<ind>_<k>/<SSS>_<FFFFF>.jpg (grey) + the v2 sheet with title rows."""
    rng = syn.rng("samm")
    labels = allocate(SAMM_LABELS, size.clips)
    subjects = assign_subjects(labels, SAMM_SUBJECTS[: size.subjects], rng)
    writer = SAMMWriter(syn.out / "SAMM", variant="v2")
    counter: dict[tuple[int, int], int] = {}
    quirk_of = pick_quirks(["apex_outside", "wrong_offset"], len(labels), rng) if quirks else {}
    gt_rows = []
    for i, emotion, subject in tqdm(in_sheet_order(labels, subjects), desc="samm", unit="clip"):
        crng = syn.rng("samm", i)
        inducement = int(crng.integers(1, 8))
        k = counter[(subject, inducement)] = counter.get((subject, inducement), 0) + 1
        name = f"{subject:03d}_{inducement}_{k}"
        ident = syn.identity("samm", subject, size.shape, grey=True)
        frames, aus, info = syn.clip("samm", "", ident, emotion, size, True, crng)
        first = int(crng.integers(1000, 9000))
        numbers = list(range(first, first + len(frames)))
        truth = info["truth"]
        onset, apex, offset = numbers[truth.onset], numbers[truth.apex], numbers[truth.offset]
        q = quirk_of.get(i, "")
        if q == "apex_outside":         # 028_4_1, 032_3_1: apex outside onset..offset
            apex = offset + 12
        elif q == "wrong_offset":       # 013_1_9: an offset that cannot be right
            offset = -1
        writer.add(ClipToWrite(subject, name, frames, numbers, onset, apex, offset, emotion,
                               au_string(aus), objective_class=SAMM_OBJECTIVE[emotion],
                               inducement=inducement))
        syn.record(f"samm/{subject:03d}/{name}", numbers, info, q)
        mega = label("megc3", "samm", emotion, au_string(aus), SAMM_OBJECTIVE[emotion])
        if mega:
            gt_rows.append(("samm", str(subject), name, mega))
    writer.finish()
    return gt_rows


def synthesize_smic(syn: Synthesizer, modality: str, size: Size) -> list[tuple]:
    """SMIC: SMIC_all_cropped/<HS|VIS|NIR>/s<k>/micro/<class>/s<k>_<ne|po|sur>_<NN>/reg_image<6>.bmp."""
    db = f"smic_{modality.lower()}"
    rng = syn.rng(db)
    frequencies = SMIC_HS_LABELS if modality == "HS" else SMIC_VIS_NIR_LABELS
    pool = SMIC_HS_SUBJECTS if modality == "HS" else SMIC_VIS_NIR_SUBJECTS
    labels = allocate(frequencies, size.clips)
    subjects = assign_subjects(labels, pool[-size.subjects:] if modality != "HS" else pool[: size.subjects], rng)
    writer = SMICWriter(syn.out / "SMIC", modality=modality, layout="cropped", non_micro=True)
    counter: dict[tuple[int, str], int] = {}
    gt_rows = []
    for i, emotion, subject in tqdm(in_sheet_order(labels, subjects), desc=db, unit="clip"):
        crng = syn.rng(db, i)
        k = counter[(subject, emotion)] = counter.get((subject, emotion), 0) + 1
        name = f"s{subject}_{SMIC_SHORT[emotion]}_{k:02d}"
        ident = syn.identity("smic", subject, size.shape, grey=(modality == "NIR"))
        frames, aus, info = syn.clip(db, "", ident, emotion, size, modality == "NIR", crng)
        if frames.ndim == 3:            # NIR frames are grey; BMPs store them as 3 equal channels
            frames = np.repeat(frames[..., None], 3, axis=-1)
        first = int(crng.integers(100, 20000))
        numbers = list(range(first, first + len(frames)))
        writer.add(ClipToWrite(subject, name, frames, numbers, numbers[0], "", numbers[-1], emotion))
        syn.record(f"{db}/s{subject}/{name}", numbers, info, "")
        if modality == "HS":
            gt_rows.append(("smic", f"s{subject:02d}", name, emotion))
    writer.finish()
    return gt_rows


def synthesize_casme(syn: Synthesizer, size: Size) -> None:
    """CASME (I): the layout of pipeline.synthetic.layouts.CASMEWriter, `comtempt` as the
    release spells it."""
    rng = syn.rng("casme")
    labels = allocate(CASME_LABELS, size.clips)
    subjects = assign_subjects(labels, list(range(1, size.subjects + 1)), rng)
    writer = CASMEWriter(syn.out / "CASME")
    names: dict[int, set[str]] = {}
    for i, emotion, subject in tqdm(in_sheet_order(labels, subjects), desc="casme", unit="clip"):
        name, frames, aus, info, numbers = casme_style_clip(syn, "casme", i, subject, emotion,
                                                            size, names, (1, 100))
        truth = info["truth"]
        written = CASME_SPELLING.get(emotion, emotion)
        writer.add(ClipToWrite(subject, name, frames, numbers, numbers[truth.onset],
                               numbers[truth.apex], numbers[truth.offset], written, au_string(aus)))
        syn.record(f"casme/sub{subject:02d}/{name}", numbers, dict(info, emotion=written), "")
    writer.finish()


def synthesize_videos(syn: Synthesizer, size: Size) -> None:
    """Recordings of one's own (pipeline/databases/videos.py): one mp4 per take,
    `VIDEOS/p<NN>_take<k>.mp4` at 30 fps, still frames before the onset and after the offset as
    a camera left running has them, and `videos.csv` with 1-based frame numbers and CASME II's
    spellings. OpenCV's mp4v encoder writes the same bytes for the same frames."""
    rng = syn.rng("videos")
    labels = allocate(CASME2_LABELS, size.clips)
    subjects = assign_subjects(labels, list(range(1, size.subjects + 1)), rng)
    root = syn.out / "VIDEOS"
    root.mkdir(parents=True, exist_ok=True)
    takes: dict[int, int] = {}
    rows = [["subject", "file", "onset", "apex", "offset", "emotion"]]
    for i, emotion, subject in tqdm(in_sheet_order(labels, subjects), desc="videos", unit="clip"):
        crng = syn.rng("videos", i)
        ident = syn.identity("videos", subject, size.shape, grey=False)
        frames, _, info = syn.clip("videos", "", ident, emotion, size, False, crng)
        before, after = VIDEO_LEAD
        video = np.concatenate([frames[:1].repeat(before, 0), frames, frames[-1:].repeat(after, 0)])
        k = takes[subject] = takes.get(subject, 0) + 1
        name = f"p{subject:02d}_take{k}"
        writer = cv2.VideoWriter(str(root / f"{name}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"),
                                 FPS["videos"], (video.shape[2], video.shape[1]))
        for frame in video:                                   # (H, W, 3) RGB
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        writer.release()
        numbers = list(range(before + 1, before + 1 + len(frames)))     # 1-based video frames
        truth = info["truth"]
        rows.append([f"p{subject:02d}", f"{name}.mp4", numbers[truth.onset], numbers[truth.apex],
                     numbers[truth.offset], emotion])
        syn.record(f"videos/p{subject:02d}/{name}", numbers, info, "")
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    write_atomic(root / "videos.csv", text.getvalue())


def synthesize_macro(syn: Synthesizer, p: MacroSize) -> int:
    """Macro-expression images, one folder per label (the layout a user's own set may use)."""
    root = syn.out / "MACRO"
    count = 0
    for subject in tqdm(range(1, p.subjects + 1), desc="macro", unit="subject"):
        ident = syn.identity("macro", subject, p.shape, grey=False)
        for emotion in MACRO_LABELS:
            folder = root / emotion
            folder.mkdir(parents=True, exist_ok=True)
            for k in range(p.per_class):
                image = render_macro(ident, emotion, syn.rng("macro", subject, emotion, k))
                cv2.imwrite(str(folder / f"m{subject:02d}_{k:02d}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
                count += 1
    return count


def synthesize(params: dict) -> Path:
    """Write every synthetic database under params['out'] (replaced atomically as a whole);
    `params` is the `synthesize` section, checked against SynthesizeParams first."""
    p = parse(SynthesizeParams, params, "synthesize")
    out = Path(p.out)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    motion = Motion(p.amplitude_px, p.shading, p.jitter_px, p.noise_std)
    quirks = p.quirks
    with h5py.File(tmp / "ground_truth.h5", "w") as truth:
        # what was generated, not where: the same params give the same file in any folder
        truth.attrs["params"] = json.dumps({k: v for k, v in params.items() if k != "out"},
                                           sort_keys=True)
        syn = Synthesizer(tmp, p.seed, motion, truth)
        gt = synthesize_casme2(syn, p.casme2, quirks)
        gt += synthesize_samm(syn, p.samm, quirks)
        gt += synthesize_smic(syn, "HS", p.smic_hs)
        synthesize_smic(syn, "VIS", p.smic_vis)
        synthesize_smic(syn, "NIR", p.smic_nir)
        synthesize_casme(syn, p.casme)
        synthesize_casme3(syn, p.casme3, quirks)
        synthesize_casme_sq(syn, p.casme_sq, quirks)
        synthesize_mmew(syn, p.mmew, quirks)
        synthesize_fourdme(syn, p.fourdme, quirks)
        synthesize_videos(syn, p.videos)
        synthesize_macro(syn, p.macro)
        for key, ident in syn.identities.items():
            group = truth.require_group("identities").create_group("/".join(map(str, key)))
            group.create_dataset("landmarks", data=ident.landmarks)
    write_megc2019_gt(tmp / "MEGC2019" / "combined_3class_gt.csv", gt)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out


def main(params_path: str = "params.yaml") -> None:
    out = synthesize(section(read_params(params_path), "synthesize"))
    print(f"synthetic databases written to {out}")


if __name__ == "__main__":
    try:
        main(*sys.argv[1:])
    except ParamsError as error:
        sys.exit(f"synthesize: {error}")
