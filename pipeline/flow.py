"""`flow` stage: apex and optical flow at the sizes the networks read (data/shards/flow/).

Per clip:
- the apex: the annotated one, else spotted from the aligned frames (`flow.apex.method`:
  `std` = STRCN's argmax std(F_t - F_onset), `diff` = FR's interframe difference, `mid`, or
  `motion`, the non-rigid flow magnitude, which head sway does not fool; pipeline/apex.py);
- TV-L1 onset -> apex on the aligned grey frames (OpenCV's defaults unless `flow.tvl1` says
  otherwise) and its optical strain; FR's two 28x28 u/v inputs are this flow resized;
- STRCN-G: TV-L1 onset -> apex of every magnified clip, frames first resized to `strcn_g_size`
  (the paper computed it at 300 x 245 with Sun et al.'s classic+nl-fast);
- STANet: the onset..offset clip interpolated to `stanet.frames` frames (linearly as in the
  paper, or by TIM: `stanet.interpolation`), resized to
  `stanet.size`, flow between adjacent frames (the paper used FlowNet 2.0, whose weights are
  not available offline; `stanet.method` picks TV-L1 or DIS).

Shard arrays per clip: `flow` (H, W, 2) float32 (u = x, v = y, px), `strain` (H, W), `fr`
(28, 28, 2), `strcn_g_alpha<a>` (h, w, 2) per magnification alpha, `stanet` (L - 1, s, s, 2);
attrs `apex` (0-based index into the clip) and `apex_source` (annotated / spotted:<method>).
"""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.apex import choose_apex
from pipeline.opticalflow import adjacent_flows, optical_strain, resize_flow, tvl1
from pipeline.stage import ClipRow, cli, stage_main, upstream
from pipeline.temporal import resample


def grey(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB uint8 -> (H, W) uint8 with OpenCV's BT.601 weights."""
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def tvl1_params(params: dict) -> dict:
    """params.yaml's `flow.tvl1` (plain names) -> keyword arguments of opticalflow.tvl1."""
    return {("lambda_" if k == "lambda" else k): v for k, v in params["tvl1"].items()}


def resize(image: np.ndarray, size: list[int]) -> np.ndarray:
    """Resize to (H, W) = size; INTER_AREA shrinks without aliasing."""
    return cv2.resize(image, (int(size[1]), int(size[0])), interpolation=cv2.INTER_AREA)


def flow_one(row: ClipRow, params: dict) -> dict[str, np.ndarray]:
    frames = upstream("align").read(row.sample_id, "frames")    # (T, H, W, 3) uint8
    apex_params = params["apex"]
    window = apex_params.get("window")
    apex, source = choose_apex(row.apex, frames, apex_params["method"], onset=row.onset,
                               offset=row.offset, window=tuple(window) if window else None)
    options = tvl1_params(params)
    onset, peak = grey(frames[row.onset]), grey(frames[apex])
    flow = tvl1(onset, peak, **options)                         # (H, W, 2)
    out = {"flow": flow, "strain": optical_strain(flow),
           "fr": resize_flow(flow, tuple(params["fr_size"]), rescale=False)}   # (28, 28, 2)

    magnified = upstream("magnify")
    for key in magnified.keys(row.sample_id):
        if key.startswith("alpha"):
            first = grey(resize(magnified.read(row.sample_id, key, row.onset), params["strcn_g_size"]))
            last = grey(resize(magnified.read(row.sample_id, key, apex), params["strcn_g_size"]))
            out[f"strcn_g_{key}"] = tvl1(first, last, **options)                # (h, w, 2)

    stanet = params["stanet"]
    clip = resample(frames[row.onset:row.offset + 1], int(stanet["frames"]), stanet["interpolation"])
    clip = np.stack([grey(resize(f, stanet["size"])) for f in clip])          # (L, s, s)
    kwargs = options if stanet["method"] == "tvl1" else {}
    out["stanet"] = adjacent_flows(clip, stanet["method"], **kwargs)            # (L - 1, s, s, 2)
    out["attrs"] = {"apex": int(apex), "apex_source": source}
    return out


def main(params_path: str = "params.yaml") -> None:
    stage_main("flow", flow_one, params_path, needs="magnify", per_frame=("stanet",))


if __name__ == "__main__":
    cli(main)
