"""TV-L1 optical flow in PyTorch, batched over frame pairs: OpenCV's DualTVL1OpticalFlow, step
for step.

Why: the project's reference flow is OpenCV contrib's TV-L1 (pipeline/opticalflow.py), one pair
at a time on the CPU. Datasets need tens of thousands of flows; this module runs the same
algorithm on a batch of pairs at once, on CUDA when there is one, so that its flow can stand in
for OpenCV's. "The same" means OpenCV's choices, not the papers' (Zach, Pock & Bischof 2007;
Sanchez, Meinhardt-Llopis & Facciolo, IPOL 2013, whose code OpenCV follows):

- images as float32 in OpenCV's range: float input in [0, 1] times 255, uint8 as is;
- pyramid: each level is cv2.resize(previous, fx = fy = scale_step, INTER_LINEAR) of the float
  images (sizes rounded, sampling at (x + 0.5) / scale_step - 0.5, edge pixels replicated, no
  smoothing), stopping before a side would drop below 16 px; the flow starts at zero on the
  coarsest level, is resized to the next finer level's size by the same bilinear rule and
  multiplied by 1 / scale_step (not the exact size ratio);
- per level: centred differences of the second image (one-sided halves on the border), then per
  warp: second image and its gradient sampled at x + u by cv2.remap INTER_CUBIC (a = -0.75,
  positions rounded to 1/32 px, zero outside the image), the linearised residual, and up to
  outer_iterations x inner_iterations steps of the thresholding / dual projection scheme; each
  outer iteration starts with a median filter of u (median_filtering x median_filtering,
  replicated edges); the iterations of a warp stop once the sum of squared flow updates falls
  to epsilon^2 x pixels (checked after every inner step, per pair here);
- forward differences (zero on the last row / column) for the flow's gradient and their
  adjoint for the divergence; gamma adds OpenCV's illumination variable u3 (no median, not
  rescaled between levels).

Arithmetic is float32 as in OpenCV, in its order where that is cheap to keep: resize_linear is
bit-exact with OpenCV's own resize, remap_cubic and cv2.remap differ in the last bit, the median
is exact. TV-L1 amplifies last bits at a few pixels: OpenCV's wheels resize with Intel IPP,
which rounds differently, and the mean endpoint difference between the two flows is a few
1e-3 px (under 0.01 px per pair at 64 x 64 to 300 x 245); with IPP off, many pairs agree to
1e-5 px. Errors to the true motion are OpenCV's to 1e-3 px. The stopping sums are float64
(OpenCV adds in float32, in order): a pair whose update lands within rounding of the threshold
may run one step more or less.

Speed: each pair of a batch stops on its own; the pairs still iterating are a working set that
shrinks as pairs finish, so a finished pair costs nothing more and a pair's flow does not depend
on its batch-mates. fused=True puts the inner iteration and the median filter through
torch.compile (some 15 s once per process; then 1.8 times faster on one CPU thread at 192 x 192).

Shapes: images (B, H, W); flow (B, H, W, 2), flow[..., 0] = u (x, right), flow[..., 1] = v
(y, down), in pixels of the first image's grid, as pipeline/opticalflow.py's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

MIN_SIDE = 16           # OpenCV stops the pyramid before a side below this
REMAP_STEPS = 32        # cv2.remap's sub-pixel positions per pixel (INTER_TAB_SIZE)
CUBIC_A = -0.75         # cv2's bicubic kernel parameter
FLT_EPSILON = 1.1920929e-07


@dataclass(frozen=True)
class TVL1Options:
    """DualTVL1OpticalFlow's settings under params.yaml's `flow.tvl1` names (`lambda_` for
    `lambda`); the defaults are OpenCV's own."""

    tau: float = 0.25              # time step of the dual update (stable for tau <= 1/8 ... 1/4)
    lambda_: float = 0.15          # data term weight: smaller gives smoother flow
    theta: float = 0.3             # coupling of u and the auxiliary v
    nscales: int = 5               # pyramid levels at most (fewer if a side would drop below 16)
    warps: int = 5                 # re-linearisations of the data term per level
    epsilon: float = 0.01          # stop a warp when mean squared update < epsilon^2 (px^2)
    inner_iterations: int = 30     # thresholding + dual steps per outer iteration
    outer_iterations: int = 10     # median filter + inner loop, per warp
    scale_step: float = 0.8        # size ratio between pyramid levels
    gamma: float = 0.0             # illumination term weight (0: off)
    median_filtering: int = 5      # median filter size at each outer iteration (<= 1: off)

    def check(self) -> None:
        """Raise ValueError for settings OpenCV rejects or that make no sense."""
        if min(self.nscales, self.warps, self.inner_iterations, self.outer_iterations) < 1:
            raise ValueError("nscales, warps and the iteration counts must be at least 1")
        if not 0 < self.scale_step < 1:
            raise ValueError(f"scale_step must lie in (0, 1), got {self.scale_step}")
        if self.tau <= 0 or self.lambda_ <= 0 or self.theta <= 0:
            raise ValueError("tau, lambda and theta must be positive")
        if self.epsilon < 0 or self.gamma < 0:
            raise ValueError("epsilon and gamma must not be negative")
        if self.median_filtering > 1 and self.median_filtering not in (3, 5):
            raise ValueError("cv2.medianBlur takes float images with sizes 3 or 5 only, got "
                             f"median_filtering={self.median_filtering}")


