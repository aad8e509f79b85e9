"""`train@<network>` stage: every fold of every configured protocol, in one process.

    python -m pipeline.train sma_stn          # params: `model` (SMA-STN's card) and `protocols`
    python -m pipeline.train fr               # params: `baselines.fr` and `protocols`

What the stage knows about a network comes from its card (models/registry.py): the params
section, the input view (pipeline/datasets.py) and the input shape, the constructor argument
that `lambda` sets. The section is checked when the stage starts (pipeline/params.py): `net:`
against the network's constructor, `input:` against the view's, and the shape the view gives
against the one the network takes, so a wrong setting stops the stage before any training.

For each fold the network is built fresh, trained for a FIXED number of epochs on the fold's
training samples only (fold statistics such as STRCN-A's mask come from them too), and then
predicts the held-out samples once: nothing is chosen by looking at the test fold, so the
scores in metrics/ are not inflated by epoch picking.

A finished fold's predictions are cached in data/cache/train/<network>/ under a key made of
everything that determines them (the section, the fold's ids and labels, the content of the
shards and checkpoints it reads, and every project file the stage runs: the same import closure
dvc.yaml lists, pipeline/closure.py), so a killed `dvc repro` resumes at the next fold and an
unchanged fold is never trained twice. Writes data/runs/<network>/predictions.csv (one row per
test sample and fold), curves.csv (per-epoch training loss and accuracy per fold) and dvclive
logs of the mean curve, and data/models/<network>.pt: the network trained once more on every
labelled sample of its first protocol, for use on new clips (pipeline/artifacts.py,
pipeline/predict.py); no reported metric comes from it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

import models
from pipeline.artifacts import model_path, preprocessing_of, save_model
from pipeline.atomic import write_atomic
from pipeline.closure import REPO, code_files
from pipeline.datasets import Inputs, view
from pipeline.params import (ParamsError, TrainConfig, merged, parse, parse_arguments, read_params,
                             section)
from pipeline.protocols import Fold, make_folds, parse_protocols
from pipeline.samples import SAMPLES, read_samples
from pipeline.schemes import SCHEMES
from pipeline.training import batch_order, device_of, fit, precision_for, use_device


@dataclass(frozen=True)
class Network:
    """A network ready to train: its name and card, its checked section, and the constructor
    arguments of the network and of its input view."""

    name: str
    card: models.Card
    cfg: TrainConfig
    net: dict          # constructor arguments (the section's `net`, plus `lambda` where it has one)
    input: dict        # input view arguments (the section's `input`)

    def inputs(self, shards_root: Path | str = "data/shards", load: list[str] | None = None,
               device: torch.device | str = "cpu") -> Inputs:
        """The network's input view; with `load`, those samples read onto `device`."""
        inputs = view(self.card.inputs)(**self.input, shards_root=shards_root)
        if load is not None:
            inputs.load(load, device)
        return inputs

    def build(self, num_classes: int) -> torch.nn.Module:
        return models.create_model(self.name, num_classes=num_classes, **self.net)

    def checkpoints(self) -> list[Path]:
        """Local weight files among the constructor arguments: they change what is trained."""
        return [Path(v) for k, v in self.net.items() if k.endswith("checkpoint") and v]


def network(name: str, params: dict, protocol: str | None = None) -> Network:
    """The network `name` with its section checked against its card and constructors, with the
    section's `per_protocol` settings for `protocol` on top when given (every override is
    checked either way); a ParamsError names the first key that is wrong."""
    try:
        card = models.card(name)
    except ValueError:
        card = None
    if card is None or card.section is None:
        raise ParamsError(f"no network {name!r} with a train stage; choose from "
                          f"{', '.join(models.pipeline_networks())}")
    raw = section(params, card.section)
    base = checked(name, card, raw, card.section)
    protocols = parse_protocols(params)
    for key, where in [(p, f"{card.section}.protocols") for p in base.cfg.protocols] + \
            [(p, f"{card.section}.per_protocol") for p in base.cfg.per_protocol]:
        if key not in protocols:
            raise ParamsError(f"params.yaml: {where}: {key!r} is not in the protocols section "
                              f"({', '.join(protocols)})")
    special = {p: checked(name, card, merged(raw, o), f"{card.section}.per_protocol.{p}")
               for p, o in base.cfg.per_protocol.items()}
    return special.get(protocol, base) if protocol is not None else base


