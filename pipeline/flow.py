"""`flow` stage: apexes and optical flow at the sizes the networks read (data/shards/flow/).

Per clip:
- the apex each network reads: the annotated one, else spotted by that network's rule
  (`flow.apex.<network>`, pipeline/apex.py). The papers differ: Micro-Attention takes the middle
  frame (`mid`), FR the interframe difference (`diff`), STRCN argmax std(F_t - F_onset) on the
  magnified frames (`std`); `motion`, the non-rigid flow magnitude, is not fooled by head sway.
  STRCN-G's rule runs on the test-alpha magnified clip, the others on the aligned frames;
- TV-L1 onset -> FR's apex on the aligned grey frames (OpenCV's defaults unless `flow.tvl1`
  says otherwise) and its optical strain (`flow.strain`); FR's two 28x28 u/v inputs are this
  flow resized;
- STRCN-G: TV-L1 onset -> apex of every magnified clip, frames first resized to
  `strcn_g.shape` (the paper computed it at 300 x 245 with Sun et al.'s classic+nl-fast), for
  the whole clip and each of STRCN's temporal augmentations (`strcn_g.keep`: a random share of
  the onset..offset frames is kept, seeded per clip; the flow then runs from the first kept
  frame to the kept frame nearest the apex);
- STANet: the onset..offset clip interpolated to `stanet.frames` frames (linearly as in the
  paper, or by TIM: `stanet.interpolation`), resized to `stanet.shape`, flow between adjacent
  frames (the paper used FlowNet 2.0, whose weights are not available offline; `stanet.method`
  picks TV-L1 or DIS).

Shard arrays per clip: `flow` (H, W, 2) float32 (u = x, v = y, px), `strain` (H, W), `fr`
(28, 28, 2), `strcn_g` (A, R, h, w, 2) per magnification alpha (attr `alphas`, the test-time one
first) and kept share (attr `keep`, 1.0 first), `stanet` (L - 1, s, s, 2); attrs
`apex_<network>` (0-based index into the clip) and `apex_source_<network>` (annotated /
spotted:<method>).
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
from pipeline.stage import cli, clip_rng, stage_main, upstream
from pipeline.temporal import check_keep, kept_frames, resample


@dataclass(frozen=True)
class ApexRule:
    """How one network's apex is spotted where the database has none (pipeline/apex.py)."""

    method: Literal["motion", "std", "diff", "mid"]
    window: tuple[float, float] | None      # [lo, hi] fraction of onset..offset searched; null: all

    def check(self) -> None:
        if self.window is not None and not 0 <= self.window[0] < self.window[1] <= 1:
            raise ValueError(f"window: need 0 <= lo < hi <= 1, got {list(self.window)}")


@dataclass(frozen=True)
class ApexParams:
    """The apex rule of each network that reads an apex."""

    micro_attention: ApexRule     # its apex frame
    fr: ApexRule                  # FR's onset->apex flow (and `flow`, `strain`)
    strcn_g: ApexRule             # STRCN-G's, on the magnified frames


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
class StrcnFlowParams:
    """STRCN-G's magnified onset->apex flows."""

    shape: tuple[int, int]                  # flow H, W
    keep: list[float]                       # temporal augmentation: shares of the frames kept
    seed: int                               # of the kept frames' draw, with each clip's id

    def check(self) -> None:
        if min(self.shape) < 8:
            raise ValueError(f"shape: at least 8 x 8, got {list(self.shape)}")
        check_keep(self.keep)


@dataclass(frozen=True)
class StanetFlowParams:
    """STANet's adjacent-frame flows."""

    method: Literal["tvl1", "dis"]
    frames: int                             # frames after temporal interpolation (L)
    shape: tuple[int, int]                  # flow H, W
    interpolation: Literal["linear", "tim"]

    def check(self) -> None:
        if self.frames < 2:
            raise ValueError(f"frames: at least 2 frames make one flow, got {self.frames}")
        if min(self.shape) < 8:
            raise ValueError(f"shape: at least 8 x 8, got {list(self.shape)}")