def tvl1_options(params: object = None, **overrides) -> TVL1Options:
    """TVL1Options from a mapping with params.yaml's keys (`lambda` or `lambda_`), a dataclass
    with these fields (pipeline.flow.TVL1Params), an TVL1Options, or None (OpenCV's defaults),
    then keyword overrides; checked."""
    if params is None:
        values = {}
    elif dataclasses.is_dataclass(params):
        values = dataclasses.asdict(params)
    elif isinstance(params, Mapping):
        values = dict(params)
    else:
        raise TypeError(f"params must be a mapping or a dataclass, got {type(params).__name__}")
    values.update(overrides)
    if "lambda" in values:
        values["lambda_"] = values.pop("lambda")
    names = {f.name for f in dataclasses.fields(TVL1Options)}
    unknown = set(values) - names
    if unknown:
        raise ValueError(f"unknown TV-L1 parameters: {', '.join(sorted(unknown))}")
    options = TVL1Options(**values)
    options.check()
    return options


# --- image operations as OpenCV does them, on (B, H, W) float32 ------------------------------

def _linear_taps(n_out: int, n_in: int, scale: float, device) -> tuple[Tensor, Tensor, Tensor]:
    """cv2.resize INTER_LINEAR along one axis: source index pairs (n_out,) and the weight of the
    second; `scale` = input pixels per output pixel. Edges replicate."""
    x = (torch.arange(n_out, dtype=torch.float64, device=device) + 0.5) * scale - 0.5
    x = x.float()                                                   # cv2 keeps fx as float
    left = torch.floor(x)
    frac = x - left
    left = left.long()
    frac = torch.where(left < 0, torch.zeros_like(frac), frac)
    left = left.clamp(min=0)
    at_end = left >= n_in - 1
    frac = torch.where(at_end, torch.zeros_like(frac), frac)
    left = torch.where(at_end, torch.full_like(left, n_in - 1), left)
    right = (left + 1).clamp(max=n_in - 1)
    return left, right, frac


def resize_linear(images: Tensor, size: tuple[int, int], scale: tuple[float, float] | None = None
                  ) -> Tensor:
    """cv2.resize(..., INTER_LINEAR) of float images (B, H, W) to size = (h, w) -> (B, h, w).
    `scale` = (fy, fx) when cv2 was given factors instead of a size (it then samples with the
    factors, not the size ratio)."""
    _, big_h, big_w = images.shape
    h, w = size
    fy, fx = scale if scale is not None else (h / big_h, w / big_w)
    y0, y1, wy = _linear_taps(h, big_h, 1.0 / fy, images.device)
    x0, x1, wx = _linear_taps(w, big_w, 1.0 / fx, images.device)
    cols = images[:, :, x0] * (1 - wx) + images[:, :, x1] * wx                # (B, H, w)
    return cols[:, y0] * (1 - wy)[:, None] + cols[:, y1] * wy[:, None]        # (B, h, w)


def centred_gradient(images: Tensor) -> tuple[Tensor, Tensor]:
    """OpenCV TV-L1's centeredGradient: (I[x+1] - I[x-1]) / 2 inside, (I[x] - I[x-1]) / 2 and
    (I[x+1] - I[x]) / 2 on the border, i.e. centred differences of the edge-replicated image."""
    padded = F.pad(images[:, None], (1, 1, 1, 1), mode="replicate")[:, 0]     # (B, H+2, W+2)
    dx = 0.5 * (padded[:, 1:-1, 2:] - padded[:, 1:-1, :-2])
    dy = 0.5 * (padded[:, 2:, 1:-1] - padded[:, :-2, 1:-1])
    return dx, dy


