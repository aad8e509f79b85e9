"""What each network sees of a clip: shards -> input tensors, with its paper's augmentation.

One class per kind of input (a network's card names its view, models/registry.py). The
constructor's arguments are the network section's `input:` keys in params.yaml (checked against
the signature when train@<network> starts), `stages` are the shard folders it reads (dvc.yaml's
train stage depends on exactly those). `fit(train_ids)` computes everything a fold needs from
its TRAINING samples only (STRCN-A's top-p mask, flow scale); `sample(id, train, rng)` returns
one float32 array. The trainer never calls `fit` with a test id, and nothing here looks at
labels of the held-out fold, so a fold's model cannot depend on its test subject.

    view            network          reads (shards)                    array
    DynamicImages   sma_stn          dynamic: eval / train draws       (4, 3, S, S)    four dynamic images
    ApexFrame       micro_attention  align: frame at the apex (flow)   (1, S, S)       grey apex frame
    MaskedMatrix    strcn_a          masks: clip_alpha<a>, energy      (1, P, L)       masked pixels x frames
    MagnifiedFlow   strcn_g          flow: strcn_g_alpha<a>            (2, h, w)       onset->apex flow
    FlowField       fr               flow: fr                          (2, 28, 28)     u, v
    FlowSequence    stanet           flow: stanet                      (L-1, 2, S, S)  adjacent-frame flows
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from pipeline.energy import masked_matrix, top_p_mask
from pipeline.shards import ShardSet
from pipeline.temporal import interpolate_frames

SHARDS = Path("data/shards")


@lru_cache(maxsize=None)
def shards(stage: str, root: str = str(SHARDS)) -> ShardSet:
    return ShardSet.from_dir(Path(root) / stage)


def rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    """(H, W[, C]) rotated about its centre, borders replicated."""
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def resize(image: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    h, w = (size, size) if isinstance(size, int) else size
    shrink = image.shape[0] > h or image.shape[1] > w
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def flip_flow(flow: np.ndarray) -> np.ndarray:
    """Mirror a (..., H, W, 2) flow left-right: the field mirrors and u changes sign."""
    mirrored = flow[..., ::-1, :].copy()
    mirrored[..., 0] *= -1
    return mirrored


class Inputs(ABC):
    """Base: a network's view of the shards. Subclasses set `stages` and implement `sample`."""

    stages: tuple[str, ...] = ()        # shard folders under data/shards it reads

    def __init__(self, shards_root: Path | str = SHARDS):
        self.root = str(shards_root)

    @property
    def shards(self) -> ShardSet:
        """The first stage's shards: those holding the arrays it samples."""
        return shards(self.stages[0], self.root)

    def sample_ids(self) -> set[str]:
        """The clips every stage it reads holds (a clip failed upstream is in none after)."""
        return set.intersection(*(set(shards(s, self.root).sample_ids) for s in self.stages))

    def fit(self, train_ids: list[str]) -> None:
        """Fold-level statistics from the training samples; nothing by default."""

    @abstractmethod
    def sample(self, sample_id: str, train: bool, rng: np.random.Generator) -> np.ndarray:
        """One float32 input array of the network (training augmentation when `train`)."""


class DynamicImages(Inputs):
    """SMA-STN: the four DSSI dynamic images. Training draws one of the random snippet sets and
    rotates (+-5, +-10 degrees) and mirrors as the paper does; evaluation uses the fixed set.
    `size`: the side the images are resized to (the paper's 224)."""

    stages = ("dynamic",)

    def __init__(self, size: int, shards_root: Path | str = SHARDS):
        super().__init__(shards_root)
        self.size = size

    def sample(self, sample_id: str, train: bool, rng: np.random.Generator) -> np.ndarray:
        if train and self.shards.shape(sample_id, "train")[0]:
            k = int(rng.integers(self.shards.shape(sample_id, "train")[0]))
            images = self.shards.read(sample_id, "train", k)               # (4, H, W, 3)
        else:
            images = self.shards.read(sample_id, "eval")                   # (4, H, W, 3)
        if train:
            angle = float(rng.choice([-10, -5, 0, 5, 10]))
            mirror = bool(rng.integers(2))
            images = np.stack([rotate(image[:, ::-1] if mirror else image, angle) for image in images])
        images = np.stack([resize(image, self.size) for image in images])     # (4, S, S, 3)
        x = (images.astype(np.float32) / 255 - 0.5) / 0.25
        return x.transpose(0, 3, 1, 2)                                     # (4, 3, S, S)


