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

TV-L1 runs on one of two engines (`flow.engine`): `opencv`, cv2.optflow's DualTVL1OpticalFlow,
one pair per call, clip by clip in the `preprocess.jobs` workers; or `torch`, the same algorithm
in pipeline/tvl1.py, which solves every pair of one kind from `flow.batch` clips in one batched
call, on CUDA when there is a GPU. A clip is therefore planned first (apexes, every frame pair:
`plan_clip`), the pairs solved (`solve`), and the shard arrays assembled (`finish_clip`).

Shard arrays per clip: `flow` (H, W, 2) float32 (u = x, v = y, px), `strain` (H, W), `fr`
(28, 28, 2), `strcn_g` (A, R, h, w, 2) per magnification alpha (attr `alphas`, the test-time one
first) and kept share (attr `keep`, 1.0 first), `stanet` (L - 1, s, s, 2); attrs
`apex_<network>` (0-based index into the clip) and `apex_source_<network>` (annotated /
spotted:<method>).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from functools import partial
from typing import Literal

import cv2
import numpy as np

from pipeline.apex import choose_apex
from pipeline.opticalflow import FLOW_METHODS, optical_strain, resize_flow
from pipeline.parallel import ClipFailure, available_jobs
from pipeline.samples import ClipRow
from pipeline.stage import cli, clip_rng, run_stage, stage_params, summary, upstream
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
    engine: Literal["opencv", "torch"]      # TV-L1 by cv2.optflow or by pipeline/tvl1.py
    batch: int                              # torch engine: clips whose pairs are solved together
    fused: bool                             # torch engine: torch.compile the inner iteration

    def check(self) -> None:
        if self.batch < 1:
            raise ValueError(f"batch: at least 1 clip, got {self.batch}")
        if min(self.fr_size) < 8:
            raise ValueError(f"fr_size: at least 8 x 8, got {list(self.fr_size)}")


TORCH_PIXELS = 1 << 23     # pixels of pairs per torch TV-L1 call (~1 GB of float32 working planes)


