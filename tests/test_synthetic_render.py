"""The synthetic renderer against its own ground truth: identities, landmarks, AU motion."""

from __future__ import annotations

import cv2
import dlib
import numpy as np
import pytest

from pipeline.synthetic.faces import base_face, make_identity, predictor_path
from pipeline.synthetic.motion import (AU_BUMPS, AU_TOKEN, EMOTION_AUS, au_string,
                                       displacement_field, field_at, intensity_profile,
                                       field_grid, render_clip, render_macro, rigid,
                                       sample_aus, sampling_map)

SMALL, CASME2 = (170, 140), (340, 280)        # (H, W): default and CASME II "Cropped" scale
NATIVE_LABELS = {
    "casme2": ["happiness", "surprise", "disgust", "repression", "others", "fear", "sadness"],
    "samm": ["Anger", "Other", "Happiness", "Surprise", "Contempt", "Disgust", "Fear", "Sadness"],
    "smic": ["negative", "positive", "surprise"],
    "casme": ["disgust", "repression", "surprise", "tense", "happiness", "fear", "sadness",
              "contempt"],
    "macro": ["anger", "disgust", "fear", "happiness", "sadness", "surprise", "contempt", "neutral"],
}


@pytest.fixture(scope="module")
def dlib_models():
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(predictor_path()))


@pytest.fixture(scope="module")
def face():
    return make_identity(4, SMALL)


def still_clip(identity, aus, amplitude=2.0):
    """A 9-frame clip with no jitter and no noise: apex at frame 4."""
    return render_clip(identity, aus, 9, 0, 4, 8, amplitude, np.random.default_rng(1),
                       jitter_px=0.0, noise_std=0.0)


def test_base_face_is_the_astronaut_with_landmarks_inside():
    image, marks = base_face()
    assert image.dtype == np.float32 and image.ndim == 3 and 0 <= image.min() < image.max() <= 1
    h, w = image.shape[:2]
    assert marks.shape == (68, 2) and (marks > 0).all() and (marks < (w, h)).all()
    assert marks[8, 1] > marks[30, 1] > marks[19, 1]              # chin below nose below brow
    image[:] = 0                                                   # a copy: the cache survives
    assert base_face()[0].max() > 0


def test_identity_is_deterministic_and_differs_per_seed():
    a, again, other = make_identity(5, SMALL), make_identity(5, SMALL), make_identity(6, SMALL)
    assert a.image.shape == (170, 140, 3) and a.image.dtype == np.float32
    assert a.image.tobytes() == again.image.tobytes()
    assert np.array_equal(a.landmarks, again.landmarks)
    assert np.abs(a.image - other.image).mean() > 0.02
    assert np.abs(a.landmarks - other.landmarks).max() > 1.0
    grey = make_identity(5, SMALL, grey=True).image
    assert np.array_equal(grey[..., 0], grey[..., 2]) and not np.array_equal(a.image[..., 0], a.image[..., 2])


@pytest.mark.parametrize("size", [SMALL, CASME2, (160, 160)])
def test_dlib_finds_the_face_and_lands_on_the_true_landmarks(size, dlib_models):
    """HOG finds every face without upsampling; the 68-point fit lies within ~1-1.5 px (mean)
    of the truth, i.e. the truth is where dlib itself would put the landmarks."""
    detector, predictor = dlib_models
    errors = []
    for seed in range(4):
        identity = make_identity(seed, size)
        image = np.rint(identity.image * 255).astype(np.uint8)
        faces = detector(image, 0)
        assert len(faces) == 1, (size, seed)
        box = faces[0]
        cx, cy = identity.landmarks[27:36].mean(0)                 # nose inside the box
        assert box.left() < cx < box.right() and box.top() < cy < box.bottom()
        shape = predictor(image, box)
        found = np.array([(p.x, p.y) for p in shape.parts()], np.float64)
        errors.append(np.linalg.norm(found - identity.landmarks, axis=1).mean())
    iod = np.linalg.norm(identity.landmarks[42:48].mean(0) - identity.landmarks[36:42].mean(0))
    assert np.mean(errors) < 0.035 * iod, errors                  # 1.6 px at 140 wide, 3.2 at 280


def test_intensity_rises_from_onset_to_one_at_apex_and_falls_back():
    s = intensity_profile(20, 3, 9, 17)
    assert s[:4].tolist() == [0, 0, 0, 0] and s[9] == 1 == s.max() and abs(s[17]) < 1e-12
    assert (np.diff(s[3:10]) > 0).all() and (np.diff(s[9:18]) < 0).all() and s[18:].max() == 0
    assert np.abs(np.diff(s, 2)).max() < 0.15                      # smooth: no kinks
    assert intensity_profile(5, 2, 2, 4)[2] == 1                   # apex at onset
    assert intensity_profile(5, 0, 4, 4).tolist()[-1] == 1         # apex at offset


