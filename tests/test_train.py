"""Training and evaluation on the tiny preprocessed database: leak-freedom, resuming,
determinism, and the metrics document."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

import models
from pipeline import evaluate, train
from pipeline.params import section
from pipeline.protocols import make_folds
from pipeline.samples import read_samples
from pipeline.schemes import SCHEMES
from pipeline.training import device_of
from tests.conftest import inside

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def quick(params: dict, network: str = "fr", epochs: int = 2) -> dict:
    """The repository's params for `network` cut to a couple of epochs on CDE."""
    params = copy.deepcopy(params)
    section(params, models.card(network).section).update(epochs=epochs, protocols=["cde"],
                                                         folds_at_once=1)
    return params


def first_fold(work: Path, params: dict):
    with inside(work):
        table = read_samples()
    return table, make_folds(table, params["protocols"]["cde"])[0]


def train_one(work: Path, params: dict, fold, shards_root: Path, network: str = "fr"):
    with inside(work):
        table = read_samples()
        net = train.network(network, params)
    scheme = SCHEMES[fold.scheme]
    column = table.set_index("sample_id")[fold.scheme]
    labels = {s: scheme.classes.index(str(column[s])) for s in fold.train + fold.test}
    inputs = net.inputs(shards_root, load=sorted(fold.train + fold.test))
    return train.train_fold(net, inputs, fold, labels, scheme.classes, 7,
                            device_of())


def train_and_copy_flow(preprocessed, tmp_path: Path):
    """FR trained on the first CDE fold, and a copy of the flow shards to tamper with."""
    work, params, _ = preprocessed
    params = quick(params)
    _, fold = first_fold(work, params)
    first = train_one(work, params, fold, work / "data/shards")
    tampered = tmp_path / "shards"
    shutil.copytree(work / "data/shards/flow", tampered / "flow")
    return work, params, fold, first, tampered


def test_the_held_out_subject_cannot_change_its_fold_model(preprocessed, tmp_path):
    """Replace every flow of the held-out subject with noise: the fold's trained weights stay
    bit-identical (statistics and sampling read the training subjects only)."""
    work, params, fold, first, tampered = train_and_copy_flow(preprocessed, tmp_path)
    held_out = set(fold.test)
    rng = np.random.default_rng(0)
    for shard in (tampered / "flow").glob("*/*.h5"):
        with h5py.File(shard, "r+") as f:
            for group in f:
                if group.replace("|", "/") in held_out:
                    for key in f[group]:
                        data = f[group][key]
                        data[...] = rng.normal(size=data.shape).astype(data.dtype)
    second = train_one(work, params, fold, tampered)
    assert first.weights == second.weights
    # ... while its predictions, which do read the test data, change
    assert [p["probabilities"] for p in first.predictions] != [p["probabilities"] for p in second.predictions]


def test_changing_a_training_subject_does_change_the_model(preprocessed, tmp_path):
    """The control for the test above: the check can fail."""
    work, params, fold, first, tampered = train_and_copy_flow(preprocessed, tmp_path)
    victim = fold.train[0]
    for shard in (tampered / "flow").glob("*/*.h5"):
        with h5py.File(shard, "r+") as f:
            group = victim.replace("/", "|")
            if group in f:
                f[group]["fr"][...] = f[group]["fr"][()] * -3
    assert train_one(work, params, fold, tampered).weights != first.weights


def run_training(work: Path, params: dict, network: str = "fr") -> tuple[Path, dict]:
    with inside(work):
        train.run(network, params, Path("data/runs") / network, Path("data/cache/train") / network)
        (Path("params.yaml")).write_text(json.dumps(params))      # evaluate reads params from disk
        evaluate.main(network)
        headline = json.loads(Path(f"metrics/{network}.json").read_text())
        details = json.loads(Path(f"metrics/details/{network}.json").read_text())
        assert headline["cde"]["uf1"] == details["protocols"]["cde"]["uf1"]
        assert set(headline["cde"]) >= {"uf1", "uar", "war", "macro_f1", "folds", "samples",
                                        "train_loss", "train_accuracy", "per_fold_mean_uf1", "seeds"}
        # the figures beside the CSV plot data: pooled, per database (CDE pools three), curves
        pictures = {p.name for p in Path(f"metrics/plots/{network}").glob("*.png")}
        assert pictures == {"confusion_cde.png", "confusion_cde_casme2.png",
                            "confusion_cde_samm.png", "confusion_cde_smic_hs.png", "curves_cde.png"}
        return work / "data/cache/train" / network, details


