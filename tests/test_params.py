"""params.yaml checked when a stage starts: the repository's file parses for every stage, and a
misspelled key, a wrong type, an impossible value or a broken invariant stops a stage with one
line that names the key."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import yaml

import models
from pipeline import train
from pipeline.align import AlignParams
from pipeline.dynamic import DynamicParams
from pipeline.flow import FlowParams
from pipeline.index import DatabasesParams, IndexParams
from pipeline.magnify import MagnifyParams
from pipeline.masks import MasksParams
from pipeline.params import ParamsError, PreprocessParams, TrainConfig, parse, section
from pipeline.pretrain import PretrainParams
from pipeline.protocols import parse_protocols
from pipeline.synthesize import SynthesizeParams
from tests.conftest import REPO, inside

SCHEMAS = {"synthesize": SynthesizeParams, "databases": DatabasesParams, "index": IndexParams,
           "preprocess": PreprocessParams, "align": AlignParams, "magnify": MagnifyParams,
           "flow": FlowParams, "masks": MasksParams, "dynamic": DynamicParams,
           "pretrain": PretrainParams}


def repo_params() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


def test_every_section_of_the_repository_params_parses():
    params = repo_params()
    for key, schema in SCHEMAS.items():
        parse(schema, params[key], key)
    assert len(parse_protocols(params)) == len(params["protocols"])
    with inside(REPO):                        # checkpoints are named relative to the repository
        for name in models.pipeline_networks():
            section(params, models.card(name).section)["net"].update(
                {k: None for k in section(params, models.card(name).section)["net"]
                 if k.endswith("checkpoint")})
            net = train.network(name, params)
            assert (net.cfg.lambda_ is None) == (net.card.loss_weight is None), name
    covered = set(SCHEMAS) | {"protocols", "model", "baselines"}
    assert set(params) == covered


def changed(path: str, value) -> dict:
    params = repo_params()
    *parents, last = path.split(".")
    target = params
    for key in parents:
        target = target[key]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return params


@pytest.mark.parametrize("path, value, schema, where, message", [
    ("align.shap", [1, 2], AlignParams, "align", r"align\.shap: unknown key \(did you mean shape\?\); align takes: shape, deltas"),
    ("align.shape", "big", AlignParams, "align", r"align\.shape: expected a list of 2 values"),
    ("align.shape", [120.5, 98], AlignParams, "align", r"align\.shape\[0\]: expected an integer"),
    ("align.n_neighbours", 3, AlignParams, "align", r"n_neighbours: a local quadratic needs"),
    ("align.deltas", KeyError, AlignParams, "align", r"align\.deltas: missing key"),
    ("preprocess.max_failed", 2, PreprocessParams, "preprocess", r"max_failed: must be a fraction"),
    ("magnify.r2", 0.5, MagnifyParams, "magnify", r"magnify\.r1: need 0 <= r2 < r1"),
    ("flow.apex.fr", {"method": "peak", "window": None}, FlowParams, "flow",
     r"flow\.apex\.fr\.method: 'peak' .* not allowed; use one of motion, std, diff, mid"),
    ("flow.strcn_g.keep", [0.9, 1.0], FlowParams, "flow", r"flow\.strcn_g\.keep: distinct shares in \(0, 1\], the first 1.0"),
    ("flow.tvl1.median_filtering", 4, FlowParams, "flow", r"median_filtering: an odd window"),
    ("masks.interpolation", "cubic", MasksParams, "masks", r"masks\.interpolation: 'cubic'"),
    ("index.use", ["casme2", "casme4"], IndexParams, "index", r"index\.use: unknown database 'casme4'"),
    ("synthesize.quirks", "yes", SynthesizeParams, "synthesize", r"synthesize\.quirks: expected true or false"),
    ("pretrain.width", 16, PretrainParams, "pretrain", r"pretrain\.width: unknown key"),
])
def test_a_bad_value_names_its_key(path, value, schema, where, message):
    params = changed(path, value)
    with pytest.raises(ParamsError, match=message) as error:
        parse(schema, section(params, where), where)
    assert "\n" not in str(error.value) and str(error.value).startswith("params.yaml: ")


@pytest.mark.parametrize("name, path, value, message", [
    ("sma_stn", "model.epoch", 3, r"model\.epoch: unknown key \(did you mean epochs\?\)"),
    ("sma_stn", "model.lambda", KeyError, r"model\.lambda: missing key: the weight of sma_stn's extra loss term \(de_weight\)"),
    ("strcn_a", "baselines.strcn_a.lambda", 0.5, r"baselines\.strcn_a\.lambda: strcn_a has no extra loss"),
    ("sma_stn", "model.net.widht", 16, r"model\.net\.widht: unknown key \(did you mean width\?\)"),
    ("sma_stn", "model.net.de_weight", 0.1, r"model\.net\.de_weight: unknown key \(it is set by the pipeline\)"),
    ("stanet", "baselines.stanet.net.channels", [8, 16, 32], r"baselines\.stanet\.net\.channels: expected a list of 4"),
    ("fr", "baselines.fr.input", {"side": 28}, r"baselines\.fr\.input\.side: unknown key"),
    ("strcn_a", "baselines.strcn_a.input.mask_p", "30%", r"baselines\.strcn_a\.input\.mask_p: expected a number"),
    ("fr", "baselines.fr.optimizer", {"name": "rmsprop", "lr": 0.1}, r"baselines\.fr\.optimizer\.name: 'rmsprop'"),
    ("fr", "baselines.fr.protocols", ["cde", "loso_casme3"], r"baselines\.fr\.protocols: 'loso_casme3' is not in the protocols section"),
    ("fr", "baselines.fr.batch_size", 1, r"baselines\.fr\.batch_size: must be at least 2"),
    ("micro_attention", "baselines.micro_attention.net.checkpoint", "data/models/none.pt",
     r"baselines\.micro_attention\.net\.checkpoint: data/models/none.pt does not exist"),
    ("fr", "protocols.cde.scheme", "megc5", r"protocols\.cde\.scheme: unknown class scheme 'megc5'"),
])
def test_a_bad_network_section_names_its_key(tmp_path, name, path, value, message):
    params = changed(path, value)
    micro = params["baselines"]["micro_attention"]["net"]
    if micro["checkpoint"] == "data/models/micro_attention_pretrain.pt":
        micro["checkpoint"] = None
    with inside(tmp_path), pytest.raises(ParamsError, match=message) as error:
        train.network(name, params)
    assert "\n" not in str(error.value)


def test_a_misspelled_key_stops_the_train_stage_at_once(tmp_path):
    """The acceptance case: `model.epoch: 3` in params.yaml, `python -m pipeline.train sma_stn`
    stops before reading any data, non-zero, with one line that names `epoch`."""
    params = repo_params()
    params["model"]["epoch"] = 3
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    run = subprocess.run([sys.executable, "-m", "pipeline.train", "sma_stn", str(path)],
                         cwd=tmp_path, capture_output=True, text=True,
                         env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert lines == ["train@sma_stn: params.yaml: model.epoch: unknown key (did you mean epochs?); "
                     "model takes: protocols, epochs, batch_size, balance_classes, optimizer, "
                     "input, net, amp, amp_dtype, deterministic, threads, folds_at_once, seeds, "
                     "per_protocol, lambda"]


def test_a_preprocessing_stage_says_which_key_in_one_line(tmp_path):
    params = changed("flow.fr_size", [28])
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    run = subprocess.run([sys.executable, "-m", "pipeline.flow", str(path)], cwd=tmp_path,
                         capture_output=True, text=True, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines() == [
        "flow: params.yaml: flow.fr_size: expected a list of 2 values (integer, integer), got [28] (list)"]


def test_fr_input_size_must_match_the_flow_shards(preprocessed):
    """An invariant across stages: FR's net.input_size against the u/v size the flow stage
    wrote (flow.fr_size), checked before the first fold trains."""
    work, params, _ = preprocessed
    params = copy.deepcopy(params)
    params["baselines"]["fr"]["net"]["input_size"] = 32
    with inside(work):
        net = train.network("fr", params)
        ids = sorted(net.inputs().sample_ids())[:4]
        with pytest.raises(ParamsError, match=r"baselines\.fr: fr takes inputs \(2, 32, 32\).*"
                                              r"gives \(2, 28, 28\) from data/shards/flow"):
            train.check_input_shape(net, net.inputs(load=ids), ids)


def test_train_config_has_no_hidden_defaults():
    """Every knob the trainer reads is a TrainConfig field the section must state (lambda
    only where the card has a loss weight)."""
    import dataclasses

    optional = [f.name for f in dataclasses.fields(TrainConfig) if f.default is not dataclasses.MISSING]
    assert optional == ["lambda_"]
    for key in ("amp", "threads", "seeds", "balance_classes", "per_protocol"):
        params = changed(f"baselines.fr.{key}", KeyError)
        with pytest.raises(ParamsError, match=f"baselines.fr.{key}: missing key"):
            parse(TrainConfig, params["baselines"]["fr"], "baselines.fr")


def test_pretrain_takes_the_width_of_the_network_it_initialises(tiny_synthetic, tmp_path):
    """No `pretrain.width` to keep equal by hand: the stage reads Micro-Attention's, and the
    checkpoint it writes loads into that network."""
    import torch

    from pipeline import pretrain

    root, _ = tiny_synthetic
    params = repo_params()
    params["baselines"]["micro_attention"]["net"]["width"] = 8
    params["pretrain"].update(images=str(root / "MACRO"), epochs=1, input_size=32)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    with inside(tmp_path):
        pretrain.main()
        state = torch.load(pretrain.CHECKPOINT, weights_only=True)
        assert state["stem.0.weight"].shape[0] == 8
        models.create_model("micro_attention", num_classes=3, width=8,
                            checkpoint=str(pretrain.CHECKPOINT))
    assert (REPO / "dvc.yaml").read_text().count("baselines.micro_attention.net.width") == 1


def test_no_params_key_is_hidden_from_dvcs_run_cache():
    """DVC's run-cache drops every key named `size` or `nfiles`, at any depth, from a stage's
    params before hashing them (treeverse/dvc#10296, open): changing `masks.size` checked out
    the old shards as "cached". So no key may have those names (here they are `shape`, `side`)."""
    from pipeline import presets

    def keys(node: object) -> set[str]:
        if isinstance(node, dict):
            return set(node) | {k for v in node.values() for k in keys(v)}
        if isinstance(node, list):
            return {k for v in node for k in keys(v)}
        return set()

    assert not keys(repo_params()) & {"size", "nfiles"}
    for name in presets.load()["presets"]:
        assert not {part for key in presets.overrides(name) for part in key.split(".")} & \
            {"size", "nfiles"}, name
