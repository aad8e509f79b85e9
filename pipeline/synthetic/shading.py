"""What action units do to the skin's appearance: creases, wrinkles and bulges, as shading maps.

Real action units change appearance as well as position: AU 12 deepens the nasolabial fold,
AU 1+2 crease the forehead, AU 4 makes vertical lines between the brows, AU 6 the crow's feet
and the cheek's bulge, AU 25 opens the dark gap between the lips. A renderer that only moves the
skin leaves every apex frame looking like its neutral frame, which no appearance-based method
(Micro-Attention's single apex frame, STRCN-A's magnified grey values) can learn from.

Each AU here is a few primitives placed by the identity's landmarks, like the motion bumps
(pipeline/synthetic/motion.py) and in the same face coordinates (x towards the image's right,
y down, lengths in inter-ocular distances, written for the subject's right side and mirrored
for the left):

- `Crease`: a dark line along a polyline (a Gaussian profile across it): a fold or wrinkle;
- `Blob`: a round patch, darker (positive depth: a dimple, a shadow) or lighter (negative: a
  bulge catching the light).

`au_shading` sums them into one map S (H, W) on the neutral face; a frame at intensity s_t shows
the neutral face times (1 - s_t * strength * S), before the motion warp, so the shading rides on
the skin that moves. S is 0 away from the AUs and peaks near 1 on a crease.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.synthetic.faces import AU_TOKEN, MIRROR

Point = tuple[tuple[int, ...], tuple[float, float]]    # (dlib landmarks averaged, offset in iod)


@dataclass(frozen=True)
class Crease:
    """A dark line through `points`, `width` inter-ocular distances across (Gaussian sigma)."""

    points: tuple[Point, ...]
    width: float
    depth: float = 1.0
    midline: bool = False            # on the midline: drawn once, never mirrored


@dataclass(frozen=True)
class Blob:
    """A round patch of `sigma` inter-ocular distances; depth < 0 brightens (a bulge)."""

    at: Point
    sigma: float
    depth: float
    midline: bool = False


AU_SHADING: dict[str, tuple[Crease | Blob, ...]] = {
    # inner brow raiser: short horizontal lines above the inner brows
    "1": (Crease((((21,), (-0.25, -0.30)), ((21,), (0.0, -0.36)), ((22,), (0.0, -0.36))), 0.035, 0.8, True),
          Crease((((21,), (-0.20, -0.48)), ((21,), (0.0, -0.54)), ((22,), (0.0, -0.54))), 0.035, 0.6, True)),
    # outer brow raiser: forehead lines above the outer brows
    "2": (Crease((((17,), (0.05, -0.28)), ((18,), (0.0, -0.36)), ((19,), (0.05, -0.36))), 0.035, 0.8),
          Crease((((17,), (0.10, -0.46)), ((18,), (0.0, -0.54)), ((19,), (0.05, -0.55))), 0.035, 0.6)),
    # brow lowerer: vertical glabellar lines and the lowered brow's shadow on the lid
    "4": (Crease((((21,), (0.10, -0.10)), ((21,), (0.14, 0.10))), 0.022, 1.0),
          Blob(((37, 38), (0.0, -0.10)), 0.10, 0.5)),
    # upper lid raiser: more of the eye's white shows
    "5": (Blob(((37, 38), (0.0, 0.02)), 0.06, -0.6),),
    # cheek raiser: crow's feet at the outer eye corner, the cheek's bulge and a lower-lid crease
    "6": (Crease((((36,), (-0.10, -0.03)), ((36,), (-0.24, -0.08))), 0.03, 0.5),
          Crease((((36,), (-0.10, 0.02)), ((36,), (-0.25, 0.03))), 0.03, 0.5),
          Crease((((36,), (-0.08, 0.07)), ((36,), (-0.22, 0.15))), 0.03, 0.5),
          Blob(((40, 41), (-0.05, 0.38)), 0.16, -0.7),
          Crease((((41,), (-0.05, 0.14)), ((40,), (0.05, 0.14))), 0.03, 0.5)),
    # lid tightener: the lower lid's bulge and the crease under it
    "7": (Blob(((40, 41), (0.0, 0.07)), 0.06, -0.6),
          Crease((((36,), (0.02, 0.12)), ((41,), (0.0, 0.16)), ((40,), (0.0, 0.16))), 0.02, 0.7)),
    # nose wrinkler: lines across the bridge, shadow at the root
    "9": (Crease((((27,), (-0.14, 0.10)), ((27,), (0.14, 0.10))), 0.02, 1.0, True),
          Crease((((28,), (-0.16, 0.02)), ((28,), (0.16, 0.02))), 0.02, 0.8, True),
          Blob(((39,), (0.12, 0.0)), 0.07, 0.5)),
    # upper lip raiser: the upper nasolabial fold and the raised lip's shadow
    "10": (Crease((((31,), (-0.10, -0.05)), ((31,), (-0.16, 0.12)), ((48,), (0.02, -0.18))), 0.03, 1.0),
           Blob(((50,), (0.0, 0.06)), 0.08, 0.4)),
    # lip corner puller: the nasolabial fold from the nose wing past the mouth corner, and the
    # cheek bulging beside it
    "12": (Crease((((31,), (-0.12, -0.02)), ((31,), (-0.22, 0.16)), ((48,), (-0.12, -0.08)),
                   ((48,), (-0.12, 0.10))), 0.05, 1.0),
           Blob(((48,), (-0.35, -0.30)), 0.16, -0.6)),
    # dimpler: a dimple beside the mouth corner
    "14": (Blob(((48,), (-0.10, 0.0)), 0.045, 1.0),),
    # lip corner depressor: the shadow line down from the mouth corner
    "15": (Crease((((48,), (-0.02, 0.05)), ((48,), (-0.06, 0.30))), 0.03, 0.9),),
    # chin raiser: the crease under the lower lip and the chin boss's dimpling
    "17": (Crease((((57,), (-0.25, 0.14)), ((57,), (0.0, 0.18)), ((57,), (0.25, 0.14))), 0.03, 0.9, True),
           Blob(((57, 8), (-0.10, 0.05)), 0.04, 0.6, True), Blob(((57, 8), (0.10, 0.05)), 0.04, 0.6, True)),
    # lip stretcher: a line out from the mouth corner
    "20": (Crease((((48,), (-0.05, 0.0)), ((48,), (-0.30, 0.04))), 0.025, 0.9),),
    # lips part: the dark gap between the lips
    "25": (Crease((((60,), (0.02, 0.0)), ((61, 67), (0.0, 0.0)), ((62, 66), (0.0, 0.0)),
                   ((63, 65), (0.0, 0.0)), ((64,), (-0.02, 0.0))), 0.04, 0.8, True),),
}
def _place(point: Point, landmarks: np.ndarray, axes: np.ndarray, iod: float,
           left: bool) -> np.ndarray:
    """A primitive's point in image px, for the subject's right side or, mirrored, the left."""
    anchor, offset = point
    if left:
        anchor, offset = [MIRROR[i] for i in anchor], (-offset[0], offset[1])
    return landmarks[list(anchor)].mean(0) + iod * np.array(offset) @ axes


def _segment_distance(x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance (H, W) from every pixel to the segment a-b."""
    ab = b - a
    t = np.clip(((x - a[0]) * ab[0] + (y - a[1]) * ab[1]) / max(float(ab @ ab), 1e-12), 0, 1)
    return np.hypot(x - (a[0] + t * ab[0]), y - (a[1] + t * ab[1]))


