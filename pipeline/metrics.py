"""Recognition metrics with the MEGC 2019 conventions, stated once and used everywhere.

- Predictions of all folds are POOLED first, then scored: per class c, F1_c = 2 TP / (2 TP + FP
  + FN) and recall_c = TP / N_c; UF1 = mean_c F1_c, UAR = mean_c recall_c, WAR = accuracy.
  Averaging per-fold scores gives other numbers (`per_fold_mean` exists only to show how much).
- Classes with no sample in the evaluated subset (a per-database breakdown) are left out of UF1
  and UAR and listed as `excluded`. Predicting such a class is still an error: a false negative
  of the sample's true class, which lowers that class's recall and F1; nothing becomes NaN.
- A class that is present but never predicted has F1 = 0 and recall = 0 (not NaN).
- Values are stored at full precision; only what people read (the README table, the stage's
  printout) is rounded, so a per-fold mean or a mean over seeds never averages rounded numbers.
- `macro_f1` is the mean of per-class F1 over the classes present: equal to UF1 under these
  conventions, kept under its own name because SMA-STN reports it as "F1". STRCN's F1 pools
  precision and recall over classes (micro) and equals accuracy for single-label data.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def confusion(labels: Sequence[int], predictions: Sequence[int], n_classes: int) -> np.ndarray:
    """(n_classes, n_classes) counts: rows = true class, columns = predicted class."""
    labels, predictions = np.asarray(labels, int), np.asarray(predictions, int)
    if labels.shape != predictions.shape:
        raise ValueError(f"{len(labels)} labels but {len(predictions)} predictions")
    for name, values in [("label", labels), ("prediction", predictions)]:
        if len(values) and (values.min() < 0 or values.max() >= n_classes):
            raise ValueError(f"{name} outside 0..{n_classes - 1}")
    matrix = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def scores(matrix: np.ndarray, classes: Sequence[str]) -> dict:
    """UF1, UAR, WAR (accuracy), macro-F1, per-class F1/recall/support and excluded classes of a
    confusion matrix."""
    matrix = np.asarray(matrix)
    support = matrix.sum(axis=1)                               # (K,) true samples per class
    tp = np.diag(matrix)
    fp = matrix.sum(axis=0) - tp
    fn = support - tp
    present = support > 0
    denominator = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denominator, out=np.zeros(len(tp), float), where=denominator > 0)
    recall = np.divide(tp, support, out=np.zeros(len(tp), float), where=present)
    total = int(support.sum())
    uf1 = float(f1[present].mean()) if present.any() else float("nan")
    uar = float(recall[present].mean()) if present.any() else float("nan")
    return {
        "uf1": uf1, "uar": uar, "macro_f1": uf1,
        "war": float(tp.sum() / total) if total else float("nan"),
        "samples": total,
        "per_class": {c: {"f1": float(f1[i]), "recall": float(recall[i]),
                          "support": int(support[i])}
                      for i, c in enumerate(classes) if present[i]},
        "excluded": [c for i, c in enumerate(classes) if not present[i]],
    }


def pooled(labels: Sequence[int], predictions: Sequence[int], classes: Sequence[str]) -> dict:
    """Scores of all predictions pooled (the MEGC 2019 way), with the confusion matrix."""
    matrix = confusion(labels, predictions, len(classes))
    return {**scores(matrix, classes), "confusion": matrix.tolist()}


def per_fold_mean(folds: Sequence[tuple[Sequence[int], Sequence[int]]],
                  classes: Sequence[str]) -> dict[str, float]:
    """Mean over folds of each fold's UF1/UAR/WAR: NOT the reported number, shown beside it so
    readers see the difference pooling makes."""
    per = [scores(confusion(y, p, len(classes)), classes) for y, p in folds if len(y)]
    return {key: float(np.mean([s[key] for s in per])) for key in ["uf1", "uar", "war"]}