def forward_gradient(u: Tensor) -> tuple[Tensor, Tensor]:
    """Forward differences of u (..., H, W), each (..., H, W), zero on the last column (dx) /
    last row (dy)."""
    dx = F.pad(u[..., 1:] - u[..., :-1], (0, 1))
    dy = F.pad(u[..., 1:, :] - u[..., :-1, :], (0, 0, 0, 1))
    return dx, dy


def divergence(p1: Tensor, p2: Tensor) -> Tensor:
    """Minus the adjoint of forward_gradient, as OpenCV writes it: p1[x] - p1[x-1] +
    p2[y] - p2[y-1], with the missing p1[-1], p2[-1] taken as 0; p1, p2 (..., H, W)."""
    return (p1 - F.pad(p1[..., :-1], (1, 0))) + (p2 - F.pad(p2[..., :-1, :], (0, 0, 1, 0)))


def _batcher(n: int) -> list[tuple[int, int]]:
    """Batcher's odd-even merge sort: comparators (low, high wire) sorting n = 2^k wires."""
    pairs, p = [], 1
    while p < n:
        k = p
        while k >= 1:
            for j in range(k % p, n - k, 2 * k):
                for i in range(min(k, n - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    return pairs


def _selection(n: int, rank: int, groups: int = 1) -> tuple[list[tuple[bool, int, int, int]], int]:
    """A min/max network picking the rank-th smallest of n values, inputs 0..n-1 given as
    `groups` runs of n / groups values already sorted: ops (is_min, out, a, b) on value ids and
    the id of the result. Batcher's network on the next power of two (extra wires +inf), minus
    the comparators whose outcome the known order already decides, minus those the result does
    not depend on."""
    wires = 1 << max(n - 1, 1).bit_length()
    run = n // groups
    below = [sum(1 << (i - i % run + k) for k in range(i % run + 1)) for i in range(n)]
    above = [sum(1 << k for k in range(i, i - i % run + run)) for i in range(n)]
    wire = list(range(n)) + [None] * (wires - n)
    ops = []
    for a, b in _batcher(wires):
        x, y = wire[a], wire[b]
        if y is None:                                                # y = +inf: in order
            continue
        if x is None or (below[x] >> y) & 1 or (above[y] >> x) & 1:  # known y <= x: a swap
            wire[a], wire[b] = y, x
            continue
        if (below[y] >> x) & 1 or (above[x] >> y) & 1:               # known x <= y
            continue
        low, high = len(below), len(below) + 1
        below += [below[x] & below[y] | 1 << low, below[x] | below[y] | 1 << low | 1 << high]
        above += [above[x] | above[y] | 1 << low | 1 << high, above[x] & above[y] | 1 << high]
        ops += [(True, low, x, y), (False, high, x, y)]
        wire[a], wire[b] = low, high
    needed, kept = {wire[rank]}, []
    for op in reversed(ops):
        if op[1] in needed:
            kept.append(op)
            needed |= {op[2], op[3]}
    return kept[::-1], wire[rank]


def _run_network(values: dict[int, Tensor], network: tuple[list, int]) -> Tensor:
    """Evaluate a _selection network on tensors, dropping each value after its last use."""
    ops, result = network
    last = {}
    for step, (_, _, a, b) in enumerate(ops):
        last[a] = last[b] = step
    for step, (is_min, out, a, b) in enumerate(ops):
        values[out] = (torch.minimum if is_min else torch.maximum)(values[a], values[b])
        for v in (a, b):
            if last[v] == step:
                values.pop(v, None)
    return values[result]


def _sort(planes: list[Tensor]) -> list[Tensor]:
    """Elementwise sort of a few tensors (Batcher's network, extra wires +inf)."""
    n = len(planes)
    wires = planes + [None] * ((1 << max(n - 1, 1).bit_length()) - n)
    for a, b in _batcher(len(wires)):
        if wires[b] is None:
            continue
        if wires[a] is None:
            wires[a], wires[b] = wires[b], None
            continue
        wires[a], wires[b] = torch.minimum(wires[a], wires[b]), torch.maximum(wires[a], wires[b])
    return wires[:n]


_NETWORKS: dict[int, tuple] = {}


def median_blur(u: Tensor, size: int) -> Tensor:
    """cv2.medianBlur of float images (B, H, W): size x size median, edges replicated.

    Exact, by elementwise min / max (torch.median over unfolded windows is 3 times slower): each
    column of `size` pixels is sorted once (shared by the `size` windows that hold it), then a
    selection network picks each window's median from its `size` sorted columns (156 min / max
    per pixel for 5 x 5)."""
    if size not in _NETWORKS:
        _NETWORKS[size] = _selection(size * size, size * size // 2, size)
    h, w = u.shape[1:]
    r = size // 2
    padded = F.pad(u[:, None], (r, r, r, r), mode="replicate")[:, 0]          # (B, H+2r, W+2r)
    ranks = _sort([padded[:, k:k + h] for k in range(size)])                  # (B, H, W+2r) each
    values = {c * size + k: ranks[k][:, :, c:c + w]                           # (B, H, W)
              for c in range(size) for k in range(size)}
    return _run_network(values, _NETWORKS[size])


def _cubic_weights(t: Tensor) -> Tensor:
    """cv2's bicubic weights (..., 4) for taps at -1, 0, 1, 2 from fractions t (...)."""
    a = CUBIC_A
    t1 = t + 1
    w0 = ((a * t1 - 5 * a) * t1 + 8 * a) * t1 - 4 * a
    w1 = ((a + 2) * t - (a + 3)) * t * t + 1
    s = 1 - t
    w2 = ((a + 2) * s - (a + 3)) * s * s + 1
    return torch.stack([w0, w1, w2, 1 - w0 - w1 - w2], -1)


def remap_cubic(images: Tensor, map_x: Tensor, map_y: Tensor) -> Tensor:
    """cv2.remap(image, map_x, map_y, INTER_CUBIC) with its default zero border, for C images
    sharing the maps: images (B, C, H, W), maps (B, H, W) absolute positions -> (B, C, H, W).
    Like cv2, positions are rounded to 1/32 px and samples outside the image count as 0."""
    b, c, h, w = images.shape
    pad = 4
    padded = F.pad(images, (pad, pad, pad, pad))                              # zeros outside
    pw = w + 2 * pad
    qx = torch.round(map_x * REMAP_STEPS)                                     # (B, H, W)
    qy = torch.round(map_y * REMAP_STEPS)
    ix = torch.floor(qx / REMAP_STEPS)
    iy = torch.floor(qy / REMAP_STEPS)
    wx = _cubic_weights((qx - ix * REMAP_STEPS) / REMAP_STEPS)                # (B, H, W, 4)
    wy = _cubic_weights((qy - iy * REMAP_STEPS) / REMAP_STEPS)
    # Beyond [-3, size + 1] all 16 taps fall on zeros: clamp there so the indices stay valid.
    ix = ix.long().clamp(-3, w + 1) + pad - 1                                 # first tap
    iy = iy.long().clamp(-3, h + 1) + pad - 1
    flat = padded.reshape(b, c, -1)                                           # (B, C, P)
    out = None
    for i in range(4):                         # cv2's order: 16 tap weights wy_i wx_j, by rows
        row = None
        for j in range(4):
            index = ((iy + i) * pw + ix + j).reshape(b, 1, -1).expand(b, c, -1)
            tap = flat.gather(2, index).reshape(b, c, h, w) * (wy[..., i] * wx[..., j])[:, None]
            row = tap if row is None else row + tap
        out = row if out is None else out + row
    return out


# --- the solver ---------------------------------------------------------------------------------

def _pyramid_sizes(h: int, w: int, options: TVL1Options) -> list[tuple[int, int]]:
    """Level sizes finest first, as OpenCV makes them (cvRound of side x scale_step)."""
    sizes = [(h, w)]
    for _ in range(1, options.nscales):
        ph, pw = sizes[-1]
        nh, nw = round(ph * options.scale_step), round(pw * options.scale_step)
        if nh < MIN_SIDE or nw < MIN_SIDE:
            break
        sizes.append((nh, nw))
    return sizes


def _inner_step(u: Tensor, p: Tensor, rho_c: Tensor, slope: Tensor, inverse: Tensor,
                l_t: float, theta: float, taut: float) -> tuple[Tensor, Tensor, Tensor]:
    """One inner iteration (OpenCV's estimateV, divergence, estimateU, forwardGradient,
    estimateDualVariables): flow u (B, C, H, W) and dual p (B, C, 2, H, W) -> the new u, the
    new p and the sum of squared changes of u per pair (B,) float64."""
    # thresholding: v = u + fi * slope, slope = d rho / d u, fi = -rho / |grad|^2 clipped to
    # [-l_t, l_t] (OpenCV's three cases; where |grad|^2 <= FLT_EPSILON, fi = -l_t sign(rho))
    rho = rho_c + (slope * u).sum(1)                                          # (B, H, W)
    fi = (-rho * inverse).clamp(-l_t, l_t)
    v = u + fi[:, None] * slope                                               # (B, C, H, W)
    new = v + theta * divergence(p[:, :, 0], p[:, :, 1])
    error = (new - u).square().sum((1, 2, 3), dtype=torch.float64)           # (B,)
    # dual step: p <- (p + taut grad u) / (1 + taut |grad u|), per flow component
    gx, gy = forward_gradient(new)                                            # (B, C, H, W) each
    norm = 1 + taut * torch.hypot(gx, gy)
    new_p = (p + taut * torch.stack([gx, gy], 2)) / norm[:, :, None]        # (B, C, 2, H, W)
    return new, new_p, error


_COMPILED: dict = {}


def _compiled(function):
    """`function` fused by torch.compile (compiled once per process, for any size)."""
    if function not in _COMPILED:
        _COMPILED[function] = torch.compile(function, dynamic=True)
    return _COMPILED[function]


def _iterate(u: Tensor, p: Tensor, rho_c: Tensor, slope: Tensor, inverse: Tensor,
             options: TVL1Options, scaled_epsilon: float, step: Callable,
             median_filter: Callable) -> tuple[Tensor, Tensor]:
    """One warp's outer x inner iterations on a batch, each pair stopping on its own: the
    pairs still iterating are a shrinking working set (`rows`), so a finished pair costs
    nothing more (as OpenCV's one-pair-per-call loop), and its last flow is written back."""
    l_t, theta = options.lambda_ * options.theta, options.theta
    taut = options.tau / options.theta
    b, _, h, w = u.shape
    u, p = u.clone(), p.clone()
    rows = torch.arange(b, device=u.device)                                   # still iterating
    work_u, work_p, work = u, p, (rho_c, slope, inverse)
    for _ in range(options.outer_iterations):
        if len(rows) == 0:
            break
        if options.median_filtering > 1:
            n = len(rows)
            filtered = median_filter(work_u[:, :2].reshape(-1, h, w), options.median_filtering)
            work_u = torch.cat([filtered.reshape(n, 2, h, w), work_u[:, 2:]], 1)
        for _ in range(options.inner_iterations):
            work_u, work_p, error = step(work_u, work_p, *work, l_t, theta, taut)
            going = error > scaled_epsilon                                    # (n,)
            if bool(going.all()):
                continue
            done = ~going
            u[rows[done]], p[rows[done]] = work_u[done], work_p[done]
            rows, work_u, work_p = rows[going], work_u[going], work_p[going]
            work = tuple(x[going] for x in work)
            if len(rows) == 0:
                break
    u[rows], p[rows] = work_u, work_p
    return u, p


def _one_scale(i0: Tensor, i1: Tensor, u: Tensor, options: TVL1Options,
               fused: bool = False) -> Tensor:
    """OpenCV's procOneScale on a batch: images (B, H, W), initial flow u (B, C, H, W) -> the
    level's flow (B, C, H, W); C = 2 (u1, u2) or 3 (u1, u2 and the illumination u3 when
    gamma != 0)."""
    step = _compiled(_inner_step) if fused else _inner_step
    median_filter = _compiled(median_blur) if fused else median_blur
    b, h, w = i0.shape
    scaled_epsilon = options.epsilon ** 2 * h * w
    i1x, i1y = centred_gradient(i1)
    stack = torch.stack([i1, i1x, i1y], 1)                                    # (B, 3, H, W)
    grid_y, grid_x = torch.meshgrid(torch.arange(h, device=i0.device, dtype=i0.dtype),
                                    torch.arange(w, device=i0.device, dtype=i0.dtype),
                                    indexing="ij")
    p = torch.zeros((*u.shape[:2], 2, h, w), device=u.device)                # (B, C, 2, H, W)
    for _ in range(options.warps):
        warped = remap_cubic(stack, grid_x + u[:, 0], grid_y + u[:, 1])       # (B, 3, H, W)
        i1w, i1wx, i1wy = warped.unbind(1)
        grad = i1wx * i1wx + i1wy * i1wy                                      # |grad I1(x+u0)|^2
        rho_c = i1w - i1wx * u[:, 0] - i1wy * u[:, 1] - i0                    # constant part
        slope = [i1wx, i1wy] + ([torch.full_like(i1wx, options.gamma)] if u.shape[1] > 2 else [])
        slope = torch.stack(slope, 1)                                         # (B, C, H, W)
        inverse = torch.where(grad > FLT_EPSILON, 1 / grad, torch.full_like(grad, 1e30))
        u, p = _iterate(u, p, rho_c, slope, inverse, options, scaled_epsilon, step, median_filter)
    return u


def _as_batch(images: Tensor, device) -> Tensor:
    """(B, H, W) or (H, W), uint8 in [0, 255] or float in [0, 1] -> (B, H, W) float32 in
    OpenCV's range [0, 255]."""
    images = torch.as_tensor(images)
    if images.ndim == 2:
        images = images[None]
    if images.ndim != 3:
        raise ValueError(f"need grey images (B, H, W), got shape {tuple(images.shape)}")
    if images.dtype == torch.uint8:
        return images.to(device=device, dtype=torch.float32)
    if not images.is_floating_point():
        raise TypeError(f"images must be uint8 or float in [0, 1], got {images.dtype}")
    images = images.to(device=device, dtype=torch.float32)
    if images.numel() and (images.min() < 0 or images.max() > 1):
        raise ValueError("float images must lie in [0, 1]")
    return images * 255


def default_device() -> torch.device:
    """CUDA when available, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@torch.no_grad()
def tvl1_flow(first: Tensor, second: Tensor, params: object = None, *,
              device: torch.device | str | None = None, fused: bool = False,
              **overrides) -> Tensor:
    """TV-L1 flow (B, H, W, 2) float32 from first (B, H, W) to second (B, H, W), each pair
    solved as cv2.optflow.DualTVL1OpticalFlow_create(...).calc(first[i], second[i]) does.

    Images: uint8 in [0, 255] or float in [0, 1] (times 255 inside, as OpenCV does); (H, W) is
    taken as a batch of one. params: params.yaml's `flow.tvl1` mapping, a dataclass with its
    fields, or None for OpenCV's defaults; keyword overrides use the same names (lambda_).
    Runs on `device` (default: CUDA when available, else CPU); the flow comes back there.
    fused=True runs the inner iteration and the median filter through torch.compile: the same
    flow (to float rounding), about 1.8 times faster on the CPU, after a one-off compilation of
    some 15 s per process; worth it for a dataset, not for a few pairs. On a CPU shared with
    other busy processes, torch.set_num_threads(1) avoids the intra-op threads' stalls (their
    per-operation hand-offs on small tensors, measured 10-20 times slower when oversubscribed)."""
    options = tvl1_options(params, **overrides)
    device = torch.device(device) if device is not None else default_device()
    i0, i1 = _as_batch(first, device), _as_batch(second, device)
    if i0.shape != i1.shape:
        raise ValueError(f"image batches differ in shape: {tuple(i0.shape)} vs {tuple(i1.shape)}")
    b, h, w = i0.shape
    if h < 3 or w < 3:
        raise ValueError(f"images must be at least 3 x 3, got {h} x {w}")
    sizes = _pyramid_sizes(h, w, options)
    step = options.scale_step
    levels0, levels1 = [i0], [i1]
    for size in sizes[1:]:
        levels0.append(resize_linear(levels0[-1], size, (step, step)))
        levels1.append(resize_linear(levels1[-1], size, (step, step)))
    channels = 3 if options.gamma != 0 else 2                                 # u1, u2 (, u3)
    u = torch.zeros((b, channels, *sizes[-1]), device=device)                 # (B, C, h, w)
    rescale = torch.tensor([1 / step, 1 / step, 1.0][:channels], device=device)   # u3: not
    for level in range(len(sizes) - 1, -1, -1):
        u = _one_scale(levels0[level], levels1[level], u, options, fused)
        if level == 0:
            break
        finer = sizes[level - 1]
        u = resize_linear(u.reshape(b * channels, *sizes[level]), finer)     # (B C, h', w')
        u = u.reshape(b, channels, *finer) * rescale[:, None, None]
    return u[:, :2].permute(0, 2, 3, 1).contiguous()                          # (B, H, W, 2)
