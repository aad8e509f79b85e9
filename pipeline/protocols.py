"""Evaluation protocols: the sample table -> train/test folds of sample ids.

Only rows labelled under the fold's scheme take part, so a subject whose clips the scheme drops
gets no fold (CASME II sub10 and sub18 under megc3). Folds and their id lists are sorted, and
random splits are seeded, so one table always gives the same folds. A request that cannot work
(unknown database, scheme, protocol or key) is a ValueError naming what to change; the
`protocols` section of params.yaml is checked as typed specs (LOSO, LOVO, HDE, CDE, CDMER)
before any fold is made.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from pipeline.params import convert, section
from pipeline.schemes import SCHEMES


@dataclass(frozen=True)
class Fold:
    """Sample ids rather than rows, so a fold is cheap to log, compare and cache by value."""

    protocol: str                  # loso, lovo, hde, cde, cdmer
    name: str                      # held-out subject, part, or database pair
    train: tuple[str, ...]         # sample ids, sorted
    test: tuple[str, ...]          # sample ids, sorted
    scheme: str                    # the scheme (table column) the labels come from


# FR paper, Table 10 (feature-refinement.txt l.1359-1384): C, H, V, N = CASME II, SMIC-HS,
# SMIC-VIS, SMIC-NIR. Exp.1-6 are its Type-I tasks, Exp.7-12 Type-II.
CDMER_PAIRS: dict[str, tuple[str, str]] = {
    "Exp.1: H→V": ("smic_hs", "smic_vis"), "Exp.2: V→H": ("smic_vis", "smic_hs"),
    "Exp.3: H→N": ("smic_hs", "smic_nir"), "Exp.4: N→H": ("smic_nir", "smic_hs"),
    "Exp.5: V→N": ("smic_vis", "smic_nir"), "Exp.6: N→V": ("smic_nir", "smic_vis"),
    "Exp.7: C→H": ("casme2", "smic_hs"), "Exp.8: H→C": ("smic_hs", "casme2"),
    "Exp.9: C→V": ("casme2", "smic_vis"), "Exp.10: V→C": ("smic_vis", "casme2"),
    "Exp.11: C→N": ("casme2", "smic_nir"), "Exp.12: N→C": ("smic_nir", "casme2"),
}


def labelled(df: pd.DataFrame, databases: Sequence[str], scheme: str) -> pd.DataFrame:
    """Rows of `databases` with a label under `scheme`, sorted by sample id."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown class scheme {scheme!r}; choose from {', '.join(SCHEMES)}")
    if scheme not in df.columns:
        raise ValueError(f"the sample table has no {scheme!r} column; re-run the index stage")
    present = sorted(set(df["database"]))
    for db in databases:
        if db not in present:
            raise ValueError(f"database {db!r} is not in the sample table (it holds "
                             f"{', '.join(present)}); add it to index.use in params.yaml")
    filled = df[scheme].astype("string").fillna("").str.strip() != ""
    rows = df[filled & df["database"].isin(list(databases))].sort_values("sample_id")
    for db in databases:
        if not (rows["database"] == db).any():
            raise ValueError(f"no {db} sample has a {scheme} label; {scheme} labels "
                             f"{', '.join(SCHEMES[scheme].databases)}")
    return rows


def ids(rows: pd.DataFrame) -> tuple[str, ...]:
    return tuple(sorted(rows["sample_id"]))


def leave_subjects_out(protocol: str, rows: pd.DataFrame, scheme: str) -> Iterator[Fold]:
    """One fold per subject_id: that subject tests, every other subject trains."""
    subjects = sorted(set(rows["subject_id"]))
    if len(subjects) < 2:
        raise ValueError(f"{protocol} needs at least two subjects with a {scheme} label; "
                         f"found {len(subjects)}")
    return iter([Fold(protocol, s, ids(rows[rows["subject_id"] != s]),
                      ids(rows[rows["subject_id"] == s]), scheme) for s in subjects])


