"""The console's queue: tickets a staff member may see, filtered, sorted, a page at a time.

Pages are cut by keyset, never OFFSET: the cursor is the last row's sort value and id, so the
next page is an index range scan from there whatever the depth, and a ticket filed between two
clicks neither repeats a row nor hides one. The cursor is opaque to the browser (base64 JSON)
and a cursor of another sort, or a damaged one, just means the first page. Exports walk the
same keyset in batches, each batch its own short read transaction.

Scope is the access rule of `casework.access.can_view` as SQL: an admin sees everything; anyone
else the tickets of their districts (none listed: the whole regency) plus those assigned to them.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select, true, tuple_
from sqlalchemy.orm import QueryableAttribute, load_only
from sqlmodel import Session, col

from storage.models import Staff, Ticket
from workflows.calendar import WorkingCalendar
from workflows.casework import access
from workflows.console import cursors
from workflows.lifecycle import OPEN, STATUSES

KINDS = ("complaint", "service")
SLA_STATES = ("overdue", "due_soon", "on_time", "met")
SORTS = ("created_desc", "created_asc", "due_asc", "updated_desc")
FINISHED = frozenset(STATUSES) - OPEN
OPEN_STATUSES = "open"  # the pseudo status of the default queue: every status still being worked
ALL_STATUSES: tuple[str, ...] = ()
_KEY = re.compile(r"^[a-z0-9_]{1,32}$")
_AREA = re.compile(r"^[0-9.]{2,16}$")
# What the queue and its exports read of a ticket (not the description, details or SLA JSON).
COLUMNS: tuple[QueryableAttribute[Any], ...] = tuple(
    getattr(Ticket, name)
    for name in (
        "id",
        "number",
        "kind",
        "category",
        "district_code",
        "village_code",
        "person_name",
        "person_nik",
        "person_age",
        "person_sex",
        "address",
        "reporter_phone",
        "status",
        "urgent",
        "due_at",
        "assignee_staff_id",
        "channel",
        "created_at",
        "updated_at",
        "resolved_at",
    )
)


@dataclass(frozen=True)
class QueueFilter:
    """What the queue shows, as read from (and written back to) the page's address."""

    status: tuple[str, ...] | str = OPEN_STATUSES
    kind: str | None = None
    category: str | None = None
    district: str | None = None
    village: str | None = None
    sla: str | None = None
    assignee: int | str | None = None  # a staff id, or "none" for tickets nobody holds
    channel: str | None = None
    created_from: date | None = None  # local dates, both ends included
    created_to: date | None = None
    sort: str = "created_desc"

    @classmethod
    def from_query(cls, query: Mapping[str, str], channels: Sequence[str] = ()) -> QueueFilter:
        """A filter from the address; a value that is not one the queue knows is ignored.
        `channels`: the channels tickets can come from (the server's, and the desk)."""

        def pick(name: str, allowed: Sequence[str] | re.Pattern[str]) -> str | None:
            value = str(query.get(name) or "").strip()
            ok = allowed.match(value) if isinstance(allowed, re.Pattern) else value in allowed
            return value if value and ok else None

        status_text = str(query.get("status") or "").strip()
        statuses = tuple(s for s in STATUSES if s in status_text.split(","))
        status: tuple[str, ...] | str = ALL_STATUSES if status_text == "all" else statuses or OPEN_STATUSES
        assignee_text = str(query.get("assignee") or "").strip()
        assignee: int | str | None = (
            "none"
            if assignee_text == "none"
            else (int(assignee_text) if assignee_text.isdigit() and len(assignee_text) < 10 else None)
        )
        return cls(
            status=status,
            kind=pick("kind", KINDS),
            category=pick("category", _KEY),
            district=pick("district", _AREA),
            village=pick("village", _AREA),
            sla=pick("sla", SLA_STATES),
            assignee=assignee,
            channel=pick("channel", channels),
            created_from=_date(query.get("created_from")),
            created_to=_date(query.get("created_to")),
            sort=pick("sort", SORTS) or "created_desc",
        )

    def to_query(self) -> dict[str, str]:
        """The address form: only what differs from the default queue."""
        query: dict[str, str] = {}
        if self.status != OPEN_STATUSES:
            query["status"] = ",".join(self.status) if self.status else "all"
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name not in ("status", "sort") and value is not None:
                query[field.name] = value.isoformat() if isinstance(value, date) else str(value)
        if self.sort != "created_desc":
            query["sort"] = self.sort
        return query

    def statuses(self) -> frozenset[str] | None:
        """The statuses asked for; None for all of them."""
        if self.status == OPEN_STATUSES:
            return OPEN
        return frozenset(self.status) or None