def test_resume_determinism_and_metrics(preprocessed, tmp_path):
    work, params, _ = preprocessed
    params = quick(params)
    cache, metrics = run_training(work, params)
    files = sorted(cache.glob("*.json"))
    cde = metrics["protocols"]["cde"]
    n_folds = cde["folds"]
    assert len(files) == n_folds >= 5
    assert set(cde) >= {"uf1", "uar", "war", "macro_f1", "per_class", "excluded", "confusion",
                        "per_database", "per_fold_mean", "folds"}
    assert set(cde["per_database"]) == {"casme2", "samm", "smic_hs"}
    assert cde["samples"] == sum(sum(row) for row in cde["confusion"])

    # A killed run: the last fold's result is gone; the rerun trains only that fold.
    stamps = {f: f.stat().st_mtime_ns for f in files}
    files[-1].unlink()
    _, again = run_training(work, params)
    assert sorted(cache.glob("*.json")) == files
    assert all(f.stat().st_mtime_ns == stamps[f] for f in files[:-1])
    assert again == metrics                              # deterministic on CPU

    # From scratch, without any cache: the same numbers.
    shutil.rmtree(cache)
    _, fresh = run_training(work, params)
    assert fresh == metrics


def test_every_network_trains_a_fold(preprocessed):
    """One epoch of every network on one CDE fold, from the shards, through its paper's loss;
    the shape its input view gives is the one its card says the network takes."""
    work, params, _ = preprocessed
    for network in models.pipeline_networks():
        p = quick(params, network, epochs=1)
        if network == "micro_attention":
            section(p, models.card(network).section)["net"]["checkpoint"] = None
        _, fold = first_fold(work, p)
        with inside(work):
            net = train.network(network, p)
            train.check_input_shape(net, net.inputs(load=list(fold.train)), list(fold.train))
        result = train_one(work, p, fold, work / "data/shards", network)
        assert len(result.predictions) == len(fold.test), network
        assert np.isfinite(result.curve[0]["loss"]), network


def test_seeds_give_mean_and_std_beside_each_seeds_pooled_scores(preprocessed):
    """FR reports the mean of several rounds: `seeds: [0, 1, 2]` trains every fold three times
    and the metrics give the mean and standard deviation over the seeds, with each seed's own
    pooled scores, at full precision."""
    work, params, _ = preprocessed
    params = quick(params, epochs=1)
    params["baselines"]["fr"]["seeds"] = [0, 1, 2]
    _, metrics = run_training(work, params)
    cde = metrics["protocols"]["cde"]
    assert cde["seeds"] == [0, 1, 2] and set(cde["per_seed"]) == {"0", "1", "2"}
    per_seed = [cde["per_seed"][k]["uf1"] for k in ("0", "1", "2")]
    assert cde["uf1"] == pytest.approx(np.mean(per_seed), abs=1e-12)
    assert cde["uf1_std"] == pytest.approx(np.std(per_seed), abs=1e-12)
    assert len(set(per_seed)) > 1                                  # the seeds differ
    with inside(work):
        headline = json.loads(Path("metrics/fr.json").read_text())["cde"]
    assert headline["seeds"] == 3 and headline["uf1_std"] == cde["uf1_std"]
    assert sum(map(sum, cde["confusion"])) == 3 * cde["samples"]


def test_per_protocol_settings_override_the_section(preprocessed):
    """A protocol's own settings (the papers' per-protocol batch sizes, optimisers and
    augmentations) are merged over the section for that protocol only."""
    work, params, _ = preprocessed
    params = copy.deepcopy(params)
    micro = params["baselines"]["micro_attention"]
    micro["net"]["checkpoint"] = None
    with inside(work):
        hde = train.network("micro_attention", params, "hde_casme2_samm")
        cde = train.network("micro_attention", params, "cde")
    assert hde.cfg.batch_size == 10 and hde.cfg.optimizer.lr == pytest.approx(1e-4)
    assert hde.input["colour_shift"] == 20 and hde.input["corners"] is False
    assert hde.input["side"] == micro["input"]["side"]             # merged key by key
    assert cde.cfg.batch_size == micro["batch_size"] and cde.input["corners"] is True
    micro["per_protocol"]["hde_casme2_samm"]["input"]["colour"] = 20
    with inside(work), pytest.raises(ValueError, match=r"micro_attention\.per_protocol\."
                                                       r"hde_casme2_samm\.input\.colour: unknown key"):
        train.network("micro_attention", params)


