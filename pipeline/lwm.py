"""Goshtasby's local weighted mean (LWM) transform (Goshtasby 1988, MATLAB's `fitgeotrans(...,
'lwm', n)`), the face alignment that Pfister et al. and STRCN use.

A single global polynomial cannot follow a face: the mouth, the eyes and the jaw each move on
their own. LWM fits one small 2nd-order polynomial per control point to that point's n nearest
control points, and blends them with a smooth weight that vanishes at each polynomial's radius,
so every output point is explained by the few control points around it:

    P_i          least squares over the n nearest control points of c_i (c_i included):
                 u, v = a0 + a1 x + a2 y + a3 x y + a4 x^2 + a5 y^2
    r_i          distance from c_i to the n-th point of that sorted list
    R_i(p)       |p - c_i| / r_i
    W(R)         1 - 3 R^2 + 2 R^3 for R < 1, else 0
    f(p)         sum_i W(R_i) P_i(p) / sum_i W(R_i)

A point that no control point reaches (all R_i >= 1) has no defined value: `LWM.__call__` returns
NaN there and the caller decides (MATLAB fills 0).

Two numerical choices that the definition leaves open:
- each P_i is fitted in local coordinates ((x, y) - c_i) / r_i. The polynomial family is the
  same (a quadratic stays a quadratic under an affine change of variables), so full-rank fits are
  unchanged, but the design matrix holds numbers of order 1 instead of pixel coordinates squared.
- the fit is a truncated-SVD least squares (relative cut-off `rcond`). A neighbourhood whose
  points lie on a line (an eyebrow, a row of border points) leaves some coefficients undetermined;
  plain normal equations then divide by ~0 and the polynomial explodes off the line. The truncated
  fit returns the minimum-norm coefficients instead, which in the local, radius-scaled
  coordinates means "no curvature or slope that the data do not ask for": the polynomial matches
  the data along the line and stays flat across it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_NEIGHBOURS = 12   # twice the 6 coefficients: each local fit averages landmark noise, yet spans
                    # only about one facial part (an eye and its brow, the nose) of 68 landmarks
RCOND = 1e-6        # singular values below rcond * largest are treated as 0 (see module docstring)
PAIRS_PER_CHUNK = 1 << 21   # (point, control point) pairs evaluated at once: ~50 MB of float64


def weight(r: np.ndarray) -> np.ndarray:
    """Goshtasby's weight W(R) = 1 - 3 R^2 + 2 R^3 for 0 <= R < 1, 0 beyond: 1 at the control
    point, 0 with zero slope at the radius, so the blend is C1 smooth."""
    r = np.asarray(r, np.float64)
    return np.where(r < 1, 1 - 3 * r ** 2 + 2 * r ** 3, 0.0)


def _basis(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The 2nd-order monomials [1, x, y, xy, x^2, y^2] (..., 6) of local coordinates."""
    return np.stack([np.ones_like(x), x, y, x * y, x * x, y * y], axis=-1)


