"""The papers' augmentations as tensor operations on a batch (B, C, H, W), on whatever device
holds it, shared by the input views (pipeline/datasets.py) and Micro-Attention's pre-training
(pipeline/pretrain.py): a GPU is fed from its own memory. tests/test_augment.py compares them
with OpenCV's definitions (cv2.warpAffine, cv2.resize, cv2.blur)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def rotate_batch(x: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) each rotated about its centre by degrees[b] (counter-clockwise, as
    cv2.getRotationMatrix2D), bilinear, borders replicated."""
    b, _, h, w = x.shape
    theta = torch.deg2rad(degrees.to(x.device, torch.float32))                   # (B,)
    cos, sin = torch.cos(theta), torch.sin(theta)
    # Output pixel -> input pixel, in the normalised coordinates of affine_grid, where a unit
    # of x is w / 2 px and of y h / 2 px: the inverse rotation, with the aspect corrected.
    matrix = torch.zeros(b, 2, 3, device=x.device)
    matrix[:, 0, 0], matrix[:, 0, 1] = cos, -sin * h / w
    matrix[:, 1, 0], matrix[:, 1, 1] = sin * w / h, cos
    grid = F.affine_grid(matrix, list(x.shape), align_corners=False)            # (B, H, W, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def resize_batch(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, h, w): area averaging when shrinking, bilinear otherwise (as
    `resize`)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrink = x.shape[-2] > size[0] or x.shape[-1] > size[1]
    if shrink:
        return F.interpolate(x, size=size, mode="area")
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def box_blur(x: torch.Tensor, window: int) -> torch.Tensor:
    """(B, C, H, W) mean over a window x window box, borders replicated (cv2.blur)."""
    if window <= 1:
        return x
    before, after = window // 2, window - 1 - window // 2          # cv2's anchor for even windows
    padded = F.pad(x, (before, after, before, after), mode="replicate")
    return F.avg_pool2d(padded, window, stride=1)


def flip_flow_batch(flow: torch.Tensor) -> torch.Tensor:
    """Mirror flows (..., 2, H, W) left-right: the field mirrors and u changes sign."""
    mirrored = flow.flip(-1).clone()
    mirrored[..., 0, :, :] *= -1
    return mirrored


def normalise(images: torch.Tensor) -> torch.Tensor:
    """Pixel values 0..255 -> the networks' input scale, (x / 255 - 0.5) / 0.25."""
    return (images / 255 - 0.5) / 0.25


def draw_augmentation(rng: np.random.Generator, corners: bool, colour_shift: float,
                      rotation: float, smoothing: int, p: float = 0.5) -> dict:
    """One sample's random choices of Micro-Attention's augmentation, in a fixed order: a
    corner (4: the whole frame), then each of colour shift, rotation and smoothing with
    probability p (a maximum of 0 draws nothing)."""
    choice = {"corner": int(rng.integers(5)) if corners else 4, "shift": 0.0, "angle": 0.0,
              "window": 0}
    if colour_shift and rng.random() < p:
        choice["shift"] = float(rng.uniform(-colour_shift, colour_shift))
    if rotation and rng.random() < p:
        choice["angle"] = float(rng.uniform(-rotation, rotation))
    if smoothing >= 2 and rng.random() < p:
        choice["window"] = int(rng.integers(2, smoothing + 1))
    return choice


def augment_batch(x: torch.Tensor, choices: list[dict]) -> torch.Tensor:
    """Apply each sample's colour shift, rotation and box smoothing (B, C, H, W) in 0..255."""
    x = x + torch.tensor([c["shift"] for c in choices], device=x.device)[:, None, None, None]
    angle = torch.tensor([c["angle"] for c in choices], device=x.device)
    turned = angle != 0
    if turned.any():
        x[turned] = rotate_batch(x[turned], angle[turned])
    for window in sorted({c["window"] for c in choices} - {0}):
        chosen = torch.tensor([c["window"] == window for c in choices], device=x.device)
        x[chosen] = box_blur(x[chosen], window)
    return x
