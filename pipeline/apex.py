"""Apex spotting: which frame of a clip shows the expression at its peak.

FR and STRCN-G read the flow from onset to apex, but SMIC annotates no apex. The papers spot it
three ways, all here: the middle frame; FR's interframe difference argmax_t mean|F_t - F_onset|;
and STRCN's argmax_t std(F_t - F_onset). The mean difference follows a global brightness change
(a flickering lamp, auto exposure) as readily as the expression; the standard deviation ignores
any change that adds the same amount to every pixel.

Both intensity scores also grow with head motion, and after an alignment computed once per clip
(as STRCN and Pfister et al. do) a head that sways by a few tenths of a pixel changes the frame as
much as the expression does. A fourth score, "motion" (not from the papers), measures the
expression only: the mean magnitude of the DIS flow from the onset frame after removing its best
rigid (similarity) fit. On the synthetic clips with head sway it spots the apex within about 1.5
frames where "std" is off by 8 (tests/test_apex.py).

Scores are computed on grey float frames in [0, 1] (`grey_frames`). Indices are 0-based frame
indices of the clip. The onset frame is never the apex unless onset == offset (e.g. T == 1):
candidates are onset + 1 .. offset, and ties go to the earliest.
"""

from __future__ import annotations

import math
from typing import Literal

import cv2
import numpy as np
import pandas as pd

from pipeline.opticalflow import dis, grey_frames

Method = Literal["mid", "diff", "std", "motion"]
METHODS = ("mid", "diff", "std", "motion")
STRCN_SPOTTING = {"window": (0.2, 0.7), "thumbnail": (10, 8)}   # the authors' MATLAB code


def _candidates(onset: int, offset: int, window: tuple[float, float] | None) -> np.ndarray:
    """Frame indices the apex may take: onset + k for k in 1..L (L = offset - onset), restricted
    to ceil(lo L) <= k <= floor(hi L) by window = (lo, hi). A window holding no frame (short
    clips) leaves the single frame nearest its centre."""
    length = offset - onset
    lo_k, hi_k = 1, length
    if window is not None:
        lo, hi = window
        if not 0 <= lo <= hi <= 1:
            raise ValueError(f"window must be fractions 0 <= lo <= hi <= 1, got {window}")
        lo_k = max(lo_k, math.ceil(lo * length - 1e-9))   # 1e-9: lo * L may miss by an ulp
        hi_k = min(hi_k, math.floor(hi * length + 1e-9))
        if lo_k > hi_k:
            lo_k = hi_k = min(max(round((lo + hi) / 2 * length), 1), length)
    return onset + np.arange(lo_k, hi_k + 1)


def apex_scores(frames: np.ndarray, method: Literal["diff", "std"], onset: int = 0,
                thumbnail: tuple[int, int] | None = None) -> np.ndarray:
    """Score (T,) float64 of every frame against the onset frame: mean |F_t - F_onset| ("diff")
    or std(F_t - F_onset) ("std") over the pixels; frames (T, H, W) or (T, H, W, 3).
    thumbnail = (h, w) shrinks the grey frames first (cv2.INTER_AREA)."""
    grey = grey_frames(frames)                                      # (T, H, W) in [0, 1]
    if thumbnail is not None:
        h, w = thumbnail
        grey = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in grey])
    if method == "motion":
        return motion_scores(grey, onset)
    change = grey.astype(np.float64) - grey[onset]                  # (T, h, w)
    if method == "diff":
        return np.abs(change).mean(axis=(1, 2))
    if method == "std":
        return change.std(axis=(1, 2))
    raise ValueError(f"unknown scoring method {method!r}; known: diff, std")


