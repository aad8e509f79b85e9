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
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline import train  # noqa: E402
from pipeline.datasets import inputs_for  # noqa: E402
from pipeline.index import load_index  # noqa: E402
from pipeline.protocols import make_folds  # noqa: E402
from pipeline.schemes import SCHEMES  # noqa: E402

NETWORKS = ["sma_stn", "micro_attention", "strcn_a", "strcn_g", "fr", "stanet"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", nargs="*", default=NETWORKS)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    params = yaml.safe_load(Path("params.yaml").read_text())
    table = load_index()
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    print("| network | device | input | samples/s (train) | seconds per epoch |")
    print("|---|---|---|---|---|")
    for device in devices:
        for network in args.networks:
            cfg = copy.deepcopy(train.section_of(network, params))
            cfg["epochs"] = args.epochs
            cfg.get("net", {}).pop("checkpoint", None)          # no pretrain stage needed
            fold = make_folds(table, params["protocols"][cfg["protocols"][0]])[0]
            scheme = SCHEMES[fold.scheme]
            column = table.set_index("sample_id")[fold.scheme]
            labels = {s: scheme.classes.index(str(column[s])) for s in fold.train + fold.test}
            inputs = inputs_for(cfg["network"], cfg)
            torch.set_num_threads(int(cfg.get("threads", 1)))
            start = time.perf_counter()
            train.train_fold(network, cfg, inputs, fold, labels, scheme.classes, 0, device)
            seconds = time.perf_counter() - start
            shape = "x".join(map(str, inputs.sample(fold.train[0], False, np.random.default_rng(0)).shape))
            rate = len(fold.train) * args.epochs / seconds
            print(f"| {network} | {device.type} | {shape} | {rate:.0f} | {seconds / args.epochs:.2f} |")


if __name__ == "__main__":
    main()
