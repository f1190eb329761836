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
from storage.models import Contact, Ticket, TicketClaim, stored_id

PREFIX = "k_"  # `/start k_…`; staff invites are `join_…`, anything else a campaign source
VALID = timedelta(days=30)


def create_claim(session: Session, *, ticket: Ticket, now: datetime) -> str:
    code = PREFIX + secrets.token_urlsafe(15)
    session.add(TicketClaim(code=code, ticket_id=stored_id(ticket), created_at=now, expires_at=now + VALID))
    return code


def claim_code(session: Session, *, ticket_id: int) -> str | None:
    """The ticket's unused code, for printing its receipt again."""
    return session.execute(
        select(col(TicketClaim.code)).where(col(TicketClaim.ticket_id) == ticket_id, col(TicketClaim.used_at).is_(None))
        .order_by(col(TicketClaim.id).desc()).limit(1)
    ).scalar()


def redeem_claim(session: Session, *, code: str, contact: Contact, now: datetime) -> Ticket | str:
    """Make `contact` the ticket's reporter; or why not: "unknown", "used" or "expired"."""
    claim = session.execute(select(TicketClaim).where(col(TicketClaim.code) == code[:32]).with_for_update()).scalars().first()
    if claim is None:
        return "unknown"
    ticket = session.get(Ticket, claim.ticket_id, with_for_update=True)
    if ticket is None:
        return "unknown"
    if claim.used_at is not None:  # a second tap on the same link is answered as the first
        return ticket if claim.contact_id == contact.id else "used"
    if claim.expires_at <= now:
        return "expired"
    claim.used_at, claim.contact_id = now, contact.id
    before = ticket.reporter_contact_id
    ticket.reporter_contact_id = stored_id(contact)
    ticket.version += 1
    ticket.updated_at = now
    repo.add_event(session, ticket_id=stored_id(ticket), actor=f"citizen:{contact.id}", kind="claimed", at=now,
                   data={"channel": contact.channel, "from_contact": before})
    return ticket
