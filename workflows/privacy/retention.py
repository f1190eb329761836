"""Which closed tickets are past their retention period, and purging them in small batches.

A ticket's period (office.yaml `retention`: a default, or its category's or group's own) runs
from when it was closed: its last change as resolved, closed or rejected (`updated_at`; a
reopened ticket starts again). Open tickets are never purged. Each batch is its own transaction
and picks only tickets not yet anonymised, oldest first, so a purge killed half-way loses
nothing: what was committed stays erased, and the next run carries on with the rest.
"""

from __future__ import annotations

import calendar
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, exists, func, or_, select, update
from sqlmodel import Session, col

from storage.models import Contact, Conversation, OutboxMessage, PushSubscription, Ticket, table_of
from workflows.flowbook import FlowBook
from workflows.lifecycle import OPEN, STATUSES
from workflows.privacy.erasure import erase_personal_data

REASON = "retention"
BATCH = 100  # tickets per transaction: short locks, and little lost to a crash
CLOSED = sorted(set(STATUSES) - OPEN)  # resolved, closed, rejected


def months_before(moment: datetime, months: int) -> datetime:
    """The same moment `months` calendar months earlier (the 31st becomes the month's last day)."""
    index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def _past_period(book: FlowBook, now: datetime) -> ColumnElement[bool]:
    """Tickets closed longer ago than their category's period: one range per distinct period
    (a handful), each over the categories it applies to; a category no longer configured
    gets the default."""
    retention = book.office.retention
    periods: dict[int, list[str]] = {}
    known: list[str] = []
    for kind in ("complaint", "service"):
        for group in book.categories.groups(kind):
            for kind_type in group.types:
                known.append(kind_type.key)
                periods.setdefault(retention.months_for(group.key, kind_type.key), []).append(kind_type.key)
    ranges = [
        and_(col(Ticket.category).in_(sorted(keys)), col(Ticket.updated_at) < months_before(now, months))
        for months, keys in sorted(periods.items())
    ]
    ranges.append(
        and_(
            col(Ticket.category).not_in(sorted(known)),
            col(Ticket.updated_at) < months_before(now, retention.default_months),
        )
    )
    return or_(*ranges)


def _due(book: FlowBook, now: datetime) -> list[ColumnElement[bool]]:
    return [
        col(Ticket.status).in_(CLOSED),
        col(Ticket.anonymised_at).is_(None),
        _past_period(book, now),
    ]


@dataclass
class Plan:
    """What a purge would take now: counts per (kind, category) and the ticket numbers."""

    numbers: list[str] = field(default_factory=list)
    per_category: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return len(self.numbers)


def plan(session: Session, *, book: FlowBook, now: datetime) -> Plan:
    """The dry run: reads only the columns that are no one's personal data."""
    found = Plan()
    rows = session.execute(
        select(col(Ticket.number), col(Ticket.kind), col(Ticket.category))
        .where(*_due(book, now))
        .order_by(col(Ticket.updated_at), col(Ticket.id))
    ).all()
    for number, kind, category in rows:
        found.numbers.append(number)
        found.per_category[(kind, category)] += 1
    return found


def purge_batch(session: Session, *, book: FlowBook, now: datetime, limit: int = BATCH) -> list[str]:
    """Erase up to `limit` tickets past their period, oldest first, in the caller's
    transaction; their numbers. Locked as they are read (PostgreSQL skips rows another purge
    holds), so two purges at once never take the same ticket twice."""
    tickets = (
        session.execute(
            select(Ticket)
            .where(*_due(book, now))
            .order_by(col(Ticket.updated_at), col(Ticket.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        .scalars()
        .all()
    )
    for ticket in tickets:
        erase_personal_data(session, ticket, now=now, reason=REASON)
    return [ticket.number for ticket in tickets]


FORGOTTEN = "erased:"  # a forgotten chat's address: the prefix and the contact's id


def _silent_reporters(book: FlowBook, now: datetime) -> list[ColumnElement[bool]]:
    """Reporters whose every ticket is anonymised and who have not written for the default
    period (the longest the consent text promises to keep anything), not yet forgotten."""
    reported = select(col(Ticket.id)).where(col(Ticket.reporter_contact_id) == col(Contact.id))
    return [
        func.coalesce(col(Contact.last_inbound_at), col(Contact.created_at))
        < months_before(now, book.office.retention.default_months),
        col(Contact.external_id).not_like(FORGOTTEN + "%"),
        exists(reported),
        ~exists(reported.where(col(Ticket.anonymised_at).is_(None))),
        ~exists(  # half-way through a new report: left alone
            select(col(Conversation.id)).where(
                col(Conversation.contact_id) == col(Contact.id), col(Conversation.flow).is_not(None)
            )
        ),
    ]


def forget_silent_chats(session: Session, *, book: FlowBook, now: datetime, limit: int = BATCH) -> int:
    """Forget the chat address (a WhatsApp number, a Telegram user id, a web chat's id) of up to
    `limit` silent reporters with nothing left kept: the contact row stays for its tickets'
    counts, under an address no one can write from, with its messages; the chat's push
    subscriptions go. If
    they write again, they start afresh, consent first. How many were forgotten."""
    contacts = (
        session.execute(select(Contact).where(*_silent_reporters(book, now)).limit(limit).with_for_update())
        .scalars()
        .all()
    )
    outbox = table_of(OutboxMessage)
    for contact in contacts:
        session.execute(delete(table_of(PushSubscription)).where(col(PushSubscription.chat_id) == contact.chat_id))
        # Its messages (emptied when its last ticket was) go with it: a web chat page shows none.
        session.execute(
            update(outbox)
            .where(outbox.c.channel == contact.channel, outbox.c.chat_id == contact.chat_id)
            .values(chat_id=f"{FORGOTTEN}{contact.id}")
        )
        contact.external_id = contact.chat_id = f"{FORGOTTEN}{contact.id}"
        contact.display_name, contact.phone = None, None
        session.add(contact)
    return len(contacts)


def silent_chats(session: Session, *, book: FlowBook, now: datetime) -> int:
    """How many chat addresses `forget_silent_chats` would forget now (for the dry run)."""
    return int(
        session.execute(select(func.count()).select_from(Contact).where(*_silent_reporters(book, now))).scalar_one()
    )


def category_lines(found: Plan) -> Iterator[tuple[str, str, int]]:
    """(kind, category, count), the largest first, for printing."""
    for (kind, category), count in sorted(found.per_category.items(), key=lambda item: (-item[1], item[0])):
        yield kind, category, count