def stratified_parts(rows: pd.DataFrame, scheme: str, n: int, seed: int) -> list[tuple[str, ...]]:
    """Split rows into n parts whose sizes, overall and per class, differ by at most one: each
    class is shuffled (seeded) and dealt round-robin, continuing where the last class stopped."""
    rng = np.random.default_rng(seed)
    order: list[str] = []
    for cls in sorted(set(rows[scheme])):
        members = sorted(rows.loc[rows[scheme] == cls, "sample_id"])
        order += [members[i] for i in rng.permutation(len(members))]
    return [tuple(sorted(order[k::n])) for k in range(n)]


def loso(df: pd.DataFrame, database: str, scheme: str) -> Iterator[Fold]:
    """Leave-one-subject-out within one database."""
    return leave_subjects_out("loso", labelled(df, [database], scheme), scheme)


def cde(df: pd.DataFrame, databases: Sequence[str], scheme: str) -> Iterator[Fold]:
    """Composite database evaluation (MEGC 2019): the databases pooled, then LOSO over subjects
    namespaced by database (subject_id `casme2/sub01`), so equal folder names in two databases
    stay two people. megc3 over casme2, samm, smic_hs gives 24 + 28 + 16 = 68 folds on the
    real databases."""
    if isinstance(databases, str) or len(databases) < 2 or len(set(databases)) != len(databases):
        raise ValueError(f"cde needs a list of two or more different databases, got {databases!r}")
    return leave_subjects_out("cde", labelled(df, databases, scheme), scheme)


def hde(df: pd.DataFrame, train_db: str, test_db: str, scheme: str) -> Iterator[Fold]:
    """Holdout-database evaluation (MEGC 2018): train on one database, test on another."""
    if train_db == test_db:
        raise ValueError(f"hde needs two different databases, got {train_db!r} twice")
    train, test = labelled(df, [train_db], scheme), labelled(df, [test_db], scheme)
    return iter([Fold("hde", f"{train_db}->{test_db}", ids(train), ids(test), scheme)])


def lovo(df: pd.DataFrame, databases: str | Sequence[str], scheme: str,
         test_fraction: float = 0.05, seed: int = 0) -> Iterator[Fold]:
    """STRCN's leave-videos-out: instead of one video per evaluation, each evaluation tests
    `test_fraction` of the videos (5 %, strcn.txt l.993-996 and l.1180-1182). The videos are
    dealt into round(1 / test_fraction) class-stratified parts (seeded) and each part tests
    once, so pooled predictions cover every video, as leaving one out would. With fewer videos
    than parts every video is its own part. LOVO is subject-dependent by the paper's design:
    a subject's other clips are in training (strcn.txt l.1228-1229). Several databases are
    pooled first (STRCN's Table VI, CASME II + SAMM)."""
    databases = [databases] if isinstance(databases, str) else list(databases)
    if not 0 < test_fraction <= 0.5:
        raise ValueError(f"lovo test_fraction must be in (0, 0.5], got {test_fraction}")
    rows = labelled(df, databases, scheme)
    n = min(round(1 / test_fraction), len(rows))
    name = "+".join(databases)
    if n < 2:
        raise ValueError(f"lovo needs at least two {name} samples with a {scheme} label")
    everything = set(rows["sample_id"])
    parts = stratified_parts(rows, scheme, n, seed)
    return iter([Fold("lovo", f"{name}/part{k + 1:02d}", tuple(sorted(everything - set(part))),
                      part, scheme) for k, part in enumerate(parts)])


def cdmer(df: pd.DataFrame, source: str, target: str, scheme: str, n_folds: int = 5,
          seed: int = 0) -> Iterator[Fold]:
    """Cross-database MER as the FR paper runs it ("CDMER protocol 1 [41]. Five-fold cross
    validation", feature-refinement.txt l.1411-1412; Table 8 l.1211-1217): "the model is trained
    on the source dataset and tested on the target dataset" (l.619-620). Every fold therefore
    trains on all labelled source samples and on no target sample (FR uses none, labelled or
    not); the target is dealt into n_folds class-stratified parts (seeded), each the test set of
    one fold, so the pooled folds test every target sample once, as the benchmark's accuracies
    count them (Table 4: 0.4846 = 63/130 on CASME II, 0.4512 = 74/164 on SMIC-HS)."""
    if source == target:
        raise ValueError(f"cdmer needs two different databases, got {source!r} twice")
    if n_folds < 2:
        raise ValueError(f"cdmer n_folds must be at least 2, got {n_folds}")
    train, test = labelled(df, [source], scheme), labelled(df, [target], scheme)
    pair = next((name for name, p in CDMER_PAIRS.items() if p == (source, target)),
                f"{source}->{target}")
    parts = stratified_parts(test, scheme, min(n_folds, len(test)), seed)
    return iter([Fold("cdmer", f"{pair} fold {k + 1}", ids(train), part, scheme)
                 for k, part in enumerate(parts)])


