"""Apex spotting on synthetic clips whose apex is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.apex import STRCN_SPOTTING, apex_scores, choose_apex, spot_apex
from pipeline.opticalflow import grey_frames
from pipeline.synthetic.faces import make_identity
from pipeline.synthetic.motion import render_clip

SIZE = (120, 98)
AUS = [["6", "12"], ["1", "2"], ["4", "7"], ["14"], ["15", "17"], ["9"]]


@pytest.fixture(scope="module")
def clips() -> list[tuple[np.ndarray, int]]:
    """Six 15-frame clips (RGB, sensor noise, no head jitter: aligned frames) of 1.5 px
    expressions, onset 0, offset 14, apex drawn in 2..12."""
    rng = np.random.default_rng(0)
    out = []
    for i, aus in enumerate(AUS):
        apex = int(rng.integers(2, 13))
        frames, _ = render_clip(make_identity(i, SIZE), aus, 15, 0, apex, 14, 1.5,
                                np.random.default_rng(i), jitter_px=0.0, noise_std=0.01)
        out.append((frames, apex))
    return out


def spotting_error(clips, method: str, ramp: float = 0.0, **kwargs) -> float:
    """Mean |spotted - true apex| in frames; ramp adds ramp * t to every pixel of frame t."""
    errors = []
    for frames, apex in clips:
        grey = grey_frames(frames) * 0.9 + ramp * np.arange(len(frames))[:, None, None]
        errors.append(abs(spot_apex(grey, method, **kwargs) - apex))
    return float(np.mean(errors))


def test_diff_and_std_find_the_apex_of_aligned_clips(clips):
    """Measured: diff 0.17 frames, std 0.0, mid 2.7 (the apex is rarely in the middle); on 10x8
    thumbnails std 0.67, diff 1.17."""
    assert spotting_error(clips, "diff") <= 0.5
    assert spotting_error(clips, "std") <= 0.5
    assert spotting_error(clips, "mid") > 1.0


def test_std_ignores_a_global_brightness_ramp_that_fools_diff(clips):
    """+0.004 per frame (1 grey level) on every pixel: std's scores do not change at all, diff
    drifts to the brightest frames at the end of the clip."""
    assert spotting_error(clips, "std", ramp=0.004) == spotting_error(clips, "std")
    assert spotting_error(clips, "diff", ramp=0.004) > 3.0
    frames = grey_frames(clips[0][0])
    ramped = frames + 0.004 * np.arange(15)[:, None, None]
    assert np.allclose(apex_scores(ramped, "std"), apex_scores(frames, "std"), atol=1e-6)


def test_window_and_thumbnail_restrict_the_search(clips):
    frames, _ = render_clip(make_identity(0, SIZE), ["6", "12"], 11, 0, 9, 10, 1.5,
                            np.random.default_rng(0), jitter_px=0.0, noise_std=0.0)
    assert spot_apex(frames, "std") == 9
    assert spot_apex(frames, "std", window=(0.2, 0.7)) == 7          # 2..7 of 0..10: the latest
    assert spot_apex(frames, "diff", window=(0.3, 0.3)) == 3
    assert spot_apex(frames, "std", window=(0.61, 0.69)) in (6, 7)   # no frame inside: nearest
    assert spot_apex(frames, "std", thumbnail=(10, 8)) == 9
    assert spotting_error(clips, "std", thumbnail=(10, 8)) <= 1.0
    assert 2 <= spot_apex(frames, "std", **STRCN_SPOTTING) <= 7


def test_mid_frame_and_the_range_conventions():
    frames = np.zeros((9, 4, 4), np.uint8)
    assert spot_apex(frames, "mid") == 4
    assert spot_apex(frames[:8], "mid") == 3                         # even length: lower middle
    assert spot_apex(frames, "mid", onset=2, offset=5) == 3
    assert spot_apex(frames[:2], "mid") == 1                         # never the onset ...
    assert spot_apex(frames[:1], "mid") == spot_apex(frames[:1], "std") == 0   # ... unless T == 1
    assert spot_apex(frames, "diff", onset=3) == 4                   # a still clip: first after
    assert spot_apex(frames, "std", onset=6, offset=6) == 6
    with pytest.raises(ValueError, match="onset <= offset"):
        spot_apex(frames, "std", onset=5, offset=4)
    with pytest.raises(ValueError, match="unknown apex method"):
        spot_apex(frames, "max")


def test_offset_limits_the_search():
    frames = np.zeros((8, 4, 4), np.uint8)
    frames[6] = 200                                                  # a flash after the offset
    frames[3] = 20
    assert spot_apex(frames, "diff") == 6
    assert spot_apex(frames, "diff", offset=5) == 3


def test_choose_apex_prefers_the_annotation():
    frames = np.zeros((8, 4, 4), np.uint8)
    frames[5] = 50
    assert choose_apex(2, frames, "diff") == (2, "annotated")
    assert choose_apex(np.int64(0), frames, "diff") == (0, "annotated")
    assert choose_apex(None, frames, "diff") == (5, "spotted:diff")
    assert choose_apex(float("nan"), frames, "mid") == (3, "spotted:mid")
    assert choose_apex(pd.NA, frames, "diff") == (5, "spotted:diff")
    assert choose_apex(None, frames, "std") == (1, "spotted:std")      # a uniform flash: std 0
    assert choose_apex(4.0, frames, "std") == (4, "annotated")
    with pytest.raises(ValueError, match="outside the clip"):
        choose_apex(8, frames, "diff")
    with pytest.raises(ValueError, match="frame index"):
        choose_apex(2.5, frames, "diff")


def test_motion_scoring_sees_past_head_sway_that_fools_std():
    """With the synthetic head sway (0.3 px, as after a one-transform-per-clip alignment) the
    intensity scores follow the head; the non-rigid part of the flow follows the expression."""
    rng = np.random.default_rng(5)
    swaying = []
    for i, aus in enumerate(AUS):
        apex = int(rng.integers(6, 19))
        frames, _ = render_clip(make_identity(10 + i, SIZE), aus, 25, 0, apex, 24, 1.5,
                                np.random.default_rng(100 + i), jitter_px=0.3, noise_std=0.01)
        swaying.append((frames, apex))
    motion = spotting_error(swaying, "motion")
    std = spotting_error(swaying, "std")
    print(f"\nswaying clips: motion {motion:.2f} frames, std {std:.2f}, "
          f"mid {spotting_error(swaying, 'mid'):.2f}")
    assert motion <= 2.0 and motion < std


def test_rigid_motion_leaves_no_residual():
    from pipeline.apex import head_motion_residual
    h, w = 40, 50
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    angle, scale = 0.01, 0.005
    flow = np.stack([0.4 + scale * (x - w / 2) - angle * (y - h / 2),
                     -0.2 + angle * (x - w / 2) + scale * (y - h / 2)], -1)
    assert np.abs(head_motion_residual(flow)).max() < 1e-9
    bump = flow.copy()
    bump[10:15, 10:15, 0] += 1.0                       # a local expression on top
    residual = head_motion_residual(bump)
    assert np.abs(residual[10:15, 10:15, 0] - 1.0).max() < 0.05 and np.abs(residual[30:, 30:]).max() < 0.05
