"""HDF5 shards: round trip, chunking, reproducible bytes, atomic writes, fork safety, errors."""

from __future__ import annotations

import multiprocessing
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from pipeline.shards import ShardError, ShardSet, ShardWriter, shard_path

RNG = np.random.default_rng(7)
FRAMES = RNG.integers(0, 256, (6, 12, 10, 3), dtype=np.uint8)            # (T, H, W, 3)
FLOW = RNG.normal(size=(12, 10, 2)).astype(np.float32)                   # (H, W, 2)
FLOWS = RNG.normal(size=(5, 12, 10, 2)).astype(np.float32)               # (T-1, H, W, 2)
GREY = RNG.integers(0, 256, (6, 12, 10), dtype=np.uint8)                 # (T, H, W)
ATTRS = {"subject": "sub01", "onset": 0, "apex": 3, "offset": 5, "fps": 200.0, "micro": True,
         "apex_true": None, "aus": ["AU4", "AU7"], "box": [1, 2, 30, 40], "scale": [0.5, 1.25],
         "empty": []}
PARAMS = {"size": [120, 98], "method": "lwm"}


def write_shard(path: Path, params: dict = PARAMS) -> Path:
    with ShardWriter(path, "align", params) as w:
        w.add("casme2/sub01/EP02_01f", {"frames": FRAMES, "flow": FLOW, "flows": FLOWS,
                                        "grey": GREY, "scale": np.float32(0.5)}, ATTRS,
              per_frame={"frames", "flows", "grey"})
        w.add("casme2/sub01/EP01_01", {"frames": FRAMES[:1]}, {"apex": 0})
    return path


@pytest.fixture
def shards(tmp_path) -> ShardSet:
    write_shard(shard_path(tmp_path, "align", "casme2", "sub01"))
    with ShardWriter(shard_path(tmp_path, "align", "samm", "006"), "align", PARAMS) as w:
        w.add("samm/006/006_1_2", {"frames": FRAMES[::-1]}, {"apex": 2})
    return ShardSet.from_dir(tmp_path / "align")


def test_shard_path():
    assert shard_path(Path("data/shards"), "align", "casme2", "sub01") == \
        Path("data/shards/align/casme2/sub01.h5")


def test_round_trip(shards, tmp_path):
    sid = "casme2/sub01/EP02_01f"
    assert shards.sample_ids == ["casme2/sub01/EP01_01", sid, "samm/006/006_1_2"]
    assert sid in shards and "casme2/sub01/EP99" not in shards and len(shards) == 3
    assert shards.keys(sid) == ["flow", "flows", "frames", "grey", "scale"]
    for key, want in [("frames", FRAMES), ("flow", FLOW), ("flows", FLOWS), ("grey", GREY)]:
        got = shards.read(sid, key)
        assert got.dtype == want.dtype and np.array_equal(got, want)
        assert shards.shape(sid, key) == want.shape
    scalar = shards.read(sid, "scale")
    assert scalar.shape == () and scalar.dtype == np.float32 and scalar == 0.5
    attrs = shards.attrs(sid)
    assert attrs == ATTRS
    assert [type(attrs[k]) for k in ("onset", "fps", "micro")] == [int, float, bool]
    assert np.array_equal(shards.read("samm/006/006_1_2", "frames"), FRAMES[::-1])
    shard = shard_path(tmp_path, "align", "casme2", "sub01")
    assert shards.shard(sid) == shard
    assert shards.params(shard) == PARAMS


def test_partial_reads(shards):
    sid = "casme2/sub01/EP02_01f"
    assert np.array_equal(shards.read(sid, "frames", index=2), FRAMES[2])
    assert np.array_equal(shards.read(sid, "frames", index=slice(1, 4)), FRAMES[1:4])
    assert np.array_equal(shards.read(sid, "flows", index=-1), FLOWS[-1])
    with pytest.raises(IndexError, match=r"sub01\.h5: casme2/sub01/EP02_01f:frames has shape"):
        shards.read(sid, "frames", index=6)


def test_chunks_and_file_attributes(tmp_path):
    path = write_shard(tmp_path / "s.h5")
    with h5py.File(path, "r") as f:
        assert f.attrs["stage"] == "align"
        assert f.attrs["params"] == '{"method": "lwm", "size": [120, 98]}'
        assert f.attrs["format_version"] == 1
        g = f["casme2|sub01|EP02_01f"]
        assert g["frames"].chunks == (1, 12, 10, 3)
        assert g["flows"].chunks == (1, 12, 10, 2)
        assert g["grey"].chunks == (1, 12, 10)
        assert g["flow"].chunks == (12, 10, 2)
        assert g["scale"].chunks is None
        assert f["casme2|sub01|EP01_01/frames"].chunks == (1, 12, 10, 3)
        assert (g["flows"].compression, g["flows"].compression_opts) == ("gzip", 4)
        assert g["flows"].shuffle
        assert g["frames"].compression is None and not g["frames"].shuffle   # uint8: raw


def test_default_per_frame_is_four_dimensional_stacks(tmp_path):
    with ShardWriter(tmp_path / "s.h5", "flow", {}) as w:
        w.add("a/b/c", {"stack": FLOWS, "grey": GREY, "flow": FLOW}, {})
    with h5py.File(tmp_path / "s.h5", "r") as f:
        assert [f["a|b|c"][k].chunks for k in ("stack", "grey", "flow")] == \
            [(1, 12, 10, 2), GREY.shape, FLOW.shape]


