"""The AU parser against the spellings the real sheets use (../shared/notes/datasets*.md)."""

from __future__ import annotations

import pytest

from pipeline.aus import ActionUnit, parse_aus
from pipeline.schemes import au_set, objective_from_aus


@pytest.mark.parametrize("cell, units", [
    ("4", ["4"]),
    ("AU4", ["4"]),                                      # prefixes
    ("A12", ["12"]),
    ("A14C", ["14C"]),
    ("AU6+AU12", ["6", "12"]),
    ("R12C", ["R12C"]),                                  # side and intensity
    ("R12C+6B", ["R12C", "6B"]),
    ("15A+17", ["15A", "17"]),
    ("10A/B", ["10A/B"]),
    ("4D+ref(6)+7C+43E", ["4D", "6?", "7C", "43E"]),     # a referred AU: kept, uncertain
    ("(R6 or R12)+R15", ["R6?", "R12?", "R15"]),         # alternatives: both kept, uncertain
    ("AU4(k)+L7", ["4(k)", "L7"]),                       # 4DME's static mark
    ("AUR2+12(k)+45", ["R2", "12(k)", "45"]),
    ("R4,5", ["R4", "5"]),                               # CAS(ME)^3 part C's commas
    ("4\uff0c11", ["4", "11"]),                          # full-width comma
    ("14,L24,", ["14", "L24"]),                          # trailing comma
    ("13?", ["13?"]),
    ("6 + 12", ["6", "12"]),                             # spaces
    ("12+15 ", ["12", "15"]),
    ("T28+14", ["T28", "14"]),
    ("B28", ["B28"]),
    (12, ["12"]),                                        # a single AU read as a number
    (12.0, ["12"]),
    ("", []),
    (None, []),
])
def test_every_real_spelling_gives_its_aus(cell, units):
    parsed = parse_aus(cell)
    assert [str(u) for u in parsed.units] == units
    assert parsed.unparsed == ()


def test_side_intensity_and_marks_are_kept():
    parsed = parse_aus("R12C+6B+AU4(k)+ref(7)+13?")
    assert parsed.units == (ActionUnit(12, "R", "C"), ActionUnit(6, None, "B"),
                            ActionUnit(4, static=True), ActionUnit(7, uncertain=True),
                            ActionUnit(13, uncertain=True))
    assert parsed.numbers() == {12, 6, 7, 13} and parsed.numbers(static=True) == {12, 6, 4, 7, 13}


def test_what_is_not_an_au_is_returned_not_dropped():
    parsed = parse_aus("4+ref(x)+blink+7")
    assert [str(u) for u in parsed.units] == ["4", "7"]
    assert parsed.unparsed == ("ref(x)", "blink")
    assert parse_aus("ref(..)").unparsed == ("ref(..)",)


@pytest.mark.parametrize("cell", ["AU6+AU12", "R12C+6B", "A12", "6 + 12", "6+12"])
def test_happy_spellings_get_objective_class_one(cell):
    assert objective_from_aus(cell) == 1
    assert au_set(cell) <= {6, 12}


def test_the_index_reports_au_pieces_it_could_not_read(tiny_synthetic, tmp_path):
    """A CASME II row whose AU cell holds a piece that is no AU keeps the AUs it has and is
    listed among the repaired rows with the piece named."""
    import shutil

    import openpyxl

    from pipeline.index import build_index

    synthetic, _ = tiny_synthetic
    root = tmp_path / "CASME2"
    shutil.copytree(synthetic / "CASME2", root)
    sheet = next(root.glob("CASME2-coding-*.xlsx"))
    book = openpyxl.load_workbook(sheet)
    rows = book.active
    header = [c.value for c in rows[1]]
    aus = header.index("Action Units") + 1
    rows.cell(2, aus).value = "AU12+smirk"
    clip = rows.cell(2, header.index("Filename") + 1).value
    book.save(sheet)
    table, issues = build_index(["casme2"], {"casme2": str(root)}, None)
    noted = [i for i in issues if "could not read" in i.reason]
    assert len(noted) == 1 and "'smirk'" in noted[0].reason and "kept 12" in noted[0].reason
    assert noted[0].row == 2 and noted[0].action == "repaired"
    assert noted[0].clip.endswith(f"/{clip}")
    row = table[table["sample_id"] == noted[0].clip].iloc[0]
    assert row["action_units"] == "AU12+smirk" and row["objective"] == "I"   # 12 still counts


@pytest.mark.parametrize("cell, number", [(7, 7), ("7", 7), (" 3 ", 3), ("VII", 7), ("iv", 4),
                                           (None, None), ("", None), (0, None), ("8", None),
                                           ("x", None)])
def test_objective_class_cells_as_number_text_or_roman(cell, number):
    from pipeline.databases.coded import objective_cell

    assert objective_cell(cell) == number
