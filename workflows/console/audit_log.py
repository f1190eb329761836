"""The audit viewer's read model: who saw or changed which ticket, and what else staff did.

Two trails make the answer (UU 27/2022: an office must be able to say who saw and changed
what): `audit_entry` (case pages and receipts viewed, exports, sign-ins, configuration, staff,
erasures) and `ticket_event` (every change to a ticket, by whom). The viewer merges them newest
first, filtered by staff member, ticket number, action and local dates, a page at a time with
a keyset cursor (time, trail, id) as the queue pages, so a page costs the same on the first day
and after millions of rows: each trail is read from its own index and only a page and one row
of each is merged.

What a ticket event said in words (a note, a question, a resolution) is personal data the
viewer does not repeat: only its codes, ids and statuses are shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, or_, select
from sqlmodel import Session, col

from storage.models import AuditEntry, Staff, Ticket, TicketEvent
from workflows.console import cursors
from workflows.privacy.erasure import KEPT_EVENT_DATA
from workflows.validation.ticket_number import parse_ticket_number

PAGE = 50
AUDIT, EVENT = "a", "t"  # the two trails; "t" sorts after "a", so at one instant events come first
ACTION_CHARS = 48


def _date(value: Any) -> date | None:
    try:
        found = date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None
    return found if found is not None and 2000 <= found.year <= 2100 else None


@dataclass(frozen=True)
class TrailFilter:
    """What the admin narrowed the trail to; anything not understood is no filter."""

    staff: int | None = None
    ticket: str | None = None  # a ticket number, as the office writes it
    action: str | None = None  # an audit action (case.view, export.csv…) or a ticket event (resolve…)
    since: date | None = None  # local dates, both included
    until: date | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> TrailFilter:
        staff = str(query.get("staff") or "").strip()
        action = str(query.get("action") or "").strip()[:ACTION_CHARS]
        return cls(
            staff=int(staff) if staff.isdigit() and len(staff) < 10 else None,
            ticket=parse_ticket_number(str(query.get("ticket") or "")),
            action=action or None,
            since=_date(query.get("since")),
            until=_date(query.get("until")),
        )

    def to_query(self) -> dict[str, str]:
        return {
            name: value.isoformat() if isinstance(value, date) else str(value)
            for name, value in (
                ("staff", self.staff),
                ("ticket", self.ticket),
                ("action", self.action),
                ("since", self.since),
                ("until", self.until),
            )
            if value is not None
        }

    def window(self, zone: ZoneInfo) -> tuple[datetime | None, datetime | None]:
        """The dates as instants: from the start of `since` to the end of `until` (local)."""
        start = datetime.combine(self.since, time.min, zone) if self.since else None
        end = datetime.combine(self.until + timedelta(days=1), time.min, zone) if self.until else None
        return start, end


@dataclass(frozen=True)
class TrailRow:
    """One thing someone did: from the audit trail or a ticket's history."""

    trail: str
    id: int
    at: datetime
    staff_id: int | None
    actor: str  # "staff:3", "cli", "system", "citizen:5"
    action: str
    subject: str | None  # the ticket number, or what else the action was about
    data: dict[str, Any]


@dataclass
class TrailPage:
    rows: list[TrailRow]
    older: str | None  # the cursor of the next page, None on the last
    names: dict[int, str] = field(default_factory=dict)  # staff id → name, for the rows shown


def _after(at_column: Any, id_column: Any, trail: str, cursor: tuple[datetime, str, int] | None) -> list[Any]:
    """The keyset condition for one trail: rows older than the cursor in (time, trail, id) order."""
    if cursor is None:
        return []
    at, cursor_trail, row_id = cursor
    if trail < cursor_trail:
        return [at_column <= at]
    if trail > cursor_trail:
        return [at_column < at]
    return [or_(at_column < at, and_(at_column == at, id_column < row_id))]


def _read_cursor(text: str | None) -> tuple[datetime, str, int] | None:
    value = cursors.unpack(text)
    if not (isinstance(value, list) and len(value) == 3 and value[1] in (AUDIT, EVENT) and cursors.is_id(value[2])):
        return None
    try:
        at = datetime.fromisoformat(str(value[0]))
    except ValueError:
        return None
    return (at, value[1], value[2]) if at.tzinfo is not None else None


