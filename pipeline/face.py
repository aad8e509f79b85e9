"""Faces: dlib's detector and 68 landmarks, and the clip alignment STRCN and Pfister et al. use.

Micro-expressions move the skin by a pixel or two, less than the differences in head pose and
face shape between subjects, so every clip is warped onto one canonical face before anything
measures motion. The warp is computed once per clip, from the onset frame's landmarks, and
applied to every frame: the head is (nearly) still within a clip, and warping each frame by its
own landmarks would turn landmark jitter into fake motion.

Canonical face: dlib's 68 landmarks on skimage's astronaut (a real, frontal face shipped with
scikit-image), eyes levelled, scaled to unit inter-ocular distance and made left-right
symmetric, placed in STRCN's eye-centred crop (`reference_shape`). Alignment: Goshtasby's local
weighted mean (`pipeline.lwm`) from the canonical landmarks to the detected ones.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import cv2
import dlib
import numpy as np

from pipeline.lwm import N_NEIGHBOURS, LWM, warp_map

# STRCN's crop (delta1, delta2, delta3, delta4), inter-ocular distances: margin beside the eye
# centres, margin above them, canvas height, canvas width. See `reference_shape`.
DELTAS = (0.4, 0.6, 2.2, 1.8)
# dlib's 68 points mirrored left <-> right (jaw, brows, nose, eyes, outer and inner lips).
MIRROR = ([16 - i for i in range(17)] + [26 - i for i in range(5)] + [21 - i for i in range(5)]
          + [27, 28, 29, 30, 35, 34, 33, 32, 31] + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
          + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55] + [64, 63, 62, 61, 60, 67, 66, 65])
# Border control points, inter-ocular distances: two rings this far outside the box holding the
# canvas and the canonical landmarks, points this far apart along each ring.
RING_MARGINS = (0.25, 0.55)
RING_SPACING = 0.3


class FaceError(Exception):
    """No usable face in an image."""


def predictor_path() -> Path:
    """dlib's 68-point model shipped by face-recognition-models. Located without importing the
    package: its __init__ imports pkg_resources, which recent setuptools no longer has."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("face-recognition-models is not installed; pip install -r requirements.txt")
    return Path(spec.submodule_search_locations[0]) / "models" / "shape_predictor_68_face_landmarks.dat"


@functools.lru_cache(maxsize=1)
def _models() -> tuple[dlib.fhog_object_detector, dlib.shape_predictor]:
    """dlib's HOG face detector and 68-point shape predictor, loaded once (~1 s)."""
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(predictor_path()))


def detect_landmarks(image: np.ndarray) -> tuple[np.ndarray, float]:
    """(landmarks (68, 2) float64 (x, y) px, detector score) of the best-scoring face in an
    (H, W, 3) RGB or (H, W) grey uint8 image.

    dlib's HOG detector at its own threshold (0), first on the image as it is, then once
    upsampled (finds faces down to ~40 px instead of ~80 px); of several faces, the highest
    score wins (the subject fills the frame in every micro-expression database)."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise ValueError(f"need an (H, W, 3) RGB or (H, W) grey uint8 image, got {image.dtype} {image.shape}")
    image = np.ascontiguousarray(image)
    rects, scores = face_boxes(image)
    if not rects:
        raise FaceError(f"no face found in the {image.shape[1]}x{image.shape[0]} image "
                        "(dlib HOG detector, upsampled 0 and 1 times)")
    best = int(np.argmax(scores))
    return _landmarks(image, rects[best]), float(scores[best])


def face_boxes(image: np.ndarray) -> tuple[list[dlib.rectangle], list[float]]:
    """dlib's HOG detections in a contiguous uint8 image at its own threshold (0): on the image
    as it is, else once upsampled; empty lists when neither finds a face."""
    detector, _ = _models()
    for upsample in (0, 1):
        rects, scores, _ = detector.run(image, upsample, 0.0)
        if len(rects):
            return list(rects), list(scores)
    return [], []


def _landmarks(image: np.ndarray, rect: dlib.rectangle) -> np.ndarray:
    """The 68 landmarks (68, 2) float64 (x, y) px of the face in `rect`."""
    shape = _models()[1](image, rect)
    return np.array([(p.x, p.y) for p in shape.parts()], np.float64)


def eye_centres(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres (x, y) of the image-left eye (points 36-41) and image-right eye (42-47)."""
    return landmarks[36:42].mean(0), landmarks[42:48].mean(0)


