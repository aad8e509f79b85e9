"""The tensor augmentations (pipeline/augment.py) against OpenCV's definitions, which the
input views used before they moved onto the training device."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from pipeline.augment import (augment_batch, box_blur, draw_augmentation, flip_flow_batch,
                              resize_batch, rotate_batch)


def smooth_image(h: int = 60, w: int = 49, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.uniform(0, 255, (h, w)).astype(np.float32), (0, 0), 3)


def as_batch(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image)[None, None]


@pytest.mark.parametrize("degrees", [5.0, -10.0, 8.0])
def test_rotation_is_cv2_warp_affine_about_the_centre(degrees):
    image = smooth_image()
    h, w = image.shape
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), degrees, 1.0)
    reference = cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
    ours = rotate_batch(as_batch(image), torch.tensor([degrees]))[0, 0].numpy()
    inner = (slice(3, -3), slice(3, -3))
    # cv2 interpolates with 1/32 px fixed-point weights: a tenth of a grey level apart
    assert np.abs(ours - reference)[inner].max() < 0.15


def test_rotation_by_zero_is_the_identity_and_a_batch_rotates_each_image():
    images = np.stack([smooth_image(seed=s) for s in range(3)])[:, None]
    x = torch.from_numpy(images)
    np.testing.assert_allclose(rotate_batch(x, torch.zeros(3)).numpy(), images, atol=1e-3)
    one_by_one = [rotate_batch(x[i:i + 1], torch.tensor([a])) for i, a in enumerate([3.0, -7.0, 0.0])]
    torch.testing.assert_close(rotate_batch(x, torch.tensor([3.0, -7.0, 0.0])), torch.cat(one_by_one))


@pytest.mark.parametrize("size", [(120, 98), (64, 64), (30, 24), (28, 28)])
def test_resize_is_cv2_resize(size):
    image = smooth_image()
    shrink = image.shape[0] > size[0] or image.shape[1] > size[1]
    reference = cv2.resize(image, size[::-1], interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    ours = resize_batch(as_batch(image), size)[0, 0].numpy()
    exact = image.shape[0] % size[0] == 0 and image.shape[1] % size[1] == 0
    # enlarging and whole-number shrinking agree exactly; fractional area averaging differs
    # in how the partial pixels at bin edges are weighted
    assert np.abs(ours - reference).mean() < (1e-3 if exact or not shrink else 0.5)


@pytest.mark.parametrize("window", [2, 3, 4, 6])
def test_box_blur_is_cv2_blur(window):
    image = smooth_image()
    reference = cv2.blur(image, (window, window), borderType=cv2.BORDER_REPLICATE)
    np.testing.assert_allclose(box_blur(as_batch(image), window)[0, 0].numpy(), reference, atol=1e-3)


def test_mirrored_flow_changes_the_sign_of_u():
    flow = torch.randn(3, 2, 5, 7)                        # (L, 2, H, W)
    mirrored = flip_flow_batch(flow)
    torch.testing.assert_close(mirrored[:, 0], -flow[:, 0].flip(-1))
    torch.testing.assert_close(mirrored[:, 1], flow[:, 1].flip(-1))


def test_augmentation_draws_are_per_sample_and_reproducible():
    a = [draw_augmentation(np.random.default_rng(4), True, 20, 8, 6) for _ in range(1)]
    b = [draw_augmentation(np.random.default_rng(4), True, 20, 8, 6) for _ in range(1)]
    assert a == b
    rng = np.random.default_rng(0)
    choices = [draw_augmentation(rng, False, 20, 8, 6) for _ in range(200)]
    for key in ("shift", "angle", "window"):
        applied = np.mean([c[key] != 0 for c in choices])
        assert 0.4 < applied < 0.6, key                     # each with probability 0.5
    assert max(abs(c["shift"]) for c in choices) <= 20 and max(abs(c["angle"]) for c in choices) <= 8
    assert {c["window"] for c in choices} - {0} <= {2, 3, 4, 5, 6}
    x = torch.from_numpy(np.stack([smooth_image(seed=s) for s in range(4)])[:, None])
    fixed = [{"corner": 4, "shift": 10.0, "angle": 0.0, "window": 0},
             {"corner": 4, "shift": 0.0, "angle": 5.0, "window": 0},
             {"corner": 4, "shift": 0.0, "angle": 0.0, "window": 3},
             {"corner": 4, "shift": 0.0, "angle": 0.0, "window": 0}]
    out = augment_batch(x.clone(), fixed)
    torch.testing.assert_close(out[0], x[0] + 10)
    torch.testing.assert_close(out[1], rotate_batch(x[1:2], torch.tensor([5.0]))[0])
    torch.testing.assert_close(out[2], box_blur(x[2:3], 3)[0])
    torch.testing.assert_close(out[3], x[3])
