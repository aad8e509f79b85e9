"""`magnify` stage: aligned clips -> Eulerian-magnified clips (data/shards/magnify/).

STRCN amplifies the subtle motion before both of its networks see it: MIT's IIR variant of
Eulerian video magnification (pipeline/evm.py), with the test-time `alpha` and, for training
augmentation, every alpha in `augment_alphas` (the paper draws alpha from [5, 14], its code from
5..12). Every frame is kept, the first one unchanged.

Shard arrays per clip: `alpha<a>` (T, H, W, 3) uint8 RGB for each alpha, e.g. `alpha8`.
"""

from __future__ import annotations

import numpy as np

from pipeline.evm import magnify
from pipeline.stage import ClipRow, cli, stage_main, upstream


def alpha_key(alpha: float) -> str:
    """Dataset name of one magnification factor: 8 -> 'alpha8', 7.5 -> 'alpha7.5'."""
    return f"alpha{alpha:g}"


def alphas(params: dict) -> list[float]:
    """The test-time alpha first, then the augmentation alphas (without repeating it)."""
    extra = [float(a) for a in params["augment_alphas"] if float(a) != float(params["alpha"])]
    return [float(params["alpha"])] + extra


def magnify_one(row: ClipRow, params: dict) -> dict[str, np.ndarray]:
    frames = upstream("align").read(row.sample_id, "frames")    # (T, H, W, 3) uint8
    out = {alpha_key(a): magnify(frames, a, r1=float(params["r1"]), r2=float(params["r2"]),
                                 lambda_c=float(params["lambda_c"]),
                                 chrom_attenuation=float(params["chrom_attenuation"]))
           for a in alphas(params)}
    out["attrs"] = {"test_alpha_key": alpha_key(float(params["alpha"]))}
    return out


def main(params_path: str = "params.yaml") -> None:
    stage_main("magnify", magnify_one, params_path, needs="align")


if __name__ == "__main__":
    cli(main)
