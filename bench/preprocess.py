"""Preprocessing throughput on a CASME II-scale synthetic database.

    python bench/preprocess.py                 # jobs=2, work in /tmp/glimpse-bench
    python bench/preprocess.py --jobs 4 --workdir /scratch/bench

Writes the CASME II-scale synthetic CASME II (26 subjects, 255 clips, ~17k frames at 340x280;
pipeline.synthesize.CASME2_SCALE), indexes it alone, then runs every preprocessing stage as
`dvc repro` would (`python -m pipeline.<stage>` in a scratch copy of the parameters) and prints,
per stage: clips/s, frames/s and the peak resident memory of the stage's whole process tree
(workers included), with the machine's core count. Target on a 2-core machine: all stages
within 10 minutes with jobs=2, peak memory within 4 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.synthesize import CASME2_SCALE  # noqa: E402

STAGES = ["align", "magnify", "flow", "masks", "dynamic"]


def tree_rss(process: psutil.Process) -> int:
    """Resident bytes of a process and all its children."""
    total = 0
    for p in [process] + process.children(recursive=True):
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def run(module: str, cwd: Path) -> tuple[float, int]:
    """Run `python -m module` in cwd; (seconds, peak RSS of its process tree in bytes)."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", module], cwd=cwd,
                             env={**os.environ, "PYTHONPATH": str(REPO)})
    watched, peak = psutil.Process(child.pid), 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            try:
                peak = max(peak, tree_rss(watched))
            except psutil.NoSuchProcess:
                return
            stop.wait(0.1)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    code = child.wait()
    stop.set()
    thread.join()
    if code:
        sys.exit(f"bench: python -m {module} failed with exit code {code}")
    return time.perf_counter() - start, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/glimpse-bench"))
    parser.add_argument("--keep", action="store_true", help="reuse an existing synthetic database")
    args = parser.parse_args()

    work = args.workdir.resolve()
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["synthesize"]["casme2"] = dict(CASME2_SCALE)
    for key in ["samm", "smic_hs", "smic_vis", "smic_nir", "casme"]:      # kept tiny: not measured
        params["synthesize"][key].update(subjects=1, clips=2)
    params["synthesize"]["macro"].update(subjects=1, per_class=1)
    params["index"]["use"] = ["casme2"]
    params["preprocess"]["jobs"] = args.jobs
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    shutil.rmtree(work / "data" / "shards", ignore_errors=True)

    if not (args.keep and (work / "data/raw/synthetic").exists()):
        seconds, _ = run("pipeline.synthesize", work)
        print(f"synthesize: {seconds:.0f} s", file=sys.stderr)
    run("pipeline.index", work)
    summary = json.loads((work / "data/index/report.json").read_text())
    clips, frames = summary["samples"], summary["frames"]

    rows = []
    for stage in STAGES:
        seconds, peak = run(f"pipeline.{stage}", work)
        rows.append((stage, seconds, peak))
    total = sum(r[1] for r in rows)
    print(f"\nCASME II-scale synthetic database: {clips} clips, {frames} frames; "
          f"jobs={args.jobs}, {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable)\n")
    print("| stage | seconds | clips/s | frames/s | peak memory (MB) |")
    print("|---|---|---|---|---|")
    for stage, seconds, peak in rows:
        print(f"| {stage} | {seconds:.1f} | {clips / seconds:.2f} | {frames / seconds:.0f} | "
              f"{peak / 2**20:.0f} |")
    print(f"| all | {total:.1f} | {clips / total:.2f} | {frames / total:.0f} | "
          f"{max(r[2] for r in rows) / 2**20:.0f} |")


if __name__ == "__main__":
    main()