@functools.lru_cache(maxsize=1)
def _canonical() -> np.ndarray:
    """The canonical shape (68, 2) in inter-ocular units: left eye centre at (0, 0), right eye
    centre at (1, 0), y down; the astronaut's landmarks averaged with their mirror image so the
    model face carries neither her slight head turn nor her asymmetry."""
    from skimage import data

    marks, _ = detect_landmarks(data.astronaut())
    left, right = eye_centres(marks)
    axis = (right - left) / np.linalg.norm(right - left) ** 2     # the eye line, scaled by 1/d
    rows = np.stack([axis, [-axis[1], axis[0]]])                  # level the eyes, unit distance
    shape = (marks - left) @ rows.T                               # (68, 2)
    mirrored = np.stack([1 - shape[MIRROR, 0], shape[MIRROR, 1]], -1)
    shape = (shape + mirrored) / 2
    shape.setflags(write=False)
    return shape


def _to_canvas(points: np.ndarray, size: tuple[int, int], deltas: tuple) -> np.ndarray:
    """Inter-ocular units (left eye at the origin) -> output px (pixel centres at integers)."""
    d1, d2, d3, d4 = deltas
    h, w = size
    return (points + (d1, d2)) * (w / d4, h / d3) - 0.5


def reference_shape(size: tuple[int, int], deltas: tuple = DELTAS) -> np.ndarray:
    """The canonical 68 landmarks (68, 2) (x, y) in an aligned frame of size (H, W).

    STRCN's equation (1) crops around the eye centres (xl, yl), (xr, yr) at distance d. As
    extracted from the paper it reads topleft = (xl, yl) + delta1 (0, yl - yr) - delta2 (xr - xl, 0),
    height = delta3 d, width = delta4 d. Taken literally, the top edge would run through the eyes
    (cutting off the brows) and the side margins would be 0.6 d and 0.2 d: not a face crop. With
    delta1 as the margin along the eye line and delta2 the margin above it, the numbers fit
    a symmetric crop: 0.4 + 1 + 0.4 = 1.8 = delta4 wide, eyes 0.6 d below the top edge, 1.6 d
    of face below them. That reading is used: in the eye-levelled frame the canvas spans
    [-delta1 d, (delta4 - delta1) d] x [-delta2 d, (delta3 - delta2) d] around the left eye
    centre. The canvas is then scaled to (H, W); an (H, W) whose aspect is not
    delta3 : delta4 (2.2 : 1.8) stretches the face along one axis."""
    return _to_canvas(_canonical(), size, deltas)


def _ring(size: tuple[int, int], deltas: tuple) -> np.ndarray:
    """Border control points (K, 2) in output px: two rings around the box that holds both
    the canvas and the canonical landmarks (the jaw and chin stick out of STRCN's canvas)."""
    d1, d2, d3, d4 = deltas
    shape = _canonical()
    lo = np.minimum(shape.min(0), (-d1, -d2))
    hi = np.maximum(shape.max(0), (d4 - d1, d3 - d2))
    points = []
    for margin in RING_MARGINS:
        (x0, y0), (x1, y1) = lo - margin, hi + margin
        nx = int(np.ceil((x1 - x0) / RING_SPACING))
        ny = int(np.ceil((y1 - y0) / RING_SPACING))
        xs, ys = np.linspace(x0, x1, nx + 1), np.linspace(y0, y1, ny + 1)
        points += [np.stack([xs, np.full_like(xs, y0)], -1), np.stack([xs, np.full_like(xs, y1)], -1),
                   np.stack([np.full_like(ys[1:-1], x0), ys[1:-1]], -1),
                   np.stack([np.full_like(ys[1:-1], x1), ys[1:-1]], -1)]
    return _to_canvas(np.concatenate(points), size, deltas)


def similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, shift; no reflection) source (M, 2)
    -> target (M, 2), as a (2, 3) matrix A with target ~ A @ [x, y, 1]."""
    zs = source[:, 0] + 1j * source[:, 1]
    zt = target[:, 0] + 1j * target[:, 1]
    ms, mt = zs.mean(), zt.mean()
    a = np.vdot(zs - ms, zt - mt) / np.vdot(zs - ms, zs - ms)     # scale * exp(i angle)
    b = mt - a * ms
    return np.array([[a.real, -a.imag, b.real], [a.imag, a.real, b.imag]])


@dataclass
class Alignment:
    """One clip's warp onto the canonical face: output px -> source px, and its remap tables."""

    size: tuple[int, int]      # (H, W) of the aligned frames
    inverse: LWM               # output px -> source px, fitted on reference + ring points
    fallback: np.ndarray       # (2, 3) similarity output -> source, for points no LWM point reaches
    map_x: np.ndarray          # (H, W) float32 source x of every output pixel
    map_y: np.ndarray          # (H, W) float32 source y

    def warp(self, frames: np.ndarray) -> np.ndarray:
        """Frames (T, H0, W0[, C]) -> (T, H, W[, C]) with this one map (bilinear, edges
        replicated)."""
        return np.stack([cv2.remap(f, self.map_x, self.map_y, cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REPLICATE) for f in frames])

    def to_source(self, points: np.ndarray) -> np.ndarray:
        """Output px (P, 2) -> source px (P, 2), exactly as the frames were sampled."""
        points = np.asarray(points, np.float64)
        out = self.inverse(points)
        missing = np.isnan(out).any(1)
        out[missing] = points[missing] @ self.fallback[:, :2].T + self.fallback[:, 2]
        return out

    def to_aligned(self, points: np.ndarray, tol: float = 1e-6) -> np.ndarray:
        """Source px (P, 2) -> output px (P, 2): where those source points appear in the aligned
        frames. The warp is defined output -> source, so this solves to_source(q) = p by Newton
        steps (finite-difference Jacobian) from the similarity's inverse; consistent with the
        pixels, unlike a separately fitted forward LWM, which only approximates the inverse."""
        points = np.asarray(points, np.float64)
        a = self.fallback[:, :2]
        q = (points - self.fallback[:, 2]) @ np.linalg.inv(a).T                # (P, 2)
        h = 1e-3
        for _ in range(30):
            probe = np.concatenate([q, q + (h, 0), q + (0, h)])
            f = self.to_source(probe).reshape(3, len(q), 2)
            jac = np.stack([f[1] - f[0], f[2] - f[0]], -1) / h                 # (P, 2, 2)
            step = np.linalg.solve(jac, (f[0] - points)[..., None])[..., 0]
            q = q - step
            if np.abs(step).max(initial=0) < tol:
                break
        return q


def fit_alignment(landmarks: np.ndarray, size: tuple[int, int], n_neighbours: int = N_NEIGHBOURS,
                  deltas: tuple = DELTAS) -> Alignment:
    """The warp that puts a face with these landmarks (68, 2) (source px) onto
    reference_shape(size, deltas).

    Control points: the 68 canonical landmarks -> the detected ones, plus two rings of border
    points outside the canvas, mapped by the least-squares similarity of the 68 pairs. The rings
    make the map defined and continuous on the whole canvas, with the face's own non-rigid fit
    fading into the similarity beyond the jaw; MATLAB's LWM instead leaves pixels that no
    control point reaches at 0. Pixels that even the rings miss take the similarity, which is
    discontinuous at the edge of such a hole: on the default canvas there are none for
    n_neighbours >= 8, while with 6 or 7 the cheeks below the eyes can fall between the reach of
    the jaw's, the eyes' and the nose's polynomials."""
    landmarks = np.asarray(landmarks, np.float64)
    if landmarks.shape != (68, 2):
        raise ValueError(f"need 68 landmarks of shape (68, 2), got {landmarks.shape}")
    reference = reference_shape(size, deltas)                                   # (68, 2)
    ring = _ring(size, deltas)                                                   # (K, 2)
    fallback = similarity(reference, landmarks)                                 # (2, 3)
    controls = np.concatenate([reference, ring])
    targets = np.concatenate([landmarks, ring @ fallback[:, :2].T + fallback[:, 2]])
    inverse = LWM.fit(controls, targets, n_neighbours)
    map_x, map_y = warp_map(inverse, size)                                      # (H, W) each
    missing = np.isnan(map_x)
    if missing.any():
        y, x = np.nonzero(missing)
        map_x[missing] = fallback[0, 0] * x + fallback[0, 1] * y + fallback[0, 2]
        map_y[missing] = fallback[1, 0] * x + fallback[1, 1] * y + fallback[1, 2]
    return Alignment(tuple(size), inverse, fallback, map_x, map_y)


