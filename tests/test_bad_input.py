"""Input that makes a database unusable stops with one line: the file, the row, what to do."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
import xlwt

from pipeline.databases import ADAPTERS, read_database
from pipeline.databases.common import DatabaseError
from pipeline.databases.megc import read_megc2019_gt
from pipeline.index import ROOT_KEY
from pipeline.synthetic.layouts import CASME2Writer, SMICWriter, write_megc2019_gt
from tests.test_adapters import clip_to_write, write_casme2, write_samm, write_smic


def error_of(name: str, root: Path) -> str:
    """The DatabaseError message of reading `name` at `root`; it must be a single line."""
    with pytest.raises(DatabaseError) as error:
        read_database(name, root)
    message = str(error.value)
    assert message and "\n" not in message
    return message


def set_cell(path: Path, row: int, column: int, value) -> None:
    book = openpyxl.load_workbook(path)
    book.active.cell(row, column).value = value
    book.save(path)


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_missing_root_names_the_params_entry(tmp_path, name):
    message = error_of(name, tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in message
    assert f"databases.{ROOT_KEY[name]} in params.yaml" in message


def test_unknown_database_name(tmp_path):
    with pytest.raises(DatabaseError, match="unknown database 'casme4'; choose from casme2, samm"):
        read_database("casme4", tmp_path)


@pytest.mark.parametrize("name, sheets", [
    ("casme2", ["CASME2-coding-20190701.xlsx", "CASME2-coding-20140508.xlsx", "CASME2_label_Ver_2.xls"]),
    ("samm", ["SAMM_Micro_FACS_Codes_v2.xlsx", "SAMM_20181215_Micro_FACS_Codes_v2.xlsx"]),
    ("casme", ["casme.xlsx", "CASME.xlsx", "CASME-coding.xlsx"]),
])
def test_missing_annotation_file_lists_the_names_looked_for(tmp_path, name, sheets):
    (tmp_path / "Cropped").mkdir()
    message = error_of(name, tmp_path)
    assert message.startswith(f"{tmp_path}: no ") and "put the release's file in this folder" in message
    assert f"looked for {', '.join(sheets)}{' and any' if name == 'casme' else ';'}" in message


@pytest.mark.parametrize("name, write, removed, looked", [
    ("casme2", write_casme2, "Cropped", "Cropped/, CASME2_RAW_selected/"),
    ("samm", write_samm, "SAMM", "SAMM/"),
    ("smic_hs", write_smic, "SMIC_all_cropped", "SMIC_all_cropped/, SMIC_all_raw/"),
])
def test_missing_frame_folder(tmp_path, name, write, removed, looked):
    write(tmp_path)
    (tmp_path / removed).rename(tmp_path / "elsewhere")
    message = error_of(name, tmp_path)
    assert message.startswith(str(tmp_path)) and f"looked for {looked};" in message


def test_missing_smic_modality(tmp_path):
    write_smic(tmp_path, "HS")
    message = error_of("smic_vis", tmp_path)
    assert message.startswith(str(tmp_path / "SMIC_all_cropped" / "VIS")) and "drop smic_vis" in message


def test_unknown_smic_class_folder(tmp_path):
    write_smic(tmp_path)
    (tmp_path / "SMIC_all_cropped" / "HS" / "s12" / "micro" / "neutral").mkdir()
    message = error_of("smic_hs", tmp_path)
    assert message.startswith(str(tmp_path / "SMIC_all_cropped" / "HS" / "s12" / "micro" / "neutral"))
    assert "'neutral'" in message and "allowed: negative, positive, surprise" in message


def test_casme2_missing_column_names_it_and_the_header_found(tmp_path):
    sheet = write_casme2(tmp_path) / "CASME2-coding-20140508.xlsx"
    set_cell(sheet, 1, 4, "Onset")
    message = error_of("casme2", tmp_path)
    assert message.startswith(f"{sheet} row 1: missing columns OnsetFrame;")
    assert "header found: Subject | Filename | (blank) | Onset | ApexFrame" in message


def test_samm_missing_column_is_reported_on_row_14(tmp_path):
    sheet = write_samm(tmp_path) / "SAMM_Micro_FACS_Codes_v2.xlsx"
    set_cell(sheet, 14, 5, "Apex")
    set_cell(sheet, 14, 10, "Emotion")
    message = error_of("samm", tmp_path)
    assert message.startswith(f"{sheet} row 14: missing columns Apex Frame, Estimated Emotion;")


def test_xls_missing_column(tmp_path):
    write_casme2(tmp_path, "xlsx2014")
    (tmp_path / "CASME2-coding-20140508.xlsx").unlink()
    book = xlwt.Workbook()
    page = book.add_sheet("Sheet1")
    for c, name in enumerate(["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame",
                              "Action Units"]):
        page.write(0, c, name)
    book.save(str(tmp_path / "CASME2_label_Ver_2.xls"))
    message = error_of("casme2", tmp_path)
    assert message.startswith(f"{tmp_path / 'CASME2_label_Ver_2.xls'} row 1: missing columns "
                              "Estimated Emotion;")


def test_sheet_without_any_header(tmp_path):
    sheet = write_casme2(tmp_path) / "CASME2-coding-20140508.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["Coding of CASME II"])
    book.save(sheet)
    message = error_of("casme2", tmp_path)
    assert message.startswith(f"{sheet} row 1: missing columns Subject, Filename, OnsetFrame")


@pytest.mark.parametrize("name, write, sheet, cell, value, expected", [
    ("casme2", write_casme2, "CASME2-coding-20140508.xlsx", (3, 9), "joy",
     "row 3: unknown emotion 'joy' in Estimated Emotion; allowed: happiness, surprise, disgust"),
    ("samm", write_samm, "SAMM_Micro_FACS_Codes_v2.xlsx", (16, 10), "Others",
     "row 16: unknown emotion 'Others' in Estimated Emotion; allowed: Anger, Other, Happiness"),
    ("casme2", write_casme2, "CASME2-coding-20140508.xlsx", (2, 4), "abc",
     "row 2: OnsetFrame 'abc' is not a frame number; correct the cell"),
    ("casme2", write_casme2, "CASME2-coding-20140508.xlsx", (4, 6), 12.5,
     "row 4: OffsetFrame 12.5 is not a frame number"),
    ("samm", write_samm, "SAMM_Micro_FACS_Codes_v2.xlsx", (15, 4), "5560-5561",
     "row 15: Onset Frame '5560-5561' is not a frame number"),
    ("casme2", write_casme2, "CASME2-coding-20140508.xlsx", (3, 1), "x",
     "row 3: Subject 'x' is not a subject number"),
    ("casme2", write_casme2, "CASME2-coding-20140508.xlsx", (3, 2), None,
     "row 3: Filename is empty"),
])
def test_bad_cell_names_file_row_and_value(tmp_path, name, write, sheet, cell, value, expected):
    write(tmp_path)
    set_cell(tmp_path / sheet, *cell, value)
    message = error_of(name, tmp_path)
    assert message.startswith(f"{tmp_path / sheet} {expected}")


def test_conflicting_duplicate_rows_name_both(tmp_path):
    writer = CASME2Writer(tmp_path)
    writer.add(clip_to_write(4, "EP12_01f", [1, 2, 3, 4, 5], 1, 3, 5, "repression"))
    writer.add(clip_to_write(2, "EP01_01", [1, 2, 3, 4, 5], 1, 3, 5, "others"))
    writer.add(clip_to_write(4, "EP12_01f", [1, 2, 3, 4, 5], 1, 3, 5, "disgust", on_disk=False))
    writer.finish()
    message = error_of("casme2", tmp_path)
    assert message.startswith(f"{tmp_path / 'CASME2-coding-20140508.xlsx'} rows 2 and 4: both "
                              "describe sub04/EP12_01f but differ")


@pytest.mark.parametrize("sheet", ["CASME2-coding-20140508.xlsx", "CASME2_label_Ver_2.xls"])
def test_corrupt_spreadsheet(tmp_path, sheet):
    write_casme2(tmp_path)
    (tmp_path / "CASME2-coding-20140508.xlsx").unlink()
    (tmp_path / sheet).write_bytes(b"<html>download expired</html>")
    message = error_of("casme2", tmp_path)
    assert message.startswith(f"{tmp_path / sheet}: cannot be read as a spreadsheet")


def test_smic_writer_rejects_unknown_modality(tmp_path):
    with pytest.raises(ValueError, match="modality 'IR'"):
        SMICWriter(tmp_path, modality="IR")


# --- MEGC 2019 list -------------------------------------------------------------------------

def megc_error(path: Path) -> str:
    with pytest.raises(DatabaseError) as error:
        read_megc2019_gt(path)
    message = str(error.value)
    assert "\n" not in message
    return message


def test_megc_missing_file(tmp_path):
    message = megc_error(tmp_path / "combined_3class_gt.csv")
    assert message.startswith(f"{tmp_path / 'combined_3class_gt.csv'}: MEGC 2019 list not found")
    assert "databases.megc2019_gt" in message


@pytest.mark.parametrize("bad, expected", [
    ("casme2,sub01,EP02_01f", "line 2: 3 fields"),
    ("casme2,sub01,,negative", "line 2: 4 fields"),
    ("casme3,sub01,EP02_01f,negative", "line 2: unknown dataset 'casme3'"),
    ("samm,x6,006_1_2,negative", "line 2: subject 'x6' is not a samm subject id"),
    ("smic,1,s1_ne_01,negative", "line 2: subject '1' is not a smic subject id"),
    ("casme2,sub01,EP02_01f,happy", "line 2: unknown class 'happy'; allowed: negative, positive, surprise"),
    ("samm,006,006_1_2,positive", "lines 1 and 2: samm/006/006_1_2 is both negative and positive"),
])
def test_megc_malformed_line_names_its_number(tmp_path, bad, expected):
    path = tmp_path / "combined_3class_gt.csv"
    path.write_text(f"samm,6,006_1_2,negative\n{bad}\nsmic,s01,s1_ne_01,negative\n")
    assert megc_error(path).startswith(f"{path} {expected}")


def test_megc_repeated_line_counts_once(tmp_path):
    path = tmp_path / "gt.csv"
    write_megc2019_gt(path, [("samm", "6", "006_1_2", "negative"), ("samm", "006", "006_1_2", "negative")])
    assert read_megc2019_gt(path) == [("samm", "006", "006_1_2", "negative")]
