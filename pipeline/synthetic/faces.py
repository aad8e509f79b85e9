"""Synthetic identities: one real face, varied per subject, whose landmarks are known exactly.

No licensed face ships with the code; skimage's astronaut is a real face that is available
offline and on which dlib's detector and 68-point predictor work. Every synthetic subject is a
known warp of it (face shape, pose) with a known colour and lighting change, so its landmarks are
the astronaut's reference landmarks pushed through that same warp: ground truth (to the precision
of dlib's one fit on the astronaut) that detection and alignment are later scored against.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import cv2
import dlib
import numpy as np
from skimage import data

from pipeline.face import predictor_path

JAW_FILL = 0.72     # jaw width / frame width: the face fills most of a CASME II "Cropped" frame
CHIN_AT = 0.93      # chin height / frame height (forehead above, a little neck below)
LUMA = np.array([0.299, 0.587, 0.114], np.float32)   # ITU-R BT.601, what cv2's RGB2GRAY uses
# dlib's 68 points mirrored left <-> right (jaw, brows, nose, eyes, outer and inner lips).
MIRROR = ([16 - i for i in range(17)] + [26 - i for i in range(5)] + [21 - i for i in range(5)]
          + [27, 28, 29, 30, 35, 34, 33, 32, 31] + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
          + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55] + [64, 63, 62, 61, 60, 67, 66, 65])
AU_TOKEN = re.compile(r"([LR]?)(\d+)")
# (an AU token as the renderer takes it: an optional side, the AU number)


@functools.lru_cache(maxsize=1)
def _reference() -> tuple[np.ndarray, np.ndarray]:
    """The astronaut's face with a wide margin, and dlib's landmarks on it (computed once: the
    predictor takes a second to load)."""
    image = data.astronaut()                                     # (512, 512, 3) uint8 RGB
    faces = dlib.get_frontal_face_detector()(image, 0)
    if len(faces) != 1:
        raise RuntimeError(f"dlib found {len(faces)} faces on skimage's astronaut, expected 1")
    shape = dlib.shape_predictor(str(predictor_path()))(image, faces[0])
    marks = np.array([(p.x, p.y) for p in shape.parts()], np.float64)   # (68, 2)
    jaw = marks[16, 0] - marks[0, 0]
    centre = np.array([(marks[0, 0] + marks[16, 0]) / 2, (marks[17:27, 1].min() + marks[8, 1]) / 2])
    half = jaw / JAW_FILL                                        # room for any aspect and pose
    x0, y0 = np.maximum(np.floor(centre - half).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(centre + half).astype(int), image.shape[1::-1])
    crop = (image[y0:y1, x0:x1] / 255.0).astype(np.float32)     # (h, w, 3)
    crop.setflags(write=False)
    marks = marks - (x0, y0)
    marks.setflags(write=False)
    return crop, marks


def base_face() -> tuple[np.ndarray, np.ndarray]:
    """(image (h, w, 3) float32 RGB in [0, 1], landmarks (68, 2) x, y): the astronaut's face
    region with a margin, and dlib's 68 landmarks on it."""
    crop, marks = _reference()
    return crop.copy(), marks.copy()


@dataclass
class Variation:
    """What makes one subject differ from the base face; every change is a known function."""

    face_width: float                     # relative widening of the whole face (0.04 = 4 %)
    eye_distance: float                   # relative widening across the eyes
    jaw: float                            # relative widening of the lower face
    nose_length: float                    # relative lengthening between the eyes and the nose tip
    tone: tuple[float, float, float]      # RGB gains on the skin (skin tone)
    gamma: float                          # skin brightness curve
    light: tuple[float, float, float]     # shading: left-right slope, top-bottom slope, highlight
    highlight_at: tuple[float, float]     # highlight centre, frame coordinates scaled to [-1, 1]
    backdrop: tuple[float, float, float]  # RGB gains outside the face (hair and background)
    rotation_deg: float                   # in-plane head rotation
    scale: float                          # head size relative to the standard framing
    shift: tuple[float, float]            # head position offset in the frame, px (x, y)
    mouth_width: float                    # relative widening across the mouth
    texture: float                        # skin texture (pores, mottling): relative contrast
    texture_px: float                     # its grain, px
    freckles: int                         # small dark spots on the skin
    brows: float                          # eyebrow darkness (1 = as the base face, < 1 darker)
    lips: tuple[float, float, float]      # RGB gains on the lips
    age_lines: tuple[tuple[str, float], ...]   # permanent folds: (AU whose crease it is, depth)


