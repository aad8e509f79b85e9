"""Attention pictures (pipeline/attention.py): every network with attention, built small, gives
maps of the right shape in [0, 1] and weights summing to 1; FR's per-class map puts each element
of z at its place on the face; and the picture of a tiny case has one tile per clip and map and
is not blank, drawn from shards written here (untrained networks, then a model file)."""

from __future__ import annotations

import copy

import cv2
import numpy as np
import pytest
import torch
import yaml

import models
from pipeline.attention import (Shown, WITH_ATTENTION, attention_figure, attention_maps,
                                attention_sheet, columns, raw_attention)
from pipeline.shards import ShardWriter, shard_path
from tests.conftest import REPO, shrink_training

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# Small constructor arguments and a batch of two inputs of each network's card shape.
SMALL = {"sma_stn": ({"width": 8}, (2, 4, 3, 64, 64)),
         "micro_attention": ({"width": 8}, (2, 1, 64, 64)),
         "stanet": ({"channels": (8, 16, 32, 64)}, (2, 5, 2, 24, 24)),
         "fr": ({}, (2, 2, 28, 28))}
# The maps each gives at those sizes: name -> shape of one sample.
EXPECTED = {
    "sma_stn": {"segments": (4,), **{f"non-local I{i}": (2, 2) for i in range(4)}},
    "micro_attention": {"stage1": (16, 16), "stage2": (8, 8), "stage3": (4, 4), "stage4": (2, 2),
                        "features": (2, 2)},
    "stanet": {"spatial": (6, 6), "spatial (top frame)": (6, 6), "temporal": (5,)},
    "fr": {"proposal 0": (7, 7), "proposal 1": (7, 7), "proposal 2": (7, 7)},
}


