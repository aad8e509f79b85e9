"""HDF5 shards: what every preprocessing stage writes and the trainer reads.

One shard per (stage, database, subject) -- data/shards/align/casme2/sub01.h5 -- so a change to
one subject rewrites one small file, and DVC, which hashes whole files, re-uploads little.

Inside a shard each clip is one group named by its sample id with "/" replaced by "|"
(casme2/sub01/EP02_01f -> casme2|sub01|EP02_01f): one group level, readable in `h5ls`, and the
reader turns it back into the id. Arrays are datasets in that group; the clip's metadata
(subject, labels, onset/apex/offset, fps) are the group's attributes; the file's attributes hold
the stage name, the stage's params as sorted JSON, and the format version.

Writes are atomic: `ShardWriter` writes `.<name>.tmp` next to the target and renames it over the
target only when the `with` block ends cleanly, so a stage that is interrupted, fails or is
killed never leaves a half shard where a reader or DVC would take it for a whole one.

Writes are reproducible: with the same h5py and HDF5, the same inputs give byte-identical files
(no timestamps, pinned object formats, deterministic compression), so a re-run that changes
nothing changes no hash.

Storage: frame stacks are chunked one frame per chunk, so a data loader reads single frames
without decompressing the clip; everything else is one chunk. Float arrays are gzip level 4
after the byte-shuffle filter; 8-bit images are stored raw. Measured on 2 CPU cores with a synthetic 40-frame clip (columns: size on
disk, write, read the whole array, read one frame):

    40x120x98x3 uint8 faces, 1.41 MB:   gzip-4+shuffle 1.32 MB  31 ms  7 ms  0.3 ms
                                         lzf             1.42 MB  20 ms  1 ms  0.2 ms
    40x120x98x2 float32 flow, 3.76 MB:  gzip-4+shuffle 2.14 MB  63 ms 10 ms  0.5 ms
                                         gzip-4          2.71 MB  82 ms 12 ms  0.5 ms
                                         lzf+shuffle     2.30 MB  29 ms 10 ms  0.5 ms

Noisy face pixels barely compress losslessly whatever the filter, and compressing them made
the one process that writes a stage's shards slower than its workers (a CASME II-scale magnify
stage spent most of its time in gzip), so 8-bit images are stored raw. Float maps (flow, strain)
shrink by 43 %. gzip is in every HDF5 build (lzf only where h5py is) and gzip levels 1-6 differ
by under 3 %.

`ShardSet` is the reader: it hides h5py, opens files lazily, keeps a few open per process, and
reopens them in a forked data-loader worker rather than sharing the parent's handles.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

import h5py
import numpy as np

FORMAT_VERSION = 1
SEP = "|"                        # stands for "/" of a sample id in its group name
LIBVER = ("v110", "v110")        # pinned object formats; readable by HDF5 >= 1.10
COMPRESSION = {"compression": "gzip", "compression_opts": 4, "shuffle": True}
# Open without HDF5 file locks: they fail on some network file systems, and shards are never
# written in place (the writer owns a private temporary file).
NO_LOCKING = {"locking": False} if h5py.version.version_tuple[:2] >= (3, 5) else {}

AttrValue = str | int | float | bool | None | list


class ShardError(Exception):
    """A shard cannot be written or read as asked. The message is one line naming the file."""


def shard_path(root: Path, stage: str, database: str, subject: str) -> Path:
    """Where a stage keeps one subject's clips: root/stage/database/subject.h5."""
    return Path(root) / stage / database / f"{subject}.h5"


def group_name(sample_id: str) -> str:
    """The group a sample lives in: its id with "/" as "|", one level below the root."""
    if not sample_id or sample_id == "." or SEP in sample_id:
        raise ShardError(f"sample id {sample_id!r} cannot name a shard group: it must be "
                         f"non-empty, not '.', and contain no {SEP!r}")
    return sample_id.replace("/", SEP)


def sample_id_of(group: str) -> str:
    """Inverse of `group_name`."""
    return group.replace(SEP, "/")


def _encode_attr(value: Any) -> Any:
    """A Python value as an HDF5 attribute; None is an empty (null-dataspace) attribute."""
    if value is None:
        return h5py.Empty("u1")
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return np.bool_(value)
    if isinstance(value, int):
        return np.int64(value)
    if isinstance(value, float):
        return np.float64(value)
    if isinstance(value, str):
        return value
    if isinstance(value, np.ndarray) and value.ndim == 1:
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        items = [v.item() if isinstance(v, np.generic) else v for v in value]
        if all(isinstance(v, str) for v in items) and items:
            return np.array(items, dtype=h5py.string_dtype())
        if all(isinstance(v, bool) for v in items) and items:
            return np.array(items, dtype=np.bool_)
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items):
            kind = np.int64 if all(isinstance(v, int) for v in items) and items else np.float64
            return np.array(items, dtype=kind)
    raise TypeError(f"cannot store {type(value).__name__} {value!r} as a shard attribute; use "
                    "str, int, float, bool, None, or a flat list of numbers or of strings")


