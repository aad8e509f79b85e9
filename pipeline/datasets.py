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
    MaskedMatrix    strcn_a          masks: clips, energy              (1, P, L)       masked pixels x frames
    MagnifiedFlow   strcn_g          flow: strcn_g                     (2, h, w)       onset->apex flow
    FlowField       fr               flow: fr                          (2, 28, 28)     u, v
    FlowSequence    stanet           flow: stanet                      (L-1, 2, S, S)  adjacent-frame flows
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from pipeline.augment import augment_grey, corner_crop, flip_flow, resize, rotate
from pipeline.energy import masked_matrix, top_p_mask
from pipeline.shards import ShardSet
from pipeline.temporal import interpolate_frames

SHARDS = Path("data/shards")


@lru_cache(maxsize=None)
def shards(stage: str, root: str = str(SHARDS)) -> ShardSet:
    return ShardSet.from_dir(Path(root) / stage)


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
    """Micro-Attention: the grey apex frame (the flow stage's apex_micro_attention). Training
    augments as the paper does per protocol (a section's `per_protocol` sets them): CDE crops
    the corners (`corners`), HDE shifts colour by up to 20 and rotates by up to 8 degrees, LOSO
    does both; each shift/rotation/smoothing with probability 0.5 (`augment_grey`). The paper
    smooths only in pre-training. `size`: the input side (the paper's 224)."""

    stages = ("align", "flow")

    def __init__(self, size: int, corners: bool, colour_shift: float, rotation: float,
                 smoothing: int, shards_root: Path | str = SHARDS):
        super().__init__(shards_root)
        self.size, self.corners = size, corners
        self.colour_shift, self.rotation, self.smoothing = colour_shift, rotation, smoothing

    def sample(self, sample_id: str, train: bool, rng: np.random.Generator) -> np.ndarray:
        apex = int(shards("flow", self.root).attrs(sample_id)["apex_micro_attention"])
        frame = cv2.cvtColor(self.shards.read(sample_id, "frames", apex), cv2.COLOR_RGB2GRAY)
        if train and self.corners:
            image = corner_crop(frame, self.size, rng)
        else:
            image = resize(frame, self.size).astype(np.float32)
        if train:
            image = augment_grey(image, rng, self.colour_shift, self.rotation, self.smoothing)
        return ((np.clip(image, 0, 255) / 255 - 0.5) / 0.25)[None]        # (1, S, S)


class MaskedMatrix(Inputs):
    """STRCN-A: the magnified grey clip's masked pixels x frames. The mask is the top `mask_p`
    of the difference energy summed over the fold's TRAINING clips (the paper summed the whole
    database, test subjects included). Evaluation reads the clip at the test-time alpha
    (`magnify.alpha`) with all its frames; training, with `augment`, one of the masks stage's
    versions at random: every magnification alpha x every temporal subsampling (STRCN's
    50-fold augmentation); `augment=False` is Table IV's "without DA"."""

    stages = ("masks",)

    def __init__(self, mask_p: float, augment: bool, shards_root: Path | str = SHARDS):
        super().__init__(shards_root)
        if not 0 < mask_p <= 1:
            raise ValueError(f"mask_p: must be a fraction in (0, 1], got {mask_p}")
        self.p, self.augment = mask_p, augment
        self.mask: np.ndarray | None = None

    def fit(self, train_ids: list[str]) -> None:
        self.mask = top_p_mask([self.shards.read(s, "energy") for s in train_ids], self.p)

    def sample(self, sample_id: str, train: bool, rng: np.random.Generator) -> np.ndarray:
        if self.mask is None:
            raise RuntimeError("MaskedMatrix.fit(train_ids) must build the fold's mask first")
        a, r = 0, 0                                       # the test alpha, the whole clip
        if train and self.augment:
            alphas, rates = self.shards.shape(sample_id, "clips")[:2]
            a, r = int(rng.integers(alphas)), int(rng.integers(rates))
        clip = self.shards.read(sample_id, "clips", (a, r)).astype(np.float32) / 255   # (L, h, w)
        return (masked_matrix(clip, self.mask) - 0.5)[None]               # (1, P, L)


