"""bench/difficulty.py's pieces that need no experiments: the names of the points, the default
being one of them, the table and the figure."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from tests.conftest import REPO


@pytest.fixture(scope="module")
def difficulty():
    spec = importlib.util.spec_from_file_location("difficulty", REPO / "bench" / "difficulty.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_default_is_the_point_a2_s03(difficulty):
    """The sweep's point a = 2, s = 0.3 is params.yaml's default, so DVC's run-cache serves it."""
    import yaml

    params = yaml.safe_load((REPO / "params.yaml").read_text())["synthesize"]
    assert params["amplitude_px"] == [2 / 2, 1.5 * 2]
    assert params["shading"] == pytest.approx([0.3 / 2, 1.5 * 0.3])
    assert difficulty.name_of(2.0, 0.3) == "difficulty-a2-s0.3"
    assert difficulty.name_of(0.5, 0.0) == "difficulty-a0.5-s0"


def test_table_and_figure(difficulty, tmp_path):
    import cv2

    networks = difficulty.pipeline_networks()
    points = [(0.5, 0.3), (2.0, 0.3), (2.0, 0.0)]
    results = {difficulty.name_of(a, s): {n: 0.4 + 0.1 * a for n in networks} for a, s in points}
    text = difficulty.table(points, results).splitlines()
    assert text[0].startswith("| amplitude (px) | shading | ") and len(text) == 2 + len(points)
    assert text[2].startswith("| 0.5 | 0.3 | 0.450 |") and text[-1].startswith("| 2 | 0 | 0.600 |")
    out = tmp_path / "difficulty.png"
    difficulty.draw(points, results, out)
    image = cv2.imread(str(out))
    assert image is not None and image.shape[0] > 300 and np.std(image) > 10
