"""Linking a walk-in citizen's Telegram chat to their ticket.

A ticket filed at the desk has no chat behind it. When the citizen says they use Telegram,
their receipt carries a one-time code (as a `t.me/<bot>?start=k_…` link and as text); opening
the bot with it makes their chat the ticket's reporter, so every update from then on reaches
them there. The code is long and random, used once, and expires, since it hands over the news
of someone's case.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session, col

from storage import repo
from storage.models import Contact, LinkCode, Ticket, stored_id

PREFIX = "k_"  # `/start k_…`; staff invites are `join_…`, anything else a campaign source
VALID = timedelta(days=30)


def issue(session: Session, *, ticket: Ticket, now: datetime) -> str:
    code = PREFIX + secrets.token_urlsafe(15)
    session.add(LinkCode(code=code, ticket_id=stored_id(ticket), created_at=now, expires_at=now + VALID))
    return code


def unused_code(session: Session, *, ticket_id: int) -> str | None:
    """The ticket's unused code, for printing its receipt again."""
    return session.execute(
        select(col(LinkCode.code))
        .where(col(LinkCode.ticket_id) == ticket_id, col(LinkCode.used_at).is_(None))
        .order_by(col(LinkCode.id).desc())
        .limit(1)
    ).scalar()


def redeem(session: Session, *, code: str, contact: Contact, now: datetime) -> Ticket | str:
    """Make `contact` the ticket's reporter; or why not: "unknown", "used" or "expired"."""
    code_row = (
        session.execute(select(LinkCode).where(col(LinkCode.code) == code[:32]).with_for_update()).scalars().first()
    )
    if code_row is None:
        return "unknown"
    ticket = session.get(Ticket, code_row.ticket_id, with_for_update=True)
    if ticket is None:
        return "unknown"
    if code_row.used_at is not None:  # a second tap on the same link is answered as the first
        return ticket if code_row.contact_id == contact.id else "used"
    if code_row.expires_at <= now:
        return "expired"
    code_row.used_at, code_row.contact_id = now, contact.id
    before = ticket.reporter_contact_id
    ticket.reporter_contact_id = stored_id(contact)
    ticket.version += 1
    ticket.updated_at = now
    repo.add_event(
        session,
        ticket_id=stored_id(ticket),
        actor=f"citizen:{contact.id}",
        kind="linked",
        at=now,
        data={"channel": contact.channel, "from_contact": before},
    )
    return ticket
