"""Results as PNG figures: counts and rates in the confusion matrix, reproducible bytes, the
overview of every network, and DVC showing them as images."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd

from pipeline import figures, results
from tests.conftest import REPO


def test_confusion_counts_rows_are_actual_columns_predicted():
    classes = ["negative", "positive", "surprise"]
    matrix = figures.confusion_counts(["negative", "negative", "positive", "surprise"],
                                      ["negative", "surprise", "positive", "negative"], classes)
    assert matrix.tolist() == [[1, 0, 1], [0, 1, 0], [1, 0, 0]]


def test_figures_are_pictures_with_the_same_bytes_every_time(tmp_path):
    classes = ["negative", "positive", "surprise", "others"]
    matrix = np.array([[9, 1, 0, 0], [2, 5, 0, 1], [0, 0, 4, 0], [0, 0, 0, 0]])
    first = figures.confusion_figure(matrix, classes, "fr - cde (megc3)", tmp_path / "a.png")
    second = figures.confusion_figure(matrix, classes, "fr - cde (megc3)", tmp_path / "b.png")
    assert first.read_bytes() == second.read_bytes()
    image = cv2.imread(str(first))
    assert image.shape[0] > 300 and image.shape[1] > 300 and image.std() > 20
    curve = pd.DataFrame({"epoch": [1, 2, 3], "loss": [1.1, 0.7, 0.4], "accuracy": [0.4, 0.6, 0.8]})
    drawn = figures.curves_figure(curve, "fr - cde", tmp_path / "curve.png")
    assert cv2.imread(str(drawn)).std() > 10


def test_the_overview_has_every_network_and_database_of_the_committed_metrics(tmp_path):
    table = results.scores(REPO / "metrics")
    assert set(table["network"]) >= {"sma_stn", "fr", "stanet"}
    pooled = table[table["database"] == "all"]
    assert pooled.groupby(["network", "protocol"]).size().max() == 1
    assert {"casme2", "samm", "smic_hs"} <= set(table["database"])
    out = results.draw(tmp_path / "results.png", REPO / "metrics")
    image = cv2.imread(str(out))
    assert image is not None and image.shape[1] > 600 and image.std() > 20