def grey(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB uint8 -> (H, W) uint8 with OpenCV's BT.601 weights."""
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize to (H, W) = size; INTER_AREA shrinks without aliasing."""
    return cv2.resize(image, (int(size[1]), int(size[0])), interpolation=cv2.INTER_AREA)


@dataclass
class ClipFlows:
    """One clip's flow work before any flow is solved: its shard attributes and, per kind of
    flow, the frame pairs to solve. kind: `fr` (onset -> FR's apex on the aligned frames),
    `strcn_g` (the distinct pairs of STRCN-G's magnified clips and kept shares; `strcn_g_pair`
    (A, R) says which pair each cell is), `stanet` (adjacent frames of the resampled clip)."""

    attrs: dict
    pairs: dict[str, tuple[np.ndarray, np.ndarray]]   # kind -> (first, second), (N, h, w) uint8
    strcn_g_pair: np.ndarray                          # (A, R) int: index into pairs["strcn_g"]


def strcn_g_pairs(row: ClipRow, apex: int, params: FlowParams,
                  keys: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """STRCN-G's pairs: per magnified clip and kept share, the first kept frame and the kept
    frame nearest the apex, resized to `strcn_g.shape`. A (first, last) pair is solved once per
    clip and alpha. Returns first, second (N, h, w) uint8 and the (A, R) pair index."""
    magnified = upstream("magnify")
    strcn = params.strcn_g
    rng = clip_rng(strcn.seed, row.sample_id)
    span = np.arange(row.onset, row.offset + 1)
    chosen = []
    for _ in keys:
        chosen.append([])
        for keep in strcn.keep:
            kept = span[kept_frames(len(span), keep, rng)]
            chosen[-1].append((int(kept[0]), int(kept[np.argmin(np.abs(kept - apex))])))
    firsts, seconds = [], []
    index = np.zeros((len(keys), len(strcn.keep)), np.int64)
    for a, key in enumerate(keys):
        done: dict[tuple[int, int], int] = {}
        for r, (first, last) in enumerate(chosen[a]):
            if (first, last) not in done:
                done[(first, last)] = len(firsts)
                firsts.append(grey(resize(magnified.read(row.sample_id, key, first), strcn.shape)))
                seconds.append(grey(resize(magnified.read(row.sample_id, key, last), strcn.shape)))
            index[a, r] = done[(first, last)]
    return np.stack(firsts), np.stack(seconds), index


def plan_clip(row: ClipRow, params: FlowParams) -> ClipFlows:
    """Apexes and every frame pair of one clip; no flow yet."""
    frames = upstream("align").read(row.sample_id, "frames")    # (T, H, W, 3) uint8
    magnified = upstream("magnify")
    keys = magnified.attrs(row.sample_id)["alphas"]              # the test-time alpha first
    attrs = {"alphas": keys, "keep": list(params.strcn_g.keep)}
    apexes = {}
    for network, rule in vars(params.apex).items():
        seen = magnified.read(row.sample_id, keys[0]) if network == "strcn_g" else frames
        apex, source = choose_apex(row.apex, seen, rule.method, onset=row.onset,
                                   offset=row.offset, window=rule.window)
        apexes[network] = apex
        attrs.update({f"apex_{network}": int(apex), f"apex_source_{network}": source})
    pairs = {"fr": (grey(frames[row.onset])[None], grey(frames[apexes["fr"]])[None])}
    first, second, index = strcn_g_pairs(row, apexes["strcn_g"], params, keys)
    pairs["strcn_g"] = (first, second)
    stanet = params.stanet
    clip = resample(frames[row.onset:row.offset + 1], stanet.frames, stanet.interpolation)
    clip = np.stack([grey(resize(f, stanet.shape)) for f in clip])             # (L, s, s)
    pairs["stanet"] = (clip[:-1], clip[1:])
    return ClipFlows(attrs, pairs, index)


def solve(kind: str, first: np.ndarray, second: np.ndarray, params: FlowParams) -> np.ndarray:
    """Flows (N, h, w, 2) float32 of the pairs first[i] -> second[i], (N, h, w) uint8: TV-L1 by
    `params.engine` (DIS for STANet's pairs when `stanet.method` says so, always on the CPU).
    The torch engine solves up to TORCH_PIXELS pixels of pairs per call."""
    if kind == "stanet" and params.stanet.method == "dis":
        return opencv_pairs(first, second, "dis")
    options = dataclasses.asdict(params.tvl1)                   # opticalflow.tvl1's arguments
    if params.engine == "opencv":
        return opencv_pairs(first, second, "tvl1", **options)
    import torch                                                # only for this engine

    from pipeline.tvl1 import tvl1_flow

    per_call = max(1, TORCH_PIXELS // (first.shape[1] * first.shape[2]))
    flows = [tvl1_flow(torch.from_numpy(first[i:i + per_call]),
                       torch.from_numpy(second[i:i + per_call]), options,
                       fused=params.fused).cpu().numpy()
             for i in range(0, len(first), per_call)]
    return np.concatenate(flows)                                # (N, h, w, 2)


def opencv_pairs(first: np.ndarray, second: np.ndarray, method: str, **options) -> np.ndarray:
    """OpenCV's flow of each pair (N, h, w, 2), one call per pair."""
    return np.stack([FLOW_METHODS[method](a, b, **options) for a, b in zip(first, second)])


def finish_clip(plan: ClipFlows, flows: dict[str, np.ndarray],
                params: FlowParams) -> dict[str, np.ndarray]:
    """The shard arrays of one clip from its solved pairs."""
    flow = flows["fr"][0]                                                      # (H, W, 2)
    return {"flow": flow, "strain": optical_strain(flow, params.strain),
            "fr": resize_flow(flow, params.fr_size, rescale=False),             # (28, 28, 2)
            "strcn_g": flows["strcn_g"][plan.strcn_g_pair],                     # (A, R, h, w, 2)
            "stanet": flows["stanet"],                                          # (L - 1, s, s, 2)
            "attrs": plan.attrs}


def flow_many(rows: list[ClipRow], params: FlowParams,
              threads: int = 0) -> list[dict[str, np.ndarray] | ClipFailure]:
    """Several clips at once: each clip's pairs are planned, the pairs of one kind from all
    clips solved together (the torch engine's batch), and the flows handed back per clip. A
    clip that fails while planning (a ClipFailure, or any error: a bad apex, an unreadable
    shard) is a ClipFailure in the list; the others go on.
    threads > 0 caps torch's CPU threads (one share of the cores per worker process)."""
    if threads > 0 and params.engine == "torch":
        import torch
        torch.set_num_threads(threads)
    plans: list[ClipFlows | ClipFailure] = []
    for row in rows:
        try:
            plans.append(plan_clip(row, params))
        except ClipFailure as failure:
            plans.append(failure)
        except Exception as error:          # one broken clip must not fail its batch-mates
            plans.append(ClipFailure(f"{type(error).__name__}: {error}"))
    good = [plan for plan in plans if isinstance(plan, ClipFlows)]
    solved: dict[str, list[np.ndarray]] = {}
    for kind in ("fr", "strcn_g", "stanet"):
        if not good:
            break
        counts = [len(plan.pairs[kind][0]) for plan in good]
        first = np.concatenate([plan.pairs[kind][0] for plan in good])
        second = np.concatenate([plan.pairs[kind][1] for plan in good])
        solved[kind] = np.split(solve(kind, first, second, params), np.cumsum(counts)[:-1])
    out, k = [], 0
    for plan in plans:
        if isinstance(plan, ClipFailure):
            out.append(plan)
            continue
        out.append(finish_clip(plan, {kind: solved[kind][k] for kind in solved}, params))
        k += 1
    return out


def flow_one(row: ClipRow, params: FlowParams) -> dict[str, np.ndarray]:
    """One clip's shard arrays (what predict.py and the opencv engine run per clip)."""
    result = flow_many([row], params)[0]
    if isinstance(result, ClipFailure):
        raise result
    return result


def main(params_path: str = "params.yaml") -> None:
    """The opencv engine runs clip by clip in `preprocess.jobs` workers; the torch engine takes
    `batch` clips at a time, on the GPU in this process (the GPU is the parallel part), on the
    CPU in the workers with the cores shared out among them."""
    params, common = stage_params("flow", FlowParams, params_path)
    jobs, threads, where = common.jobs, 0, "OpenCV, CPU"
    if params.engine == "torch":
        from pipeline.tvl1 import default_device

        device = default_device()
        jobs = 1 if device.type == "cuda" else available_jobs(jobs)
        threads = max(1, available_jobs(0) // jobs)
        where = f"torch, {device.type}"
    started = time.perf_counter()
    report = run_stage("flow", flow_one, params, jobs=jobs, max_failed=common.max_failed,
                       needs="magnify", per_frame=("stanet", "strcn_g"),
                       many=partial(flow_many, threads=threads),
                       chunk=params.batch if params.engine == "torch" else 1)
    print(f"{summary(report, time.perf_counter() - started)}; TV-L1: {where}")


if __name__ == "__main__":
    cli(main, "flow")