class ApexFrame(Inputs):
    """Micro-Attention: the grey apex frame (the apex index is the flow stage's). Training: one
    of the four corner crops of the frame enlarged by 240/224 (or the centre), then a colour
    shift up to +-20, a rotation up to 8 degrees and a box smoothing of window 2-6, each with
    probability 0.5 (the paper's augmentation). `size`: the input side (the paper's 224)."""

    stages = ("align", "flow")

    def __init__(self, size: int, shards_root: Path | str = SHARDS):
        super().__init__(shards_root)
        self.size = size

    def sample(self, sample_id: str, train: bool, rng: np.random.Generator) -> np.ndarray:
        apex = int(shards("flow", self.root).attrs(sample_id)["apex"])
        frame = cv2.cvtColor(self.shards.read(sample_id, "frames", apex), cv2.COLOR_RGB2GRAY)
        if not train:
            image = resize(frame, self.size).astype(np.float32)
        else:
            big = round(self.size * 240 / 224)
            image = resize(frame, big)
            corner = int(rng.integers(5))
            y, x = [(0, 0), (0, big - self.size), (big - self.size, 0),
                    (big - self.size, big - self.size),
                    ((big - self.size) // 2, (big - self.size) // 2)][corner]
            image = image[y:y + self.size, x:x + self.size].astype(np.float32)
            if rng.random() < 0.5:
                image = image + float(rng.uniform(-20, 20))
            if rng.random() < 0.5:
                image = rotate(image, float(rng.uniform(-8, 8)))
            if rng.random() < 0.5:
                window = int(rng.integers(2, 7))             # smoothing window up to 6
                image = cv2.blur(image, (window, window), borderType=cv2.BORDER_REPLICATE)
        return ((np.clip(image, 0, 255) / 255 - 0.5) / 0.25)[None]        # (1, S, S)


class MaskedMatrix(Inputs):
    """STRCN-A: the magnified grey clip's masked pixels x frames. The mask is the top `mask_p`
    of the difference energy summed over the fold's TRAINING clips (the paper summed the whole
    database, test subjects included). Evaluation reads the clip at the test-time alpha
    (`magnify.alpha`, recorded in the shards); training picks a random magnification alpha and
    keeps 100/90/80/70/60 % of the frames (re-interpolated to the fixed length), as STRCN
    augments."""

    stages = ("masks",)

    def __init__(self, mask_p: float, shards_root: Path | str = SHARDS):
        super().__init__(shards_root)
        if not 0 < mask_p <= 1:
            raise ValueError(f"mask_p: must be a fraction in (0, 1], got {mask_p}")
        self.p = mask_p
        self.mask: np.ndarray | None = None

    def fit(self, train_ids: list[str]) -> None:
        self.mask = top_p_mask([self.shards.read(s, "energy") for s in train_ids], self.p)

    def sample(self, sample_id: str, train: bool, rng: np.random.Generator) -> np.ndarray:
        if self.mask is None:
            raise RuntimeError("MaskedMatrix.fit(train_ids) must build the fold's mask first")
        keys = [k for k in self.shards.keys(sample_id) if k.startswith("clip_")]
        test_key = f"clip_{self.shards.attrs(sample_id)['test_alpha_key']}"
        key = str(rng.choice(keys)) if train else test_key
        clip = self.shards.read(sample_id, key).astype(np.float32) / 255   # (L, h, w)
        if train:
            keep = float(rng.choice([1.0, 0.9, 0.8, 0.7, 0.6]))
            if keep < 1:
                n = max(2, round(len(clip) * keep))
                chosen = np.sort(rng.choice(len(clip), n, replace=False))
                clip = interpolate_frames(clip[chosen], len(clip))
        return (masked_matrix(clip, self.mask) - 0.5)[None]               # (1, P, L)


class FlowField(Inputs):
    """FR: the onset->apex flow at FR's size (`flow.fr_size`), divided by the training samples'
    flow standard deviation (a fold-level statistic) so that the network sees unit-scale
    input."""

    stages = ("flow",)

    def __init__(self, shards_root: Path | str = SHARDS):
        super().__init__(shards_root)
        self.scale = 1.0

    def key(self, sample_id: str, train: bool, rng: np.random.Generator) -> str:
        """The shard array one sample reads."""
        return "fr"

    def fit(self, train_ids: list[str]) -> None:
        flows = [self.shards.read(s, self.key(s, False, np.random.default_rng(0))) for s in train_ids]
        self.scale = float(np.std(np.concatenate([f.ravel() for f in flows]))) or 1.0

    def sample(self, sample_id: str, train: bool, rng: np.random.Generator) -> np.ndarray:
        flow = self.shards.read(sample_id, self.key(sample_id, train, rng))   # (h, w, 2)
        return (flow / self.scale).transpose(2, 0, 1).astype(np.float32)     # (2, h, w)


class MagnifiedFlow(FlowField):
    """STRCN-G: the onset->apex flow of the magnified clip, at the test-time alpha
    (`magnify.alpha`, recorded in the shards) for evaluation and the fold's scale, at a random
    magnification alpha in training (STRCN's magnification augmentation)."""

    def key(self, sample_id: str, train: bool, rng: np.random.Generator) -> str:
        if train:
            return str(rng.choice([k for k in self.shards.keys(sample_id)
                                   if k.startswith("strcn_g_alpha")]))
        return f"strcn_g_{self.shards.attrs(sample_id)['test_alpha_key']}"


class FlowSequence(Inputs):
    """STANet: adjacent-frame flows. Training: a corner (or centre) crop of 90 % rescaled by
    0.9/1.0/1.1 back to the input size, and a mirror (the paper mirrors SMIC). `size`: the input
    side (the paper's 192)."""

    stages = ("flow",)

    def __init__(self, size: int, shards_root: Path | str = SHARDS):
        super().__init__(shards_root)
        self.size, self.scale = size, 1.0

    def fit(self, train_ids: list[str]) -> None:
        flows = [self.shards.read(s, "stanet") for s in train_ids]
        self.scale = float(np.std(np.concatenate([f.ravel() for f in flows]))) or 1.0

    def sample(self, sample_id: str, train: bool, rng: np.random.Generator) -> np.ndarray:
        flows = self.shards.read(sample_id, "stanet")                      # (L-1, s, s, 2)
        if train:
            s = flows.shape[1]
            crop = round(s * 0.9 * float(rng.choice([0.9, 1.0, 1.1])) / 1.0)
            crop = min(crop, s)
            y, x = [(0, 0), (0, s - crop), (s - crop, 0), (s - crop, s - crop),
                    ((s - crop) // 2, (s - crop) // 2)][int(rng.integers(5))]
            flows = flows[:, y:y + crop, x:x + crop]
            if rng.random() < 0.5:
                flows = flip_flow(flows)
        flows = np.stack([resize(f, self.size) for f in flows])            # (L-1, S, S, 2)
        return (flows / self.scale).transpose(0, 3, 1, 2).astype(np.float32)  # (L-1, 2, S, S)


def view(name: str) -> type[Inputs]:
    """The input view a network's card names (`FlowField`)."""
    found = globals().get(name)
    if not (isinstance(found, type) and issubclass(found, Inputs) and found is not Inputs):
        raise ValueError(f"no input view {name!r} in pipeline/datasets.py")
    return found
