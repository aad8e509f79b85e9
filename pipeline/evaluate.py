"""`evaluate@<network>` stage: predictions -> metrics/<network>.json (headline numbers),
metrics/details/<network>.json (everything) and plot data. The network's card
(models/registry.py) says which params section lists its protocols.

Per protocol: the predictions of all folds pooled, then UF1, UAR, WAR (accuracy) and macro-F1
(pipeline/metrics.py states the conventions), overall and per database, with per-class support
and the classes left out of a subset; the per-fold mean UF1 is shown beside the pooled one so the
difference is visible, never instead of it. Confusion matrices go to
metrics/plots/<network>/confusion_<protocol>.csv (rows: actual, predicted) and the training
curves to metrics/plots/<network>/curves_<protocol>.csv, both declared as DVC plots, and the
same as PNG figures beside them (confusion_<protocol>[_<database>].png, curves_<protocol>.png),
which `dvc plots show` puts in its page as images: they need no internet to be seen.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

import models
from pipeline import figures
from pipeline.atomic import write_atomic
from pipeline.metrics import per_fold_mean, pooled
from pipeline.params import ParamsError, TrainConfig, parse, read_params, section
from pipeline.protocols import parse_protocols
from pipeline.schemes import SCHEMES


SUMMARY = ["uf1", "uar", "war", "macro_f1"]


def score(rows: pd.DataFrame, classes: list[str]) -> dict:
    """Pooled scores of one run of a protocol (one seed): overall with the confusion matrix, the
    per-fold mean beside it, and per database."""
    index = {c: i for i, c in enumerate(classes)}

    def ids(frame: pd.DataFrame) -> tuple[list[int], list[int]]:
        return frame["label"].map(index).tolist(), frame["prediction"].map(index).tolist()

    result = {**pooled(*ids(rows), classes), "folds": int(rows["fold"].nunique())}
    result["per_fold_mean"] = per_fold_mean([ids(g) for _, g in rows.groupby("fold")], classes)
    databases = rows["sample_id"].str.split("/").str[0]
    result["per_database"] = {db: {k: v for k, v in pooled(*ids(g), classes).items()
                                   if k != "confusion"}
                              for db, g in rows.groupby(databases)}
    return result


def across_seeds(runs: dict[int, dict]) -> dict:
    """Several seeds of one protocol: the mean of each headline score with its standard
    deviation (population, over the seeds) beside it, the confusion matrices summed, and every
    seed's own pooled scores under `per_seed` (as FR reports the mean of 10 rounds)."""
    first = next(iter(runs.values()))
    result = {key: float(np.mean([r[key] for r in runs.values()])) for key in SUMMARY}
    result.update({f"{key}_std": float(np.std([r[key] for r in runs.values()])) for key in SUMMARY})
    result.update(folds=first["folds"], samples=first["samples"],
                  confusion=np.sum([r["confusion"] for r in runs.values()], axis=0).tolist(),
                  per_fold_mean={k: float(np.mean([r["per_fold_mean"][k] for r in runs.values()]))
                                 for k in first["per_fold_mean"]},
                  per_database={db: {k: float(np.mean([r["per_database"][db][k] for r in runs.values()]))
                                     for k in SUMMARY}
                                for db in first["per_database"]},
                  per_seed={str(seed): r for seed, r in runs.items()})
    return result


def evaluate(predictions: pd.DataFrame, params: dict, network: str,
             curves: pd.DataFrame | None = None) -> dict:
    """The metrics document of one network; `curves` adds the final training loss and accuracy
    (mean over folds and seeds of the last epoch), which show an experiment's effect on
    training."""
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
        runs = {int(seed): score(g, classes) for seed, g in rows.groupby("seed")}
        result = next(iter(runs.values())) if len(runs) == 1 else across_seeds(runs)
        result.update(scheme=spec.scheme, seeds=sorted(runs))
        if curves is not None:
            mine = curves[curves["protocol"] == name].sort_values("epoch")
            last = mine.groupby(["seed", "fold"]).tail(1)
            result["train_loss"] = float(last["loss"].mean())
            result["train_accuracy"] = float(last["accuracy"].mean())
        out["protocols"][name] = result
    return out


def write_plots(predictions: pd.DataFrame, curves: pd.DataFrame, folder: Path, network: str,
                metrics: dict) -> None:
    """The CSV data of DVC's Vega plots and the same as PNG figures (pipeline/figures.py), which
    need no internet to be seen: per protocol the confusion matrix (and one per database where
    the protocol pools several) and the mean training curve."""
    for name, rows in predictions.groupby("protocol"):
        table = rows[["seed", "sample_id", "label", "prediction"]].rename(
            columns={"label": "actual", "prediction": "predicted"})
        write_atomic(folder / f"confusion_{name}.csv", table.to_csv(index=False))
        scheme = metrics["protocols"][name]["scheme"]
        classes = list(SCHEMES[scheme].classes)
        seeds = rows["seed"].nunique()
        pooled = f", {seeds} seeds pooled" if seeds > 1 else ""
        title = f"{network} - {name} ({scheme}{pooled})"
        figures.confusion_figure(
            figures.confusion_counts(list(rows["label"]), list(rows["prediction"]), classes),
            classes, title, folder / f"confusion_{name}.png")
        databases = rows["sample_id"].str.split("/").str[0]
        if databases.nunique() > 1:
            for database, part in rows.groupby(databases):
                figures.confusion_figure(
                    figures.confusion_counts(list(part["label"]), list(part["prediction"]), classes),
                    classes, f"{network} - {name}, {database} ({scheme}{pooled})",
                    folder / f"confusion_{name}_{database}.png")
    for name, rows in curves.groupby("protocol"):
        mean = rows.groupby("epoch")[["loss", "accuracy"]].mean().reset_index()   # folds, seeds
        write_atomic(folder / f"curves_{name}.csv", mean.to_csv(index=False))
        figures.curves_figure(mean, f"{network} - {name}: training, mean over folds",
                              folder / f"curves_{name}.png")


HEADLINE = ["uf1", "uar", "war", "macro_f1", "uf1_std", "uar_std", "war_std", "folds", "samples",
            "train_loss", "train_accuracy"]


def headline(metrics: dict) -> dict:
    """The numbers `dvc metrics show/diff` and `dvc exp show` print: per protocol the pooled
    scores (their mean and standard deviation over seeds when there are several), the per-fold
    mean UF1, folds, samples, seeds and the final training loss. Per-class and per-database
    scores and the confusion matrix stay in the details file, so the tables stay readable."""
    return {name: {**{k: m[k] for k in HEADLINE if k in m},
                   "per_fold_mean_uf1": m["per_fold_mean"]["uf1"], "seeds": len(m["seeds"])}
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
    write_plots(predictions, curves, Path("metrics/plots") / network, network, metrics)
    for name, result in metrics["protocols"].items():
        spread = (f" (mean of {len(result['seeds'])} seeds, UF1 std {result['uf1_std']:.3f})"
                  if len(result["seeds"]) > 1 else "")
        print(f"evaluate@{network} {name}: UF1 {result['uf1']:.3f} UAR {result['uar']:.3f} "
              f"WAR {result['war']:.3f} over {result['folds']} folds{spread}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m pipeline.evaluate <network> [params.yaml]")
    try:
        main(*sys.argv[1:])
    except ParamsError as error:
        sys.exit(f"evaluate@{sys.argv[1]}: {error}")
