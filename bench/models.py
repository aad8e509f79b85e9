"""Per network: parameters, forward+backward time per sample at the paper's input size, and peak
memory, on CPU (and on CUDA when present).

    python bench/models.py                    # every network, batch 4, CPU (+ CUDA if present)
    python bench/models.py --batch 8 --networks fr stanet --repeats 5

Each network is measured in its own process so that the peak resident memory (CPU) belongs to
that network alone; on CUDA the peak is torch's max_memory_allocated.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import models  # noqa: E402  (each network's paper input is on its card)


def measure(name: str, batch: int, repeats: int, device: str) -> dict:
    """Run in a fresh process: time forward+backward of one batch, report per sample."""
    import torch

    torch.manual_seed(0)
    net = models.create_model(name, num_classes=3).to(device)
    x = torch.randn((batch, *models.card(name).paper_input), device=device)
    target = torch.arange(batch, device=device) % 3
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def step() -> None:
        net.zero_grad(set_to_none=True)
        loss, _ = net.loss(net(x), target)
        loss.backward()
        if device == "cuda":
            torch.cuda.synchronize()

    step()                                               # warm-up (allocations, cuDNN choice)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    peak = (torch.cuda.max_memory_allocated() if device == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {"network": name, "device": device, "parameters": models.count_parameters(net),
            "ms_per_sample": 1000 * min(times) / batch, "peak_mb": peak / 2**20,
            "threads": torch.get_num_threads()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", nargs="*", default=models.list_models())
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("NETWORK", "DEVICE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], args.batch, args.repeats, args.child[1])))
        return

    import torch

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"{os.cpu_count()} CPU cores, torch {torch.__version__}"
          + (f", {torch.cuda.get_device_name()}" if "cuda" in devices else ", no CUDA"))
    print("\n| network | device | parameters | input | ms per sample (fwd+bwd) | peak MB |")
    print("|---|---|---|---|---|---|")
    for device in devices:
        for name in args.networks:
            out = subprocess.run([sys.executable, __file__, "--child", name, device,
                                  "--batch", str(args.batch), "--repeats", str(args.repeats)],
                                 capture_output=True, text=True)
            if out.returncode:
                print(f"| {name} | {device} | failed: {out.stderr.strip().splitlines()[-1]} |")
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            shape = "x".join(map(str, models.card(name).paper_input))
            print(f"| {name} | {device} | {r['parameters'] / 1e6:.2f} M | {shape} | "
                  f"{r['ms_per_sample']:.1f} | {r['peak_mb']:.0f} |")


if __name__ == "__main__":
    main()
