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
attrs `apex` (0-based index into the clip), `apex_source` (annotated / spotted:<method>) and
`test_alpha_key` (magnify's test-time alpha, whose flow STRCN-G is evaluated on).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from pipeline.apex import choose_apex
from pipeline.opticalflow import adjacent_flows, optical_strain, resize_flow, tvl1
from pipeline.samples import ClipRow
from pipeline.stage import cli, stage_main, upstream
from pipeline.temporal import resample


@dataclass(frozen=True)
class ApexParams:
    """How the apex is spotted where the database has none (pipeline/apex.py)."""

    method: Literal["motion", "std", "diff", "mid"]
    window: tuple[float, float] | None      # [lo, hi] fraction of onset..offset searched; null: all

    def check(self) -> None:
        if self.window is not None and not 0 <= self.window[0] < self.window[1] <= 1:
            raise ValueError(f"window: need 0 <= lo < hi <= 1, got {list(self.window)}")


@dataclass(frozen=True)
class TVL1Params:
    """OpenCV's DualTVL1OpticalFlow settings (their names; `lambda` is the data weight)."""

    tau: float
    lambda_: float
    theta: float
    nscales: int
    warps: int
    epsilon: float
    inner_iterations: int
    outer_iterations: int
    scale_step: float
    gamma: float
    median_filtering: int

    def check(self) -> None:
        if min(self.nscales, self.warps, self.inner_iterations, self.outer_iterations) < 1:
            raise ValueError("nscales: nscales, warps and the iteration counts must be at least 1")
        if not 0 < self.scale_step < 1:
            raise ValueError(f"scale_step: must be in (0, 1), got {self.scale_step}")
        if self.median_filtering < 1 or self.median_filtering % 2 == 0:
            raise ValueError(f"median_filtering: an odd window of 1 or more, got {self.median_filtering}")


@dataclass(frozen=True)
class StanetFlowParams:
    """STANet's adjacent-frame flows."""

    method: Literal["tvl1", "dis"]
    frames: int                             # frames after temporal interpolation (L)
    size: tuple[int, int]                   # flow H, W
    interpolation: Literal["linear", "tim"]

    def check(self) -> None:
        if self.frames < 2:
            raise ValueError(f"frames: at least 2 frames make one flow, got {self.frames}")
        if min(self.size) < 8:
            raise ValueError(f"size: at least 8 x 8, got {list(self.size)}")


@dataclass(frozen=True)
class FlowParams:
    """params.yaml `flow`."""

    apex: ApexParams
    tvl1: TVL1Params
    fr_size: tuple[int, int]                # FR's u/v inputs, H, W
    strcn_g_size: tuple[int, int]           # STRCN-G's flow, H, W
    stanet: StanetFlowParams

    def check(self) -> None:
        if min(self.fr_size + self.strcn_g_size) < 8:
            raise ValueError("fr_size: flow sizes must be at least 8 x 8")


def grey(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB uint8 -> (H, W) uint8 with OpenCV's BT.601 weights."""
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize to (H, W) = size; INTER_AREA shrinks without aliasing."""
    return cv2.resize(image, (int(size[1]), int(size[0])), interpolation=cv2.INTER_AREA)


def flow_one(row: ClipRow, params: FlowParams) -> dict[str, np.ndarray]:
    frames = upstream("align").read(row.sample_id, "frames")    # (T, H, W, 3) uint8
    apex, source = choose_apex(row.apex, frames, params.apex.method, onset=row.onset,
                               offset=row.offset, window=params.apex.window)
    options = dataclasses.asdict(params.tvl1)                   # opticalflow.tvl1's arguments
    onset, peak = grey(frames[row.onset]), grey(frames[apex])
    flow = tvl1(onset, peak, **options)                         # (H, W, 2)
    out = {"flow": flow, "strain": optical_strain(flow),
           "fr": resize_flow(flow, params.fr_size, rescale=False)}   # (28, 28, 2)

    magnified = upstream("magnify")
    for key in magnified.keys(row.sample_id):
        if key.startswith("alpha"):
            first = grey(resize(magnified.read(row.sample_id, key, row.onset), params.strcn_g_size))
            last = grey(resize(magnified.read(row.sample_id, key, apex), params.strcn_g_size))
            out[f"strcn_g_{key}"] = tvl1(first, last, **options)                # (h, w, 2)

    stanet = params.stanet
    clip = resample(frames[row.onset:row.offset + 1], stanet.frames, stanet.interpolation)
    clip = np.stack([grey(resize(f, stanet.size)) for f in clip])             # (L, s, s)
    kwargs = options if stanet.method == "tvl1" else {}
    out["stanet"] = adjacent_flows(clip, stanet.method, **kwargs)               # (L - 1, s, s, 2)
    out["attrs"] = {"apex": int(apex), "apex_source": source,
                    "test_alpha_key": magnified.attrs(row.sample_id)["test_alpha_key"]}
    return out


def main(params_path: str = "params.yaml") -> None:
    stage_main("flow", flow_one, FlowParams, params_path, needs="magnify", per_frame=("stanet",))


if __name__ == "__main__":
    cli(main, "flow")
