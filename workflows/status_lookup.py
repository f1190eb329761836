"""Status from any device: a ticket number plus the phone number given at filing (or its last
four digits) answers with the ticket's status, in the words of the chat's status message.

Whether the number or the phone was wrong is never told apart: both are "not found", so the
form cannot be used to learn which ticket numbers exist. Throttling is the caller's (it knows
the address asking).
"""

from __future__ import annotations

import hmac
import re
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from storage.models import Ticket
from workflows.services import Services
from workflows.validation.phone import normalize_phone
from workflows.validation.ticket_number import parse_ticket_number

LAST_DIGITS = re.compile(r"^\d{4}$")


def phone_matches(given: str, stored: str | None) -> bool:
    """The whole number (as typed in any Indonesian way) or exactly its last four digits."""
    if not stored:
        return False
    typed = re.sub(r"[\s().-]", "", given)
    if LAST_DIGITS.match(typed):
        return hmac.compare_digest(typed, stored[-4:])
    normal = normalize_phone(given)
    return normal is not None and hmac.compare_digest(normal, stored)


def status_row(services: Services, ticket: Ticket, language: str) -> dict[str, Any]:
    """One ticket as the status message lists it (the chat's "status" and this lookup)."""
    found = services.book.category(ticket.kind, ticket.category)
    category = found[1].label.as_dict()[language] if found else ticket.category
    updated = services.texts.long_date(services.calendar.local_date(ticket.updated_at), language)
    return {"number": ticket.number, "category": category, "status": ticket.status, "updated": updated}


def look_up(session: Session, services: Services, *, number: str, phone: str, language: str) -> str | None:
    """The status message for the ticket, or None when the number or the phone does not match."""
    canonical = parse_ticket_number(number[:40])
    if canonical is None or not phone.strip():
        return None
    ticket = session.execute(select(Ticket).where(col(Ticket.number) == canonical)).scalars().first()
    if ticket is None or not phone_matches(phone[:64], ticket.reporter_phone):
        return None
    rows = [status_row(services, ticket, language)]
    return services.texts.render("status/list", language, {"tickets": rows, "number": canonical})
