"""presets.yaml: every paper table's preset names keys params.yaml has, makes params that pass
every stage's checks, and becomes a `dvc exp run` DVC accepts."""

from __future__ import annotations

import pytest
import yaml

import models
from pipeline import presets, train
from pipeline.params import section
from tests.conftest import REPO, inside
from tests.test_params import SCHEMAS, parse, parse_protocols

CATALOGUE = presets.load()


def repo_params() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


@pytest.mark.parametrize("name", sorted(CATALOGUE["presets"]))
def test_a_preset_makes_valid_params(name, tmp_path):
    preset = CATALOGUE["presets"][name]
    assert {"paper", "table", "set", "offline"} <= set(preset) and preset["offline"]
    assert preset.get("base") is None or preset["base"] in CATALOGUE["bases"]
    params = presets.apply(repo_params(), presets.overrides(name))
    for key, schema in SCHEMAS.items():
        parse(schema, params[key], key)
    protocols = parse_protocols(params)
    for network in models.pipeline_networks():
        net = section(params, models.card(network).section)["net"]
        net.update({k: None for k in net if k.endswith("checkpoint")})
        with inside(tmp_path):
            checked = train.network(network, params)
        for protocol in checked.cfg.protocols:
            for db in getattr(protocols[protocol], "databases", None) or [
                    getattr(protocols[protocol], k) for k in ("database", "train_db", "test_db",
                                                              "source", "target")
                    if hasattr(protocols[protocol], k)]:
                assert db in params["index"]["use"], f"{name}: {protocol} needs {db} in index.use"


def test_every_paper_is_covered():
    papers = {p["paper"] for p in CATALOGUE["presets"].values()}
    assert papers == {"SMA-STN", "Micro-Attention", "STRCN", "FR", "STANet"}
    tables = " ".join(p["table"] for p in CATALOGUE["presets"].values())
    for needed in ["Table 4", "Table 2", "Table 6", "Table IV", "Table V", "Table VI", "Table 1(b)",
                   "Table 1(c)", "Tables 3-4"]:
        assert needed in tables


def test_unknown_keys_are_refused():
    with pytest.raises(KeyError, match="model.epoch is not a params.yaml key"):
        presets.apply(repo_params(), {"model.epoch": 3})


def test_the_command_uses_dvcs_override_grammar():
    cmd = presets.command("stanet_table_2_baseline", extra=["model.lambda=0.05"])
    assert cmd[:5] == ["dvc", "exp", "run", "-n", "stanet_table_2_baseline"]
    sets = [cmd[i + 1] for i, a in enumerate(cmd) if a == "-S"]
    assert "flow.stanet.shape=[192,192]" in sets and "index.use=[casme2,samm,smic_hs,casme]" in sets
    assert ("++baselines.stanet.net={in_channels: 2, channels: [32,64,128,256], sab_depth: 2, "
            "sab: false, tab: false, l1: false, affinity_scale: 1.0, dropout: 0.0}") in sets
    assert "++baselines.stanet.optimizer={name: adam, lr: 1e-05, weight_decay: 0.0001, " \
           "step_epochs: 1, gamma: 1.0}" in sets
    assert sets[-1] == "model.lambda=0.05"


def test_the_readme_lists_every_preset():
    readme = (REPO / "README.md").read_text()
    assert presets.table() in readme