@dataclass
class Identity:
    image: np.ndarray       # (H, W, 3) float32 RGB in [0, 1], neutral face (3 equal channels if grey)
    landmarks: np.ndarray   # (68, 2) float64 true (x, y) of the 68 landmarks in `image`
    seed: int
    grey: bool
    variation: Variation


def draw_variation(rng: np.random.Generator, size: tuple[int, int]) -> Variation:
    """Up to 8 % of shape, a plausible range of skin tones, skin textures, freckles, brows,
    lips, hair and background tints and lighting, permanent folds in some faces, a small head
    pose. The draws for the shape, tone and pose come first, in their old order."""
    brightness = rng.uniform(0.6, 1.1)
    tone = brightness * np.array([1.0, rng.uniform(0.88, 1.0), rng.uniform(0.78, 1.02)])
    shape = dict(face_width=rng.uniform(-0.08, 0.08), eye_distance=rng.uniform(-0.06, 0.06),
                 jaw=rng.uniform(-0.08, 0.08), nose_length=rng.uniform(-0.08, 0.08))
    light = dict(tone=tuple(tone.tolist()), gamma=rng.uniform(0.85, 1.2),
                 light=tuple(rng.uniform([-0.15, -0.12, -0.08], [0.15, 0.12, 0.15]).tolist()),
                 highlight_at=tuple(rng.uniform([-0.3, -0.5], [0.3, 0.1]).tolist()),
                 backdrop=tuple((rng.uniform(0.4, 1.15) * np.array(
                     [1.0, rng.uniform(0.88, 1.0), rng.uniform(0.7, 1.0)])).tolist()))
    pose = dict(rotation_deg=rng.uniform(-5.0, 5.0), scale=rng.uniform(0.95, 1.05),
                shift=tuple((rng.uniform(-0.03, 0.03, 2) * (size[1], size[0])).tolist()))
    folds = [au for au in ("12", "6", "4", "15") if rng.random() < 0.35]
    return Variation(**shape, **light, **pose, mouth_width=rng.uniform(-0.08, 0.08),
                     texture=rng.uniform(0.01, 0.035), texture_px=rng.uniform(0.5, 1.2),
                     freckles=int(rng.integers(0, 40)) if rng.random() < 0.5 else 0,
                     brows=rng.uniform(0.6, 1.1),
                     lips=tuple(rng.uniform([0.85, 0.75, 0.75], [1.15, 1.05, 1.05]).tolist()),
                     age_lines=tuple((au, float(rng.uniform(0.03, 0.10))) for au in folds))


