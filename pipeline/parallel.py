"""Run a per-clip function over many clips in worker processes, and account for the failures.

The preprocessing stages (align, magnify, flow, masks, dynamic) do the same work on each of a
few thousand clips, and some clips legitimately fail: no face is found, a frame cannot be read.
A run of an hour must not die on its 2,900th clip for that, nor hide it. `run_clips` turns an
exception in one clip into a `Failure` and carries on; `StageReport` lists the failures in a
JSON report and stops the stage, in one line, only when more than an agreed fraction failed.

pipeline/stage.py uses it like this (the real loop also opens one shard per subject):

    report = StageReport("align")
    with ShardWriter(path, "align", params) as shard:
        for i, result in run_clips(align_clip, clips, jobs, "align", ids):
            if report.add(ids[i], result):
                shard.add(ids[i], result, attrs[i])
    report.write(Path("data/reports/align.json"))
    report.check(max_failed)          # params.yaml: preprocess.max_failed
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tqdm import tqdm

from pipeline.atomic import write_atomic

T = TypeVar("T")
R = TypeVar("R")


class ClipFailure(Exception):
    """Raised by a clip function for an expected failure of one clip; the message is the reason
    ("no face found in the onset frame")."""


class StageError(Exception):
    """A stage as a whole failed (too many clips failed, a worker died). One line."""


@dataclass(frozen=True)
class Failure:
    """One clip that produced no result."""

    id: str                # sample id
    reason: str            # one line: a ClipFailure's message, else "ExceptionType: message"
    traceback: str = ""    # where an unexpected exception came from; empty for a ClipFailure


def available_jobs(jobs: int) -> int:
    """`jobs` if positive, else every core this process may run on."""
    if jobs > 0:
        return jobs
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _percent(fraction: float) -> str:
    return f"{100 * fraction:.3g}%"


def _guarded(fn: Callable[[Any], Any], item: Any) -> tuple[bool, Any, str]:
    """fn(item) as (True, result, "") or (False, reason, traceback); runs in the worker."""
    try:
        return True, fn(item), ""
    except ClipFailure as e:
        return False, _one_line(str(e)) or "ClipFailure", ""
    except Exception as e:
        # Paths relative to the working directory: the report reads the same on any machine.
        return False, _one_line(f"{type(e).__name__}: {e}"), \
            traceback.format_exc().replace(f"{os.getcwd()}{os.sep}", "")


def _ignore_sigint() -> None:
    """Workers leave Ctrl-C to the parent, which stops them all."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _context() -> multiprocessing.context.BaseContext:
    """fork where the platform has it: workers inherit loaded modules and models, and clip
    functions defined anywhere (tests included) need no re-import."""
    if "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


def _stop(pool: ProcessPoolExecutor) -> None:
    """Stop the workers now, mid-clip, and cancel what has not started."""
    terminate = getattr(pool, "terminate_workers", None)           # Python >= 3.14
    if terminate is not None:
        terminate()
    else:
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


