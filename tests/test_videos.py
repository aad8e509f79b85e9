"""A folder of videos as a database: three mp4 clips written with OpenCV from synthetic faces
(a face throughout, a face that cuts away halfway, no face), indexed and aligned like any other
database's; and every kind of bad input as one line."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from pipeline import align, index
from pipeline.databases.common import DatabaseError
from pipeline.databases.videos import clear_frames, read_videos
from pipeline.samples import clip_rows, read_samples
from pipeline.synthetic.faces import make_identity
from pipeline.synthetic.motion import render_clip
from tests.conftest import REPO, inside

T, CUT, FPS = 16, 9, 30            # frames per video, first frame (1-based) without the face
HEADER = "subject,file,onset,apex,offset,emotion\n"
LIST = HEADER + "s1,face.mp4,1,7,16,happiness\ns1,cut.mp4,1,,16,Surprise\ns2,takes/empty.mp4,1,,16,\n"


def write_video(path: Path, frames: np.ndarray, fps: float = FPS) -> None:
    """RGB frames (T, H, W, 3) uint8 as an MPEG-4 (mp4v) video, as OpenCV writes one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps,
                             (frames.shape[2], frames.shape[1]))
    assert writer.isOpened()
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


def background(shape: tuple[int, ...], seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).integers(0, 256, shape, np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 4)


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    """A videos database: face.mp4 (a face in every frame), cut.mp4 (the face replaced by a
    backdrop from frame CUT on), takes/empty.mp4 (no face)."""
    root = tmp_path_factory.mktemp("videos")
    rng = np.random.default_rng(3)
    face, _ = render_clip(make_identity(31, (170, 140)), ["6", "12"], T, 0, 6, 15, 2.0, rng)
    cut, _ = render_clip(make_identity(32, (170, 140)), ["1", "2"], T, 0, 6, 15, 2.0, rng)
    cut[CUT - 1:] = background(cut.shape[1:], 0)
    write_video(root / "face.mp4", face)
    write_video(root / "cut.mp4", cut)
    write_video(root / "takes" / "empty.mp4", np.stack([background(face.shape[1:], k) for k in range(T)]))
    (root / "videos.csv").write_text(LIST)
    return root


def workspace(folder: Path, root: Path, use: list[str]) -> Path:
    """A working directory with the repository's params, reading the video database only."""
    params = copy.deepcopy(yaml.safe_load((REPO / "params.yaml").read_text()))
    params["databases"]["videos"] = str(root)
    params["index"]["use"] = use
    params["preprocess"].update(jobs=1, max_failed=1.0)
    params["align"]["shape"] = [72, 59]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    return folder


def test_index_decodes_each_clip_once_into_frames_like_any_database(videos, tmp_path):
    work = workspace(tmp_path / "work", videos, ["videos"])
    with inside(work):
        index.main()
        table = read_samples()
        first = {p: p.read_bytes() for p in Path("data/frames/videos").rglob("*.png")}
        csv = Path("data/index/samples.csv").read_bytes()
        index.main()                                                     # reproducible bytes
        assert Path("data/index/samples.csv").read_bytes() == csv
        assert {p: p.read_bytes() for p in Path("data/frames/videos").rglob("*.png")} == first
    assert list(table["sample_id"]) == ["videos/s1/cut", "videos/s1/face", "videos/s2/empty"]
    assert list(table["subject_id"]) == ["videos/s1", "videos/s1", "videos/s2"]
    assert (table["fps"] == FPS).all() and (table["n_frames"] == T).all()
    assert list(table["frame_dir"]) == ["data/frames/videos/s1/cut", "data/frames/videos/s1/face",
                                        "data/frames/videos/s2/empty"]
    assert table["apex"].tolist()[1] == 7 and table["apex"].isna().tolist() == [True, False, True]
    assert table["emotion"].fillna("").tolist() == ["surprise", "happiness", ""]
    assert len(first) == 3 * T and table["frames_sha256"].is_unique
    rows = clip_rows(table)
    assert rows[1].frames[:3] == ("1.png", "2.png", "3.png") and rows[1].onset == 0
    report = json.loads((work / "data/index/report.json").read_text())
    assert report["databases"]["videos"]["per_emotion"] == {"(unlabelled)": 1, "happiness": 1,
                                                            "surprise": 1}
    assert [i["reason"] for i in report["repaired"]] == ["emotion 'Surprise' -> 'surprise'"]

    # Frames from the decoded files are the video's frames, in order.
    capture = cv2.VideoCapture(str(videos / "face.mp4"))
    for n in range(1, T + 1):
        ok, frame = capture.read()
        assert ok and np.array_equal(cv2.imread(str(work / rows[1].frame_dir / f"{n}.png")), frame)

    # A changed video changes its clip's digest (so align re-runs), and only its clip's.
    changed = tmp_path / "changed"
    changed.mkdir()
    (changed / "videos.csv").write_text(LIST)
    for name in ["face.mp4", "takes/empty.mp4"]:
        (changed / name).parent.mkdir(parents=True, exist_ok=True)
        (changed / name).write_bytes((videos / name).read_bytes())
    frames = np.stack([cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in
                       (cv2.imread(str(work / rows[0].frame_dir / f"{n}.png")) for n in range(1, T + 1))])
    frames[3] = 255 - frames[3]
    write_video(changed / "cut.mp4", frames)
    again = workspace(tmp_path / "again", changed, ["videos"])
    with inside(again):
        index.main()
        digests = read_samples()["frames_sha256"].tolist()
    assert [a == b for a, b in zip(digests, table["frames_sha256"])] == [False, True, True]


