"""`masks` stage: STRCN-A's building blocks per clip (data/shards/masks/).

STRCN-A feeds its network the magnified pixels that move most, as a (masked pixels x frames)
matrix. Which pixels those are is decided per fold, from the TRAINING subjects' difference
energy only (pipeline/energy.py, top_p_mask): the paper summed the energy of the whole database,
test subjects included, which leaks. So this stage stores, per clip, what any fold needs:

- `clips` (A, R, L, h, w) uint8: the magnified onset..offset clip, grey, resized to
  `masks.shape` (paper 64 x 48), for each of the A magnification alphas (attr `alphas`, the
  test-time one first) and each of STRCN's R temporal augmentations (attr `keep`: 100, 90, 80,
  70, 60 % of the clip's frames drawn at random, seeded per clip, "some frames are randomly
  selected out from one sequence with a percentage"), each interpolated to `masks.frames`
  frames (paper 30; linearly, or by TIM, Pfister et al.'s temporal interpolation model:
  `masks.interpolation`). Together the paper's 50-fold augmentation (10 alphas x 5 rates);
- `energy` (h, w) float32: sum_t |F_t - F_0| of the test-alpha, full clip, the clip's
  contribution to a fold's mask.
"""


from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from pipeline.energy import difference_energy
from pipeline.samples import ClipRow
from pipeline.stage import cli, clip_rng, stage_main, upstream
from pipeline.temporal import check_keep, kept_frames, resample


@dataclass(frozen=True)
class MasksParams:
    """params.yaml `masks`."""

    shape: tuple[int, int]                      # STRCN-A frame H, W before masking
    frames: int                                 # frames after temporal interpolation
    interpolation: Literal["linear", "tim"]
    keep: list[float]                           # temporal augmentation: shares of the frames kept
    seed: int                                   # of the kept frames' draw, with each clip's id

    def check(self) -> None:
        if min(self.shape) < 4:
            raise ValueError(f"shape: at least 4 x 4, got {list(self.shape)}")
        if self.frames < 2:
            raise ValueError(f"frames: at least 2, got {self.frames}")
        check_keep(self.keep)


def small_clip(frames: np.ndarray, row: ClipRow, size: tuple[int, int]) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T', h, w) uint8 grey onset..offset clip at STRCN-A's size."""
    clip = frames[row.onset:row.offset + 1]
    return np.stack([cv2.resize(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), (int(size[1]), int(size[0])),
                                interpolation=cv2.INTER_AREA) for f in clip])   # (T', h, w)


def masks_one(row: ClipRow, params: MasksParams) -> dict[str, np.ndarray]:
    magnified = upstream("magnify")
    keys = magnified.attrs(row.sample_id)["alphas"]              # the test-time alpha first
    rng = clip_rng(params.seed, row.sample_id)
    clips = []
    for key in keys:
        clip = small_clip(magnified.read(row.sample_id, key), row, params.shape)   # (T', h, w)
        clips.append([resample(clip[kept_frames(len(clip), keep, rng)], params.frames,
                               params.interpolation) for keep in params.keep])    # R x (L, h, w)
    clips = np.array(clips, dtype=np.uint8)                                       # (A, R, L, h, w)
    return {"clips": clips, "energy": difference_energy(clips[0, 0]),              # (h, w)
            "attrs": {"alphas": keys, "keep": list(params.keep)}}


def main(params_path: str = "params.yaml") -> None:
    stage_main("masks", masks_one, MasksParams, params_path, needs="magnify", per_frame=("clips",))


if __name__ == "__main__":
    cli(main, "masks")
