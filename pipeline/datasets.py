"""What each network sees of a clip: shards -> input tensors, with its paper's augmentation.

One class per kind of input (a network's card names its view, models/registry.py). The
constructor's arguments are the network section's `input:` keys in params.yaml (checked against
the signature when train@<network> starts), `stages` are the shard folders it reads (dvc.yaml's
train stage depends on exactly those).

A view keeps what it reads on the training device: `load(ids, device)` reads a protocol's
samples from the shards once, as uint8 (images) or float32 (flows) tensors, and `batch(ids,
train, rng)` cuts, augments and normalises a whole batch there with tensor ops
(pipeline/augment.py), so a GPU is fed from its own memory instead of waiting on NumPy and
OpenCV one sample at a time. The random choices come from a NumPy generator, drawn per sample
in batch order, so the same seed makes the same choices on any device. `fit(train_ids)` computes
everything a fold needs from its TRAINING samples only (STRCN-A's top-p mask, flow scale). The
trainer never calls `fit` with a test id, and nothing here looks at labels of the held-out
fold, so a fold's model cannot depend on its test subject.

    view            network          reads (shards)                    one sample
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
from typing import Literal

import cv2
import numpy as np
import torch

from pipeline.augment import (augment_batch, draw_augmentation, flip_flow_batch, normalise,
                              resize_batch, rotate_batch)
from pipeline.energy import top_p_mask
from pipeline.shards import ShardSet

SHARDS = Path("data/shards")


@lru_cache(maxsize=None)
def shards(stage: str, root: str = str(SHARDS)) -> ShardSet:
    return ShardSet.from_dir(Path(root) / stage)


class Inputs(ABC):
    """Base: a network's view of the shards. Subclasses set `stages` and implement `read`
    (the arrays of the given samples, stacked) and `batch`."""

    stages: tuple[str, ...] = ()        # shard folders under data/shards it reads

    def __init__(self, shards_root: Path | str = SHARDS):
        self.root = str(shards_root)
        self.device = torch.device("cpu")
        self.rows: dict[str, int] = {}
        self.data: dict[str, torch.Tensor] = {}

    def shard(self, stage: str | None = None) -> ShardSet:
        """The shards of `stage` (the first stage by default: those holding the arrays)."""
        return shards(stage or self.stages[0], self.root)

    def sample_ids(self) -> set[str]:
        """The clips every stage it reads holds (a clip failed upstream is in none after)."""
        return set.intersection(*(set(shards(s, self.root).sample_ids) for s in self.stages))

    def load(self, ids: list[str], device: torch.device | str = "cpu",
             arrays: dict[str, np.ndarray] | None = None) -> None:
        """Read the samples `ids` once, onto `device` (a protocol's worth: every fold of it
        cuts its batches from here); `arrays` stands in for the shards (bench/gpu.py)."""
        self.device = torch.device(device)
        self.rows = {s: i for i, s in enumerate(ids)}
        arrays = self.read(ids) if arrays is None else arrays
        self.data = {k: torch.from_numpy(np.ascontiguousarray(v)).to(self.device)
                     for k, v in arrays.items()}

    @abstractmethod
    def read(self, ids: list[str]) -> dict[str, np.ndarray]:
        """The arrays of the samples `ids`, stacked on axis 0."""

    @classmethod
    @abstractmethod
    def layout(cls, params: dict) -> dict[str, tuple[tuple[int, ...], str]]:
        """{array: (shape of one sample, dtype)} of what `read` returns, from params.yaml's
        preprocessing sections (tests/test_train.py checks it against the shards)."""

    def index(self, ids: list[str]) -> torch.Tensor:
        """Rows of `ids` in the loaded tensors."""
        missing = [s for s in ids if s not in self.rows]
        if missing:
            raise KeyError(f"{type(self).__name__}: {missing[0]} was not loaded; call load() with it")
        return torch.tensor([self.rows[s] for s in ids], device=self.device)

    def fit(self, train_ids: list[str]) -> None:
        """Fold-level statistics from the training samples; nothing by default."""

    def fitted(self) -> dict:
        """What `fit` computed, as plain data (floats, CPU tensors) for a model file
        (pipeline/artifacts.py): a new clip must be read with the statistics of the samples the
        model was trained on, not with its own."""
        return {}

    def restore(self, fitted: dict) -> None:
        """Take the statistics `fitted()` returned instead of fitting."""

    @abstractmethod
    def batch(self, ids: list[str], train: bool, rng: np.random.Generator) -> torch.Tensor:
        """The network's input for `ids`, (B, ...) float32 on the loaded device (training
        augmentation when `train`)."""

    def sample(self, sample_id: str, train: bool, rng: np.random.Generator) -> np.ndarray:
        """One sample's input as a NumPy array (for checks and pictures)."""
        return self.batch([sample_id], train, rng)[0].cpu().numpy()


