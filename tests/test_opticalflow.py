"""Optical flow against OpenCV's definitions, analytic strain and the synthetic ground truth."""

from __future__ import annotations

import inspect

import cv2
import numpy as np
import pytest

from pipeline.opticalflow import (adjacent_flows, dis, flow_to_rgb, grey_frames, optical_strain,
                                  resize_flow, tvl1)
from pipeline.synthetic.faces import make_identity
from pipeline.synthetic.motion import displacement_field, render_clip

SMALL = (170, 140)


@pytest.fixture(scope="module")
def smile():
    """A 9-frame 6+12 clip peaking at 1.5 px at frame 4, no jitter or noise, the true apex field
    and the face region (inside the convex hull of the 68 landmarks)."""
    face = make_identity(4, SMALL)
    frames, truth = render_clip(face, ["6", "12"], 9, 0, 4, 8, 1.5, np.random.default_rng(1),
                                jitter_px=0.0, noise_std=0.0)
    region = np.zeros(SMALL, np.uint8)
    cv2.fillConvexPoly(region, cv2.convexHull(np.rint(face.landmarks).astype(np.int32)), 1)
    return frames, displacement_field(truth, SMALL), region.astype(bool)


def grid(shape=(40, 50)) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[: shape[0], : shape[1]].astype(np.float64)
    return x, y


def test_tvl1_defaults_are_opencvs():
    solver = cv2.optflow.DualTVL1OpticalFlow_create()
    getters = {"tau": "Tau", "lambda_": "Lambda", "theta": "Theta", "nscales": "ScalesNumber",
               "warps": "WarpingsNumber", "epsilon": "Epsilon",
               "inner_iterations": "InnerIterations", "outer_iterations": "OuterIterations",
               "scale_step": "ScaleStep", "gamma": "Gamma", "median_filtering": "MedianFiltering"}
    params = inspect.signature(tvl1).parameters
    assert set(params) - {"first", "second"} == set(getters)
    for name, getter in getters.items():
        assert params[name].default == pytest.approx(getattr(solver, "get" + getter)()), name


@pytest.mark.parametrize("name", ["shear", "expansion", "rotation", "translation", "quadratic"])
def test_strain_of_analytic_fields_matches_the_closed_form(name):
    """eps = sqrt(u_x^2 + v_y^2 + 0.5 (u_y + v_x)^2); central differences are exact for fields up
    to quadratic, so away from the border the closed form holds to float32 precision."""
    x, y = grid()
    a, b = 0.03, 0.02
    u, v, expected = {
        "shear": (a * y, 0 * x, np.full_like(x, a / np.sqrt(2))),          # u_y = a
        "expansion": (a * x, 0 * x, np.full_like(x, a)),                   # u_x = a
        "rotation": (-a * y, a * x, 0 * x),                                # rigid: no strain
        "translation": (0 * x + 1.5, 0 * x - 0.5, 0 * x),
        "quadratic": (a * x ** 2, b * x * y,                               # u_x = 2ax, v_x = by,
                      np.sqrt((2 * a * x) ** 2 + (b * x) ** 2 + 0.5 * (b * y) ** 2)),   # v_y = bx
    }[name]
    strain = optical_strain(np.stack([u, v], -1).astype(np.float32), "central")
    assert strain.shape == x.shape and strain.dtype == np.float32
    inner = (slice(1, -1), slice(1, -1))
    assert np.allclose(strain[inner], expected[inner], rtol=1e-4, atol=1e-4)
    if name != "quadratic":                  # linear fields: forward differences are exact too
        forward = optical_strain(np.stack([u, v], -1).astype(np.float32))
        assert np.allclose(forward, expected, rtol=1e-4, atol=1e-4)