def small(name: str, **switches) -> tuple[torch.nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    kwargs, shape = SMALL[name]
    return models.create_model(name, num_classes=3, **kwargs, **switches).eval(), torch.randn(shape)


@pytest.mark.parametrize("name", WITH_ATTENTION)
def test_maps_have_their_shapes_ranges_and_sums(name):
    net, x = small(name)
    maps = attention_maps(net, x)
    assert {k: v.shape[1:] for k, v in maps.items()} == EXPECTED[name]
    for key, value in maps.items():
        assert value.shape[0] == 2 and np.isfinite(value).all(), key
        if value.ndim == 2:                                  # weights
            assert (value >= 0).all() and np.allclose(value.sum(axis=1), 1), key
        else:                                                # maps scaled per sample
            assert value.min() >= 0 and value.max() <= 1, key
            assert np.allclose(value.reshape(2, -1).max(axis=1), 1), key


def test_raw_maps_are_the_networks_own_distributions():
    """Unscaled: SMA-STN's attended map and FR's per-class map are distributions over the
    positions (softmaxes summed), the segment and temporal weights are the network's own."""
    net, x = small("sma_stn")
    _, raw = raw_attention(net, x)
    assert np.allclose(sum(raw[f"non-local I{i}"].sum(axis=(1, 2)) for i in range(4)), 4)
    assert np.allclose(raw["segments"], net(x).attention["segments"].detach().numpy())
    net, x = small("fr")
    probabilities, raw = raw_attention(net, x, classes=("negative", "positive", "surprise"))
    assert probabilities.shape == (2, 3) and np.allclose(probabilities.sum(axis=1), 1)
    assert np.allclose(raw["proposal surprise"].sum(axis=(1, 2)), 1, atol=1e-5)
    net, x = small("stanet")
    _, raw = raw_attention(net, x)
    assert np.allclose(raw["temporal"], net(x).attention["temporal"].detach().numpy())


def test_fr_map_puts_an_element_of_z_at_its_place():
    """z is [u stream, v stream], each (64, 7, 7) flattened channel-major: an attention logit
    made huge at the v stream's channel 5, row 3, column 4 puts the class's whole map there."""
    net, x = small("fr")
    index = 64 * 49 + 5 * 49 + 3 * 7 + 4
    with torch.no_grad():
        net.attention_weight.zero_()
        net.attention_bias[1, index] = 50.0
    raw = raw_attention(net, x)[1]["proposal 1"]                                # (2, 7, 7)
    assert (raw[:, 3, 4] > 0.99).all()
    assert raw[:, 3, 4].sum() / raw.sum() > 0.99


def test_networks_without_attention_give_no_maps():
    """STRCN has none; the ablation switches that remove a network's attention remove its maps
    (and their hooks do not add any)."""
    torch.manual_seed(0)
    strcn = models.create_model("strcn_g", num_classes=3, feature_maps=8, num_rcl=1)
    assert attention_maps(strcn.eval(), torch.randn(2, 2, 40, 33)) == {}
    assert attention_maps(*small("sma_stn", stma=False)) == {}
    assert attention_maps(*small("micro_attention", attention="none")) == {}
    assert attention_maps(*small("fr", proposals="fc")) == {}
    assert set(attention_maps(*small("stanet", tab=False))) == {"spatial"}


def shown(name: str, face: np.ndarray, note: str = "") -> Shown:
    """Network `name`'s attention on two random inputs, as collect() gives it from shards."""
    net, x = small(name)
    classes = ("negative", "positive", "surprise")
    probabilities, maps = raw_attention(net, x, classes)
    return Shown(name, ["casme2/sub01/EP01", "samm/006/006_1_2"], ["happiness", "surprise"],
                 classes, "megc3", ["positive", None], probabilities, maps, [face, face], note)


def test_figure_has_a_tile_per_clip_and_map_and_is_not_blank(tmp_path):
    face = np.uint8(np.indices((72, 59)).sum(axis=0) * 2)                      # (72, 59) ramp
    networks = [shown("stanet", face), shown("fr", face, note="untrained (random weights)")]
    assert [name for _, name in columns(networks)] == [
        "spatial", "spatial (top frame)", "temporal",
        "proposal negative", "proposal positive", "proposal surprise"]
    moved = [np.hypot(*np.indices((72, 59)) - 30.0)] * 2                        # (72, 59) each
    fig = attention_figure(networks, moved)
    tiles = [ax for ax in fig.axes if ax.get_title()]
    assert len(tiles) == 2 * 7 and len(fig.axes) == 2 * 7 + 1          # + the colour bar
    assert tiles[0].get_title().startswith("where the face moved")
    assert "FR (untrained)" in tiles[4].get_title() and "pred " in tiles[4].get_title()
    out = tmp_path / "attention.png"
    fig.savefig(out, dpi=60)
    image = cv2.imread(str(out))
    assert image.shape[1] > image.shape[0] and image.std() > 20


# --------------------------------------------------------------------------- from shards

IDS = ["casme2/sub01/EP01_01", "samm/006/006_1_2"]


def write_shards(root, params: dict) -> None:
    """The shards the four networks read, for two clips of random content."""
    rng = np.random.default_rng(0)
    h, w = params["align"]["shape"]
    frames, side = 6, params["flow"]["stanet"]["shape"][0]
    for sid in IDS:
        database, subject, _ = sid.split("/")
        attrs = {"emotion": "happiness", "megc3": "positive", "apex_fr": 3,
                 "apex_micro_attention": 2}
        arrays = {
            "align": {"frames": rng.integers(0, 256, (frames, h, w, 3), dtype=np.uint8)},
            "flow": {"flow": rng.normal(size=(h, w, 2)).astype(np.float32),
                     "fr": rng.normal(size=(*params["flow"]["fr_size"], 2)).astype(np.float32),
                     "stanet": rng.normal(size=(frames - 1, side, side, 2)).astype(np.float32)},
            "dynamic": {"eval": rng.integers(0, 256, (4, h, w, 3), dtype=np.uint8),
                        "train": rng.integers(0, 256, (params["dynamic"]["draws"], 4, h, w, 3),
                                              dtype=np.uint8)}}
        for stage, content in arrays.items():
            with ShardWriter(shard_path(root, stage, database, subject), stage, {}) as writer:
                writer.add(sid, content, attrs)


@pytest.fixture
def workspace(tmp_path):
    params = shrink_training(copy.deepcopy(yaml.safe_load((REPO / "params.yaml").read_text())))
    params["align"]["shape"] = [72, 59]
    params["flow"]["stanet"]["shape"] = [24, 24]
    params["model"]["input"]["side"] = 64
    params["baselines"]["micro_attention"]["net"]["checkpoint"] = None
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    write_shards(tmp_path / "shards", params)
    return tmp_path


def test_sheet_of_untrained_networks_from_shards(workspace):
    """No model file: every network is built from params.yaml and the picture says so."""
    out = attention_sheet(IDS, workspace / "attention.png", params_path=workspace / "params.yaml",
                          shards_root=workspace / "shards", models_dir=workspace / "models")
    image = cv2.imread(str(out))
    assert image is not None and image.std() > 20


def test_sheet_reads_a_model_file(workspace):
    """A model file is used as trained: its weights, its classes and its view's fitted
    statistics (FR's flow scale), so it predicts what the trained network predicts."""
    from pipeline.artifacts import load_model, preprocessing_of, save_model
    from pipeline.attention import collect
    from pipeline.train import network

    params = yaml.safe_load((workspace / "params.yaml").read_text())
    net = network("fr", params)
    torch.manual_seed(1)
    module = net.build(2)
    inputs = net.inputs(workspace / "shards", load=IDS)
    inputs.fit(IDS)
    save_model(workspace / "models" / "fr.pt", "fr", module, ("calm", "excited"), "megc3", "cde",
               net.net, net.card.inputs, net.input, inputs.fitted(), {}, preprocessing_of(params),
               len(IDS))
    [fr] = collect(IDS, ["fr"], workspace / "params.yaml", workspace / "shards",
                   workspace / "models")
    assert fr.classes == ("calm", "excited") and fr.probabilities.shape == (2, 2)
    assert set(fr.maps) == {"proposal calm", "proposal excited"}
    model = load_model(workspace / "models" / "fr.pt")
    assert set(attention_maps(model, torch.randn(1, 2, 28, 28))) == set(fr.maps)
    assert fr.note == ""                      # trained, on inputs prepared as it was
    with torch.no_grad():                     # the same weights and the same flow scale
        logits = module.eval()(inputs.batch(IDS, False, np.random.default_rng(0))).logits
    assert np.allclose(fr.probabilities, torch.softmax(logits, dim=1).numpy(), atol=1e-6)
