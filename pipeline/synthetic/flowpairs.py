"""Frame pairs whose true motion is known, for measuring optical flow (tests/test_tvl1.py,
bench/tvl1.py): a smooth random texture moved by a smooth field, and a synthetic face's onset
and apex under its action units' motion (no sway, no noise)."""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.synthetic.faces import make_identity
from pipeline.synthetic.motion import displacement_field, render_clip


def textured_pair(size: tuple[int, int], seed: int,
                  amplitude: float = 1.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A smooth random texture (float in [0, 1]), the same texture moved by a smooth field of
    0.5-2 px (a Gaussian bump on a translation) and that field (H, W, 2): first(p) =
    second(p + d(p))."""
    h, w = size
    rng = np.random.default_rng(seed)
    texture = cv2.resize(rng.random((h // 4 + 3, w // 4 + 3)).astype(np.float32),
                         (w + 12, h + 12), interpolation=cv2.INTER_CUBIC)
    texture = cv2.GaussianBlur(texture, (0, 0), 1.0)
    texture = (texture - texture.min()) / (texture.max() - texture.min())     # (H+12, W+12)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    cx, cy = rng.uniform(0.3, 0.7, 2) * (w, h)
    bump = amplitude * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * (0.3 * min(h, w)) ** 2))
    field = np.stack([bump * np.cos(seed) + 0.5, bump * np.sin(seed) - 0.3], -1)   # (H, W, 2)
    source = np.stack([x, y], -1)                    # solve q = p + d(p) for p, per pixel q
    for _ in range(20):
        moved = [cv2.remap(field[..., k].astype(np.float32), *source.astype(np.float32)
                           .transpose(2, 0, 1), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                 for k in range(2)]
        source = np.stack([x, y], -1) - np.stack(moved, -1)
    second = cv2.remap(texture, *(source + 6).astype(np.float32).transpose(2, 0, 1),
                       cv2.INTER_CUBIC)
    first = texture[6:6 + h, 6:6 + w]
    return first.astype(np.float32), np.clip(second, 0, 1).astype(np.float32), field


def face_pair(size: tuple[int, int], seed: int,
              amplitude: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Onset and apex (H, W) uint8 grey of a synthetic clip, no sway or noise, and the true
    onset -> apex field (H, W, 2)."""
    aus = ["6", "12"] if seed % 2 else ["1", "2", "4"]
    frames, truth = render_clip(make_identity(seed, size, grey=True), aus, 5, 0, 2, 4, amplitude,
                                np.random.default_rng(seed), jitter_px=0.0, noise_std=0.0,
                                grey=True)
    return frames[0], frames[2], displacement_field(truth, size)