def test_align_keeps_the_face_fails_the_cut_and_the_empty_clip(videos, tmp_path):
    work = workspace(tmp_path / "work", videos, ["videos"])
    with inside(work):
        index.main()
        align.main()
        report = json.loads(Path("data/reports/align.json").read_text())
    print("\n" + "\n".join(f"{f['id']}: {f['reason']}" for f in report["failed"]))
    assert report["processed"] == ["videos/s1/face"]
    assert report["tracking"] == {"videos/s1/face": {"lost": [], "moved": [], "occluded": []}}
    failed = {f["id"]: f["reason"] for f in report["failed"]}
    assert set(failed) == {"videos/s1/cut", "videos/s2/empty"}
    assert failed["videos/s1/cut"].startswith(f"face lost in frames {CUT}-{T}: {T - CUT + 1} of {T}")
    assert "no face found" in failed["videos/s2/empty"]
    assert "onset frame 1.png in data/frames/videos/s2/empty" in failed["videos/s2/empty"]


def test_frames_follow_the_last_index_that_succeeded(videos, tmp_path):
    """A failed index keeps the frames; without the video database the index empties their
    folder, which stays (it is DVC's output of the index)."""
    work = workspace(tmp_path / "work", videos, ["videos"])
    with inside(work):
        index.main()
        assert len(list(Path("data/frames/videos").rglob("*.png"))) == 3 * T
        (videos / "videos.csv").write_text(LIST + "s3,lost.mp4,1,,5,\n")
        try:
            with pytest.raises(DatabaseError, match="line 5: video lost.mp4 not found"):
                index.main()
        finally:
            (videos / "videos.csv").write_text(LIST)
        assert len(list(Path("data/frames/videos").rglob("*.png"))) == 3 * T
        clear_frames(Path("data/frames/videos"))          # what index.main does without videos
        assert [p.name for p in Path("data/frames").iterdir()] == ["videos"]     # no leftovers
        assert not any(Path("data/frames/videos").iterdir())


def database(folder: Path, listing: str, files: dict[str, bytes] | None = None) -> Path:
    """A video folder holding `listing` as videos.csv and `files` (default: one real video)."""
    folder.mkdir(parents=True)
    (folder / "videos.csv").write_text(listing)
    for name, data in (files or {}).items():
        (folder / name).write_bytes(data)
    return folder


@pytest.fixture(scope="module")
def one_video(videos) -> dict[str, bytes]:
    return {"a.mp4": (videos / "face.mp4").read_bytes()}