def test_several_folds_at_once_give_the_same_results(preprocessed, tmp_path):
    """folds_at_once: 2 trains folds in two worker processes; every fold has its own seed and
    its own model, so predictions and curves are byte for byte those of one fold at a time, and
    the fold cache fills the same way."""
    work, params, _ = preprocessed
    params = quick(params, epochs=1)
    outputs = {}
    for at_once in (1, 2):
        params["baselines"]["fr"]["folds_at_once"] = at_once
        with inside(work):
            train.run("fr", params, tmp_path / f"runs{at_once}", tmp_path / f"cache{at_once}")
        outputs[at_once] = [(tmp_path / f"runs{at_once}" / f).read_bytes()
                            for f in ("predictions.csv", "curves.csv")]
    assert outputs[1] == outputs[2]
    assert sorted(p.name for p in (tmp_path / "cache1").glob("*.json")) == \
        sorted(p.name for p in (tmp_path / "cache2").glob("*.json"))


def test_a_process_claims_a_gpu_no_other_holds(tmp_path):
    """pipeline/gpus.py with real file locks: a second process, while the first holds GPU 0,
    takes GPU 1; with every GPU held it waits."""
    import subprocess
    import sys

    from pipeline import gpus

    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from pipeline.gpus import claim_gpu; "
        f"print(claim_gpu(2, Path({str(tmp_path)!r})), flush=True); time.sleep(30)")],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1])
    try:
        assert holder.stdout.readline().strip() == "0"
        assert gpus.claim_gpu(2, tmp_path) == 1
        assert gpus.claim_gpu(2, tmp_path) == 1          # the same on every call
        waiter = subprocess.Popen([sys.executable, "-c", (
            "from pathlib import Path; from pipeline.gpus import claim_gpu; "
            f"print(claim_gpu(2, Path({str(tmp_path)!r}), wait_s=0.2), flush=True)")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            cwd=Path(__file__).resolve().parents[1])
        with pytest.raises(subprocess.TimeoutExpired):
            waiter.wait(timeout=4)                      # both held: it waits ...
        gpus.release_gpu()
        out, err = waiter.communicate(timeout=20)       # ... and takes GPU 1 once it is free
        assert out.strip() == "1" and "waiting" in err
        assert gpus.claim_gpu(1, tmp_path) == 0         # one GPU: shared, no lock
        gpus.release_gpu()
    finally:
        holder.kill()
        gpus.release_gpu()


def test_each_views_layout_is_what_it_reads(preprocessed):
    """The shapes a view declares for given preprocessing params (bench/gpu.py builds paper-size
    inputs from them) are those it reads from shards made with those params."""
    work, params, _ = preprocessed
    params = copy.deepcopy(params)
    params["baselines"]["micro_attention"]["net"]["checkpoint"] = None
    with inside(work):
        for name in models.pipeline_networks():
            inputs = train.network(name, params).inputs()
            ids = sorted(inputs.sample_ids())[:3]
            arrays = inputs.read(ids)
            assert {k: (v.shape[1:], str(v.dtype)) for k, v in arrays.items()} == \
                inputs.layout(params), name


@pytest.mark.parametrize("order", ["column", "row"])
def test_strcn_a_matrix_is_the_reference_masked_matrix_of_the_test_clip(preprocessed, order):
    """STRCN-A's batches are pipeline.energy.masked_matrix of the test-alpha clip under the
    fold's training mask, in the chosen pixel order; `onset_relative` subtracts each pixel's
    onset value, so the first frame is zero and the static face is gone."""
    from pipeline.datasets import MaskedMatrix
    from pipeline.energy import masked_matrix, top_p_mask

    work, _, _ = preprocessed
    with inside(work):
        for relative in (False, True):
            view = MaskedMatrix(mask_p=0.3, augment=True, onset_relative=relative,
                                pixel_order=order)
            ids = sorted(view.sample_ids())
            view.load(ids)
            train_ids, test_id = ids[1:], ids[0]
            view.fit(train_ids)
            arrays = view.read(ids)
            mask = top_p_mask(list(arrays["energy"][1:]), 0.3)
            clip = arrays["clips"][0, 0, 0].astype(np.float32) / 255              # (L, h, w)
            expected = masked_matrix(clip, mask, order)                          # (P, L)
            expected = expected - expected[:, :1] if relative else expected - 0.5
            got = view.batch([test_id], train=False, rng=np.random.default_rng(0))
            assert got.shape == (1, 1, *expected.shape)
            np.testing.assert_allclose(got[0, 0].numpy(), expected, atol=1e-6)
            if relative:
                assert not got[..., 0].any()
