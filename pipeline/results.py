"""The README's results table, generated from metrics/*.json (never typed by hand).

    python -m pipeline.results            # rewrite the table between the README's markers,
                                          # and draw docs/results.png
    python -m pipeline.results --print    # print the table instead

Every row is one network and protocol: pooled UF1, UAR and WAR over all folds (the MEGC 2019
convention), the per-fold mean UF1 beside it, the number of folds and samples. The figure shows
the same UF1 and UAR for every network and protocol, pooled and per database, against chance.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from models import pipeline_networks
from pipeline import figures
from pipeline.atomic import write_atomic
from pipeline.schemes import SCHEMES

START, END = "<!-- results:start -->", "<!-- results:end -->"


def table(metrics_dir: Path = Path("metrics")) -> str:
    files = {p.stem: p for p in metrics_dir.glob("*.json")}
    names = [n for n in pipeline_networks() if n in files]
    lines = ["| network | protocol | scheme | UF1 | UAR | WAR | per-fold mean UF1 | folds | samples |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name in names:
        details = metrics_dir / "details" / files[name].name
        metrics = json.loads(details.read_text())
        for protocol, m in metrics["protocols"].items():
            lines.append(f"| {name} | {protocol} | {m['scheme']} | {m['uf1']:.3f} | {m['uar']:.3f} | "
                         f"{m['war']:.3f} | {m['per_fold_mean']['uf1']:.3f} | {m['folds']} | "
                         f"{m['samples']} |")
    return "\n".join(lines)


def scores(metrics_dir: Path = Path("metrics")) -> pd.DataFrame:
    """One row per network, protocol and database ("all": pooled) with UF1 and UAR."""
    rows = []
    for name in pipeline_networks():
        details = metrics_dir / "details" / f"{name}.json"
        if not details.is_file():
            continue
        for protocol, m in json.loads(details.read_text())["protocols"].items():
            rows.append({"network": name, "protocol": protocol, "scheme": m["scheme"],
                         "database": "all", "uf1": m["uf1"], "uar": m["uar"]})
            for database, d in sorted(m.get("per_database", {}).items()):
                rows.append({"network": name, "protocol": protocol, "scheme": m["scheme"],
                             "database": database, "uf1": d["uf1"], "uar": d["uar"]})
    return pd.DataFrame(rows, columns=["network", "protocol", "scheme", "database", "uf1", "uar"])


def draw(path: Path, metrics_dir: Path = Path("metrics")) -> Path:
    table = scores(metrics_dir)
    if table.empty:
        raise SystemExit(f"results: no metrics in {metrics_dir}; run `dvc repro` first")
    chance = {p: 1 / len(SCHEMES[s].classes) for p, s in zip(table["protocol"], table["scheme"])}
    return figures.overview_figure(table, path, chance)


def rewrite(readme: Path, text: str) -> None:
    content = readme.read_text()
    if START not in content or END not in content:
        raise SystemExit(f"results: {readme} has no {START} ... {END} markers")
    head, rest = content.split(START, 1)
    _, tail = rest.split(END, 1)
    write_atomic(readme, f"{head}{START}\n{text}\n{END}{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--print", action="store_true", help="print the table, change nothing")
    parser.add_argument("--readme", type=Path, default=Path("README.md"))
    parser.add_argument("--figure", type=Path, default=Path("docs/results.png"))
    args = parser.parse_args()
    text = table()
    if args.print:
        print(text)
    else:
        rewrite(args.readme, text)
        draw(args.figure)
        print(f"results table written to {args.readme}, figure to {args.figure}")


if __name__ == "__main__":
    main()
