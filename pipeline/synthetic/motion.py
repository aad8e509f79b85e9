"""Micro-expressions on a synthetic identity: FACS action units as known displacement fields.

Magnification, optical flow and apex spotting all measure motion, so the synthetic clips carry
motion whose truth is exact: each action unit (AU) is a few Gaussian bumps placed by the
identity's landmarks, each pushing the skin along one vector; and the appearance change that
comes with it (creases, bulges: pipeline/synthetic/shading.py), on the same intensity curve. A clip's field at frame t is s_t
times its apex field, s_t rising smoothly from 0 at onset to 1 at apex and back to 0 at offset;
the whole head sways slowly (rigidly), and the sensor adds noise. Peak displacement at apex is a
pixel or two, like real micro-expressions.

Sides follow FACS: "R12" is the subject's right lip corner, i.e. the image's left in a frontal
view (dlib points 0-8, 17-21, 36-41, 48 are on that side).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from pipeline.synthetic.faces import AU_TOKEN, LUMA, MIRROR, Identity
from pipeline.synthetic.shading import au_shading


@dataclass(frozen=True)
class Bump:
    """One Gaussian bump of an AU, written for the subject's right side in face coordinates
    (x towards the image's right, y down, lengths in inter-ocular distances)."""

    anchor: tuple[int, ...]            # dlib landmarks whose mean places the bump
    offset: tuple[float, float]        # from the anchor, inter-ocular distances
    sigma: float                       # spread, inter-ocular distances
    direction: tuple[float, float]     # where the skin moves
    weight: float = 1.0                # strength relative to the AU's other bumps
    midline: bool = False              # on the midline: shared by both sides, never mirrored


UP, DOWN = (0.0, -1.0), (0.0, 1.0)
AU_BUMPS: dict[str, tuple[Bump, ...]] = {
    "1": (Bump((21,), (-0.03, 0.0), 0.17, UP), Bump((21,), (0.0, -0.25), 0.22, UP, 0.5)),
    "2": (Bump((17, 18), (0.0, 0.0), 0.18, UP), Bump((18,), (0.0, -0.25), 0.22, UP, 0.5)),
    "4": (Bump((20, 21), (0.0, 0.0), 0.17, (0.5, 0.85)), Bump((21,), (0.12, -0.05), 0.12, (0.8, 0.3), 0.5)),
    "5": (Bump((37, 38), (0.0, -0.02), 0.10, UP),),
    "6": (Bump((40, 41), (-0.05, 0.35), 0.22, UP), Bump((36,), (-0.15, 0.05), 0.12, (0.4, -0.6), 0.5),
          Bump((40, 41), (0.0, 0.05), 0.10, UP, 0.5)),
    "7": (Bump((40, 41), (0.0, 0.02), 0.10, UP), Bump((36,), (-0.03, 0.0), 0.10, (0.8, -0.2), 0.4)),
    "9": (Bump((31, 39), (0.0, 0.0), 0.14, UP), Bump((21,), (0.05, 0.05), 0.14, DOWN, 0.4),
          Bump((50,), (0.0, -0.1), 0.12, UP, 0.4)),
    "10": (Bump((50,), (0.0, -0.05), 0.14, UP), Bump((31, 48), (-0.05, 0.0), 0.16, (-0.2, -1.0), 0.5)),
    "12": (Bump((48,), (-0.02, 0.0), 0.17, (-0.7, -0.7)),
           Bump((48,), (-0.15, -0.35), 0.22, (-0.3, -1.0), 0.4)),
    "14": (Bump((48,), (0.0, 0.0), 0.12, (-1.0, -0.1)), Bump((48,), (-0.28, 0.0), 0.12, (1.0, 0.0), 0.4)),
    "15": (Bump((48,), (0.0, 0.02), 0.15, (-0.15, 1.0)), Bump((48,), (0.02, 0.3), 0.20, DOWN, 0.4)),
    "17": (Bump((57, 8), (0.0, 0.0), 0.25, UP, 1.0, True), Bump((57,), (0.0, 0.02), 0.14, UP, 0.6, True)),
    "20": (Bump((48,), (-0.03, 0.02), 0.15, (-1.0, 0.15)), Bump((48,), (-0.3, 0.15), 0.20, (-1.0, 0.3), 0.4)),
    "25": (Bump((57, 66), (0.0, 0.0), 0.14, DOWN, 1.0, True),
           Bump((51, 62), (0.0, 0.0), 0.14, UP, 0.35, True)),
}
MAX_STEEPNESS = 0.8   # px of displacement change per px: beyond, a warp is close to folding

# Native emotion -> AU combinations seen with it (FACS / EMFACS; Davison et al. 2018's objective
# classes where they list one). Contempt is unilateral; repression is suppressed movement.
_GROUPS: dict[str, list[list[str]]] = {
    "happiness": [["6", "12"], ["12"], ["6", "7", "12"], ["7", "12"], ["R12"], ["L12"]],
    "surprise": [["1", "2"], ["1", "2", "5"], ["1", "2", "25"], ["1", "2", "5", "25"]],
    "disgust": [["9"], ["10"], ["4", "9"], ["4", "10"], ["4", "7", "10"], ["L10"]],
    "repression": [["14"], ["17"], ["15"], ["14", "17"], ["15", "17"], ["R14"]],
    "anger": [["4", "7"], ["4"], ["4", "5"], ["4", "5", "7"]],
    "contempt": [["R14"], ["L14"], ["R12"], ["L12"]],
    "fear": [["1", "2", "4", "20"], ["1", "2", "4"], ["20"], ["1", "2", "4", "5", "20"]],
    "sadness": [["1", "4", "15"], ["1", "4"], ["15"], ["15", "17"]],
    "tense": [["4"], ["7"], ["17"], ["4", "17"], ["7", "17"]],
    "others": [[au] for au in AU_BUMPS] + [["1", "5"], ["2", "7"], ["4", "14"], ["4", "17"],
               ["5", "17"], ["6", "7"], ["7", "14"], ["9", "17"], ["10", "14"], ["12", "17"],
               ["14", "25"], ["2", "20"], ["10", "17"], ["R4", "7"]],
    "neutral": [[]],
}
_NEGATIVE = [c for e in ("disgust", "repression", "anger", "contempt", "fear", "sadness")
             for c in _GROUPS[e]]
_GROUPS.update({"other": _GROUPS["others"], "positive": _GROUPS["happiness"],
                "negative": [c for i, c in enumerate(_NEGATIVE) if c not in _NEGATIVE[:i]]})
# Every label as the databases spell it: CASME II / CASME (I) lower case, SAMM capitalised
# ("Other"), SMIC's three classes, and the macro-expression set (lower case).
EMOTION_AUS: dict[str, list[list[str]]] = {
    **_GROUPS, **{k.capitalize(): _GROUPS[k] for k in
                  ("anger", "contempt", "disgust", "fear", "happiness", "other", "sadness", "surprise")}}


def sample_aus(emotion: str, rng: np.random.Generator) -> list[str]:
    """One plausible AU combination for a native emotion label, e.g. ["6", "12"] or ["R14"]."""
    combos = EMOTION_AUS.get(emotion) or EMOTION_AUS.get(str(emotion).strip().lower())
    if combos is None:
        raise ValueError(f"no action units known for emotion {emotion!r}; "
                         f"known: {', '.join(sorted(EMOTION_AUS))}")
    return list(combos[int(rng.integers(len(combos)))])


def au_string(aus: list[str]) -> str:
    """CASME II's spelling of an AU list: "6+12", "R14", "" for none."""
    return "+".join(str(au) for au in aus)


def au_bumps(landmarks: np.ndarray, aus: list[str],
             spread: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centres (K, 2), sigmas (K,) and unscaled vectors (K, 2) in px of the bumps of `aus`,
    placed on a face by its 68 landmarks and turned with its eye line."""
    eye_l, eye_r = landmarks[36:42].mean(0), landmarks[42:48].mean(0)
    iod = float(np.linalg.norm(eye_r - eye_l))
    ex = (eye_r - eye_l) / iod
    axes = np.stack([ex, [-ex[1], ex[0]]])                      # rows: face x, face y in the image
    centres, sigmas, vectors = [], [], []
    for token in aus:
        match = AU_TOKEN.fullmatch(str(token).strip())
        if not match or match.group(2) not in AU_BUMPS:
            raise ValueError(f"unknown action unit {token!r}; known: {', '.join(AU_BUMPS)} "
                             "with an optional L/R prefix")
        side, au = match.groups()
        for bump in AU_BUMPS[au]:
            sides = [""] if bump.midline else [s for s in "RL" if side in ("", s)]
            for s in sides:
                flip = np.array([-1.0, 1.0]) if s == "L" else np.ones(2)
                anchor = [MIRROR[i] for i in bump.anchor] if s == "L" else list(bump.anchor)
                direction = np.array(bump.direction) * flip
                centres.append(landmarks[anchor].mean(0) + iod * (np.array(bump.offset) * flip) @ axes)
                sigmas.append(bump.sigma * spread * iod)
                vectors.append(bump.weight * direction / np.linalg.norm(direction) @ axes)
    return (np.reshape(centres, (-1, 2)), np.asarray(sigmas, np.float64),
            np.reshape(vectors, (-1, 2)))


def field_at(points: np.ndarray, centres: np.ndarray, sigmas: np.ndarray,
             vectors: np.ndarray) -> np.ndarray:
    """The displacement (..., 2) at points (..., 2): the sum of the Gaussian bumps."""
    out = np.zeros(points.shape, np.float64)
    for c, s, v in zip(centres, sigmas, vectors):
        out += np.exp(-((points - c) ** 2).sum(-1, keepdims=True) / (2 * s * s)) * v
    return out


def field_grid(shape: tuple[int, int], centres: np.ndarray, sigmas: np.ndarray,
               vectors: np.ndarray) -> np.ndarray:
    """field_at on every pixel of an (H, W) frame, using that a Gaussian is separable."""
    h, w = shape
    x, y = np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64)
    out = np.zeros((h, w, 2), np.float64)
    for c, s, v in zip(centres, sigmas, vectors):
        g = np.outer(np.exp(-(y - c[1]) ** 2 / (2 * s * s)), np.exp(-(x - c[0]) ** 2 / (2 * s * s)))
        out += g[..., None] * v                                  # (H, W, 2)
    return out


def intensity_profile(n_frames: int, onset: int, apex: int, offset: int) -> np.ndarray:
    """s_t (T,): 0 up to onset, a raised-cosine rise to 1 at apex, a raised-cosine fall to 0 at
    offset, 0 after. Smooth (zero slope at both ends), like the ease-in, ease-out of real AUs."""
    t = np.arange(n_frames, dtype=np.float64)
    rise = np.clip((t - onset) / max(apex - onset, 1e-9), 0, 1)
    fall = np.clip((t - apex) / max(offset - apex, 1e-9), 0, 1)
    s = np.where(t <= apex, 0.5 - 0.5 * np.cos(np.pi * rise), 0.5 + 0.5 * np.cos(np.pi * fall))
    s[apex] = 1.0
    return s


@dataclass
class ClipTruth:
    onset: int                 # 0-based frame indices within the clip
    apex: int
    offset: int
    intensity: np.ndarray      # (T,) s_t: 0 at onset, 1 at apex, 0 at offset
    aus: str                   # CASME II spelling of the AUs shown, "6+12"
    centres: np.ndarray        # (K, 2) bump centres (x, y), px
    sigmas: np.ndarray         # (K,) bump spreads, px
    vectors: np.ndarray        # (K, 2) each bump's displacement at its centre at apex, px
    jitter: np.ndarray         # (T, 3) rigid head motion per frame: dx, dy (px), angle (rad)
    pivot: np.ndarray          # (2,) centre of the rigid rotation (x, y)
    landmarks: np.ndarray      # (T, 68, 2) true landmarks of every frame (AU motion + jitter)
    amplitude: float           # peak |displacement| over the frame at apex, px
    shading: np.ndarray        # (H, W) the AUs' shading map S on the neutral face (shading.py)
    shading_strength: float    # at apex the neutral face is multiplied by 1 - strength * S


def displacement_field(truth: ClipTruth, shape: tuple[int, int], t: int | None = None) -> np.ndarray:
    """True displacement (H, W, 2) (x, y px) of frame t relative to onset (apex if t is None),
    without the rigid jitter, on the onset frame's grid: the point at p at onset is at p + d(p)
    in frame t. This is what onset -> t optical flow should find."""
    s = 1.0 if t is None else truth.intensity[t] - truth.intensity[truth.onset]
    return s * field_grid(shape, truth.centres, truth.sigmas, truth.vectors)


def rigid(points: np.ndarray, jitter: np.ndarray, pivot: np.ndarray) -> np.ndarray:
    """Move points (..., 2) by one frame's rigid jitter (dx, dy, angle about pivot)."""
    c, s = np.cos(jitter[2]), np.sin(jitter[2])
    return (points - pivot) @ np.array([[c, s], [-s, c]]) + pivot + jitter[:2]


def _field_near_grid(points: np.ndarray, centres: np.ndarray, sigmas: np.ndarray,
                     vectors: np.ndarray, margin: float) -> np.ndarray:
    """field_at for points (H, W, 2) that lie within `margin` px of their own pixel: each bump is
    evaluated only on the pixels within 5 sigma (+ margin) of its centre, where it exceeds
    exp(-12.5) = 4e-6 of its peak; exact elsewhere to that level, and fast."""
    h, w = points.shape[:2]
    out = np.zeros(points.shape, np.float64)
    for c, s, v in zip(centres, sigmas, vectors):
        r = 5 * s + margin
        x0, x1 = max(int(c[0] - r), 0), min(int(c[0] + r) + 2, w)
        y0, y1 = max(int(c[1] - r), 0), min(int(c[1] + r) + 2, h)
        if x0 >= x1 or y0 >= y1:
            continue
        rx, ry = points[y0:y1, x0:x1, 0] - c[0], points[y0:y1, x0:x1, 1] - c[1]
        g = np.exp((rx * rx + ry * ry) * (-0.5 / (s * s)))
        out[y0:y1, x0:x1, 0] += g * v[0]
        out[y0:y1, x0:x1, 1] += g * v[1]
    return out


def sampling_map(field: np.ndarray, bumps: tuple[np.ndarray, np.ndarray, np.ndarray], s: float,
                 jitter: np.ndarray, pivot: np.ndarray, tol: float = 1e-4) -> np.ndarray:
    """Where each output pixel q samples the neutral image (H, W, 2) float32, for the forward
    motion p -> rigid(p + s d(p)) of the field (H, W, 2) made of `bumps`.

    Undo the jitter exactly, then solve p + s d(p) = q' by the fixed point p <- q' - s d(p), a
    contraction while s |grad d| < 1 (MAX_STEEPNESS keeps it below). d is first read off
    the grid bicubically (fast, but cv2 quantises positions to 1/32 px: ~0.01 px off), then the
    last steps evaluate it exactly until no pixel moves more than tol px."""
    h, w = field.shape[:2]
    q = np.stack(np.meshgrid(np.arange(w), np.arange(h)), -1).astype(np.float64)   # (H, W, 2)
    c, sn = np.cos(jitter[2]), np.sin(jitter[2])
    target = (q - pivot - jitter[:2]) @ np.array([[c, -sn], [sn, c]]) + pivot
    grid = field.astype(np.float32)

    def on_grid(p: np.ndarray) -> np.ndarray:
        return cv2.remap(grid, p[..., 0].astype(np.float32), p[..., 1].astype(np.float32),
                         cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)

    def exact(p: np.ndarray) -> np.ndarray:
        return _field_near_grid(p, *bumps, margin=float(np.abs(p - q).max()) + 1)

    p = _fixed_point(target, s, on_grid, 0.02, target)
    return _fixed_point(target, s, exact, tol, p).astype(np.float32)


def _fixed_point(target: np.ndarray, s: float, d: Callable[[np.ndarray], np.ndarray], tol: float,
                 p: np.ndarray) -> np.ndarray:
    """Iterate p <- target - s d(p) until no pixel moves more than tol (at most 50 times)."""
    for _ in range(50):
        moved = target - s * d(p)
        change = np.abs(moved - p).max()
        p = moved
        if change < tol:
            break
    return p


def steepness(field: np.ndarray) -> float:
    """Largest change of displacement per px over the field (H, W, 2). At 1 or more the warp
    folds the skin over itself, and the fixed point in `sampling_map` no longer converges."""
    gy, gx = np.gradient(field, axis=(0, 1))                     # (H, W, 2) each
    return float(np.sqrt(gx ** 2 + gy ** 2).sum(-1).max()) if field.size else 0.0


def _frame(face: np.ndarray, grid: np.ndarray, noise_std: float, grey: bool,
           rng: np.random.Generator) -> np.ndarray:
    """Sample the (shaded) neutral face (H, W, 3) at grid, add sensor noise, quantise to uint8."""
    image = cv2.remap(face, grid[..., 0], grid[..., 1], cv2.INTER_CUBIC,
                      borderMode=cv2.BORDER_REFLECT101)          # (H, W, 3)
    if grey:
        image = image @ LUMA                                     # (H, W)
    image = image + noise_std * rng.standard_normal(image.shape, dtype=np.float32)
    return np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)


def apex_bumps(identity: Identity, aus: list[str], amplitude_px: float,
               spread: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The bumps of `aus` on this identity, scaled so the apex field peaks at amplitude_px over
    the frame (overlapping bumps add up, so the largest single vector may be a little less)."""
    centres, sigmas, vectors = au_bumps(identity.landmarks, aus, spread)
    if len(centres):
        field = field_grid(identity.image.shape[:2], centres, sigmas, vectors)   # (H, W, 2)
        vectors = vectors * (amplitude_px / np.linalg.norm(field, axis=-1).max())
    return centres, sigmas, vectors


def head_sway(n_frames: int, std: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(T, 3) smooth rigid motion (dx, dy, angle): drift + slow sinusoid per axis, each term
    with std `std / 2`, clipped at 2 std."""
    t = np.linspace(0.0, 1.0, n_frames)[:, None]                      # (T, 1)
    drift, wave = rng.normal(size=(2, 3)) * std / 2                   # (3,) each
    cycles, phase = rng.uniform(0.5, 1.5, 3), rng.uniform(0, 2 * np.pi, 3)
    sway = drift * (t - 0.5) * 2 + wave * np.sin(2 * np.pi * cycles * t + phase)
    return np.clip(sway, -2 * std, 2 * std)                          # (T, 3)


def shaded(identity: Identity, shading: np.ndarray, amount: float) -> np.ndarray:
    """The neutral face (H, W, 3) with `amount` of the AUs' shading map: creases darker, bulges
    lighter, multiplicatively (so dark skin darkens less in absolute terms, as real skin)."""
    if amount == 0:
        return identity.image
    return np.clip(identity.image * (1 - amount * shading)[..., None], 0, 1).astype(np.float32)


def render_clip(identity: Identity, aus: list[str], n_frames: int, onset: int, apex: int,
                offset: int, amplitude_px: float, rng: np.random.Generator,
                jitter_px: float = 0.3, noise_std: float = 0.01,
                grey: bool = False, shading: float = 0.0) -> tuple[np.ndarray, ClipTruth]:
    """Frames (T, H, W, 3) uint8 RGB, or (T, H, W) if grey, and the clip's truth.

    Appearance: the AUs' shading map (creases, wrinkles, bulges: pipeline/synthetic/shading.py)
    at `shading` x s_t on the neutral face before it is warped, so that the shading follows the
    same intensity curve as the motion and rides on the skin that moves.

    Rigid head motion: a slow sway, as a head in a chin rest moves over the fraction of a second
    a clip lasts: per axis a linear drift plus a sinusoid of 0.5-1.5 cycles per clip, each with
    std jitter_px/2 (translation) and a rotation moving the jaw line by about half that, the sum
    clipped at 2 jitter_px. Frame-to-frame motion is smooth, as at 100-200 fps it is: white
    per-frame jitter of that size would look like a head shaking at the camera's frame rate.
    Frames are the neutral face warped backwards (`sampling_map`, exact to 1e-4 px) and sampled
    bicubically by cv2.remap, which rounds sample positions to 1/32 px: the rendered motion is
    the stated one to within 1/64 px at any pixel (0.009 px rms), without bias."""
    if not 0 <= onset <= apex <= offset < n_frames:
        raise ValueError(f"need 0 <= onset <= apex <= offset < n_frames, got {onset}, {apex}, "
                         f"{offset}, {n_frames}")
    shape = identity.image.shape[:2]
    centres, sigmas, vectors = apex_bumps(identity, aus, amplitude_px)
    field = field_grid(shape, centres, sigmas, vectors)           # (H, W, 2)
    if steepness(field) >= MAX_STEEPNESS:
        raise ValueError(f"amplitude {amplitude_px} px changes by {steepness(field):.2f} px per px "
                         f"on a {shape[1]}x{shape[0]} face and would fold it; lower amplitude_px "
                         "or render a larger frame")
    s = intensity_profile(n_frames, onset, apex, offset)
    pivot = identity.landmarks.mean(0)
    half_face = np.linalg.norm(identity.landmarks[16] - identity.landmarks[0]) / 2
    std = np.array([jitter_px, jitter_px, 0.5 * jitter_px / half_face])
    jitter = head_sway(n_frames, std, rng)                        # (T, 3)
    moved = identity.landmarks + field_at(identity.landmarks, centres, sigmas, vectors)
    landmarks = np.stack([rigid(identity.landmarks + s[t] * (moved - identity.landmarks),
                                jitter[t], pivot) for t in range(n_frames)])   # (T, 68, 2)
    bumps = (centres, sigmas, vectors)
    shade = au_shading(identity.landmarks, aus, shape)                     # (H, W)
    frames = np.stack([_frame(shaded(identity, shade, shading * s[t]),
                              sampling_map(field, bumps, s[t], jitter[t], pivot),
                              noise_std, grey, rng) for t in range(n_frames)])
    truth = ClipTruth(onset, apex, offset, s, au_string(aus), centres, sigmas, vectors, jitter,
                      pivot, landmarks, float(amplitude_px) if len(centres) else 0.0,
                      shade, float(shading))
    return frames, truth


def render_macro(identity: Identity, emotion: str, rng: np.random.Generator,
                 amplitude_px: float = 6.0, shading: float = 0.6) -> np.ndarray:
    """One macro-expression image (H, W, 3) uint8 for pre-training: the emotion's AUs at a
    few times a micro-expression's amplitude over wider regions with their shading, a slight
    head offset, noise."""
    jitter = rng.uniform([-1.5, -1.5, -0.02], [1.5, 1.5, 0.02])    # drawn first: same pose
    aus = sample_aus(emotion, rng)                                   # for every emotion
    centres, sigmas, vectors = apex_bumps(identity, aus, amplitude_px, spread=1.5)
    field = field_grid(identity.image.shape[:2], centres, sigmas, vectors)   # (H, W, 2)
    fold = steepness(field) / MAX_STEEPNESS
    if fold > 1:                # a small face: the expression as strong as it can be unfolded
        field, vectors = field / fold, vectors / fold
    pivot = identity.landmarks.mean(0)
    grid = sampling_map(field, (centres, sigmas, vectors), 1.0, jitter, pivot)
    face = shaded(identity, au_shading(identity.landmarks, aus, identity.image.shape[:2]), shading)
    return _frame(face, grid, 0.01, False, rng)
