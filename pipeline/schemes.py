"""Class schemes: how each paper groups the databases' native labels into the classes it trains on.

The papers disagree on classes (CASME II's five emotions, MEGC 2019's three, STRCN's four, the
AU-based objective classes), so the index stores one column per scheme, named by its key, and a
protocol only has to keep the rows whose column is filled. Native labels are matched without
regard to case; a label a scheme does not list for a database leaves that sample out (None).
Labels no database has never get here: the adapters stop on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from pipeline.aus import parse_aus

SMIC = ("smic_hs", "smic_vis", "smic_nir")
# Davison, Merghani & Yap 2018, "Objective Classes for Micro-Facial Expression Recognition",
# J. Imaging 4(10):119, Table 2 (reprinted as Table 9 of Merghani, Davison & Yap 2018,
# arXiv:1805.02397; its "A23" in class III is AU23). Class VII is "Others": every other set.
# The table enumerates AU sets rather than stating a decision rule; we match a clip's set of AUs
# exactly, because the table lists supersets next to their subsets within one class (4, 4+7,
# 4+5+7; 6, 6+12, 6+7+12; 4+9, 4+7+9), which would be redundant if containing a listed set were
# enough. SAMM ships the class in its Objective Classes column, which a clip keeps; CASME II
# ships none, so its clips get the class of their AUs by this table.
OBJECTIVE_AUS: dict[int, tuple[str, ...]] = {
    1: ("6", "12", "6+12", "6+7+12", "7+12"),                                  # happiness
    2: ("1+2", "5", "25", "1+2+25", "25+26", "5+24"),                           # surprise
    3: ("23", "4", "4+7", "4+5", "4+5+7", "17+24", "4+6+7", "4+38"),            # anger
    4: ("10", "9", "4+9", "4+40", "4+5+40", "4+7+9", "4+9+17", "4+7+10", "4+5+7+9",
        "7+10"),                                                                # disgust
    5: ("1", "15", "1+4", "6+15", "15+17"),                                     # sadness
    6: ("1+2+4", "20"),                                                         # fear
}
OBJECTIVE_OF_AUS = {frozenset(int(au) for au in combo.split("+")): number
                    for number, combos in OBJECTIVE_AUS.items() for combo in combos}
# Micro-Attention and MEGC 2018 keep classes I-V; VI (fear) and VII (others) are dropped.
OBJECTIVE_NAMES = {1: "I", 2: "II", 3: "III", 4: "IV", 5: "V"}


def au_set(action_units: object) -> frozenset[int]:
    """'1+2+L4' -> {1, 2, 4}, by pipeline.aus.parse_aus: side and intensity dropped; a '?', an
    alternative ('6 or 12') or a referred AU ('ref(6)') is the coder's doubt, not absence, so
    the AU is kept; a static AU (4DME's '(k)') is not part of the movement and is left out;
    pieces that are no AU are left out here and reported by the index."""
    return parse_aus(action_units).numbers()


def objective_from_aus(action_units: str) -> int:
    """Davison et al.'s objective class (1..7) of an AU string; 7 when no listed set matches."""
    return OBJECTIVE_OF_AUS.get(au_set(action_units), 7)


@dataclass(frozen=True)
class Scheme:
    """One paper's grouping, kept as data so the index can label every clip under all of them
    and the report can count them side by side."""

    key: str                                   # column name in the sample table
    classes: tuple[str, ...]                   # class names, in the order networks index them
    databases: tuple[str, ...]                 # adapter keys the scheme labels
    doc: str                                   # who uses it, where the grouping comes from
    groups: dict[str, dict[str, str]] = field(default_factory=dict)  # db -> native (lower) -> class
    from_aus: bool = False                     # objective classes: from AUs, not emotions


def grouped(classes: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """{'negative': ('disgust', 'fear')} -> {'disgust': 'negative', 'fear': 'negative'}."""
    return {native.lower(): cls for cls, natives in classes.items() for native in natives}


def same(*labels: str) -> dict[str, str]:
    return grouped({label: (label,) for label in labels})


THREE = ("negative", "positive", "surprise")
CASME2_5 = ("happiness", "surprise", "disgust", "repression", "others")
SAMM_5 = ("Anger", "Contempt", "Happiness", "Surprise", "Other")
FOUR = grouped({"negative": ("disgust", "sadness", "fear", "contempt", "comtempt", "anger"),
                "positive": ("happiness",), "surprise": ("surprise",),
                "others": ("repression", "tense", "others", "other")})
MEGC_CASME2 = grouped({"negative": ("disgust", "repression"), "positive": ("happiness",),
                       "surprise": ("surprise",)})
MEGC_SAMM = grouped({"negative": ("Anger", "Contempt", "Disgust", "Fear", "Sadness"),
                     "positive": ("Happiness",), "surprise": ("Surprise",)})
CDMER_CASME2 = grouped({"negative": ("disgust", "sadness", "fear"), "positive": ("happiness",),
                        "surprise": ("surprise",)})

CASME3_7 = ("happy", "fear", "sad", "disgust", "anger", "surprise", "others")
CASME3_NEGATIVE = ("disgust", "fear", "anger", "sad")
CASME3_4 = grouped({"negative": CASME3_NEGATIVE, "positive": ("happy",),
                    "surprise": ("surprise",), "others": ("others",)})
CASME3_3 = grouped({"negative": CASME3_NEGATIVE, "positive": ("happy",), "surprise": ("surprise",)})
CASME_SQ_4 = ("positive", "negative", "surprise", "others")
MMEW_6 = ("happiness", "surprise", "anger", "disgust", "fear", "sadness")
FOURDME_5 = ("positive", "negative", "surprise", "repression", "others")
# 4DME's multi-label rows for three classes: a surprise with a valence is a surprise, and
# repression holds the other emotion back without replacing it; rows of repression or others
# alone stay out.
FOURDME_3_ALL = grouped({"negative": ("negative", "negative+repression"),
                         "positive": ("positive", "positive+repression"),
                         "surprise": ("surprise", "surprise+positive", "surprise+negative",
                                      "surprise+repression")})

SCHEMES: dict[str, Scheme] = {s.key: s for s in [
    Scheme("casme2_5", CASME2_5, ("casme2", "videos"),
           "CASME II's five emotions (SMA-STN, STANet, FR); fear and sadness dropped. The papers' "
           "247 samples are an earlier label revision: the 255-row coding sheet gives 246. Your "
           "own recordings (videos.csv) use CASME II's spellings and its schemes.",
           {"casme2": same(*CASME2_5), "videos": same(*CASME2_5)}),
    Scheme("casme2_7", CASME2_5 + ("fear", "sadness"), ("casme2", "videos"),
           "Every CASME II label.", {"casme2": same(*CASME2_5, "fear", "sadness"),
                                     "videos": same(*CASME2_5, "fear", "sadness")}),
    Scheme("samm_5", SAMM_5, ("samm",),
           "SAMM classes with more than 10 samples (SMA-STN).", {"samm": same(*SAMM_5)}),
    Scheme("four", ("negative", "positive", "surprise", "others"),
           ("casme2", "samm", *SMIC, "casme", "casme3", "casme_sq", "mmew", "videos"),
           "STRCN and FR single-database: positive = happiness; negative = disgust, sadness, "
           "fear, contempt, anger; others = repression, tense, others; SMIC's folder classes; "
           "CAS(ME)^3's four and CAS(ME)^2's own four.",
           {"casme2": FOUR, "samm": FOUR, "casme": FOUR, "mmew": FOUR, "videos": FOUR,
            "casme3": CASME3_4, "casme_sq": same("negative", "positive", "surprise", "others"),
            **{db: same(*THREE) for db in SMIC}}),
    Scheme("megc3", THREE, ("casme2", "samm", "smic_hs"),
           "MEGC 2019 composite (CDE): CASME II negative = disgust, repression; SAMM negative = "
           "Anger, Contempt, Disgust, Fear, Sadness; SMIC-HS as is; others/Other (and CASME II "
           "fear, sadness) dropped.",
           {"casme2": MEGC_CASME2, "samm": MEGC_SAMM, "smic_hs": same(*THREE)}),
    Scheme("cdmer3", THREE, ("casme2", *SMIC),
           "FR's CDMER (feature-refinement Table 11): CASME II negative = disgust, sadness, "
           "fear (repression and others dropped); SMIC HS/VIS/NIR folder classes.",
           {"casme2": CDMER_CASME2, **{db: same(*THREE) for db in SMIC}}),
    Scheme("objective", tuple(OBJECTIVE_NAMES.values()), ("casme2", "samm"),
           "Objective classes I-V (happiness, surprise, anger, disgust, sadness) of Davison et "
           "al. 2018 for Micro-Attention and MEGC 2018: the Objective Classes column where the "
           "database ships one (SAMM), else the AU table OBJECTIVE_AUS; VI and VII dropped.",
           from_aus=True),
    Scheme("smic3", THREE, SMIC, "SMIC's three folder classes.",
           {db: same(*THREE) for db in SMIC}),
    Scheme("casme4", ("disgust", "repression", "surprise", "tense"), ("casme",),
           "STANet's four CASME (I) classes.",
           {"casme": same("disgust", "repression", "surprise", "tense")}),
    Scheme("casme3_7", CASME3_7, ("casme3",),
           "CAS(ME)^3 part A's seven emotions (as MMNet trains on them); the sheet's 3 'Others' "
           "rows are folded into others by the adapter.", {"casme3": same(*CASME3_7)}),
    Scheme("casme3_4", ("negative", "positive", "surprise", "others"), ("casme3",),
           "CAS(ME)^3 part A, 4 classes: negative = disgust, fear, anger, sad; positive = happy.",
           {"casme3": CASME3_4}),
    Scheme("casme3_3", THREE, ("casme3",),
           "CAS(ME)^3 part A, 3 classes (MEGC 2022+): the 4 minus others.", {"casme3": CASME3_3}),
    Scheme("casme_sq4", CASME_SQ_4, ("casme_sq",),
           "CAS(ME)^2's four emotion classes as coded.", {"casme_sq": same(*CASME_SQ_4)}),
    Scheme("mmew_7", MMEW_6 + ("others",), ("mmew",),
           "Every MMEW label: the six basic emotions and others.",
           {"mmew": same(*MMEW_6, "others")}),
    Scheme("mmew_6", MMEW_6, ("mmew",),
           "MMEW's six basic emotions; others dropped.", {"mmew": same(*MMEW_6)}),
    Scheme("fourdme_5", FOURDME_5, ("fourdme",),
           "4DME's five emotion categories, single-label rows only: a row labelled with two "
           "(Surprise+Positive ...) belongs to neither class and is left out.",
           {"fourdme": same(*FOURDME_5)}),
    Scheme("fourdme3", THREE, ("fourdme",),
           "4DME negative / positive / surprise, single-label rows only; repression and others "
           "dropped.", {"fourdme": same(*THREE)}),
    Scheme("fourdme3_all", THREE, ("fourdme",),
           "4DME negative / positive / surprise with its multi-label rows: Surprise+Positive, "
           "Surprise+Negative, Surprise+Repression -> surprise; Positive+Repression -> positive; "
           "Negative+Repression -> negative; Repression and Others alone dropped.",
           {"fourdme": FOURDME_3_ALL}),
]}


def label(scheme_key: str, database: str, emotion: str, action_units: str = "",
          objective_class: int | None = None) -> str | None:
    """The class of one sample under a scheme, or None when the scheme leaves it out."""
    if scheme_key not in SCHEMES:
        raise ValueError(f"unknown class scheme {scheme_key!r}; choose from {', '.join(SCHEMES)}")
    scheme = SCHEMES[scheme_key]
    if database not in scheme.databases:
        return None
    if scheme.from_aus:
        number = objective_from_aus(action_units) if objective_class is None else objective_class
        return OBJECTIVE_NAMES.get(int(number))
    return scheme.groups[database].get(str(emotion).strip().lower())


def add_scheme_columns(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of the sample table with one string column per scheme (NA: not in the scheme)."""
    out = df.copy()
    missing = pd.Series(None, index=out.index, dtype=object)
    aus = out["action_units"] if "action_units" in out else missing
    objective = out["objective_class"] if "objective_class" in out else missing
    rows = [(db, emotion, "" if pd.isna(a) else str(a), None if pd.isna(o) else int(o))
            for db, emotion, a, o in zip(out["database"], out["emotion"], aus, objective)]
    for key in SCHEMES:
        out[key] = pd.array([label(key, *row) for row in rows], dtype="string")
    return out
