"""Dense optical flow and what the networks read off it: strain, resized flow, pictures.

FR and STRCN-G take the flow from onset to apex, STANet the flow between adjacent frames, and the
STSTNet family the optical strain of that flow. Every paper uses a different flow estimator;
here TV-L1 (OpenCV contrib, with its own defaults exposed) is the reference, and DIS stands in
where a paper used FlowNet 2.0 (STANet), for which no weights are available offline.

Conventions, shared by every function below:
- flow is (H, W, 2) float32 on the first image's grid; flow[..., 0] = u (x, to the right),
  flow[..., 1] = v (y, down), in pixels: the point at p in `first` is at p + flow(p) in `second`.
- Images are grey (H, W) or RGB (H, W, 3), uint8 in [0, 255] or float in [0, 1]. RGB becomes grey
  with cv2's RGB2GRAY (ITU-R BT.601 weights, the ones the synthetic renderer uses).
- Sizes are (h, w), rows first, as numpy shapes are (cv2 takes (w, h)).
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

DIS_PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
               "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
               "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}


def grey_image(image: np.ndarray) -> np.ndarray:
    """One image (H, W) or (H, W, 3) RGB -> grey (H, W), uint8 kept as uint8, float as float32.

    Float images must lie in [0, 1]: TV-L1 multiplies float input by 255 internally, so a float
    image in [0, 255] would silently give a wrong flow."""
    image = np.asarray(image)
    if image.dtype != np.uint8 and not np.issubdtype(image.dtype, np.floating):
        raise TypeError(f"images must be uint8 in [0, 255] or float in [0, 1], got {image.dtype}")
    if image.dtype != np.uint8:
        image = image.astype(np.float32, copy=False)
        if image.size and (image.min() < 0 or image.max() > 1):
            raise ValueError(f"float images must lie in [0, 1], got [{image.min()}, {image.max()}]")
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)   # (H, W)
    if image.ndim != 2:
        raise ValueError(f"need a grey (H, W) or RGB (H, W, 3) image, got shape {image.shape}")
    return image


def grey_frames(frames: np.ndarray) -> np.ndarray:
    """Frames (T, H, W) grey or (T, H, W, 3) RGB, uint8 or float in [0, 1] -> (T, H, W) float32
    in [0, 1]. uint8 RGB is converted to grey (rounded to uint8, as cv2 does) before scaling."""
    frames = np.asarray(frames)
    if frames.ndim == 4 and frames.shape[3] == 3:
        t, h, w = frames.shape[:3]
        flat = grey_image(frames.reshape(t * h, w, 3))              # one cv2 call for all frames
        frames = flat.reshape(t, h, w)
    elif frames.ndim == 3:
        frames = grey_image(frames.reshape(-1, frames.shape[2])).reshape(frames.shape)
    else:
        raise ValueError(f"need frames (T, H, W) or (T, H, W, 3), got shape {frames.shape}")
    if frames.dtype == np.uint8:
        return frames.astype(np.float32) / 255
    return frames


def _pair(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = grey_image(first), grey_image(second)
    if a.shape != b.shape:
        raise ValueError(f"images differ in size: {a.shape} vs {b.shape}")
    if a.dtype != b.dtype:                                          # mixed: compare as floats
        a, b = (x.astype(np.float32) / 255 if x.dtype == np.uint8 else x for x in (a, b))
    return a, b


def tvl1(first: np.ndarray, second: np.ndarray, *, tau: float = 0.25, lambda_: float = 0.15,
         theta: float = 0.3, nscales: int = 5, warps: int = 5, epsilon: float = 0.01,
         inner_iterations: int = 30, outer_iterations: int = 10, scale_step: float = 0.8,
         gamma: float = 0.0, median_filtering: int = 5) -> np.ndarray:
    """TV-L1 flow (H, W, 2) float32 from `first` to `second` (Zach et al. 2007, OpenCV's dual
    solver). The keyword defaults are OpenCV 4.14's own (tests compare them with its getters).

    uint8 input and float input divided by 255 give the identical flow; float input keeps
    sub-level precision. A fresh solver is made per call: making one takes under a microsecond
    and its first flow is about 1 % slower than a reused solver's (buffers), against tens of
    milliseconds per flow; in exchange the function holds no shared state."""
    a, b = _pair(first, second)
    solver = cv2.optflow.DualTVL1OpticalFlow_create(
        tau=tau, lambda_=lambda_, theta=theta, nscales=nscales, warps=warps, epsilon=epsilon,
        innnerIterations=inner_iterations, outerIterations=outer_iterations,
        scaleStep=scale_step, gamma=gamma, medianFiltering=median_filtering)
    return solver.calc(a, b, None)                                  # (H, W, 2) float32


def dis(first: np.ndarray, second: np.ndarray,
        preset: Literal["ultrafast", "fast", "medium"] = "medium") -> np.ndarray:
    """DIS flow (H, W, 2) float32 (Kroeger et al. 2016, OpenCV). DIS reads 8-bit images only, so
    float input is rounded to uint8 (x * 255) first. Much faster than TV-L1 and coarser: the
    documented stand-in for FlowNet 2.0 in STANet, next to TV-L1."""
    if preset not in DIS_PRESETS:
        raise ValueError(f"unknown DIS preset {preset!r}; known: {', '.join(DIS_PRESETS)}")
    a, b = (x if x.dtype == np.uint8 else np.rint(x * 255).astype(np.uint8)
            for x in _pair(first, second))
    return cv2.DISOpticalFlow_create(DIS_PRESETS[preset]).calc(a, b, None)   # (H, W, 2)


FLOW_METHODS = {"tvl1": tvl1, "dis": dis}


def adjacent_flows(frames: np.ndarray, method: Literal["tvl1", "dis"] = "tvl1",
                   **kwargs) -> np.ndarray:
    """Flow between each pair of adjacent frames (T - 1, H, W, 2) float32, frames (T, H, W) or
    (T, H, W, 3); kwargs go to the flow method (STANet's input sequence)."""
    if method not in FLOW_METHODS:
        raise ValueError(f"unknown flow method {method!r}; known: {', '.join(FLOW_METHODS)}")
    frames = np.asarray(frames)
    if frames.ndim not in (3, 4):
        raise ValueError(f"need frames (T, H, W) or (T, H, W, 3), got shape {frames.shape}")
    flows = [FLOW_METHODS[method](frames[t], frames[t + 1], **kwargs)
             for t in range(len(frames) - 1)]
    return np.stack(flows) if flows else np.zeros((0, *frames.shape[1:3], 2), np.float32)


def optical_strain(flow: np.ndarray,
                   differences: Literal["forward", "central"] = "forward") -> np.ndarray:
    """Optical strain magnitude (H, W) float32 of a flow (H, W, 2):
    eps = sqrt(u_x^2 + v_y^2 + 0.5 (u_y + v_x)^2), the Frobenius norm of the infinitesimal strain
    tensor [[u_x, (u_y + v_x) / 2], [(u_y + v_x) / 2, v_y]]; rigid motion has zero strain.

    `differences="forward"` is the MER literature's widely used definition, SoftNet's
    `computeStrain` (the u/v/strain inputs of STSTNet and its successors): f[i] - f[i+1] along
    each axis, strain computed where all four derivatives exist (all but the last row and
    column), the last column then copies the one before it and the last row the one above.
    `"central"` takes np.gradient's derivatives instead (central inside, one-sided on the
    border): exact for fields up to quadratic, about 12 % lower in mean on real flows."""
    flow = np.asarray(flow, np.float64)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"need a flow (H, W, 2), got shape {flow.shape}")
    u, v = flow[..., 0], flow[..., 1]
    if differences == "central":
        u_y, u_x = np.gradient(u)                                   # (H, W) each; axis 0 is y
        v_y, v_x = np.gradient(v)
        return np.sqrt(u_x ** 2 + v_y ** 2 + 0.5 * (u_y + v_x) ** 2).astype(np.float32)
    if differences != "forward":
        raise ValueError(f"differences must be forward or central, got {differences!r}")
    if min(u.shape) < 2:
        return np.zeros(u.shape, np.float32)
    u_x, v_x = u[:-1, :-1] - u[:-1, 1:], v[:-1, :-1] - v[:-1, 1:]   # (H-1, W-1)
    u_y, v_y = u[:-1, :-1] - u[1:, :-1], v[:-1, :-1] - v[1:, :-1]
    inner = np.sqrt(u_x ** 2 + v_y ** 2 + 0.5 * (u_y + v_x) ** 2)
    return np.pad(inner, ((0, 1), (0, 1)), mode="edge").astype(np.float32)   # (H, W)


