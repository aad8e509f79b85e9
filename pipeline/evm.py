"""Eulerian video magnification: Laplacian pyramid in space, IIR band-pass in time.

STRCN magnifies the subtle motion of a micro-expression before classifying it. This is the IIR
variant of the MIT reference (`amplify_spatial_lpyr_temporal_iir.m`): each frame is converted to
YIQ, decomposed into a Laplacian pyramid, band-passed in time per pixel by the difference of two
first-order low-passes, amplified per level (less on fine levels, where amplification would
break the small-motion approximation), and added back to the frame.

The pyramid is built with OpenCV's pyrDown / pyrUp: the binomial 5-tap kernel [1, 4, 6, 4, 1] / 16
per axis with reflect-101 borders (matlabPyrTools' 'reflect1'), keeping the even-indexed samples,
so coarse levels have ceil(n / 2) pixels per side. matlabPyrTools scales its kernel by sqrt(2),
which changes only the scale of the residual (gain 0 here); the band levels agree with it away
from the borders, and next to them the two upsamplings may differ slightly.

Every step between the YIQ frame and the amplified band is linear and the band-pass acts on each
pixel independently, so the two low-passes are kept on the YIQ frame itself rather than on its
pyramid: the pyramid of the band equals the band of the pyramids. Per frame this costs one
pyramid build and one collapse, and the state is two frames.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence

import cv2
import numpy as np

# NTSC RGB -> YIQ (MATLAB's rgb2ntsc). The inverse is computed, not the rounded published one,
# so that RGB -> YIQ -> RGB is the identity to float precision (alpha = 0 gives the input back).
RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114],
                       [0.596, -0.274, -0.322],
                       [0.211, -0.523, 0.312]], dtype=np.float64)
YIQ_TO_RGB = np.linalg.inv(RGB_TO_YIQ)
FILTER_TAPS = 5  # binomial kernel size; sets the pyramid height


def rgb_to_yiq(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) float RGB in [0, 1] -> (..., 3) float32 YIQ."""
    return (np.asarray(rgb, dtype=np.float32) @ RGB_TO_YIQ.T.astype(np.float32))


def yiq_to_rgb(yiq: np.ndarray) -> np.ndarray:
    """(..., 3) float YIQ -> (..., 3) float32 RGB (not clipped)."""
    return (np.asarray(yiq, dtype=np.float32) @ YIQ_TO_RGB.T.astype(np.float32))


def n_pyramid_levels(shape: tuple[int, ...]) -> int:
    """Pyramid height for an image of `shape` (H, W[, C]), as matlabPyrTools' 'auto' height.

    That is 1 + maxPyrHt, where maxPyrHt counts the halvings k = 0, 1, ... for which
    floor(min(H, W) / 2^k) >= 5; the last level is the low-pass residual. 128 x 128 -> 6 levels
    (128, 64, 32, 16, 8 and the 4 x 4 residual). The count halves with floor while the levels
    themselves have ceil(n / 2) pixels, so for odd sizes the residual can be 5 pixels on a side
    (37 x 53 -> 37, 19, 10 and the 5 x 7 residual), as in matlabPyrTools.
    """
    side, height = min(shape[:2]), 1
    while side >= FILTER_TAPS:
        height += 1
        side //= 2
    return height


def build_laplacian(img: np.ndarray, n_levels: int) -> list[np.ndarray]:
    """Laplacian pyramid of a float32 (H, W) or (H, W, C) image, finest level first.

    Levels 0..n_levels-2 are band-pass (image minus the upsampled next Gaussian level); the
    last level is the low-pass residual. `collapse_laplacian` inverts it.
    """
    pyramid = []
    current = img
    for _ in range(n_levels - 1):
        down = cv2.pyrDown(current)
        up = cv2.pyrUp(down, dstsize=(current.shape[1], current.shape[0]))
        pyramid.append(current - up)
        current = down
    pyramid.append(current)
    return pyramid


def collapse_laplacian(pyramid: list[np.ndarray]) -> np.ndarray:
    """The image whose Laplacian pyramid (finest first) is `pyramid`."""
    img = pyramid[-1]
    for band in reversed(pyramid[:-1]):
        img = band + cv2.pyrUp(img, dstsize=(band.shape[1], band.shape[0]))
    return img


def level_gains(shape: tuple[int, int], n_levels: int, alpha: float, lambda_c: float,
                exaggeration: float = 2.0) -> np.ndarray:
    """Amplification per pyramid level, finest first, (n_levels,) float64.

    As the MIT reference: walking from the coarsest level to the finest, the representative
    wavelength lambda starts at sqrt(H^2 + W^2) / 3 (H, W of the full frame) at the coarsest
    level and halves at each finer one; the level's gain is
    min(alpha, exaggeration * (lambda / delta / 8 - 1)) with delta = lambda_c / 8 / (1 + alpha).
    The coarsest (residual) and finest levels get 0.

    Unlike the reference, a level whose formula goes negative (lambda < lambda_c / (1 + alpha):
    small alpha or small frames) gets 0 instead of a negative gain, which would shrink and
    reverse its motion; so alpha = 0 leaves a clip unchanged. With STRCN's alpha (5 to 14) and
    frames of 48 x 64 or larger no level is affected.
    """
    delta = lambda_c / 8 / (1 + alpha)
    lam = np.hypot(shape[0], shape[1]) / 3 / 2.0 ** np.arange(n_levels)[::-1]  # (L,) finest first
    gains = np.clip(exaggeration * (lam / delta / 8 - 1), 0.0, alpha)
    gains[0] = gains[-1] = 0.0
    return gains


