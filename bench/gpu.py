"""Training throughput at the papers' settings: samples per second, peak device memory, the share
of each step spent waiting for data, and the projected time of each paper's protocol.

    python bench/gpu.py                       # every network at its paper preset, on CUDA
    python bench/gpu.py --networks sma_stn --steps 50
    python bench/gpu.py --smoke               # tiny sizes on the CPU: checks the script runs

Each network is built from params.yaml with its paper preset's base on top (presets.yaml), and
fed by its own input view (pipeline/datasets.py) holding random data of the shapes the shards
would have at those settings (`Inputs.layout`) on the device: the same batch-on-device path the
trainer takes, with the same augmentation. A step is the trainer's step (pipeline/training.py):
autocast at the section's precision, forward, the network's loss, backward, optimiser step.
"Data" is the time `batch()` takes (cut, augment, normalise on the device), measured with the
device synchronised; the projection multiplies the time per sample by the samples the paper's
protocol trains: folds x epochs x training samples per fold, with the real databases' sizes.
"""

from __future__ import annotations

import argparse
import copy
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import models  # noqa: E402
from pipeline import presets, train  # noqa: E402
from pipeline.params import read_params, section  # noqa: E402
from pipeline.training import make_optimizer, precision_for, use_device  # noqa: E402

# The paper preset whose base sets each network's paper settings, and the protocol it projects:
# (preset, databases' clips, subjects) with the real CASME II (255 / 26), SMIC-HS (164 / 16),
# CASME (I) (195 / 19) sizes (notes/datasets.md; LOSO: one fold per subject).
PAPER = {"sma_stn": ("sma_stn_tables_1_3", "loso_casme2_5", 255, 26),
         "micro_attention": ("micro_attention_table_4", "cde_casme2_samm", 255 + 159, 26 + 29),
         "strcn_a": ("strcn_table_2", "loso_casme2_4", 255, 26),
         "strcn_g": ("strcn_table_2", "loso_casme2_4", 255, 26),
         "fr": ("fr_table_2", "cde", 442, 68),
         "stanet": ("stanet_table_1", "loso_casme2_5", 255, 26)}


def smoke(params: dict) -> dict:
    """Tiny sizes, so that the whole script runs on a CPU in seconds."""
    params = copy.deepcopy(params)
    params["align"]["shape"] = [40, 33]
    params["masks"].update(shape=[16, 12], frames=8)
    params["flow"]["strcn_g"]["shape"] = [20, 17]
    params["flow"]["stanet"].update(frames=5, shape=[16, 16])
    params["magnify"]["augment_alphas"] = [5]
    params["model"]["input"]["side"] = 32
    params["model"]["net"]["width"] = 8
    params["baselines"]["micro_attention"]["input"]["side"] = 32
    params["baselines"]["micro_attention"]["net"]["width"] = 8
    params["baselines"]["stanet"]["input"]["side"] = 16
    for key in ("strcn_a", "strcn_g"):
        params["baselines"][key]["net"]["feature_maps"] = 8
    return params


def measure(name: str, params: dict, device: torch.device, steps: int, samples: int) -> dict:
    """Train `steps` batches of the network on random data held by its input view."""
    net = train.network(name, params, PAPER[name][1])
    cfg = net.cfg
    inputs = net.inputs()
    rng = np.random.default_rng(0)
    arrays = {}
    for key, (shape, dtype) in inputs.layout(params).items():
        kind = np.dtype(dtype)
        arrays[key] = (rng.integers(0, 256, (samples, *shape), dtype=np.uint8) if kind == np.uint8
                       else rng.normal(0, 1, (samples, *shape)).astype(kind))
    ids = [f"casme2/sub{i:02d}/clip{i}" for i in range(samples)]
    inputs.load(ids, device, arrays)
    inputs.fit(ids)
    model = net.build(3).to(device)
    optimizer, _ = make_optimizer(model, cfg.optimizer)
    precision = precision_for(device, cfg.amp, cfg.amp_dtype)
    scaler = torch.amp.GradScaler(device.type, enabled=precision.scaled)
    labels = torch.from_numpy(rng.integers(0, 3, samples)).to(device)
    size = cfg.batch_size

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    data_s = step_s = 0.0
    for step in range(steps + 1):                        # step 0 warms up (allocation, cuDNN)
        chosen = rng.choice(samples, size, replace=size > samples)
        sync()
        start = time.perf_counter()
        x = inputs.batch([ids[i] for i in chosen], True, rng)
        sync()
        loaded = time.perf_counter()
        with torch.autocast(device.type, dtype=precision.dtype, enabled=precision.enabled):
            out = model(x)
            loss, _ = model.loss(out, labels[torch.from_numpy(chosen).to(device)])
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        sync()
        if step:
            data_s += loaded - start
            step_s += time.perf_counter() - start
    per_sample = step_s / (steps * size)
    preset, protocol, clips, subjects = PAPER[name]
    trained = clips * (subjects - 1) / subjects          # training samples per LOSO fold
    projected = subjects * cfg.epochs * trained * per_sample
    peak = (torch.cuda.max_memory_allocated(device) if device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {"network": name, "input": "x".join(map(str, x.shape[1:])), "batch": size,
            "samples_per_s": 1 / per_sample, "data_share": data_s / step_s,
            "peak_mb": peak / 2 ** 20, "protocol": protocol, "epochs": cfg.epochs,
            "projected_min": projected / 60, "precision": str(precision.dtype).removeprefix("torch.")
            if precision.enabled else "float32"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", nargs="*", default=list(PAPER))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--samples", type=int, default=256, help="random samples held on the device")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes on the CPU")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() and not args.smoke else "cpu")
    base = read_params(REPO / "params.yaml")
    print(f"{device}: {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}, "
          f"torch {torch.__version__}{', smoke sizes' if args.smoke else ', paper settings'}")
    print("\n| network | input | batch | precision | samples/s | data wait | peak MB | "
          "paper protocol | epochs | projected |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in args.networks:
        params = presets.apply(base, presets.overrides(PAPER[name][0]))
        if args.smoke:
            params = smoke(params)
        net_section = section(params, models.card(name).section)
        for key in net_section["net"]:
            if key.endswith("checkpoint"):
                net_section["net"][key] = None             # the pretrain stage is not needed
        use_device(device, 1 if args.smoke else max(1, torch.get_num_threads()),
                   net_section["deterministic"])
        r = measure(name, params, device, 2 if args.smoke else args.steps,
                    40 if args.smoke else args.samples)
        print(f"| {r['network']} | {r['input']} | {r['batch']} | {r['precision']} | "
              f"{r['samples_per_s']:.0f} | {100 * r['data_share']:.0f} % | {r['peak_mb']:.0f} | "
              f"{r['protocol']} | {r['epochs']} | {r['projected_min']:.1f} min |", flush=True)


if __name__ == "__main__":
    main()