def test_rendered_clip_is_deterministic_and_seed_dependent(face):
    args = (face, ["6", "12"], 6, 0, 3, 5, 1.5)
    frames, truth = render_clip(*args, np.random.default_rng(3))
    again, _ = render_clip(*args, np.random.default_rng(3))
    other, _ = render_clip(*args, np.random.default_rng(4))
    assert frames.shape == (6, 170, 140, 3) and frames.dtype == np.uint8
    assert frames.tobytes() == again.tobytes() and frames.tobytes() != other.tobytes()
    assert truth.landmarks.shape == (6, 68, 2) and truth.jitter.shape == (6, 3)
    grey, _ = render_clip(face, ["6", "12"], 6, 0, 3, 5, 1.5, np.random.default_rng(3), grey=True)
    assert grey.shape == (6, 170, 140)


def test_apex_field_peaks_at_the_amplitude(face):
    _, truth = still_clip(face, ["1", "2", "5"], amplitude=1.7)
    d = displacement_field(truth, SMALL)                           # (H, W, 2)
    assert np.linalg.norm(d, axis=-1).max() == pytest.approx(1.7, rel=1e-9)
    assert truth.amplitude == 1.7
    half = displacement_field(truth, SMALL, t=2)                   # s = 0.5 half-way up
    assert np.allclose(half, truth.intensity[2] * d) and truth.intensity[2] == pytest.approx(0.5)
    assert not displacement_field(truth, SMALL, t=0).any()


def test_sampling_map_inverts_the_forward_motion_to_a_thousandth_px(face):
    """Backward warping needs p with rigid(p + s d(p)) = q for every output pixel q."""
    _, truth = render_clip(face, ["4", "7", "12"], 3, 0, 1, 2, 2.0, np.random.default_rng(0),
                           jitter_px=0.5)
    bumps = (truth.centres, truth.sigmas, truth.vectors)
    field = field_grid(SMALL, *bumps)
    q = np.stack(np.meshgrid(np.arange(140), np.arange(170)), -1)
    for s, jitter in [(1.0, truth.jitter[1]), (0.4, np.array([0.7, -0.3, 0.01]))]:
        p = sampling_map(field, bumps, s, jitter, truth.pivot).astype(np.float64)
        forward = rigid(p + s * field_at(p, *bumps), jitter, truth.pivot)
        assert np.abs(forward - q).max() < 1e-3
    assert np.abs(sampling_map(field, bumps, 1.0, np.zeros(3), truth.pivot) - q).max() > 1.0


def test_warping_the_apex_back_by_the_true_field_restores_the_onset(face):
    """apex(p + d(p)) = onset(p): the rendered motion is the stated field, and its size is right
    (scaling the field by 0.8 or 1.2 restores the onset far worse)."""
    frames, truth = still_clip(face, ["6", "12"])
    onset, apex = (f.astype(np.float32) for f in (frames[0], frames[4]))
    d = displacement_field(truth, SMALL).astype(np.float32)
    moving = np.linalg.norm(d, axis=-1) > 0.5 * truth.amplitude
    q = np.stack(np.meshgrid(np.arange(140), np.arange(170)), -1).astype(np.float32)

    def restored_error(scale: float) -> float:
        grid = q + scale * d
        back = cv2.remap(apex, grid[..., 0], grid[..., 1], cv2.INTER_CUBIC)
        return float(np.abs(back - onset)[moving].mean())

    errors = {k: restored_error(k) for k in (0.0, 0.8, 1.0, 1.2)}
    assert errors[1.0] < 0.15 * errors[0.0]
    assert errors[1.0] < 0.5 * min(errors[0.8], errors[1.2]), errors


def test_tvl1_flow_tracks_the_true_displacement(face):
    """Dense optical flow onset -> apex finds the true field (endpoint error well below the
    motion itself); flow is how later stages see the motion."""
    frames, truth = render_clip(face, ["1", "2"], 9, 0, 4, 8, 2.0, np.random.default_rng(1),
                                jitter_px=0.0, noise_std=0.0, grey=True)
    flow = cv2.optflow.DualTVL1OpticalFlow_create().calc(frames[0], frames[4], None)
    d = displacement_field(truth, SMALL)
    moving = np.linalg.norm(d, axis=-1) > 0.5 * truth.amplitude
    epe = np.linalg.norm(flow - d, axis=-1)
    assert epe[moving].mean() < 0.25 * np.linalg.norm(d, axis=-1)[moving].mean()
    assert epe[np.linalg.norm(d, axis=-1) < 0.05].mean() < 0.05


