"""`train@<network>` stage: every fold of every configured protocol, in one process.

    python -m pipeline.train sma_stn          # params: `model` (SMA-STN) and `protocols`
    python -m pipeline.train fr               # params: `baselines.fr` and `protocols`

For each fold the network is built fresh, trained for a FIXED number of epochs on the fold's
training samples only (fold statistics such as STRCN-A's mask come from them too), and then
predicts the held-out samples once: nothing is chosen by looking at the test fold, so the
scores in metrics/ are not inflated by epoch picking.

A finished fold's predictions are cached in data/cache/train/<network>/ under a key made of
everything that determines them (the network's params, the fold's ids and labels, the content
of the shards it reads, the code), so a killed `dvc repro` resumes at the next fold and an
unchanged fold is never trained twice. Writes data/runs/<network>/predictions.csv (one row per
test sample and fold), curves.csv (per-epoch training loss and accuracy per fold) and dvclive
logs of the mean curve.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from tqdm import tqdm

import models
from pipeline.datasets import Inputs, inputs_for
from pipeline.index import load_index
from pipeline.protocols import Fold, make_folds
from pipeline.schemes import SCHEMES

REPO = Path(__file__).resolve().parents[1]
CODE = ["pipeline/train.py", "pipeline/datasets.py", "pipeline/energy.py", "pipeline/temporal.py"]


def section_of(network: str, params: dict) -> dict:
    """SMA-STN is the flagship `model:` section; the others live under `baselines:`."""
    return params["model"] if network == "sma_stn" else params["baselines"][network]


def device_of() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def content_hash(paths: list[Path]) -> str:
    """sha256 over the bytes of files (sorted), for cache keys."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.as_posix().encode())
        with open(path, "rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


@dataclass
class FoldResult:
    predictions: list[dict]        # sample_id, label, prediction, probabilities
    curve: list[dict]              # epoch, loss, accuracy
    weights: str                   # sha256 of the trained weights: equal weights, equal model


def weights_hash(net: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(net.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def make_optimizer(net: torch.nn.Module, cfg: dict) -> tuple[torch.optim.Optimizer, object]:
    """The paper's optimiser and schedule from the params section."""
    opt = cfg["optimizer"]
    if opt["name"] == "sgd":
        optimizer = torch.optim.SGD(net.parameters(), lr=float(opt["lr"]),
                                    momentum=float(opt.get("momentum", 0.0)),
                                    weight_decay=float(opt.get("weight_decay", 0.0)))
    elif opt["name"] == "adam":
        optimizer = torch.optim.Adam(net.parameters(), lr=float(opt["lr"]),
                                     weight_decay=float(opt.get("weight_decay", 0.0)))
    else:
        raise ValueError(f"unknown optimizer {opt['name']!r}; use sgd or adam")
    step, gamma = int(opt.get("step_epochs", 1)), float(opt.get("gamma", 1.0))
    return optimizer, torch.optim.lr_scheduler.StepLR(optimizer, step_size=step, gamma=gamma)


def epoch_order(labels: np.ndarray, balance: bool, rng: np.random.Generator) -> np.ndarray:
    """Indices of one epoch: a permutation, or every class resampled to the largest class's
    count (Micro-Attention's class balancing)."""
    if not balance:
        return rng.permutation(len(labels))
    classes, counts = np.unique(labels, return_counts=True)
    picks = [rng.choice(np.flatnonzero(labels == c), counts.max(), replace=True) for c in classes]
    return rng.permutation(np.concatenate(picks))


def batch(inputs: Inputs, ids: list[str], train: bool, rng: np.random.Generator) -> torch.Tensor:
    return torch.from_numpy(np.stack([inputs.sample(s, train, rng) for s in ids]))


def train_fold(network: str, cfg: dict, inputs: Inputs, fold: Fold, labels: dict[str, int],
               classes: tuple[str, ...], seed: int, device: torch.device) -> FoldResult:
    """Train on fold.train for the fixed epoch budget, then predict fold.test once."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    inputs.fit(list(fold.train))
    net = models.create_model(cfg["network"], num_classes=len(classes), **net_kwargs(cfg))
    net.to(device)
    optimizer, schedule = make_optimizer(net, cfg)
    train_ids = list(fold.train)
    y = np.array([labels[s] for s in train_ids])
    size = int(cfg["batch_size"])
    amp = device.type == "cuda" and bool(cfg.get("amp", True))
    curve = []
    for epoch in range(int(cfg["epochs"])):
        net.train()
        order = epoch_order(y, bool(cfg.get("balance_classes", False)), rng)
        total, correct, seen = 0.0, 0, 0
        for start in range(0, len(order), size):
            chosen = order[start:start + size]
            if len(chosen) < 2 and len(order) > 1:          # BatchNorm needs two samples
                continue
            x = batch(inputs, [train_ids[i] for i in chosen], True, rng).to(device)
            target = torch.from_numpy(y[chosen]).to(device)
            with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
                out = net(x)
                loss, _ = net.loss(out, target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(chosen)
            correct += int((out.logits.argmax(1) == target).sum())
            seen += len(chosen)
        schedule.step()
        curve.append({"epoch": epoch + 1, "loss": total / max(seen, 1),
                      "accuracy": correct / max(seen, 1)})
    net.eval()
    predictions = []
    with torch.no_grad():
        test_ids = list(fold.test)
        for start in range(0, len(test_ids), size):
            ids = test_ids[start:start + size]
            x = batch(inputs, ids, False, rng).to(device)
            probabilities = torch.softmax(net(x).logits.float(), dim=1).cpu().numpy()
            for sid, p in zip(ids, probabilities):
                predictions.append({"sample_id": sid, "label": classes[labels[sid]],
                                    "prediction": classes[int(p.argmax())],
                                    "probabilities": " ".join(f"{v:.4f}" for v in p)})
    return FoldResult(predictions, curve, weights_hash(net))


def fold_seed(seed: int, protocol: str, fold: str) -> int:
    """A fold's seed from the params seed and the fold's name, whatever order folds run in."""
    return int.from_bytes(hashlib.sha256(f"{seed}/{protocol}/{fold}".encode()).digest()[:4], "little")


def fold_key(network: str, cfg: dict, fold: Fold, labels: dict[str, int], data_hash: str,
             code_hash: str) -> str:
    payload = json.dumps({"network": network, "cfg": cfg, "protocol": fold.protocol,
                          "fold": fold.name, "scheme": fold.scheme, "train": fold.train,
                          "test": fold.test, "labels": [labels[s] for s in fold.train + fold.test],
                          "data": data_hash, "code": code_hash}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


# The params key `lambda` of a section is the weight of the network's extra loss term.
LOSS_WEIGHT = {"sma_stn": "de_weight", "fr": "proposal_weight", "stanet": "l1_weight"}


def net_kwargs(cfg: dict) -> dict:
    """Constructor arguments: the section's `net` plus `lambda` under the network's own name."""
    kwargs = dict(cfg.get("net", {}))
    if "lambda" in cfg:
        if cfg["network"] not in LOSS_WEIGHT:
            raise ValueError(f"params: {cfg['network']} has no loss weight; remove its `lambda`")
        kwargs[LOSS_WEIGHT[cfg["network"]]] = float(cfg["lambda"])
    return kwargs


def checkpoints(cfg: dict) -> list[Path]:
    """Local weight files named in the network's arguments (they change what is trained)."""
    files = [Path(v) for v in cfg.get("net", {}).values() if isinstance(v, str) and v]
    missing = [f for f in files if f.suffix in {".pt", ".pth"} and not f.is_file()]
    if missing:
        raise SystemExit(f"train@{cfg['network']}: checkpoint {missing[0]} does not exist; run "
                         "`dvc repro pretrain` or remove it from the network's `net` params")
    return [f for f in files if f.is_file()]


def run(network: str, params: dict, out_dir: Path, cache_dir: Path,
        shards_root: Path = Path("data/shards"), index_path: str = "data/index/samples.csv") -> pd.DataFrame:
    """Train every fold of the network's protocols; returns the predictions table."""
    cfg = section_of(network, params)
    table = load_index(index_path)
    inputs = inputs_for(cfg["network"], cfg, shards_root)
    stages = sorted({inputs.stage, "flow"} if cfg["network"] == "micro_attention" else {inputs.stage})
    data_hash = content_hash([p for st in stages for p in (shards_root / st).glob("*/*.h5")]
                             + checkpoints(cfg))
    code_hash = content_hash([REPO / c for c in CODE] + sorted((REPO / "models").glob("*.py")))
    device = device_of()
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
        # Small inputs: more intra-op threads mostly add synchronisation (measured 2.5x slower
        # with 2 threads than 1 on a 2-core machine); paper-sized inputs may want more.
        torch.set_num_threads(int(cfg.get("threads", 1)))
    cache_dir.mkdir(parents=True, exist_ok=True)

    jobs = []
    for name in cfg["protocols"]:
        spec = params["protocols"][name]
        for fold in make_folds(table, spec):
            have = set(inputs.shards.sample_ids)
            fold = Fold(fold.protocol, fold.name, tuple(s for s in fold.train if s in have),
                        tuple(s for s in fold.test if s in have), fold.scheme)
            if fold.test and fold.train:
                jobs.append((name, fold))
    rows, curves = [], []
    started = time.time()
    bar = tqdm(jobs, desc=f"train@{network}", unit="fold")
    for name, fold in bar:
        scheme = SCHEMES[fold.scheme]
        column = table.set_index("sample_id")[fold.scheme]
        labels = {s: scheme.classes.index(str(column[s])) for s in fold.train + fold.test}
        key = fold_key(network, cfg, fold, labels, data_hash, code_hash)
        cached = cache_dir / f"{key}.json"
        bar.set_postfix_str(f"{name} {fold.name}")
        if cached.exists():
            result = FoldResult(**json.loads(cached.read_text()))
        else:
            result = train_fold(network, cfg, inputs, fold, labels, scheme.classes,
                                fold_seed(int(cfg.get("seed", 0)), name, fold.name), device)
            tmp = cached.with_suffix(".tmp")
            tmp.write_text(json.dumps(vars(result)))
            os.replace(tmp, cached)
        last = result.curve[-1] if result.curve else {"loss": float("nan"), "accuracy": float("nan")}
        bar.set_postfix_str(f"{name} {fold.name} loss {last['loss']:.3f} acc {last['accuracy']:.2f}")
        rows += [{"protocol": name, "fold": fold.name, **p} for p in result.predictions]
        curves += [{"protocol": name, "fold": fold.name, **c} for c in result.curve]
    predictions = pd.DataFrame(rows, columns=["protocol", "fold", "sample_id", "label",
                                              "prediction", "probabilities"])
    out_dir.mkdir(parents=True, exist_ok=True)
    predictions.to_csv(out_dir / "predictions.csv", index=False)
    curve_table = pd.DataFrame(curves, columns=["protocol", "fold", "epoch", "loss", "accuracy"])
    curve_table.to_csv(out_dir / "curves.csv", index=False)
    log_curves(curve_table, out_dir / "live")
    print(f"train@{network}: {len(jobs)} folds, {len(predictions)} test predictions in "
          f"{time.time() - started:.0f} s -> {out_dir}")
    return predictions


def log_curves(curves: pd.DataFrame, live_dir: Path) -> None:
    """The mean training curve over folds, per protocol, as dvclive metrics (for dvc plots)."""
    from dvclive import Live

    with Live(str(live_dir), save_dvc_exp=False, dvcyaml=None) as live:
        mean = curves.groupby(["protocol", "epoch"])[["loss", "accuracy"]].mean().reset_index()
        for epoch, rows in mean.groupby("epoch"):
            live.step = int(epoch)
            for row in rows.itertuples():
                live.log_metric(f"{row.protocol}/train_loss", float(row.loss))
                live.log_metric(f"{row.protocol}/train_accuracy", float(row.accuracy))


def main(network: str, params_path: str = "params.yaml") -> None:
    params = yaml.safe_load(Path(params_path).read_text())
    run(network, params, Path("data/runs") / network, Path("data/cache/train") / network)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m pipeline.train <network> [params.yaml]")
    main(*sys.argv[1:])
