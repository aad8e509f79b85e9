"""CAS(ME)^3 part A and CAS(ME)^2: long videos written in the releases' layouts and read back,
every sheet quirk repaired or skipped with its reason, and unusable input stopped in one line."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import openpyxl
import pandas as pd
import pytest

from pipeline.databases.casme3 import read_casme3
from pipeline.databases.casme_sq import read_casme_sq
from pipeline.databases.common import AdapterResult, Clip, DatabaseError
from pipeline.synthesize import Motion, Size, Synthesizer
from pipeline.synthetic.layouts import write_xls, write_xlsx
from pipeline.synthetic.longvideos import (CASME3_HEADER, CASME3_SHEET, CASME_SQ_SUBJECTS,
                                           CASME_SQ_VIDEOS, CASME3Writer, CASMESqWriter,
                                           MovementToWrite, VideoToWrite, synthesize_casme3,
                                           synthesize_casme_sq, write_workbook)

M = MovementToWrite


def noise(n: int, seed: int = 0) -> np.ndarray:
    """(n, 16, 16, 3) uint8 RGB noise frames."""
    return np.random.default_rng(seed).integers(0, 256, (n, 16, 16, 3), dtype=np.uint8)


def video(subject: int, name: str, frames: int, *movements: MovementToWrite, **extra) -> VideoToWrite:
    return VideoToWrite(subject, name, noise(frames, seed=subject), list(range(1, frames + 1)),
                        list(movements), **extra)


def by_id(result: AdapterResult) -> dict[str, Clip]:
    return {c.sample_id: c for c in result.clips}


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


# --- CAS(ME)^3 part A -----------------------------------------------------------------------

# (subject, video, frames on disk, movements)
CASME3_VIDEOS = [
    (1, "a", 40, [M(3, 5, 9, "disgust", "4+9", "IV"), M(20, 24, 27, "happy", "R12", "I")]),
    (1, "b", 12, [M(2, 6, 11, "surprise", "26+25", "II")]),
    (10, "c", 30, [M(14, 16, 19, "sad", "T28+14", "VII"), M(5, 7, 8, "fear", 4, "VI")]),
]
# sample id -> (row, onset, apex, offset, emotion, AUs read back, objective class)
CASME3_EXPECTED = {
    "casme3/spNO.1/a_3": (2, 3, 5, 9, "disgust", "4+9", 4),
    "casme3/spNO.1/a_20": (3, 20, 24, 27, "happy", "R12", 1),
    "casme3/spNO.1/b_2": (4, 2, 6, 11, "surprise", "26+25", 2),
    "casme3/spNO.10/c_14": (5, 14, 16, 19, "sad", "T28+14", 7),
    "casme3/spNO.10/c_5": (6, 5, 7, 8, "fear", "4", 6),
}


def write_casme3(root: Path, frames: str = "", sheet_folder: str = "", text: bool = True,
                 videos=CASME3_VIDEOS) -> CASME3Writer:
    writer = CASME3Writer(root, frames=frames, sheet_folder=sheet_folder, text=text)
    for subject, name, n, movements in videos:
        writer.add(video(subject, name, n, *movements))
    writer.finish()
    return writer


@pytest.mark.parametrize("frames, sheet_folder", [("", ""), ("part_A", "annotation"),
                                                  ("data", "annotation/partA"),
                                                  ("part_A/RGB", "")])
def test_casme3_round_trip(tmp_path, frames, sheet_folder):
    writer = write_casme3(tmp_path, frames, sheet_folder)
    result = read_casme3(tmp_path)
    assert result.issues == []
    clips = by_id(result)
    assert list(clips) == list(CASME3_EXPECTED)                 # sheet order
    for sample, (row, onset, apex, offset, emotion, aus, objective) in CASME3_EXPECTED.items():
        clip = clips[sample]
        subject, name = clip.subject, clip.clip.split("_")[0]
        assert clip.frame_dir == tmp_path / frames / subject / name / "color"
        # only the movement's frames of the shared video folder
        assert clip.frame_numbers == list(range(onset, offset + 1))
        assert clip.frames == [f"{n}.jpg" for n in range(onset, offset + 1)]
        assert (clip.onset, clip.apex, clip.offset, clip.fps) == (onset, apex, offset, 30)
        assert (clip.emotion, clip.action_units, clip.objective_class) == (emotion, aus, objective)
        assert (clip.row, clip.source, clip.repairs) == (row, str(writer.sheet), [])


def test_casme3_sheet_is_all_text_with_two_empty_worksheets(tmp_path):
    writer = write_casme3(tmp_path)
    book = openpyxl.load_workbook(writer.sheet)
    assert book.sheetnames == ["label", "Sheet1", "Sheet3"]
    assert book["Sheet1"].max_row == book["Sheet3"].max_row == 1 and book["Sheet1"]["A1"].value is None
    rows = list(book["label"].iter_rows(values_only=True))
    assert list(rows[0]) == CASME3_HEADER
    assert rows[1] == ("spNO.1", "a", "3", "5", "9", "4+9", "IV", "disgust")
    assert all(isinstance(v, str) for row in rows for v in row)
    table = pd.read_excel(writer.sheet, sheet_name="label", dtype=str)
    assert table["Onset"].tolist() == ["3", "20", "2", "14", "5"]


def test_casme3_number_cells_read_like_text(tmp_path):
    writer = write_casme3(tmp_path, text=False)
    assert openpyxl.load_workbook(writer.sheet)["label"]["C2"].value == 3
    result = read_casme3(tmp_path)
    assert result.issues == []
    fear = by_id(result)["casme3/spNO.10/c_5"]
    assert (fear.onset, fear.apex, fear.offset, fear.action_units) == (5, 7, 8, "4")


def test_casme3_subject_numbers_and_video_letter_case(tmp_path):
    """A Subject cell read as a number (3) and a Filename in another case than its folder
    (`J` in the damaged-image list, `j` on disk) still meet their frames."""
    writer = CASME3Writer(tmp_path, text=False)
    writer.add(video(3, "j", 20, M(4, 6, 9, "anger", "4")))
    writer.finish()
    book = openpyxl.load_workbook(writer.sheet)
    book["label"]["A2"], book["label"]["B2"] = 3, "J"
    book.save(writer.sheet)
    (clip,) = read_casme3(tmp_path).clips
    assert (clip.sample_id, clip.frame_dir) == ("casme3/spNO.3/J_4", tmp_path / "spNO.3" / "j" / "color")


def test_casme3_sheet_is_found_by_its_header(tmp_path):
    """Any workbook name; the release's name before the superseded v1 with the same header;
    workbooks with other headers (part C's) passed over."""
    write_casme3(tmp_path, sheet_folder="annotation")
    write_xls(tmp_path / "annotation" / "cas(me)3_part_A_ME_label_JpgIndex_v1.xls",
              [CASME3_HEADER, ["spNO.1", "a", "30", "32", "35", "4", "III", "anger"]])
    write_xlsx(tmp_path / "CAS(ME)3_part_C_ME.xlsx", [["sub", "count", "onset", "offset", "au", "emotion"],
                                                      [1, 1, 10, 20, "R4,5", "negative"]])
    assert len(read_casme3(tmp_path).clips) == 5
    (tmp_path / "annotation" / CASME3_SHEET).rename(tmp_path / "annotation" / "labels.xlsx")
    (tmp_path / "annotation" / "cas(me)3_part_A_ME_label_JpgIndex_v1.xls").unlink()
    result = read_casme3(tmp_path)
    assert len(result.clips) == 5 and result.clips[0].source.endswith("annotation/labels.xlsx")


# id: (movement row, edit of the video folder spNO.1/a/color, expected (onset, apex, offset)
#      or None when skipped, expected reasons). The video has frames 1..70 on disk.
CASME3_QUIRKS = {
    # spNO.40/e: offset 0
    "offset_zero": (M(10, 14, 0, "others"), None, (10, 14, 14),
                    ["offset 0 (not coded) -> apex 14: the clip ends at its apex"]),
    "offset_zero_no_apex": (M(10, "", 0, "others"), None, None,
                            ["offset 0 (not coded) and no usable apex to end the clip at"]),
    # spNO.216/e: onset = apex = 0
    "onset_apex_zero": (M(0, 0, 12, "fear"), None, (1, None, 12),
                        ["onset 0 (not coded) -> the video's first frame on disk 1",
                         "apex 0 (not coded) -> missing, spotted later"]),
    # spNO.216/d: onset 3647 (the .xls has 2647)
    "onset_after_offset": (M(47, 22, 30, "sad"), None, None,
                           ["onset 47 after offset 30: the movement's frames are unknown"]),
    # spNO.214/c: 5..3460
    "huge_range": (M(5, 10, 3460, "disgust"), None, None,
                   ["onset..offset 5..3460 lasts 115.2 s, longer than 2 s (60 frames): not a "
                    "micro-expression, the annotation is wrong"]),
    "two_seconds_kept": (M(5, 30, 64, "disgust"), None, (5, 30, 64), []),
    "just_over_two_seconds": (M(5, 30, 65, "disgust"), None, None,
                              ["onset..offset 5..65 lasts 2.0 s, longer than 2 s (60 frames): not "
                               "a micro-expression, the annotation is wrong"]),
    "beyond_frames_on_disk": (M(60, 66, 75, "anger"), None, None,
                              ["onset..offset 60..75 outside the video's frames on disk 1..70"]),
    # spNO.149/d: apex 83 (the .xls has 160)
    "apex_outside": (M(10, 83, 20, "surprise"), None, (10, None, 20),
                     ["apex 83 outside onset..offset 10..20 -> missing, spotted later"]),
    "apex_at_onset": (M(10, 10, 20, "surprise"), None, (10, None, 20),
                      ["apex 10 equals onset -> missing, spotted later"]),
    "apex_empty": (M(10, "", 20, "surprise"), None, (10, None, 20),
                   ["apex empty -> missing, spotted later"]),
    "others_capitalised": (M(10, 12, 20, "Others"), None, (10, 12, 20),
                           ["emotion 'Others' -> 'others'"]),
    "dropped_frame_inside": (M(10, 12, 20, "happy"), lambda d: (d / "15.jpg").unlink(), None,
                             ["frame 15 missing inside onset..offset 10..20"]),
    "dropped_frame_elsewhere": (M(10, 12, 20, "happy"), lambda d: (d / "50.jpg").unlink(),
                                (10, 12, 20), []),
    "unreadable_frame_inside": (M(10, 12, 20, "happy"), lambda d: (d / "11.jpg").write_bytes(b""),
                                None, ["unreadable frame 11.jpg"]),
    "unreadable_frame_elsewhere": (M(10, 12, 20, "happy"),
                                   lambda d: (d / "60.jpg").write_bytes(b""), (10, 12, 20), []),
}


@pytest.mark.parametrize("quirk", CASME3_QUIRKS)
def test_casme3_quirk(tmp_path, quirk):
    movement, edit, expected, reasons = CASME3_QUIRKS[quirk]
    write_casme3(tmp_path, videos=[(1, "a", 70, [M(40, 42, 45, "disgust", "9"), movement])])
    if edit:
        edit(tmp_path / "spNO.1" / "a" / "color")
    result = read_casme3(tmp_path)
    clips = by_id(result)
    assert clips["casme3/spNO.1/a_40"].repairs == []
    sample = f"casme3/spNO.1/a_{movement.onset}"
    assert [i.reason for i in result.issues] == reasons
    assert all(i.row == 3 and i.clip == sample and i.source.endswith(CASME3_SHEET) for i in result.issues)
    if expected is None:
        assert sample not in clips and [i.action for i in result.issues] == ["skipped"]
    else:
        clip = clips[sample]
        assert (clip.onset, clip.apex, clip.offset) == expected
        assert clip.frame_numbers == list(range(expected[0], expected[2] + 1))
        assert clip.repairs == reasons and {i.action for i in result.issues} <= {"repaired"}


def test_casme3_duplicate_rows(tmp_path):
    """The same row twice counts once; another movement on the same onset keeps its row."""
    write_casme3(tmp_path, videos=[(2, "d", 40, [M(10, 12, 15, "disgust", "9"),
                                                 M(10, 12, 15, "disgust", "9"),
                                                 M(10, 13, 18, "anger", "4")])])
    result = read_casme3(tmp_path)
    assert [c.sample_id for c in result.clips] == ["casme3/spNO.2/d_10", "casme3/spNO.2/d_10_2"]
    assert result.clips[1].offset == 18 and result.clips[1].row == 4
    assert [(i.row, i.action, i.reason) for i in result.issues] == [
        (3, "skipped", "duplicate of row 2"),
        (4, "repaired", "same subject, video and onset as row 2 but another movement -> clip id d_10_2")]


def test_casme3_row_without_video_folder_is_skipped(tmp_path):
    writer = CASME3Writer(tmp_path)
    writer.add(video(1, "a", 20, M(3, 5, 8, "happy")))
    writer.rows.append(["spNO.1", "k", "3", "5", "8", "12", "I", "happy"])
    writer.finish()
    result = read_casme3(tmp_path)
    assert [c.sample_id for c in result.clips] == ["casme3/spNO.1/a_3"]
    assert [(i.clip, i.action, i.reason) for i in result.issues] == [
        ("casme3/spNO.1/k_3", "skipped", "no frame folder spNO.1/k/color on disk")]


def test_casme3_unusable_input_stops_in_one_line(tmp_path):
    writer = CASME3Writer(tmp_path)
    writer.add(video(1, "a", 20, M(3, 5, 8, "happy")))
    with pytest.raises(DatabaseError, match="no .xlsx or .xls file .* put cas\\(me\\)3_part_A"):
        read_casme3(tmp_path)
    write_xlsx(writer.sheet, [["Subject", "Filename", "Onset", "Offset"], ["spNO.1", "a", 3, 8]])
    with pytest.raises(DatabaseError) as error:
        read_casme3(tmp_path)
    assert f"{writer.sheet} row 1: missing columns Apex, emotion" in one_line(error)
    writer.rows = [["spNO.1", "a", "3", "5", "8", "12", "I", "contempt"]]
    writer.finish()
    with pytest.raises(DatabaseError) as error:
        read_casme3(tmp_path)
    assert one_line(error) == (f"{writer.sheet} row 2: unknown emotion 'contempt' in emotion; allowed: "
                               "disgust, surprise, others, fear, anger, sad, happy; correct the cell")
    writer.rows = [["spNO.1", "a", "three", "5", "8", "12", "I", "happy"]]
    writer.finish()
    with pytest.raises(DatabaseError, match=r"row 2: Onset 'three' is not a frame number"):
        read_casme3(tmp_path)


def test_casme3_frames_root_must_be_found_once(tmp_path):
    write_xlsx(tmp_path / CASME3_SHEET, [CASME3_HEADER])
    with pytest.raises(DatabaseError) as error:
        read_casme3(tmp_path)
    assert "no spNO.* subject folders" in one_line(error) and "databases.casme3" in one_line(error)
    (tmp_path / "part_A" / "spNO.1").mkdir(parents=True)
    (tmp_path / "copy" / "spNO.1").mkdir(parents=True)
    with pytest.raises(DatabaseError, match="keep one copy of the frames"):
        read_casme3(tmp_path)
    with pytest.raises(DatabaseError, match="folder does not exist; set databases.casme3"):
        read_casme3(tmp_path / "missing")


# --- CAS(ME)^2 ------------------------------------------------------------------------------

# (sheet subject number, video prefix, frames on disk, movements); each video's first row is a
# macro-expression, which is not read
CASME_SQ_VIDEO_ROWS = [
    (1, "disgust1", 40, [M(1, 3, 6, "negative", kind="macro-expression"),
                         M(8, 10, 14, "negative", "4+7", self_report="disgust"),
                         M(20, 23, 27, "others", 14)]),
    (3, "happy1", 30, [M(2, 4, 9, "positive", "12", kind="macro-expression"),
                       M(12, 14, 17, "positive", "R12")]),
]
CASME_SQ_EXPECTED = {   # sample id -> (folder, row, onset, apex, offset, emotion, AUs)
    "casme_sq/s15/disgust1_2": ("s15/15_0101disgustingteeth", 2, 8, 10, 14, "negative", "4+7"),
    "casme_sq/s15/disgust1_3": ("s15/15_0101disgustingteeth", 3, 20, 23, 27, "others", "14"),
    "casme_sq/s19/happy1_2": ("s19/19_0502funnyerrors", 5, 12, 14, 17, "positive", "R12"),
}


def write_casme_sq(root: Path, padding: int = 3, sheet: str = "code_final.xlsx",
                   frames: str = "rawpic", videos=CASME_SQ_VIDEO_ROWS, **extra) -> CASMESqWriter:
    writer = CASMESqWriter(root, padding=padding, sheet=sheet, frames=frames)
    for subject, prefix, n, movements in videos:
        writer.add(video(subject, prefix, n, *movements, **extra))
    writer.finish()
    return writer


@pytest.mark.parametrize("padding, sheet, frames", [
    (3, "code_final.xlsx", "rawpic"), (0, "CAS(ME)2code_final.xlsx", "rawpic"),
    (3, "CASME_sq_code_final.xlsx", "rawpic/rawpic")])
def test_casme_sq_round_trip(tmp_path, padding, sheet, frames):
    writer = write_casme_sq(tmp_path, padding, sheet, frames)
    result = read_casme_sq(tmp_path)
    assert result.issues == []                               # macro-expressions: not read, not listed
    clips = by_id(result)
    assert list(clips) == list(CASME_SQ_EXPECTED)
    for sample, (folder, row, onset, apex, offset, emotion, aus) in CASME_SQ_EXPECTED.items():
        clip = clips[sample]
        assert clip.frame_dir == tmp_path / frames / folder
        assert clip.frame_numbers == list(range(onset, offset + 1))
        assert clip.frames == [f"img{n:0{padding}d}.jpg" for n in range(onset, offset + 1)]
        assert (clip.onset, clip.apex, clip.offset, clip.fps) == (onset, apex, offset, 30)
        assert (clip.emotion, clip.action_units, clip.row, clip.repairs) == (emotion, aus, row, [])
        assert clip.source == str(writer.sheet)


def test_casme_sq_workbook_is_headerless_with_two_mapping_sheets(tmp_path):
    writer = write_casme_sq(tmp_path)
    pages = pd.read_excel(writer.sheet, sheet_name=None, header=None)
    codes, subjects, videos = pages.values()
    assert codes.shape == (5, 9)                               # row 1 is data: no header
    assert (codes.iloc[0, 1], codes.iloc[0, 7]) == ("disgust1_1", "macro-expression")
    assert codes.iloc[1].tolist() == [1, "disgust1_2", 8, 10, 14, "4+7", "negative",
                                      "micro-expression", "disgust"]
    assert dict(zip(subjects[2], subjects[1])) == {n: f"s{d}" for n, d in CASME_SQ_SUBJECTS.items()}
    # the codes are text cells ('0101'): pandas reads them as 101 unless told dtype=str
    assert videos[0].tolist()[0] == 101
    videos = pd.read_excel(writer.sheet, sheet_name=2, header=None, dtype=str)
    assert dict(zip(videos[1], videos[0])) == {p: c for p, (c, _) in CASME_SQ_VIDEOS.items()}


def test_casme_sq_quirks(tmp_path):
    """Offset 0 ends the clip at its apex; a folder whose number is not its subject's
    (s19/23_0502funnyerrors) is found by its stimulus code; a video the third worksheet does not
    name, and a row without its folder, are skipped."""
    writer = write_casme_sq(tmp_path, videos=[(3, "happy1", 30, [M(12, 14, 0, "positive", "12")])],
                            folder_digits=23)
    writer.rows += [[3, "sad1_1", 5, 7, 9, "1", "negative", "micro-expression", None],
                    [3, "anger1_1", 5, 7, 9, "4", "negative", "micro-expression", None],
                    [3, "happy1_2", 20, 22, 25, "12", "Positive", "Micro-expression", None]]
    writer.finish()
    result = read_casme_sq(tmp_path)
    clips = by_id(result)
    assert list(clips) == ["casme_sq/s19/happy1_1", "casme_sq/s19/happy1_2"]
    clip = clips["casme_sq/s19/happy1_1"]
    assert clip.frame_dir == tmp_path / "rawpic" / "s19" / "23_0502funnyerrors"
    assert (clip.onset, clip.apex, clip.offset, clip.frames[-1]) == (12, 14, 14, "img014.jpg")
    assert [(i.row, i.clip, i.action, i.reason) for i in result.issues] == [
        (1, "casme_sq/s19/happy1_1", "repaired",
         "offset 0 (not coded) -> apex 14: the clip ends at its apex"),
        (2, "casme_sq/s19/sad1_1", "skipped", "video 'sad1' is not in the third worksheet's video names"),
        (3, "casme_sq/s19/anger1_1", "skipped", "no frame folder rawpic/s19/*_0401* on disk"),
        (4, "casme_sq/s19/happy1_2", "repaired", "emotion 'Positive' -> 'positive'")]


def test_casme_sq_mapping_cells_as_numbers_and_a_header_row(tmp_path):
    """Codes read as numbers (101 for '0101'), subject folders without the s (15), text subject
    numbers ('1') and a header row someone added above the first worksheet's rows."""
    folder = tmp_path / "rawpic" / "s15" / "15_0101disgustingteeth"
    folder.mkdir(parents=True)
    for n in range(1, 11):
        (folder / f"img{n:03d}.jpg").write_bytes(b"\xff\xd8\xff\xe0")     # a JPEG's signature
    write_workbook(tmp_path / "code_final.xlsx", {
        "Sheet1": [["subject", "video", "onset", "apex", "offset", "au", "emotion", "type", "selfReport"],
                   ["1", "disgust1_1", "2", "4", "7", "9", "negative", "micro-expression", "disgust"]],
        "Sheet2": [[15, 15, 1]], "Sheet3": [[101, "disgust1"]]})
    result = read_casme_sq(tmp_path)
    assert result.issues == [] and [(c.sample_id, c.row, c.onset, c.offset) for c in result.clips] == [
        ("casme_sq/s15/disgust1_1", 2, 2, 7)]


def test_casme_sq_unusable_input_stops_in_one_line(tmp_path):
    with pytest.raises(DatabaseError, match="folder does not exist; set databases.casme_sq"):
        read_casme_sq(tmp_path / "missing")
    (tmp_path / "rawpic").mkdir()
    with pytest.raises(DatabaseError) as error:
        read_casme_sq(tmp_path)
    assert "no CAS(ME)^2 coding sheet found" in one_line(error)
    sheet = tmp_path / "code_final.xlsx"
    write_xlsx(sheet, [[1, "disgust1_1", 2, 4, 7, "9", "negative", "micro-expression"]])
    with pytest.raises(DatabaseError) as error:
        read_casme_sq(tmp_path)
    assert one_line(error).startswith(f"{sheet}: 1 worksheet(s); the release has three")
    writer = write_casme_sq(tmp_path, videos=[(1, "disgust1", 10, [M(2, 4, 7, "happiness")])])
    with pytest.raises(DatabaseError) as error:
        read_casme_sq(tmp_path)
    assert one_line(error) == (f"{writer.sheet} row 1: unknown emotion 'happiness' in column G "
                               "(emotion); allowed: positive, negative, surprise, others; correct the cell")
    writer = write_casme_sq(tmp_path, videos=[(1, "disgust1", 10, [M(2, 4, 7, "negative", kind="blink")])])
    with pytest.raises(DatabaseError, match=r"row 1: type 'blink' in column H; allowed: micro-expression"):
        read_casme_sq(tmp_path)


# --- generators -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def long_videos(tmp_path_factory) -> tuple[Path, dict[str, dict]]:
    """Both databases written by their generators with quirks, and the truth per sample id."""
    out = tmp_path_factory.mktemp("long_videos")
    motion = Motion(amplitude_px=(1.0, 2.0), shading=(0.1, 0.2), jitter_px=0.3, noise_std=0.01)
    with h5py.File(out / "ground_truth.h5", "w") as truth:
        syn = Synthesizer(out, 7, motion, truth)
        synthesize_casme3(syn, Size(subjects=2, clips=9, frames=(6, 9), shape=(100, 100)), True)
        synthesize_casme_sq(syn, Size(subjects=2, clips=5, frames=(6, 9), shape=(100, 100)), True)
        table: dict[str, dict] = {}

        def keep(name: str, group: object) -> None:
            if isinstance(group, h5py.Group) and "frame_numbers" in group:
                table[name] = {**group.attrs, "frame_numbers": group["frame_numbers"][()].tolist()}

        truth.visititems(keep)
    return out, table


@pytest.mark.parametrize("key, folder, read", [("casme3", "CASME3", read_casme3),
                                               ("casme_sq", "CASME_sq", read_casme_sq)])
def test_generated_long_videos_read_back_with_their_truth(long_videos, key, folder, read):
    out, truth = long_videos
    result = read(out / folder)
    assert result.clips
    for clip in result.clips:
        true = truth[clip.sample_id]
        assert clip.emotion == true["emotion"]
        assert clip.action_units == true["action_units"]
        if not clip.repairs:            # a clean row: the movement's rendered frames, exactly
            assert clip.frame_numbers == true["frame_numbers"]
            assert (clip.onset, clip.apex, clip.offset) == (true["true_onset"], true["true_apex"],
                                                            true["true_offset"])
        else:
            assert set(clip.frame_numbers) <= set(range(1, true["frame_numbers"][-1] + 1))
    quirks = {name: attrs["quirk"] for name, attrs in truth.items()
              if name.startswith(f"{key}/") and attrs["quirk"]}
    assert quirks
    reported = {i.clip for i in result.issues}
    for sample, quirk in quirks.items():
        if quirk == "folder_digits":    # s19/23_0502funnyerrors: found by its code, silently
            clip = by_id(result)[sample]
            assert clip.frame_dir.name.split("_")[0] != clip.subject[1:]
        else:
            assert sample in reported


def test_generated_casme3_has_the_sheets_quirks(long_videos):
    out, _ = long_videos
    result = read_casme3(out / "CASME3")
    reasons = " | ".join(i.reason for i in result.issues)
    for part in ["offset 0 (not coded) -> apex", "onset 0 (not coded)", "longer than 2 s",
                 "after offset", "duplicate of row", "emotion 'Others' -> 'others'"]:
        assert part in reasons
    sheet = out / "CASME3" / CASME3_SHEET
    rows = openpyxl.load_workbook(sheet)["label"].iter_rows(values_only=True)
    assert all(isinstance(v, str) for row in rows for v in row if v is not None)
    per_video = pd.read_excel(sheet, sheet_name="label", dtype=str).groupby(["Subject", "Filename"]).size()
    assert per_video.max() > 1                            # several movements share one video


def test_generators_without_quirks_give_every_movement_cleanly(tmp_path):
    motion = Motion(amplitude_px=(1.0, 2.0), shading=(0.1, 0.2), jitter_px=0.3, noise_std=0.01)
    with h5py.File(tmp_path / "ground_truth.h5", "w") as truth:
        syn = Synthesizer(tmp_path, 3, motion, truth)
        synthesize_casme3(syn, Size(subjects=1, clips=4, frames=(5, 6), shape=(100, 100)), False)
        synthesize_casme_sq(syn, Size(subjects=1, clips=2, frames=(5, 6), shape=(100, 100)), False)
    for folder, read, n in [("CASME3", read_casme3, 4), ("CASME_sq", read_casme_sq, 2)]:
        result = read(tmp_path / folder)
        assert result.issues == [] and len(result.clips) == n


def test_workbooks_are_reproducible(tmp_path):
    """The same rows give the same bytes, so re-running synthesize changes nothing DVC sees."""
    first = write_casme3(tmp_path / "one").sheet.read_bytes()
    assert write_casme3(tmp_path / "two").sheet.read_bytes() == first
    assert (write_casme_sq(tmp_path / "one").sheet.read_bytes()
            == write_casme_sq(tmp_path / "two").sheet.read_bytes())
