"""`evaluate@<network>` stage: predictions -> metrics/<network>.json (headline numbers),
metrics/details/<network>.json (everything) and plot data. The network's card
(models/registry.py) says which params section lists its protocols.

Per protocol: the predictions of all folds pooled, then UF1, UAR, WAR (accuracy) and macro-F1
(pipeline/metrics.py states the conventions), overall and per database, with per-class support
and the classes left out of a subset; the per-fold mean UF1 is shown beside the pooled one so the
difference is visible, never instead of it. Confusion matrices go to
metrics/plots/<network>/confusion_<protocol>.csv (rows: actual, predicted) and the training
curves to metrics/plots/<network>/curves_<protocol>.csv, both declared as DVC plots.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

import models
from pipeline.atomic import write_atomic
from pipeline.metrics import per_fold_mean, pooled
from pipeline.params import ParamsError, TrainConfig, parse, read_params, section
from pipeline.protocols import parse_protocols
from pipeline.schemes import SCHEMES


def evaluate(predictions: pd.DataFrame, params: dict, network: str,
             curves: pd.DataFrame | None = None) -> dict:
    """The metrics document of one network; `curves` adds the final training loss and accuracy
    (mean over folds of the last epoch), which show an experiment's effect on training."""
    where = models.card(network).section
    cfg = parse(TrainConfig, section(params, where), where)
    protocols = parse_protocols(params)
    out = {"network": network, "protocols": {}}
    for name in cfg.protocols:
        spec = protocols[name]
        classes = list(SCHEMES[spec.scheme].classes)
        rows = predictions[predictions["protocol"] == name]
        if rows.empty:
            continue
        index = {c: i for i, c in enumerate(classes)}
        y, p = rows["label"].map(index).tolist(), rows["prediction"].map(index).tolist()
        result = {**pooled(y, p, classes), "folds": int(rows["fold"].nunique()),
                  "scheme": spec.scheme}
        folds = [(g["label"].map(index).tolist(), g["prediction"].map(index).tolist())
                 for _, g in rows.groupby("fold")]
        result["per_fold_mean"] = per_fold_mean(folds, classes)
        databases = rows["sample_id"].str.split("/").str[0]
        result["per_database"] = {
            db: {k: v for k, v in pooled(g["label"].map(index).tolist(),
                                         g["prediction"].map(index).tolist(), classes).items()
                 if k != "confusion"}
            for db, g in rows.groupby(databases)}
        if curves is not None:
            last = curves[curves["protocol"] == name].sort_values("epoch").groupby("fold").tail(1)
            result["train_loss"] = round(float(last["loss"].mean()), 4)
            result["train_accuracy"] = round(float(last["accuracy"].mean()), 4)
        out["protocols"][name] = result
    return out


def write_plots(predictions: pd.DataFrame, curves: pd.DataFrame, folder: Path) -> None:
    for name, rows in predictions.groupby("protocol"):
        table = rows[["sample_id", "label", "prediction"]].rename(
            columns={"label": "actual", "prediction": "predicted"})
        write_atomic(folder / f"confusion_{name}.csv", table.to_csv(index=False))
    for name, rows in curves.groupby("protocol"):
        mean = rows.groupby("epoch")[["loss", "accuracy"]].mean().reset_index()
        write_atomic(folder / f"curves_{name}.csv", mean.to_csv(index=False))


HEADLINE = ["uf1", "uar", "war", "macro_f1", "folds", "samples", "train_loss", "train_accuracy"]


def headline(metrics: dict) -> dict:
    """The numbers `dvc metrics show/diff` and `dvc exp show` print: per protocol the pooled
    scores, the per-fold mean UF1, folds, samples and the final training loss. Per-class and
    per-database scores and the confusion matrix stay in the details file, so the tables stay
    readable."""
    return {name: {**{k: m[k] for k in HEADLINE if k in m},
                   "per_fold_mean_uf1": m["per_fold_mean"]["uf1"]}
            for name, m in metrics["protocols"].items()}


def write_json(path: Path, document: dict) -> None:
    write_atomic(path, json.dumps(document, indent=2) + "\n")


def main(network: str, params_path: str = "params.yaml") -> None:
    params = read_params(params_path)
    runs = Path("data/runs") / network
    predictions = pd.read_csv(runs / "predictions.csv")
    curves = pd.read_csv(runs / "curves.csv")
    metrics = evaluate(predictions, params, network, curves)
    write_json(Path("metrics") / f"{network}.json", headline(metrics))
    write_json(Path("metrics/details") / f"{network}.json", metrics)
    write_plots(predictions, curves, Path("metrics/plots") / network)
    for name, result in metrics["protocols"].items():
        print(f"evaluate@{network} {name}: UF1 {result['uf1']:.3f} UAR {result['uar']:.3f} "
              f"WAR {result['war']:.3f} over {result['folds']} folds")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m pipeline.evaluate <network> [params.yaml]")
    try:
        main(*sys.argv[1:])
    except ParamsError as error:
        sys.exit(f"evaluate@{sys.argv[1]}: {error}")