@dataclass(frozen=True)
class FlowParams:
    """params.yaml `flow`."""

    apex: ApexParams
    tvl1: TVL1Params
    strain: Literal["forward", "central"]   # optical strain's derivatives (pipeline/opticalflow.py)
    fr_size: tuple[int, int]                # FR's u/v inputs, H, W
    strcn_g: StrcnFlowParams
    stanet: StanetFlowParams

    def check(self) -> None:
        if min(self.fr_size) < 8:
            raise ValueError(f"fr_size: at least 8 x 8, got {list(self.fr_size)}")


def grey(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB uint8 -> (H, W) uint8 with OpenCV's BT.601 weights."""
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize to (H, W) = size; INTER_AREA shrinks without aliasing."""
    return cv2.resize(image, (int(size[1]), int(size[0])), interpolation=cv2.INTER_AREA)


def strcn_g_flows(row: ClipRow, apex: int, params: FlowParams, keys: list[str]) -> np.ndarray:
    """(A, R, h, w, 2): per magnified clip and kept share, TV-L1 from the first kept frame to
    the kept frame nearest the apex. A (first, last) pair is computed once per clip and alpha."""
    magnified = upstream("magnify")
    strcn = params.strcn_g
    options = dataclasses.asdict(params.tvl1)
    rng = clip_rng(strcn.seed, row.sample_id)
    span = np.arange(row.onset, row.offset + 1)
    pairs = []
    for _ in keys:
        pairs.append([])
        for keep in strcn.keep:
            kept = span[kept_frames(len(span), keep, rng)]
            pairs[-1].append((int(kept[0]), int(kept[np.argmin(np.abs(kept - apex))])))
    out = np.zeros((len(keys), len(strcn.keep), *strcn.shape, 2), np.float32)
    for a, key in enumerate(keys):
        done: dict[tuple[int, int], np.ndarray] = {}
        for r, (first, last) in enumerate(pairs[a]):
            if (first, last) not in done:
                images = [grey(resize(magnified.read(row.sample_id, key, t), strcn.shape))
                          for t in (first, last)]
                done[(first, last)] = tvl1(*images, **options)                   # (h, w, 2)
            out[a, r] = done[(first, last)]
    return out


def flow_one(row: ClipRow, params: FlowParams) -> dict[str, np.ndarray]:
    frames = upstream("align").read(row.sample_id, "frames")    # (T, H, W, 3) uint8
    magnified = upstream("magnify")
    keys = magnified.attrs(row.sample_id)["alphas"]              # the test-time alpha first
    test_key = keys[0]
    attrs = {"alphas": keys, "keep": list(params.strcn_g.keep)}
    apexes = {}
    for network, rule in vars(params.apex).items():
        seen = magnified.read(row.sample_id, test_key) if network == "strcn_g" else frames
        apex, source = choose_apex(row.apex, seen, rule.method, onset=row.onset,
                                   offset=row.offset, window=rule.window)
        apexes[network] = apex
        attrs.update({f"apex_{network}": int(apex), f"apex_source_{network}": source})
    options = dataclasses.asdict(params.tvl1)                   # opticalflow.tvl1's arguments
    flow = tvl1(grey(frames[row.onset]), grey(frames[apexes["fr"]]), **options)   # (H, W, 2)
    out = {"flow": flow, "strain": optical_strain(flow, params.strain),
           "fr": resize_flow(flow, params.fr_size, rescale=False),             # (28, 28, 2)
           "strcn_g": strcn_g_flows(row, apexes["strcn_g"], params, keys)}      # (A, R, h, w, 2)

    stanet = params.stanet
    clip = resample(frames[row.onset:row.offset + 1], stanet.frames, stanet.interpolation)
    clip = np.stack([grey(resize(f, stanet.shape)) for f in clip])             # (L, s, s)
    kwargs = options if stanet.method == "tvl1" else {}
    out["stanet"] = adjacent_flows(clip, stanet.method, **kwargs)               # (L - 1, s, s, 2)
    out["attrs"] = attrs
    return out


def main(params_path: str = "params.yaml") -> None:
    stage_main("flow", flow_one, FlowParams, params_path, needs="magnify",
               per_frame=("stanet", "strcn_g"))


if __name__ == "__main__":
    cli(main, "flow")
