"""The link to the full satisfaction form (all nine IKM elements) on the web, per ticket.

The chat's short survey asks a few elements; a citizen who wants to answer all nine opens this
link, with no account. It stands in for the citizen, so it is long and random, kept only as its
hash (a copy of the database opens no form), ends after the office's `survey_form_days` and is
spent once the form is sent.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlmodel import Session, col

from storage.models import SurveyLink, Ticket, stored_id

PATH = "/survey/"
Problem = Literal["unknown", "expired", "used"]


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(session: Session, *, ticket: Ticket, base_url: str, valid_days: int, now: datetime) -> str:
    """A new link for `ticket`'s reporter: the address to put in their message."""
    token = secrets.token_urlsafe(24)
    session.add(
        SurveyLink(
            token_hash=_hash(token),
            ticket_id=stored_id(ticket),
            created_at=now,
            expires_at=now + timedelta(days=valid_days),
        )
    )
    return f"{base_url.rstrip('/')}{PATH}{token}"


def find(session: Session, *, token: str, now: datetime, lock: bool = False) -> tuple[SurveyLink, Ticket] | Problem:
    """The link and its ticket, or why the form cannot be opened."""
    query = select(SurveyLink).where(col(SurveyLink.token_hash) == _hash(token[:64]))
    link = session.execute(query.with_for_update() if lock else query).scalars().first()
    ticket = session.get(Ticket, link.ticket_id) if link is not None else None
    if link is None or ticket is None:
        return "unknown"
    if link.used_at is not None:
        return "used"
    if link.expires_at <= now:
        return "expired"
    return link, ticket
