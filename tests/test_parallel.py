"""run_clips (order, failures, interrupts, dead workers) and StageReport (check, JSON)."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import threading
import time

import pytest

from pipeline.parallel import (ClipFailure, Failure, StageError, StageReport, available_jobs,
                               run_clips)


def square_slowly(x: int) -> tuple[int, int]:
    """Early items finish last, so a completion-order runner would shuffle them."""
    time.sleep(0.02 * (5 - x) if x < 5 else 0)
    return x * x, os.getpid()


def fussy(x: int) -> int:
    if x == 1:
        raise ClipFailure("no face found\nin the onset frame")
    if x == 3:
        return 1 // 0
    return x


def unpicklable(x: int):
    return lambda: x


def sleepy(x: int) -> int:
    if x:
        time.sleep(30)
    return x


def dies(x: int) -> int:
    if x == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return x


def ids_of(n: int) -> list[str]:
    return [f"casme2/sub01/EP{i:02d}" for i in range(n)]


def test_results_come_in_item_order_from_worker_processes():
    items = list(range(8))
    out = list(run_clips(square_slowly, items, 2, "test", ids_of(8)))
    assert [i for i, _ in out] == items
    assert [r[0] for _, r in out] == [x * x for x in items]
    assert os.getpid() not in {r[1] for _, r in out}


def test_jobs_one_runs_in_this_process():
    out = list(run_clips(square_slowly, [5, 6], 1, "test", ids_of(2)))
    assert out == [(0, (25, os.getpid())), (1, (36, os.getpid()))]


@pytest.mark.parametrize("jobs", [1, 2])
def test_exceptions_become_failures_and_the_run_goes_on(jobs):
    ids = ids_of(5)
    out = dict(run_clips(fussy, list(range(5)), jobs, "test", ids))
    assert out[0] == 0 and out[2] == 2 and out[4] == 4
    assert out[1] == Failure(ids[1], "no face found in the onset frame", "")
    assert out[3].id == ids[3]
    assert out[3].reason == "ZeroDivisionError: integer division or modulo by zero"
    assert "fussy" in out[3].traceback


def test_an_unpicklable_result_is_a_failure():
    out = dict(run_clips(unpicklable, [0, 1], 2, "test", ids_of(2)))
    assert all(isinstance(r, Failure) for r in out.values())


def test_ctrl_c_stops_every_worker():
    # A process started in the background of a non-interactive shell inherits SIGINT ignored;
    # install Python's handler so that the simulated Ctrl-C arrives as it does in a terminal.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    start = time.perf_counter()
    ctrl_c = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    ctrl_c.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            list(run_clips(sleepy, list(range(4)), 2, "test", ids_of(4)))
    finally:
        ctrl_c.join()
        signal.signal(signal.SIGINT, previous)
    assert time.perf_counter() - start < 10
    assert multiprocessing.active_children() == []


def test_closing_the_iterator_early_stops_the_workers():
    start = time.perf_counter()
    results = run_clips(sleepy, list(range(4)), 2, "test", ids_of(4))
    assert next(results) == (0, 0)
    results.close()
    assert time.perf_counter() - start < 10
    assert multiprocessing.active_children() == []


def test_a_dead_worker_is_a_stage_error_not_a_hang():
    with pytest.raises(StageError, match=r"^test: a worker process died .* jobs=1"):
        list(run_clips(dies, list(range(4)), 2, "test", ids_of(4)))


def test_ids_must_match_items():
    with pytest.raises(ValueError, match="3 items but 2 ids"):
        list(run_clips(fussy, [0, 2, 4], 1, "test", ids_of(2)))


def test_available_jobs():
    assert available_jobs(3) == 3
    all_cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert available_jobs(0) == available_jobs(-1) == all_cores


def report_with(ok: int, failed: int) -> StageReport:
    report = StageReport("align")
    for i in range(ok):
        assert report.add(f"casme2/sub02/EP{i:02d}", ("result",))
    for i in range(failed):
        assert not report.add(f"casme2/sub01/EP{i:02d}",
                              Failure(f"casme2/sub01/EP0{i + 2}_01f", "no face found"))
    return report


def test_check_raises_one_line_over_the_threshold(tmp_path):
    report = report_with(37, 3)
    report.write(tmp_path / "report.json")
    with pytest.raises(StageError) as e:
        report.check(0.05)
    assert str(e.value) == (f"align: 3 of 40 clips failed (7.5% > 5%); see {tmp_path}/report.json;"
                            " first: casme2/sub01/EP02_01f: no face found")
    report.check(0.075)                     # at the threshold is allowed
    report_with(38, 2).check(0.05)
    report_with(0, 0).check(0.0)


def test_report_json(tmp_path):
    report = report_with(2, 1)
    report.add("casme2/sub03/EP01", Failure("casme2/sub03/EP01", "ValueError: bad", "Traceback"))
    path = tmp_path / "align" / "report.json"
    report.write(path)
    data = json.loads(path.read_text())
    assert data["stage"] == "align"
    assert data["processed"] == ["casme2/sub02/EP00", "casme2/sub02/EP01"]
    assert data["failed"] == [{"id": "casme2/sub01/EP02_01f", "reason": "no face found"},
                              {"id": "casme2/sub03/EP01", "reason": "ValueError: bad",
                               "traceback": "Traceback"}]
    assert set(data) == {"stage", "processed", "failed"}     # no timings: same bytes every run
    first = path.read_bytes()
    report.write(path)
    assert path.read_bytes() == first
    assert sorted(p.name for p in path.parent.iterdir()) == ["report.json"]
    with pytest.raises(StageError, match=f"; see {path}; first"):
        report.check(0.1)
