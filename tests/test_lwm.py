"""Local weighted mean against its definition: exact on polynomials, a slow reference, edges."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import Delaunay

from pipeline.lwm import LWM, warp_map, weight


def quadratic(p: np.ndarray) -> np.ndarray:
    x, y = p[:, 0], p[:, 1]
    return np.stack([3 + 0.9 * x - 0.2 * y + 4e-3 * x * y - 2e-3 * x * x + 1e-3 * y * y,
                     -5 + 0.1 * x + 1.1 * y - 3e-3 * x * y + 1e-3 * x * x + 2e-3 * y * y], -1)


def affine(p: np.ndarray) -> np.ndarray:
    return p @ np.array([[0.95, 0.2], [-0.15, 1.05]]).T + (7.0, -3.0)


def smooth_warp(p: np.ndarray) -> np.ndarray:
    """Not a polynomial: a few px of sinusoidal bending over a 100 px field."""
    x, y = p[:, 0], p[:, 1]
    return p + np.stack([3 * np.sin(x / 17) * np.cos(y / 23), 2 * np.cos(x / 19 + y / 29)], -1)


def inside_hull(points: np.ndarray, hull_of: np.ndarray) -> np.ndarray:
    return points[Delaunay(hull_of).find_simplex(points) >= 0]


@pytest.fixture(scope="module")
def scattered() -> np.ndarray:
    return np.random.default_rng(0).uniform(0, 100, (60, 2))             # (M, 2)


def slow_lwm(source: np.ndarray, target: np.ndarray, n: int, points: np.ndarray) -> np.ndarray:
    """Goshtasby's definition written out point by point, polynomials in global coordinates."""
    polys, radii = [], []
    for c in source:
        dists = sorted((float(np.hypot(*(q - c))), j) for j, q in enumerate(source))[:n]
        radii.append(dists[-1][0])
        rows = [[1, source[j, 0], source[j, 1], source[j, 0] * source[j, 1], source[j, 0] ** 2,
                 source[j, 1] ** 2] for _, j in dists]
        polys.append(np.linalg.lstsq(np.array(rows), target[[j for _, j in dists]], rcond=None)[0])
    out = []
    for p in points:
        num, den = np.zeros(2), 0.0
        for c, r, a in zip(source, radii, polys):
            big_r = np.hypot(*(p - c)) / r
            if big_r < 1:
                w = 1 - 3 * big_r ** 2 + 2 * big_r ** 3
                num += w * (np.array([1, p[0], p[1], p[0] * p[1], p[0] ** 2, p[1] ** 2]) @ a)
                den += w
        out.append(num / den if den > 0 else [np.nan, np.nan])
    return np.array(out)


def test_weight_function_values():
    r = np.array([0.0, 0.25, 0.5, 0.75, 1.0, 1.5])
    np.testing.assert_allclose(weight(r), [1.0, 0.84375, 0.5, 0.15625, 0.0, 0.0], atol=1e-15)
    h = 1e-6                                               # zero slope at 0 and at the radius
    assert abs(weight(np.array([h]))[0] - 1) / h < 1e-5
    assert abs(weight(np.array([1 - h]))[0]) / h < 1e-5
    assert np.all(np.diff(weight(np.linspace(0, 1, 101))) < 0)


@pytest.mark.parametrize("mapping", [quadratic, affine], ids=["quadratic", "affine"])
def test_global_polynomial_is_reproduced_inside_the_hull(scattered, mapping):
    lwm = LWM.fit(scattered, mapping(scattered))
    grid = np.stack(np.meshgrid(np.linspace(0, 100, 81), np.linspace(0, 100, 81)), -1).reshape(-1, 2)
    points = inside_hull(grid, scattered)
    out = lwm(points)
    assert not np.isnan(out).any()
    np.testing.assert_allclose(out, mapping(points), rtol=0, atol=1e-6)


