"""The PyTorch TV-L1 against OpenCV's DualTVL1OpticalFlow (its building blocks and its flow) and
against the synthetic ground truth."""

from __future__ import annotations

import dataclasses
import inspect
import shutil

import cv2
import numpy as np
import pytest
import torch
import yaml

from pipeline.opticalflow import tvl1
from pipeline.synthetic.flowpairs import face_pair, textured_pair
from pipeline.tvl1 import (TVL1Options, median_blur, remap_cubic, resize_linear, tvl1_flow,
                           tvl1_options)
from tests.conftest import REPO

MARGIN = 8                      # px left out along the border when comparing flows


def endpoint(a: np.ndarray, b: np.ndarray) -> float:
    """Mean endpoint distance of two flows (H, W, 2) inside the frame."""
    return float(np.linalg.norm((a - b)[MARGIN:-MARGIN, MARGIN:-MARGIN], axis=-1).mean())


def both_engines(pairs, **options):
    """OpenCV's flow per pair and the torch flow of the whole batch, (N, H, W, 2) each."""
    reference = np.stack([tvl1(a, b, **options) for a, b, _ in pairs])
    first = torch.from_numpy(np.stack([a for a, _, _ in pairs]))
    second = torch.from_numpy(np.stack([b for _, b, _ in pairs]))
    return reference, tvl1_flow(first, second, device="cpu", **options).numpy()


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: thousands of small operations per flow stall when the CPU's cores
    are busy with other work and torch's threads wait on each other (10-20 times slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def small():
    """Two textured pairs (float) and two faces (uint8) at 64 x 64 with both engines' flows."""
    out = {}
    for name, pairs in [("texture", [textured_pair((64, 64), s) for s in range(2)]),
                        ("face", [face_pair((64, 64), s, 1.0) for s in range(2)])]:
        out[name] = (pairs, *both_engines(pairs))
    return out


# --- building blocks --------------------------------------------------------------------------

def test_resize_is_cv2_linear():
    rng = np.random.default_rng(0)
    image = (rng.random((45, 64)) * 255).astype(np.float32)
    by_factor = cv2.resize(image, None, fx=0.8, fy=0.8, interpolation=cv2.INTER_LINEAR)
    ours = resize_linear(torch.from_numpy(image)[None], by_factor.shape, (0.8, 0.8))[0]
    np.testing.assert_allclose(ours.numpy(), by_factor, rtol=1e-5, atol=1e-4)
    by_size = cv2.resize(by_factor, (64, 45), interpolation=cv2.INTER_LINEAR)
    ours = resize_linear(torch.from_numpy(by_factor)[None], (45, 64))[0]
    np.testing.assert_allclose(ours.numpy(), by_size, rtol=1e-5, atol=1e-4)


def test_remap_is_cv2_cubic_with_its_zero_border():
    rng = np.random.default_rng(1)
    image = (rng.random((30, 40)) * 255).astype(np.float32)
    y, x = np.mgrid[0:30, 0:40].astype(np.float32)
    map_x = x + rng.normal(0, 3, x.shape).astype(np.float32)        # some beyond the border
    map_y = y + rng.normal(0, 3, y.shape).astype(np.float32)
    map_x[0, :5] = [-50, -3.5, 41.2, 1e4, -1e4]
    expected = cv2.remap(image, map_x, map_y, cv2.INTER_CUBIC)
    ours = remap_cubic(torch.from_numpy(image)[None, None], torch.from_numpy(map_x)[None],
                       torch.from_numpy(map_y)[None])[0, 0]
    np.testing.assert_allclose(ours.numpy(), expected, atol=1e-3)


@pytest.mark.parametrize("size", [3, 5])
def test_median_is_cv2_median_blur(size):
    image = np.random.default_rng(2).normal(0, 1, (20, 25)).astype(np.float32)
    ours = median_blur(torch.from_numpy(image)[None], size)[0].numpy()
    np.testing.assert_array_equal(ours, cv2.medianBlur(image, size))


# --- the flow ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["texture", "face"])
def test_flow_matches_opencv_at_64(small, name):
    pairs, reference, ours = small[name]
    for i in range(len(pairs)):
        assert endpoint(ours[i], reference[i]) <= 0.03


def test_flow_is_opencvs_to_rounding_without_ipp():
    """OpenCV's wheels resize the pyramid with Intel IPP, which rounds differently from OpenCV's
    own resize in the last bit (resize_linear is bit-exact with the latter). With IPP off these
    pairs give the same flow to 1e-3 px: the differences above are last bits, amplified. (Some
    pairs keep up to 0.01 px without IPP: remap_cubic differs from cv2.remap in last bits.)"""
    pairs = [textured_pair((64, 64), s) for s in range(2)] + [face_pair((64, 64), 0, 1.0)]
    used = cv2.ipp.useIPP()
    try:
        cv2.ipp.setUseIPP(False)
        for pair in pairs:
            (reference,), (ours,) = both_engines([pair])
            assert endpoint(ours, reference) <= 1e-3
    finally:
        cv2.ipp.setUseIPP(used)