class DynamicImages(Inputs):
    """SMA-STN: the four DSSI dynamic images. Training draws one of the random snippet sets and
    rotates (+-5, +-10 degrees) and mirrors as the paper does; evaluation uses the fixed set.
    `side`: the side the images are resized to (the paper's 224)."""

    stages = ("dynamic",)

    def __init__(self, side: int, shards_root: Path | str = SHARDS):
        super().__init__(shards_root)
        self.side = side

    def read(self, ids: list[str]) -> dict[str, np.ndarray]:
        shard = self.shard()
        return {"eval": np.stack([shard.read(s, "eval") for s in ids]),          # (N, 4, H, W, 3)
                "train": np.stack([shard.read(s, "train") for s in ids])}        # (N, K, 4, H, W, 3)

    @classmethod
    def layout(cls, params: dict) -> dict[str, tuple[tuple[int, ...], str]]:
        h, w = params["align"]["shape"]
        return {"eval": ((4, h, w, 3), "uint8"),
                "train": ((params["dynamic"]["draws"], 4, h, w, 3), "uint8")}

    def batch(self, ids: list[str], train: bool, rng: np.random.Generator) -> torch.Tensor:
        rows = self.index(ids)
        draws = self.data["train"].shape[1]
        if not train:
            images = self.data["eval"][rows]                                     # (B, 4, H, W, 3)
        else:
            picks, angles, mirrors = [], [], []
            for _ in ids:                                       # per sample, in batch order
                picks.append(int(rng.integers(draws)) if draws else -1)
                angles.append(float(rng.choice([-10, -5, 0, 5, 10])))
                mirrors.append(bool(rng.integers(2)))
            images = (self.data["train"][rows, torch.tensor(picks, device=self.device)] if draws
                      else self.data["eval"][rows])                              # (B, 4, H, W, 3)
        b = len(ids)
        x = images.permute(0, 1, 4, 2, 3).float().flatten(0, 1)                 # (B*4, 3, H, W)
        if train:
            flip = torch.tensor(mirrors, device=self.device).repeat_interleave(4)
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            angle = torch.tensor(angles, device=self.device).repeat_interleave(4)
            turned = angle != 0
            if turned.any():
                x[turned] = rotate_batch(x[turned], angle[turned])
        x = resize_batch(x, (self.side, self.side))                              # (B*4, 3, S, S)
        return normalise(x).unflatten(0, (b, 4))                                 # (B, 4, 3, S, S)


