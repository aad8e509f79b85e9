"""The face check in `align` (pipeline/face.py `track_face`): synthetic clips whose face stays,
leaves, moves or is covered, against the frames where that was done to them."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.align import AlignParams, align_one, spans
from pipeline.face import align_clip, track_face
from pipeline.params import ParamsError, parse
from pipeline.parallel import ClipFailure
from pipeline.samples import ClipRow
from pipeline.synthetic.faces import make_identity
from pipeline.synthetic.motion import render_clip

SIZE = (120, 98)
T, ONSET, CUT = 16, 1, 9            # frames per clip, onset index, first altered frame


def clip(seed: int, grey: bool = False, size: tuple[int, int] = (170, 140)) -> tuple[np.ndarray, np.ndarray]:
    """Frames (T, H, W, 3) uint8 of one synthetic subject making a strong micro-expression, and
    its true landmarks (68, 2) at the onset."""
    identity = make_identity(seed, size, grey=grey)
    frames, truth = render_clip(identity, ["1", "2", "12"], T, ONSET, 7, 14, 3.0,
                                np.random.default_rng(seed), shading=0.45, grey=grey)
    if frames.ndim == 3:
        frames = np.repeat(frames[..., None], 3, -1)
    return frames, truth.landmarks[ONSET]


def background(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """A textured backdrop (H, W, 3) uint8: blurred noise, no face."""
    noise = np.random.default_rng(seed).integers(0, 256, shape, np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 4)


def tracked(frames: np.ndarray, stride: int = 4, max_shift: float = 0.1):
    aligned = align_clip(frames, ONSET, SIZE)
    return track_face(frames, aligned, ONSET, stride, max_shift)


@pytest.mark.parametrize("seed, grey, size", [(21, False, (170, 140)), (22, True, (160, 160)),
                                              (23, False, (160, 160))])
def test_a_face_that_stays_is_never_flagged(seed, grey, size):
    frames, _ = clip(seed, grey, size)
    for stride in (1, 4):
        tracking = tracked(frames, stride)
        assert tracking.bad == [], (stride, tracking)
        assert tracking.checked == [i for i in range(T) if i != ONSET and (i - ONSET) % stride == 0]
    print(f"\nlowest cell correlation with the onset: {tracking.similarity.min():.2f}")
    assert tracking.similarity.min() > 0.5


def test_a_face_that_leaves_is_lost_from_the_first_frame_without_it():
    frames, _ = clip(24)
    frames[CUT:] = background(frames.shape[1:], 0)
    for stride in (1, 4, 32):             # the appearance catches what the stride skips
        assert tracked(frames, stride).lost == list(range(CUT, T))


def test_a_face_that_moves_away_is_moved_and_one_that_sways_is_not():
    frames, marks = clip(25)
    width = np.linalg.norm(marks[16] - marks[0])
    shifted = frames.copy()
    for i in range(CUT, T):
        affine = np.float32([[1, 0, 0.2 * width], [0, 1, 0]])
        shifted[i] = cv2.warpAffine(frames[i], affine, frames.shape[2:0:-1],
                                    borderMode=cv2.BORDER_REPLICATE)
    tracking = tracked(shifted)
    assert tracking.moved == list(range(CUT, T)) and tracking.lost == []
    swayed = frames.copy()
    affine = np.float32([[1, 0, 0.03 * width], [0, 1, 0]])
    swayed[CUT:] = [cv2.warpAffine(f, affine, frames.shape[2:0:-1], borderMode=cv2.BORDER_REPLICATE)
                    for f in frames[CUT:]]
    assert tracked(swayed).bad == []


def test_a_hand_over_the_face_is_occluded():
    frames, marks = clip(26)
    skin = frames[ONSET, int(marks[29, 1]), int(marks[29, 0])].astype(np.float32)
    rng = np.random.default_rng(1)
    hand = np.zeros(frames.shape[1:3], np.uint8)
    width, height = marks[16, 0] - marks[0, 0], marks[8, 1] - marks[27, 1]
    cv2.ellipse(hand, (int(marks[57, 0]), int(marks[57, 1])), (int(0.6 * width), int(0.35 * height)),
                0, 0, 360, 1, -1)
    covered = frames.copy()
    for i in range(CUT, T):
        texture = np.clip(0.9 * skin + rng.normal(0, 6, frames.shape[1:]), 0, 255).astype(np.uint8)
        covered[i][hand > 0] = texture[hand > 0]
    tracking = tracked(covered)
    assert tracking.occluded == list(range(CUT, T)) and tracking.lost == tracking.moved == []


def write_clip(folder: Path, frames: np.ndarray) -> ClipRow:
    folder.mkdir(parents=True)
    for n, frame in enumerate(frames, start=1):
        cv2.imwrite(str(folder / f"{n}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return ClipRow("test/s1/c1", "test", "s1", str(folder), tuple(f"{n}.png" for n in range(1, T + 1)),
                   tuple(range(1, T + 1)), ONSET, None, T - 1, 30.0, {})


def test_align_one_fails_a_clip_with_more_bad_frames_than_allowed(tmp_path):
    frames, _ = clip(27)
    frames[CUT:] = background(frames.shape[1:], 1)
    row = write_clip(tmp_path / "c1", frames)
    params = dict(shape=list(SIZE), deltas=[0.4, 0.6, 2.2, 1.8], n_neighbours=12, track_stride=4,
                  max_shift=0.1, max_lost_frames=2)
    with pytest.raises(ClipFailure) as failure:
        align_one(row, parse(AlignParams, params, "align"))
    reason = str(failure.value)
    print("\n" + reason)
    assert f"lost in frames {CUT + 1}-{T}" in reason and f"{T - CUT} of {T} frames" in reason
    assert "align.max_lost_frames 2" in reason and "\n" not in reason
    result = align_one(row, parse(AlignParams, dict(params, max_lost_frames=T), "align"))
    assert result["attrs"]["face_lost"] == list(range(CUT + 1, T + 1))       # frame numbers
    assert result["attrs"]["face_moved"] == result["attrs"]["face_occluded"] == []


def test_tracking_params_are_checked():
    good = dict(shape=[120, 98], deltas=[0.4, 0.6, 2.2, 1.8], n_neighbours=12, track_stride=4,
                max_shift=0.1, max_lost_frames=2)
    for key, value, message in [("track_stride", 0, "track_stride: 1"),
                                ("max_shift", 1.5, "max_shift: a fraction"),
                                ("max_lost_frames", -1, "max_lost_frames: 0 or more")]:
        with pytest.raises(ParamsError, match=f"align.{message}"):
            parse(AlignParams, dict(good, **{key: value}), "align")


def test_spans_reads_like_frame_ranges():
    assert spans([9, 3, 4, 5, 11, 12]) == "3-5, 9, 11-12"
    assert spans([7]) == "7" and spans([]) == ""