PROTOCOLS = {"loso": loso, "lovo": lovo, "hde": hde, "cde": cde, "cdmer": cdmer}


# --------------------------------------------------------------------------- params.yaml

def check_scheme(scheme: str) -> None:
    if scheme not in SCHEMES:
        raise ValueError(f"scheme: unknown class scheme {scheme!r}; choose from {', '.join(SCHEMES)}")


@dataclass(frozen=True)
class LOSO:
    """Leave one subject out of one database."""

    protocol: Literal["loso"]
    database: str              # an `index.use` key
    scheme: str                # a class scheme (pipeline/schemes.py)

    def check(self) -> None:
        check_scheme(self.scheme)


@dataclass(frozen=True)
class LOVO:
    """STRCN's leave-videos-out: class-stratified parts of `test_fraction` of the videos."""

    protocol: Literal["lovo"]
    databases: list[str]       # one database, or several pooled
    scheme: str
    test_fraction: float       # share of the videos each evaluation tests (STRCN: 0.05)
    seed: int                  # of the stratified split

    def check(self) -> None:
        check_scheme(self.scheme)
        if not 0 < self.test_fraction <= 0.5:
            raise ValueError(f"test_fraction: must be in (0, 0.5], got {self.test_fraction}")


@dataclass(frozen=True)
class HDE:
    """Train on one database, test on another (MEGC 2018)."""

    protocol: Literal["hde"]
    train_db: str
    test_db: str
    scheme: str

    def check(self) -> None:
        check_scheme(self.scheme)
        if self.train_db == self.test_db:
            raise ValueError(f"test_db: must differ from train_db ({self.train_db})")


@dataclass(frozen=True)
class CDE:
    """Composite database evaluation (MEGC 2019): LOSO over the pooled databases."""

    protocol: Literal["cde"]
    databases: list[str]       # two or more `index.use` keys
    scheme: str

    def check(self) -> None:
        check_scheme(self.scheme)
        if len(self.databases) < 2 or len(set(self.databases)) != len(self.databases):
            raise ValueError(f"databases: name two or more different databases, got {self.databases}")


@dataclass(frozen=True)
class CDMER:
    """FR's cross-database protocol: train on the source, n_folds stratified target parts."""

    protocol: Literal["cdmer"]
    source: str
    target: str
    scheme: str
    n_folds: int               # target parts, each the test set of one fold (FR: 5)
    seed: int                  # of the stratified split

    def check(self) -> None:
        check_scheme(self.scheme)
        if self.source == self.target:
            raise ValueError(f"target: must differ from source ({self.source})")
        if self.n_folds < 2:
            raise ValueError(f"n_folds: must be at least 2, got {self.n_folds}")


ProtocolSpec = LOSO | LOVO | HDE | CDE | CDMER


def parse_protocols(params: dict) -> dict[str, ProtocolSpec]:
    """params.yaml's `protocols` section, checked: {name: spec}."""
    return convert(section(params, "protocols"), dict[str, ProtocolSpec], "protocols")


def make_folds(df: pd.DataFrame, spec: ProtocolSpec | dict) -> list[Fold]:
    """Folds of the sample table under a protocol spec (or the same as a params-style dict,
    e.g. {"protocol": "cde", "databases": [...], "scheme": "megc3"})."""
    if isinstance(spec, dict):
        spec = convert(spec, ProtocolSpec, "protocol")
    arguments = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)
                 if f.name != "protocol"}
    return list(PROTOCOLS[spec.protocol](df, **arguments))