def au_shading(landmarks: np.ndarray, aus: list[str], shape: tuple[int, int]) -> np.ndarray:
    """The shading map S (H, W) float32 of `aus` on a face with these 68 landmarks: creases and
    dimples positive (darker), bulges negative (lighter); 0 where no AU acts."""
    h, w = shape
    eye_l, eye_r = landmarks[36:42].mean(0), landmarks[42:48].mean(0)
    iod = float(np.linalg.norm(eye_r - eye_l))
    ex = (eye_r - eye_l) / iod
    axes = np.stack([ex, [-ex[1], ex[0]]])
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    out = np.zeros((h, w), np.float64)
    for token in aus:
        match = AU_TOKEN.fullmatch(str(token).strip())
        if not match:
            raise ValueError(f"unknown action unit {token!r}")
        side, au = match.groups()
        for item in AU_SHADING.get(au, ()):
            for s in ([""] if item.midline else [s for s in "RL" if side in ("", s)]):
                left = s == "L"
                if isinstance(item, Crease):
                    pts = [_place(p, landmarks, axes, iod, left) for p in item.points]
                    d = np.min([_segment_distance(x, y, a, b) for a, b in zip(pts, pts[1:])], axis=0)
                    sigma = item.width * iod
                else:
                    c = _place(item.at, landmarks, axes, iod, left)
                    d, sigma = np.hypot(x - c[0], y - c[1]), item.sigma * iod
                out += item.depth * np.exp(-0.5 * (d / sigma) ** 2)
    return np.clip(out, -1.0, 1.0).astype(np.float32)
