"""The papers' augmentations as plain image and flow operations, shared by the input views
(pipeline/datasets.py) and Micro-Attention's pre-training (pipeline/pretrain.py)."""

from __future__ import annotations

import cv2
import numpy as np


def rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    """(H, W[, C]) rotated about its centre, borders replicated."""
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def resize(image: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    h, w = (size, size) if isinstance(size, int) else size
    shrink = image.shape[0] > h or image.shape[1] > w
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def flip_flow(flow: np.ndarray) -> np.ndarray:
    """Mirror a (..., H, W, 2) flow left-right: the field mirrors and u changes sign."""
    mirrored = flow[..., ::-1, :].copy()
    mirrored[..., 0] *= -1
    return mirrored


def augment_grey(image: np.ndarray, rng: np.random.Generator, colour_shift: float,
                 rotation: float, smoothing: int, p: float = 0.5) -> np.ndarray:
    """Micro-Attention's augmentations of a grey float image, each applied with probability p
    and skipped when its maximum is 0: a brightness ("colour") shift up to +-colour_shift, a
    rotation up to +-rotation degrees, a box smoothing of a window of 2..smoothing px."""
    if colour_shift and rng.random() < p:
        image = image + float(rng.uniform(-colour_shift, colour_shift))
    if rotation and rng.random() < p:
        image = rotate(image, float(rng.uniform(-rotation, rotation)))
    if smoothing >= 2 and rng.random() < p:
        window = int(rng.integers(2, smoothing + 1))
        image = cv2.blur(image, (window, window), borderType=cv2.BORDER_REPLICATE)
    return image


def corner_crop(image: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Micro-Attention's CDE augmentation: the frame itself, or one of its four corners cut
    from it enlarged by 240/224 ("cropping the four corners of the original image with size of
    240 x 240 into a 'new' one with size of 224 x 224"); (size, size) float32."""
    corner = int(rng.integers(5))
    if corner == 4:
        return resize(image, size).astype(np.float32)
    big = round(size * 240 / 224)
    image = resize(image, big)
    y, x = [(0, 0), (0, big - size), (big - size, 0), (big - size, big - size)][corner]
    return image[y:y + size, x:x + size].astype(np.float32)
