"""dvc.yaml against the code: every stage lists exactly the project files its command imports
(as DVC itself resolves the stages), and the train/evaluate stages of every network say what the
network's card says."""

from __future__ import annotations

from pathlib import Path

import pytest

import models
from pipeline.artifacts import PREPROCESSING
from pipeline import closure
from pipeline.datasets import view
from pipeline.params import read_params, section


@pytest.fixture(scope="module")
def stages() -> dict[str, tuple[str, list[str]]]:
    return closure.dvc_stages()


def test_every_stage_lists_exactly_the_code_it_imports(stages):
    assert closure.code_deps_problems(stages) == []


def test_the_check_fails_when_a_dep_is_missing_or_extra(stages):
    """The control: drop one imported file from a stage, add one it does not import."""
    cmd, deps = stages["train@fr"]
    assert "pipeline/protocols.py" in deps
    without = [d for d in deps if d != "pipeline/protocols.py"]
    assert closure.code_deps_problems({"train@fr": (cmd, without)}) == [
        "train@fr: imports pipeline/protocols.py but does not list it in deps"]
    extra = deps + ["models/stanet.py"]
    assert closure.code_deps_problems({"train@fr": (cmd, extra)}) == [
        "train@fr: lists models/stanet.py in deps but does not import it"]


def test_imports_inside_functions_and_packages_count(tmp_path):
    files = {str(f) for f in closure.code_files("pipeline.align")}
    assert {"pipeline/__init__.py", "pipeline/align.py", "pipeline/face.py", "pipeline/lwm.py",
            "pipeline/samples.py", "pipeline/stage.py"} <= files
    assert not any(f.startswith("pipeline/databases") for f in files)   # the adapters: index only
    assert "models/registry.py" in {str(f) for f in closure.code_files("pipeline.closure")}


def test_a_network_stage_imports_its_own_network_file_only():
    for name in models.pipeline_networks():
        network_files = {str(f) for f in closure.command_code(f"python -m pipeline.train {name}")
                         if str(f).startswith("models/") and f.name not in ("__init__.py", "registry.py")}
        assert network_files == {models.module_of(name).replace(".", "/") + ".py"}, name


def test_train_and_evaluate_stages_match_the_cards(stages):
    from dvc.repo import Repo

    with Repo(str(closure.REPO)) as repo:
        resolved = {s.addressing: s for s in repo.index.stages}
    networks = models.pipeline_networks()
    assert {k.split("@")[1] for k in resolved if k.startswith("train@")} == set(networks)
    assert {k.split("@")[1] for k in resolved if k.startswith("evaluate@")} == set(networks)
    for name in networks:
        card = models.card(name)
        # train also records the preprocessing settings in the network's model file
        preprocessing = set(PREPROCESSING)
        for stage, extra in ((f"train@{name}", preprocessing), (f"evaluate@{name}", set())):
            params = {key for p in resolved[stage].params for key in p.params}
            assert params == {card.section, "protocols"} | extra, stage
        assert {o.def_path for o in resolved[f"train@{name}"].outs} == {
            f"data/runs/{name}", f"data/models/{name}.pt"}
        data = {Path(d).as_posix() for d in stages[f"train@{name}"][1]
                if d.startswith("data/")}
        want = {f"data/shards/{s}" for s in view(card.inputs).stages} | {"data/index/samples.csv"}
        net = section(read_params(closure.REPO / "params.yaml"), card.section)["net"]
        want |= {v for k, v in net.items() if k.endswith("checkpoint") and v}
        assert data == want, name