@dataclass(frozen=True)
class LWM:
    """A fitted LWM map from the control points' space to the targets' space."""

    centres: np.ndarray      # (M, 2) control points (x, y) in the map's input space
    radius: np.ndarray       # (M,) reach of each control point's polynomial
    coeffs: np.ndarray       # (M, 6, 2) polynomial coefficients of u and v in local coordinates
    n_neighbours: int        # points per local fit (the control point itself included)

    @classmethod
    def fit(cls, source: np.ndarray, target: np.ndarray, n_neighbours: int = N_NEIGHBOURS,
            rcond: float = RCOND) -> "LWM":
        """Fit the map source (M, 2) -> target (M, 2). MATLAB and Goshtasby leave n to the user
        (n >= 6, the number of coefficients); see N_NEIGHBOURS for why 12."""
        source = np.asarray(source, np.float64)
        target = np.asarray(target, np.float64)
        if source.ndim != 2 or source.shape[1] != 2 or source.shape != target.shape:
            raise ValueError(f"need source and target of shape (M, 2), got {source.shape} and {target.shape}")
        m = len(source)
        if not 6 <= n_neighbours <= m:
            raise ValueError(f"n_neighbours must be in [6, {m}] for {m} control points, got {n_neighbours}")
        dist = np.linalg.norm(source[:, None] - source[None], axis=-1)          # (M, M)
        near = np.argsort(dist, axis=1, kind="stable")[:, :n_neighbours]        # (M, n)
        radius = np.take_along_axis(dist, near[:, -1:], axis=1)[:, 0]           # (M,)
        if (radius <= 0).any():
            i = int(np.argmin(radius))
            raise ValueError(f"control point {i} has {n_neighbours} coincident neighbours; "
                             "LWM needs distinct control points")
        local = (source[near] - source[:, None]) / radius[:, None, None]        # (M, n, 2)
        design = _basis(local[..., 0], local[..., 1])                           # (M, n, 6)
        coeffs = np.linalg.pinv(design, rcond=rcond) @ target[near]             # (M, 6, 2)
        return cls(source, radius, coeffs, n_neighbours)

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """f at points (P, 2) -> (P, 2); NaN where no control point reaches."""
        points = np.asarray(points, np.float64)
        if points.ndim != 2 or points.shape[1] != 2:
            raise ValueError(f"need points of shape (P, 2), got {points.shape}")
        step = max(1, PAIRS_PER_CHUNK // len(self.centres))
        return np.concatenate([self._blend(points[i:i + step], *self._pairs(points[i:i + step]))
                               for i in range(0, len(points), step)] or [np.empty((0, 2))])

    def _pairs(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Indices (K,) of the points and (K,) of the control points with R < 1."""
        scale = 1 / self.radius                                                  # (M,)
        dx = np.subtract.outer(points[:, 0], self.centres[:, 0]) * scale           # (P, M)
        dy = np.subtract.outer(points[:, 1], self.centres[:, 1]) * scale
        dx *= dx
        dy *= dy
        dx += dy                                                                 # R^2
        return np.nonzero(dx < 1)

    def _blend(self, points: np.ndarray, p: np.ndarray, c: np.ndarray) -> np.ndarray:
        """f at points (P, 2) from the (point p, control point c) pairs (K,) with R < 1:
        sum W P_c / sum W per point, NaN where a point has no pair."""
        rel = (points[p] - self.centres[c]) / self.radius[c, None]                 # (K, 2)
        r2 = (rel * rel).sum(1)
        w = 1 - r2 * (3 - 2 * np.sqrt(r2))                                         # (K,) W(R)
        basis = _basis(rel[:, 0], rel[:, 1])                                       # (K, 6)
        coeffs = self.coeffs[c]                                                    # (K, 6, 2)
        u = (basis * coeffs[..., 0]).sum(1)                                        # (K,)
        v = (basis * coeffs[..., 1]).sum(1)
        total = np.bincount(p, w, minlength=len(points))                           # (P,)
        out = np.stack([np.bincount(p, w * u, minlength=len(points)),
                        np.bincount(p, w * v, minlength=len(points))], -1)         # (P, 2)
        with np.errstate(invalid="ignore", divide="ignore"):
            out /= total[:, None]
        out[total <= 0] = np.nan
        return out

    def covered(self, points: np.ndarray) -> np.ndarray:
        """(P,) bool: whether any control point reaches each of points (P, 2)."""
        points = np.asarray(points, np.float64)
        step = max(1, PAIRS_PER_CHUNK // len(self.centres))
        return np.concatenate([
            (np.linalg.norm(points[i:i + step, None] - self.centres[None], axis=-1)
             < self.radius).any(1) for i in range(0, len(points), step)] or [np.empty(0, bool)])


def warp_map(lwm: LWM, out_shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(map_x, map_y), each (H, W) float32, for cv2.remap: `lwm` evaluated at every pixel centre
    (x, y) = (column, row) of an (H, W) output, a few rows at a time to bound memory. `lwm` must
    be the inverse map (output -> input image); uncovered pixels are NaN.

    On a grid R^2 separates into a column term plus a row term, which finds the (pixel,
    control point) pairs with R < 1 in one addition per pair instead of a distance each."""
    h, w = out_shape
    map_x, map_y = np.empty((h, w), np.float32), np.empty((h, w), np.float32)
    x, y = np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64)
    scale = 1 / lwm.radius
    col = (np.subtract.outer(x, lwm.centres[:, 0]) * scale) ** 2                   # (W, M)
    row = (np.subtract.outer(y, lwm.centres[:, 1]) * scale) ** 2                   # (H, M)
    rows = max(1, PAIRS_PER_CHUNK // (w * len(lwm.centres)))
    for y0 in range(0, h, rows):
        y1 = min(y0 + rows, h)
        r2 = row[y0:y1, None, :] + col[None]                                       # (rows, W, M)
        i, j, c = np.nonzero(r2 < 1)
        grid = np.stack(np.meshgrid(x, y[y0:y1]), -1).reshape(-1, 2)               # (rows * W, 2)
        value = lwm._blend(grid, i * w + j, c).reshape(y1 - y0, w, 2)
        map_x[y0:y1], map_y[y0:y1] = value[..., 0], value[..., 1]
    return map_x, map_y
