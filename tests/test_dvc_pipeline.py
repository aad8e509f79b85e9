"""End to end: the repository copied into a fresh git repo, `dvc repro` on a tiny config."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

from tests.conftest import REPO, tiny_synthesize_params


def run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def copy_repository(dest: Path) -> None:
    """The files git would commit (tracked and not ignored), as a fresh clone has them."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split("\n")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


def test_dvc_repro_runs_synthesize_and_index(tmp_path):
    repo = tmp_path / "glimpse"
    repo.mkdir()
    copy_repository(repo)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["synthesize"] = tiny_synthesize_params(Path("data/raw/synthetic"), seed=3)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "init", "-q"], repo)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A"], repo)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "tiny"], repo)

    first = run([sys.executable, "-m", "dvc", "repro"], repo)
    assert "Running stage 'synthesize'" in first.stdout and "Running stage 'index'" in first.stdout
    table = pd.read_csv(repo / "data" / "index" / "samples.csv")
    assert set(table["database"]) == {"casme2", "samm", "smic_hs"}
    assert (repo / "data" / "index" / "report.md").read_text().startswith("# Index report")

    again = run([sys.executable, "-m", "dvc", "repro"], repo)
    assert "Running stage" not in again.stdout

    # Changing only what the index reads re-runs the index, not the generator.
    params["index"]["use"] = ["casme2", "smic_hs"]
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    third = run([sys.executable, "-m", "dvc", "repro"], repo)
    assert "Running stage 'index'" in third.stdout and "Running stage 'synthesize'" not in third.stdout
    assert set(pd.read_csv(repo / "data" / "index" / "samples.csv")["database"]) == {"casme2", "smic_hs"}