@dataclass
class AlignedClip:
    frames: np.ndarray              # (T, h, w[, 3]) uint8 aligned frames
    landmarks: np.ndarray           # (68, 2) the onset's detected landmarks in the aligned frame
    source_landmarks: np.ndarray    # (68, 2) the onset's detected landmarks, source px
    score: float                    # detector score of the onset's face
    alignment: Alignment            # the map shared by every frame


def align_clip(frames: np.ndarray, onset_index: int, size: tuple[int, int],
               n_neighbours: int = N_NEIGHBOURS, deltas: tuple = DELTAS) -> AlignedClip:
    """Crop and align a clip (T, H, W[, 3]) uint8 to (T, size[0], size[1][, 3]): landmarks
    from the onset frame only, one LWM warp for every frame (Pfister et al., STRCN)."""
    frames = np.asarray(frames)
    if frames.ndim not in (3, 4) or len(frames) == 0:
        raise ValueError(f"need frames of shape (T, H, W[, 3]), got {frames.shape}")
    if not 0 <= onset_index < len(frames):
        raise ValueError(f"onset_index {onset_index} is outside the clip's {len(frames)} frames")
    landmarks, score = detect_landmarks(frames[onset_index])
    alignment = fit_alignment(landmarks, size, n_neighbours, deltas)
    return AlignedClip(alignment.warp(frames), alignment.to_aligned(landmarks), landmarks, score,
                       alignment)


# --------------------------------------------------------------------------- face tracking
#
# The alignment is fitted on the onset frame and applied to every frame, which is right while the
# head stays put; a face that leaves the frame, moves away or is covered would be processed
# silently, its dynamic images made of the background. Two checks find such frames:
#
# - appearance, every frame (it costs a blur and nine correlations of the aligned frame): the
#   aligned frame is cut into a 3 x 3 grid and each cell's normalised cross-correlation with the
#   onset's cell is taken after a Gaussian blur of 2 % of the frame width (2 px at 98 px; it
#   removes sensor noise and the pixel or two a micro-expression moves). Correlation ignores
#   gain and offset per cell, so flicker and shading do not count. A frame DIFFERS when at least
#   OCCLUDED_CELLS cells correlate below CELL_NCC. Measured on 12 synthetic clips (170x140 and
#   160x160, colour and grey, 3 px AUs with the strongest shading the synthesizer draws, aligned
#   at 120 x 98): clean frames 0 cells below 0.3 (lowest cell 0.49); both eyes painted shut
#   (a blink) 0-1 cell; a textured skin-coloured hand over the lower half of the face 2-3 cells;
#   noise or a blurred backdrop in place of the face 5-9 cells; the face shifted by 5 % of its
#   width 0-1 cell, by 10 % 4-7 cells. Over all 3,122 frames of the default synthetic
#   databases the lowest cell is 0.67 and no frame differs.
# - detection, every `stride`-th frame from the onset and every frame that differs: dlib's
#   detector and landmarks as on the onset (2.8 ms per 170x140 frame with a face, 10.5 ms
#   without one, where the upsampled pass runs too; the rest of align costs 2.4 ms a frame on
#   the default synthetic clips, so a stride of 4 adds 0.95 ms a frame, every frame 3.1 ms).
#   No face: LOST, unless the frame differs in some cells while most still match the onset's
#   (dlib misses a face whose lower half a hand covers): OCCLUDED. A face whose landmarks'
#   centroid (of the detection nearest the onset's position) lies farther than `max_shift` x
#   the onset's jaw width (landmarks 0-16) from the onset's: MOVED; the centroid, not the box,
#   because dlib's boxes step with its scale pyramid (11 px in y between frames of one still
#   synthetic face) while the 68-point centroid moves with the face. A face in place in a frame
#   that differs: OCCLUDED (something covers it, or it changed beyond an expression).
TRACK_GRID = (3, 3)        # cells (rows, columns) of the aligned frame compared with the onset's
TRACK_BLUR = 0.02          # Gaussian sigma before comparing, fraction of the aligned width
CELL_NCC = 0.3             # a cell correlating below this with the onset's has changed
OCCLUDED_CELLS = 2         # a frame with this many changed cells differs from the onset