def checked(name: str, card: models.Card, raw: dict, where: str) -> Network:
    """One section (or a section with one protocol's overrides merged in) as a Network."""
    cfg = parse(TrainConfig, raw, where)
    if card.loss_weight is not None and cfg.lambda_ is None:
        raise ParamsError(f"params.yaml: {where}.lambda: missing key: the weight of {name}'s extra "
                          f"loss term ({card.loss_weight})")
    if card.loss_weight is None and cfg.lambda_ is not None:
        raise ParamsError(f"params.yaml: {where}.lambda: {name} has no extra loss term to weight; "
                          "remove the key")
    given = ("num_classes",) + ((card.loss_weight,) if card.loss_weight else ())
    net = parse_arguments(models.builder(name), cfg.net, f"{where}.net", given)
    if card.loss_weight:
        net[card.loss_weight] = cfg.lambda_
    for key, value in net.items():
        if key.endswith("checkpoint") and value and not Path(value).is_file():
            raise ParamsError(f"params.yaml: {where}.net.{key}: {value} does not exist; run "
                              "`dvc repro pretrain` or set it to null")
    inputs = parse_arguments(view(card.inputs), cfg.input, f"{where}.input", ("shards_root",))
    try:
        view(card.inputs)(**inputs)
    except ValueError as error:
        raise ParamsError(f"params.yaml: {where}.input.{error}") from None
    return Network(name, card, cfg, net, inputs)


def check_input_shape(net: Network, inputs: Inputs, train_ids: list[str]) -> None:
    """The shape the input view gives (fitted to a fold's training samples, as training fits
    it) against the one the card says the network takes."""
    inputs.fit(train_ids)
    got = inputs.sample(train_ids[0], False, np.random.default_rng(0)).shape
    want = tuple(net.net[d] if isinstance(d, str) else d for d in net.card.input_shape)
    if len(got) != len(want) or any(w is not None and w != g for w, g in zip(want, got)):
        shown = tuple("any" if w is None else w for w in want)
        raise ParamsError(f"params.yaml: {net.card.section}: {net.name} takes inputs {shown} "
                          f"(its net arguments), but its input view {net.card.inputs} gives "
                          f"{tuple(got)} from data/shards/{'+'.join(inputs.stages)}; make the "
                          "network's arguments and the preprocessing sizes agree")