@pytest.mark.parametrize("listing, files, message", [
    (None, {}, r"videos\.csv: not found; put videos\.csv \(subject,file,onset,apex,offset,emotion\)"),
    ("subject,video,onset,apex,offset,emotion\n", {}, r"line 1: missing columns file; header found: "
     r"subject,video,onset,apex,offset,emotion; the first line must be"),
    (HEADER + "s1,b.mp4,1,,5,happiness\n", None, r"line 2: video b\.mp4 not found in .*; correct "
     r"the file cell"),
    (HEADER + "s1,bad.mp4,1,,5,happiness\n", {"bad.mp4": b"not a video"},
     r"bad\.mp4: OpenCV cannot open this video; re-encode it .* \(videos\.csv line 2\)"),
    (HEADER + "s1,a.mp4,1,,5,joy\n", None, r"line 2: unknown emotion 'joy'; allowed: happiness, "
     r"surprise, disgust, repression, others, fear, sadness or empty"),
    (HEADER + "s1,a.mp4,one,,5,\n", None, r"line 2: onset 'one' is not a frame number"),
    (HEADER + "s1,a.mp4,,,5,\n", None, r"line 2: onset is empty"),
    (HEADER + "s1/x,a.mp4,1,,5,\n", None, r"line 2: subject 's1/x' cannot name a folder"),
    (HEADER + "s1,a.mp4,1,,5,\ns1,a.avi,1,,5,\n", {"a.avi": b""},
     r"lines 2 and 3: a\.mp4 and a\.avi would both be clip s1/a; rename one of the videos"),
    (HEADER + "s1,a.mp4,1,,5,fear\ns1,a.mp4,1,,5,sadness\n", None,
     r"lines 2 and 3: a\.mp4 1\.\.5 listed twice with different apex or emotion"),
])
def test_bad_input_is_one_line_naming_file_and_line(tmp_path, one_video, listing, files, message):
    folder = tmp_path / "db"
    folder.mkdir()
    if listing is not None:
        (folder / "videos.csv").write_text(listing)
    for name, data in (one_video if files is None else {**one_video, **files}).items():
        (folder / name).write_bytes(data)
    with inside(tmp_path), pytest.raises(DatabaseError, match=message) as error:
        read_videos(folder)
    assert "\n" not in str(error.value)
    assert not (tmp_path / "data/frames/videos").exists()          # nothing half-written


def test_frame_ranges_outside_the_video_are_repaired_or_skipped(tmp_path, one_video):
    listing = HEADER + ("s1,a.mp4,0,3,30,happiness\n"       # onset 0 and offset 30 repaired
                        "s1,a.mp4,20,,25,\n"                 # after the last frame: skipped
                        "s1,a.mp4,9,,4,\n"                   # offset before onset: skipped
                        "s1,a.mp4,2,2,6,fear\n"              # apex at the onset: spotted later
                        "s1,a.mp4,2,2,6,fear\n")             # the same line again: skipped
    folder = database(tmp_path / "db", listing, one_video)
    with inside(tmp_path):
        result = read_videos(folder)
    clips = {c.clip: c for c in result.clips}
    assert sorted(clips) == ["a_1", "a_2"]                   # a_3 (9..4) and a_4 (20..25) skipped
    assert (clips["a_1"].onset, clips["a_1"].apex, clips["a_1"].offset) == (1, 3, T)
    assert (clips["a_2"].onset, clips["a_2"].apex, clips["a_2"].offset) == (2, None, 6)
    assert clips["a_2"].frames == [f"{n}.png" for n in range(2, 7)]
    reasons = {(i.row, i.action, i.reason) for i in result.issues}
    assert reasons == {
        (2, "repaired", "onset 0 before the first frame 1 -> 1"),
        (2, "repaired", f"offset 30 past the video's last frame {T} -> {T}"),
        (3, "skipped", f"a.mp4: onset..offset 20..25 outside the video's frames 1..{T}; correct the line"),
        (4, "skipped", "a.mp4: offset 4 before onset 9; correct the line"),
        (5, "repaired", "apex 2 not inside onset..offset 2..6 -> missing, spotted later"),
        (6, "skipped", "duplicate of line 5"),
    }
    assert sorted(p.name for p in (tmp_path / "data/frames/videos/s1").iterdir()) == ["a_1", "a_2"]