def softnet_compute_strain(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """SoftNet's computeStrain (github.com/genbing99/SoftNet-SpotME), as written there."""
    import pandas as pd

    u_x = u - pd.DataFrame(u).shift(-1, axis=1)
    v_y = v - pd.DataFrame(v).shift(-1, axis=0)
    u_y = u - pd.DataFrame(u).shift(-1, axis=0)
    v_x = v - pd.DataFrame(v).shift(-1, axis=1)
    return np.array(np.sqrt(u_x ** 2 + v_y ** 2 + 1 / 2 * (u_y + v_x) ** 2).ffill(axis=1).ffill(axis=0))


def test_forward_strain_is_softnets_definition():
    rng = np.random.default_rng(0)
    flow = rng.normal(size=(17, 23, 2)).astype(np.float32)
    np.testing.assert_allclose(optical_strain(flow), softnet_compute_strain(
        flow[..., 0].astype(np.float64), flow[..., 1].astype(np.float64)), rtol=1e-6)
    x, y = grid()
    smooth = np.stack([0.02 * x ** 2, 0.01 * x * y], -1)
    ratio = optical_strain(smooth, "central").mean() / optical_strain(smooth).mean()
    assert ratio != pytest.approx(1.0, abs=1e-3)


def test_central_strain_uses_one_sided_differences_on_the_border():
    x, _ = grid()
    strain = optical_strain(np.stack([0.01 * x ** 2, 0 * x], -1), "central")
    assert strain[5, 0] == pytest.approx(0.01)             # (f[1] - f[0]) / 1 at x = 0
    assert strain[5, -1] == pytest.approx(0.01 * (49 ** 2 - 48 ** 2))
    assert strain[5, 10] == pytest.approx(0.2)              # central: 2 a x exactly


def assert_tracks(flow: np.ndarray, truth: np.ndarray, face: np.ndarray, fraction: float) -> np.ndarray:
    """Mean endpoint error over the face, and where the skin moves by more than 0.75 px, below
    `fraction` of the zero-flow error; returns the moving mask."""
    assert flow.shape == (*SMALL, 2) and flow.dtype == np.float32
    epe, baseline = np.linalg.norm(flow - truth, axis=-1), np.linalg.norm(truth, axis=-1)
    moving = baseline > 0.75
    assert epe[face].mean() < fraction * baseline[face].mean()
    assert epe[moving].mean() < fraction * baseline[moving].mean()
    return moving


def test_tvl1_finds_the_rendered_motion(smile):
    """Onset -> apex on a 1.5 px smile: mean endpoint error over the face ~0.07 px against
    ~0.39 px for zero flow, ~0.16 px against ~1.08 px where the skin moves most."""
    frames, truth, face = smile
    flow = tvl1(frames[0], frames[4])
    moving = assert_tracks(flow, truth, face, 0.25)
    assert flow[..., 1][moving].mean() < -0.5                # the smile lifts: v < 0


def test_dis_finds_the_rendered_motion_more_coarsely(smile):
    """DIS (medium): ~0.12 px over the face, ~0.31 px where it moves."""
    frames, truth, face = smile
    assert_tracks(dis(frames[0], frames[4]), truth, face, 0.5)
    with pytest.raises(ValueError, match="preset"):
        dis(frames[0], frames[4], preset="slow")


def test_inputs_uint8_float_and_rgb_agree(smile):
    frames = smile[0][:2, 40:104, 40:104]                        # (2, 64, 64, 3) RGB uint8
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    reference = cv2.optflow.DualTVL1OpticalFlow_create().calc(grey[0], grey[1], None)
    assert np.array_equal(tvl1(frames[0], frames[1]), reference)
    assert np.array_equal(tvl1(grey[0] / 255.0, grey[1] / 255.0), reference)   # float in [0, 1]
    assert np.array_equal(dis(grey[0] / 255.0, grey[1] / 255.0), dis(*grey))
    assert not np.array_equal(tvl1(*grey, nscales=1), reference)             # parameters reach cv2
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        tvl1(grey[0].astype(np.float32), grey[1].astype(np.float32))
    with pytest.raises(ValueError, match="differ in size"):
        tvl1(grey[0], grey[1][:-1])
    assert np.allclose(grey_frames(frames), np.stack(grey) / 255)


def test_adjacent_flows_pairs_each_frame_with_the_next(smile):
    frames = smile[0][:4, 40:72, 40:72]                          # (4, 32, 32, 3)
    for method, flow in (("tvl1", tvl1), ("dis", dis)):
        flows = adjacent_flows(frames, method)
        assert flows.shape == (3, 32, 32, 2) and flows.dtype == np.float32
        assert np.array_equal(flows[2], flow(frames[2], frames[3]))
    assert adjacent_flows(frames[:1], "dis").shape == (0, 32, 32, 2)
    with pytest.raises(ValueError, match="unknown flow method"):
        adjacent_flows(frames, "flownet2")


def test_resize_flow_keeps_or_rescales_the_vectors():
    flow = np.zeros((100, 80, 2), np.float32)
    flow[...] = (2.0, -1.0)
    assert np.allclose(resize_flow(flow, (28, 28)), (2.0, -1.0))                # FR: as images
    assert resize_flow(flow, (28, 28)).shape == (28, 28, 2)
    assert np.allclose(resize_flow(flow, (50, 20), rescale=True), (2.0 * 20 / 80, -1.0 * 50 / 100))
    assert np.allclose(resize_flow(flow, (200, 160), rescale=True), (4.0, -2.0))


def test_resize_flow_averages_when_shrinking_and_interpolates_when_growing():
    rng = np.random.default_rng(0)
    flow = rng.normal(size=(40, 48, 2)).astype(np.float32)
    assert np.array_equal(resize_flow(flow, (10, 12)),
                          cv2.resize(flow, (12, 10), interpolation=cv2.INTER_AREA))
    assert np.array_equal(resize_flow(flow, (80, 30)),
                          cv2.resize(flow, (30, 80), interpolation=cv2.INTER_LINEAR))
    stripes = np.zeros((8, 8, 2), np.float32)
    stripes[:, ::4] = 1.0                                   # one column in four: area mean 0.25
    assert np.allclose(resize_flow(stripes, (2, 2)), 0.25)


def test_flow_to_rgb_codes_direction_as_hue_and_magnitude_as_value():
    flow = np.zeros((4, 5, 2), np.float32)
    picture = flow_to_rgb(flow)
    assert picture.shape == (4, 5, 3) and picture.dtype == np.uint8 and not picture.any()
    flow[0, 0] = (2.0, 0.0)                                 # right, largest: full red
    flow[0, 1] = (1.0, 0.0)                                 # half as long: half as bright
    flow[0, 2] = (0.0, -2.0)                                # up: a different hue
    picture = flow_to_rgb(flow)
    assert picture[0, 0].tolist() == [255, 0, 0]
    assert picture[0, 1].tolist() == [128, 0, 0]
    assert picture[0, 2].max() == 255 and picture[0, 2].tolist() != [255, 0, 0]
    assert not picture[1:].any()
    assert flow_to_rgb(flow, max_magnitude=4.0)[0, 0].tolist() == [128, 0, 0]
