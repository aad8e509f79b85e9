"""The `synthesize` stage: determinism, real layouts read back by the adapters, ground truth."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import cv2
import h5py
import numpy as np
import openpyxl
import pytest

from pipeline.databases import read_database
from pipeline.databases.videos import read_videos
from pipeline.synthesize import (CASME2_LABELS, SAMM_LABELS, allocate, assign_subjects,
                                 synthesize)
from tests.conftest import tiny_synthesize_params

# Which adapter reads which part of the synthetic tree.
ADAPTER_ROOTS = {"casme2": "CASME2", "samm": "SAMM", "smic_hs": "SMIC", "smic_vis": "SMIC",
                 "smic_nir": "SMIC", "casme": "CASME", "casme3": "CASME3", "casme_sq": "CASME_sq",
                 "mmew": "MMEW", "fourdme": "4DME", "videos": "VIDEOS"}


def files_of(root: Path) -> dict[str, bytes]:
    """Every file's bytes (frames, sheets, lists, the ground truth), keyed by relative path."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def sheet_values(path: Path) -> list[tuple]:
    return [tuple(row) for row in openpyxl.load_workbook(path).active.iter_rows(values_only=True)]


def test_allocate_keeps_real_imbalance():
    labels = allocate(CASME2_LABELS, 255)
    assert Counter(labels) == Counter(CASME2_LABELS)
    small = Counter(allocate(SAMM_LABELS, 30))
    assert sum(small.values()) == 30 and set(small) == set(SAMM_LABELS)
    assert small["Anger"] == max(small.values()) and small["Anger"] >= 3 * small["Sadness"]


def test_assign_subjects_gives_every_subject_two_clips():
    rng = np.random.default_rng(0)
    owners = assign_subjects(["x"] * 40, [1, 2, 3, 4, 5], rng)
    counts = Counter(owners)
    assert len(owners) == 40 and set(counts) == {1, 2, 3, 4, 5} and min(counts.values()) >= 2


def test_same_seed_same_database_other_seed_other_faces(tiny_synthetic, tmp_path):
    """Byte for byte: workbooks carry a fixed time, so a re-run (here minutes after the first,
    into another folder) writes the same files, and DVC sees the same output."""
    root, params = tiny_synthetic
    again = synthesize(dict(params, out=str(tmp_path / "again")))
    first, second = files_of(root), files_of(again)
    assert first.keys() == second.keys()
    assert [k for k in first if first[k] != second[k]] == []
    assert {Path(k).suffix for k in first} >= {".jpg", ".bmp", ".png", ".csv", ".xlsx", ".h5"}
    for sheet in ["CASME2/CASME2-coding-20140508.xlsx", "SAMM/SAMM_Micro_FACS_Codes_v2.xlsx",
                  "CASME/casme.xlsx"]:
        assert sheet_values(root / sheet) == sheet_values(again / sheet)
    with h5py.File(root / "ground_truth.h5") as a, h5py.File(again / "ground_truth.h5") as b:
        assert sorted(a["casme2"]) == sorted(b["casme2"])

    other = synthesize(tiny_synthesize_params(tmp_path / "other", seed=12))
    frame = sorted((root / "CASME2" / "Cropped" / "sub01").rglob("*.jpg"))[0]
    other_frame = sorted((other / "CASME2" / "Cropped" / "sub01").rglob("*.jpg"))[0]
    assert cv2.imread(str(frame)).shape == cv2.imread(str(other_frame)).shape
    assert frame.read_bytes() != other_frame.read_bytes()


def read_all(root: Path):
    clips, issues = {}, []
    for name, folder in ADAPTER_ROOTS.items():
        # the videos' frames are decoded beside the database, not into the repository's data/
        result = (read_videos(root / folder, root.parent / "frames") if name == "videos"
                  else read_database(name, root / folder))
        clips.update({c.sample_id: c for c in result.clips})
        issues += result.issues
    return clips, issues