def content_hash(paths: list[Path]) -> str:
    """sha256 over the names and bytes of files (sorted), for cache keys."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.as_posix().encode())
        with open(path, "rb") as file:
            digest.update(hashlib.file_digest(file, "sha256").digest())
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


def epoch_order(labels: np.ndarray, balance: bool, rng: np.random.Generator) -> np.ndarray:
    """Indices of one epoch: a permutation, or every class resampled to the largest class's
    count (Micro-Attention's class balancing)."""
    if not balance:
        return rng.permutation(len(labels))
    classes, counts = np.unique(labels, return_counts=True)
    picks = [rng.choice(np.flatnonzero(labels == c), counts.max(), replace=True) for c in classes]
    return rng.permutation(np.concatenate(picks))


def train_model(net: Network, inputs: Inputs, train_ids: list[str], labels: dict[str, int],
                num_classes: int, seed: int, device: torch.device
                ) -> tuple[torch.nn.Module, list[dict], np.random.Generator]:
    """A fresh network trained on `train_ids` for the fixed epoch budget, the input view fitted
    to them first; returns it in eval mode, its curve, and the random stream where it stopped."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    inputs.fit(train_ids)
    model = net.build(num_classes)
    precision = precision_for(device, net.cfg.amp, net.cfg.amp_dtype)
    y = np.array([labels[s] for s in train_ids])
    targets = torch.from_numpy(y).to(device)

    def batches(epoch: int):
        order = epoch_order(y, net.cfg.balance_classes, rng)
        for chosen in batch_order(len(order), net.cfg.batch_size, rng, order):
            yield (inputs.batch([train_ids[i] for i in chosen], True, rng),
                   targets[torch.from_numpy(chosen).to(device)])

    curve = fit(model, net.cfg.optimizer, net.cfg.epochs, batches, device, precision)
    model.eval()
    return model, curve, rng


def train_fold(net: Network, inputs: Inputs, fold: Fold, labels: dict[str, int],
               classes: tuple[str, ...], seed: int, device: torch.device) -> FoldResult:
    """Train on fold.train for the fixed epoch budget, then predict fold.test once. `inputs`
    holds the fold's samples on `device` (Inputs.load)."""
    model, curve, rng = train_model(net, inputs, list(fold.train), labels, len(classes), seed,
                                    device)
    precision = precision_for(device, net.cfg.amp, net.cfg.amp_dtype)
    predictions = []
    size = net.cfg.batch_size
    with torch.no_grad(), torch.autocast(device.type, dtype=precision.dtype,
                                         enabled=precision.enabled):
        test_ids = list(fold.test)
        for start in range(0, len(test_ids), size):
            ids = test_ids[start:start + size]
            logits = model(inputs.batch(ids, False, rng)).logits
            probabilities = torch.softmax(logits.float(), dim=1).cpu().numpy()
            for sid, p in zip(ids, probabilities):
                predictions.append({"sample_id": sid, "label": classes[labels[sid]],
                                    "prediction": classes[int(p.argmax())],
                                    "probabilities": " ".join(f"{v:.4f}" for v in p)})
    return FoldResult(predictions, curve, weights_hash(model))


@dataclass
class Final:
    """What the final model of a network trains on: every labelled sample of its first
    protocol, with that protocol's settings (pipeline/artifacts.py)."""

    protocol: str
    net: Network
    inputs: Inputs
    ids: list[str]
    labels: dict[str, int]
    classes: tuple[str, ...]
    scheme: str


def train_final(final: Final, params: dict, data_hash: str, code_hash: str, cache_dir: Path,
                path: Path, device: torch.device) -> None:
    """Train the network once on `final.ids` (same epochs, the first seed; no metric comes from
    it) and write the model file to `path`, from the fold cache when nothing it depends on
    changed. Checkpoint arguments are dropped from the recorded constructor arguments: the
    weights are in the file, and loading it must not need the pre-training's file."""
    net = final.net
    meta = {"network": net.name, "classes": final.classes, "scheme": final.scheme,
            "protocol": final.protocol,
            "net": {k: None if k.endswith("checkpoint") else v for k, v in net.net.items()},
            "view": net.card.inputs, "view_arguments": net.input,
            "section": section(params, net.card.section), "preprocessing": preprocessing_of(params),
            "samples": len(final.ids)}
    seed = net.cfg.seeds[0]
    fold = Fold(final.protocol, FINAL, tuple(final.ids), (), final.scheme)
    key = fold_key(net, fold, seed, final.labels, data_hash, code_hash)
    key = hashlib.sha256(f"{key}/{json.dumps(meta, sort_keys=True, default=str)}".encode()).hexdigest()[:32]
    cached = cache_dir / f"{key}.pt"
    if not cached.exists():
        started = time.time()
        model, _, _ = train_model(net, final.inputs, final.ids, final.labels, len(final.classes),
                                  fold_seed(seed, final.protocol, FINAL), device)
        save_model(cached, module=model, fitted=final.inputs.fitted(), **meta)
        print(f"train@{net.name}: final model on {len(final.ids)} samples of {final.protocol} "
              f"in {time.time() - started:.0f} s")
    write_atomic(path, cached.read_bytes())


def fold_seed(seed: int, protocol: str, fold: str) -> int:
    """A fold's seed from the params seed and the fold's name, whatever order folds run in."""
    return int.from_bytes(hashlib.sha256(f"{seed}/{protocol}/{fold}".encode()).digest()[:4], "little")


FINAL = "final"          # the fold name of the model trained on every sample of a protocol

# Environment variables that change torch's CPU arithmetic (pipeline/__init__.py sets them).
NUMERICS = ("MKL_CBWR", "ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY")


def fold_key(net: Network, fold: Fold, seed: int, labels: dict[str, int], data_hash: str,
             code_hash: str) -> str:
    """Everything a fold's result depends on: the settings it trains with (not the list of
    protocols or seeds: adding one trains only the new folds), its seed, the fold, the data,
    the code, torch and its kernels."""
    cfg = {k: v for k, v in dataclasses.asdict(net.cfg).items()
           if k not in ("protocols", "seeds", "per_protocol", "folds_at_once")}
    numerics = {"torch": torch.__version__, **{v: os.environ.get(v) for v in NUMERICS}}
    payload = json.dumps({"network": net.name, "cfg": cfg, "seed": seed, "numerics": numerics,
                          "protocol": fold.protocol, "fold": fold.name, "scheme": fold.scheme,
                          "train": fold.train, "test": fold.test,
                          "labels": [labels[s] for s in fold.train + fold.test],
                          "data": data_hash, "code": code_hash}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def stage_code(name: str) -> list[Path]:
    """The project files train@<name> runs (its dvc.yaml code deps): the fold cache key."""
    return code_files("pipeline.train", models.module_of(name))


@dataclass
class Job:
    """One fold to train: its protocol's settings, one of the seeds, its labels, its cache file."""

    protocol: str
    seed: int
    fold: Fold
    net: Network
    labels: dict[str, int]
    classes: tuple[str, ...]
    cached: Path


def report_checkpoints(net: Network) -> None:
    """Say how many tensors a network's checkpoint gives it (a stray layout loads nothing and
    fails here, before any fold trains)."""
    if net.checkpoints():
        try:
            model = net.build(2)
        except ValueError as error:
            raise ParamsError(f"params.yaml: {net.card.section}.net: {error}") from None
        print(f"train@{net.name}: {', '.join(map(str, net.checkpoints()))}: "
              f"{getattr(model, 'loaded_tensors', '?')} tensors loaded")


def protocol_ids(folds: list[Fold]) -> list[str]:
    """Every sample a protocol's folds train or test on, sorted: what its view loads."""
    return sorted({s for f in folds for s in f.train + f.test})


# One process of `folds_at_once`: the protocols' inputs it has loaded, kept between its folds.
_WORKER: dict[str, Inputs] = {}


def train_in_worker(job: Job, ids: list[str], shards_root: str, device: str) -> FoldResult:
    """`train_fold` in a worker process (folds_at_once > 1): it loads the job's protocol once."""
    key = f"{job.net.name}/{job.protocol}"
    if key not in _WORKER:
        use_device(torch.device(device), job.net.cfg.threads, job.net.cfg.deterministic)
        _WORKER.clear()
        _WORKER[key] = job.net.inputs(shards_root)
        _WORKER[key].load(ids, device)
    return train_fold(job.net, _WORKER[key], job.fold, job.labels, job.classes,
                      fold_seed(job.seed, job.protocol, job.fold.name), torch.device(device))


def run(name: str, params: dict, out_dir: Path, cache_dir: Path,
        shards_root: Path = Path("data/shards"), index_path: str | Path = SAMPLES,
        model_file: Path | None = None) -> pd.DataFrame:
    """Train every fold of the network's protocols, once per seed; returns the predictions.
    With `model_file`, the final model (`train_final`) is written there too.

    `folds_at_once: N` trains N folds at a time in N worker processes on the same device (each
    a fold's model and the protocol's inputs of its own); every fold has its own seed, so the
    results are the ones one fold at a time gives, and finished folds are cached as before."""
    base = network(name, params)
    protocols = parse_protocols(params)
    table = read_samples(index_path)
    stages = base.inputs(shards_root).stages
    data_hash = content_hash([p for st in stages for p in (Path(shards_root) / st).glob("*/*.h5")]
                             + base.checkpoints())
    code_hash = content_hash([REPO / f for f in stage_code(name)])
    device = device_of()
    use_device(device, base.cfg.threads, base.cfg.deterministic)
    report_checkpoints(base)
    cache_dir.mkdir(parents=True, exist_ok=True)
    column_of = table.set_index("sample_id")

    jobs, views = [], {}
    final: Final | None = None
    for protocol in base.cfg.protocols:
        net = network(name, params, protocol)
        inputs = net.inputs(shards_root)
        have = inputs.sample_ids()
        folds = []
        for fold in make_folds(table, protocols[protocol]):
            fold = Fold(fold.protocol, fold.name, tuple(s for s in fold.train if s in have),
                        tuple(s for s in fold.test if s in have), fold.scheme)
            if fold.test and fold.train:
                folds.append(fold)
        if not folds:
            continue
        inputs.load(protocol_ids(folds), device)
        check_input_shape(net, inputs, list(folds[0].train))
        views[protocol] = (inputs, protocol_ids(folds))
        if final is None:
            scheme = folds[0].scheme
            labels = {s: SCHEMES[scheme].classes.index(str(column_of.at[s, scheme]))
                      for s in protocol_ids(folds)}
            final = Final(protocol, net, inputs, protocol_ids(folds), labels,
                          SCHEMES[scheme].classes, scheme)
        for seed in net.cfg.seeds:
            for fold in folds:
                scheme = SCHEMES[fold.scheme]
                labels = {s: scheme.classes.index(str(column_of.at[s, fold.scheme]))
                          for s in fold.train + fold.test}
                key = fold_key(net, fold, seed, labels, data_hash, code_hash)
                jobs.append(Job(protocol, seed, fold, net, labels, scheme.classes,
                                cache_dir / f"{key}.json"))

    started = time.time()
    results = train_jobs(name, jobs, views, base.cfg.folds_at_once, shards_root, device,
                         several_seeds=len(base.cfg.seeds) > 1)
    if model_file is not None and final is not None:
        train_final(final, params, data_hash, code_hash, cache_dir, model_file, device)
    rows, curves = [], []
    for job, result in zip(jobs, results):
        tags = {"protocol": job.protocol, "seed": job.seed, "fold": job.fold.name}
        rows += [{**tags, **p} for p in result.predictions]
        curves += [{**tags, **c} for c in result.curve]
    predictions = pd.DataFrame(rows, columns=["protocol", "seed", "fold", "sample_id", "label",
                                              "prediction", "probabilities"])
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(out_dir / "predictions.csv", predictions.to_csv(index=False))
    curve_table = pd.DataFrame(curves, columns=["protocol", "seed", "fold", "epoch", "loss",
                                                "accuracy"])
    write_atomic(out_dir / "curves.csv", curve_table.to_csv(index=False))
    log_curves(curve_table, out_dir / "live")
    print(f"train@{name}: {len(jobs)} folds, {len(predictions)} test predictions in "
          f"{time.time() - started:.0f} s -> {out_dir}")
    return predictions


def train_jobs(name: str, jobs: list[Job], views: dict[str, tuple[Inputs, list[str]]],
               at_once: int, shards_root: Path, device: torch.device,
               several_seeds: bool) -> list[FoldResult]:
    """Every job's result, in job order: from the cache, or trained here (one at a time) or in
    `at_once` worker processes; each new result is cached as soon as it is done."""
    results: list[FoldResult | None] = [None] * len(jobs)
    todo = []
    for i, job in enumerate(jobs):
        if job.cached.exists():
            results[i] = FoldResult(**json.loads(job.cached.read_text()))
        else:
            todo.append(i)
    bar = tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc=f"train@{name}", unit="fold")

    def done(i: int, result: FoldResult) -> None:
        write_atomic(jobs[i].cached, json.dumps(vars(result)))
        results[i] = result
        job, last = jobs[i], result.curve[-1] if result.curve else {"loss": float("nan"),
                                                                      "accuracy": float("nan")}
        where = f"{job.protocol} {job.fold.name}" + (f" seed {job.seed}" if several_seeds else "")
        bar.set_postfix_str(f"{where} loss {last['loss']:.3f} acc {last['accuracy']:.2f}")
        bar.update()

    if at_once <= 1 or len(todo) <= 1:
        for i in todo:
            job = jobs[i]
            done(i, train_fold(job.net, views[job.protocol][0], job.fold, job.labels, job.classes,
                               fold_seed(job.seed, job.protocol, job.fold.name), device))
    else:
        context = multiprocessing.get_context("spawn")     # CUDA and OpenMP are not fork-safe
        with ProcessPoolExecutor(min(at_once, len(todo)), mp_context=context) as pool:
            futures = {pool.submit(train_in_worker, jobs[i], views[jobs[i].protocol][1],
                                   str(shards_root), str(device)): i for i in todo}
            for future in as_completed(futures):
                done(futures[future], future.result())
    bar.close()
    return results


def log_curves(curves: pd.DataFrame, live_dir: Path) -> None:
    """The mean training curve over folds, per protocol, as dvclive metrics (for dvc plots)."""
    from dvclive import Live

    with Live(str(live_dir), save_dvc_exp=False, dvcyaml=None) as live:
        mean = curves.groupby(["protocol", "epoch"])[["loss", "accuracy"]].mean().reset_index()   # over folds and seeds
        for epoch, rows in mean.groupby("epoch"):
            live.step = int(epoch)
            for row in rows.itertuples():
                live.log_metric(f"{row.protocol}/train_loss", float(row.loss))
                live.log_metric(f"{row.protocol}/train_accuracy", float(row.accuracy))


def main(name: str, params_path: str = "params.yaml") -> None:
    params = read_params(params_path)
    run(name, params, Path("data/runs") / name, Path("data/cache/train") / name,
        model_file=model_path(name))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m pipeline.train <network> [params.yaml]")
    try:
        main(*sys.argv[1:])
    except ParamsError as error:
        sys.exit(f"train@{sys.argv[1]}: {error}")
