"""Resampling a clip in time to a fixed number of frames.

Networks with a fixed temporal input (STANet's 20 frames, STRCN-A's 30) and descriptors compared
across clips need every clip at one length, while real clips run from a handful of frames (SMIC
VIS/NIR at 25 fps) to over a hundred (CASME II at 200 fps). Two interpolations:

- `interpolate_frames`: linear, between the two nearest frames (what STANet states);
- `tim_interpolate`: the temporal interpolation model (TIM) of Zhou et al. 2011 as Pfister et al.
  2011 use it for micro-expressions: the frames are taken as samples of one smooth curve, the
  path graph's Laplacian embedding, mapped linearly into the frames' PCA space.

`kept_frames` is STRCN's temporal augmentation ("some frames are randomly selected out from one
sequence with a percentage": 100, 90, 80, 70, 60 %), which the masks and flow stages apply
before interpolating or computing flow.
"""

from __future__ import annotations

import numpy as np


def _as_dtype(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Cast float results back to the input dtype; integers are rounded half away from zero
    (as MATLAB's round; np.rint would round halves to even) and clipped to the dtype's range."""
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        rounded = np.sign(values) * np.floor(np.abs(values) + 0.5)
        return np.clip(rounded, info.min, info.max).astype(dtype)
    return values.astype(dtype)


def interpolate_frames(frames: np.ndarray, length: int) -> np.ndarray:
    """Frames (T, ...) -> (length, ...) by linear interpolation in time, first and last frames
    kept; frame i of the output sits at input time i (T - 1) / (length - 1). T = 1 repeats the
    frame; integer dtypes are rounded."""
    frames = np.asarray(frames)
    if length < 1 or len(frames) == 0:
        raise ValueError(f"need at least one frame and length >= 1, got {len(frames)} frames "
                         f"and length {length}")
    n = len(frames)
    if n == 1 or length == 1:
        return np.repeat(frames[:1], length, axis=0)
    t = np.linspace(0, n - 1, length)                                  # (length,)
    i0 = np.minimum(np.floor(t).astype(int), n - 2)
    a = (t - i0).reshape(-1, *[1] * (frames.ndim - 1))                 # (length, 1, ...)
    values = (1 - a) * frames[i0].astype(np.float64) + a * frames[i0 + 1].astype(np.float64)
    return _as_dtype(values, frames.dtype)


def tim_curve(n: int, t: np.ndarray) -> np.ndarray:
    """The path graph's Laplacian embedding (n - 1, len(t)): y_k(t) = sin(pi k t + pi (n - k)
    / (2 n)), k = 1 .. n - 1. At t = j / n (j = 1 .. n) its columns are the Laplacian's
    eigenvectors without the constant one, i.e. cos(pi k (j - 1/2) / n)."""
    k = np.arange(1, n)[:, None]                                       # (n - 1, 1)
    return np.sin(np.pi * k * np.asarray(t, np.float64)[None] + np.pi * (n - k) / (2 * n))


def tim_interpolate(frames: np.ndarray, length: int) -> np.ndarray:
    """Frames (T, ...) -> (length, ...) by the temporal interpolation model.

    Zhou et al.: embed the T frames on the curve y(t) above (frame j at t = j / T), reduce the
    frames by PCA (mean x0, components U), fit the linear map M with U^T (x_j - x0) = M y(j / T)
    (exact: both sides span the T - 1 dimensions orthogonal to the mean), and read new frames
    off x(t) = U M y(t) + x0 at `length` equally spaced t from 1 / T to 1. Input frames are
    reproduced at their own t; in between, the model is a cosine series, so it can overshoot a
    little beside abrupt changes (integer outputs are clipped to the dtype's range)."""
    frames = np.asarray(frames)
    if length < 1 or len(frames) == 0:
        raise ValueError(f"need at least one frame and length >= 1, got {len(frames)} frames "
                         f"and length {length}")
    n = len(frames)
    if n == 1:
        return np.repeat(frames[:1], length, axis=0)
    x = frames.reshape(n, -1).astype(np.float64)                       # (T, D)
    mean = x.mean(0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)            # PCA: (T,), (T, D)
    keep = s > s.max(initial=0) * 1e-12
    u = vt[keep]                                                       # (r, D) components
    coords = (x - mean) @ u.T                                          # (T, r)
    y = tim_curve(n, np.arange(1, n + 1) / n)                          # (T - 1, T)
    m = np.linalg.solve(y @ y.T, y @ coords).T                         # (r, T - 1)
    t = np.linspace(1 / n, 1, length)
    out = (m @ tim_curve(n, t)).T @ u + mean                           # (length, D)
    return _as_dtype(out.reshape(length, *frames.shape[1:]), frames.dtype)


def resample(frames: np.ndarray, length: int, method: str = "linear") -> np.ndarray:
    """Fixed-length clip by `method`: "linear" (interpolate_frames) or "tim" (tim_interpolate)."""
    methods = {"linear": interpolate_frames, "tim": tim_interpolate}
    if method not in methods:
        raise ValueError(f"unknown temporal interpolation {method!r}; choose linear or tim")
    return methods[method](frames, length)


def check_keep(keep: list[float]) -> None:
    """STRCN's temporal augmentation rates: 1.0 (the clip itself, what evaluation reads) first."""
    if not keep or keep[0] != 1.0 or not all(0 < k <= 1 for k in keep) or len(set(keep)) != len(keep):
        raise ValueError(f"keep: distinct shares in (0, 1], the first 1.0 (the whole clip), got {keep}")


def kept_frames(n: int, keep: float, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of round(keep * n) frames (at least 2) drawn at random from n; all of
    them for keep 1.0."""
    if keep >= 1 or n <= 2:
        return np.arange(n)
    return np.sort(rng.choice(n, max(2, round(keep * n)), replace=False))
