"""`dynamic` stage: SMA-STN's dynamic-image snippets (DSSI) per clip (data/shards/dynamic/).

SMA-STN summarises a clip by four dynamic images (approximate rank pooling, pipeline/rankpool.py)
of four 3-frame snippets spread over onset..offset: P0 = (onset, middle, offset) and P1..P3
drawn from 3 segments x 3 sub-segments. Evaluation uses the sub-segment centres; training draws
`draws` random snippet sets per clip as augmentation, seeded per clip so that the result does
not depend on the order or the number of workers.

Shard arrays per clip: `eval` (4, H, W, 3) uint8 and `train` (K, 4, H, W, 3) uint8, at the
aligned size (the network resizes to its input, 224 in the paper); `train_indices` (K, 4, 3)
and `eval_indices` (4, 3) record which frames made each image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.rankpool import dssi, dssi_indices, snippet_images
from pipeline.samples import ClipRow
from pipeline.stage import cli, clip_rng, stage_main, upstream


@dataclass(frozen=True)
class DynamicParams:
    """params.yaml `dynamic`."""

    draws: int      # random DSSI snippet sets per clip (training augmentation); 0: none
    seed: int       # of the draws, combined with each clip's id

    def check(self) -> None:
        if self.draws < 0:
            raise ValueError(f"draws: must be 0 or more, got {self.draws}")


def dynamic_one(row: ClipRow, params: DynamicParams) -> dict[str, np.ndarray]:
    frames = upstream("align").read(row.sample_id, "frames")    # (T, H, W, 3) uint8
    rng = clip_rng(params.seed, row.sample_id)
    draws = np.array([dssi_indices(row.onset, row.offset, rng) for _ in range(params.draws)],
                     dtype=np.int64).reshape(-1, 4, 3)                                 # (K, 4, 3)
    h, w, c = frames.shape[1:]
    train = (np.stack([snippet_images(frames, d) for d in draws]) if len(draws)
             else np.zeros((0, 4, h, w, c), np.uint8))                                # (K, 4, H, W, 3)
    return {
        "eval": dssi(frames, row.onset, row.offset),                                  # (4, H, W, 3)
        "eval_indices": dssi_indices(row.onset, row.offset, None),                    # (4, 3)
        "train": train,
        "train_indices": draws,
    }


def main(params_path: str = "params.yaml") -> None:
    stage_main("dynamic", dynamic_one, DynamicParams, params_path, needs="align")


if __name__ == "__main__":
    cli(main, "dynamic")