class ApexFrame(Inputs):
    """Micro-Attention: the grey apex frame (the flow stage's apex_micro_attention). Training
    augments as the paper does per protocol (a section's `per_protocol` sets them): CDE crops
    the corners (`corners`: the frame itself, or one of its four corners cut from it enlarged by
    240/224), HDE shifts the colour by up to `colour_shift` (20) and rotates by up to `rotation`
    (8) degrees, LOSO does both; `smoothing` (a box window of 2..n px, the paper's pre-training
    only) too; each shift, rotation and smoothing with probability 0.5. `side`: the input side
    (the paper's 224)."""

    stages = ("align", "flow")

    def __init__(self, side: int, corners: bool, colour_shift: float, rotation: float,
                 smoothing: int, shards_root: Path | str = SHARDS):
        super().__init__(shards_root)
        self.side, self.corners = side, corners
        self.colour_shift, self.rotation, self.smoothing = colour_shift, rotation, smoothing

    def read(self, ids: list[str]) -> dict[str, np.ndarray]:
        frames, flow = self.shard("align"), self.shard("flow")
        apexes = [int(flow.attrs(s)["apex_micro_attention"]) for s in ids]
        return {"apex": np.stack([cv2.cvtColor(frames.read(s, "frames", a), cv2.COLOR_RGB2GRAY)
                                  for s, a in zip(ids, apexes)])}                 # (N, H, W)

    @classmethod
    def layout(cls, params: dict) -> dict[str, tuple[tuple[int, ...], str]]:
        return {"apex": (tuple(params["align"]["shape"]), "uint8")}

    def batch(self, ids: list[str], train: bool, rng: np.random.Generator) -> torch.Tensor:
        frames = self.data["apex"][self.index(ids)].float()[:, None]             # (B, 1, H, W)
        small = resize_batch(frames, (self.side, self.side))                     # (B, 1, S, S)
        if not train:
            return normalise(small)
        choices = [draw_augmentation(rng, self.corners, self.colour_shift, self.rotation,
                                     self.smoothing) for _ in ids]
        x = small.clone()
        if self.corners:
            big = round(self.side * 240 / 224)
            large, s, m = resize_batch(frames, (big, big)), self.side, big - self.side
            for i, c in enumerate(choices):
                if c["corner"] < 4:
                    y0, x0 = [(0, 0), (0, m), (m, 0), (m, m)][c["corner"]]
                    x[i] = large[i, :, y0:y0 + s, x0:x0 + s]
        return normalise(augment_batch(x, choices).clamp(0, 255))               # (B, 1, S, S)


class MaskedMatrix(Inputs):
    """STRCN-A: the magnified grey clip's masked pixels x frames. The mask is the top `mask_p`
    of the difference energy summed over the fold's TRAINING clips (the paper summed the whole
    database, test subjects included). Evaluation reads the clip at the test-time alpha
    (`magnify.alpha`) with all its frames; training, with `augment`, one of the masks stage's
    versions at random: every magnification alpha x every temporal subsampling (STRCN's
    50-fold augmentation); `augment=False` is Table IV's "without DA".

    `onset_relative=True` feeds each pixel's change since the onset frame, F_t - F_0 (the signed
    d_i of the paper's Eq. 4), instead of its value F_t (the paper). The static face then no
    longer reaches the network: the paper blames exactly that appearance for STRCN-A's weak
    leave-one-subject-out results ("the appearance based deep models would be affected by the
    intra-class variations of each subject", Sec. IV-D), and on the synthetic database the
    raw values make it learn who a subject is, which a held-out subject punishes (UF1 below
    chance)."""

    stages = ("masks",)

    def __init__(self, mask_p: float, augment: bool, onset_relative: bool = False,
                 pixel_order: Literal["column", "row"] = "column",
                 shards_root: Path | str = SHARDS):
        super().__init__(shards_root)
        if not 0 < mask_p <= 1:
            raise ValueError(f"mask_p: must be a fraction in (0, 1], got {mask_p}")
        if pixel_order not in ("column", "row"):
            raise ValueError(f"pixel_order: column or row, got {pixel_order!r}")
        self.p, self.augment, self.onset_relative = mask_p, augment, onset_relative
        self.pixel_order = pixel_order
        self.mask: torch.Tensor | None = None

    def read(self, ids: list[str]) -> dict[str, np.ndarray]:
        shard = self.shard()
        return {"clips": np.stack([shard.read(s, "clips") for s in ids]),       # (N, A, R, L, h, w)
                "energy": np.stack([shard.read(s, "energy") for s in ids])}     # (N, h, w)

    @classmethod
    def layout(cls, params: dict) -> dict[str, tuple[tuple[int, ...], str]]:
        h, w = params["masks"]["shape"]
        alphas = len(set([params["magnify"]["alpha"], *params["magnify"]["augment_alphas"]]))
        return {"clips": ((alphas, len(params["masks"]["keep"]), params["masks"]["frames"], h, w),
                          "uint8"),
                "energy": ((h, w), "float32")}

    def fit(self, train_ids: list[str]) -> None:
        energy = self.data["energy"][self.index(train_ids)].cpu().numpy()       # (n, h, w)
        self.mask = torch.from_numpy(top_p_mask(list(energy), self.p)).to(self.device)

    def fitted(self) -> dict:
        return {"mask": self.mask.cpu()}                                         # (h, w) bool

    def restore(self, fitted: dict) -> None:
        self.mask = fitted["mask"].to(self.device)

    def batch(self, ids: list[str], train: bool, rng: np.random.Generator) -> torch.Tensor:
        if self.mask is None:
            raise RuntimeError("MaskedMatrix.fit(train_ids) must build the fold's mask first")
        alphas, rates = self.data["clips"].shape[1:3]
        picks = [(int(rng.integers(alphas)), int(rng.integers(rates))) if train and self.augment
                 else (0, 0) for _ in ids]                 # (0, 0): the test alpha, every frame
        a, r = (torch.tensor(v, device=self.device) for v in zip(*picks))
        clips = self.data["clips"][self.index(ids), a, r].float() / 255         # (B, L, h, w)
        if self.pixel_order == "column":                  # MATLAB's I(mask): down each column
            pixels = clips.transpose(2, 3)[:, :, self.mask.T].transpose(1, 2)    # (B, P, L)
        else:
            pixels = clips[:, :, self.mask].transpose(1, 2)                      # (B, P, L)
        if self.onset_relative:
            return (pixels - pixels[:, :, :1])[:, None]                          # (B, 1, P, L)
        return (pixels - 0.5)[:, None]                                           # (B, 1, P, L)


