"""Training throughput per network: samples per second of the trainer's own loop (data from the
shards, augmentation, forward, backward, optimiser step) with the default params.

    python bench/train.py                     # needs `dvc repro` up to the preprocessing stages
    python bench/train.py --networks fr stanet --epochs 2

Runs one fold of the first configured protocol for each network on CPU (and on CUDA when
present), in the current DVC workspace.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import models  # noqa: E402
from pipeline import train  # noqa: E402
from pipeline.params import read_params, section  # noqa: E402
from pipeline.protocols import make_folds, parse_protocols  # noqa: E402
from pipeline.samples import read_samples  # noqa: E402
from pipeline.schemes import SCHEMES  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", nargs="*", default=models.pipeline_networks())
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    params = read_params()
    table = read_samples()
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    print("| network | device | input | samples/s (train) | seconds per epoch |")
    print("|---|---|---|---|---|")
    for device in devices:
        for name in args.networks:
            params_copy = copy.deepcopy(params)
            cfg = section(params_copy, models.card(name).section)
            cfg["epochs"] = args.epochs
            for key in cfg["net"]:
                if key.endswith("checkpoint"):
                    cfg["net"][key] = None                      # no pretrain stage needed
            net = train.network(name, params_copy)
            fold = make_folds(table, parse_protocols(params_copy)[net.cfg.protocols[0]])[0]
            scheme = SCHEMES[fold.scheme]
            column = table.set_index("sample_id")[fold.scheme]
            labels = {s: scheme.classes.index(str(column[s])) for s in fold.train + fold.test}
            inputs = net.inputs(load=sorted(fold.train + fold.test), device=device)
            torch.set_num_threads(net.cfg.threads)
            start = time.perf_counter()
            train.train_fold(net, inputs, fold, labels, scheme.classes, 0, device)
            seconds = time.perf_counter() - start
            shape = "x".join(map(str, inputs.sample(fold.train[0], False, np.random.default_rng(0)).shape))
            rate = len(fold.train) * args.epochs / seconds
            print(f"| {name} | {device.type} | {shape} | {rate:.0f} | {seconds / args.epochs:.2f} |")


if __name__ == "__main__":
    main()
