"""`magnify` stage: aligned clips -> Eulerian-magnified clips (data/shards/magnify/).

STRCN amplifies the subtle motion before both of its networks see it: MIT's IIR variant of
Eulerian video magnification (pipeline/evm.py), with the test-time `alpha` and, for training
augmentation, every alpha in `augment_alphas` (the paper uses 10 factors over [5, 14], the
authors' code 5..12: the default lists 5, 6, ..., 12). All factors come from one pass over the
clip (pipeline/evm.py `magnify_many`). Every frame is kept, the first one unchanged.

Shard arrays per clip: `alpha<a>` (T, H, W, 3) uint8 RGB for each alpha, e.g. `alpha8`; attrs
`test_alpha_key` and `alphas` (every key, the test-time one first).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.evm import magnify_many
from pipeline.samples import ClipRow
from pipeline.stage import cli, stage_main, upstream


@dataclass(frozen=True)
class MagnifyParams:
    """params.yaml `magnify`."""

    alpha: float                 # test-time magnification factor
    augment_alphas: list[float]  # every factor for training augmentation (STRCN: a range of them)
    r1: float                    # IIR low-pass weights; band = lp(r1) - lp(r2), r1 > r2
    r2: float
    lambda_c: float              # spatial wavelength cut-off, px
    chrom_attenuation: float     # factor on the amplified chrominance

    def check(self) -> None:
        if self.alpha < 0 or any(a < 0 for a in self.augment_alphas):
            raise ValueError("alpha: magnification factors must be 0 (none) or more")
        if not 0 <= self.r2 < self.r1 <= 1:
            raise ValueError(f"r1: need 0 <= r2 < r1 <= 1, got r1 {self.r1}, r2 {self.r2}")
        if self.lambda_c <= 0:
            raise ValueError(f"lambda_c: must be positive, got {self.lambda_c}")
        if not 0 <= self.chrom_attenuation <= 1:
            raise ValueError(f"chrom_attenuation: must be in [0, 1], got {self.chrom_attenuation}")


def alpha_key(alpha: float) -> str:
    """Dataset name of one magnification factor: 8 -> 'alpha8', 7.5 -> 'alpha7.5'."""
    return f"alpha{alpha:g}"


def alphas(params: MagnifyParams) -> list[float]:
    """The test-time alpha first, then the augmentation alphas (without repeating it)."""
    return [params.alpha] + [a for a in params.augment_alphas if a != params.alpha]


def magnify_one(row: ClipRow, params: MagnifyParams) -> dict[str, np.ndarray]:
    frames = upstream("align").read(row.sample_id, "frames")    # (T, H, W, 3) uint8
    factors = alphas(params)
    clips = magnify_many(frames, factors, r1=params.r1, r2=params.r2, lambda_c=params.lambda_c,
                         chrom_attenuation=params.chrom_attenuation)   # (T, H, W, 3) each
    out = {alpha_key(a): clip for a, clip in zip(factors, clips)}
    out["attrs"] = {"test_alpha_key": alpha_key(params.alpha),
                    "alphas": [alpha_key(a) for a in factors]}         # the test-time one first
    return out


def main(params_path: str = "params.yaml") -> None:
    stage_main("magnify", magnify_one, MagnifyParams, params_path, needs="align")


if __name__ == "__main__":
    cli(main, "magnify")
