"""The project code a command runs: the transitive closure of its imports.

DVC re-runs a stage when one of its `deps` changes, so a stage must list every project module
its command imports, directly or through other modules, and nothing more (an extra module
re-runs the stage for nothing, a missing one lets it serve stale results). Hand-kept lists
drift, so the lists are checked against the code itself: `code_files` reads the `import`
statements of a module (inside functions too, since those run as well) and follows every one
that lands in the project's packages, `pipeline` and `models`. The only import it cannot see is
the registry's lazy one (models/registry.py imports a network's file when the network is first
asked for), so a command argument that names a network adds that network's file.

    python -m pipeline.closure        # every dvc.yaml stage: code deps it lacks or has too many

tests/test_closure.py runs the same check on dvc.yaml, and train@<network> hashes the same
files into its fold cache key, so neither can drift from the imports again.
"""

from __future__ import annotations

import ast
import shlex
import sys
from functools import lru_cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("pipeline", "models")


def module_file(name: str) -> Path | None:
    """The repository file of a project module or package, None for anything else."""
    if name.split(".")[0] not in PACKAGES:
        return None
    path = REPO.joinpath(*name.split("."))
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    return None


def module_name(path: Path) -> str:
    parts = path.resolve().relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@lru_cache(maxsize=None)
def imported_files(path: Path) -> frozenset[Path]:
    """Project files one file imports: each imported module, the packages above it (Python
    runs their __init__ first), and a `from package import name` where name is a module."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    files = set()
    for name in names:
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            file = module_file(".".join(parts[:i]))
            if file is not None:
                files.add(file)
    return frozenset(files)


def code_files(*modules: str) -> list[Path]:
    """Every project file that importing `modules` executes, repository-relative, sorted."""
    todo = [module_file(m) for m in modules]
    if None in todo:
        raise ValueError(f"not a project module: {modules[todo.index(None)]}")
    seen: set[Path] = set()
    while todo:
        file = todo.pop()
        if file not in seen:
            seen.add(file)
            todo.extend(imported_files(file) - seen)
    return sorted(f.relative_to(REPO) for f in seen)


def command_code(cmd: str) -> list[Path]:
    """The project files a stage command (`python -m pipeline.train fr`) runs."""
    words = shlex.split(cmd)
    if words[:2] != ["python", "-m"] or len(words) < 3:
        raise ValueError(f"not a `python -m <module>` command: {cmd!r}")
    modules = [words[2]]
    if len(words) > 3:
        from models.registry import module_of     # only the registry, no network is imported
        network_module = module_of(words[3])
        if network_module is not None:
            modules.append(network_module)
    return code_files(*modules)


def code_deps_problems(stages: dict[str, tuple[str, list[str]]]) -> list[str]:
    """For {stage: (cmd, deps)}: one line per project file a stage imports but does not list,
    and per listed project file it does not import."""
    problems = []
    for name, (cmd, deps) in sorted(stages.items()):
        listed = {Path(d) for d in deps if Path(d).parts[0] in PACKAGES}
        needed = set(command_code(cmd))
        problems += [f"{name}: imports {f} but does not list it in deps" for f in sorted(needed - listed)]
        problems += [f"{name}: lists {f} in deps but does not import it" for f in sorted(listed - needed)]
    return problems


def dvc_stages(repo: Path = REPO) -> dict[str, tuple[str, list[str]]]:
    """{stage: (cmd, deps)} of dvc.yaml as DVC itself resolves it (foreach expanded)."""
    from dvc.repo import Repo

    with Repo(str(repo)) as dvc:
        return {stage.addressing: (stage.cmd, [str(Path(d.def_path)) for d in stage.deps])
                for stage in dvc.index.stages}


def main() -> None:
    problems = code_deps_problems(dvc_stages())
    print("\n".join(problems) if problems else "every stage lists exactly the code it imports")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
