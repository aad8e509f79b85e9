"""MMEW and 4DME: the writers put clips in the releases' layouts, the adapters read them back,
their quirks are repaired as documented, and unusable input stops with one line."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import cv2
import h5py
import openpyxl
import pytest

import pipeline.synthesize as synth
from pipeline.aus import parse_aus
from pipeline.databases.common import AdapterResult, Clip
from pipeline.databases.fourdme import read_fourdme
from pipeline.databases.mmew import read_mmew
from pipeline.synthetic.mmew_fourdme import (FOURDME_FULL_HEADER, FOURDME_HEADER, FOURDME_LABELS,
                                             FOURDME_SHEET, MMEW_HEADER, MMEW_LABELS, MMEW_SHEET,
                                             FourDMEWriter, MMEWWriter, SheetClip,
                                             synthesize_fourdme, synthesize_mmew)
from tests.test_adapters import noise
from tests.test_bad_input import error_of, set_cell


def sheet_clip(subject: int, name: str, numbers: list[int], onset, apex, offset, emotion: str,
               aus: str | int = "", **extra) -> SheetClip:
    return SheetClip(subject, name, noise(len(numbers), seed=len(name) + subject), numbers,
                     onset, apex, offset, emotion, aus, **extra)


def by_id(result: AdapterResult) -> dict[str, Clip]:
    return {c.sample_id: c for c in result.clips}


def sheet_rows(path: Path) -> list[tuple]:
    return [tuple(r) for r in openpyxl.load_workbook(path).active.iter_rows(values_only=True)]




# --- MMEW -----------------------------------------------------------------------------------

# (subject, Subject cell, Filename, frame numbers, onset, apex, offset, emotion, AU cell, AU read)
# Added out of subject order: the sheet lists them by subject.
MMEW_CLIPS = [
    (13, 13, "S13-07-001", list(range(1, 13)), 1, 6, 12, "others", "1+2+ L4", "1+2+L4"),
    (7, "07", "S07-02-001", list(range(1, 9)), 2, 4, 8, "happiness", 12, "12"),
    (7, "S7", "S07-02-002", list(range(1, 7)), 1, 3, 6, "anger", "4+7", "4+7"),
]


def write_mmew(root: Path, others_folder: str = "repression") -> Path:
    writer = MMEWWriter(root, others_folder=others_folder)
    for subject, cell, name, numbers, onset, apex, offset, emotion, aus, _ in MMEW_CLIPS:
        writer.add(sheet_clip(subject, name, numbers, onset, apex, offset, emotion, aus,
                              subject_cell=cell))
    writer.finish()
    return root


@pytest.mark.parametrize("others_folder", ["repression", "others"])
def test_mmew_round_trip(tmp_path, others_folder):
    root = write_mmew(tmp_path / "MMEW", others_folder)
    rows = sheet_rows(root / MMEW_SHEET)
    assert list(rows[0]) == MMEW_HEADER
    assert [r[1] for r in rows[1:]] == ["S07-02-001", "S07-02-002", "S13-07-001"]
    assert [r[0] for r in rows[1:]] == ["07", "S7", 13]                 # text and int cells
    result = read_mmew(root)
    assert result.issues == []
    clips = by_id(result)
    assert sorted(clips) == ["mmew/07/S07-02-001", "mmew/07/S07-02-002", "mmew/13/S13-07-001"]
    rows_of = {"S07-02-001": 2, "S07-02-002": 3, "S13-07-001": 4}
    for subject, _, name, numbers, onset, apex, offset, emotion, _, aus in MMEW_CLIPS:
        clip = clips[f"mmew/{subject:02d}/{name}"]
        folder = others_folder if emotion == "others" else emotion
        assert clip.frame_dir == root / "Micro_Expression" / folder / name
        assert clip.frames == [f"{n}.jpg" for n in numbers]             # 9.jpg before 10.jpg
        assert clip.frame_numbers == numbers
        assert (clip.onset, clip.apex, clip.offset) == (onset, apex, offset)
        assert (clip.emotion, clip.action_units, clip.fps) == (emotion, aus, 90)
        assert (clip.subject, clip.row, clip.repairs) == (f"{subject:02d}", rows_of[name], [])


def test_mmew_others_folder_repression_is_taken_first(tmp_path):
    root = write_mmew(tmp_path, "repression")
    copy = tmp_path / "Micro_Expression" / "others" / "S13-07-001"
    (tmp_path / "Micro_Expression" / "repression" / "S13-07-001").rename(tmp_path / "moved")
    write_mmew(tmp_path, "others")
    (tmp_path / "moved").rename(tmp_path / "Micro_Expression" / "repression" / "S13-07-001")
    result = read_mmew(root)
    assert by_id(result)["mmew/13/S13-07-001"].frame_dir.parent.name == "repression"
    assert [(i.source, i.reason) for i in result.issues] == [
        (str(copy), "no annotation row; no label")]


def test_mmew_quirks_are_repaired_or_skipped(tmp_path):
    """Rows loaders re-annotate (apex after the offset, offset past the clip) and a row with
    no folder."""
    writer = MMEWWriter(tmp_path)
    writer.add(sheet_clip(3, "S03-01-001", list(range(1, 9)), 1, 14, 8, "surprise"))
    writer.add(sheet_clip(3, "S03-01-002", list(range(1, 9)), 1, 4, 17, "disgust"))
    writer.add(sheet_clip(4, "S04-02-001", list(range(1, 9)), 1, 4, 8, "others", on_disk=False))
    writer.finish()
    result = read_mmew(tmp_path)
    clips = by_id(result)
    assert clips["mmew/03/S03-01-001"].apex is None and clips["mmew/03/S03-01-002"].offset == 8
    assert [(i.row, i.action, i.reason) for i in result.issues] == [
        (2, "repaired", "apex 14 outside onset..offset 1..8 -> missing, spotted later"),
        (3, "repaired", "offset 17 past the last frame on disk 8 -> 8"),
        (4, "skipped", "no frame folder Micro_Expression/repression/S04-02-001 on disk")]


def test_mmew_bad_input(tmp_path):
    assert "databases.mmew in params.yaml" in error_of("mmew", tmp_path / "nowhere")
    (tmp_path / "Micro_Expression").mkdir()
    message = error_of("mmew", tmp_path)
    assert message == (f"{tmp_path}: no MMEW micro-expression sheet found; looked for "
                       f"{MMEW_SHEET}; put the release's file in this folder")
    sheet = write_mmew(tmp_path) / MMEW_SHEET
    set_cell(sheet, 3, 7, "contempt")
    message = error_of("mmew", tmp_path)
    assert message.startswith(f"{sheet} row 3: unknown emotion 'contempt' in Estimated Emotion; "
                              "allowed: happiness, surprise, anger")
    assert message.endswith("correct the cell")
    book = openpyxl.Workbook()
    book.active.append(["MMEW micro-expressions"])
    book.save(sheet)
    assert error_of("mmew", tmp_path).startswith(
        f"{sheet} row 1: missing columns Subject, Filename, OnsetFrame")


# --- 4DME -----------------------------------------------------------------------------------

# (sub_ID cell, fold_name, frame numbers, Onset, Apex, Offset cells, Emotion, AUs cell,
#  (onset, apex, offset), AU string read back, moving AUs)
FOURDME_CLIPS = [
    ("S02", "S02_1st_001_01_1", list(range(1198, 1206)), 1198, 1201, 1205, "Surprise+Positive",
     "AU1+2+12", (1198, 1201, 1205), "AU1+2+12", {1, 2, 12}),
    ("S02", "S02_1st_002_01_1", list(range(96, 104)), 96.0, 99.0, 103.0, "Negative",
     "AU4(k)+L7", (96, 99, 103), "AU4(k)+L7", {7}),
    (7, "S07_2nd_001_01_1", list(range(8, 16)), "8", "11.0", "15", "Repression",
     "AUR2+12(k)+45", (8, 11, 15), "AUR2+12(k)+45", {2, 45}),
    ("S01", "S01_1st_001_01_1", list(range(40, 46)), 40, 42, 45, "Others", 14,
     (40, 42, 45), "14", {14}),
]


def write_fourdme(root: Path, naming: str = "plain", full_columns: bool = True) -> Path:
    writer = FourDMEWriter(root, naming=naming, full_columns=full_columns)
    for cell, name, numbers, onset, apex, offset, emotion, aus, *_ in FOURDME_CLIPS:
        subject = cell if isinstance(cell, int) else int(cell[1:])
        writer.add(sheet_clip(subject, name, numbers, onset, apex, offset, emotion, aus,
                              subject_cell=cell, fold=name[:7]))
    writer.finish()
    return root


@pytest.mark.parametrize("naming, file_name", [("plain", "{}.jpg"), ("img", "img{}.jpg"),
                                                ("padded", "{:04d}.jpg")])
@pytest.mark.parametrize("full_columns", [True, False])
def test_fourdme_round_trip(tmp_path, naming, file_name, full_columns):
    root = write_fourdme(tmp_path / "4DME", naming, full_columns)
    rows = sheet_rows(root / FOURDME_SHEET)
    assert list(rows[0]) == (FOURDME_FULL_HEADER if full_columns else FOURDME_HEADER)
    assert [r[0] for r in rows[1:]] == ["S01", "S02", "S02", 7]          # sorted by subject
    result = read_fourdme(root)
    assert result.issues == []
    clips = by_id(result)
    assert sorted(clips) == ["fourdme/7/S07_2nd_001_01_1", "fourdme/S01/S01_1st_001_01_1",
                             "fourdme/S02/S02_1st_001_01_1", "fourdme/S02/S02_1st_002_01_1"]
    for cell, name, numbers, *_, emotion, _, expected, aus, moving in FOURDME_CLIPS:
        clip = clips[f"fourdme/{cell}/{name}"]
        assert clip.frame_dir == root / "gray_micro" / str(cell) / name
        assert clip.frames == [file_name.format(n) for n in numbers]
        assert clip.frame_numbers == numbers
        assert (clip.onset, clip.apex, clip.offset) == expected          # floats, text -> ints
        assert (clip.emotion, clip.action_units, clip.fps) == (emotion, aus, 60)
        assert parse_aus(clip.action_units).numbers() == moving          # (k) kept out
        assert clip.repairs == []
    frame = cv2.imread(str(clips["fourdme/S01/S01_1st_001_01_1"].frame_dir
                           / file_name.format(40)), cv2.IMREAD_UNCHANGED)
    assert frame.shape == (16, 16)                                       # grey JPEG


def test_fourdme_flags_and_total(tmp_path):
    rows = sheet_rows(write_fourdme(tmp_path) / FOURDME_SHEET)
    header = list(rows[0])
    surprise_positive = dict(zip(header, rows[2]))
    assert surprise_positive["Emotion"] == "Surprise+Positive"
    assert [surprise_positive[k] for k in ("Positive", "Negative", "Surprise", "Repression",
                                           "Others", "Total")] == [1, 0, 1, 0, 0, 2]


def test_fourdme_aus_exchanged_with_a_frame_cell(tmp_path):
    writer = FourDMEWriter(tmp_path)
    writer.add(sheet_clip(1, "S01_1st_001_01_1", list(range(50, 58)), 50, "AU4+L7", 57,
                          "Negative", 53))
    writer.add(sheet_clip(1, "S01_1st_002_01_1", list(range(5, 12)), "AU12(k)+14", 8, 11,
                          "Others", 5))
    writer.finish()
    result = read_fourdme(tmp_path)
    first, second = (by_id(result)[f"fourdme/S01/S01_1st_00{k}_01_1"] for k in (1, 2))
    assert (first.onset, first.apex, first.offset, first.action_units) == (50, 53, 57, "AU4+L7")
    assert (second.onset, second.apex, second.action_units) == (5, 8, "AU12(k)+14")
    assert [(i.row, i.action, i.reason) for i in result.issues] == [
        (2, "repaired", "AUs 53 and Apex 'AU4+L7' swapped -> exchanged back"),
        (3, "repaired", "AUs 5 and Onset 'AU12(k)+14' swapped -> exchanged back")]


def test_fourdme_aus_exchanged_between_neighbouring_rows(tmp_path):
    """Sheet rows 144/145: each row's AUs and emotion flags are the other row's."""
    writer = FourDMEWriter(tmp_path)
    writer.add(sheet_clip(9, "S09_1st_001_01_1", list(range(1, 9)), 1, 4, 8, "Positive",
                          "AU1+2", flags_emotion="Surprise"))
    writer.add(sheet_clip(9, "S09_1st_002_01_1", list(range(1, 9)), 1, 4, 8, "Surprise",
                          "AU6+12", flags_emotion="Positive"))
    writer.add(sheet_clip(9, "S09_1st_003_01_1", list(range(1, 9)), 1, 4, 8, "Negative", "AU4"))
    writer.finish()
    result = read_fourdme(tmp_path)
    clips = by_id(result)
    assert clips["fourdme/S09/S09_1st_001_01_1"].action_units == "AU6+12"
    assert clips["fourdme/S09/S09_1st_002_01_1"].action_units == "AU1+2"
    assert clips["fourdme/S09/S09_1st_003_01_1"].repairs == []
    assert [(i.row, i.reason) for i in result.issues] == [
        (2, "AUs 'AU1+2' and Emotion flags belong to row 3 (they name its Emotion 'Surprise') "
            "-> exchanged with it"),
        (3, "AUs 'AU6+12' and Emotion flags belong to row 2 (they name its Emotion 'Positive') "
            "-> exchanged with it")]


def test_fourdme_label_spelling_is_respelled(tmp_path):
    writer = FourDMEWriter(tmp_path, full_columns=False)
    writer.add(sheet_clip(1, "S01_1st_001_01_1", [1, 2, 3, 4], 1, 2, 4, "surprise + Negative"))
    writer.finish()
    clip = read_fourdme(tmp_path).clips[0]
    assert clip.emotion == "Surprise+Negative"
    assert clip.repairs == ["emotion 'surprise + Negative' -> 'Surprise+Negative'"]


@pytest.mark.parametrize("emotion", ["Joy", "Surprise+Joy", "Surprise+"])
def test_fourdme_unknown_emotion(tmp_path, emotion):
    sheet = write_fourdme(tmp_path) / FOURDME_SHEET
    set_cell(sheet, 3, 4, emotion)
    assert error_of("fourdme", tmp_path) == (
        f"{sheet} row 3: unknown emotion {emotion!r} in Emotion; allowed: Positive, Negative, "
        "Surprise, Repression, Others or several joined by +; correct the cell")


def test_fourdme_bad_input(tmp_path):
    assert "databases.fourdme in params.yaml" in error_of("fourdme", tmp_path / "nowhere")
    (tmp_path / "gray_micro").mkdir()
    assert error_of("fourdme", tmp_path) == (
        f"{tmp_path}: no 4DME labelling sheet found; looked for {FOURDME_SHEET}; put the "
        "release's file in this folder")
    sheet = write_fourdme(tmp_path) / FOURDME_SHEET
    set_cell(sheet, 4, 5, "soon")                                        # an Onset no one can read
    assert error_of("fourdme", tmp_path) == (
        f"{sheet} row 4: Onset 'soon' is not a frame number; correct the cell")
    set_cell(sheet, 1, 7, "Offset frame")
    assert error_of("fourdme", tmp_path).startswith(f"{sheet} row 1: missing columns Offset;")


# --- generators -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, Path]:
    """(root, ground truth) of tiny MMEW and 4DME copies written by the generators, quirks on."""
    out = tmp_path_factory.mktemp("generated")
    motion = synth.Motion((1.0, 3.0), (0.15, 0.45), 0.3, 0.01)
    with h5py.File(out / "ground_truth.h5", "w") as truth:
        syn = synth.Synthesizer(out, 5, motion, truth)
        synthesize_mmew(syn, synth.Size(3, 10, (4, 6), (100, 100)), True)
        synthesize_fourdme(syn, synth.Size(3, 20, (4, 6), (100, 100)), True)
    return out, out / "ground_truth.h5"


# quirks that change the annotation the adapter ends with (the others are undone or harmless)
RETIMED = {"apex_after_offset", "offset_past_end"}


def check_generated(result: AdapterResult, truth_path: Path, prefix: str, expected_quirks: set):
    """Every clip read back with the truth's frames, label and moving AUs; onset, apex and
    offset the truth's unless a quirk re-timed them; a repair for each quirk the sheet shows."""
    clips = by_id(result)
    with h5py.File(truth_path, "r") as truth:
        ids = [f"{prefix}/{s}/{c}" for s in truth[prefix] for c in truth[prefix][s]]
        assert sorted(clips) == sorted(ids)                              # nothing lost
        quirks = {i: truth[i].attrs["quirk"] for i in ids}
        assert set(quirks.values()) - {""} == expected_quirks
        for sample, clip in clips.items():
            group = truth[sample]
            assert clip.frame_numbers == list(group["frame_numbers"][()])
            assert clip.emotion == group.attrs["emotion"]
            moving = parse_aus(group.attrs["action_units"]).numbers()
            assert parse_aus(clip.action_units).numbers() == moving
            if quirks[sample] not in RETIMED:
                assert (clip.onset, clip.apex, clip.offset) == tuple(
                    int(group.attrs[f"true_{k}"]) for k in ("onset", "apex", "offset"))
    silent = {"", "text_subject", "float_frames", "text_frames"}
    assert {i.clip for i in result.issues} == {s for s, q in quirks.items() if q not in silent}
    assert {i.action for i in result.issues} == {"repaired"}