def _decode_attr(value: Any) -> AttrValue:
    """Inverse of `_encode_attr`: plain Python values, lists for arrays."""
    if isinstance(value, h5py.Empty):
        return None
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return [v.decode() if isinstance(v, bytes) else v for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _chunks(array: np.ndarray, per_frame: bool) -> tuple[int, ...] | None:
    """One chunk per frame for a frame stack, else the whole array; None where HDF5 allows no
    chunks (scalars, empty arrays)."""
    if array.ndim == 0 or array.size == 0:
        return None
    if per_frame and array.shape[0] > 1:
        return (1, *array.shape[1:])
    return array.shape


class ShardWriter:
    """Write one shard atomically and reproducibly.

        with ShardWriter(shard_path(root, "align", "casme2", "sub01"), "align", params) as w:
            w.add("casme2/sub01/EP02_01f", {"frames": frames}, {"apex": 31, "fps": 200.0})

    The target appears (or is replaced) only when the block exits without an exception; any
    exception, KeyboardInterrupt included, removes the temporary file and leaves an existing
    shard as it was. A temporary file left by a killed run is overwritten by the next write.
    """

    def __init__(self, path: str | Path, stage: str, params: dict):
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.tmp")
        self.stage = stage
        self.params = json.dumps(params, sort_keys=True)
        self.sample_ids: list[str] = []
        self._file: h5py.File | None = None

    def __enter__(self) -> ShardWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = h5py.File(self.tmp, "w", libver=LIBVER, **NO_LOCKING)
        self._file.attrs["stage"] = self.stage
        self._file.attrs["params"] = self.params
        self._file.attrs["format_version"] = np.int64(FORMAT_VERSION)
        return self

    def add(self, sample_id: str, arrays: dict[str, np.ndarray], attrs: dict[str, AttrValue],
            per_frame: Collection[str] | None = None) -> None:
        """Store one clip: its arrays as datasets, `attrs` as the group's attributes.

        `per_frame` names the arrays whose axis 0 is frames (or time, or augmented draws) and
        which are chunked one entry per chunk for streaming; by default those with 4 or more
        dimensions, i.e. (T, H, W, C) stacks. Pass it for (T, H, W) grey stacks.
        """
        if self._file is None:
            raise ShardError(f"{self.path}: ShardWriter.add called outside its `with` block")
        name = group_name(sample_id)
        if name in self._file:
            raise ShardError(f"{self.path}: duplicate sample id {sample_id!r}; each clip may be "
                             "added to a shard once")
        for key in arrays:
            if not key or "/" in key or key == ".":
                raise ShardError(f"{self.path}: array name {key!r} of {sample_id!r} must be "
                                 "non-empty and contain no '/'")
        encoded = {}
        for key in sorted(attrs):               # all checked before the group exists
            try:
                encoded[key] = _encode_attr(attrs[key])
            except TypeError as e:
                raise TypeError(f"{self.path}: attribute {key!r} of {sample_id!r}: {e}") from None
        group = self._file.create_group(name)
        for key in sorted(arrays):
            data = np.asarray(arrays[key], order="C")
            framed = data.ndim >= 4 if per_frame is None else key in per_frame
            chunks = _chunks(data, framed)
            # 8-bit images stay raw: they shrink by 7 % and gzip would make the single writer
            # process the bottleneck of a parallel stage (see the table above).
            filters = COMPRESSION if chunks is not None and data.dtype != np.uint8 else {}
            group.create_dataset(key, data=data, chunks=chunks, track_times=False, **filters)
        for key, value in encoded.items():
            group.attrs[key] = value
        self.sample_ids.append(sample_id)

    def __exit__(self, exc_type, exc, tb) -> None:
        file, self._file = self._file, None
        try:
            file.flush()
            file.close()
            if exc_type is None:
                with open(self.tmp, "rb+") as fh:      # on disk before the rename makes it real
                    os.fsync(fh.fileno())
                os.replace(self.tmp, self.path)
        finally:
            self.tmp.unlink(missing_ok=True)


def _open(path: Path) -> h5py.File:
    """A shard opened read-only, or a one-line ShardError saying what is wrong with it."""
    try:
        file = h5py.File(path, "r", swmr=False, **NO_LOCKING)
    except FileNotFoundError:
        raise ShardError(f"{path}: shard not found; run `dvc repro` to write it") from None
    except OSError as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ShardError(f"{path}: not a readable HDF5 shard ({reason}); delete it and re-run "
                         "the stage that writes it") from None
    version = file.attrs.get("format_version")
    if version is None or int(version) > FORMAT_VERSION:
        file.close()
        what = "no format_version" if version is None else f"format {version}"
        raise ShardError(f"{path}: {what}, this code reads shard format <= {FORMAT_VERSION}; "
                         "re-run the stage that writes it")
    return file


class ShardSet:
    """Read access to the clips of many shards by sample id, without h5py in the caller.

        shards = ShardSet.from_dir("data/shards/align")
        clip = shards.read("casme2/sub01/EP02_01f", "frames")          # (T, H, W, 3)
        apex = shards.read("casme2/sub01/EP02_01f", "frames", index=31) # (H, W, 3), one chunk

    Files are opened on first use and at most `max_open` stay open (least recently used is
    closed). Handles belong to the process that opened them: after a fork (data-loader
    workers) the child drops the inherited ones and opens its own; pickling drops them too.
    """

    def __init__(self, paths: Iterable[str | Path], max_open: int = 32):
        self.paths = sorted(Path(p) for p in paths)
        self.max_open = max_open
        self._handles: OrderedDict[Path, h5py.File] = OrderedDict()
        self._pid = os.getpid()
        self._where: dict[str, Path] = {}
        for path in self.paths:
            for name in self._file(path):
                sample_id = sample_id_of(name)
                if sample_id in self._where:
                    raise ShardError(f"{path}: sample {sample_id!r} is also in "
                                     f"{self._where[sample_id]}; a sample belongs to one shard")
                self._where[sample_id] = path
        self.sample_ids = sorted(self._where)

    @classmethod
    def from_dir(cls, stage_dir: str | Path, max_open: int = 32) -> ShardSet:
        """Every shard of one stage: stage_dir/<database>/<subject>.h5."""
        paths = sorted(Path(stage_dir).glob("*/*.h5"))
        if not paths:
            raise ShardError(f"{stage_dir}: no shards (<database>/<subject>.h5) here; run "
                             "`dvc repro` for the stage that writes them")
        return cls(paths, max_open)

    def __len__(self) -> int:
        return len(self.sample_ids)

    def __contains__(self, sample_id: object) -> bool:
        return sample_id in self._where

    def shard(self, sample_id: str) -> Path:
        """The file holding a sample."""
        try:
            return self._where[sample_id]
        except KeyError:
            where = os.path.commonpath([str(p.parent) for p in self.paths]) if self.paths else "-"
            raise ShardError(f"{where}: sample {sample_id!r} is in none of the "
                             f"{len(self.paths)} shards; re-run the stage that writes them or "
                             "check the id") from None

    def params(self, shard: str | Path) -> dict:
        """The params the shard's stage was run with."""
        return json.loads(self._file(Path(shard)).attrs["params"])

    def attrs(self, sample_id: str) -> dict[str, AttrValue]:
        """A sample's attributes as plain Python values (None, lists included)."""
        group = self._group(sample_id)
        return {key: _decode_attr(value) for key, value in group.attrs.items()}

    def keys(self, sample_id: str) -> list[str]:
        """The names of a sample's arrays, sorted."""
        return sorted(self._group(sample_id))

    def shape(self, sample_id: str, key: str) -> tuple[int, ...]:
        """An array's shape, read from metadata only."""
        return tuple(self._dataset(sample_id, key).shape)

    def read(self, sample_id: str, key: str,
             index: int | slice | tuple | None = None) -> np.ndarray:
        """An array, or the part `index` selects along its leading axes (one frame: index=t);
        a per-frame chunked array decompresses only the frames asked for."""
        dataset = self._dataset(sample_id, key)
        try:
            data = dataset[()] if index is None else dataset[index]
        except (IndexError, ValueError, TypeError) as e:
            raise IndexError(f"{self.shard(sample_id)}: {sample_id}:{key} has shape "
                             f"{dataset.shape}; cannot take [{index!r}] ({e})") from None
        except OSError as e:
            raise ShardError(f"{self.shard(sample_id)}: cannot read {sample_id}:{key} "
                             f"({str(e).splitlines()[0]}); the file is damaged, re-run the stage "
                             "that writes it") from None
        return np.asarray(data)

    def close(self) -> None:
        """Close this process's open files (they reopen on the next read)."""
        if self._pid == os.getpid():
            for file in self._handles.values():
                file.close()
        self._handles.clear()

    def _file(self, path: Path) -> h5py.File:
        """This process's handle on a shard, opened on first use."""
        if self._pid != os.getpid():
            # Inherited through fork: the parent's handles are not ours to use or close.
            self._handles = OrderedDict()
            self._pid = os.getpid()
        file = self._handles.get(path)
        if file is not None:
            self._handles.move_to_end(path)
            return file
        while len(self._handles) >= max(1, self.max_open):
            self._handles.popitem(last=False)[1].close()
        file = self._handles[path] = _open(path)
        return file

    def _group(self, sample_id: str) -> h5py.Group:
        path = self.shard(sample_id)
        try:
            return self._file(path)[group_name(sample_id)]
        except KeyError:
            raise ShardError(f"{path}: sample {sample_id!r} is listed but cannot be read; the "
                             "file changed since it was indexed, reopen the ShardSet") from None

    def _dataset(self, sample_id: str, key: str) -> h5py.Dataset:
        group = self._group(sample_id)
        if key not in group:
            raise ShardError(f"{self.shard(sample_id)}: sample {sample_id!r} has no array "
                             f"{key!r} (it has: {', '.join(sorted(group)) or 'none'})")
        return group[key]

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_handles"] = OrderedDict()
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._pid = os.getpid()