def test_adapters_read_back_the_truth(tiny_synthetic):
    """Every clip the generator wrote is read back with its frames, label and timing; every
    injected quirk is repaired or skipped exactly as documented."""
    root, _ = tiny_synthetic
    clips, issues = read_all(root)
    skipped = {i.clip for i in issues if i.action == "skipped"}
    seen_quirks = set()
    with h5py.File(root / "ground_truth.h5") as truth:
        # CAS(ME)^3, CAS(ME)^2, MMEW and 4DME: their own quirks, checked in their test files
        # (tests/test_casme3.py, tests/test_mmew_fourdme.py); here every clip must be read.
        later = [db for db in truth if db in ("casme3", "casme_sq", "mmew", "fourdme")]
        for db in later:
            written = {f"{db}/{s}/{c}" for s in truth[db] for c in truth[db][s]}
            kinds = {truth[i].attrs["quirk"] for i in written}
            read = {i for i in clips if i.startswith(f"{db}/")}
            assert read <= written and (read == written or kinds != {""}), db
        samples = [f"{db}/{s}/{c}" for db in truth if db not in ("identities", *later)
                   for s in truth[db] for c in truth[db][s]]
        assert samples, "ground truth lists no clip"
        for sample_id in samples:
            g = truth[sample_id]
            quirk = g.attrs["quirk"]
            seen_quirks.add(quirk)
            if quirk == "no_sheet_row":
                assert sample_id not in clips
                assert any(sample_id.endswith(s) or s.endswith(sample_id.split("/")[-1]) for s in skipped)
                continue
            clip = clips[sample_id]
            numbers = list(g["frame_numbers"][()])
            assert clip.frame_numbers == numbers
            assert clip.emotion == g.attrs["emotion"]
            onset, apex, offset = (int(g.attrs[k]) for k in ("true_onset", "true_apex", "true_offset"))
            if quirk in ("apex_slash", "apex_at_onset", "apex_outside"):
                assert clip.apex is None and clip.repairs
            elif quirk == "range_shift":       # the shifted annotation moved back whole
                assert (clip.onset, clip.apex, clip.offset) == (onset, apex, offset)
                assert clip.repairs
            elif quirk in ("offset_past_end", "wrong_offset"):
                assert clip.offset == numbers[-1] and clip.repairs
            elif sample_id.startswith("smic"):
                assert (clip.onset, clip.apex, clip.offset) == (numbers[0], None, numbers[-1])
            else:
                assert (clip.onset, clip.apex, clip.offset) == (onset, apex, offset)
                assert not clip.repairs
            if not sample_id.startswith(("smic", "videos")):    # no AUs in either
                assert clip.action_units == g.attrs["action_units"]
    assert {"apex_slash", "range_shift", "offset_past_end", "apex_at_onset", "no_sheet_row",
            "apex_outside", "wrong_offset"} <= seen_quirks


def test_megc_list_matches_the_written_clips(tiny_synthetic):
    root, _ = tiny_synthetic
    rows = list(csv.reader((root / "MEGC2019" / "combined_3class_gt.csv").open()))
    assert rows and all(len(r) == 4 for r in rows)
    assert {r[0] for r in rows} == {"casme2", "samm", "smic"}
    assert {r[3] for r in rows} <= {"negative", "positive", "surprise"}
    assert all(r[1].startswith("s") and len(r[1]) == 3 for r in rows if r[0] == "smic")
    assert all(r[1].isdigit() for r in rows if r[0] == "samm")


def test_macro_set_is_labelled_by_folder(tiny_synthetic):
    root, params = tiny_synthetic
    folders = sorted(p.name for p in (root / "MACRO").iterdir())
    assert folders == sorted(["anger", "contempt", "disgust", "fear", "happiness", "neutral",
                              "sadness", "surprise"])
    images = list((root / "MACRO").rglob("*.png"))
    assert len(images) == len(folders) * params["macro"]["subjects"] * params["macro"]["per_class"]


@pytest.mark.parametrize("database, folder", [("casme2", "CASME2"), ("samm", "SAMM")])
def test_true_landmarks_and_motion_are_consistent(tiny_synthetic, database, folder):
    """Landmarks lie on the face, and the apex moves them by about the stated amplitude."""
    root, _ = tiny_synthetic
    with h5py.File(root / "ground_truth.h5") as truth:
        for subject in truth[database]:
            for name in truth[database][subject]:
                g = truth[database][subject][name]
                marks = g["landmarks"][()]                       # (T, 68, 2)
                assert marks.shape == (len(g["frame_numbers"]), 68, 2)
                onset = int(np.where(g["frame_numbers"][()] == g.attrs["true_onset"])[0][0])
                apex = int(np.where(g["frame_numbers"][()] == g.attrs["true_apex"])[0][0])
                moved = np.linalg.norm(marks[apex] - marks[onset], axis=1).max()
                assert moved <= g.attrs["amplitude_px"] + 2.5   # AU motion + rigid jitter
