"""Metrics against confusion matrices computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.metrics import confusion, per_fold_mean, pooled, scores

CLASSES = ["negative", "positive", "surprise"]


def test_hand_computed_example():
    # true:  n n n n p p s s ; predicted: n n p s p n s s
    labels = [0, 0, 0, 0, 1, 1, 2, 2]
    predictions = [0, 0, 1, 2, 1, 0, 2, 2]
    result = pooled(labels, predictions, CLASSES)
    assert result["confusion"] == [[2, 1, 1], [1, 1, 0], [0, 0, 2]]
    # F1: n = 4/(4+1+2) = 4/7, p = 2/(2+1+1) = 1/2, s = 4/(4+1+0) = 4/5
    assert result["uf1"] == pytest.approx(((4 / 7 + 1 / 2 + 4 / 5) / 3), abs=1e-12)
    assert result["uf1"] != round(result["uf1"], 4)          # stored at full precision
    # recall: 2/4, 1/2, 2/2
    assert result["uar"] == pytest.approx(((0.5 + 0.5 + 1) / 3), abs=1e-12)
    assert result["war"] == pytest.approx(5 / 8)
    assert result["per_class"]["positive"] == {"f1": 0.5, "recall": 0.5, "support": 2}
    assert result["excluded"] == []


def test_a_class_never_predicted_scores_zero_not_nan():
    result = pooled([0, 1, 2, 2], [0, 1, 0, 1], CLASSES)
    assert result["per_class"]["surprise"] == {"f1": 0.0, "recall": 0.0, "support": 2}
    # F1: n = 2/(2+1) , p = 2/(2+1), s = 0
    assert result["uf1"] == pytest.approx(((2 / 3 + 2 / 3 + 0) / 3), abs=1e-12)
    assert not np.isnan(result["uf1"])


def test_a_predicted_class_absent_from_the_labels_is_excluded_but_still_wrong():
    # only negatives and positives in this subset; one sample predicted as surprise
    result = pooled([0, 0, 1, 1], [0, 2, 1, 1], CLASSES)
    assert result["excluded"] == ["surprise"] and set(result["per_class"]) == {"negative", "positive"}
    # negative: TP 1, FN 1, FP 0 -> F1 2/3, recall 1/2; positive: F1 1, recall 1
    assert result["uf1"] == pytest.approx(((2 / 3 + 1) / 2), abs=1e-12)
    assert result["uar"] == pytest.approx(0.75)
    assert result["war"] == pytest.approx(0.75)


def test_pooling_differs_from_averaging_folds():
    fold_a = ([0, 0, 1], [0, 0, 1])          # perfect
    fold_b = ([2, 2, 0], [0, 0, 0])          # all wrong on surprise
    labels = fold_a[0] + fold_b[0]
    predictions = fold_a[1] + fold_b[1]
    pooled_uf1 = pooled(labels, predictions, CLASSES)["uf1"]
    mean_uf1 = per_fold_mean([fold_a, fold_b], CLASSES)["uf1"]
    # pooled: n TP 3 FP 2 -> 6/8; p 1; s 0 -> (0.75 + 1 + 0)/3
    assert pooled_uf1 == pytest.approx((1.75 / 3), abs=1e-12)
    # fold a: UF1 1 (n, p present); fold b: n F1 2/(2+2)=0.5, s 0 -> 0.25; mean 0.625
    assert mean_uf1 == pytest.approx(0.625)
    assert pooled_uf1 != mean_uf1


def test_bad_input():
    with pytest.raises(ValueError, match="3 labels but 2 predictions"):
        confusion([0, 1, 2], [0, 1], 3)
    with pytest.raises(ValueError, match="prediction outside 0..2"):
        confusion([0], [3], 3)
    assert scores(np.zeros((3, 3), int), CLASSES)["excluded"] == CLASSES
