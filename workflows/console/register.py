"""The PPKS register: who the office's complaints are about, by name and by address.

One row per person, from their latest complaint the viewer may see. A person is a name (case
aside) with the same NIK, or without a NIK the same village: two reports of one grandmother are
one row, two neighbours who share a name are two. Rows go by name; pages are keyset pages of
`PAGE_SIZE` (the cursor is the last row's name and person key), so page 2,000 costs what page
one does. The NIK is masked unless the viewer is the case's assignee or an admin.

People reported without a name (the typical ODGJ on the street, nobody knows who he is) come
after the named ones, by village, one row per report: nothing tells that two unnamed reports
are one person, and merging them could hide someone. The page shows the start of the report's
description in place of a name. The same cursor (a ticket id) pages through both parts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, literal_column, select, tuple_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from storage.models import Staff, Ticket
from workflows.casework import access
from workflows.console import cursors
from workflows.validation.nik import mask_nik

PAGE_SIZE = 50
BATCH = 200  # rows read at a time while skipping a person's older complaints
NAME = func.lower(col(Ticket.person_name))
PERSON = func.coalesce(
    col(Ticket.person_nik), col(Ticket.village_code), literal_column("''")
)  # inline: an expression index can match it
PLACE = func.coalesce(col(Ticket.village_code), literal_column("''"))
Cursor = tuple[str, str]
UnnamedCursor = tuple[str, int]


@dataclass(frozen=True)
class Query:
    category: str | None = None
    district: str | None = None
    village: str | None = None
    name: str = ""  # the start of the name, any case


@dataclass(frozen=True)
class Person:
    name: str
    nik: str | None  # masked unless the viewer may see it whole
    age: int | None
    sex: str | None
    address: str | None
    district_code: str | None
    village_code: str | None
    kind: str
    category: str
    status: str
    number: str  # the latest complaint about them
    created_at: datetime
    description: str | None = None  # what tells an unnamed person apart (name is "" then)


@dataclass(frozen=True)
class Page:
    people: list[Person]
    next_cursor: str | None


def encode_cursor(ticket_id: int) -> str:
    """A page's end, named by the ticket of its last person: never by their name or NIK, which
    would sit in the address bar and the logs (and an officer sees the NIK only masked)."""
    return cursors.pack([ticket_id])


def decode_cursor(text: str) -> int | None:
    """The ticket a cursor names; None for anything that is not one of ours (start over)."""
    found = cursors.unpack(text)
    if isinstance(found, list) and len(found) == 1 and cursors.is_id(found[0]):
        return found[0]
    return None


@dataclass(frozen=True)
class Start:
    """Where a page starts: after a named person, or (the named all shown) after an unnamed report."""

    named: Cursor | None = None
    unnamed: UnnamedCursor | None = None


def _position(session: Session, conditions: Sequence[ColumnElement[bool]], ticket_id: int | None) -> Start:
    """Where the page after this ticket's person starts; only for a ticket this query shows
    (a crafted cursor must not place the register around someone else's NIK)."""
    if ticket_id is None:
        return Start()
    row = session.execute(select(NAME, PERSON, PLACE).where(col(Ticket.id) == ticket_id, *conditions)).first()
    if row is None:
        return Start()
    return Start(named=(row[0], row[1])) if row[0] is not None else Start(unnamed=(row[2], ticket_id))


def _conditions(viewer: Staff, query: Query) -> list[ColumnElement[bool]]:
    conditions = [*access.visible_tickets(viewer), col(Ticket.kind) == "complaint"]
    if query.category:
        conditions.append(col(Ticket.category) == query.category)
    if query.district:
        conditions.append(col(Ticket.district_code) == query.district)
    if query.village:
        conditions.append(col(Ticket.village_code) == query.village)
    if query.name.strip():
        conditions.append(NAME.startswith(query.name.strip().lower(), autoescape=True))
    return conditions


def _latest_ids(
    session: Session, conditions: Sequence[ColumnElement[bool]], after: Cursor | None, wanted: int
) -> list[tuple[int, Cursor]]:
    """The newest ticket of each of the next `wanted` people after `after`, in name order.
    Rows come sorted by person then newest first; the first row of each person is theirs."""
    found: list[tuple[int, Cursor]] = []
    while len(found) < wanted:
        statement = select(col(Ticket.id), NAME, PERSON).where(*conditions, col(Ticket.person_name).is_not(None))
        if after is not None:
            statement = statement.where(tuple_(NAME, PERSON) > tuple_(*after))
        rows = session.execute(
            statement.order_by(NAME, PERSON, col(Ticket.created_at).desc(), col(Ticket.id).desc()).limit(BATCH)
        ).all()
        for ticket_id, name, person in rows:
            if not found or found[-1][1] != (name, person):
                found.append((ticket_id, (name, person)))
        if len(rows) < BATCH:
            break
        after = found[-1][1]  # that person's older rows are skipped by the next read
    return found[:wanted]


def _unnamed_ids(
    session: Session, conditions: Sequence[ColumnElement[bool]], after: UnnamedCursor | None, wanted: int
) -> list[int]:
    """The next `wanted` reports about someone without a name, by village, after `after`."""
    statement = select(col(Ticket.id)).where(*conditions, col(Ticket.person_name).is_(None))
    if after is not None:
        statement = statement.where(tuple_(PLACE, col(Ticket.id)) > tuple_(*after))
    return list(session.execute(statement.order_by(PLACE, col(Ticket.id)).limit(wanted)).scalars())


def people(session: Session, *, viewer: Staff, query: Query, cursor: str | None, size: int = PAGE_SIZE) -> Page:
    """One page of the register for this viewer: the named people, then the unnamed."""
    conditions = _conditions(viewer, query)
    start = _position(session, conditions, decode_cursor(cursor) if cursor else None)
    latest: list[int] = []
    if start.unnamed is None:
        latest = [i for i, _ in _latest_ids(session, conditions, start.named, size + 1)]
    if len(latest) <= size and not query.name.strip():  # a name was asked for: the unnamed do not match
        latest += _unnamed_ids(session, conditions, start.unnamed, size + 1 - len(latest))
    page, more = latest[:size], len(latest) > size
    tickets = {t.id: t for t in session.execute(select(Ticket).where(col(Ticket.id).in_(page))).scalars()}
    rows = [_person(viewer, tickets[ticket_id]) for ticket_id in page]
    return Page(rows, encode_cursor(page[-1]) if more else None)


def _person(viewer: Staff, ticket: Ticket) -> Person:
    whole = access.sees_full_nik_in_records(viewer, ticket)
    nik = ticket.person_nik if whole or not ticket.person_nik else mask_nik(ticket.person_nik)
    return Person(
        name=ticket.person_name or "",
        nik=nik,
        age=ticket.person_age,
        sex=ticket.person_sex,
        address=ticket.address,
        district_code=ticket.district_code,
        village_code=ticket.village_code,
        kind=ticket.kind,
        category=ticket.category,
        status=ticket.status,
        number=ticket.number,
        created_at=ticket.created_at,
        description=None if ticket.person_name else ticket.description,
    )