def _date(value: Any) -> date | None:
    """A date from the filter form; one outside 2000–2100 is no filter (it would overflow
    the time arithmetic, and no ticket is that old or that new)."""
    try:
        found = date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None
    return found if found is not None and 2000 <= found.year <= 2100 else None


@dataclass(frozen=True)
class QueueRow:
    """A ticket as the queue shows it: its columns, where it stands on its deadline, its holder."""

    ticket: Ticket
    sla: str
    assignee: str | None


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    next_cursor: str | None
    counts: dict[str, int]  # tickets per status under the filter without its status part


@dataclass(frozen=True)
class _Moment:
    """`now`, and the instant before which an open ticket is due soon (the next working day)."""

    now: datetime
    soon: datetime
    zone: ZoneInfo

    @classmethod
    def of(cls, now: datetime, zone: ZoneInfo, calendar: WorkingCalendar | None) -> _Moment:
        calendar = calendar or WorkingCalendar(zone)
        return cls(now, datetime.combine(calendar.add_working_days(now, 1), time(0), calendar.zone), zone)

    def sla(self, status: str, due_at: datetime | None) -> str:
        """The same four states the filter offers (`workflows.sla.state`, with closed as met)."""
        if status not in OPEN or due_at is None:
            return "met"
        if due_at < self.now:
            return "overdue"
        return "due_soon" if due_at < self.soon else "on_time"


@dataclass(frozen=True)
class Part:
    """A disjoint share of what a viewer may see. `few`: a handful of tickets (their own outside
    their area), sorted as found rather than looked for along a time index: both databases
    misjudge how many there are and would walk the whole index for none."""

    where: ColumnElement[bool]
    few: bool = False


def scope(viewer: Staff) -> list[Part]:
    """The tickets `viewer` may see (`access.can_view`) as disjoint parts: one per district of
    their area, and their own tickets elsewhere. Each part is an index range of its own, where
    "district in (…) or assignee = me" would defeat every index and sort the whole area."""
    if viewer.status == "disabled":
        return []
    if viewer.role == access.FACILITATOR:
        return [Part(access.filed_by(viewer), few=True)]  # their own filings, wherever they are
    if access.sees_whole_regency(viewer):
        return [Part(true())]
    area = sorted(viewer.districts)
    elsewhere = or_(col(Ticket.district_code).not_in(area), col(Ticket.district_code).is_(None))
    return [
        *(Part(col(Ticket.district_code) == code) for code in area),
        Part(and_(col(Ticket.assignee_staff_id) == viewer.id, elsewhere), few=True),
    ]


def _parts(viewer: Staff, filt: QueueFilter) -> list[Part]:
    """The scope's parts that can hold tickets of this filter: a district filter leaves its own
    district's part, or (outside the viewer's area) only their own tickets there."""
    district = filt.district or (filt.village and filt.village.rsplit(".", 1)[0])
    if not district or access.sees_whole_regency(viewer) or viewer.role == access.FACILITATOR:
        return scope(viewer)
    wanted = district if district in viewer.districts else None
    # A disabled viewer's scope is empty: zip stops there rather than pairing codes with parts.
    return [
        part for code, part in zip([*sorted(viewer.districts), None], scope(viewer), strict=False) if code == wanted
    ]


