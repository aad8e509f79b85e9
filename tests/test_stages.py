"""The preprocessing stages end to end on a tiny synthetic database, checked against its ground
truth: landmarks, apex, flow at the landmarks, magnification, shard contents, determinism and
failure handling."""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import yaml

from pipeline.align import AlignParams, align_one
from pipeline.parallel import StageError
from pipeline.shards import ShardSet
from pipeline.samples import clip_rows, read_samples
from pipeline.stage import run_stage
from tests.conftest import inside, landmark_flow_errors, run_all


def shards(work: Path, stage: str) -> ShardSet:
    return ShardSet.from_dir(work / "data" / "shards" / stage)


def rows(work: Path) -> dict:
    with inside(work):
        return {r.sample_id: r for r in clip_rows(read_samples())}


def truth_index(group: h5py.Group, frame_number: int) -> int:
    return int(np.flatnonzero(group["frame_numbers"][()] == frame_number)[0])


def test_one_shard_per_database_and_subject_with_every_clip(preprocessed):
    work, params, _ = preprocessed
    clips = rows(work)
    subjects = {(r.database, r.subject) for r in clips.values()}
    for stage in ["align", "magnify", "flow", "masks", "dynamic"]:
        files = sorted((work / "data/shards" / stage).glob("*/*.h5"))
        assert {(f.parent.name, f.stem) for f in files} == subjects, stage
        assert sorted(shards(work, stage).sample_ids) == sorted(clips), stage
        report = yaml.safe_load((work / "data/reports" / f"{stage}.json").read_text())
        assert report["failed"] == [] and len(report["processed"]) == len(clips)


def test_shapes_and_attrs(preprocessed):
    work, params, _ = preprocessed
    clips = rows(work)
    sid = sorted(clips)[0]
    row = clips[sid]
    h, w = params["align"]["shape"]
    t = len(row.frames)
    aligned, magnified, flows = shards(work, "align"), shards(work, "magnify"), shards(work, "flow")
    assert aligned.shape(sid, "frames") == (t, h, w, 3)
    assert aligned.read(sid, "frames", 0).shape == (h, w, 3)
    assert sorted(magnified.keys(sid)) == ["alpha5", "alpha8"]
    assert magnified.attrs(sid)["alphas"] == ["alpha8", "alpha5"]        # the test-time one first
    keep = params["flow"]["strcn_g"]["keep"]
    assert flows.shape(sid, "fr") == (28, 28, 2)
    assert flows.shape(sid, "strcn_g") == (2, len(keep), 40, 33, 2)
    assert flows.shape(sid, "stanet") == (5, 24, 24, 2)
    masks = shards(work, "masks")
    assert masks.shape(sid, "clips") == (2, len(params["masks"]["keep"]), 8, 32, 24)
    assert masks.attrs(sid)["alphas"] == ["alpha8", "alpha5"]
    assert shards(work, "dynamic").shape(sid, "train") == (2, 4, h, w, 3)
    attrs = flows.attrs(sid)
    assert attrs["subject_id"] == f"{row.database}/{row.subject}" and attrs["onset"] == row.onset
    for network, rule in params["flow"]["apex"].items():
        assert attrs["emotion"] == row.labels["emotion"] and 0 <= attrs[f"apex_{network}"] < t
        assert attrs[f"apex_source_{network}"] == ("annotated" if row.apex is not None
                                                   else f"spotted:{rule['method']}")


def test_detected_landmarks_match_the_truth(preprocessed):
    """dlib on the synthetic onset frames: mean landmark error in source pixels."""
    work, _, root = preprocessed
    aligned, errors = shards(work, "align"), []
    with h5py.File(root / "ground_truth.h5") as truth:
        for sid, row in rows(work).items():
            group = truth[sid]
            true = group["landmarks"][truth_index(group, row.frame_numbers[row.onset])]
            errors.append(np.linalg.norm(aligned.read(sid, "source_landmarks") - true, axis=1).mean())
    print(f"\nonset landmark error: mean {np.mean(errors):.2f} px, worst clip {np.max(errors):.2f} px")
    assert np.mean(errors) < 2.0 and np.max(errors) < 4.0