def test_same_input_same_bytes(tmp_path):
    first = write_shard(tmp_path / "a" / "sub01.h5")
    time.sleep(1.1)                                    # HDF5 timestamps count seconds
    second = write_shard(tmp_path / "b" / "sub01.h5")
    assert first.read_bytes() == second.read_bytes()
    third = write_shard(tmp_path / "c" / "sub01.h5", {**PARAMS, "size": [64, 64]})
    assert third.read_bytes() != first.read_bytes()


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_an_exception_mid_write_leaves_the_old_shard(tmp_path, error):
    path = write_shard(tmp_path / "sub01.h5")
    before = path.read_bytes()
    with pytest.raises(error):
        with ShardWriter(path, "align", {"other": 1}) as w:
            w.add("casme2/sub01/EP09", {"frames": FRAMES}, {})
            raise error
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub01.h5"]
    with pytest.raises(ValueError):
        with ShardWriter(tmp_path / "new.h5", "align", {}) as w:
            raise ValueError
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub01.h5"]


SLOW_WRITER = """
import sys, time
import numpy as np
from pipeline.shards import ShardWriter
with ShardWriter(sys.argv[1], "align", {}) as w:
    for i in range(1000):
        w.add(f"casme2/sub01/EP{i:03d}", {"frames": np.zeros((4, 8, 8, 3), np.uint8)}, {})
        if i == 2:
            print("writing", flush=True)
        time.sleep(0.01)
"""


def test_a_killed_writer_leaves_only_its_temp_file(tmp_path):
    path = shard_path(tmp_path, "align", "casme2", "sub01")
    writer = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(path)],
                              stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[1])
    try:
        assert writer.stdout.readline() == "writing\n"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    tmp = path.with_name(".sub01.h5.tmp")
    assert tmp.exists() and not path.exists()
    with pytest.raises(ShardError, match="no shards"):
        ShardSet.from_dir(tmp_path / "align")
    write_shard(path)
    assert path.exists() and not tmp.exists()
    assert len(ShardSet.from_dir(tmp_path / "align")) == 2


def read_in_child(shards: ShardSet, queue) -> None:
    """Runs in a forked process: reads through the inherited ShardSet."""
    inherited = list(shards._handles.values())          # kept alive: no address reuse
    frame = shards.read("casme2/sub01/EP02_01f", "frames", index=1)
    reopened = shards._handles[shards.shard("casme2/sub01/EP02_01f")]
    queue.put((np.array_equal(frame, FRAMES[1]), all(reopened is not h for h in inherited)))


def test_reading_after_fork_reopens_the_files(shards):
    shards.read("casme2/sub01/EP02_01f", "frames", index=0)
    fork = multiprocessing.get_context("fork")
    queue = fork.Queue()
    child = fork.Process(target=read_in_child, args=(shards, queue))
    child.start()
    assert queue.get(timeout=20) == (True, True)
    child.join()
    assert child.exitcode == 0
    assert np.array_equal(shards.read("casme2/sub01/EP02_01f", "frames", index=1), FRAMES[1])
    copy = pickle.loads(pickle.dumps(shards))
    assert np.array_equal(copy.read("samm/006/006_1_2", "frames", index=0), FRAMES[-1])


def test_few_files_stay_open(shards, tmp_path):
    small = ShardSet(shards.paths, max_open=1)
    for sid in small.sample_ids * 2:
        assert small.read(sid, "frames").shape[1:] == (12, 10, 3)
        assert len(small._handles) == 1
    small.close()
    assert small.attrs("samm/006/006_1_2") == {"apex": 2}


def test_clear_errors(shards, tmp_path):
    with pytest.raises(ShardError, match=r"align: sample 'casme2/sub01/EP99' is in none of the 2"):
        shards.read("casme2/sub01/EP99", "frames")
    with pytest.raises(ShardError, match=r"sub01\.h5: sample 'casme2/sub01/EP01_01' has no array "
                                         r"'flow' \(it has: frames\)"):
        shards.read("casme2/sub01/EP01_01", "flow")
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"\x89HDF\r\n" + bytes(range(256)) * 8)
    with pytest.raises(ShardError, match=r"garbage\.h5: not a readable HDF5 shard") as e:
        ShardSet([garbage])
    assert "\n" not in str(e.value)
    with h5py.File(tmp_path / "foreign.h5", "w") as f:
        f["x"] = 1
    with pytest.raises(ShardError, match=r"foreign\.h5: no format_version"):
        ShardSet([tmp_path / "foreign.h5"])
    with pytest.raises(ShardError, match=r"missing\.h5: shard not found"):
        ShardSet([tmp_path / "missing.h5"])
    with pytest.raises(ShardError, match=r"nowhere: no shards"):
        ShardSet.from_dir(tmp_path / "nowhere")


def test_writer_refuses_what_it_cannot_store(tmp_path):
    with ShardWriter(tmp_path / "s.h5", "align", {}) as w:
        w.add("a/b/c", {"x": FLOW}, {})
        with pytest.raises(ShardError, match=r"s\.h5: duplicate sample id 'a/b/c'"):
            w.add("a/b/c", {"x": FLOW}, {})
        with pytest.raises(ShardError, match="cannot name a shard group"):
            w.add("a|b", {"x": FLOW}, {})
        with pytest.raises(TypeError, match=r"attribute 'bad' of 'a/b/d': cannot store dict"):
            w.add("a/b/d", {}, {"bad": {"x": 1}})
    with pytest.raises(ShardError, match=r"also in"):
        ShardSet([write_shard(tmp_path / "t.h5"), write_shard(tmp_path / "u.h5")])
    assert ShardSet([tmp_path / "s.h5"]).sample_ids == ["a/b/c"]
