"""The story of a case in one list, oldest first: what staff and the citizen did to it (the
ticket's events), what the citizen was sent and whether it reached them (the outbox), and
where each referral stands now.

Officers read a case top to bottom to learn what was promised to whom; keeping the messages
next to the actions that caused them shows at a glance when a citizen was never told. Only
codes and values come from here; the page says them in words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from storage.models import Contact, OutboxMessage, Referral, Staff, SurveyResponse, Ticket, TicketEvent

MESSAGES_SHOWN = 300  # a citizen who chats on for months still gets a page that loads
_STAFF_FIELDS = ("staff", "supervisor")  # event data naming a staff member (assign, unassigned)


@dataclass(frozen=True)
class Entry:
    """One line of the timeline. `kind` is the event's kind, or "message" for a message to the
    citizen; `actor` is staff, citizen or system; `referral` is the referral a refer or
    referral_* event is about, as it stands now."""

    at: datetime
    kind: str
    actor: str
    staff_id: int | None
    data: Mapping[str, Any]
    referral: Referral | None = None
    message: OutboxMessage | None = None


@dataclass(frozen=True)
class Timeline:
    entries: list[Entry]
    names: dict[int, str]  # staff names by id: actors and the people tickets were given to

    def name(self, staff_id: Any) -> str | None:
        return self.names.get(staff_id) if isinstance(staff_id, int) else None


def _actor(actor: str) -> tuple[str, int | None]:
    kind, _, ident = actor.partition(":")
    if kind == "staff" and ident.isdigit():
        return "staff", int(ident)
    return ("citizen" if kind == "citizen" else "system"), None


def _events(session: Session, ticket: Ticket, referrals: Mapping[int, Referral]) -> list[Entry]:
    rows = (
        session.execute(
            select(TicketEvent)
            .where(col(TicketEvent.ticket_id) == ticket.id)
            .order_by(col(TicketEvent.at), col(TicketEvent.id))
        )
        .scalars()
        .all()
    )
    entries = []
    for row in rows:
        actor, staff_id = _actor(row.actor)
        referral = referrals.get(row.data.get("referral")) if isinstance(row.data.get("referral"), int) else None
        entries.append(Entry(row.at, row.kind, actor, staff_id, row.data, referral=referral))
    return entries


def _messages(session: Session, ticket: Ticket, reporter: Contact | None) -> list[Entry]:
    """Messages to the reporter about this ticket (found by the chat index, then by the ticket
    number each message names). Only this ticket's: the same citizen's other reports may lie in
    districts the viewer does not cover."""
    if reporter is None:
        return []
    rows = (
        session.execute(
            select(OutboxMessage)
            .where(
                col(OutboxMessage.channel) == reporter.channel,
                col(OutboxMessage.chat_id) == reporter.chat_id,
                col(OutboxMessage.contact_id) == reporter.id,
                col(OutboxMessage.created_at) >= ticket.created_at,
                col(OutboxMessage.payload)["params"]["number"].as_string() == ticket.number,
            )
            .order_by(col(OutboxMessage.id))
            .limit(MESSAGES_SHOWN)
        )
        .scalars()
        .all()
    )
    return [Entry(row.created_at, "message", "system", None, row.payload, message=row) for row in rows]


def build(session: Session, *, ticket: Ticket, reporter: Contact | None, referrals: Sequence[Referral]) -> Timeline:
    """Events and messages merged by time; at the same moment the action comes before the
    message it caused."""
    by_id = {r.id: r for r in referrals if r.id is not None}
    entries = _events(session, ticket, by_id) + _messages(session, ticket, reporter)
    entries.sort(key=lambda entry: (entry.at, entry.kind == "message"))
    wanted = {e.staff_id for e in entries if e.staff_id is not None}
    wanted |= {
        e.data[f] for e in entries if e.kind != "message" for f in _STAFF_FIELDS if isinstance(e.data.get(f), int)
    }
    names = (
        dict(session.execute(select(col(Staff.id), col(Staff.name)).where(col(Staff.id).in_(sorted(wanted)))).all())
        if wanted
        else {}
    )
    return Timeline(entries, names)


def survey(session: Session, *, ticket_id: int) -> SurveyResponse | None:
    """The citizen's rating of how the case was handled, once they have given it."""
    return session.execute(select(SurveyResponse).where(col(SurveyResponse.ticket_id) == ticket_id)).scalars().first()
