"""What every preprocessing stage shares: which clips to process, how to read their frames, and
the loop that runs a per-clip function in parallel and writes one shard per (database, subject).

A stage module (align.py, magnify.py, ...) only says what happens to ONE clip and declares its
params section as a dataclass; `stage_main` checks the section (pipeline/params.py) before any
clip is read, and `run_stage` does the rest: clips in sample-id order (so a subject's clips
arrive together and its shard is written and closed before the next one starts), a progress bar
with clip counts and ETA, failed clips listed with their reason in data/reports/<stage>.json,
and a clear stop when more than `max_failed` of the clips fail. A failed clip is simply absent
from the stage's shards; later stages process what their input shards hold.

`run_stage(..., shards_root=, reports=)` runs a stage on other folders than data/shards and
data/reports (pipeline/predict.py preprocesses one new clip in a temporary folder this way, with
the very stage code the training data went through); `upstream` then reads that root, in the
workers too.
"""

from __future__ import annotations

import hashlib
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator

import cv2
import numpy as np

from pipeline.params import ParamsError, PreprocessParams, as_yaml, parse, read_params, section
from pipeline.parallel import (ClipFailure, Failure, StageError, StageReport, available_jobs,
                               run_clips)
from pipeline.samples import SAMPLES, ClipRow, clip_rows, read_samples
from pipeline.shards import ShardSet, ShardWriter, shard_path

SHARDS = Path("data/shards")
REPORTS = Path("data/reports")


def read_frames(row: ClipRow) -> np.ndarray:
    """The clip's frames (T, H, W, 3) uint8 RGB; an unreadable or odd-sized frame fails the clip."""
    frames = []
    for name in row.frames:
        image = cv2.imread(str(Path(row.frame_dir) / name), cv2.IMREAD_COLOR)
        if image is None:
            raise ClipFailure(f"unreadable frame {Path(row.frame_dir) / name}")
        if frames and image.shape != frames[0].shape:
            raise ClipFailure(f"frame {name} is {image.shape[1]}x{image.shape[0]}, the clip's "
                              f"first frame {frames[0].shape[1]}x{frames[0].shape[0]}")
        frames.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    return np.stack(frames)                                     # (T, H, W, 3)