def test_smooth_warp_reproduces_control_points_approximately(scattered):
    """LWM does not interpolate: a non-polynomial warp is met at the control points only to the
    local quadratic fits' residual. Measured for 3 px of bending over ~100 px wavelengths: max
    0.49 px at the control points, mean 0.16 px inside the hull; tolerances 0.75 and 0.3 px."""
    lwm = LWM.fit(scattered, smooth_warp(scattered))
    error = np.linalg.norm(lwm(scattered) - smooth_warp(scattered), axis=1)
    assert error.max() < 0.75
    grid = inside_hull(np.random.default_rng(1).uniform(0, 100, (500, 2)), scattered)
    assert np.linalg.norm(lwm(grid) - smooth_warp(grid), axis=1).mean() < 0.3


def test_matches_a_slow_reference_written_from_the_definition():
    rng = np.random.default_rng(3)
    source = rng.uniform(0, 50, (15, 2))
    target = smooth_warp(source) + rng.normal(0, 0.5, source.shape)
    points = np.concatenate([rng.uniform(-5, 55, (25, 2)), source[:3], [[500.0, 500.0]]])
    for n in (6, 9):
        fast = LWM.fit(source, target, n_neighbours=n)(points)
        slow = slow_lwm(source, target, n, points)
        np.testing.assert_array_equal(np.isnan(fast), np.isnan(slow))
        np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-8, equal_nan=True)


def test_no_influence_gives_nan(scattered):
    lwm = LWM.fit(scattered, affine(scattered))
    far = np.array([[-1000.0, 50.0], [50.0, 1e4], [50.0, 50.0]])
    out = lwm(far)
    assert np.isnan(out[:2]).all() and not np.isnan(out[2]).any()
    assert lwm.covered(far).tolist() == [False, False, True]


def test_collinear_neighbourhood_stays_bounded():
    """A row of points (an eyebrow, a border) leaves the quadratic undetermined across it; the
    truncated fit must not explode, and values along the row stay exact for an affine map."""
    line = np.stack([np.linspace(0, 60, 13), np.full(13, 20.0)], -1)
    rest = np.random.default_rng(4).uniform(0, 60, (5, 2)) + (0, 40)
    source = np.concatenate([line, rest])
    lwm = LWM.fit(source, affine(source), n_neighbours=6)
    assert np.abs(lwm.coeffs).max() < 1e3
    on_line = np.stack([np.linspace(5, 55, 11), np.full(11, 20.0)], -1)
    np.testing.assert_allclose(lwm(on_line), affine(on_line), atol=1e-6)
    near = on_line + (0, 3.0)
    assert np.nanmax(np.abs(lwm(near) - affine(near))) < 5


def test_warp_map_is_the_transform_on_the_pixel_grid(scattered):
    lwm = LWM.fit(scattered, smooth_warp(scattered))
    map_x, map_y = warp_map(lwm, (150, 170))
    assert map_x.shape == map_y.shape == (150, 170) and map_x.dtype == np.float32
    grid = np.stack(np.meshgrid(np.arange(170.0), np.arange(150.0)), -1).reshape(-1, 2)
    expected = lwm(grid).reshape(150, 170, 2)
    np.testing.assert_allclose(np.stack([map_x, map_y], -1), expected, atol=1e-4, equal_nan=True)
    assert np.isnan(map_x).any() and not np.isnan(map_x[20:80, 20:80]).any()


def test_bad_arguments_are_refused(scattered):
    with pytest.raises(ValueError, match="n_neighbours"):
        LWM.fit(scattered, scattered, n_neighbours=5)
    with pytest.raises(ValueError, match="n_neighbours"):
        LWM.fit(scattered[:8], scattered[:8], n_neighbours=9)
    with pytest.raises(ValueError, match="shape"):
        LWM.fit(scattered, scattered[:10])
    with pytest.raises(ValueError, match="coincident"):
        LWM.fit(np.zeros((8, 2)), np.zeros((8, 2)), n_neighbours=6)
