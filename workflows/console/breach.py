"""Who was affected when a staff account was misused: the list a breach notice needs.

UU 27/2022 (Art. 46) has the controller notify, in writing within 3×24 hours, the people whose
data was exposed and the authority: what data, when and how it was exposed, and what the
controller did about it. When an account is known to be compromised (a lost phone, a shared
password), the office needs, for that account and a time window, every ticket the account saw
(case pages and receipts, from the audit trail) or changed (from the tickets' histories), with
the person concerned, the kinds of personal data the ticket held and how to reach its reporter;
and the exports the account made, which may have carried many more people and must be reviewed
by hand. `letters` gives each affected ticket's notice in its reporter's language.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlmodel import Session, col

from storage.models import Attachment, AuditEntry, Contact, Staff, Ticket, TicketEvent
from workflows.console.exports import defused
from workflows.engine import Say
from workflows.flowbook import FlowBook

LETTER = "breach/letter"
NOT_SEEN = ("access_denied",)  # a refused attempt showed nothing
CHILD_AGE = 18
CHILD_GROUPS = frozenset({"anak"})  # categories.yaml groups whose cases concern children
HEALTH_GROUPS = frozenset({"kejiwaan"})  # mental health: specific personal data


@dataclass
class Touch:
    """One ticket the account saw or changed in the window, and what it held."""

    ticket: Ticket
    reporter: Contact | None
    viewed: int = 0
    changed: int = 0
    first: datetime | None = None
    last: datetime | None = None
    photos: int = 0

    def seen(self, first: datetime, last: datetime) -> None:
        self.first = min(first, self.first) if self.first else first
        self.last = max(last, self.last) if self.last else last

    @property
    def data(self) -> list[str]:
        """The kinds of personal data the ticket held (codes the letter and the list word)."""
        t = self.ticket
        held = [
            ("name", t.person_name),
            ("nik", t.person_nik),
            ("phone", t.reporter_phone or (self.reporter.phone if self.reporter else None)),
            ("address", t.address),
            ("location", t.latitude),
            ("story", t.description),
            ("photos", self.photos),
        ]
        found = [code for code, value in held if value]
        if t.category_group in HEALTH_GROUPS:
            found.append("health")
        if t.category_group in CHILD_GROUPS or (t.person_age is not None and t.person_age < CHILD_AGE):
            found.append("child")
        return found


@dataclass
class Affected:
    staff: Staff
    since: date  # the incident's window: local dates, both included
    until: date
    touches: list[Touch] = field(default_factory=list)
    exports: list[AuditEntry] = field(default_factory=list)


def affected(session: Session, *, staff_id: int, since: date, until: date, zone: ZoneInfo) -> Affected | None:
    """Every ticket `staff_id` saw or changed from the start of `since` to the end of `until`
    (local dates), by number; None when there is no such staff member."""
    staff = session.get(Staff, staff_id)
    if staff is None:
        return None
    start = datetime.combine(since, time.min, zone)
    end = datetime.combine(until + timedelta(days=1), time.min, zone)
    found: dict[int, Touch] = {}
    views = session.execute(
        select(col(AuditEntry.subject), func.count(), func.min(col(AuditEntry.at)), func.max(col(AuditEntry.at)))
        .where(
            col(AuditEntry.staff_id) == staff_id,
            col(AuditEntry.at) >= start,
            col(AuditEntry.at) < end,
            col(AuditEntry.subject).is_not(None),
        )
        .group_by(col(AuditEntry.subject))
    ).all()
    changes = session.execute(
        select(col(TicketEvent.ticket_id), func.count(), func.min(col(TicketEvent.at)), func.max(col(TicketEvent.at)))
        .where(
            col(TicketEvent.actor) == f"staff:{staff_id}",
            col(TicketEvent.at) >= start,
            col(TicketEvent.at) < end,
            col(TicketEvent.kind).not_in(NOT_SEEN),
        )
        .group_by(col(TicketEvent.ticket_id))
    ).all()
    by_number = {str(subject): (n, first, last) for subject, n, first, last in views}
    by_id = {int(ticket_id): (n, first, last) for ticket_id, n, first, last in changes}
    tickets = list(
        session.execute(
            select(Ticket, Contact)
            .outerjoin(Contact, col(Contact.id) == col(Ticket.reporter_contact_id))
            .where(col(Ticket.number).in_(sorted(by_number)) | col(Ticket.id).in_(sorted(by_id)))
            .order_by(col(Ticket.number))
        ).all()
    )
    photos = dict(
        session.execute(
            select(col(Attachment.ticket_id), func.count())
            .where(col(Attachment.ticket_id).in_([t.id for t, _ in tickets]))
            .group_by(col(Attachment.ticket_id))
        ).all()
    )
    for ticket, reporter in tickets:
        ticket_id = int(ticket.id or 0)
        touch = found[ticket_id] = Touch(ticket, reporter, photos=int(photos.get(ticket_id, 0)))
        if ticket.number in by_number:
            count, first, last = by_number[ticket.number]
            touch.viewed = int(count)
            touch.seen(first, last)
        if ticket_id in by_id:
            count, first, last = by_id[ticket_id]
            touch.changed = int(count)
            touch.seen(first, last)
    exports = session.execute(
        select(AuditEntry)
        .where(
            col(AuditEntry.staff_id) == staff_id,
            col(AuditEntry.at) >= start,
            col(AuditEntry.at) < end,
            col(AuditEntry.action).like("export.%"),
        )
        .order_by(col(AuditEntry.at))
    ).scalars()
    return Affected(staff, since, until, list(found.values()), list(exports))


def csv_text(found: Affected, *, heading: list[str], word: Callable[[str], str], when: Callable[[Any], str]) -> str:
    """The list as CSV (a BOM first, so spreadsheets read it right; formula-like cells defused):
    one row per ticket with the person, what data it held, how to reach the reporter."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([defused(h) for h in heading])
    for row in rows(found, word=word, when=when):
        writer.writerow([defused(str(cell)) for cell in row])
    return "\ufeff" + buffer.getvalue()


def rows(found: Affected, *, word: Callable[[str], str], when: Callable[[Any], str]) -> Iterator[list[Any]]:
    for t in found.touches:
        ticket, reporter = t.ticket, t.reporter
        yield [
            ticket.number,
            ticket.category,
            ticket.village_code or "",
            ticket.person_name or "",
            ticket.address or "",
            ticket.reporter_phone or (reporter.phone if reporter else "") or "",
            reporter.channel if reporter else "",
            ticket.language,
            t.viewed,
            t.changed,
            when(t.first),
            when(t.last),
            "; ".join(word(code) for code in t.data),
            word("anonymised") if ticket.anonymised_at else "",
        ]


def letters(
    found: Affected,
    *,
    book: FlowBook,
    long_date: Callable[[date, str], str],
    incident: str,
    actions: str,
    contact: str,
) -> Iterator[tuple[Touch, str, Say]]:
    """Each affected ticket's notice to its reporter (UU 27/2022 Art. 46: what data, when and
    how, what the office did), with the reporter's language to render it in."""
    for t in found.touches:
        language = t.reporter.language if t.reporter else t.ticket.language
        yield (
            t,
            language,
            Say(
                LETTER,
                {
                    "office": book.areas.regency.name,
                    "number": t.ticket.number,
                    "name": t.ticket.person_name or "",
                    "about_self": t.ticket.subject == "self",
                    "data": t.data,
                    "since": long_date(found.since, language),
                    "until": long_date(found.until, language),
                    "incident": incident,
                    "actions": actions,
                    "contact": contact,
                },
            ),
        )
