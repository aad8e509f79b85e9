"""`evaluate@<network>` stage: predictions -> metrics/<network>.json (headline numbers),
metrics/details/<network>.json (everything) and plot data.

Per protocol: the predictions of all folds pooled, then UF1, UAR, WAR (accuracy) and macro-F1
(pipeline/metrics.py states the conventions), overall and per database, with per-class support
and the classes left out of a subset; the per-fold mean UF1 is shown beside the pooled one so the
difference is visible, never instead of it. Confusion matrices go to
metrics/plots/<network>/confusion_<protocol>.csv (rows: actual, predicted) and the training
curves to metrics/plots/<network>/curves_<protocol>.csv, both declared as DVC plots.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pandas as pd
import yaml

from pipeline.metrics import per_fold_mean, pooled
from pipeline.schemes import SCHEMES


def evaluate(predictions: pd.DataFrame, params: dict, network: str,
             curves: pd.DataFrame | None = None) -> dict:
    """The metrics document of one network; `curves` adds the final training loss and accuracy
    (mean over folds of the last epoch), which show an experiment's effect on training."""
    section = params["model"] if network == "sma_stn" else params["baselines"][network]
    out = {"network": section["network"], "protocols": {}}
    for name in section["protocols"]:
        spec = params["protocols"][name]
        classes = list(SCHEMES[spec["scheme"]].classes)
        rows = predictions[predictions["protocol"] == name]
        if rows.empty:
            continue
        index = {c: i for i, c in enumerate(classes)}
        y, p = rows["label"].map(index).tolist(), rows["prediction"].map(index).tolist()
        result = {**pooled(y, p, classes), "folds": int(rows["fold"].nunique()),
                  "scheme": spec["scheme"]}
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
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in predictions.groupby("protocol"):
        rows[["sample_id", "label", "prediction"]].rename(
            columns={"label": "actual", "prediction": "predicted"}).to_csv(
            folder / f"confusion_{name}.csv", index=False)
    for name, rows in curves.groupby("protocol"):
        rows.groupby("epoch")[["loss", "accuracy"]].mean().reset_index().to_csv(
            folder / f"curves_{name}.csv", index=False)


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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n")
    os.replace(tmp, path)


def main(network: str, params_path: str = "params.yaml") -> None:
    params = yaml.safe_load(Path(params_path).read_text())
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
    main(*sys.argv[1:])
