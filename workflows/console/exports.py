"""The queue as a spreadsheet: CSV streamed in chunks, XLSX written in constant memory.

Personal data follows the viewer's role, as the case page does: supervisors and admins get
names, addresses and phone numbers; an officer gets them only for the tickets they hold, and
initials and stars for the rest. The full NIK goes only to whom `access.sees_full_nik` allows
(the ticket's holder) and to admins; everyone else gets it masked.

A cell a spreadsheet would read as a formula (=, +, -, @, a tab or a carriage return first,
spaces before it or not) is written with a leading apostrophe in the CSV, and as a string
(never a formula) in the XLSX: an exported complaint must not run code on the office PC that
opens it. The CSV is comma-separated, every field quoted, with a BOM; but Excel set to
Indonesian splits a CSV at `;` (its list separator), and a program that takes the file for
another separator may ignore the quotes. So every piece of a value that could become a cell of
its own — after a `,`, `;`, tab or line break — is defused the same way, whichever separator
the file is opened with.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import xlsxwriter

from storage.models import Staff, Ticket
from workflows.casework import access
from workflows.console.queue import QueueRow
from workflows.validation.nik import mask_nik
from workflows.validation.phone import mask_phone

# The columns, in order; their headings are words of the page (`Words.heading`).
COLUMNS = (
    "number",
    "created",
    "kind",
    "category",
    "district",
    "village",
    "person_name",
    "person_nik",
    "person_age",
    "person_sex",
    "address",
    "phone",
    "status",
    "sla",
    "due",
    "assignee",
    "channel",
    "resolved",
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_CHUNK_ROWS = 500
DATE_FORMAT = "%Y-%m-%d %H:%M"
XLSX_MAX_ROWS = 1_048_576  # a sheet's last row: the heading and 1,048,575 tickets


@dataclass(frozen=True)
class Words:
    """The viewer's words for the heading and for each code a cell holds."""

    heading: Sequence[str]
    labels: Mapping[str, Mapping[str, str]]  # column -> code -> words (kind, category, district…)

    def __post_init__(self) -> None:
        if len(self.heading) != len(COLUMNS):
            raise ValueError(f"the export heading has {len(self.heading)} words for {len(COLUMNS)} columns")

    def of(self, column: str, code: str | None) -> str:
        return self.labels.get(column, {}).get(code, code) if code else ""


def sees_personal(viewer: Staff, ticket: Ticket) -> bool:
    """Name, address and phone in full: supervisors and admins, and an officer's own tickets."""
    return viewer.role in ("supervisor", "admin") or ticket.assignee_staff_id == viewer.id


def mask_words(value: str) -> str:
    """Each word's first letter, the rest (and any digit) stars: "Mbah Sarinah" -> "M*** S******"."""
    return " ".join((word[0] if word[0].isalpha() else "*") + "*" * (len(word) - 1) for word in value.split())


def cells(row: QueueRow, *, viewer: Staff, words: Words, zone: ZoneInfo) -> list[Any]:
    """One ticket's cells, in COLUMNS order: strings, numbers, local naive datetimes or None."""
    ticket = row.ticket
    personal = sees_personal(viewer, ticket)

    def local(moment: datetime | None) -> datetime | None:
        return moment.astimezone(zone).replace(tzinfo=None, microsecond=0) if moment else None

    def private(value: str | None, mask: Any) -> str | None:
        return value if not value or personal else mask(value)

    nik = ticket.person_nik
    return [
        ticket.number,
        local(ticket.created_at),
        words.of("kind", ticket.kind),
        words.of("category", f"{ticket.kind}:{ticket.category}"),
        words.of("district", ticket.district_code),
        words.of("village", ticket.village_code),
        private(ticket.person_name, mask_words),
        nik if not nik or access.sees_full_nik_in_records(viewer, ticket) else mask_nik(nik),
        ticket.person_age,
        ticket.person_sex,
        private(ticket.address, mask_words),
        private(ticket.reporter_phone, mask_phone),
        words.of("status", ticket.status),
        words.of("sla", row.sla),
        local(ticket.due_at),
        row.assignee,
        words.of("channel", ticket.channel),
        local(ticket.resolved_at),
    ]


# Where a cell may begin: the value's start, or just after anything some program splits at;
# then any spaces, then a character that makes a formula.
_FORMULA_AT_CELL_START = re.compile(r"(^|[,;\t\r\n])( *)(?=[" + re.escape("".join(FORMULA_STARTS)) + "])")


def defused(value: str) -> str:
    """`value` with an apostrophe before every formula a spreadsheet could find in it."""
    return _FORMULA_AT_CELL_START.sub(r"\1\2'", value)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime(DATE_FORMAT)
    return defused(str(value))


@dataclass
class Tally:
    """Rows written so far: what the audit trail records, even of an export cut short."""

    rows: int = 0


def csv_chunks(
    rows: Iterable[QueueRow], *, viewer: Staff, words: Words, zone: ZoneInfo, tally: Tally
) -> Iterator[bytes]:
    """UTF-8 CSV, a few hundred rows a chunk; a BOM first, so spreadsheet programs read the
    Indonesian right."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL)  # a separator inside a value stays inside

    def flush() -> bytes:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text.encode()

    writer.writerow([defused(h) for h in words.heading])
    yield "\ufeff".encode() + flush()
    for row in rows:
        writer.writerow([_text(v) for v in cells(row, viewer=viewer, words=words, zone=zone)])
        tally.rows += 1
        if tally.rows % CSV_CHUNK_ROWS == 0:
            yield flush()
    yield flush()


def write_xlsx(
    path: Path, rows: Iterable[QueueRow], *, viewer: Staff, words: Words, zone: ZoneInfo, tally: Tally
) -> None:
    """The rows as one sheet at `path`, written row by row in constant memory (a sheet holds
    XLSX_MAX_ROWS - 1 tickets under its heading: any more are left out)."""
    workbook = xlsxwriter.Workbook(
        str(path),
        {"constant_memory": True, "tmpdir": str(path.parent), "strings_to_formulas": False, "strings_to_urls": False},
    )
    sheet = workbook.add_worksheet()
    bold = workbook.add_format({"bold": True})
    moment = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    for column, heading in enumerate(words.heading):
        sheet.write_string(0, column, heading, bold)
    for line, row in enumerate(islice(rows, XLSX_MAX_ROWS - 1), start=1):
        for column, value in enumerate(cells(row, viewer=viewer, words=words, zone=zone)):
            if isinstance(value, datetime):
                sheet.write_datetime(line, column, value, moment)
            elif isinstance(value, int):
                sheet.write_number(line, column, value)
            elif value is not None:
                sheet.write_string(line, column, value)
        tally.rows = line
    workbook.close()
