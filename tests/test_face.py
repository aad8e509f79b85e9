"""Face detection and clip alignment against known transforms and the synthetic ground truth;
temporal resampling against its definitions."""

from __future__ import annotations

from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
from skimage import data

from pipeline.face import (DELTAS, AlignedClip, FaceError, align_clip, detect_landmarks,
                           eye_centres, fit_alignment, reference_shape)
from pipeline.temporal import interpolate_frames, resample, tim_curve, tim_interpolate

SIZE = (132, 108)        # (H, W): STRCN's 2.2 : 1.8 canvas, 60 px between the eye centres
FACE_BOX = (slice(20, 250), slice(110, 330))   # the astronaut's head in skimage's 512 x 512


def mean_distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b, axis=1).mean())


def face_ncc(a: np.ndarray, b: np.ndarray, size: tuple[int, int]) -> float:
    """Normalised correlation of two aligned RGB frames inside the reference landmarks' hull."""
    mask = np.zeros(size, np.uint8)
    hull = cv2.convexHull(np.round(reference_shape(size)).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 1)
    ga, gb = (cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)[mask > 0].astype(np.float64) for f in (a, b))
    return float(((ga - ga.mean()) * (gb - gb.mean())).mean() / (ga.std() * gb.std()))


@pytest.fixture(scope="module")
def astronaut_pair() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The astronaut's head and the same head rotated 8 degrees, scaled 0.8 and shifted, with
    the affine map (2, 3) between their pixel grids."""
    image = data.astronaut()
    marks, _ = detect_landmarks(image)
    affine = cv2.getRotationMatrix2D(tuple(marks.mean(0)), 8.0, 0.8)
    affine[:, 2] += (12.0, -9.0)
    moved = cv2.warpAffine(image, affine, image.shape[1::-1], flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REFLECT101)
    offset = np.array([FACE_BOX[1].start, FACE_BOX[0].start], np.float64)
    crop_affine = affine.copy()                         # crop px -> moved crop px
    crop_affine[:, 2] = affine[:, :2] @ offset + affine[:, 2] - offset
    return image[FACE_BOX], moved[FACE_BOX], crop_affine


def test_reference_shape_follows_the_eye_centred_canvas():
    ref = reference_shape(SIZE)
    left, right = eye_centres(ref)
    d1, d2, d3, d4 = DELTAS
    h, w = SIZE
    np.testing.assert_allclose(left, (d1 / d4 * w - 0.5, d2 / d3 * h - 0.5), atol=1e-9)
    np.testing.assert_allclose(right, ((d1 + 1) / d4 * w - 0.5, d2 / d3 * h - 0.5), atol=1e-9)
    assert ref[8, 1] > ref[57, 1] > ref[33, 1] > ref[27, 1] > ref[19, 1]    # chin ... brow
    jaw = ref[:17]                                        # symmetric about the canvas centre
    np.testing.assert_allclose(jaw[:, 0] + jaw[::-1, 0], (w - 1) * np.ones(17), atol=1e-9)
    stretched = reference_shape((2 * h, w))
    np.testing.assert_allclose(stretched[:, 0], ref[:, 0])


def test_real_face_is_aligned_whatever_its_pose(astronaut_pair):
    """(a) A real face and its rotated, scaled, shifted copy land on the same canonical face."""
    still, moved, crop_affine = astronaut_pair
    ref = reference_shape(SIZE)
    a = align_clip(np.stack([still] * 3), 0, SIZE)
    b = align_clip(np.stack([moved] * 3), 1, SIZE)
    assert isinstance(a, AlignedClip) and a.frames.shape == (3, *SIZE, 3) and a.frames.dtype == np.uint8
    errors = [mean_distance(c.landmarks, ref) for c in (a, b)]
    detection = mean_distance(b.source_landmarks, a.source_landmarks @ crop_affine[:, :2].T
                              + crop_affine[:, 2])
    ncc = face_ncc(a.frames[0], b.frames[0], SIZE)
    print(f"\nastronaut: landmarks -> reference {errors[0]:.2f} / {errors[1]:.2f} px (still / moved), "
          f"detection vs the known affine {detection:.2f} px, face NCC {ncc:.3f}")
    assert max(errors) < 1.5 and detection < 1.5 and ncc > 0.9
    assert np.array_equal(a.frames[0], a.frames[2])


def test_grey_clips_are_aligned_like_colour_ones(astronaut_pair):
    """SAMM and SMIC NIR are grey: (T, H, W) clips give (T, h, w) frames, same landmarks."""
    still = astronaut_pair[0]
    grey = cv2.cvtColor(still, cv2.COLOR_RGB2GRAY)
    colour, mono = align_clip(still[None], 0, SIZE), align_clip(grey[None], 0, SIZE)
    assert mono.frames.shape == (1, *SIZE)
    assert mean_distance(mono.source_landmarks, colour.source_landmarks) < 1.0
    assert face_ncc(colour.frames[0], cv2.cvtColor(mono.frames[0], cv2.COLOR_GRAY2RGB), SIZE) > 0.95


def casme2_clips(root: Path, count: int) -> list[tuple[np.ndarray, h5py.Group, str]]:
    """(frames (T, H, W, 3) RGB, truth group) of the first CASME II-like clips on disk."""
    out = []
    with h5py.File(root / "ground_truth.h5", "r") as truth:
        for subject in sorted(truth["casme2"]):
            for clip in sorted(truth["casme2"][subject]):
                group = truth["casme2"][subject][clip]
                folder = root / "CASME2" / "Cropped" / subject / clip
                frames = np.stack([cv2.cvtColor(cv2.imread(str(folder / f"reg_img{n}.jpg")),
                                                cv2.COLOR_BGR2RGB) for n in group["frame_numbers"][()]])
                out.append((frames, {"landmarks": group["landmarks"][()],
                                     "onset": int(group.attrs["onset"])}, f"{subject}/{clip}"))
                if len(out) == count:
                    return out
    return out


def test_synthetic_clips_against_their_ground_truth(tiny_synthetic):
    """(b) Detected onset landmarks vs the true ones, and the true ones after alignment vs the
    reference shape, on CASME II-like clips read back from their JPEGs."""
    root, _ = tiny_synthetic
    ref = reference_shape(SIZE)
    lines, detection, aligned = [], [], []
    for frames, truth, name in casme2_clips(Path(root), 5):
        onset = truth["onset"]
        clip = align_clip(frames, onset, SIZE)
        true = truth["landmarks"][onset]                                     # (68, 2)
        detection.append(mean_distance(clip.source_landmarks, true))
        aligned.append(mean_distance(clip.alignment.to_aligned(true), ref))
        lines.append(f"{name}: detection {detection[-1]:.2f} px, true -> reference {aligned[-1]:.2f} px")
        assert clip.frames.shape == (len(frames), *SIZE, 3)
    print("\n" + "\n".join(lines))
    assert len(detection) == 5
    assert max(detection) < 2.0 and max(aligned) < 1.5


def test_no_face_is_a_clear_error():
    """(c)"""
    noise = np.random.default_rng(0).integers(0, 256, (170, 140, 3), dtype=np.uint8)
    for image in (np.zeros((170, 140, 3), np.uint8), noise, noise[..., 0]):
        with pytest.raises(FaceError, match="no face found in the 140x170 image"):
            detect_landmarks(image)
    with pytest.raises(FaceError, match="no face found"):
        align_clip(np.zeros((4, 170, 140, 3), np.uint8), 0, SIZE)
    with pytest.raises(ValueError, match="uint8"):
        detect_landmarks(np.zeros((170, 140, 3), np.float32))
    with pytest.raises(ValueError, match="onset_index"):
        align_clip(np.zeros((4, 170, 140, 3), np.uint8), 4, SIZE)


def test_every_frame_uses_the_onset_map(astronaut_pair):
    """(d) A clip whose frames differ: each aligned frame is that frame through the onset's map,
    whatever else is in the clip; the landmarks come from the onset frame alone."""
    still, moved, _ = astronaut_pair
    frames = np.stack([still, moved, np.zeros_like(still), still[:, ::-1]])
    clip = align_clip(frames, 0, SIZE)
    for k in range(len(frames)):
        np.testing.assert_array_equal(clip.alignment.warp(frames[k:k + 1])[0], clip.frames[k])
        alone = align_clip(frames[[0, k]], 0, SIZE)
        np.testing.assert_array_equal(alone.frames[1], clip.frames[k])
    np.testing.assert_array_equal(clip.source_landmarks, detect_landmarks(still)[0])


def test_alignment_map_covers_the_canvas_and_inverts(astronaut_pair):
    """Every output pixel is reached by the LWM itself (no similarity fallback) from 8
    neighbours up; with 6 a few cheek pixels fall back; to_aligned inverts to_source."""
    marks, _ = detect_landmarks(astronaut_pair[1])
    grid = np.stack(np.meshgrid(np.arange(SIZE[1]), np.arange(SIZE[0])), -1).reshape(-1, 2)
    for n in (6, 8, 12, 24):
        alignment = fit_alignment(marks, SIZE, n_neighbours=n)
        covered = alignment.inverse.covered(grid.astype(np.float64))
        assert covered.all() if n >= 8 else covered.mean() > 0.95
        assert np.isfinite(alignment.map_x).all() and np.isfinite(alignment.map_y).all()
        back = alignment.to_source(alignment.to_aligned(marks))
        np.testing.assert_allclose(back, marks, atol=1e-6)


def test_interpolate_frames_edge_cases():
    """(e)"""
    ramp = np.array([0, 10, 20], np.uint8)
    np.testing.assert_array_equal(interpolate_frames(ramp, 5), [0, 5, 10, 15, 20])
    np.testing.assert_array_equal(interpolate_frames(np.array([0, 5], np.uint8), 3), [0, 3, 5])
    assert interpolate_frames(ramp, 5).dtype == np.uint8
    one = np.full((1, 4, 3), 7, np.uint8)
    assert interpolate_frames(one, 6).shape == (6, 4, 3) and (interpolate_frames(one, 6) == 7).all()
    clip = np.random.default_rng(0).random((9, 5, 4, 3)).astype(np.float32)
    np.testing.assert_array_equal(interpolate_frames(clip, 9), clip)
    assert interpolate_frames(clip, 17).dtype == np.float32
    np.testing.assert_allclose(interpolate_frames(clip, 17)[1::2], (clip[:-1] + clip[1:]) / 2,
                               rtol=1e-6)
    np.testing.assert_array_equal(interpolate_frames(clip, 3), clip[[0, 4, 8]])
    assert interpolate_frames(clip, 1).shape == (1, 5, 4, 3)
    with pytest.raises(ValueError, match="length"):
        interpolate_frames(clip, 0)


def test_tim_curve_is_the_path_graph_laplacian_embedding():
    n = 8
    laplacian = 2 * np.eye(n) - np.eye(n, k=1) - np.eye(n, k=-1)
    laplacian[0, 0] = laplacian[-1, -1] = 1
    y = tim_curve(n, np.arange(1, n + 1) / n)                              # (n - 1, n)
    eigen = 2 - 2 * np.cos(np.pi * np.arange(1, n) / n)
    np.testing.assert_allclose(laplacian @ y.T, y.T * eigen, atol=1e-12)
    np.testing.assert_allclose(y.sum(1), 0, atol=1e-12)


def test_tim_reproduces_the_frames_and_follows_the_curve():
    rng = np.random.default_rng(5)
    clip = rng.integers(0, 256, (11, 6, 5, 3), dtype=np.uint8)
    np.testing.assert_array_equal(tim_interpolate(clip, 11), clip)
    assert tim_interpolate(clip, 30).shape == (30, 6, 5, 3) and tim_interpolate(clip, 30).dtype == np.uint8
    # Frames that lie on the model's curve are resampled exactly along it: smooth output.
    n, pixels = 7, rng.normal(size=(3, 20))
    curve = lambda t: pixels[0] + tim_curve(n, t)[:2].T @ pixels[1:]        # (len(t), 20)
    frames = curve(np.arange(1, n + 1) / n)
    np.testing.assert_allclose(tim_interpolate(frames, 25), curve(np.linspace(1 / n, 1, 25)),
                               atol=1e-10)
    np.testing.assert_array_equal(tim_interpolate(clip[:1], 4), np.repeat(clip[:1], 4, 0))
    flat = np.full((5, 3), 9.0)
    np.testing.assert_allclose(tim_interpolate(flat, 12), 9.0)


def test_resample_chooses_the_interpolation():
    clip = np.random.default_rng(3).integers(0, 255, (7, 6, 5), np.uint8)
    assert np.array_equal(resample(clip, 11), interpolate_frames(clip, 11))
    assert np.array_equal(resample(clip, 11, "tim"), tim_interpolate(clip, 11))
    with pytest.raises(ValueError, match="unknown temporal interpolation 'cubic'"):
        resample(clip, 11, "cubic")