def test_true_landmarks_follow_the_field_and_the_jitter(face):
    frames, truth = render_clip(face, ["15", "17"], 7, 1, 3, 6, 2.0, np.random.default_rng(2))
    moved = face.landmarks + field_at(face.landmarks, truth.centres, truth.sigmas, truth.vectors)
    for t in range(7):
        expected = rigid(face.landmarks + truth.intensity[t] * (moved - face.landmarks),
                         truth.jitter[t], truth.pivot)
        assert np.allclose(truth.landmarks[t], expected)
    assert 0 < np.abs(truth.jitter[:, :2]).max() <= 2 * 0.3
    _, still = still_clip(face, ["15", "17"])
    shift = np.linalg.norm(still.landmarks[4] - still.landmarks[0], axis=1)
    assert shift.max() <= 2.0 + 1e-9 and shift[57] > 0.5 and shift[19] < 0.01   # lips, not brows


def test_each_emotion_moves_its_own_region(face):
    """Happiness moves the mouth corners, surprise the brows; contempt (R14) one side only."""
    def field_of(aus):
        return displacement_field(still_clip(face, aus)[1], SMALL)

    def centroid(d):
        w = np.linalg.norm(d, axis=-1)
        y, x = np.mgrid[:SMALL[0], :SMALL[1]]
        return np.array([(w * x).sum(), (w * y).sum()]) / w.sum()

    marks = face.landmarks
    happy, surprise, contempt = field_of(["6", "12"]), field_of(["1", "2"]), field_of(["R14"])
    eyes, iod = marks[36:48, 1].mean(), marks[42:48, 0].mean() - marks[36:42, 0].mean()
    assert centroid(happy)[1] > eyes + 0.3 * iod and centroid(surprise)[1] < eyes - 0.3 * iod
    assert centroid(field_of(["12"]))[1] > marks[33, 1]
    assert np.abs(happy - surprise).max() > 1.0
    mag = np.linalg.norm(contempt, axis=-1)
    assert mag[:, : int(marks[27, 0])].sum() > 0.99 * mag.sum()    # subject's right = image left
    assert surprise[..., 1].min() < -1.0 and surprise[..., 1].max() < 0.1   # brows go up


def test_emotion_aus_cover_every_native_label_with_facs_combinations():
    rng = np.random.default_rng(0)
    for labels in NATIVE_LABELS.values():
        for emotion in labels:
            assert emotion in EMOTION_AUS, emotion
            for _ in range(5):
                aus = sample_aus(emotion, rng)
                assert all(AU_TOKEN.fullmatch(a) and AU_TOKEN.fullmatch(a).group(2) in AU_BUMPS
                           for a in aus), (emotion, aus)
    numbers = {e: [{a.lstrip("LR") for a in c} for c in EMOTION_AUS[e]] for e in EMOTION_AUS}
    assert all({"6", "12"} & c for c in numbers["happiness"])
    assert all({"1", "2"} <= c for c in numbers["surprise"])
    assert all("4" in c for c in numbers["anger"])
    assert all({"9", "10"} & c for c in numbers["disgust"])
    assert all(a[0] in "LR" for c in EMOTION_AUS["contempt"] for a in c)
    assert EMOTION_AUS["Other"] == EMOTION_AUS["others"]
    assert EMOTION_AUS["positive"] == EMOTION_AUS["happiness"]
    assert sample_aus("neutral", rng) == [] and sample_aus(" Sadness ", rng)
    with pytest.raises(ValueError, match="joy"):
        sample_aus("joy", rng)


def test_au_string_is_casme2_style():
    assert au_string(["6", "12"]) == "6+12" and au_string(["R14"]) == "R14" and au_string([]) == ""
    assert au_string(["1", "2", "L4"]).split("+") == ["1", "2", "L4"]


def test_macro_expression_is_larger_than_a_micro_one(face):
    rng = np.random.default_rng(9)
    image = render_macro(face, "happiness", rng)
    assert image.shape == (170, 140, 3) and image.dtype == np.uint8
    assert np.array_equal(image, render_macro(face, "happiness", np.random.default_rng(9)))
    neutral = render_macro(face, "neutral", np.random.default_rng(9)).astype(np.float32)
    change = np.abs(render_macro(face, "happiness", np.random.default_rng(9)) - neutral).mean(-1)
    micro, _ = render_clip(face, ["R12"], 2, 0, 1, 1, 2.0, np.random.default_rng(9), 0.0, 0.01)
    micro_change = np.abs(micro[1].astype(np.float32) - micro[0]).mean(-1)
    x, y = np.rint(face.landmarks[48]).astype(int)              # R12 (drawn here): that corner
    corner = (slice(y - 12, y + 12), slice(x - 12, x + 12))
    brows = (slice(0, int(face.landmarks[27, 1])), slice(None))
    assert change[corner].mean() > 3 * change[brows].mean()
    assert change[corner].mean() > 1.5 * micro_change[corner].mean()


