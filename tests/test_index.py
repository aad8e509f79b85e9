"""The `index` stage on the tiny synthetic database: table, schemes, report, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipeline.databases.common import DatabaseError
from pipeline.index import build_index, main, summarise
from pipeline.protocols import make_folds
from pipeline.samples import read_samples
from tests.conftest import REPO


def roots_of(root: Path) -> dict:
    return {"casme2": str(root / "CASME2"), "samm": str(root / "SAMM"), "smic": str(root / "SMIC"),
            "casme": str(root / "CASME"), "casme3": str(root / "CASME3"),
            "casme_sq": str(root / "CASME_sq"), "mmew": str(root / "MMEW"),
            "fourdme": str(root / "4DME"), "videos": str(root / "VIDEOS"),
            "megc2019_gt": str(root / "MEGC2019" / "combined_3class_gt.csv")}


def write_params(path: Path, root: Path, use: list[str], gt: bool = True) -> Path:
    index = {"use": use, "megc3": "list" if gt else "rule"}
    path.write_text(yaml.safe_dump({"databases": roots_of(root), "index": index}))
    return path


def test_table_has_one_row_per_clip_with_scheme_labels(tiny_synthetic, tmp_path):
    root, params = tiny_synthetic
    main(str(write_params(tmp_path / "params.yaml", root, ["casme2", "samm", "smic_hs"])),
         str(tmp_path / "index"))
    table = read_samples(tmp_path / "index" / "samples.csv")
    assert table["sample_id"].is_unique
    assert set(table["database"]) == {"casme2", "samm", "smic_hs"}
    # every written clip but the one folder without a spreadsheet row
    assert len(table) == params["casme2"]["clips"] - 1 + params["samm"]["clips"] + params["smic_hs"]["clips"]
    assert table["subject_id"].str.startswith(tuple(f"{db}/" for db in ("casme2", "samm", "smic_hs"))).all()
    smic = table[table["database"] == "smic_hs"]
    assert smic["apex"].isna().all() and (smic["megc3"] == smic["emotion"]).all()
    casme2 = table[table["database"] == "casme2"]
    assert casme2.loc[casme2["emotion"] == "happiness", "megc3"].eq("positive").all()
    assert casme2.loc[casme2["emotion"] == "others", "megc3"].isna().all()
    frames = table.iloc[0]["frames"].split()
    assert len(frames) == table.iloc[0]["n_frames"]
    assert all((Path(table.iloc[0]["frame_dir"]) / f).exists() for f in frames)

    report = json.loads((tmp_path / "index" / "report.json").read_text())
    assert report["samples"] == len(table)
    assert report["schemes"]["megc3"]["samples"] == int(table["megc3"].notna().sum())
    reasons = " ".join(i["reason"] for i in report["repaired"] + report["skipped"])
    assert "apex" in reasons and "no annotation row" in reasons
    text = (tmp_path / "index" / "report.md").read_text()
    assert "## Repaired rows" in text and "## Skipped rows" in text and "megc3" in text


def test_composite_list_and_rule_agree_on_synthetic_data(tiny_synthetic):
    root, _ = tiny_synthetic
    use = ["casme2", "samm", "smic_hs"]
    with_gt, issues = build_index(use, roots_of(root), roots_of(root)["megc2019_gt"])
    by_rule, _ = build_index(use, roots_of(root), None)
    pd.testing.assert_series_equal(with_gt["megc3"], by_rule["megc3"])
    assert not [i for i in issues if "composite list" in i.reason]


def test_composite_list_overrides_the_rule_and_reports_it(tiny_synthetic, tmp_path):
    root, _ = tiny_synthetic
    gt = (root / "MEGC2019" / "combined_3class_gt.csv").read_text().splitlines()
    dropped = gt[0].split(",")
    edited = tmp_path / "gt.csv"
    edited.write_text("\n".join(gt[1:]) + "\n")
    table, issues = build_index(["casme2", "samm", "smic_hs"], roots_of(root), str(edited))
    assert len([i for i in issues if "composite list" in i.reason]) == 1
    assert table["megc3"].notna().sum() == len(gt) - 1
    assert dropped[2] in [i.clip.split("/")[-1] for i in issues if "composite list" in i.reason]


def test_unknown_database_and_missing_root_are_one_line_errors(tiny_synthetic, tmp_path):
    root, _ = tiny_synthetic
    with pytest.raises(DatabaseError, match="unknown database 'casme4'"):
        build_index(["casme4"], roots_of(root), None)
    roots = dict(roots_of(root), casme2=str(tmp_path / "nowhere"))
    with pytest.raises(DatabaseError) as error:
        build_index(["casme2"], roots, None)
    assert "nowhere" in str(error.value) and "\n" not in str(error.value)


def test_stage_fails_cleanly_and_writes_nothing(tiny_synthetic, tmp_path):
    root, _ = tiny_synthetic
    params = write_params(tmp_path / "params.yaml", root, ["casme2"])
    bad = yaml.safe_load(params.read_text())
    bad["databases"]["casme2"] = str(tmp_path / "missing")
    params.write_text(yaml.safe_dump(bad))
    run = subprocess.run([sys.executable, "-m", "pipeline.index", str(params), str(tmp_path / "out")],
                         cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert "missing" in run.stderr
    assert not (tmp_path / "out").exists()


def test_summary_counts_subjects_per_database(tiny_synthetic):
    root, params = tiny_synthetic
    table, issues = build_index(["casme2", "samm", "smic_hs", "smic_vis", "smic_nir", "casme"],
                                roots_of(root), None)
    summary = summarise(table, issues)
    assert summary["databases"]["samm"]["subjects"] == params["samm"]["subjects"]
    assert summary["databases"]["smic_vis"]["samples"] == params["smic_vis"]["clips"]
    assert summary["schemes"]["casme4"]["per_database"] == {"casme": int(table["casme4"].notna().sum())}


LATER = ["casme3", "casme_sq", "mmew", "fourdme", "videos"]


def test_every_database_indexes_and_its_protocols_make_folds(tiny_synthetic, tmp_path):
    """All eleven adapters on the synthetic copies at once: every database in the table and the
    report, and every params.yaml protocol on the later databases makes leak-free folds."""
    root, params = tiny_synthetic
    use = ["casme2", "samm", "smic_hs", "smic_vis", "smic_nir", "casme", *LATER]
    main(str(write_params(tmp_path / "params.yaml", root, use)), str(tmp_path / "index"))
    table = read_samples(tmp_path / "index" / "samples.csv")
    assert set(table["database"]) == set(use)
    assert (table[table["database"] == "videos"]["frame_dir"].str.startswith(
        str(tmp_path / "frames" / "videos"))).all()
    report = (tmp_path / "index" / "report.md").read_text()
    assert all(f"| {db} |" in report for db in use)
    protocols = yaml.safe_load((REPO / "params.yaml").read_text())["protocols"]
    later = {name: spec for name, spec in protocols.items()
             if spec.get("database") in LATER or set(spec.get("databases", [])) & set(LATER)}
    assert {spec["database"] for spec in later.values()} == {"casme3", "casme_sq", "mmew", "fourdme"}
    for name, spec in later.items():
        folds = make_folds(table, spec)
        assert len(folds) >= 2, name
        for fold in folds:
            subjects = dict(zip(table["sample_id"], table["subject_id"]))
            assert not {subjects[i] for i in fold.train} & {subjects[i] for i in fold.test}, name
