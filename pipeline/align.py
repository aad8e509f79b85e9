"""`align` stage: every indexed clip -> aligned face frames and landmarks (data/shards/align/).

Per clip (STRCN's spatial processing, after Pfister et al.): dlib finds the face and its 68
landmarks on the ONSET frame; one local-weighted-mean map (pipeline/lwm.py) takes the reference
face to that frame inside STRCN's eye-centre crop, and the same precomputed remap is applied to
every frame, so the clip is aligned without jitter from per-frame detection. Frames are stored
at `align.shape`; the networks resize from there. A clip where no face is found fails with its
id in data/reports/align.json.

One map for the whole clip assumes the face stays where the onset has it, so every frame is then
checked against the onset (pipeline/face.py `track_face`): its aligned appearance in every frame,
dlib's detector and landmarks every `track_stride` frames and wherever the appearance changed.
Frames where the face is lost, has moved away or is occluded are listed per clip, by frame
number, under `tracking` in data/reports/align.json (and in the clip's shard attributes); a clip
with more than `max_lost_frames` of them fails with the frames named, and the stage's
`preprocess.max_failed` rule applies as to any failed clip.

Shard arrays per clip: `frames` (T, H, W, 3) uint8 RGB, `landmarks` (68, 2) the onset landmarks
in the aligned frame, `source_landmarks` (68, 2) as detected in the source frame.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import numpy as np

from pipeline.atomic import write_atomic
from pipeline.face import FaceError, align_clip, track_face
from pipeline.params import PreprocessParams, parse, read_params, section
from pipeline.parallel import ClipFailure, StageReport
from pipeline.samples import ClipRow
from pipeline.shards import ShardSet
from pipeline.stage import SHARDS, cli, read_frames, run_stage, summary

TRACKED = ("lost", "moved", "occluded")      # kinds of frame the tracking lists


@dataclass(frozen=True)
class AlignParams:
    """params.yaml `align`."""

    shape: tuple[int, int]                         # aligned frame H, W
    deltas: tuple[float, float, float, float]      # STRCN's eye-centre crop, in eye distances
    n_neighbours: int                              # LWM control points per local polynomial
    track_stride: int                              # dlib checks every this many frames from the onset
    max_shift: float                               # face centroid moved by more x jaw width: moved
    max_lost_frames: int                           # a clip with more lost/moved/occluded frames fails

    def check(self) -> None:
        if min(self.shape) < 16:
            raise ValueError(f"shape: frames of at least 16 x 16, got {list(self.shape)}")
        if min(self.deltas) <= 0:
            raise ValueError(f"deltas: must be positive, got {list(self.deltas)}")
        if self.n_neighbours < 6:
            raise ValueError(f"n_neighbours: a local quadratic needs at least 6 points, got "
                             f"{self.n_neighbours}")
        if self.track_stride < 1:
            raise ValueError(f"track_stride: 1 (every frame) or more, got {self.track_stride}")
        if not 0 < self.max_shift < 1:
            raise ValueError(f"max_shift: a fraction of the face width in (0, 1), got "
                             f"{self.max_shift}")
        if self.max_lost_frames < 0:
            raise ValueError(f"max_lost_frames: 0 or more, got {self.max_lost_frames}")


def spans(numbers: list[int]) -> str:
    """Frame numbers for people: [3, 4, 5, 9] -> '3-5, 9'."""
    parts: list[str] = []
    start = prev = None
    for n in sorted(numbers) + [None]:
        if prev is not None and n == prev + 1:
            prev = n
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = n
    return ", ".join(parts)


def align_one(row: ClipRow, params: AlignParams) -> dict[str, np.ndarray]:
    """Align one clip and check its face in every frame; a missing face, or more than
    `max_lost_frames` frames where it is lost, moved or occluded, fails the clip, not the stage."""
    frames = read_frames(row)                                   # (T, H, W, 3)
    try:
        aligned = align_clip(frames, row.onset, params.shape, n_neighbours=params.n_neighbours,
                             deltas=params.deltas)
    except FaceError as error:
        raise ClipFailure(f"{error} (onset frame {row.frames[row.onset]} in {row.frame_dir})")
    tracking = track_face(frames, aligned, row.onset, params.track_stride, params.max_shift)
    numbers = {kind: [row.frame_numbers[i] for i in getattr(tracking, kind)] for kind in TRACKED}
    bad = tracking.bad
    if len(bad) > params.max_lost_frames:
        found = "; ".join(f"{kind} in frames {spans(numbers[kind])}" for kind in TRACKED
                          if numbers[kind])
        raise ClipFailure(f"face {found}: {len(bad)} of {len(frames)} frames, more than "
                          f"align.max_lost_frames {params.max_lost_frames} (onset frame "
                          f"{row.frame_numbers[row.onset]} in {row.frame_dir})")
    return {"frames": aligned.frames,                           # (T, h, w, 3) uint8
            "landmarks": aligned.landmarks.astype(np.float32),  # (68, 2)
            "source_landmarks": aligned.source_landmarks.astype(np.float32),
            "attrs": {"detector_score": float(aligned.score),
                      **{f"face_{kind}": numbers[kind] for kind in TRACKED}}}


def add_tracking(report: StageReport) -> None:
    """Rewrite the stage report with `tracking`: per processed clip, the frame numbers where the
    face was lost, moved or occluded (from the shards' attributes, where the workers put them)."""
    tracking = {}
    if report.processed:
        shards = ShardSet.from_dir(SHARDS / "align")
        for sample_id in report.processed:
            attrs = shards.attrs(sample_id)
            tracking[sample_id] = {kind: [int(n) for n in attrs[f"face_{kind}"]]
                                   for kind in TRACKED}
        shards.close()
    content = json.loads(report.path.read_text())
    content["tracking"] = tracking
    write_atomic(report.path, json.dumps(content, indent=2) + "\n")


def main(params_path: str = "params.yaml") -> None:
    """`stage_main`, with the tracking lists added to the report before the failure rule."""
    raw = read_params(params_path)
    params = parse(AlignParams, section(raw, "align"), "align")
    common = parse(PreprocessParams, section(raw, "preprocess"), "preprocess")
    started = time.perf_counter()
    report = run_stage("align", align_one, params, jobs=common.jobs, max_failed=1.0)
    add_tracking(report)
    report.check(common.max_failed)
    print(summary(report, time.perf_counter() - started))


if __name__ == "__main__":
    cli(main, "align")
