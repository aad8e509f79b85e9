"""How each method's accuracy falls as the expression gets subtler: the default pipeline at
several peak displacements (and appearance strengths) of the synthetic database, one DVC
experiment per point, drawn as UF1 against amplitude for all six networks.

    python bench/difficulty.py                     # queue, run (one at a time), collect, draw
    python bench/difficulty.py --jobs 2            # two experiments side by side
    python bench/difficulty.py --collect           # only read `dvc exp show` and draw

A point at amplitude a (px) sets `synthesize.amplitude_px: [a / 2, 3 a / 2]` and one at shading
s `synthesize.shading: [s / 2, 3 s / 2]` (the default, [1, 3] px and [0.15, 0.45], is the point
a = 2, s = 0.3, which DVC's run-cache serves without training again); everything else is
params.yaml as committed, so every stage re-runs from the synthetic database on. Each point is an experiment named
`difficulty-a<a>-s<s>` that `dvc exp show` lists. The figure goes to docs/difficulty.png and
the table between the README's difficulty markers. The real databases cannot be swept: no one
can turn a recorded micro-expression's amplitude down.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from models import pipeline_networks  # noqa: E402
from pipeline.atomic import write_atomic  # noqa: E402

START, END = "<!-- difficulty:start -->", "<!-- difficulty:end -->"


def name_of(amplitude: float, shading: float) -> str:
    return f"difficulty-a{amplitude:g}-s{shading:g}"


def dvc(*args: str) -> str:
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=REPO, check=True,
                          capture_output=True, text=True).stdout


def queue(points: list[tuple[float, float]]) -> None:
    for amplitude, shading in points:
        dvc("exp", "run", "--queue", "-n", name_of(amplitude, shading),
            "-S", f"synthesize.amplitude_px=[{amplitude / 2:g},{1.5 * amplitude:g}]",
            "-S", f"synthesize.shading=[{shading / 2:g},{1.5 * shading:g}]")
        print(f"queued {name_of(amplitude, shading)}", flush=True)


def wait() -> None:
    while True:
        status = dvc("queue", "status")
        if "Queued" not in status and "Running" not in status:
            return
        time.sleep(30)


def collect(names: set[str]) -> dict[str, dict[str, float]]:
    """{experiment: {network: CDE UF1}} from `dvc exp show --json`."""
    found: dict[str, dict[str, float]] = {}

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if (node.get("name") in names and isinstance(node.get("data"), dict)
                    and node["data"].get("rev") != "workspace"):     # a running one: no results yet
                metrics = node["data"].get("metrics") or {}
                found[node["name"]] = {
                    path.split("/")[-1].removesuffix(".json"): value["data"]["cde"]["uf1"]
                    for path, value in metrics.items()
                    if isinstance(value, dict) and "cde" in (value.get("data") or {})}
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(dvc("exp", "show", "--json", "--all-commits")))   # made on an earlier commit too
    return found


def draw(points: list[tuple[float, float]], results: dict[str, dict[str, float]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    main, *others = list(dict.fromkeys(s for _, s in points))       # the first shading: lines
    styles = ["x--", "+:", "^-."]
    for i, network in enumerate(pipeline_networks()):
        colour = plt.cm.tab10(i)
        for shading, style in [(main, "o-"), *zip(others, styles)]:
            xs = sorted(a for a, s in points if s == shading and name_of(a, s) in results)
            ys = [results[name_of(a, shading)].get(network) for a in xs]
            ax.plot(xs, ys, style, color=colour, ms=7 if shading != main else 5,
                    label=network if shading == main else None)
    for shading, style in zip(others, styles):            # one legend entry per other shading
        ax.plot([], [], style, color="grey", label=f"shading {shading:g}")
    ax.axhline(1 / 3, color="grey", lw=0.8, ls=":")
    ax.text(ax.get_xlim()[1], 1 / 3, " chance", va="center", fontsize=8, color="grey")
    ax.set_xlabel("peak AU displacement at apex, mid-range a of [a/2, 3a/2] (px, 170 x 140 faces)")
    ax.set_ylabel("CDE UF1 (MEGC 2019 composite, 3 classes)")
    ax.set_title(f"How subtle can an expression be? (shading {main:g} unless marked)", fontsize=10)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, ncol=2, loc="lower right")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    print(f"figure written to {out}")


def table(points: list[tuple[float, float]], results: dict[str, dict[str, float]]) -> str:
    networks = pipeline_networks()
    lines = ["| amplitude (px) | shading | " + " | ".join(networks) + " |",
             "|---|---|" + "---|" * len(networks)]
    for amplitude, shading in sorted(points, key=lambda p: (-p[1], p[0])):
        row = results.get(name_of(amplitude, shading), {})
        lines.append(f"| {amplitude:g} | {shading:g} | " +
                     " | ".join(f"{row[n]:.3f}" if n in row else "-" for n in networks) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--amplitudes", type=float, nargs="*", default=[0.5, 1.0, 2.0, 3.0])
    parser.add_argument("--shading", type=float, nargs="*", default=[0.3, 0.0],
                        help="appearance strengths: every amplitude runs at the first, "
                             "--other-amplitudes at the others")
    parser.add_argument("--other-amplitudes", type=float, nargs="*", default=[2.0])
    parser.add_argument("--jobs", type=int, default=1, help="experiments run side by side")
    parser.add_argument("--collect", action="store_true", help="only collect and draw")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "difficulty.png")
    args = parser.parse_args()
    points = [(a, args.shading[0]) for a in args.amplitudes]
    points += [(a, s) for s in args.shading[1:] for a in args.other_amplitudes]
    if not args.collect:
        started = time.time()
        queue(points)
        dvc("queue", "start", "-j", str(args.jobs))
        wait()
        print(f"{len(points)} experiments in {(time.time() - started) / 60:.1f} min")
    results = collect({name_of(a, s) for a, s in points})
    text = table(points, results)
    print(text)
    draw(points, results, args.out)
    readme = REPO / "README.md"
    content = readme.read_text()
    if START in content and END in content:
        head, rest = content.split(START, 1)
        write_atomic(readme, f"{head}{START}\n{text}\n{END}{rest.split(END, 1)[1]}")
        print(f"table written to {readme}")


if __name__ == "__main__":
    main()