def _audit_rows(
    session: Session, filt: TrailFilter, window: tuple[datetime | None, datetime | None], cursor: Any, limit: int
) -> list[TrailRow]:
    start, end = window
    where: list[ColumnElement[bool]] = _after(col(AuditEntry.at), col(AuditEntry.id), AUDIT, cursor)
    if filt.staff is not None:
        where.append(col(AuditEntry.staff_id) == filt.staff)
    if filt.ticket is not None:
        where.append(col(AuditEntry.subject) == filt.ticket)
    if filt.action is not None:
        where.append(col(AuditEntry.action) == filt.action)
    if start is not None:
        where.append(col(AuditEntry.at) >= start)
    if end is not None:
        where.append(col(AuditEntry.at) < end)
    entries = session.execute(
        select(AuditEntry).where(*where).order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc()).limit(limit)
    ).scalars()
    return [
        TrailRow(
            AUDIT,
            int(e.id or 0),
            e.at,
            e.staff_id,
            f"staff:{e.staff_id}" if e.staff_id else str((e.data or {}).get("actor") or "system"),
            e.action,
            e.subject,
            dict(e.data or {}),
        )
        for e in entries
    ]


def _event_rows(
    session: Session, filt: TrailFilter, window: tuple[datetime | None, datetime | None], cursor: Any, limit: int
) -> list[TrailRow]:
    start, end = window
    where: list[ColumnElement[bool]] = _after(col(TicketEvent.at), col(TicketEvent.id), EVENT, cursor)
    if filt.staff is not None:
        where.append(col(TicketEvent.actor) == f"staff:{filt.staff}")
    if filt.ticket is not None:
        where.append(col(Ticket.number) == filt.ticket)
    if filt.action is not None:
        where.append(col(TicketEvent.kind) == filt.action)
    if start is not None:
        where.append(col(TicketEvent.at) >= start)
    if end is not None:
        where.append(col(TicketEvent.at) < end)
    rows = session.execute(
        select(TicketEvent, col(Ticket.number))
        .join(Ticket, col(Ticket.id) == col(TicketEvent.ticket_id))
        .where(*where)
        .order_by(col(TicketEvent.at).desc(), col(TicketEvent.id).desc())
        .limit(limit)
    ).all()
    found = []
    for event, number in rows:
        staff_id = int(event.actor[6:]) if event.actor.startswith("staff:") and event.actor[6:].isdigit() else None
        shown = {k: v for k, v in (event.data or {}).items() if k in KEPT_EVENT_DATA}
        found.append(TrailRow(EVENT, int(event.id or 0), event.at, staff_id, event.actor, event.kind, number, shown))
    return found


def page(
    session: Session, *, filt: TrailFilter, zone: ZoneInfo, cursor: str | None = None, size: int = PAGE
) -> TrailPage:
    """A page of the merged trail, newest first, and the cursor of the next."""
    window = filt.window(zone)
    after = _read_cursor(cursor)
    merged = _audit_rows(session, filt, window, after, size + 1) + _event_rows(session, filt, window, after, size + 1)
    merged.sort(key=lambda r: (r.at, r.trail, r.id), reverse=True)
    shown = merged[:size]
    older = None
    if len(merged) > size:
        last = shown[-1]
        older = cursors.pack([last.at.isoformat(), last.trail, last.id])
    ids = sorted({r.staff_id for r in shown if r.staff_id is not None})
    names = {
        int(i): str(n) for i, n in session.execute(select(col(Staff.id), col(Staff.name)).where(col(Staff.id).in_(ids)))
    }
    return TrailPage(shown, older, names)


def staff_list(session: Session) -> list[tuple[int, str, str]]:
    """Everyone who may appear in the trail (id, name, role), for the filter's list."""
    return [
        (int(i), str(n), str(r))
        for i, n, r in session.execute(
            select(col(Staff.id), col(Staff.name), col(Staff.role)).order_by(col(Staff.name), col(Staff.id))
        ).all()
    ]