class FlowField(Inputs):
    """FR: the onset->apex flow at FR's size (`flow.fr_size`), divided by the training samples'
    flow standard deviation (a fold-level statistic) so that the network sees unit-scale
    input."""

    stages = ("flow",)
    key = "fr"

    def __init__(self, shards_root: Path | str = SHARDS):
        super().__init__(shards_root)
        self.scale = 1.0

    def read(self, ids: list[str]) -> dict[str, np.ndarray]:
        shard = self.shard()
        return {"flow": np.stack([shard.read(s, self.key) for s in ids])}

    @classmethod
    def layout(cls, params: dict) -> dict[str, tuple[tuple[int, ...], str]]:
        return {"flow": ((*params["flow"]["fr_size"], 2), "float32")}

    def flows(self, rows: torch.Tensor, picks: list[tuple[int, int]] | None) -> torch.Tensor:
        """(B, h, w, 2): the samples' flows (the test-time one of each, without picks)."""
        return self.data["flow"][rows]

    def fit(self, train_ids: list[str]) -> None:
        flows = self.flows(self.index(train_ids), None)
        self.scale = float(flows.double().std(correction=0)) or 1.0

    def fitted(self) -> dict:
        return {"scale": self.scale}

    def restore(self, fitted: dict) -> None:
        self.scale = float(fitted["scale"])

    def batch(self, ids: list[str], train: bool, rng: np.random.Generator) -> torch.Tensor:
        flows = self.flows(self.index(ids), self.picks(ids, train, rng))        # (B, h, w, 2)
        return (flows / self.scale).permute(0, 3, 1, 2).float()                  # (B, 2, h, w)

    def picks(self, ids: list[str], train: bool, rng: np.random.Generator) -> list | None:
        """Random choices per sample; FR has none."""
        return None