def iir_bandpass(xs: Iterable[np.ndarray], r1: float, r2: float) -> Iterator[np.ndarray]:
    """Temporal band-pass of a sequence, one output per input.

    Both low-passes start at the first input, so the first band is 0; then per step
    lp1 = (1 - r1) lp1 + r1 x, lp2 = (1 - r2) lp2 + r2 x, band = lp1 - lp2 (r1 > r2: lp1 is the
    faster one). Inputs are arrays of one shape; the state (two of them) is float32 for float32
    input and float64 otherwise.
    """
    lp1 = lp2 = None
    for x in xs:
        if lp1 is None:
            dtype = np.result_type(x, np.float32)
            lp1, lp2 = np.array(x, dtype=dtype), np.array(x, dtype=dtype)
        else:  # (1 - r) lp + r x, written so that a constant input stays exactly constant
            lp1 = lp1 + r1 * (x - lp1)
            lp2 = lp2 + r2 * (x - lp2)
        yield lp1 - lp2


def _magnified_frames(frames: np.ndarray, scale: float, alphas: Sequence[float], r1: float,
                      r2: float, lambda_c: float, chrom_attenuation: float
                      ) -> Iterator[list[np.ndarray]]:
    """Yield, per frame, its magnified versions for each alpha: (H, W, 3) RGB or (H, W) grey,
    float32 in [0, 1] unclipped; `scale` maps the stored values to [0, 1]. The colour
    conversion, the band-pass and the Laplacian pyramid do not depend on alpha, so several
    alphas cost one of them plus one collapse each."""
    colour = frames.ndim == 4
    if frames.ndim not in (3, 4) or (colour and frames.shape[-1] != 3):
        raise ValueError(f"frames must be (T, H, W, 3) RGB or (T, H, W) grey, got {frames.shape}")
    n_levels = n_pyramid_levels(frames.shape[1:3])
    gains = [level_gains(frames.shape[1:3], n_levels, a, lambda_c).astype(np.float32)
             for a in alphas]                                                     # (L,) each
    # Each frame as float YIQ (grey is Y alone), converted once: it feeds the band-pass and is
    # the base the amplified band is added to. tee holds one frame between the two.
    signal = (frame.astype(np.float32) * np.float32(scale) for frame in frames)
    if colour:
        signal = (rgb_to_yiq(x) for x in signal)
    signal, to_filter = itertools.tee(signal)
    for x, band in zip(signal, iir_bandpass(to_filter, r1, r2)):  # (H, W[, 3]) each
        pyramid = build_laplacian(band, n_levels)
        out = []
        for g in gains:
            amplified = collapse_laplacian([level * gain for level, gain in zip(pyramid, g)])
            if colour:
                amplified[..., 1:] *= np.float32(chrom_attenuation)
                out.append(yiq_to_rgb(x + amplified))
            else:
                out.append(x + amplified)
        yield out


def magnify_float(frames: np.ndarray, alpha: float, r1: float = 0.4, r2: float = 0.05,
                  lambda_c: float = 16.0, chrom_attenuation: float = 0.1) -> np.ndarray:
    """Magnify a float clip in [0, 1]: (T, H, W, 3) RGB or (T, H, W) grey -> float32 of the same
    shape, not clipped. Every frame is kept; frame 0 comes back unchanged (to float precision).
    Arguments as `magnify`."""
    frames = np.asarray(frames)
    out = np.empty(frames.shape, dtype=np.float32)
    for t, (frame,) in enumerate(_magnified_frames(frames, 1.0, [alpha], r1, r2, lambda_c,
                                                   chrom_attenuation)):
        out[t] = frame
    return out


def magnify_many(frames: np.ndarray, alphas: Sequence[float], r1: float = 0.4, r2: float = 0.05,
                 lambda_c: float = 16.0, chrom_attenuation: float = 0.1) -> list[np.ndarray]:
    """`magnify` at several alphas in one pass over the clip: one uint8 clip per alpha, each
    identical to `magnify(frames, alpha, ...)`."""
    frames = np.asarray(frames)
    out = [np.empty(frames.shape, dtype=np.uint8) for _ in alphas]
    for t, versions in enumerate(_magnified_frames(frames, 1 / 255, alphas, r1, r2, lambda_c,
                                                   chrom_attenuation)):
        for clip, frame in zip(out, versions):
            clip[t] = np.rint(np.clip(frame, 0, 1) * 255)
    return out


def magnify(frames: np.ndarray, alpha: float, r1: float = 0.4, r2: float = 0.05,
            lambda_c: float = 16.0, chrom_attenuation: float = 0.1) -> np.ndarray:
    """Magnify a uint8 clip: (T, H, W, 3) RGB or (T, H, W) grey -> uint8 of the same shape.

    alpha: amplification of the band-passed signal (fine levels get less, see `level_gains`);
    r1 > r2: smoothing weights of the two temporal low-passes (MIT's defaults, which STRCN
    reports as "0.4 and 0.05 Hz"); lambda_c: wavelength in pixels below which amplification is
    reduced; chrom_attenuation: factor on the I and Q channels of the amplified band. Output
    values are clipped to [0, 255] and rounded. Every frame is kept; frame 0 is unchanged.
    """
    return magnify_many(frames, [alpha], r1, r2, lambda_c, chrom_attenuation)[0]