def test_generated_mmew_reads_back(generated):
    out, truth = generated
    result = read_mmew(out / "MMEW")
    check_generated(result, truth, "mmew",
                    {"apex_after_offset", "offset_past_end", "text_subject"})
    subjects = [r[0] for r in sheet_rows(out / "MMEW" / MMEW_SHEET)[1:]]
    assert [int(s) for s in subjects] == sorted(int(s) for s in subjects)
    assert any(isinstance(s, str) for s in subjects)                  # a text Subject cell
    assert (out / "MMEW" / "Micro_Expression" / "repression").is_dir()
    assert Counter(c.emotion for c in result.clips) == Counter(synth.allocate(MMEW_LABELS, 10))


def test_generated_fourdme_reads_back(generated):
    out, truth = generated
    result = read_fourdme(out / "4DME")
    check_generated(result, truth, "fourdme",
                    {"aus_in_apex", "float_frames", "text_frames", "swapped_with_neighbour"})
    emotions = Counter(c.emotion for c in result.clips)
    assert emotions == Counter(synth.allocate(FOURDME_LABELS, 20))
    assert any("+" in e for e in emotions)
    rows = sheet_rows(out / "4DME" / FOURDME_SHEET)[1:]
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)


def test_label_frequencies_are_the_documented_totals():
    assert sum(MMEW_LABELS.values()) == 300 and sum(FOURDME_LABELS.values()) == 267