class FlowField(Inputs):
    """FR: the onset->apex flow at FR's size (`flow.fr_size`), divided by the training samples'
    flow standard deviation (a fold-level statistic) so that the network sees unit-scale
    input."""

    stages = ("flow",)

    def __init__(self, shards_root: Path | str = SHARDS):
        super().__init__(shards_root)
        self.scale = 1.0

    def read(self, sample_id: str, train: bool, rng: np.random.Generator) -> np.ndarray:
        """One sample's flow (h, w, 2): FR's onset->apex flow."""
        return self.shards.read(sample_id, "fr")

    def fit(self, train_ids: list[str]) -> None:
        rng = np.random.default_rng(0)                    # unused: evaluation flows draw nothing
        flows = [self.read(s, False, rng) for s in train_ids]
        self.scale = float(np.std(np.concatenate([f.ravel() for f in flows]))) or 1.0

    def sample(self, sample_id: str, train: bool, rng: np.random.Generator) -> np.ndarray:
        flow = self.read(sample_id, train, rng)                              # (h, w, 2)
        return (flow / self.scale).transpose(2, 0, 1).astype(np.float32)     # (2, h, w)


class MagnifiedFlow(FlowField):
    """STRCN-G: the onset->apex flow of the magnified clip, at the test-time alpha
    (`magnify.alpha`) and the whole clip for evaluation and the fold's scale; in training, with
    `augment`, one of the flow stage's versions at random: every magnification alpha x every
    temporal subsampling of the clip (STRCN's 50-fold augmentation). `augment=False` is Table
    IV's "without DA"."""

    def __init__(self, augment: bool, shards_root: Path | str = SHARDS):
        super().__init__(shards_root)
        self.augment = augment

    def read(self, sample_id: str, train: bool, rng: np.random.Generator) -> np.ndarray:
        a, r = 0, 0
        if train and self.augment:
            alphas, rates = self.shards.shape(sample_id, "strcn_g")[:2]
            a, r = int(rng.integers(alphas)), int(rng.integers(rates))
        return self.shards.read(sample_id, "strcn_g", (a, r))                # (h, w, 2)


class FlowSequence(Inputs):
    """STANet: adjacent-frame flows. Training augments as the paper does, per database: a
    corner (or centre) crop of 90 % of the side for every database, rescaled by 0.9/1.0/1.1
    for the databases in `rescale` (the paper: CASME (I) and CASME II) and mirrored with
    probability 0.5 for those in `flip` (the paper: SMIC-HS); then resized to `size` (the
    paper's 192)."""

    stages = ("flow",)

    def __init__(self, size: int, rescale: list[str], flip: list[str],
                 shards_root: Path | str = SHARDS):
        super().__init__(shards_root)
        self.size, self.scale = size, 1.0
        self.rescale, self.flip = set(rescale), set(flip)

    def fit(self, train_ids: list[str]) -> None:
        flows = [self.shards.read(s, "stanet") for s in train_ids]
        self.scale = float(np.std(np.concatenate([f.ravel() for f in flows]))) or 1.0

    def sample(self, sample_id: str, train: bool, rng: np.random.Generator) -> np.ndarray:
        flows = self.shards.read(sample_id, "stanet")                      # (L-1, s, s, 2)
        database = sample_id.split("/")[0]
        if train:
            s = flows.shape[1]
            factor = float(rng.choice([0.9, 1.0, 1.1])) if database in self.rescale else 1.0
            crop = min(round(s * 0.9 * factor), s)
            y, x = [(0, 0), (0, s - crop), (s - crop, 0), (s - crop, s - crop),
                    ((s - crop) // 2, (s - crop) // 2)][int(rng.integers(5))]
            flows = flows[:, y:y + crop, x:x + crop]
            if database in self.flip and rng.random() < 0.5:
                flows = flip_flow(flows)
        flows = np.stack([resize(f, self.size) for f in flows])            # (L-1, S, S, 2)
        return (flows / self.scale).transpose(0, 3, 1, 2).astype(np.float32)  # (L-1, 2, S, S)


def view(name: str) -> type[Inputs]:
    """The input view a network's card names (`FlowField`)."""
    found = globals().get(name)
    if not (isinstance(found, type) and issubclass(found, Inputs) and found is not Inputs):
        raise ValueError(f"no input view {name!r} in pipeline/datasets.py")
    return found
