"""End to end: the repository copied into a fresh git repo, `dvc repro` on a tiny config."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pandas as pd
import yaml

import models

from tests.conftest import REPO, shrink_preprocessing, shrink_training, tiny_synthesize_params


# No single command of these tests takes a minute on two cores; one that takes this long hangs
# (DVC's queue workers are known to, now and then), and is stopped with what it printed.
COMMAND_TIMEOUT_S = 600


def run(cmd: list[str], cwd: Path, timeout: float = COMMAND_TIMEOUT_S) -> subprocess.CompletedProcess:
    """Run `cmd`, assert it succeeded; a command still running after `timeout` seconds is
    killed with every process it started, and fails the test with its output so far."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    process = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        raise AssertionError(f"{' '.join(cmd)} still running after {timeout:.0f} s, killed:\n"
                             f"{stdout}\n{stderr}") from None
    result = subprocess.CompletedProcess(cmd, process.returncode, stdout, stderr)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def stop_queue_workers(repo: Path) -> None:
    """Kill the queue's worker processes that are still alive (each writes its pid file)."""
    for pid_file in (repo / ".dvc" / "tmp" / "exps" / "celery").glob("*.pid"):
        try:
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
        except (ValueError, IndexError, ProcessLookupError, PermissionError):
            pass


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
NETWORKS = models.pipeline_networks()
TRAINING = ["pretrain"] + [f"{stage}@{n}" for n in NETWORKS for stage in ("train", "evaluate")]


def ran(result: subprocess.CompletedProcess) -> set[str]:
    return {line.split("'")[1] for line in result.stdout.splitlines()
            if line.startswith("Running stage '")}


def commit(repo: Path, message: str) -> None:
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A"], repo)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message], repo)


def fresh_clone(tmp_path: Path, tiny: bool = True) -> tuple[Path, dict]:
    """The repository as a new git repo (one commit), with tiny params unless `tiny` is False."""
    repo = tmp_path / "glimpse"
    repo.mkdir()
    copy_repository(repo)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    if tiny:
        params["synthesize"] = tiny_synthesize_params(Path("data/raw/synthetic"), seed=3)
        shrink_preprocessing(params)
        shrink_training(params)
        (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "init", "-q"], repo)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A"], repo)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "tiny"], repo)
    return repo, params


