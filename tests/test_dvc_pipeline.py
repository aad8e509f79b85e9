"""End to end: the repository copied into a fresh git repo, `dvc repro` on a tiny config."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

from tests.conftest import REPO, shrink_preprocessing, tiny_synthesize_params


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


PREPROCESSING = ["align", "magnify", "flow", "masks", "dynamic"]


def ran(result: subprocess.CompletedProcess) -> set[str]:
    return {line.split("'")[1] for line in result.stdout.splitlines()
            if line.startswith("Running stage '")}


def test_dvc_repro_runs_every_stage_and_only_what_changed(tmp_path):
    repo = tmp_path / "glimpse"
    repo.mkdir()
    copy_repository(repo)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["synthesize"] = tiny_synthesize_params(Path("data/raw/synthetic"), seed=3)
    shrink_preprocessing(params)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "init", "-q"], repo)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A"], repo)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "tiny"], repo)

    first = run([sys.executable, "-m", "dvc", "repro"], repo)
    assert ran(first) == {"synthesize", "index", *PREPROCESSING}
    table = pd.read_csv(repo / "data" / "index" / "samples.csv")
    assert set(table["database"]) == {"casme2", "samm", "smic_hs"}
    assert (repo / "data" / "index" / "report.md").read_text().startswith("# Index report")

    again = run([sys.executable, "-m", "dvc", "repro"], repo)
    assert ran(again) == set()
    shards = list((repo / "data" / "shards" / "dynamic").glob("*/*.h5"))
    assert len(shards) == table["subject_id"].nunique()

    # A flow parameter re-runs the flow stage only.
    params["flow"]["stanet"]["frames"] = 5
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert ran(run([sys.executable, "-m", "dvc", "repro"], repo)) == {"flow"}

    # Changing only what the index reads re-runs the index, not the generator.
    params["index"]["use"] = ["casme2", "smic_hs"]
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    third = run([sys.executable, "-m", "dvc", "repro"], repo)
    assert "synthesize" not in ran(third) and {"index", *PREPROCESSING} <= ran(third)
    assert set(pd.read_csv(repo / "data" / "index" / "samples.csv")["database"]) == {"casme2", "smic_hs"}
