"""The queue page and its exports.

The page is one GET form: every filter is in the address, so a filtered queue can be bookmarked,
shared with a colleague (who sees only what their own area allows) and exported as it stands.
Exports stream: the CSV a chunk at a time as the rows are read, the XLSX from a temporary file
in the data folder written in constant memory. The reading and writing run on a worker thread,
a batch at a time, so a long export neither stalls the server nor holds a database lock.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlmodel import Session

from bot.console.core import PREFIX, Console, console_of, language_of, render, signed_in
from storage.models import Staff
from workflows import audit
from workflows.casework import access
from workflows.console import exports, queue
from workflows.console.queue import QueueFilter
from workflows.lifecycle import OPEN, STATUSES

TEMPLATE = "console/queue.html"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FILE_CHUNK = 256 * 1024


async def queue_page(request: web.Request) -> web.Response:
    staff = signed_in(request)
    console = console_of(request)
    filt = QueueFilter.from_query(request.query, console.channels)
    after = request.query.get("after")

    def view(session: Session) -> tuple[queue.QueuePage, list[Staff]]:
        found = queue.page(
            session,
            viewer=staff,
            filt=filt,
            after=after,
            now=console.now(),
            zone=console.settings.zone,
            calendar=console.services.calendar,
        )
        return found, queue.staff_in_area(session, viewer=staff)

    found, holders = await console.read(view)
    book = console.services.book
    districts = access.districts_of(book, staff)
    return render(
        request,
        TEMPLATE,
        filt=filt,
        query=filt.to_query(),
        page=found,
        holders=holders,
        districts=districts,
        statuses=STATUSES,
        open_statuses=OPEN,
        kinds=queue.KINDS,
        channels=console.channels,
        sla_states=queue.SLA_STATES,
        sorts=queue.SORTS,
        open_count=sum(n for s, n in found.counts.items() if s in OPEN),
        all_count=sum(found.counts.values()),
        later_page=bool(after),
    )


def export_words(request: web.Request) -> exports.Words:
    """The heading and the code labels in the viewer's language, from the page's templates:
    the heading is the queue template's `export_heading` block (a JSON list of its words), the
    labels come from the shared label macros, each code rendered once."""
    console = console_of(request)
    language = language_of(request)
    book = console.services.book
    context = {
        "_": console.words.gettext(language),
        "book": book,
        "label": lambda labels: labels.get(language) or labels.get("id"),
    }
    page = console.pages.get_template(TEMPLATE)
    heading = json.loads("".join(page.blocks["export_heading"](page.new_context(context))))
    labels: Any = console.pages.get_template("console/_labels.html").make_module(context)  # its macros
    codes: dict[str, Any] = {
        "kind": {k: labels.kind(k) for k in queue.KINDS},
        "category": {
            f"{kind}:{t.key}": labels.category(kind, t.key)
            for kind in queue.KINDS
            for g in book.categories.groups(kind)
            for t in g.types
        },
        "district": {d.code: d.name for d in book.areas.districts},
        "village": {v.code: v.name for d in book.areas.districts for v in d.villages},
        "status": {s: labels.status(s) for s in STATUSES},
        "sla": {s: labels.sla(s) for s in queue.SLA_STATES},
        "channel": {c: labels.channel(c) for c in console.channels},
    }
    return exports.Words(
        heading, {column: {code: str(words) for code, words in table.items()} for column, table in codes.items()}
    )


def _attachment(kind: str, console: Console) -> dict[str, str]:
    day = console.services.calendar.local_date(console.now()).isoformat()
    return {
        "Content-Disposition": f'attachment; filename="satupintu-queue-{day}.{kind}"',
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }


async def _audit(console: Console, staff: Staff, kind: str, filt: QueueFilter, tally: exports.Tally) -> None:
    await console.run(
        audit.record,
        staff_id=staff.id,
        action=f"export.{kind}",
        now=console.now(),
        data={"filter": filt.to_query(), "rows": tally.rows},
    )


def _rows(
    console: Console, session: Session, staff: Staff, filt: QueueFilter, now: datetime
) -> Iterator[queue.QueueRow]:
    return queue.all_rows(
        session, viewer=staff, filt=filt, now=now, zone=console.settings.zone, calendar=console.services.calendar
    )


async def export_csv(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    console = console_of(request)
    filt = QueueFilter.from_query(request.query, console.channels)
    words, tally = export_words(request), exports.Tally()
    response = web.StreamResponse(headers={"Content-Type": "text/csv; charset=utf-8", **_attachment("csv", console)})
    await response.prepare(request)
    try:
        with console.db.reading() as session:
            chunks = exports.csv_chunks(
                _rows(console, session, staff, filt, console.now()),
                viewer=staff,
                words=words,
                zone=console.settings.zone,
                tally=tally,
            )
            while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
                await response.write(chunk)
    finally:
        await _audit(console, staff, "csv", filt, tally)
    await response.write_eof()
    return response


async def export_xlsx(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    console = console_of(request)
    filt = QueueFilter.from_query(request.query, console.channels)
    words, tally = export_words(request), exports.Tally()

    def write(path: Path) -> None:
        with console.db.reading() as session:
            exports.write_xlsx(
                path,
                _rows(console, session, staff, filt, console.now()),
                viewer=staff,
                words=words,
                zone=console.settings.zone,
                tally=tally,
            )

    with tempfile.TemporaryDirectory(dir=console.settings.data_dir, prefix="export-") as folder:
        path = Path(folder) / "queue.xlsx"
        try:
            await asyncio.to_thread(write, path)
        finally:
            await _audit(console, staff, "xlsx", filt, tally)
        response = web.StreamResponse(headers={"Content-Type": XLSX_TYPE, **_attachment("xlsx", console)})
        response.content_length = path.stat().st_size
        await response.prepare(request)
        with path.open("rb") as handle:
            while chunk := await asyncio.to_thread(handle.read, FILE_CHUNK):
                await response.write(chunk)
    await response.write_eof()
    return response


def routes() -> list[web.RouteDef]:
    return [
        web.get(PREFIX + "/queue", queue_page),
        web.get(PREFIX + "/queue/export.csv", export_csv),
        web.get(PREFIX + "/queue/export.xlsx", export_xlsx),
    ]