def cell_similarity(frames: np.ndarray, onset_index: int) -> np.ndarray:
    """Normalised cross-correlation (T, cells) of each aligned frame's grid cells with the
    onset frame's, after the blur (see TRACK_GRID); 1 for the onset itself, 0 for a flat cell."""
    grey = frames.astype(np.float32)                                # (T, h, w[, 3])
    if grey.ndim == 4:
        grey = grey @ np.array([0.299, 0.587, 0.114], np.float32)  # (T, h, w)
    sigma = TRACK_BLUR * grey.shape[2]
    grey = np.stack([cv2.GaussianBlur(f, (0, 0), sigma) for f in grey])
    rows, cols = TRACK_GRID
    h, w = grey.shape[1:]
    out = []
    for i in range(rows):
        for j in range(cols):
            cell = grey[:, i * h // rows:(i + 1) * h // rows, j * w // cols:(j + 1) * w // cols]
            cell = cell.reshape(len(grey), -1)
            cell = cell - cell.mean(1, keepdims=True)                # (T, pixels)
            ref = cell[onset_index]
            norm = np.sqrt((cell ** 2).sum(1) * (ref ** 2).sum())
            out.append(np.where(norm > 0, cell @ ref / np.maximum(norm, 1e-12), 0.0))
    return np.stack(out, 1)                                         # (T, cells)


@dataclass
class Tracking:
    """Where a clip's face is not what the onset's alignment assumes; 0-based frame indices."""

    checked: list[int]         # frames the detector ran on (the onset's excluded)
    lost: list[int]            # no face found, and most of the aligned frame changed
    moved: list[int]           # the face's centroid moved beyond max_shift from the onset's
    occluded: list[int]        # the face in place (or most of it), its appearance changed
    similarity: np.ndarray     # (T, cells) grid-cell correlation with the onset frame

    @property
    def bad(self) -> list[int]:
        return sorted(set(self.lost) | set(self.moved) | set(self.occluded))


def track_face(frames: np.ndarray, clip: AlignedClip, onset_index: int, stride: int,
               max_shift: float) -> Tracking:
    """Check the face of every frame of a clip (T, H, W[, 3]) aligned as `clip` against its onset
    frame: appearance in every frame, dlib every `stride` frames from the onset and wherever the
    appearance changed (see the notes above TRACK_GRID)."""
    similarity = cell_similarity(clip.frames, onset_index)                     # (T, cells)
    differs = (similarity < CELL_NCC).sum(1) >= OCCLUDED_CELLS                 # (T,)
    strided = (np.arange(len(frames)) - onset_index) % stride == 0
    checked = [i for i in np.flatnonzero(strided | differs).tolist() if i != onset_index]
    centre = clip.source_landmarks.mean(0)                                     # (2,)
    width = np.linalg.norm(clip.source_landmarks[16] - clip.source_landmarks[0])
    lost, moved, occluded = [], [], []
    for i in checked:
        image = np.ascontiguousarray(frames[i])
        rects, _ = face_boxes(image)
        if not rects:               # part of the face changed, most still there: covered
            matching = int((similarity[i] >= CELL_NCC).sum())
            covered = differs[i] and matching > similarity.shape[1] / 2
            (occluded if covered else lost).append(i)
            continue
        nearest = min(rects, key=lambda r: np.hypot(r.dcenter().x - centre[0],
                                                    r.dcenter().y - centre[1]))
        shift = np.linalg.norm(_landmarks(image, nearest).mean(0) - centre)
        if shift > max_shift * width:
            moved.append(i)
        elif differs[i]:
            occluded.append(i)
    return Tracking(checked, lost, moved, occluded, similarity)
