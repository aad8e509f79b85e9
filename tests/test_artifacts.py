"""The final model of each network: declared as a DVC model artifact, written by the train
stage, loaded back with its classes, inputs and the statistics its view fitted."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from dvc.repo import Repo

import models
from pipeline import train
from pipeline.artifacts import load_model, preprocessing_changes
from pipeline.schemes import SCHEMES
from tests.conftest import REPO, inside
from tests.test_train import quick

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_every_network_is_a_declared_model_artifact():
    """dvc.yaml's `artifacts:` names one model per network, at the path its train stage
    writes, and DVC itself reads the declaration."""
    spec = yaml.safe_load((REPO / "dvc.yaml").read_text())
    assert "data/models/${key}.pt" in spec["stages"]["train"]["do"]["outs"]
    assert set(spec["stages"]["train"]["foreach"]) == set(models.pipeline_networks())
    declared = Repo(str(REPO)).artifacts.read()["dvc.yaml"]
    paths = {artifact.path: artifact.type for artifact in declared.values()}
    assert paths == {f"data/models/{n}.pt": "model" for n in models.pipeline_networks()}


def test_the_final_model_loads_with_what_it_was_trained_on(preprocessed, tmp_path):
    work, params, _ = preprocessed
    params = quick(params, "fr")
    with inside(work):
        predictions = train.run("fr", params, tmp_path / "runs", tmp_path / "cache",
                                model_file=tmp_path / "fr.pt")
        table = pd.read_csv("data/index/samples.csv")
        model = load_model(tmp_path / "fr.pt")
        net = train.network("fr", params)
        inputs = net.inputs(load=sorted(set(predictions["sample_id"])))
    assert model.network == "fr" and model.protocol == "cde" and model.scheme == "megc3"
    assert model.classes == SCHEMES["megc3"].classes
    # every sample of the protocol trained it: each one is tested once across the folds
    assert model.samples == predictions["sample_id"].nunique() == int(table["megc3"].notna().sum())
    assert model.inputs["view"] == net.card.inputs and model.inputs["arguments"] == net.input
    assert model.preprocessing["flow"] == params["flow"]
    assert preprocessing_changes(model, params) == []
    changed = copy.deepcopy(params)
    changed["flow"]["tvl1"]["tau"] = 0.3
    assert preprocessing_changes(model, changed) == [
        f"flow.tvl1.tau: {params['flow']['tvl1']['tau']!r} (model) vs 0.3 (params.yaml)"]

    # A clip read with the training samples' statistics, as the model file carries them.
    ids = sorted(set(predictions["sample_id"]))
    inputs.fit(ids)
    scale = inputs.fitted()["scale"]
    assert model.inputs["fitted"] == {"scale": scale}
    inputs.restore({"scale": 2 * scale})
    doubled = inputs.batch(ids[:2], False, np.random.default_rng(0))
    inputs.restore(model.inputs["fitted"])
    x = inputs.batch(ids[:2], False, np.random.default_rng(0))
    torch.testing.assert_close(doubled * 2, x)
    with torch.no_grad():
        probabilities = torch.softmax(model.module(x).logits, dim=1)
    assert probabilities.shape == (2, len(model.classes))
    assert torch.allclose(probabilities.sum(dim=1), torch.ones(2))

    # The same training writes the same bytes, and the folds' predictions do not depend on it.
    with inside(work):
        again = train.run("fr", params, tmp_path / "runs2", tmp_path / "cache2",
                          model_file=tmp_path / "fr2.pt")
        alone = train.run("fr", params, tmp_path / "runs3", tmp_path / "cache3")
    assert (tmp_path / "fr.pt").read_bytes() == (tmp_path / "fr2.pt").read_bytes()
    pd.testing.assert_frame_equal(again, predictions)
    pd.testing.assert_frame_equal(alone, predictions)
    assert not list((tmp_path / "cache3").glob("*.pt"))


def test_a_missing_model_file_says_how_to_make_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no trained model; run `dvc repro`"):
        load_model(Path(tmp_path) / "stanet.pt")