class MagnifiedFlow(FlowField):
    """STRCN-G: the onset->apex flow of the magnified clip, at the test-time alpha
    (`magnify.alpha`) and the whole clip for evaluation and the fold's scale; in training, with
    `augment`, one of the flow stage's versions at random: every magnification alpha x every
    temporal subsampling of the clip (STRCN's 50-fold augmentation). `augment=False` is Table
    IV's "without DA"."""

    key = "strcn_g"                                           # (N, A, R, h, w, 2) once loaded

    @classmethod
    def layout(cls, params: dict) -> dict[str, tuple[tuple[int, ...], str]]:
        alphas = len(set([params["magnify"]["alpha"], *params["magnify"]["augment_alphas"]]))
        strcn = params["flow"]["strcn_g"]
        return {"flow": ((alphas, len(strcn["keep"]), *strcn["shape"], 2), "float32")}

    def __init__(self, augment: bool, shards_root: Path | str = SHARDS):
        super().__init__(shards_root)
        self.augment = augment

    def picks(self, ids: list[str], train: bool, rng: np.random.Generator) -> list | None:
        if not (train and self.augment):
            return None
        alphas, rates = self.data["flow"].shape[1:3]
        return [(int(rng.integers(alphas)), int(rng.integers(rates))) for _ in ids]

    def flows(self, rows: torch.Tensor, picks: list[tuple[int, int]] | None) -> torch.Tensor:
        if picks is None:
            return self.data["flow"][rows, 0, 0]
        a, r = (torch.tensor(v, device=self.device) for v in zip(*picks))
        return self.data["flow"][rows, a, r]


class FlowSequence(Inputs):
    """STANet: adjacent-frame flows. Training augments as the paper does, per database: a
    corner (or centre) crop of 90 % of the side for every database, rescaled by 0.9/1.0/1.1
    for the databases in `rescale` (the paper: CASME (I) and CASME II) and mirrored with
    probability 0.5 for those in `flip` (the paper: SMIC-HS); then resized to `side` (the
    paper's 192)."""

    stages = ("flow",)

    def __init__(self, side: int, rescale: list[str], flip: list[str],
                 shards_root: Path | str = SHARDS):
        super().__init__(shards_root)
        self.side, self.scale = side, 1.0
        self.rescale, self.flip = set(rescale), set(flip)

    def read(self, ids: list[str]) -> dict[str, np.ndarray]:
        shard = self.shard()
        return {"flows": np.stack([shard.read(s, "stanet") for s in ids])}      # (N, L-1, s, s, 2)

    @classmethod
    def layout(cls, params: dict) -> dict[str, tuple[tuple[int, ...], str]]:
        stanet = params["flow"]["stanet"]
        return {"flows": ((stanet["frames"] - 1, *stanet["shape"], 2), "float32")}

    def fit(self, train_ids: list[str]) -> None:
        flows = self.data["flows"][self.index(train_ids)]
        self.scale = float(flows.double().std(correction=0)) or 1.0

    def fitted(self) -> dict:
        return {"scale": self.scale}

    def restore(self, fitted: dict) -> None:
        self.scale = float(fitted["scale"])

    def batch(self, ids: list[str], train: bool, rng: np.random.Generator) -> torch.Tensor:
        flows = self.data["flows"][self.index(ids)].permute(0, 1, 4, 2, 3)     # (B, L-1, 2, s, s)
        out = []
        for sample_id, clip in zip(ids, flows):
            if train:
                database, s = sample_id.split("/")[0], clip.shape[-1]
                factor = float(rng.choice([0.9, 1.0, 1.1])) if database in self.rescale else 1.0
                crop = min(round(s * 0.9 * factor), s)
                y, x = [(0, 0), (0, s - crop), (s - crop, 0), (s - crop, s - crop),
                        ((s - crop) // 2, (s - crop) // 2)][int(rng.integers(5))]
                clip = clip[..., y:y + crop, x:x + crop]
                if database in self.flip and rng.random() < 0.5:
                    clip = flip_flow_batch(clip)
            out.append(resize_batch(clip, (self.side, self.side)))               # (L-1, 2, S, S)
        return torch.stack(out) / self.scale                                     # (B, L-1, 2, S, S)


def view(name: str) -> type[Inputs]:
    """The input view a network's card names (`FlowField`)."""
    found = globals().get(name)
    if not (isinstance(found, type) and issubclass(found, Inputs) and found is not Inputs):
        raise ValueError(f"no input view {name!r} in pipeline/datasets.py")
    return found
