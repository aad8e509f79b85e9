"""`align` stage: every indexed clip -> aligned face frames and landmarks (data/shards/align/).

Per clip (STRCN's spatial processing, after Pfister et al.): dlib finds the face and its 68
landmarks on the ONSET frame only; one local-weighted-mean map (pipeline/lwm.py) takes the
reference face to that frame inside STRCN's eye-centre crop, and the same precomputed remap is
applied to every frame, so the clip is aligned without jitter from per-frame detection. Frames
are stored at `align.shape`; the networks resize from there. A clip where no face is found fails
with its id in data/reports/align.json.

Shard arrays per clip: `frames` (T, H, W, 3) uint8 RGB, `landmarks` (68, 2) the onset landmarks
in the aligned frame, `source_landmarks` (68, 2) as detected in the source frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.face import FaceError, align_clip
from pipeline.parallel import ClipFailure
from pipeline.samples import ClipRow
from pipeline.stage import cli, read_frames, stage_main


@dataclass(frozen=True)
class AlignParams:
    """params.yaml `align`."""

    shape: tuple[int, int]                         # aligned frame H, W
    deltas: tuple[float, float, float, float]      # STRCN's eye-centre crop, in eye distances
    n_neighbours: int                              # LWM control points per local polynomial

    def check(self) -> None:
        if min(self.shape) < 16:
            raise ValueError(f"shape: frames of at least 16 x 16, got {list(self.shape)}")
        if min(self.deltas) <= 0:
            raise ValueError(f"deltas: must be positive, got {list(self.deltas)}")
        if self.n_neighbours < 6:
            raise ValueError(f"n_neighbours: a local quadratic needs at least 6 points, got "
                             f"{self.n_neighbours}")


def align_one(row: ClipRow, params: AlignParams) -> dict[str, np.ndarray]:
    """Align one clip; a missing face fails the clip, not the stage."""
    frames = read_frames(row)                                   # (T, H, W, 3)
    try:
        aligned = align_clip(frames, row.onset, params.shape, n_neighbours=params.n_neighbours,
                             deltas=params.deltas)
    except FaceError as error:
        raise ClipFailure(f"{error} (onset frame {row.frames[row.onset]} in {row.frame_dir})")
    return {"frames": aligned.frames,                           # (T, h, w, 3) uint8
            "landmarks": aligned.landmarks.astype(np.float32),  # (68, 2)
            "source_landmarks": aligned.source_landmarks.astype(np.float32),
            "attrs": {"detector_score": float(aligned.score)}}


def main(params_path: str = "params.yaml") -> None:
    stage_main("align", align_one, AlignParams, params_path)


if __name__ == "__main__":
    cli(main, "align")
