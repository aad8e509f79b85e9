"""Preprocessing throughput on a CASME II-scale synthetic database.

    python bench/preprocess.py                 # jobs=2, work in /tmp/glimpse-bench
    python bench/preprocess.py --jobs 4 --workdir /scratch/bench
    python bench/preprocess.py --paper --engines opencv torch      # the papers' sizes, both TV-L1s
    python bench/preprocess.py --paper --engines torch --flow-batch 64 --subjects 3 --clips 30

--paper sets the preprocessing keys of presets.yaml's bases (aligned 300 x 245, STRCN-G's flow at
300 x 245, STANet's at 192 x 192, ten magnification factors, the papers' apex rules). --engines
runs the flow stage once per TV-L1 engine (`flow.engine`), prints each one's row, and the mean
endpoint difference between the engines' flows per kind and resolution. --subjects / --clips
shrink the database (rates per clip stay comparable; the table adds the time projected to the
full CASME II scale, 255 clips).

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

from pipeline.presets import apply, load  # noqa: E402
from pipeline.synthesize import CASME2_SCALE  # noqa: E402

STAGES = ["align", "magnify", "flow", "masks", "dynamic"]
PREPROCESSING = ("align.", "magnify.", "flow.", "masks.", "dynamic.")
FLOWS = {"flow": "FR onset->apex", "strcn_g": "STRCN-G", "stanet": "STANet"}


def paper_sizes() -> dict:
    """The preprocessing overrides of every presets.yaml base: the papers' sizes and rules."""
    bases = load()["bases"]
    return {key: value for base in bases.values() for key, value in base.items()
            if key.startswith(PREPROCESSING)}


def engine_difference(first: Path, second: Path) -> dict[str, tuple[str, float]]:
    """Per kind of flow: (resolution, mean endpoint difference in px) between two flow stages'
    shards over all clips."""
    import numpy as np

    from pipeline.shards import ShardSet

    a, b = ShardSet.from_dir(first), ShardSet.from_dir(second)
    out = {}
    for kind in FLOWS:
        shape, differences = None, []
        for sid in a.sample_ids:
            x, y = a.read(sid, kind), b.read(sid, kind)
            shape = x.shape[-3:-1]
            differences.append(float(np.linalg.norm(x - y, axis=-1).mean()))
        out[kind] = (f"{shape[0]}x{shape[1]}", float(np.mean(differences)))
    return out


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
    parser.add_argument("--paper", action="store_true", help="the papers' preprocessing sizes")
    parser.add_argument("--engines", nargs="+", choices=["opencv", "torch"], default=None,
                        help="flow.engine values to run the flow stage with (default: params.yaml's)")
    parser.add_argument("--flow-batch", type=int, default=None, help="flow.batch (torch engine)")
    parser.add_argument("--subjects", type=int, default=CASME2_SCALE["subjects"])
    parser.add_argument("--clips", type=int, default=CASME2_SCALE["clips"])
    args = parser.parse_args()

    work = args.workdir.resolve()
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["synthesize"]["casme2"] = {**CASME2_SCALE, "subjects": args.subjects,
                                      "clips": args.clips}
    for key, size in params["synthesize"].items():                      # kept tiny: not measured
        if key != "casme2" and isinstance(size, dict) and "clips" in size:
            size.update(subjects=2, clips=4)
    params["synthesize"]["macro"].update(subjects=1, per_class=1)
    params["index"]["use"] = ["casme2"]
    params["preprocess"]["jobs"] = args.jobs
    if args.paper:
        params = apply(params, paper_sizes())
    if args.flow_batch is not None:
        params["flow"]["batch"] = args.flow_batch
    engines = args.engines or [params["flow"]["engine"]]
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

    rows, kept = [], {}
    for stage in STAGES:
        for engine in (engines if stage == "flow" else [None]):
            if engine is not None:
                params["flow"]["engine"] = engine
                (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
            seconds, peak = run(f"pipeline.{stage}", work)
            rows.append((stage if engine is None else f"flow ({engine})", seconds, peak))
            if engine is not None:
                kept[engine] = work / "data/shards" / f"flow-{engine}"
                shutil.rmtree(kept[engine], ignore_errors=True)
                shutil.copytree(work / "data/shards/flow", kept[engine])
    scale = CASME2_SCALE["clips"] / clips
    flow = params["flow"]
    print(f"\nSynthetic CASME II: {clips} clips, {frames} frames; jobs={args.jobs}, "
          f"{os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable); "
          f"{'paper' if args.paper else 'default'} sizes: aligned {params['align']['shape']}, "
          f"STRCN-G flow {flow['strcn_g']['shape']}, STANet flow {flow['stanet']['shape']}, "
          f"{len({params['magnify']['alpha'], *params['magnify']['augment_alphas']})} magnified "
          f"clips; flow.batch "
          f"{flow['batch']}\n")
    print("| stage | seconds | clips/s | frames/s | peak memory (MB) | projected to 255 clips (min) |")
    print("|---|---|---|---|---|---|")
    for stage, seconds, peak in rows:
        print(f"| {stage} | {seconds:.1f} | {clips / seconds:.2f} | {frames / seconds:.0f} | "
              f"{peak / 2**20:.0f} | {seconds * scale / 60:.1f} |")
    if len(kept) == 2:
        print("\n| flow | resolution | mean endpoint difference, torch vs opencv (px) |")
        print("|---|---|---|")
        for kind, (resolution, difference) in engine_difference(kept["opencv"],
                                                                 kept["torch"]).items():
            print(f"| {FLOWS[kind]} | {resolution} | {difference:.4f} |")


if __name__ == "__main__":
    main()