@pytest.mark.parametrize("name", ["texture", "face"])
def test_error_to_truth_is_opencvs(small, name):
    """The same algorithm: as close to the true motion as OpenCV, to rounding (0.001 px)."""
    pairs, reference, ours = small[name]
    ours_error = np.mean([endpoint(f, d) for f, (_, _, d) in zip(ours, pairs)])
    opencv_error = np.mean([endpoint(f, d) for f, (_, _, d) in zip(reference, pairs)])
    assert ours_error <= opencv_error + 1e-3
    assert opencv_error < 0.15                                    # and both are good flows


def test_flow_matches_opencv_at_192():
    for pair in [textured_pair((192, 192), 0), face_pair((192, 192), 1, 1.5)]:
        (reference,), (ours,) = both_engines([pair])
        assert endpoint(ours, reference) <= 0.05
        assert endpoint(ours, pair[2]) <= endpoint(reference, pair[2]) + 1e-3


def test_other_settings_match_opencv():
    """Non-default settings reach the solver as OpenCV reads them: fewer scales and warps, a 3x3
    median, no median, a non-square frame, the illumination term."""
    pairs = [textured_pair((48, 64), 3)]
    for options in [{"nscales": 3, "warps": 2, "median_filtering": 3, "scale_step": 0.6},
                    {"median_filtering": 1, "inner_iterations": 10, "outer_iterations": 3},
                    {"gamma": 0.2, "lambda_": 0.3, "epsilon": 0.05}]:
        reference, ours = both_engines(pairs, **options)
        assert endpoint(ours[0], reference[0]) <= 0.03, options


def test_batch_equals_pairs_one_by_one(small):
    """Pairs stop iterating at their own time: a batch gives each pair its own flow."""
    pairs, _, batched = small["texture"]
    for i, (a, b, _) in enumerate(pairs):
        alone = tvl1_flow(torch.from_numpy(a), torch.from_numpy(b), device="cpu")[0].numpy()
        np.testing.assert_allclose(batched[i], alone, atol=1e-4)


def test_uint8_and_float_inputs_agree(small):
    a, b, _ = small["face"][0][0]
    as_uint8 = tvl1_flow(torch.from_numpy(a), torch.from_numpy(b), device="cpu")
    as_float = tvl1_flow(torch.from_numpy(a / np.float32(255)),
                         torch.from_numpy(b / np.float32(255)), device="cpu")
    assert float((as_uint8 - as_float).norm(dim=-1).mean()) <= 0.01


@pytest.mark.skipif(shutil.which("c++") is None and shutil.which("g++") is None,
                    reason="torch.compile needs a C++ compiler on the CPU")
def test_fused_iterations_give_the_same_flow(small):
    """fused=True (torch.compile'd inner step and median) is the same computation."""
    pairs, _, eager = small["texture"]
    first = torch.from_numpy(np.stack([a for a, _, _ in pairs]))
    second = torch.from_numpy(np.stack([b for _, b, _ in pairs]))
    fused = tvl1_flow(first, second, device="cpu", fused=True).numpy()
    np.testing.assert_allclose(fused, eager, atol=1e-3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(small):
    pairs, reference, _ = small["texture"]
    first = torch.from_numpy(np.stack([a for a, _, _ in pairs]))
    second = torch.from_numpy(np.stack([b for _, b, _ in pairs]))
    on_gpu = tvl1_flow(first, second, device="cuda").cpu().numpy()
    for i in range(len(pairs)):
        assert endpoint(on_gpu[i], reference[i]) <= 0.03


# --- parameters ---------------------------------------------------------------------------------

def test_defaults_are_opencvs_and_the_projects():
    """The defaults equal opticalflow.tvl1's (themselves checked against OpenCV's getters) and
    params.yaml's flow.tvl1 section reads as the same options."""
    signature = inspect.signature(tvl1).parameters
    for field in dataclasses.fields(TVL1Options):
        assert field.default == pytest.approx(signature[field.name].default), field.name
    section = yaml.safe_load((REPO / "params.yaml").read_text())["flow"]["tvl1"]
    assert tvl1_options(section) == TVL1Options(**{("lambda_" if k == "lambda" else k): v
                                                   for k, v in section.items()})
    assert tvl1_options(None, lambda_=0.3).lambda_ == 0.3
    assert tvl1_options(TVL1Options(warps=2)).warps == 2


@pytest.mark.parametrize("bad", [{"nscales": 0}, {"warps": 0}, {"scale_step": 1.0}, {"tau": 0},
                                 {"median_filtering": 7}, {"epsilon": -1}, {"unknown": 1}])
def test_bad_parameters_are_refused(bad):
    with pytest.raises(ValueError):
        tvl1_options(None, **bad)


def test_bad_images_are_refused():
    a = torch.zeros(2, 20, 20)
    with pytest.raises(ValueError, match="lie in"):
        tvl1_flow(a + 2, a, device="cpu")
    with pytest.raises(ValueError, match="differ"):
        tvl1_flow(a, a[:1], device="cpu")
    with pytest.raises(TypeError):
        tvl1_flow(a.int(), a.int(), device="cpu")
    with pytest.raises(ValueError, match="grey"):
        tvl1_flow(a[..., None], a[..., None], device="cpu")
