"""TV-L1 speed and agreement: OpenCV's DualTVL1OpticalFlow (`flow.engine: opencv`) against the
batched PyTorch TV-L1 (`flow.engine: torch`, pipeline/tvl1.py).

    python bench/tvl1.py                                  # 64x64, 192x192, 300x245; batch 8
    python bench/tvl1.py --sizes 192x192 --batch 64 --device cuda
    python bench/tvl1.py --threads 2 --fused              # both libraries on 2 threads; compiled

Per resolution: `--batch` pairs with known motion (textured and synthetic-face pairs,
pipeline/synthetic/flowpairs.py; OpenCV's default settings), OpenCV's flow one pair per call,
the torch flow of the whole batch in one call (after one warm-up call; with --fused the
compilation is timed apart). Prints milliseconds per pair for each, the mean endpoint
difference between the two flows and each one's error to the true motion, all inside the frame
(8 px from the border). --threads sets both libraries' CPU threads (default 1: the flow stage's
workers share the cores out, one process each).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.opticalflow import tvl1  # noqa: E402
from pipeline.synthetic.flowpairs import face_pair, textured_pair  # noqa: E402
from pipeline.tvl1 import default_device, tvl1_flow  # noqa: E402

MARGIN = 8


def endpoint(a: np.ndarray, b: np.ndarray) -> float:
    """Mean endpoint distance of flows (..., H, W, 2) inside the frame."""
    inner = (a - b)[..., MARGIN:-MARGIN, MARGIN:-MARGIN, :]
    return float(np.linalg.norm(inner, axis=-1).mean())


def pairs(size: tuple[int, int], count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """count pairs (uint8 grey, as the flow stage feeds them) and their true fields, half
    textures and half faces."""
    made = []
    for i in range(count):
        if i % 2:
            made.append(face_pair(size, i, 1.5))
        else:
            first, second, field = textured_pair(size, i)
            made.append((np.rint(first * 255).astype(np.uint8),
                         np.rint(second * 255).astype(np.uint8), field))
    return tuple(np.stack(part) for part in zip(*made))


def measure(size: tuple[int, int], batch: int, device: torch.device, fused: bool) -> dict:
    first, second, truth = pairs(size, batch)
    started = time.perf_counter()
    reference = np.stack([tvl1(a, b) for a, b in zip(first, second)])            # (B, H, W, 2)
    opencv_ms = (time.perf_counter() - started) / batch * 1000
    a, b = torch.from_numpy(first), torch.from_numpy(second)
    started = time.perf_counter()
    tvl1_flow(a, b, device=device, fused=fused).cpu()                            # warm-up
    warm_up = time.perf_counter() - started
    started = time.perf_counter()
    ours = tvl1_flow(a, b, device=device, fused=fused).cpu().numpy()            # (B, H, W, 2)
    torch_ms = (time.perf_counter() - started) / batch * 1000
    return {"opencv_ms": opencv_ms, "torch_ms": torch_ms, "warm_up_s": warm_up,
            "difference": endpoint(ours, reference), "opencv_error": endpoint(reference, truth),
            "torch_error": endpoint(ours, truth), "motion": float(np.linalg.norm(
                truth[:, MARGIN:-MARGIN, MARGIN:-MARGIN], axis=-1).mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["64x64", "192x192", "300x245"],
                        help="H x W of the pairs")
    parser.add_argument("--batch", type=int, default=8, help="pairs per resolution (one torch call)")
    parser.add_argument("--device", default=None, help="torch device (default: CUDA if present)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of both libraries")
    parser.add_argument("--fused", action="store_true", help="torch.compile the inner iteration")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    device = torch.device(args.device) if args.device else default_device()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"torch {torch.__version__} on {device} ({name}), OpenCV {cv2.__version__}; "
          f"{args.threads} CPU thread(s); batch {args.batch}; fused {args.fused}\n")
    print("| size | OpenCV ms/pair | torch ms/pair | speed-up | torch warm-up (s) | "
          "torch vs OpenCV EPE (px) | OpenCV error to truth (px) | torch error to truth (px) | "
          "true motion (px) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for text in args.sizes:
        h, w = (int(v) for v in text.lower().split("x"))
        r = measure((h, w), args.batch, device, args.fused)
        print(f"| {h}x{w} | {r['opencv_ms']:.1f} | {r['torch_ms']:.1f} | "
              f"{r['opencv_ms'] / r['torch_ms']:.2f} | {r['warm_up_s']:.1f} | "
              f"{r['difference']:.4f} | {r['opencv_error']:.4f} | {r['torch_error']:.4f} | "
              f"{r['motion']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
