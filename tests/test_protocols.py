"""Protocols: folds never leak a held-out subject or target sample into training, cover exactly
the scheme's samples, are deterministic, and bad specs fail with a clear message."""

from __future__ import annotations

from collections import Counter
from itertools import permutations

import pandas as pd
import pytest

from pipeline.protocols import CDMER_PAIRS, Fold, cdmer, cde, hde, lovo, loso, make_folds
from pipeline.schemes import add_scheme_columns
from test_schemes import real_table


def table(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    """(database, subject, clip, emotion) rows -> a sample table with scheme columns."""
    return add_scheme_columns(pd.DataFrame([
        {"sample_id": f"{db}/{s}/{c}", "database": db, "subject": s, "subject_id": f"{db}/{s}",
         "clip": c, "emotion": e, "action_units": "", "objective_class": None}
        for db, s, c, e in rows]))


def small() -> pd.DataFrame:
    """CASME II with a subject holding only others; SMIC-HS with a subject named like one of
    CASME II's; a little SAMM and CASME (I)."""
    rows = [("casme2", "sub01", "EP01", "happiness"), ("casme2", "sub01", "EP02", "disgust"),
            ("casme2", "sub02", "EP01", "surprise"), ("casme2", "sub02", "EP02", "others"),
            ("casme2", "sub03", "EP01", "others"), ("casme2", "s1", "EP01", "repression"),
            ("smic_hs", "s1", "s1_ne_01", "negative"), ("smic_hs", "s1", "s1_po_01", "positive"),
            ("smic_hs", "s2", "s2_sur_01", "surprise"), ("smic_hs", "s3", "s3_ne_01", "negative"),
            ("samm", "006", "006_1_1", "Anger"), ("samm", "007", "007_1_1", "Happiness"),
            ("casme", "sub01", "EP01", "tense")]
    return table(rows)


def labelled_ids(df: pd.DataFrame, databases: list[str], scheme: str) -> set[str]:
    rows = df[df["database"].isin(databases) & df[scheme].notna()]
    return set(rows["sample_id"])


def subjects(df: pd.DataFrame, sample_ids: tuple[str, ...]) -> set[str]:
    return set(df.set_index("sample_id").loc[list(sample_ids), "subject_id"])


def check_subject_folds(df: pd.DataFrame, folds: list[Fold], databases: list[str], scheme: str):
    expected = labelled_ids(df, databases, scheme)
    for fold in folds:
        assert not subjects(df, fold.train) & subjects(df, fold.test), fold.name
        assert subjects(df, fold.test) == {fold.name}
        assert set(fold.train) | set(fold.test) == expected and not set(fold.train) & set(fold.test)
        assert list(fold.train) == sorted(fold.train) and list(fold.test) == sorted(fold.test)
    assert sorted(set().union(*(f.test for f in folds))) == sorted(expected)
    assert [f.name for f in folds] == sorted(f.name for f in folds)


def test_loso_one_fold_per_labelled_subject():
    df = small()
    folds = list(loso(df, "casme2", "megc3"))
    # sub03 holds only others: no megc3 sample, no fold.
    assert [f.name for f in folds] == ["casme2/s1", "casme2/sub01", "casme2/sub02"]
    assert {f.protocol for f in folds} == {"loso"} and {f.scheme for f in folds} == {"megc3"}
    check_subject_folds(df, folds, ["casme2"], "megc3")
    assert "casme2/sub02/EP02" not in set().union(*(set(f.train) | set(f.test) for f in folds))


def test_cde_namespaces_subjects_by_database():
    df = small()
    folds = list(cde(df, ["casme2", "smic_hs"], "megc3"))
    names = [f.name for f in folds]
    assert "casme2/s1" in names and "smic_hs/s1" in names and len(names) == 6
    check_subject_folds(df, folds, ["casme2", "smic_hs"], "megc3")
    casme2_s1 = next(f for f in folds if f.name == "casme2/s1")
    assert casme2_s1.test == ("casme2/s1/EP01",)
    assert {"smic_hs/s1/s1_ne_01", "smic_hs/s1/s1_po_01"} <= set(casme2_s1.train)


def test_cde_on_the_real_composite_gives_68_folds():
    df = real_table()
    folds = list(cde(df, ["casme2", "samm", "smic_hs"], "megc3"))
    assert len(folds) == 68
    assert sum(len(f.test) for f in folds) == 147 + 133 + 164
    check_subject_folds(df, folds, ["casme2", "samm", "smic_hs"], "megc3")


def test_hde_uses_only_the_two_databases():
    df = small()
    [fold] = list(hde(df, "casme2", "samm", "four"))
    assert fold.name == "casme2->samm" and fold.protocol == "hde"
    assert set(fold.train) == labelled_ids(df, ["casme2"], "four")
    assert set(fold.test) == labelled_ids(df, ["samm"], "four")
    with pytest.raises(ValueError, match="two different databases"):
        list(hde(df, "samm", "samm", "four"))


def test_cdmer_pairs_are_the_papers_twelve():
    assert list(CDMER_PAIRS) == ["Exp.1: H→V", "Exp.2: V→H", "Exp.3: H→N", "Exp.4: N→H",
                                 "Exp.5: V→N", "Exp.6: N→V", "Exp.7: C→H", "Exp.8: H→C",
                                 "Exp.9: C→V", "Exp.10: V→C", "Exp.11: C→N", "Exp.12: N→C"]
    letter = {"C": "casme2", "H": "smic_hs", "V": "smic_vis", "N": "smic_nir"}
    for name, (source, target) in CDMER_PAIRS.items():
        s, t = name.split(": ")[1].split("→")
        assert (letter[s], letter[t]) == (source, target)
    assert set(CDMER_PAIRS.values()) == set(permutations(letter.values(), 2))
    type_one = [p for p in list(CDMER_PAIRS.values())[:6]]
    assert all("casme2" not in p for p in type_one)


def test_cdmer_trains_on_the_source_and_tests_each_target_sample_once():
    df = real_table()
    folds = list(cdmer(df, "casme2", "smic_hs", "cdmer3"))
    target = labelled_ids(df, ["smic_hs"], "cdmer3")
    source = labelled_ids(df, ["casme2"], "cdmer3")
    assert len(folds) == 5 and folds[0].name == "Exp.7: C→H fold 1"
    for fold in folds:
        assert set(fold.train) == source and not set(fold.train) & target
        assert set(fold.test) <= target
    tested = [s for f in folds for s in f.test]
    assert sorted(tested) == sorted(target)
    labels = df.set_index("sample_id")["cdmer3"]
    for fold in folds:    # stratified: 70/51/43 over five folds -> 14, 10-11, 8-9 per fold
        per_class = Counter(labels[list(fold.test)])
        assert per_class["negative"] == 14 and per_class["positive"] in (10, 11)
        assert per_class["surprise"] in (8, 9)
    assert list(cdmer(df, "smic_hs", "casme2", "cdmer3"))[0].name.startswith("Exp.8: H→C")
    assert list(cdmer(df, "samm", "casme2", "four"))[0].name.startswith("samm->casme2")


def test_lovo_holds_out_five_percent_stratified_and_seeded():
    df = real_table()
    folds = list(lovo(df, "casme2", "casme2_5"))
    everything = labelled_ids(df, ["casme2"], "casme2_5")
    assert len(folds) == 20 and len(everything) == 246
    assert {len(f.test) for f in folds} <= {12, 13}     # 246 / 20 = 12.3
    assert sorted(s for f in folds for s in f.test) == sorted(everything)
    labels = df.set_index("sample_id")["casme2_5"]
    for fold in folds:
        assert set(fold.train) == everything - set(fold.test)
        per_class = Counter(labels[list(fold.test)])
        assert per_class["others"] in (4, 5) and per_class["disgust"] in (3, 4)   # 99/20, 63/20
    # Subject-dependent by design: a held-out video's subject also trains.
    assert subjects(df, folds[0].test) & subjects(df, folds[0].train)
    assert list(lovo(df, "casme2", "casme2_5")) == folds
    assert list(lovo(df, "casme2", "casme2_5", seed=1)) != folds
    assert len(list(lovo(df, "casme2", "casme2_5", test_fraction=0.25))) == 4


def test_lovo_with_fewer_samples_than_parts():
    df = small()
    folds = list(lovo(df, "smic_hs", "smic3"))
    assert len(folds) == 4 and all(len(f.test) == 1 for f in folds)
    with pytest.raises(ValueError, match="test_fraction"):
        list(lovo(df, "smic_hs", "smic3", test_fraction=0.9))


def test_make_folds_matches_the_generators():
    df = small()
    assert make_folds(df, {"protocol": "loso", "database": "casme2", "scheme": "megc3"}) == \
        list(loso(df, "casme2", "megc3"))
    assert make_folds(df, {"protocol": "cde", "databases": ["casme2", "smic_hs"],
                           "scheme": "megc3"}) == list(cde(df, ["casme2", "smic_hs"], "megc3"))
    assert make_folds(df, {"protocol": "hde", "train_db": "samm", "test_db": "casme2",
                           "scheme": "four"}) == list(hde(df, "samm", "casme2", "four"))
    assert make_folds(df, {"protocol": "lovo", "databases": ["smic_hs"], "scheme": "smic3",
                           "test_fraction": 0.05, "seed": 3}) == list(lovo(df, "smic_hs", "smic3", seed=3))
    assert make_folds(df, {"protocol": "cdmer", "source": "casme2", "target": "smic_hs",
                           "scheme": "cdmer3", "n_folds": 2, "seed": 0}) == \
        list(cdmer(df, "casme2", "smic_hs", "cdmer3", n_folds=2))


@pytest.mark.parametrize("spec, message", [
    ({"protocol": "kfold", "database": "casme2", "scheme": "megc3"},
     "protocol.protocol: 'kfold' .* is not allowed; use one of loso, lovo, hde, cde, cdmer"),
    ({"database": "casme2", "scheme": "megc3"}, "protocol.protocol: nothing is not allowed"),
    ({"protocol": "loso", "database": "casme2", "scheme": "megc3", "seed": 1},
     "protocol.seed: unknown key; protocol takes: protocol, database, scheme"),
    ({"protocol": "loso", "scheme": "megc3"}, "protocol.database: missing key"),
    ({"protocol": "loso", "database": "smic_vis", "scheme": "smic3"},
     "database 'smic_vis' is not in the sample table"),
    ({"protocol": "loso", "database": "casme2", "scheme": "megc5"},
     "protocol.scheme: unknown class scheme 'megc5'"),
    ({"protocol": "loso", "database": "casme2", "scheme": "samm_5"},
     "no casme2 sample has a samm_5 label"),
    ({"protocol": "cde", "databases": "casme2", "scheme": "megc3"},
     "protocol.databases: expected a list of strings"),
    ({"protocol": "cde", "databases": ["casme2"], "scheme": "megc3"}, "two or more different"),
    ({"protocol": "cdmer", "source": "smic_hs", "target": "smic_hs", "scheme": "smic3",
      "n_folds": 5, "seed": 0}, "protocol.target: must differ from source"),
])
def test_make_folds_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        make_folds(small(), spec)


def test_missing_scheme_column_is_an_error():
    df = small().drop(columns=["megc3"])
    with pytest.raises(ValueError, match="no 'megc3' column; re-run the index stage"):
        list(loso(df, "casme2", "megc3"))