def _stretches(marks: np.ndarray, v: Variation) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(centre, sigma (x, y), stretch (x, y)) of the Gaussian-windowed local stretches that
    reshape the face, placed by the base landmarks (base image px)."""
    eye_l, eye_r = marks[36:42].mean(0), marks[42:48].mean(0)
    iod = np.linalg.norm(eye_r - eye_l)
    jaw = marks[16, 0] - marks[0, 0]
    return [
        (marks.mean(0), np.array([0.9, 0.9]) * jaw, np.array([v.face_width, 0.0])),
        ((eye_l + eye_r) / 2, np.array([1.0, 0.35]) * iod, np.array([v.eye_distance, 0.0])),
        (marks[57] * 0.5 + marks[8] * 0.5, np.array([0.6, 0.3]) * jaw, np.array([v.jaw, v.jaw / 2])),
        ((marks[27] + marks[33]) / 2, np.array([0.5, 0.6]) * iod, np.array([0.0, v.nose_length])),
        ((marks[48] + marks[54]) / 2, np.array([0.7, 0.3]) * iod, np.array([v.mouth_width, 0.0])),
    ]


def _shape_offset(points: np.ndarray, stretches: list) -> np.ndarray:
    """Backward (sampling) offset u at points (..., 2): the pixel at b shows the base face at
    b + u(b). Pulling samples towards a centre makes the face wider there."""
    u = np.zeros_like(points)
    for centre, sigma, stretch in stretches:
        rel = points - centre
        g = np.exp(-0.5 * ((rel / sigma) ** 2).sum(-1, keepdims=True))
        u -= g * stretch * rel
    return u


def make_identity(seed: int, size: tuple[int, int], grey: bool = False) -> Identity:
    """One synthetic subject at frame size (H, W): the base face reshaped, posed, re-toned and
    re-lit, with its true landmarks."""
    rng = np.random.default_rng(seed)
    h, w = size
    base, marks = _reference()
    v = draw_variation(rng, size)
    # Standard framing: base px per output px, and the base position of output pixel (0, 0).
    k = (marks[16, 0] - marks[0, 0]) / JAW_FILL / w
    origin = np.array([(marks[0, 0] + marks[16, 0]) / 2 - k * w / 2, marks[8, 1] - k * h * CHIN_AT])
    centre = np.array([(w - 1) / 2, (h - 1) / 2])
    a = np.deg2rad(v.rotation_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) * v.scale
    shift = np.array(v.shift)
    stretches = _stretches(marks, v)

    # Output pixel q -> unposed p -> base b -> reshaped sample b + u(b).
    q = np.stack(np.meshgrid(np.arange(w), np.arange(h)), -1).astype(np.float64)   # (H, W, 2)
    p = (q - centre - shift) @ np.linalg.inv(rot).T + centre
    b = origin + k * p
    src = (b + _shape_offset(b, stretches)).astype(np.float32)
    image = cv2.remap(base, src[..., 0], src[..., 1], cv2.INTER_CUBIC,
                      borderMode=cv2.BORDER_REFLECT101)                              # (H, W, 3)

    # Landmarks: solve b + u(b) = reference (a contraction: |du/db| is a few %), then pose it.
    b_marks = marks.copy()
    for _ in range(50):
        b_marks = marks - _shape_offset(b_marks, stretches)
    landmarks = ((b_marks - origin) / k - centre) @ rot.T + centre + shift          # (68, 2)

    image = _retone(np.clip(image, 0, 1), landmarks, v)
    image = _features(image, landmarks, v, rng)
    if grey:
        image = np.repeat((image @ LUMA)[..., None], 3, axis=-1)
    return Identity(np.ascontiguousarray(image, np.float32), landmarks, seed, grey, v)


def _retone(image: np.ndarray, landmarks: np.ndarray, v: Variation) -> np.ndarray:
    """Skin tone inside a soft face mask, a different backdrop tint outside, then shading."""
    h, w = image.shape[:2]
    iod = np.linalg.norm(landmarks[42:48].mean(0) - landmarks[36:42].mean(0))
    forehead = landmarks[17:27] - (0, 0.6 * iod)
    hull = cv2.convexHull(np.concatenate([landmarks[:17], forehead]).astype(np.float32))
    mask = np.zeros((h, w), np.float32)
    cv2.fillConvexPoly(mask, np.round(hull).astype(np.int32), 1.0)
    mask = cv2.GaussianBlur(mask, (0, 0), 0.15 * iod)[..., None]                   # (H, W, 1)
    skin = image ** v.gamma * np.array(v.tone, np.float32)
    backdrop = image * np.array(v.backdrop, np.float32)
    image = mask * skin + (1 - mask) * backdrop
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    xn, yn = 2 * x / (w - 1) - 1, 2 * y / (h - 1) - 1
    sx, sy = v.highlight_at
    highlight = np.exp(-((xn - sx) ** 2 + (yn - sy) ** 2) / (2 * 0.5 ** 2))
    shade = 1 + v.light[0] * xn + v.light[1] * yn + v.light[2] * highlight          # (H, W)
    return np.clip(image * shade[..., None], 0, 1)


def _features(image: np.ndarray, landmarks: np.ndarray, v: Variation,
              rng: np.random.Generator) -> np.ndarray:
    """What makes a face one person's beyond its shape and tone: skin texture (band-passed
    noise, multiplicative), freckles, eyebrow darkness, lip colour and permanent folds (the
    creases of some AUs, faint, always there: an apex's creases must be told from them)."""
    from pipeline.synthetic.shading import au_shading

    h, w = image.shape[:2]
    iod = float(np.linalg.norm(landmarks[42:48].mean(0) - landmarks[36:42].mean(0)))
    face = np.zeros((h, w), np.float32)
    hull = cv2.convexHull(np.concatenate([landmarks[:17], landmarks[17:27] - (0, 0.5 * iod)])
                          .astype(np.float32))
    cv2.fillConvexPoly(face, np.round(hull).astype(np.int32), 1.0)
    face = cv2.GaussianBlur(face, (0, 0), 0.1 * iod)                               # (H, W)

    noise = rng.standard_normal((h, w)).astype(np.float32)
    grain = (cv2.GaussianBlur(noise, (0, 0), v.texture_px)
             - cv2.GaussianBlur(noise, (0, 0), 3 * v.texture_px))
    grain /= grain.std() + 1e-6
    factor = 1 + v.texture * grain * face                                          # (H, W)

    spots = np.zeros((h, w), np.float32)
    for _ in range(v.freckles):
        x, y = landmarks[1:16, 0].min(), landmarks[1:16, 0].max()
        cx, cy = rng.uniform(x, y), rng.uniform(landmarks[19, 1] - 0.3 * iod, landmarks[8, 1] - 0.2 * iod)
        cv2.circle(spots, (int(round(cx * 4)), int(round(cy * 4))), int(round(rng.uniform(2, 5))),
                   float(rng.uniform(0.05, 0.2)), -1, cv2.LINE_AA, shift=2)
    factor *= 1 - cv2.GaussianBlur(spots, (0, 0), 0.6) * face

    brows = np.zeros((h, w), np.float32)
    for side in (range(17, 22), range(22, 27)):
        line = np.round(landmarks[list(side)] * 4).astype(np.int32)
        cv2.polylines(brows, [line], False, 1.0, max(1, int(round(0.08 * iod))), cv2.LINE_AA, shift=2)
    brows = cv2.GaussianBlur(brows, (0, 0), 0.02 * iod)
    factor *= 1 + (v.brows - 1) * brows

    if v.age_lines:
        folds = sum(depth * au_shading(landmarks, [au], (h, w)) for au, depth in v.age_lines)
        factor *= 1 - np.clip(folds, 0, 1)

    lips = np.zeros((h, w), np.float32)
    cv2.fillPoly(lips, [np.round(landmarks[48:60] * 4).astype(np.int32)], 1.0, cv2.LINE_AA, shift=2)
    cv2.fillPoly(lips, [np.round(landmarks[60:68] * 4).astype(np.int32)], 0.0, cv2.LINE_AA, shift=2)
    lips = cv2.GaussianBlur(lips, (0, 0), 0.03 * iod)[..., None]
    tint = 1 + lips * (np.array(v.lips, np.float32) - 1)                           # (H, W, 3)
    return np.clip(image * factor[..., None] * tint, 0, 1)
