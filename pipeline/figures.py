"""Results as pictures that need nothing to be seen: PNG files drawn with matplotlib.

`dvc plots show` draws CSV plots with Vega scripts that its HTML page loads from a CDN, so on a
machine without internet (a GPU cluster node, usually) the page is blank. The evaluate stage
therefore also writes each confusion matrix and training curve as a PNG, which DVC shows as an
image plot (`<img>` in the page, side by side per commit with `dvc plots diff`), and
`python -m pipeline.results` draws the overview of every network and protocol.

Figures are written reproducibly (no timestamp or software version in the file), so an
unchanged evaluation rewrites the same bytes and DVC sees no change.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")                   # no display: files only
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import pandas as pd  # noqa: E402

from pipeline.atomic import write_atomic  # noqa: E402

DPI = 100


def save(figure: plt.Figure, path: Path) -> Path:
    """The figure as a PNG at `path`, atomically and without metadata that changes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    plt.close(figure)
    return write_atomic(path, buffer.getvalue())


def confusion_counts(actual: list[str], predicted: list[str], classes: list[str]) -> np.ndarray:
    """(K, K) counts, rows actual, columns predicted, in `classes` order."""
    where = {c: i for i, c in enumerate(classes)}
    matrix = np.zeros((len(classes), len(classes)), dtype=int)
    for a, p in zip(actual, predicted):
        matrix[where[a], where[p]] += 1
    return matrix


def confusion_figure(matrix: np.ndarray, classes: list[str], title: str, path: Path) -> Path:
    """Counts and row-normalised rates (recall per actual class) in every cell, coloured by
    the rate, class names on both axes."""
    matrix = np.asarray(matrix)
    totals = matrix.sum(axis=1, keepdims=True)
    rates = np.divide(matrix, totals, out=np.zeros(matrix.shape, float), where=totals > 0)
    k = len(classes)
    side = 1.1 * k + 2.2
    figure, axes = plt.subplots(figsize=(side + 1.6, side), layout="constrained")
    image = axes.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            colour = "white" if rates[i, j] > 0.6 else "black"
            axes.text(j, i, f"{matrix[i, j]}\n{rates[i, j]:.0%}", ha="center", va="center",
                      color=colour, fontsize=9)
    axes.set_xticks(range(k), classes, rotation=30, ha="right")
    axes.set_yticks(range(k), [f"{c} ({n})" for c, n in zip(classes, totals[:, 0])])
    axes.set_xlabel("predicted")
    axes.set_ylabel("actual (samples)")
    axes.set_title(title, fontsize=10)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="share of the actual class")
    return save(figure, path)


def curves_figure(curve: pd.DataFrame, title: str, path: Path) -> Path:
    """Training loss and accuracy per epoch (the mean over folds and seeds)."""
    figure, loss_axes = plt.subplots(figsize=(6.0, 3.6))
    loss_axes.plot(curve["epoch"], curve["loss"], color="tab:red", marker="o", markersize=3,
                   label="loss")
    loss_axes.set_xlabel("epoch")
    loss_axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    loss_axes.set_ylabel("training loss", color="tab:red")
    accuracy_axes = loss_axes.twinx()
    accuracy_axes.plot(curve["epoch"], curve["accuracy"], color="tab:blue", marker="s",
                       markersize=3, label="accuracy")
    accuracy_axes.set_ylabel("training accuracy", color="tab:blue")
    accuracy_axes.set_ylim(0, 1)
    loss_axes.set_title(title, fontsize=10)
    loss_axes.grid(alpha=0.3)
    figure.tight_layout()
    return save(figure, path)


def overview_figure(scores: pd.DataFrame, path: Path, chance: dict[str, float] | None = None) -> Path:
    """UF1 and UAR of every network under every protocol, pooled and per database.

    `scores` has one row per (network, protocol, database) with columns uf1 and uar; database
    "all" is the pooled score. One panel per protocol and metric, networks along the x axis,
    one bar per database; `chance` draws each protocol's chance level (1 / classes)."""
    protocols = list(dict.fromkeys(scores["protocol"]))
    networks = list(dict.fromkeys(scores["network"]))
    figure, axes = plt.subplots(len(protocols), 2, squeeze=False,
                                figsize=(2.0 + 1.3 * len(networks), 3.2 * len(protocols)))
    for row, protocol in enumerate(protocols):
        mine = scores[scores["protocol"] == protocol]
        scheme = mine["scheme"].iloc[0] if "scheme" in mine else ""
        databases = list(dict.fromkeys(mine["database"]))
        width = 0.8 / len(databases)
        for column, metric in enumerate(("uf1", "uar")):
            ax = axes[row][column]
            for d, database in enumerate(databases):
                values = [mine[(mine["network"] == n) & (mine["database"] == database)][metric]
                          for n in networks]
                heights = [float(v.iloc[0]) if len(v) else np.nan for v in values]
                x = np.arange(len(networks)) + (d - (len(databases) - 1) / 2) * width
                bars = ax.bar(x, heights, width, label=database,
                              color="black" if database == "all" else None,
                              alpha=0.85 if database == "all" else 0.7)
                if database == "all":
                    ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
            if chance and protocol in chance:
                ax.axhline(chance[protocol], color="grey", linestyle="--", linewidth=1,
                           label="chance")
            ax.set_xticks(range(len(networks)), networks, rotation=20, ha="right", fontsize=8)
            ax.set_ylim(0, 1.05)
            ax.set_ylabel(metric.upper())
            ax.set_title(f"{protocol} ({scheme}): {metric.upper()}", fontsize=10)
            ax.grid(axis="y", alpha=0.3)
            if column == 1:
                ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.tight_layout()
    return save(figure, path)