def resize_flow(flow: np.ndarray, size: tuple[int, int], rescale: bool = False) -> np.ndarray:
    """Flow (H, W, 2) resized to size = (h, w) -> (h, w, 2) float32, each component like an image:
    cv2.INTER_AREA when neither side grows (averages, no aliasing), INTER_LINEAR otherwise.

    rescale=False keeps the values (pixels of the original grid): what FR does, whose paper
    resizes the u and v images to 28x28 as images. rescale=True multiplies u by w / W and v by
    h / H, so the vectors are pixels of the new grid (the motion of the resized frames). STRCN-G
    and STANet compute flow on frames already at the network's size and do not resize it."""
    flow = np.asarray(flow, np.float32)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"need a flow (H, W, 2), got shape {flow.shape}")
    (big_h, big_w), (h, w) = flow.shape[:2], size
    if h < 1 or w < 1:
        raise ValueError(f"size must be positive (h, w), got {size}")
    mode = cv2.INTER_AREA if h <= big_h and w <= big_w else cv2.INTER_LINEAR
    out = cv2.resize(flow, (w, h), interpolation=mode)             # (h, w, 2)
    if rescale:
        out = out * np.array([w / big_w, h / big_h], np.float32)
    return out


def flow_to_rgb(flow: np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """A picture (H, W, 3) uint8 RGB of a flow (H, W, 2): hue = direction (red = +x, right, then
    through yellow-green at +y, down), full saturation, value = magnitude / max_magnitude
    (clipped at 1; the flow's own largest magnitude if None). Zero flow is black."""
    flow = np.asarray(flow, np.float32)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"need a flow (H, W, 2), got shape {flow.shape}")
    magnitude = np.hypot(flow[..., 0], flow[..., 1])                # (H, W)
    angle = np.degrees(np.arctan2(flow[..., 1], flow[..., 0])) % 360
    top = float(magnitude.max()) if max_magnitude is None and magnitude.size else max_magnitude
    scale = 1.0 / top if top else 0.0
    hsv = np.stack([np.rint(angle / 2) % 180,                       # cv2's uint8 hue: 0..179
                    np.full_like(angle, 255),
                    np.rint(np.clip(magnitude * scale, 0, 1) * 255)], -1).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)                     # (H, W, 3)