def _conditions(filt: QueueFilter, moment: _Moment) -> list[ColumnElement[bool]]:
    """The filter without its status part. A village names its district too (Kemendagri codes
    nest; the book checks it), which lets the district's indexes find the village's tickets."""
    found: list[ColumnElement[bool]] = []
    district = filt.village.rsplit(".", 1)[0] if filt.village else None
    for column, value in (
        (col(Ticket.kind), filt.kind),
        (col(Ticket.category), filt.category),
        (col(Ticket.district_code), filt.district),
        (col(Ticket.district_code), district),
        (col(Ticket.village_code), filt.village),
        (col(Ticket.channel), filt.channel),
    ):
        if value is not None:
            found.append(column == value)
    if filt.assignee == "none":
        found.append(col(Ticket.assignee_staff_id).is_(None))
    elif filt.assignee is not None:
        found.append(col(Ticket.assignee_staff_id) == filt.assignee)
    if filt.created_from is not None:
        found.append(col(Ticket.created_at) >= datetime.combine(filt.created_from, time(0), moment.zone))
    if filt.created_to is not None:
        found.append(
            col(Ticket.created_at) < datetime.combine(filt.created_to + timedelta(days=1), time(0), moment.zone)
        )
    open_ = _status_in(OPEN)
    if filt.sla == "overdue":
        found += [open_, col(Ticket.due_at) < moment.now]
    elif filt.sla == "due_soon":
        found += [open_, col(Ticket.due_at) >= moment.now, col(Ticket.due_at) < moment.soon]
    elif filt.sla == "on_time":
        found += [open_, col(Ticket.due_at) >= moment.soon]
    elif filt.sla == "met":
        found.append(or_(~open_, col(Ticket.due_at).is_(None)))
    return found


def _status_in(statuses: frozenset[str], sort: str = "created_desc") -> ColumnElement[bool]:
    """Open tickets in time order as "not finished": no index drives that, so SQLite walks the
    area's tickets in time order and stops at a page, where `IN (six statuses)` would collect
    and sort every open ticket through whichever status index it met first. By deadline, `IN`
    is right: (district, status, due) gives each status's tickets in due order to merge."""
    if statuses == OPEN and sort != "due_asc":
        return col(Ticket.status).not_in(sorted(FINISHED))
    return col(Ticket.status).in_(sorted(statuses))


def _where(filt: QueueFilter, moment: _Moment) -> list[ColumnElement[bool]]:
    """The whole filter. A status part the deadline part already implies ("open", with an
    open-ticket deadline state) is left out: said twice, PostgreSQL would count its selectivity
    twice and choose a plan for a hundredth of the rows there are."""
    statuses = filt.statuses()
    implied = statuses is not None and filt.sla in ("overdue", "due_soon", "on_time") and statuses >= OPEN
    return [
        *_conditions(filt, moment),
        *([_status_in(statuses, filt.sort)] if statuses is not None and not implied else []),
    ]


# --- the keyset -------------------------------------------------------------------------------------


def encode_cursor(sort: str, value: datetime | None, ticket_id: int, urgent: bool = False) -> str:
    return cursors.pack({"s": sort, "v": value.isoformat() if value else None, "i": ticket_id, "u": urgent})


def decode_cursor(cursor: str | None, sort: str) -> tuple[bool, datetime | None, int] | None:
    """(urgent, sort value, id) of the row a page ends on; None for the first page."""
    data = cursors.unpack(cursor)
    if not isinstance(data, dict) or data.get("s") != sort or not cursors.is_id(data.get("i")):
        return None
    try:
        value = datetime.fromisoformat(data["v"]) if data.get("v") else None
    except (TypeError, ValueError):
        return None
    if value is not None and value.tzinfo is None:  # ours are always aware: a forged one
        return None
    return data.get("u") is True, value, data["i"]


_ORDER = {  # sort -> (Ticket's attribute, descending)
    "created_desc": ("created_at", True),
    "created_asc": ("created_at", False),
    "updated_desc": ("updated_at", True),
    "due_asc": ("due_at", False),
}
_NEVER = datetime.max.replace(tzinfo=ZoneInfo("UTC"))
# "No due time", as a CASE so that no index drives it: SQLite (no statistics) would otherwise
# walk ix_ticket_due's hundreds of thousands of undated (closed) tickets to find an area's few.
_UNDATED = case((col(Ticket.due_at).is_(None), 1), else_=0) == 1