def test_spotted_apex_is_near_the_true_apex(preprocessed):
    work, _, root = preprocessed
    flows, errors = shards(work, "flow"), []
    with h5py.File(root / "ground_truth.h5") as truth:
        for sid, row in rows(work).items():
            if row.apex is not None:
                continue
            true = truth_index(truth[sid], truth[sid].attrs["true_apex"])
            spotted = truth_index(truth[sid], row.frame_numbers[flows.attrs(sid)["apex_fr"]])
            errors.append((abs(spotted - true), len(row.frames)))
    frames, lengths = np.array(errors).T
    print(f"\napex spotting error: mean {frames.mean():.2f} frames ({(frames / lengths).mean():.3f} "
          f"of the clip length) over {len(errors)} clips")
    assert len(errors) >= 6 and (frames / lengths).mean() < 0.15


def test_flow_follows_the_true_landmark_motion(preprocessed):
    """Onset -> apex TV-L1 in the aligned frame vs the true landmark displacement carried into
    the aligned frame by the alignment's local similarity; compared with a zero-flow guess."""
    work, _, root = preprocessed
    epe, zero = landmark_flow_errors(work, work / "data/shards/flow", root)
    print(f"\nflow at moving landmarks: EPE {np.mean(epe):.2f} px vs {np.mean(zero):.2f} px for zero flow"
          f" ({len(epe)} clips)")
    assert np.mean(epe) < 0.7 * np.mean(zero)


def test_magnification_enlarges_the_onset_to_apex_change(preprocessed):
    work, _, _ = preprocessed
    aligned, magnified, flows = shards(work, "align"), shards(work, "magnify"), shards(work, "flow")
    ratios = []
    for sid, row in rows(work).items():
        apex = flows.attrs(sid)["apex_fr"]
        plain = aligned.read(sid, "frames").astype(np.float32)
        big = magnified.read(sid, "alpha8").astype(np.float32)
        ratios.append(np.abs(big[apex] - big[row.onset]).mean() / max(np.abs(plain[apex] - plain[row.onset]).mean(), 1e-6))
    print(f"\nmagnified / plain onset-apex difference: median {np.median(ratios):.2f}")
    assert np.median(ratios) > 1.5


def test_reruns_are_byte_identical(preprocessed, tmp_path):
    work, params, _ = preprocessed
    again = tmp_path / "again"
    again.mkdir()
    run_all(again, params)
    for stage in ["align", "magnify", "flow", "masks", "dynamic"]:
        for shard in sorted((work / "data/shards" / stage).glob("*/*.h5")):
            twin = again / shard.relative_to(work)
            assert filecmp.cmp(shard, twin, shallow=False), f"{stage}: {shard.name} differs"


def test_a_clip_without_a_face_is_reported_and_the_threshold_stops_the_stage(preprocessed, tmp_path):
    work, params, _ = preprocessed
    table = read_samples(work / "data/index/samples.csv").sort_values("sample_id").head(3).copy()
    broken = Path(table.iloc[0]["frame_dir"])
    broken = broken if broken.is_absolute() else work / broken
    faceless = tmp_path / "faceless"
    shutil.copytree(broken, faceless)
    noise = np.random.default_rng(0).integers(0, 255, cv2.imread(str(next(faceless.iterdir()))).shape, np.uint8)
    for frame in faceless.iterdir():
        cv2.imwrite(str(frame), noise)
    table["frame_dir"] = [str(faceless)] + [str(work / d) for d in table["frame_dir"].iloc[1:]]
    table.to_csv(tmp_path / "samples.csv", index=False)
    bad = table.iloc[0]["sample_id"]
    with inside(tmp_path):
        report = run_stage("align", align_one, AlignParams(**params["align"]), jobs=1, max_failed=0.5,
                           index_path=str(tmp_path / "samples.csv"))
        assert [f.id for f in report.failed] == [bad] and "no face" in report.failed[0].reason
        assert bad not in ShardSet.from_dir(Path("data/shards/align")).sample_ids
        with pytest.raises(StageError, match=f"align: 1 of 3 clips failed.*{bad}"):
            run_stage("align", align_one, AlignParams(**params["align"]), jobs=1, max_failed=0.0,
                      index_path=str(tmp_path / "samples.csv"))