def test_dvc_repro_runs_every_stage_and_only_what_changed(tmp_path):
    repo, params = fresh_clone(tmp_path)

    first = run([sys.executable, "-m", "dvc", "repro"], repo)
    assert ran(first) == {"synthesize", "index", *PREPROCESSING, *TRAINING}
    for network in NETWORKS:
        metrics = json.loads((repo / "metrics" / f"{network}.json").read_text())
        assert 0 <= metrics["cde"]["uf1"] <= 1
    table = pd.read_csv(repo / "data" / "index" / "samples.csv")
    assert set(table["database"]) == {"casme2", "samm", "smic_hs"}
    assert (repo / "data" / "index" / "report.md").read_text().startswith("# Index report")

    again = run([sys.executable, "-m", "dvc", "repro"], repo)
    assert ran(again) == set()
    # `dvc plots show` puts the figures in its page as images: visible without internet
    run([sys.executable, "-m", "dvc", "plots", "show", "-o", str(tmp_path / "plots")], repo)
    page = (tmp_path / "plots" / "index.html").read_text()
    for network in NETWORKS:
        for name in ("confusion_cde.png", "curves_cde.png"):
            static = f"static/workspace_metrics_plots_{network}_{name}"
            assert f'<img src="{static}">' in page and (tmp_path / "plots" / static).is_file()
    shards = list((repo / "data" / "shards" / "dynamic").glob("*/*.h5"))
    assert len(shards) == table["subject_id"].nunique()

    # A flow parameter re-runs the flow stage and the networks that read flow. Every train
    # stage runs (each model file records the preprocessing settings), but the others' folds
    # come from the fold cache, so their predictions and evaluations stay as they were.
    params["flow"]["stanet"]["frames"] = 5
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    readers = ["micro_attention", "strcn_g", "fr", "stanet"]
    others = [n for n in NETWORKS if n not in readers]
    predictions = {n: (repo / "data" / "runs" / n / "predictions.csv").read_bytes() for n in others}
    stages = ran(run([sys.executable, "-m", "dvc", "repro"], repo))
    assert {"flow", "train@stanet", "evaluate@stanet", *[f"train@{n}" for n in readers]} <= stages
    assert stages <= {"flow", *[f"train@{n}" for n in NETWORKS],
                      *[f"evaluate@{n}" for n in readers]}
    assert {n: (repo / "data" / "runs" / n / "predictions.csv").read_bytes()
            for n in others} == predictions

    # An experiment on SMA-STN's DE-Loss weight, typed as users type it, re-trains SMA-STN only,
    # and `dvc metrics diff` shows what it changed.
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A"], repo)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "results"], repo)
    experiment = run([sys.executable, "-m", "dvc", "exp", "run", "-S", "model.lambda=0.5"], repo)
    assert ran(experiment) == {"train@sma_stn", "evaluate@sma_stn"}
    diff = run([sys.executable, "-m", "dvc", "metrics", "diff"], repo).stdout
    assert "metrics/sma_stn.json" in diff and "train_loss" in diff
    assert "metrics/fr.json" not in diff

    # Editing one network's file re-trains that network alone.
    with open(repo / "models" / "fr.py", "a") as file:
        file.write("\n# an edit\n")
    stages = ran(run([sys.executable, "-m", "dvc", "repro"], repo))
    assert "train@fr" in stages and stages <= {"train@fr", "evaluate@fr"}

    # Several folds at once: FR trained afresh in two worker processes gives the same metrics.
    commit(repo, "fr edited")
    shutil.rmtree(repo / "data" / "cache" / "train" / "fr")
    stages = ran(run([sys.executable, "-m", "dvc", "exp", "run", "-S",
                      "baselines.fr.folds_at_once=2"], repo))
    assert "train@fr" in stages and stages <= {"train@fr", "evaluate@fr"}
    diff = run([sys.executable, "-m", "dvc", "metrics", "diff", "--json"], repo).stdout
    assert json.loads(diff or "{}").get("metrics/fr.json", {}) == {}
    run(["git", "checkout", "--", "params.yaml", "dvc.lock"], repo)
    run([sys.executable, "-m", "dvc", "checkout", "-q"], repo)

    # A sweep through DVC's queue: two experiments side by side, both in `dvc exp show`.
    # One worker: with two, one of DVC's workers was seen to start shutting down ("empty
    # queue") while its own task was finishing and never exit, and the run hung. Which GPU a
    # worker's process claims is tested in tests/test_train.py.
    for value in ("0.2", "0.3"):
        run([sys.executable, "-m", "dvc", "exp", "run", "--queue", "-n", f"lambda{value[2:]}",
             "-S", f"model.lambda={value}"], repo)
    try:
        run([sys.executable, "-m", "dvc", "queue", "start", "-j", "1"], repo)
        deadline = time.monotonic() + COMMAND_TIMEOUT_S
        while True:
            status = run([sys.executable, "-m", "dvc", "queue", "status"], repo).stdout
            if ("Queued" not in status and "Running" not in status) or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert status.count("Success") == 2, status
        shown = run([sys.executable, "-m", "dvc", "exp", "show", "--json"], repo).stdout
        assert "lambda2" in shown and "lambda3" in shown
    finally:
        stop_queue_workers(repo)

    # Several hosts: experiments pushed to a shared git + DVC remote, pulled on another clone.
    remote, store = tmp_path / "remote.git", tmp_path / "dvc-store"
    run(["git", "init", "-q", "--bare", str(remote)], tmp_path)
    run(["git", "remote", "add", "origin", str(remote)], repo)
    run(["git", "push", "-q", "origin", "HEAD:main"], repo)
    run([sys.executable, "-m", "dvc", "remote", "add", "-d", "store", str(store)], repo)
    commit(repo, "a shared remote")
    run(["git", "push", "-q", "origin", "HEAD:main"], repo)
    run([sys.executable, "-m", "dvc", "exp", "push", "origin", "lambda2"], repo)
    other = tmp_path / "other"
    run(["git", "clone", "-q", "-b", "main", str(remote), str(other)], tmp_path)
    run([sys.executable, "-m", "dvc", "exp", "pull", "origin", "lambda2"], other)
    assert "lambda2" in run([sys.executable, "-m", "dvc", "exp", "show", "--all-commits", "--json"],
                            other).stdout

    # Changing only what the index reads re-runs the index, not the generator.
    params["index"]["use"] = ["casme2", "smic_hs"]
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert ran(run([sys.executable, "-m", "dvc", "repro", "index"], repo)) == {"index"}
    assert set(pd.read_csv(repo / "data" / "index" / "samples.csv")["database"]) == {"casme2", "smic_hs"}


def test_a_changed_frame_reruns_align_even_when_its_name_stays(tmp_path):
    """A user database outside data/raw/synthetic: half of one frame inverted (same file name)
    re-runs index and align; nothing changed re-runs nothing."""
    repo, params = fresh_clone(tmp_path)
    run([sys.executable, "-m", "dvc", "repro", "align"], repo)
    user = repo / "data" / "raw" / "user" / "CASME2"
    shutil.copytree(repo / "data" / "raw" / "synthetic" / "CASME2", user)
    params["databases"]["casme2"] = "data/raw/user/CASME2"
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert ran(run([sys.executable, "-m", "dvc", "repro", "align"], repo)) == {"index", "align"}
    before = pd.read_csv(repo / "data" / "index" / "samples.csv").set_index("sample_id")

    clip = before[before["database"] == "casme2"].iloc[0]
    frame = repo / clip["frame_dir"] / clip["frames"].split()[0]
    assert frame.is_relative_to(user)
    image = cv2.imread(str(frame))
    image[:, : image.shape[1] // 2] = 255 - image[:, : image.shape[1] // 2]
    cv2.imwrite(str(frame), image)
    assert ran(run([sys.executable, "-m", "dvc", "repro", "align"], repo)) == {"index", "align"}
    after = pd.read_csv(repo / "data" / "index" / "samples.csv").set_index("sample_id")
    differs = before.index[before["frames_sha256"] != after["frames_sha256"]]
    assert list(differs) == [clip.name]
    assert ran(run([sys.executable, "-m", "dvc", "repro", "align"], repo)) == set()


def test_a_fresh_clone_reproduces_the_committed_lock(tmp_path):
    """synthesize and index on the default params write the bytes dvc.lock records: the
    committed lock says what a fresh `dvc repro` makes."""
    repo, _ = fresh_clone(tmp_path, tiny=False)
    assert ran(run([sys.executable, "-m", "dvc", "repro", "synthesize", "index"], repo)) == {
        "synthesize", "index"}
    diff = run(["git", "diff", "--stat", "dvc.lock"], repo).stdout
    assert diff == "", f"dvc repro synthesize index changed dvc.lock:\n{diff}"