def _sort_key(sort: str) -> Callable[[Ticket], tuple[Any, ...]]:
    """A ticket's place in `sort` order, as SQL orders it: urgent tickets first, whichever
    way the rest run (undated tickets last by due)."""
    column, descending = _ORDER[sort]
    if sort == "due_asc":
        return lambda t: (not t.urgent, t.due_at is None, t.due_at or _NEVER, t.id)
    if descending:
        return lambda t: (t.urgent, getattr(t, column), t.id)
    return lambda t: (not t.urgent, getattr(t, column), t.id)


def _range(
    where: list[ColumnElement[bool]],
    column: Any,
    descending: bool,
    key: tuple[datetime | None, int] | None,
    limit: int,
    few: bool,
) -> Select[Any]:
    """Tickets after `key` in (column, id) order; with no column, in id order. A `few` part
    sorts by the same values through an expression no index offers (see `Part`)."""
    query = select(Ticket).options(load_only(*COLUMNS)).where(*where)
    if key is not None:
        value, ticket_id = key
        mine, theirs = (
            (tuple_(column, col(Ticket.id)), tuple_(value, ticket_id))
            if column is not None
            else (col(Ticket.id), ticket_id)
        )
        query = query.where(mine < theirs if descending else mine > theirs)
    order = [
        c if not few else func.coalesce(c, c)
        for c in ((column, col(Ticket.id)) if column is not None else (col(Ticket.id),))
    ]
    return query.order_by(*(c.desc() for c in order) if descending else order).limit(limit)


def _part_window(
    session: Session,
    part: Part,
    where: list[ColumnElement[bool]],
    sort: str,
    key: tuple[bool, datetime | None, int] | None,
    limit: int,
) -> list[Ticket]:
    """Up to `limit` tickets of one part after `key`, urgent ones first (someone may be in
    danger): the part's urgent tickets in `sort` order, then the others, two ranges (the
    first small, on ix_ticket_urgent_status_created) rather than one sort on an expression."""
    tickets: list[Ticket] = []
    if key is None or key[0]:
        urgent = [*where, col(Ticket.urgent).is_(True)]
        tickets = _segment(session, part, urgent, sort, key[1:] if key else None, limit)
    if len(tickets) < limit:
        rest = key[1:] if key is not None and not key[0] else None
        others = [*where, col(Ticket.urgent).is_(False)]
        tickets += _segment(session, part, others, sort, rest, limit - len(tickets))
    return tickets


def _segment(
    session: Session,
    part: Part,
    where: list[ColumnElement[bool]],
    sort: str,
    key: tuple[datetime | None, int] | None,
    limit: int,
) -> list[Ticket]:
    """Up to `limit` tickets of one part after `key`. `due_asc` puts undated tickets last: the
    dated in (due, id) order, then the undated by id, two index-friendly ranges rather than one
    NULLS LAST sort over the whole filter."""
    name, descending = _ORDER[sort]
    column = getattr(Ticket, name)
    where = [part.where, *where]
    if sort != "due_asc":
        return list(session.execute(_range(where, column, descending, key, limit, part.few)).scalars())
    tickets: list[Ticket] = []
    if key is None or key[0] is not None:
        dated = [*where, col(Ticket.due_at).is_not(None)]
        tickets = list(session.execute(_range(dated, column, False, key, limit, part.few)).scalars())
    if len(tickets) < limit:
        undated = [*where, _UNDATED]
        rest = key if key is not None and key[0] is None else None
        tickets += session.execute(_range(undated, None, False, rest, limit - len(tickets), part.few)).scalars()
    return tickets


def _window(
    session: Session, parts: list[Part], where: list[ColumnElement[bool]], sort: str, after: str | None, limit: int
) -> tuple[list[Ticket], str | None]:
    """Up to `limit` tickets after the cursor, and the cursor of the page after them: each
    part's next `limit + 1`, merged in order (the parts are disjoint)."""
    key = decode_cursor(after, sort)
    found = [_part_window(session, part, where, sort, key, limit + 1) for part in parts]
    tickets = list(islice(heapq.merge(*found, key=_sort_key(sort), reverse=_ORDER[sort][1]), limit + 1))
    if len(tickets) <= limit:
        return tickets, None
    last = tickets[limit - 1]
    assert last.id is not None  # read from the database
    return tickets[:limit], encode_cursor(sort, getattr(last, _ORDER[sort][0]), last.id, last.urgent)