def run_clips(fn: Callable[[T], R], items: Sequence[T], jobs: int, desc: str,
              ids: Sequence[str]) -> Iterator[tuple[int, R | Failure]]:
    """Yield (i, fn(items[i])) for every item in order, or (i, Failure) where fn raised.

    A ClipFailure's message becomes the reason; any other exception becomes
    "ExceptionType: message" with its traceback kept, so one broken clip does not end a long
    run. KeyboardInterrupt, and closing the iterator early, stop the workers at once. With
    jobs == 1 everything runs in this process (a debugger or a traceback lands in `fn`);
    otherwise in `available_jobs(jobs)` forked worker processes, with a progress bar of clips
    on stderr.

    `fn` must be a module-level function (it is pickled by name). State that is costly to set
    up, such as a detector or a model, goes in a module global that each worker fills on its
    first clip, and which a worker forked after the parent filled it inherits:

        _detector = None

        def align_clip(clip: Clip) -> dict[str, np.ndarray]:
            global _detector
            if _detector is None:                  # once per process
                _detector = dlib.get_frontal_face_detector()
            faces = _detector(first_frame(clip))
            if not faces:
                raise ClipFailure("no face found in the onset frame")
            ...
    """
    if len(ids) != len(items):
        raise ValueError(f"{desc}: {len(items)} items but {len(ids)} ids")
    jobs = min(available_jobs(jobs), len(items))
    failed = 0

    def outcome(i: int, ok: bool, value: Any, trace: str) -> R | Failure:
        nonlocal failed
        if ok:
            return value
        failed += 1
        bar.set_postfix(failed=failed, refresh=False)
        return Failure(ids[i], value, trace)

    if jobs <= 1:
        with tqdm(total=len(items), desc=desc, unit="clip") as bar:
            for i, item in enumerate(items):
                result = outcome(i, *_guarded(fn, item))
                bar.update()
                yield i, result
        return

    # Workers are forked before the progress bar starts its monitor thread.
    pool = ProcessPoolExecutor(jobs, mp_context=_context(), initializer=_ignore_sigint)
    try:
        futures = [pool.submit(_guarded, fn, item) for item in items]
        with tqdm(total=len(items), desc=desc, unit="clip") as bar:
            for i, future in enumerate(futures):
                try:
                    ok, value, trace = future.result()
                except BrokenProcessPool:
                    raise StageError(
                        f"{desc}: a worker process died (out of memory, or a crash in native "
                        f"code) on {ids[i]} or one of the {jobs - 1} clips after it; run with "
                        "jobs=1 to see which") from None
                except Exception as e:                 # item or result could not be pickled
                    ok, value, trace = False, _one_line(f"{type(e).__name__}: {e}"), ""
                result = outcome(i, ok, value, trace)
                bar.update()
                yield i, result
    except BaseException:                              # KeyboardInterrupt, early close, errors
        _stop(pool)
        raise
    pool.shutdown(wait=True)


class StageReport:
    """Which clips a stage processed and which failed, as a JSON report and a pass/fail check.

    Call `write` before `check`, so that the error points at the report.
    """

    def __init__(self, stage: str):
        self.stage = stage
        self.processed: list[str] = []     # ids of clips that produced a result
        self.failed: list[Failure] = []
        self.path: Path | None = None      # where `write` last wrote the report

    def add(self, sample_id: str, result: Any) -> bool:
        """Record one outcome from `run_clips`; True if it is a result to keep."""
        if isinstance(result, Failure):
            self.failed.append(result)
            return False
        self.processed.append(sample_id)
        return True

    def fail(self, sample_id: str, reason: str) -> None:
        """Record a clip that failed outside `run_clips` (e.g. while storing its result)."""
        self.failed.append(Failure(sample_id, _one_line(reason)))

    def check(self, max_failed_fraction: float) -> None:
        """Raise StageError if more than `max_failed_fraction` of the clips failed."""
        total = len(self.processed) + len(self.failed)
        if not self.failed or len(self.failed) / total <= max_failed_fraction:
            return
        see = f"; see {self.path}" if self.path is not None else ""
        first = self.failed[0]
        raise StageError(f"{self.stage}: {len(self.failed)} of {total} clips failed "
                         f"({_percent(len(self.failed) / total)} > {_percent(max_failed_fraction)})"
                         f"{see}; first: {first.id}: {first.reason}")

    def write(self, path: str | Path) -> None:
        """Write {stage, processed, failed: [{id, reason[, traceback]}]} atomically. Nothing
        that changes from run to run goes in (no timings: the stage prints those), so an
        unchanged stage rewrites the same bytes and DVC sees no change."""
        failed = [{"id": f.id, "reason": f.reason, **({"traceback": f.traceback}
                                                      if f.traceback else {})}
                  for f in self.failed]
        report = {"stage": self.stage, "processed": self.processed, "failed": failed}
        self.path = write_atomic(path, json.dumps(report, indent=2) + "\n")