def head_motion_residual(flow: np.ndarray, trim: float = 0.8) -> np.ndarray:
    """flow (H, W, 2) minus its best rigid (similarity) fit: what the face did beyond moving
    as a whole. The fit is least squares, refitted once on the `trim` fraction of pixels that
    fit best, so that a local expression does not drag the head estimate along."""
    h, w = flow.shape[:2]
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    x, y = (x - w / 2).ravel(), (y - h / 2).ravel()
    one, zero = np.ones_like(x), np.zeros_like(x)
    # u = tx + a x - b y, v = ty + b x + a y  (a: scale change, b: rotation, small angles)
    design = np.concatenate([np.stack([one, zero, x, -y], 1), np.stack([zero, one, y, x], 1)])
    target = np.concatenate([flow[..., 0].ravel(), flow[..., 1].ravel()])
    keep = np.ones(len(target), bool)
    for _ in range(2):
        params = np.linalg.lstsq(design[keep], target[keep], rcond=None)[0]
        residual = (target - design @ params).reshape(2, -1)           # (2, H*W)
        size = np.hypot(*residual)
        keep = np.tile(size <= np.quantile(size, trim), 2)
    return residual.T.reshape(h, w, 2)


def motion_scores(grey: np.ndarray, onset: int) -> np.ndarray:
    """Score (T,) per frame: mean magnitude of the non-rigid part of the DIS flow from the onset
    frame. Differences of intensity (diff, std) also grow with head motion, which after a
    one-transform-per-clip alignment is of the same size as the expression; removing the rigid
    part of the flow leaves the expression."""
    frames = np.clip(np.rint(np.asarray(grey, np.float64) * 255), 0, 255).astype(np.uint8)
    scores = np.zeros(len(frames))
    for t in range(len(frames)):
        if t != onset:
            residual = head_motion_residual(dis(frames[onset], frames[t]))
            scores[t] = np.hypot(residual[..., 0], residual[..., 1]).mean()
    return scores


def spot_apex(frames: np.ndarray, method: Method, onset: int = 0, offset: int | None = None,
              window: tuple[float, float] | None = None,
              thumbnail: tuple[int, int] | None = None) -> int:
    """The apex frame index of frames (T, H, W) or (T, H, W, 3), between onset and offset (the
    clip's last frame if None).

    "mid": (onset + offset) // 2, the lower of the two middle frames when onset..offset holds an
    even number of frames (never the onset itself: a two-frame range gives its second frame).
    "diff" (FR) and "std" (STRCN): the best-scoring frame by `apex_scores`. These two also take
    window = (lo, hi), fractions of onset..offset the apex must lie in, and thumbnail = (h, w),
    the size the frames are shrunk to before scoring; None for both is the full clip at full
    resolution. STRCN's code searched 0.2..0.7 of the clip on 10x8 (rows x cols, as MATLAB's
    imresize takes them) thumbnails: spot_apex(frames, "std", **STRCN_SPOTTING). "mid" uses
    neither.
    """
    frames = np.asarray(frames)
    n = len(frames)
    offset = n - 1 if offset is None else offset
    if not 0 <= onset <= offset < n:
        raise ValueError(f"need 0 <= onset <= offset < T, got onset {onset}, offset {offset}, "
                         f"T {n}")
    if method not in METHODS:
        raise ValueError(f"unknown apex method {method!r}; known: {', '.join(METHODS)}")
    if offset == onset:
        return onset
    if method == "mid":
        return max((onset + offset) // 2, onset + 1)
    candidates = _candidates(onset, offset, window)                  # (K,) frame indices
    scores = apex_scores(frames[: offset + 1], method, onset, thumbnail)
    return int(candidates[np.argmax(scores[candidates])])


def choose_apex(annotated: int | float | None, frames: np.ndarray, method: Method,
                **kwargs) -> tuple[int, str]:
    """(apex, source): the annotated apex when there is one, else `spot_apex(frames, method,
    **kwargs)`. source is "annotated" or "spotted:<method>", for the index and the reports.
    A missing annotation is None, NaN or pandas' NA (as an index column holds it); an annotated
    apex outside the clip is an error, not a reason to spot."""
    if pd.isna(annotated):
        return spot_apex(frames, method, **kwargs), f"spotted:{method}"
    if float(annotated) != int(annotated):
        raise ValueError(f"annotated apex must be a frame index, got {annotated!r}")
    apex = int(annotated)
    if not 0 <= apex < len(frames):
        raise ValueError(f"annotated apex {apex} lies outside the clip's {len(frames)} frames")
    return apex, "annotated"
