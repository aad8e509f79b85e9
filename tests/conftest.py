"""Shared fixtures: a tiny synthetic database generated once per test run, and its preprocessed
workspace."""

from __future__ import annotations

import copy
import os
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def tiny_synthesize_params(out: Path, seed: int = 11) -> dict:
    """The repository's synthesize params shrunk to a few clips per database."""
    params = copy.deepcopy(yaml.safe_load((REPO / "params.yaml").read_text())["synthesize"])
    params["seed"] = seed
    params["out"] = str(out)
    params["casme2"].update(subjects=3, clips=10, frames=[8, 12])
    params["samm"].update(subjects=2, clips=6, frames=[8, 12])
    params["smic_hs"].update(subjects=2, clips=6, frames=[6, 9])
    params["smic_vis"].update(subjects=1, clips=3, frames=[4, 6])
    params["smic_nir"].update(subjects=1, clips=3, frames=[4, 6])
    params["casme"].update(subjects=2, clips=4, frames=[6, 8])
    params["casme3"].update(subjects=2, clips=6, frames=[6, 8])
    params["casme_sq"].update(subjects=2, clips=4, frames=[6, 8])
    params["mmew"].update(subjects=2, clips=6, frames=[6, 8])
    params["fourdme"].update(subjects=2, clips=6, frames=[6, 8])
    params["videos"].update(subjects=2, clips=2, frames=[8, 12])
    params["macro"].update(subjects=1, per_class=1)
    return params


@pytest.fixture(scope="session")
def tiny_synthetic(tmp_path_factory) -> tuple[Path, dict]:
    """(root, params) of a tiny synthetic database written by the real generator."""
    from pipeline.synthesize import synthesize

    params = tiny_synthesize_params(tmp_path_factory.mktemp("synthetic") / "synthetic")
    return synthesize(params), params


def shrink_preprocessing(params: dict) -> dict:
    """The preprocessing sections of params.yaml at a size that runs in seconds."""
    params["preprocess"].update(jobs=2, max_failed=0.2)
    params["align"]["shape"] = [72, 59]
    params["magnify"]["augment_alphas"] = [5]
    params["flow"]["strcn_g"]["shape"] = [40, 33]
    params["flow"]["stanet"].update(frames=6, shape=[24, 24])
    params["masks"].update(shape=[32, 24], frames=8)
    params["dynamic"]["draws"] = 2
    return params


@pytest.fixture
def one_torch_thread():
    """Tiny convolutions run 10-20x faster on one thread than on two on a busy 2-core machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def steps_to_fit(net, x, y, lr: float = 1e-3, steps: int = 40) -> int | None:
    """Adam on (x, y) until every sample is classified right in eval mode (BN running
    statistics); the number of steps it took, or None if `steps` were not enough."""
    import torch

    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    for step in range(1, steps + 1):
        net.train()
        loss, _ = net.loss(net(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        net.eval()
        with torch.no_grad():
            if (net(x).logits.argmax(1) == y).all():
                return step
    return None


@contextmanager
def inside(folder: Path):
    """Run stage code with `folder` as the working directory, as `dvc repro` does."""
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def landmark_flow_errors(work: Path, flow_dir: Path, root: Path) -> tuple[list[float], list[float]]:
    """Per clip with 3 or more moving landmarks: the mean endpoint error of the onset -> apex
    flow in `flow_dir` at the landmarks against their true displacement (synthetic ground truth
    carried into the aligned frame by the alignment's similarity), and that of a zero flow."""
    import cv2
    import h5py
    import numpy as np

    from pipeline.samples import clip_rows, read_samples
    from pipeline.shards import ShardSet

    with inside(work):
        rows = {r.sample_id: r for r in clip_rows(read_samples())}
    aligned = ShardSet.from_dir(work / "data/shards/align")
    flows = ShardSet.from_dir(flow_dir)
    epe, zero = [], []
    with h5py.File(root / "ground_truth.h5") as truth:
        for sid, row in rows.items():
            group = truth[sid]
            numbers = group["frame_numbers"][()]
            apex = flows.attrs(sid)["apex_fr"]
            true = group["landmarks"]
            at = [int(np.flatnonzero(numbers == row.frame_numbers[t])[0]) for t in (apex, row.onset)]
            d_source = true[at[0]] - true[at[1]]                                           # (68, 2)
            src, dst = aligned.read(sid, "source_landmarks"), aligned.read(sid, "landmarks")
            similarity, _ = cv2.estimateAffinePartial2D(src, dst)
            d_aligned = d_source @ similarity[:, :2].T                                   # (68, 2)
            field = flows.read(sid, "flow")
            x = np.clip(np.rint(dst[:, 0]).astype(int), 0, field.shape[1] - 1)
            y = np.clip(np.rint(dst[:, 1]).astype(int), 0, field.shape[0] - 1)
            moving = np.linalg.norm(d_aligned, axis=1) > 0.3
            if moving.sum() < 3:
                continue
            epe.append(float(np.linalg.norm(field[y, x] - d_aligned, axis=1)[moving].mean()))
            zero.append(float(np.linalg.norm(d_aligned, axis=1)[moving].mean()))
    return epe, zero


def tiny_params(synthetic_root: Path) -> dict:
    """The repository's params at a size that preprocesses in seconds."""
    params = copy.deepcopy(yaml.safe_load((REPO / "params.yaml").read_text()))
    for key in ["casme2", "samm", "smic", "casme"]:
        params["databases"][key] = str(synthetic_root / Path(params["databases"][key]).name)
    params["databases"]["megc2019_gt"] = str(synthetic_root / "MEGC2019" / "combined_3class_gt.csv")
    return shrink_preprocessing(params)


def run_all(work: Path, params: dict) -> None:
    """index and every preprocessing stage in `work`, as `dvc repro` runs them."""
    from pipeline import align, dynamic, flow, index, magnify, masks

    (work / "params.yaml").write_text(yaml.safe_dump(params))
    with inside(work):
        index.main()
        for stage in [align, magnify, flow, masks, dynamic]:
            stage.main()


@pytest.fixture(scope="session")
def preprocessed(tiny_synthetic, tmp_path_factory) -> tuple[Path, dict, Path]:
    """(workspace, params, synthetic root) after every preprocessing stage ran."""
    root, _ = tiny_synthetic
    work = tmp_path_factory.mktemp("work")
    params = tiny_params(root)
    run_all(work, params)
    return work, params, root


def shrink_training(params: dict) -> dict:
    """The training sections of params.yaml at one epoch on small inputs."""
    sections = [params["model"]] + list(params["baselines"].values())
    for section in sections:
        section.update(epochs=1, protocols=["cde"], folds_at_once=1)   # tiny folds: no workers
    params["model"]["net"]["width"] = 8
    params["model"]["input"]["side"] = 32
    micro = params["baselines"]["micro_attention"]
    micro["net"]["width"] = 8
    micro["input"]["side"] = params["pretrain"]["input_size"] = 32
    params["baselines"]["stanet"]["input"]["side"] = 24
    params["pretrain"]["epochs"] = 1
    return params