def test_bad_timing_or_folding_amplitude_is_refused(face):
    with pytest.raises(ValueError, match="onset <= apex"):
        render_clip(face, ["12"], 5, 3, 2, 4, 1.0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="fold"):
        render_clip(face, ["5"], 3, 0, 1, 2, 40.0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown action unit"):
        render_clip(face, ["99"], 3, 0, 1, 2, 1.0, np.random.default_rng(0))


# --------------------------------------------------------------------------- appearance

def test_shading_appears_where_and_when_the_au_acts(face):
    """AU 12 without motion: only the shading changes the frames, only where its map is, in
    proportion to s_t; the onset (neutral) frame has none."""
    frames, truth = render_clip(face, ["12"], 9, 0, 4, 8, 0.0, np.random.default_rng(1),
                                jitter_px=0.0, noise_std=0.0, shading=0.3)
    neutral = np.clip(np.rint(face.image * 255), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(frames[0], neutral)             # no shading at onset
    change = np.abs(frames.astype(np.float64) - frames[0]).mean(-1)  # (T, H, W)
    where = truth.shading > 0.05
    assert change[4][~(np.abs(truth.shading) > 0.005)].max() <= 1.0      # none away from it
    assert change[4][where].mean() > 5                                   # clearly darker there
    darker = frames[4].astype(float).mean(-1)[truth.shading > 0.5] < neutral.astype(float).mean(-1)[truth.shading > 0.5]
    assert darker.mean() > 0.95
    ratios = [change[t][where].mean() / change[4][where].mean() for t in (1, 2, 3)]
    np.testing.assert_allclose(ratios, truth.intensity[1:4], atol=0.08)   # follows s_t
    assert truth.shading_strength == 0.3


def test_each_au_shades_its_own_region(face):
    """Shading maps sit on the face regions of their AUs: the nasolabial fold of R12 on the
    subject's right (image left) between nose and mouth, AU 25 between the lips, AU 1 + 2 above
    the brows, and the bulges are lighter (negative)."""
    from pipeline.synthetic.shading import au_shading

    marks = face.landmarks

    def centre(aus: list[str]) -> np.ndarray:
        s = np.clip(au_shading(marks, aus, SMALL), 0, None)
        y, x = np.mgrid[0:SMALL[0], 0:SMALL[1]]
        return np.array([(s * x).sum(), (s * y).sum()]) / s.sum()

    right = centre(["R12"])
    assert right[0] < marks[33, 0] and marks[31, 1] < right[1] < marks[48, 1] + 5
    assert centre(["L12"])[0] > marks[33, 0]
    lips = centre(["25"])
    assert np.linalg.norm(lips - marks[60:68].mean(0)) < 3
    assert centre(["1", "2"])[1] < marks[17:27, 1].min()
    assert au_shading(marks, ["6"], SMALL).min() < -0.3                    # the cheek's bulge
    assert not au_shading(marks, [], SMALL).any()


def test_identities_differ_in_texture_not_only_in_geometry_and_tone():
    """Eight subjects brought to one landmark frame: their fine skin detail (a high-pass of the
    face) differs several times more from subject to subject than two renders of one subject
    with sensor noise do."""
    reference = make_identity(0, SMALL).landmarks

    def detail(seed: int, noise_seed: int) -> np.ndarray:
        ident = make_identity(seed, SMALL)
        matrix, _ = cv2.estimateAffinePartial2D(ident.landmarks.astype(np.float32),
                                                reference.astype(np.float32))
        grey = cv2.warpAffine((ident.image @ np.array([0.299, 0.587, 0.114])).astype(np.float32),
                              matrix, SMALL[::-1])
        grey = grey + 0.01 * np.random.default_rng(noise_seed).standard_normal(grey.shape)
        high = grey - cv2.GaussianBlur(grey.astype(np.float32), (0, 0), 2.0)
        box = np.round([reference[1:16, 0].min(), reference[19, 1], reference[1:16, 0].max(),
                        reference[8, 1]]).astype(int)
        return high[box[1]:box[3], box[0]:box[2]]

    subjects = [detail(seed, 0) for seed in range(8)]
    between = np.mean([np.abs(a - b).mean() for i, a in enumerate(subjects) for b in subjects[i + 1:]])
    within = np.mean([np.abs(detail(seed, 0) - detail(seed, 1)).mean() for seed in range(3)])
    print(f"\nfine detail: {between:.4f} between subjects, {within:.4f} within one")
    assert between > 1.5 * within
    contrast = [s.std() for s in subjects]
    assert max(contrast) / min(contrast) > 1.3            # some faces have more texture