def _rows(session: Session, tickets: list[Ticket], moment: _Moment) -> list[QueueRow]:
    holders = {t.assignee_staff_id for t in tickets if t.assignee_staff_id is not None}
    names = (
        dict(session.execute(select(col(Staff.id), col(Staff.name)).where(col(Staff.id).in_(holders))).all())
        if holders
        else {}
    )
    return [QueueRow(t, moment.sla(t.status, t.due_at), names.get(t.assignee_staff_id)) for t in tickets]


def counts(
    session: Session,
    *,
    viewer: Staff,
    filt: QueueFilter,
    now: datetime,
    zone: ZoneInfo,
    calendar: WorkingCalendar | None = None,
) -> dict[str, int]:
    """Tickets per status (every status listed, zeros too) under the filter without its status.
    One count per status rather than GROUP BY: SQLite, which has no statistics, would pick
    whichever index returns rows grouped by status (the district's) and look every ticket of
    the district up in the table, where an equality on status lets it count inside the
    narrowest covering index (district and category, say)."""
    conditions = _conditions(filt, _Moment.of(now, zone, calendar))
    found = dict.fromkeys(STATUSES, 0)
    for part in _parts(viewer, filt):
        per_status = [
            select(func.count())
            .select_from(Ticket)
            .where(part.where, *conditions, col(Ticket.status) == status)
            .scalar_subquery()
            for status in STATUSES
        ]
        for status, count in zip(STATUSES, session.execute(select(*per_status)).one(), strict=True):
            found[status] += count
    return found


def page(
    session: Session,
    *,
    viewer: Staff,
    filt: QueueFilter,
    after: str | None,
    limit: int = 50,
    now: datetime,
    zone: ZoneInfo,
    calendar: WorkingCalendar | None = None,
) -> QueuePage:
    """One page of the queue, the cursor of the next (None on the last) and the counts."""
    moment = _Moment.of(now, zone, calendar)
    tickets, next_cursor = _window(session, _parts(viewer, filt), _where(filt, moment), filt.sort, after, limit)
    return QueuePage(
        _rows(session, tickets, moment),
        next_cursor,
        counts(session, viewer=viewer, filt=filt, now=now, zone=zone, calendar=calendar),
    )


def all_rows(
    session: Session,
    *,
    viewer: Staff,
    filt: QueueFilter,
    now: datetime,
    zone: ZoneInfo,
    batch: int = 1000,
    calendar: WorkingCalendar | None = None,
) -> Iterator[QueueRow]:
    """Every row of the filter in its order, `batch` at a time. The transaction ends after each
    batch (a read has nothing to commit), so a long export holds no snapshot for more than one
    batch; run it on a reading session (`Database.reading`), which never takes SQLite's write lock."""
    moment = _Moment.of(now, zone, calendar)
    parts, where = _parts(viewer, filt), _where(filt, moment)
    cursor: str | None = None
    while True:
        tickets, cursor = _window(session, parts, where, filt.sort, cursor, batch)
        rows = _rows(session, tickets, moment)
        session.commit()
        yield from rows
        if cursor is None:
            return


# --- what the filter form offers -------------------------------------------------------------------


def staff_in_area(session: Session, *, viewer: Staff) -> list[Staff]:
    """Who may hold a ticket of the viewer's area: staff whose districts meet it (or cover the
    whole regency), and the viewer. A small table, filtered here rather than in JSON SQL."""
    everyone = session.execute(select(Staff).order_by(col(Staff.name))).scalars().all()
    if access.sees_whole_regency(viewer):
        return list(everyone)
    area = set(viewer.districts)
    return [s for s in everyone if s.id == viewer.id or not s.districts or area & set(s.districts)]
