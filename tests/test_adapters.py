"""Layout writers and database adapters: every variant written in the real layout and read back,
and every annotation quirk repaired or skipped as documented."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import openpyxl
import pandas as pd
import pytest
import xlrd

from pipeline.databases import ADAPTERS, read_database
from pipeline.databases.common import AdapterResult, Clip, DatabaseError
from pipeline.databases.megc import megc_composite, read_megc2019_gt
from pipeline.synthetic.layouts import (CASME2_SHEETS, SAMM_HEADER, SAMM_SHEETS, CASME2Writer,
                                        CASMEWriter, SAMMWriter, SMICWriter, write_megc2019_gt,
                                        write_xlsx)
from pipeline.synthetic.spec import ClipToWrite
from pipeline.schemes import label


def noise(n: int, seed: int = 0) -> np.ndarray:
    """(n, 16, 16, 3) uint8 RGB noise frames."""
    return np.random.default_rng(seed).integers(0, 256, (n, 16, 16, 3), dtype=np.uint8)


def clip_to_write(subject: int, name: str, numbers: list[int], onset, apex, offset, emotion: str,
                  aus: str | int = "", **extra) -> ClipToWrite:
    return ClipToWrite(subject, name, noise(len(numbers), seed=len(name) + subject), numbers,
                       onset, apex, offset, emotion, aus, **extra)


def by_id(result: AdapterResult) -> dict[str, Clip]:
    return {c.sample_id: c for c in result.clips}


def no_temporary_files(root: Path) -> bool:
    return not [p for p in root.rglob("*") if p.name.endswith(".tmp")]


# --- CASME II -------------------------------------------------------------------------------

# (subject, Filename, frame numbers, onset, apex, offset, emotion, AU cell, AU read back)
CASME2_CLIPS = [
    (1, "EP02_01f", list(range(8, 14)), 8, 10, 13, "happiness", 12, "12"),
    (1, "EP01_2", list(range(95, 102)), 96, 98, 100, "disgust", "1+2+ L4 ", "1+2+L4"),
    (2, "EP09f", list(range(1, 5)), 1, 2, 4, "others", "R14?", "R14?"),
]


def write_casme2(root: Path, variant: str = "xlsx2014", layout: str = "cropped") -> Path:
    writer = CASME2Writer(root, variant=variant, layout=layout)
    for subject, name, numbers, onset, apex, offset, emotion, aus, _ in CASME2_CLIPS:
        writer.add(clip_to_write(subject, name, numbers, onset, apex, offset, emotion, aus))
    writer.finish()
    return root


@pytest.mark.parametrize("layout, folder, prefix", [("cropped", "Cropped", "reg_img"),
                                                     ("raw", "CASME2_RAW_selected", "img")])
@pytest.mark.parametrize("variant", ["xlsx2014", "xlsx2019", "xls"])
def test_casme2_round_trip(tmp_path, variant, layout, folder, prefix):
    root = write_casme2(tmp_path / "CASME2", variant, layout)
    assert (root / CASME2_SHEETS[variant]).is_file() and no_temporary_files(root)
    result = read_database("casme2", root)
    assert result.issues == []
    clips = by_id(result)
    assert sorted(clips) == ["casme2/sub01/EP01_2", "casme2/sub01/EP02_01f", "casme2/sub02/EP09f"]
    for row, (subject, name, numbers, onset, apex, offset, emotion, _, aus) in enumerate(CASME2_CLIPS, 2):
        clip = clips[f"casme2/sub{subject:02d}/{name}"]
        assert clip.frame_dir == root / folder / f"sub{subject:02d}" / name
        assert clip.frame_numbers == numbers                    # img8..img13: numeric order
        assert clip.frames == [f"{prefix}{n}.jpg" for n in numbers]
        assert (clip.onset, clip.apex, clip.offset) == (onset, apex, offset)
        assert (clip.emotion, clip.action_units, clip.fps) == (emotion, aus, 200)
        assert (clip.subject, clip.clip, clip.row, clip.repairs) == (f"sub{subject:02d}", name, row, [])
        assert clip.source == str(root / CASME2_SHEETS[variant])


@pytest.mark.parametrize("variant", ["xlsx2014", "xlsx2019"])
def test_casme2_xlsx_has_the_real_files_blank_columns(tmp_path, variant):
    root = write_casme2(tmp_path, variant)
    table = pd.read_excel(root / CASME2_SHEETS[variant], sheet_name="Sheet1")
    assert list(table.columns) == ["Subject", "Filename", "Unnamed: 2", "OnsetFrame", "ApexFrame",
                                   "OffsetFrame", "Unnamed: 6", "Action Units", "Estimated Emotion"]
    assert table["Unnamed: 2"].isna().all() and table["ApexFrame"].tolist() == [10, 98, 2]
    assert table["Action Units"].tolist()[0] == 12            # a single AU stays a number


def test_casme2_xls_has_seven_named_columns(tmp_path):
    root = write_casme2(tmp_path, "xls")
    page = xlrd.open_workbook(str(root / "CASME2_label_Ver_2.xls")).sheet_by_name("Sheet1")
    assert page.row_values(0) == ["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame",
                                  "Action Units", "Estimated Emotion"]
    assert page.col_values(0)[1:] == [1, 1, 2] and page.row_values(1)[3] == 10


def test_casme2_prefers_the_latest_sheet_and_cropped_frames(tmp_path):
    write_casme2(tmp_path, "xlsx2014", "raw")
    writer = CASME2Writer(tmp_path, variant="xlsx2019", layout="cropped")
    writer.add(clip_to_write(3, "EP03_02", [5, 6, 7, 8], 5, 6, 8, "fear"))
    writer.finish()
    result = read_database("casme2", tmp_path)
    assert [c.sample_id for c in result.clips] == ["casme2/sub03/EP03_02"]
    assert result.clips[0].source.endswith("CASME2-coding-20190701.xlsx")
    assert result.clips[0].frames[0] == "reg_img5.jpg"


def test_frames_are_rgb_on_input_and_bgr_jpeg_on_disk(tmp_path):
    red = np.zeros((2, 16, 16, 3), np.uint8)
    red[..., 0] = 255
    writer = CASME2Writer(tmp_path)
    writer.add(ClipToWrite(1, "EP01_01", red, [1, 2], 1, "/", 2, "fear"))
    writer.finish()
    path = tmp_path / "Cropped" / "sub01" / "EP01_01" / "reg_img1.jpg"
    assert path.read_bytes()[:3] == b"\xff\xd8\xff"
    b, g, r = cv2.imread(str(path)).reshape(-1, 3).mean(axis=0)
    assert r > 240 and b < 15 and g < 15


# --- SAMM -----------------------------------------------------------------------------------

# (subject, Filename, inducement, frame numbers, onset, apex, offset, emotion, AU cell, AU read,
#  objective class)
SAMM_CLIPS = [
    (6, "006_1_2", 1, list(range(5560, 5566)), 5560, 5562, 5565, "Other", "A/L12 ", "A/L12", 7),
    (6, "006_3_1", 3, list(range(998, 1004)), 998, 1001, 1003, "Anger", 4, "4", 3),
    (11, "011_2_1", 2, list(range(120, 125)), 121, 122, 124, "Happiness", "12 or 6 ", "12 or 6", 1),
]


def write_samm(root: Path, variant: str = "v2") -> Path:
    writer = SAMMWriter(root, variant=variant)
    for subject, name, ind, numbers, onset, apex, offset, emotion, aus, _, objective in SAMM_CLIPS:
        writer.add(clip_to_write(subject, name, numbers, onset, apex, offset, emotion, aus,
                                 objective_class=objective, inducement=ind))
    writer.finish()
    return root


@pytest.mark.parametrize("variant, header_row", [("v2", 14), ("single_header", 1)])
def test_samm_round_trip(tmp_path, variant, header_row):
    root = write_samm(tmp_path / "SAMM", variant)
    sheet = root / SAMM_SHEETS[variant]
    assert openpyxl.load_workbook(sheet).active.cell(header_row, 1).value == "Subject"
    assert list(pd.read_excel(sheet, header=header_row - 1).columns) == SAMM_HEADER
    result = read_database("samm", root)
    assert result.issues == []
    clips = by_id(result)
    assert sorted(clips) == ["samm/006/006_1_2", "samm/006/006_3_1", "samm/011/011_2_1"]
    for k, (subject, name, _, numbers, onset, apex, offset, emotion, _, aus, objective) in enumerate(SAMM_CLIPS):
        clip = clips[f"samm/{subject:03d}/{name}"]
        assert clip.frames == [f"{subject:03d}_{n:05d}.jpg" for n in numbers]
        assert clip.frame_numbers == numbers
        assert (clip.onset, clip.apex, clip.offset) == (onset, apex, offset)
        assert (clip.emotion, clip.action_units, clip.objective_class) == (emotion, aus, objective)
        assert (clip.fps, clip.row, clip.subject) == (200, header_row + 1 + k, f"{subject:03d}")
    frame = cv2.imread(str(root / "SAMM" / "006" / "006_1_2" / "006_05560.jpg"), cv2.IMREAD_UNCHANGED)
    assert frame.shape == (16, 16)                              # single-channel grey JPEG


def test_samm_v2_needs_header_row_14(tmp_path):
    sheet = write_samm(tmp_path) / "SAMM_Micro_FACS_Codes_v2.xlsx"
    assert "Subject" not in pd.read_excel(sheet).columns
    assert list(pd.read_excel(sheet, header=13).columns) == SAMM_HEADER
    rows = list(openpyxl.load_workbook(sheet).active.iter_rows(max_row=13, values_only=True))
    assert rows[0][0] and all(r[0] != "Subject" for r in rows)


def test_samm_known_bad_rows_are_repaired(tmp_path):
    """028_4_1: apex outside onset..offset; 013_1_9: an offset that cannot be right."""
    writer = SAMMWriter(tmp_path)
    writer.add(clip_to_write(28, "028_4_1", list(range(300, 308)), 300, 330, 307, "Anger"))
    writer.add(clip_to_write(13, "013_1_9", list(range(40, 48)), 41, 44, -1, "Surprise"))
    writer.finish()
    result = read_database("samm", tmp_path)
    clips = by_id(result)
    assert clips["samm/028/028_4_1"].apex is None
    assert clips["samm/013/013_1_9"].offset == 47
    reasons = {(i.clip, i.row): i.reason for i in result.issues}
    assert reasons == {
        ("samm/028/028_4_1", 15): "apex 330 outside onset..offset 300..307 -> missing, spotted later",
        ("samm/013/013_1_9", 16): "offset -1 before onset 41 -> last frame on disk 47"}


# --- SMIC -----------------------------------------------------------------------------------

SMIC_CLIPS = [(1, "s1_ne_01", "negative", list(range(46823, 46829))),
              (1, "s1_po_01", "positive", list(range(98, 104))),
              (12, "s12_sur_01", "surprise", list(range(1200, 1205)))]


def write_smic(root: Path, modality: str = "HS", layout: str = "cropped") -> Path:
    writer = SMICWriter(root, modality=modality, layout=layout, non_micro=True)
    for subject, name, emotion, numbers in SMIC_CLIPS:
        writer.add(clip_to_write(subject, name, numbers, numbers[0], "", numbers[-1], emotion))
    writer.finish()
    return root


@pytest.mark.parametrize("layout, folder, prefix", [("cropped", "SMIC_all_cropped", "reg_image"),
                                                     ("raw", "SMIC_all_raw", "image")])
@pytest.mark.parametrize("modality, fps", [("HS", 100), ("VIS", 25), ("NIR", 25)])
def test_smic_round_trip_skips_non_micro(tmp_path, modality, fps, layout, folder, prefix):
    root = write_smic(tmp_path / "SMIC", modality, layout)
    assert list((root / folder / modality / "s1" / "non_micro").rglob("*.bmp"))
    result = read_database(f"smic_{modality.lower()}", root)
    assert result.issues == []
    clips = by_id(result)
    key = f"smic_{modality.lower()}"
    assert sorted(clips) == sorted(f"{key}/s{s}/{n}" for s, n, _, _ in SMIC_CLIPS)
    for subject, name, emotion, numbers in SMIC_CLIPS:
        clip = clips[f"{key}/s{subject}/{name}"]
        assert clip.frame_dir == root / folder / modality / f"s{subject}" / "micro" / emotion / name
        assert clip.frames == [f"{prefix}{n:06d}.bmp" for n in numbers]
        assert (clip.onset, clip.apex, clip.offset) == (numbers[0], None, numbers[-1])
        assert (clip.emotion, clip.fps, clip.subject, clip.row) == (emotion, fps, f"s{subject}", None)


def test_smic_bmp_frames_are_lossless_rgb(tmp_path):
    root = write_smic(tmp_path)
    clip = by_id(read_database("smic_hs", root))["smic_hs/s12/s12_sur_01"]
    written = noise(5, seed=len("s12_sur_01") + 12)
    back = np.stack([cv2.imread(str(clip.frame_dir / f))[..., ::-1] for f in clip.frames])
    np.testing.assert_array_equal(back, written)


# --- CASME (I) ------------------------------------------------------------------------------

def test_casme_round_trip(tmp_path):
    writer = CASMEWriter(tmp_path / "CASME")
    writer.add(clip_to_write(1, "EP01_5", list(range(20, 27)), 20, 23, 26, "tense", "4+L10"))
    writer.add(clip_to_write(19, "EP07_3", list(range(1, 9)), 2, 5, 8, "comtempt", 14))
    writer.finish()
    header = next(openpyxl.load_workbook(tmp_path / "CASME" / "casme.xlsx").active.iter_rows(values_only=True))
    assert header == ("Subject", "Filename", None, "OnsetF", "ApexF1", "ApexF2", "OffsetF", None,
                      "AU", "Emotion")
    result = read_database("casme", tmp_path / "CASME")
    assert result.issues == []
    clips = by_id(result)
    assert sorted(clips) == ["casme/sub01/EP01_5", "casme/sub19/EP07_3"]
    tense, contempt = clips["casme/sub01/EP01_5"], clips["casme/sub19/EP07_3"]
    assert (tense.onset, tense.apex, tense.offset, tense.emotion, tense.action_units) == (20, 23, 26, "tense", "4+L10")
    assert (contempt.frame_numbers, contempt.action_units, contempt.fps) == (list(range(1, 9)), "14", 60)
    assert contempt.frames[0] == "reg_EP07_3-1.jpg" and contempt.row == 3
    assert contempt.emotion == "comtempt" and label("four", "casme", contempt.emotion) == "negative"


def test_casme_frames_are_zero_padded_from_sheet_row_92(tmp_path):
    """The release pads frame numbers to three digits from sheet row 92 on; both read alike."""
    writer = CASMEWriter(tmp_path / "CASME", layout="raw")
    for k in range(91):
        writer.add(clip_to_write(1 + k // 30, f"EP{k:02d}_1", [4, 5, 6], 4, 5, 6, "tense", "4"))
    writer.finish()
    clips = by_id(read_database("casme", tmp_path / "CASME"))
    assert clips["casme/sub03/EP89_1"].frames == ["EP89_1-4.jpg", "EP89_1-5.jpg", "EP89_1-6.jpg"]
    late = clips["casme/sub04/EP90_1"]                     # Excel row 92
    assert (late.row, late.frames, late.frame_numbers) == (92, ["EP90_1-004.jpg", "EP90_1-005.jpg",
                                                                "EP90_1-006.jpg"], [4, 5, 6])
    assert (late.onset, late.apex, late.offset) == (4, 5, 6)


def test_casme_sheet_is_found_by_its_header(tmp_path):
    """The sheet's file name is not settled: any workbook with the CASME (I) header is it, and
    another workbook beside it is passed over."""
    root = tmp_path / "CASME"
    writer = CASMEWriter(root)
    writer.add(clip_to_write(2, "EP03_1", [1, 2, 3, 4], 1, 2, 4, "disgust", "9"))
    writer.finish()
    (root / "casme.xlsx").rename(root / "CASME_label_2013.xlsx")
    write_xlsx(root / "notes.xlsx", [["Subject", "Remarks"], [2, "glasses"]])
    assert sorted(by_id(read_database("casme", root))) == ["casme/sub02/EP03_1"]
    (root / "CASME_label_2013.xlsx").unlink()
    with pytest.raises(DatabaseError, match=r"no CASME \(I\) coding sheet found; looked for "
                                            r"casme.xlsx, CASME.xlsx, CASME-coding.xlsx and any "
                                            r".xlsx/.xls with the columns .* \(notes.xlsx lack them\)"):
        read_database("casme", root)


# --- MEGC 2019 composite --------------------------------------------------------------------

def test_megc_gt_round_trip_and_composite(tmp_path):
    gt = tmp_path / "MEGC2019" / "combined_3class_gt.csv"
    write_megc2019_gt(gt, [("casme2", "sub01", "EP02_01f", "positive"),
                           ("samm", "6", "006_3_1", "negative"),
                           ("smic", "s01", "s1_ne_01", "negative"),
                           ("smic", "s12", "s12_sur_01", "surprise"),
                           ("samm", "7", "007_1_1", "surprise")])
    assert gt.read_text().splitlines()[:2] == ["casme2,sub01,EP02_01f,positive", "samm,6,006_3_1,negative"]
    rows = read_megc2019_gt(gt)
    assert rows == [("casme2", "sub01", "EP02_01f", "positive"), ("samm", "006", "006_3_1", "negative"),
                    ("smic_hs", "s1", "s1_ne_01", "negative"), ("smic_hs", "s12", "s12_sur_01", "surprise"),
                    ("samm", "007", "007_1_1", "surprise")]
    clips = (read_database("casme2", write_casme2(tmp_path / "CASME2")).clips
             + read_database("samm", write_samm(tmp_path / "SAMM")).clips
             + read_database("smic_hs", write_smic(tmp_path / "SMIC")).clips)
    labels, issues = megc_composite(clips, rows, str(gt))
    assert labels == {"casme2/sub01/EP02_01f": "positive", "samm/006/006_3_1": "negative",
                      "smic_hs/s1/s1_ne_01": "negative", "smic_hs/s12/s12_sur_01": "surprise"}
    assert [(i.clip, i.action, i.source) for i in issues] == [("samm/007/007_1_1", "skipped", str(gt))]
    assert "no such clip" in issues[0].reason


def test_adapter_keys():
    assert set(ADAPTERS) == {"casme2", "samm", "smic_hs", "smic_vis", "smic_nir", "casme",
                             "casme3", "casme_sq", "mmew", "fourdme", "videos"}


# --- quirks ---------------------------------------------------------------------------------

FRAMES = list(range(10, 18))            # frames on disk in most cases: 10..17


def break_frame(name: str, content: bytes):
    def edit(folder: Path) -> None:
        (folder / name).write_bytes(content)
    return edit


def add_empty_folder(folder: Path) -> None:
    folder.mkdir(parents=True)


# id: (frames on disk, onset, apex, offset, writer extras, edit of the clip folder,
#      expected (onset, apex, offset) or None when skipped, expected reasons)
QUIRKS = {
    "apex_slash": (FRAMES, 10, "/", 17, {}, None, (10, None, 17),
                   ["apex '/' -> missing, spotted later"]),
    "apex_empty": (FRAMES, 10, "", 17, {}, None, (10, None, 17),
                   ["apex empty -> missing, spotted later"]),
    "apex_outside": (FRAMES, 10, 25, 17, {}, None, (10, None, 17),
                     ["apex 25 outside onset..offset 10..17 -> missing, spotted later"]),
    "apex_at_onset": (FRAMES, 11, 11, 16, {}, None, (11, None, 16),
                      ["apex 11 equals onset -> missing, spotted later"]),
    "apex_at_offset": (FRAMES, 11, 16, 16, {}, None, (11, None, 16),
                       ["apex 16 equals offset -> missing, spotted later"]),
    # sub07/EP06_01: annotated 15..68, frames 56..91
    # the whole annotation moves with the onset: 50/53/57 -> 56/59/63
    "range_disagrees": (list(range(56, 64)), 50, 53, 57, {}, None, (56, 59, 63),
                        ["onset 50 before the first frame on disk 56 (annotation and frames "
                         "disagree) -> onset, apex and offset moved by +6"]),
    "range_disagrees_offset_past_end": (list(range(56, 64)), 50, 55, 60, {}, None, (56, 61, 63),
                                        ["onset 50 before the first frame on disk 56 (annotation "
                                         "and frames disagree) -> onset, apex and offset moved by +6",
                                         "offset 66 past the last frame on disk 63 -> 63"]),
    "range_disagrees_apex_lost": (list(range(56, 64)), 50, 58, 60, {}, None, (56, None, 63),
                                  ["onset 50 before the first frame on disk 56 (annotation and "
                                   "frames disagree) -> onset, apex and offset moved by +6",
                                   "offset 66 past the last frame on disk 63 -> 63",
                                   "apex 64 outside onset..offset 56..63 -> missing, spotted later"]),
    "no_overlap": (list(range(56, 64)), 15, 30, 40, {}, None, None,
                   ["annotated onset..offset 15..40 does not overlap the frames on disk 56..63"]),
    "offset_past_end": (FRAMES, 10, 13, 24, {}, None, (10, 13, 17),
                        ["offset 24 past the last frame on disk 17 -> 17"]),
    "offset_before_onset": (FRAMES, 12, 14, 5, {}, None, (12, 14, 17),
                            ["offset 5 before onset 12 -> last frame on disk 17"]),
    "offset_missing": (FRAMES, 12, 14, "", {}, None, (12, 14, 17),
                       ["offset missing -> last frame on disk 17"]),
    "onset_missing": (FRAMES, "", 14, 16, {}, None, (10, 14, 16),
                      ["onset missing -> first frame on disk 10"]),
    "gap_inside": ([10, 11, 12, 14, 15, 16, 17], 10, 12, 17, {}, None, None,
                   ["frame 13 missing inside onset..offset 10..17"]),
    "gap_outside_is_fine": ([10, 11, 13, 14, 15, 16, 17], 13, 15, 17, {}, None, (13, 15, 17), []),
    "stray_file_ignored": (FRAMES, 10, 13, 17, {}, break_frame("Thumbs.db", b"x"), (10, 13, 17), []),
    "empty_frame_file": (FRAMES, 10, 13, 17, {}, break_frame("reg_img12.jpg", b""), None,
                         ["unreadable frame reg_img12.jpg"]),
    "not_an_image": (FRAMES, 10, 13, 17, {}, break_frame("reg_img15.jpg", b"<html>oops</html>"), None,
                     ["unreadable frame reg_img15.jpg"]),
    "row_without_folder": (FRAMES, 10, 13, 17, {"on_disk": False}, None, None,
                           ["no frame folder Cropped/sub01/EP06_01 on disk"]),
    "empty_folder": (FRAMES, 10, 13, 17, {"on_disk": False}, add_empty_folder, None,
                     ["empty folder: no reg_img<N>.jpg frames"]),
}


@pytest.mark.parametrize("quirk", QUIRKS)
def test_casme2_quirk(tmp_path, quirk):
    numbers, onset, apex, offset, extras, edit, expected, reasons = QUIRKS[quirk]
    writer = CASME2Writer(tmp_path)
    writer.add(clip_to_write(1, "EP01_01", [1, 2, 3, 4], 1, 2, 4, "surprise"))   # a clean row
    writer.add(clip_to_write(1, "EP06_01", numbers, onset, apex, offset, "disgust", **extras))
    writer.finish()
    if edit:
        edit(tmp_path / "Cropped" / "sub01" / "EP06_01")
    result = read_database("casme2", tmp_path)
    clips = by_id(result)
    assert clips["casme2/sub01/EP01_01"].repairs == []
    issues = [i for i in result.issues if i.clip == "casme2/sub01/EP06_01"]
    assert [i.reason for i in issues] == reasons and len(result.issues) == len(reasons)
    assert all(i.row == 3 and i.source.endswith("CASME2-coding-20140508.xlsx") for i in issues)
    if expected is None:
        assert "casme2/sub01/EP06_01" not in clips
        assert [i.action for i in issues] == ["skipped"]
    else:
        clip = clips["casme2/sub01/EP06_01"]
        assert (clip.onset, clip.apex, clip.offset) == expected
        assert clip.repairs == reasons and {i.action for i in issues} <= {"repaired"}
        assert clip.frame_numbers == numbers


def test_folder_without_row_is_skipped(tmp_path):
    """sub09/EP02_02f and sub24/EP02_07 ship without a spreadsheet row."""
    writer = CASME2Writer(tmp_path)
    writer.add(clip_to_write(9, "EP02_01f", [1, 2, 3, 4], 1, 2, 4, "surprise"))
    writer.add(clip_to_write(9, "EP02_02f", [1, 2, 3, 4], 1, 2, 4, "surprise", in_sheet=False))
    writer.finish()
    result = read_database("casme2", tmp_path)
    assert [c.clip for c in result.clips] == ["EP02_01f"]
    (issue,) = result.issues
    assert (issue.clip, issue.action, issue.row) == ("casme2/sub09/EP02_02f", "skipped", None)
    assert issue.reason == "no annotation row; no label"
    assert issue.source == str(tmp_path / "Cropped" / "sub09" / "EP02_02f")


def test_identical_duplicate_row_is_skipped(tmp_path):
    writer = CASME2Writer(tmp_path)
    twice = clip_to_write(4, "EP12_01f", [1, 2, 3, 4, 5], 1, "/", 5, "repression", "14")
    writer.add(twice)
    writer.add(clip_to_write(4, "EP12_01f", [1, 2, 3, 4, 5], 1, "/", 5, "repression", "14", on_disk=False))
    writer.finish()
    result = read_database("casme2", tmp_path)
    assert len(result.clips) == 1 and result.clips[0].row == 2
    skipped = [i for i in result.issues if i.action == "skipped"]
    assert [(i.row, i.reason) for i in skipped] == [(3, "duplicate of row 2")]


@pytest.mark.parametrize("problem, reason", [
    ("gap", "frame 102 missing inside onset..offset 100..105"),
    ("empty_file", "unreadable frame reg_image000103.bmp"),
    ("empty_folder", "empty folder: no reg_image<6 digits>.bmp frames"),
])
def test_smic_bad_clip_folders_are_skipped(tmp_path, problem, reason):
    writer = SMICWriter(tmp_path, non_micro=False)
    writer.add(clip_to_write(2, "s2_po_01", [100, 101, 102, 103, 104, 105], 100, "", 105, "positive"))
    writer.add(clip_to_write(2, "s2_ne_01", [1, 2, 3], 1, "", 3, "negative"))
    folder = tmp_path / "SMIC_all_cropped" / "HS" / "s2" / "micro" / "positive" / "s2_po_01"
    if problem == "gap":
        (folder / "reg_image000102.bmp").unlink()
    elif problem == "empty_file":
        (folder / "reg_image000103.bmp").write_bytes(b"")
    else:
        for frame in folder.iterdir():
            frame.unlink()
    result = read_database("smic_hs", tmp_path)
    assert [c.clip for c in result.clips] == ["s2_ne_01"]
    assert [(i.clip, i.action, i.reason) for i in result.issues] == [
        ("smic_hs/s2/s2_po_01", "skipped", reason)]


def test_label_capitalisation_is_respelled_and_spaces_stripped(tmp_path):
    writer = SAMMWriter(tmp_path)
    writer.add(clip_to_write(7, "007_5_1", [1, 2, 3, 4], 1, 2, 4, "happiness"))
    writer.add(clip_to_write(7, "007_5_2", [1, 2, 3, 4], 1, 2, 4, " Other  "))
    writer.finish()
    result = read_database("samm", tmp_path)
    clips = by_id(result)
    assert clips["samm/007/007_5_1"].emotion == "Happiness"
    assert clips["samm/007/007_5_1"].repairs == ["emotion 'happiness' -> 'Happiness'"]
    assert (clips["samm/007/007_5_2"].emotion, clips["samm/007/007_5_2"].repairs) == ("Other", [])
    assert [(i.row, i.action) for i in result.issues] == [(15, "repaired")]
