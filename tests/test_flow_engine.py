"""The flow stage's two TV-L1 engines on the pipeline's own clips: `flow.engine: torch`
(pipeline/tvl1.py, clips batched) against `opencv`, the batching itself, and a broken clip in a
batch. The algorithm's agreement on synthetic pairs with known motion is tests/test_tvl1.py's."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Callable

import h5py
import numpy as np
import pytest
import yaml

from pipeline import flow
from pipeline.params import ParamsError, parse, section
from pipeline.parallel import StageError
from pipeline.shards import ShardSet, group_name
from tests.conftest import inside, landmark_flow_errors

KINDS = {"flow": "FR's onset -> apex, aligned size", "strcn_g": "STRCN-G, magnified",
         "stanet": "STANet, adjacent frames"}


def flow_shards(work: Path) -> ShardSet:
    return ShardSet.from_dir(work / "data" / "shards" / "flow")


def run_flow(preprocessed, folder: Path, before: Callable[[Path], None] | None = None,
             **changes) -> Path:
    """The flow stage alone in `folder`, on copies of the preprocessed index, align and magnify
    shards (`before(folder)` may change them), with `flow` params changed as given (`jobs`
    changes `preprocess.jobs`)."""
    work, params, _ = preprocessed
    for part in ["data/index", "data/shards/align", "data/shards/magnify"]:
        shutil.copytree(work / part, folder / part)
    if before is not None:
        before(folder)
    params = copy.deepcopy(params)
    if "jobs" in changes:
        params["preprocess"]["jobs"] = changes.pop("jobs")
    params["flow"].update(changes)
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    with inside(folder):
        flow.main()
    return folder


@pytest.fixture(scope="module")
def torch_run(preprocessed, tmp_path_factory) -> Path:
    """The flow stage with the torch engine, 3 clips a batch, in 2 worker processes."""
    return run_flow(preprocessed, tmp_path_factory.mktemp("torch"), engine="torch", batch=3,
                    jobs=2)


def endpoint(a: np.ndarray, b: np.ndarray, border: int = 0) -> float:
    """Mean endpoint distance of flows (..., H, W, 2), `border` pixels left out on each side."""
    if border:
        a, b = a[..., border:-border, border:-border, :], b[..., border:-border, border:-border, :]
    return float(np.linalg.norm(a - b, axis=-1).mean())


def test_torch_engine_agrees_with_opencv_on_the_pipelines_clips(preprocessed, torch_run):
    """Same clips, same apexes, and per kind of flow a mean endpoint difference of a few
    hundredths of a pixel at most, far below the flows' own size."""
    work, _, _ = preprocessed
    reference, ours = flow_shards(work), flow_shards(torch_run)
    assert sorted(ours.sample_ids) == sorted(reference.sample_ids)
    differences = {kind: [] for kind in KINDS}
    sizes = {kind: [] for kind in KINDS}
    for sid in reference.sample_ids:
        assert {k: v for k, v in ours.attrs(sid).items() if k.startswith("apex")} == \
            {k: v for k, v in reference.attrs(sid).items() if k.startswith("apex")}
        for kind in KINDS:
            mine, theirs = ours.read(sid, kind), reference.read(sid, kind)
            assert mine.shape == theirs.shape and mine.dtype == np.float32
            differences[kind].append(endpoint(mine, theirs))
            sizes[kind].append(float(np.linalg.norm(theirs, axis=-1).mean()))
    for kind, what in KINDS.items():
        difference, size = np.mean(differences[kind]), np.mean(sizes[kind])
        print(f"\n{what}: mean endpoint difference {difference:.4f} px (worst clip "
              f"{np.max(differences[kind]):.4f}); mean flow {size:.3f} px")
        assert difference <= 0.03 and np.max(differences[kind]) <= 0.1, kind
        assert difference < 0.1 * size, kind


def test_torch_engine_is_as_close_to_the_true_motion(preprocessed, torch_run):
    """FR's onset -> apex flow at the moving landmarks against the synthetic ground truth:
    the torch engine's error is OpenCV's, to a hundredth of a pixel."""
    work, _, root = preprocessed
    theirs, zero = landmark_flow_errors(work, work / "data/shards/flow", root)
    ours, _ = landmark_flow_errors(torch_run, torch_run / "data/shards/flow", root)
    print(f"\nerror to the true landmark motion: torch {np.mean(ours):.3f} px, OpenCV "
          f"{np.mean(theirs):.3f} px, zero flow {np.mean(zero):.3f} px ({len(ours)} clips)")
    assert len(ours) == len(theirs) >= 5
    assert np.mean(ours) <= np.mean(theirs) + 0.01


def test_a_clips_flow_does_not_depend_on_its_batch_or_the_workers(preprocessed, torch_run,
                                                                  tmp_path):
    """One clip a batch in this process against three a batch in two workers: each pair stops
    iterating on its own, so a clip's flow is its own (to float rounding)."""
    alone = flow_shards(run_flow(preprocessed, tmp_path, engine="torch", batch=1, jobs=1))
    batched = flow_shards(torch_run)
    for sid in batched.sample_ids:
        for kind in KINDS:
            np.testing.assert_allclose(alone.read(sid, kind), batched.read(sid, kind), atol=1e-4)


def drop_frames(folder: Path, sample_ids: list[str]) -> None:
    """Delete the aligned frames of these clips from the copied align shards."""
    aligned = ShardSet.from_dir(folder / "data/shards/align")
    paths = {sid: aligned.shard(sid) for sid in sample_ids}
    aligned.close()
    for sid, path in paths.items():
        with h5py.File(path, "a") as shard:
            del shard[group_name(sid)]["frames"]


def test_a_broken_clip_fails_alone_in_its_batch(preprocessed, tmp_path):
    """A clip whose aligned frames cannot be read fails, with the reason; its batch-mates are
    written; with too many failures the stage stops, naming the clips."""
    work, _, _ = preprocessed
    ids = sorted(flow_shards(work).sample_ids)
    bad = ids[1]                                            # the middle of the first batch of 3
    folder = run_flow(preprocessed, tmp_path / "lenient", engine="torch", batch=3, jobs=1,
                      before=lambda f: drop_frames(f, [bad]))
    report = json.loads((folder / "data/reports/flow.json").read_text())
    assert [f["id"] for f in report["failed"]] == [bad]
    assert "frames" in report["failed"][0]["reason"]
    assert sorted(flow_shards(folder).sample_ids) == [sid for sid in ids if sid != bad]

    with pytest.raises(StageError, match=f"flow: {len(ids) - 1} of {len(ids)} clips failed"):
        run_flow(preprocessed, tmp_path / "strict", engine="torch", batch=3, jobs=1,
                 before=lambda f: drop_frames(f, ids[1:]))


@pytest.mark.parametrize("change, message", [({"engine": "cuda"}, "flow.engine"),
                                             ({"batch": 0}, "batch")])
def test_bad_engine_settings_are_refused(change, message):
    raw = section(yaml.safe_load((Path(__file__).parents[1] / "params.yaml").read_text()), "flow")
    with pytest.raises(ParamsError, match=message):
        parse(flow.FlowParams, {**raw, **change}, "flow")
