"""Every table of the five papers as one DVC experiment: presets.yaml, applied by name.

    python -m pipeline.presets list                         # paper, table, command, offline gaps
    python -m pipeline.presets show strcn_table_2           # the params.yaml overrides
    python -m pipeline.presets run strcn_table_2            # dvc exp run -n strcn_table_2 -S ...
    python -m pipeline.presets run fr_table_2 --queue       # queue it (dvc queue start runs it)
    python -m pipeline.presets run sma_stn_figure_6 --set model.lambda=0.01
    python -m pipeline.presets readme                       # rewrite the README's table

A preset is data: `set` (dotted params keys, as `dvc exp run -S` takes them) on top of its
`base`. Nothing here trains or changes params.yaml by itself: `run` hands the overrides to DVC,
so each table is an experiment that `dvc exp show` lists and `dvc metrics diff` compares.
tests/test_presets.py checks that every preset names keys params.yaml has and that the params
it makes pass every stage's checks.
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from pipeline.atomic import write_atomic

PRESETS = Path(__file__).resolve().parents[1] / "presets.yaml"
START, END = "<!-- presets:start -->", "<!-- presets:end -->"


class Plain(yaml.SafeDumper):
    """YAML without anchors: a value shared by two keys is written out twice."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def load(path: Path = PRESETS) -> dict:
    return yaml.safe_load(path.read_text())


def overrides(name: str, catalogue: dict | None = None) -> dict[str, Any]:
    """The params overrides of preset `name`: its base's, then its own."""
    catalogue = catalogue or load()
    if name not in catalogue["presets"]:
        raise SystemExit(f"presets: no preset {name!r}; `python -m pipeline.presets list` names them")
    preset = catalogue["presets"][name]
    return {**catalogue["bases"].get(preset.get("base"), {}), **preset["set"]}


def apply(params: dict, changes: dict[str, Any]) -> dict:
    """A copy of `params` with the dotted keys of `changes` set; a key params.yaml does not
    have is an error, as it is for `dvc exp run -S`."""
    out = copy.deepcopy(params)
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node = out
        for key in parents:
            node = node.get(key) if isinstance(node, dict) else None
            if node is None:
                break
        if not isinstance(node, dict) or last not in node:
            raise KeyError(f"presets: {dotted} is not a params.yaml key")
        node[last] = copy.deepcopy(value)
    return out


def hydra(value: Any) -> str:
    """A value in the override grammar `dvc exp run -S` parses (Hydra's): mappings and lists
    in flow style with bare keys, null/true/false, numbers as Python writes them."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {hydra(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(hydra(v) for v in value) + "]"
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, str) and not all(c.isalnum() or c in "_-./" for c in value):
        return "'" + value.replace("'", "\\'") + "'"
    return str(value)


def command(name: str, queue: bool = False, extra: list[str] | None = None) -> list[str]:
    """The `dvc exp run` that applies preset `name`. A mapping replaces the whole key (`++`:
    an optimiser of another kind has other keys, which a plain override refuses)."""
    args = ["dvc", "exp", "run", "-n", name] + (["--queue"] if queue else [])
    for key, value in overrides(name).items():
        args += ["-S", f"{'++' if isinstance(value, dict) else ''}{key}={hydra(value)}"]
    for item in extra or []:
        args += ["-S", item]
    return args


def table(catalogue: dict | None = None) -> str:
    """The README's list: paper, table, command, what cannot be reproduced offline."""
    catalogue = catalogue or load()
    lines = ["| paper | table | command | not available offline |", "|---|---|---|---|"]
    for name, preset in catalogue["presets"].items():
        lines.append(f"| {preset['paper']} | {preset['table']} | "
                     f"`python -m pipeline.presets run {name}` | {preset['offline']} |")
    return "\n".join(lines)


def rewrite_readme(readme: Path, text: str) -> None:
    content = readme.read_text()
    if START not in content or END not in content:
        raise SystemExit(f"presets: {readme} has no {START} ... {END} markers")
    head, rest = content.split(START, 1)
    _, tail = rest.split(END, 1)
    write_atomic(readme, f"{head}{START}\n{text}\n{END}{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("list", help="every preset: paper, table, command")
    show = sub.add_parser("show", help="a preset's params overrides")
    show.add_argument("name")
    run = sub.add_parser("run", help="dvc exp run with a preset's overrides")
    run.add_argument("name")
    run.add_argument("--queue", action="store_true", help="queue the experiment instead")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="one more -S for dvc exp run (repeatable)")
    readme = sub.add_parser("readme", help="rewrite the table between the README's markers")
    readme.add_argument("--readme", type=Path, default=Path("README.md"))
    args = parser.parse_args()
    if args.what == "list":
        print(table())
    elif args.what == "show":
        print(yaml.dump(overrides(args.name), Dumper=Plain, sort_keys=False, width=100,
                        default_flow_style=None).rstrip())
    elif args.what == "run":
        cmd = command(args.name, args.queue, args.set)
        print(" ".join(cmd), flush=True)
        sys.exit(subprocess.call(cmd))
    else:
        rewrite_readme(args.readme, table())
        print(f"presets table written to {args.readme}")


if __name__ == "__main__":
    main()
