"""STRCN-A's appearance input: where the face moves, and the pixels x frames matrix it reads.

STRCN-A does not look at whole frames. It sums each clip's change from its first frame into an
energy map, adds the maps up, keeps the pixels with the most energy, and feeds the network the
matrix of those pixels over time. The paper sums the maps of the whole dataset, test subjects
included, so the mask knows where the test clips move: here the caller sums the training subjects
of a fold only (see `top_p_mask`).
"""

from __future__ import annotations

from typing import Literal

from typing import Sequence

import numpy as np
from scipy import ndimage

from pipeline.opticalflow import grey_frames

STRCN_PAPER_MASK = {"p": 0.3, "opening_radius": 0}   # paper: keep the top 30 %
STRCN_CODE_MASK = {"p": 0.25, "opening_radius": 1}    # code: > 75th percentile, disk-1 opening


def difference_energy(frames: np.ndarray) -> np.ndarray:
    """Energy map (H, W) float32 = sum_t |F_t - F_0| of frames (T, H, W) or (T, H, W, 3),
    taken as grey float frames in [0, 1] (`grey_frames`)."""
    grey = grey_frames(frames).astype(np.float64)                   # (T, H, W)
    return np.abs(grey - grey[0]).sum(axis=0).astype(np.float32)    # (H, W)


def disk(radius: int) -> np.ndarray:
    """Disk footprint (2r + 1, 2r + 1) bool: the pixels with x^2 + y^2 <= r^2 (radius 1 is the
    3x3 cross)."""
    y, x = np.mgrid[-radius: radius + 1, -radius: radius + 1]
    return x * x + y * y <= radius * radius


def top_p_mask(energy_maps: Sequence[np.ndarray], p: float = 0.3,
               opening_radius: int = 0) -> np.ndarray:
    """Mask (H, W) bool of the pixels with the most energy summed over energy_maps (each (H, W)).

    PASS ONLY THE MAPS OF THE FOLD'S TRAINING SUBJECTS. The STRCN paper accumulated the maps of
    the entire dataset, which lets the test fold choose the pixels the network sees (leakage);
    this function cannot tell, so the caller must leave the held-out subjects out.

    Exactly round(p * H * W) pixels are kept (Python's round: halves to even), the highest sums
    first; ties go to the earlier pixel in row-major order, so the mask is deterministic. Then,
    if opening_radius > 0, a binary opening with `disk(opening_radius)` removes specks and thin
    lines (so fewer pixels may remain); pixels beyond the frame count as set for the erosion and
    unset for the dilation, as in MATLAB's imopen, so a region touching the border survives.
    The paper's setting is p = 0.3 (STRCN_PAPER_MASK); the authors' code kept the pixels above
    the 75th percentile and opened with a radius-1 disk, i.e. p = 0.25, opening_radius = 1
    (STRCN_CODE_MASK; the percentile and the exact count differ only when values tie at the
    cut).
    """
    if not len(energy_maps):
        raise ValueError("need at least one energy map")
    if not 0 <= p <= 1:
        raise ValueError(f"p must be a fraction in [0, 1], got {p}")
    shape = np.shape(energy_maps[0])
    if len(shape) != 2 or any(np.shape(m) != shape for m in energy_maps):
        raise ValueError(f"energy maps must all be (H, W) of one size, got "
                         f"{sorted({np.shape(m) for m in energy_maps})}")
    total = np.zeros(shape, np.float64)                             # (H, W)
    for energy in energy_maps:
        total += energy
    if not np.isfinite(total).all():
        raise ValueError("energy maps hold NaN or infinite values")
    keep = round(p * total.size)
    order = np.argsort(-total.ravel(), kind="stable")               # highest first, ties by index
    mask = np.zeros(total.size, bool)
    mask[order[:keep]] = True
    mask = mask.reshape(shape)
    if opening_radius > 0:
        footprint = disk(opening_radius)
        mask = ndimage.binary_erosion(mask, footprint, border_value=1)
        mask = ndimage.binary_dilation(mask, footprint, border_value=0)
    return mask


def masked_matrix(frames: np.ndarray, mask: np.ndarray,
                  order: Literal["column", "row"] = "column") -> np.ndarray:
    """STRCN-A's input (n_masked, T) float32: row i is masked pixel i over time. frames
    (T, H, W) grey (or (T, H, W, 3)), taken as grey float in [0, 1]; mask (H, W) bool.

    `order` is the order the pixels are stacked in, which decides what the network's
    convolutions along the pixel axis see as neighbours: "column" is MATLAB's `I(mask)` (down
    each column, left column first), the authors' code, so a neighbour is the pixel below and
    a brow or lip moving up or down shows as a sign change along the axis; "row" is
    row-major (top row first, left to right), where neighbours are side by side."""
    grey = grey_frames(frames)                                      # (T, H, W)
    mask = np.asarray(mask)
    if mask.dtype != bool or mask.shape != grey.shape[1:]:
        raise ValueError(f"mask must be bool {grey.shape[1:]}, got {mask.dtype} {mask.shape}")
    if order == "column":
        return np.ascontiguousarray(grey.transpose(0, 2, 1)[:, mask.T].T)   # (n_masked, T)
    if order == "row":
        return np.ascontiguousarray(grey[:, mask].T)                # (n_masked, T)
    raise ValueError(f"order: column or row, got {order!r}")
