"""`masks` stage: STRCN-A's building blocks per clip (data/shards/masks/).

STRCN-A feeds its network the magnified pixels that move most, as a (masked pixels x frames)
matrix. Which pixels those are is decided per fold, from the TRAINING subjects' difference
energy only (pipeline/energy.py, top_p_mask): the paper summed the energy of the whole database,
test subjects included, which leaks. So this stage stores, per clip, what any fold needs:

- `clip_alpha<a>` (L, h, w) uint8: the magnified onset..offset clip, grey, resized to
  `masks.size` (paper 64 x 48) and interpolated to `masks.frames` frames (paper 30; linearly,
  or by TIM, the temporal interpolation model of Pfister et al.: `masks.interpolation`),
  one per magnification alpha (the augmentation alphas for training);
- `energy` (h, w) float32: sum_t |F_t - F_0| of the test-alpha clip, the clip's contribution to
  a fold's mask; attr `test_alpha_key`: which clip is the test-time one (magnify's alpha).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from pipeline.energy import difference_energy
from pipeline.samples import ClipRow
from pipeline.stage import cli, stage_main, upstream
from pipeline.temporal import resample


@dataclass(frozen=True)
class MasksParams:
    """params.yaml `masks`."""

    size: tuple[int, int]                       # STRCN-A frame H, W before masking
    frames: int                                 # frames after temporal interpolation
    interpolation: Literal["linear", "tim"]

    def check(self) -> None:
        if min(self.size) < 4:
            raise ValueError(f"size: at least 4 x 4, got {list(self.size)}")
        if self.frames < 2:
            raise ValueError(f"frames: at least 2, got {self.frames}")


def normalised_clip(frames: np.ndarray, row: ClipRow, size: tuple[int, int], length: int,
                    interpolation: str = "linear") -> np.ndarray:
    """(T, H, W, 3) uint8 -> (length, h, w) uint8 grey onset..offset clip at STRCN-A's size."""
    clip = frames[row.onset:row.offset + 1]
    small = np.stack([cv2.resize(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), (int(size[1]), int(size[0])),
                                 interpolation=cv2.INTER_AREA) for f in clip])   # (T', h, w)
    return resample(small, length, interpolation)                                 # (L, h, w)


def masks_one(row: ClipRow, params: MasksParams) -> dict[str, np.ndarray]:
    magnified = upstream("magnify")
    keys = [k for k in magnified.keys(row.sample_id) if k.startswith("alpha")]
    out = {f"clip_{key}": normalised_clip(magnified.read(row.sample_id, key), row, params.size,
                                          params.frames, params.interpolation)
           for key in keys}
    test_key = magnified.attrs(row.sample_id)["test_alpha_key"]
    out["energy"] = difference_energy(out[f"clip_{test_key}"])                   # (h, w)
    out["attrs"] = {"test_alpha_key": test_key}
    return out


def main(params_path: str = "params.yaml") -> None:
    stage_main("masks", masks_one, MasksParams, params_path, needs="magnify", per_frame=("clip_",))


if __name__ == "__main__":
    cli(main, "masks")