def clip_rng(seed: int, sample_id: str) -> np.random.Generator:
    """A generator per (seed, clip): the same draws whatever the order or number of workers."""
    digest = hashlib.sha256(f"{seed}/{sample_id}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


_SHARD_SETS: dict[str, ShardSet] = {}
_ROOT: Path | None = None            # the shards root of the stage running here; None: SHARDS


def upstream(stage: str, root: Path | None = None) -> ShardSet:
    """The shards an earlier stage wrote, opened once per process (workers included), under
    `root`, else that of the stage running here (data/shards unless run_stage got another)."""
    folder = str(((root or _ROOT or SHARDS) / stage).resolve())
    if folder not in _SHARD_SETS:
        _SHARD_SETS[folder] = ShardSet.from_dir(Path(folder))
    return _SHARD_SETS[folder]


def at_root(row: ClipRow, process: Callable[..., dict[str, np.ndarray]], params: Any,
            root: Path) -> dict[str, np.ndarray]:
    """`process(row, params)` with `upstream` reading `root`: set in the process that runs the
    clip (a worker too), and put back after it."""
    global _ROOT
    before, _ROOT = _ROOT, root
    try:
        return process(row, params=params)
    finally:
        _ROOT = before


def run_stage(stage: str, process: Callable[..., dict[str, np.ndarray]], params: Any,
              jobs: int, max_failed: float, needs: str | None = None,
              per_frame: tuple[str, ...] = (), index_path: str | Path = SAMPLES,
              shards_root: str | Path | None = None,
              reports: str | Path | None = None,
              many: Callable[..., list] | None = None, chunk: int = 1) -> StageReport:
    """Run `process(row, params) -> arrays (+ "attrs")` over every indexed clip (those that the
    `needs` stage's shards hold, when given) and write data/shards/<stage>/<db>/<subject>.h5.
    Arrays of 4 or more dimensions (T, H, W, C) are chunked one frame per chunk, for streaming;
    `per_frame` adds arrays by name prefix whose axis 0 is time too, such as grey clips.
    `params` (the stage's parsed section) goes to `process` and, as YAML data, into every shard.
    `shards_root` and `reports` replace data/shards and data/reports, for reading (`upstream`)
    and writing alike.

    `many(rows, params) -> [arrays or ClipFailure per row]` with chunk > 1 processes `chunk`
    clips per call instead (the flow stage's batched GPU engine); chunks are cut in sample-id
    order, so the same clips always share a call, whatever the number of workers."""
    root = SHARDS if shards_root is None else Path(shards_root)
    _SHARD_SETS.clear()                  # shards rewritten since they were opened are new files
    rows = clip_rows(read_samples(index_path))
    report = StageReport(stage)
    if needs is not None:           # clips that failed upstream are listed in that stage's report
        have = set(upstream(needs, root).sample_ids)
        rows = [row for row in rows if row.sample_id in have]
    function = many if many is not None and chunk > 1 else process
    one = (partial(function, params=params) if shards_root is None
           else partial(at_root, process=function, params=params, root=root))
    written: set[Path] = set()
    writer: ShardWriter | None = None
    current: tuple[str, str] | None = None
    try:
        for row, result in per_clip(one, rows, chunk if function is many else 1, jobs, stage):
            if not report.add(row.sample_id, result):
                continue
            if (row.database, row.subject) != current:
                if writer is not None:
                    writer.__exit__(None, None, None)
                current = (row.database, row.subject)
                writer = ShardWriter(shard_path(root, stage, *current), stage, as_yaml(params))
                writer.__enter__()
                written.add(writer.path)
            attrs = {**row.attrs(), **result.pop("attrs", {})}
            framed = [k for k, v in result.items()
                      if np.ndim(v) >= 4 or any(k.startswith(p) for p in per_frame)]
            writer.add(row.sample_id, result, attrs, per_frame=framed)
    except BaseException as error:
        if writer is not None:
            writer.__exit__(type(error), error, error.__traceback__)
        raise
    if writer is not None:
        writer.__exit__(None, None, None)
    for stale in set((root / stage).glob("*/*.h5")) - written:       # from an earlier run
        stale.unlink()
    report.write((REPORTS if reports is None else Path(reports)) / f"{stage}.json")
    report.check(max_failed)
    return report


def per_clip(one: Callable, rows: list[ClipRow], chunk: int, jobs: int,
             stage: str) -> Iterator[tuple[ClipRow, Any]]:
    """(row, arrays or Failure) for every row in order: `one(row)` per clip, or with chunk > 1
    `one(rows[i:i + chunk])` per chunk, whose failure as a whole fails each of its clips."""
    if chunk <= 1:
        results = run_clips(one, rows, available_jobs(jobs), desc=stage,
                            ids=[row.sample_id for row in rows])
        for i, result in results:
            yield rows[i], result
        return
    chunks = [rows[i:i + chunk] for i in range(0, len(rows), chunk)]
    ids = [f"{part[0].sample_id} .. {part[-1].sample_id}" for part in chunks]
    for i, results in run_clips(one, chunks, available_jobs(jobs), desc=f"{stage} ({chunk} clips "
                                "a step)", ids=ids):
        for k, row in enumerate(chunks[i]):
            result = results if isinstance(results, Failure) else results[k]
            if isinstance(result, Failure):
                result = Failure(row.sample_id, result.reason, result.traceback)
            elif isinstance(result, ClipFailure):
                result = Failure(row.sample_id, str(result) or "ClipFailure")
            yield row, result


def summary(report: StageReport, seconds: float) -> str:
    """One line for the terminal after a stage (timings go here, not into cached outputs)."""
    return (f"{report.stage}: {len(report.processed)} clips written to {SHARDS / report.stage} "
            f"in {seconds:.1f} s, {len(report.failed)} failed (see {report.path})")


def stage_params(stage: str, schema: type, params_path: str) -> tuple[Any, PreprocessParams]:
    """params.yaml's `<stage>` section checked against `schema`, and `preprocess`."""
    raw = read_params(params_path)
    return (parse(schema, section(raw, stage), stage),
            parse(PreprocessParams, section(raw, "preprocess"), "preprocess"))


def stage_main(stage: str, process: Callable[..., dict[str, np.ndarray]], schema: type,
               params_path: str, needs: str | None = None,
               per_frame: tuple[str, ...] = ()) -> StageReport:
    """What `python -m pipeline.<stage>` does: check params.yaml's `<stage>` section against
    `schema` and `preprocess` against PreprocessParams, run, print one line."""
    params, common = stage_params(stage, schema, params_path)
    started = time.perf_counter()
    report = run_stage(stage, process, params, jobs=common.jobs, max_failed=common.max_failed,
                       needs=needs, per_frame=per_frame)
    print(summary(report, time.perf_counter() - started))
    return report


def cli(main: Callable[..., object], name: str) -> None:
    """Run a stage's `main` with the command line's arguments; a params problem or too many
    failed clips end the process with one line, not a traceback."""
    try:
        main(*sys.argv[1:])
    except (StageError, ParamsError) as error:
        message = str(error)
        sys.exit(message if message.startswith(f"{name}:") else f"{name}: {message}")
