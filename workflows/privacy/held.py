"""What the office holds about a citizen, as `/datasaya` shows it: the chat itself, each of
their tickets with the answers they gave (NIK and phone masked: the message stays in the
platform's history, and they typed the numbers themselves), the consent they gave and their
earlier requests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from storage.models import Attachment, Contact, Ticket
from workflows.privacy import requests
from workflows.privacy.erasure import is_erased
from workflows.services import Services
from workflows.validation.nik import mask_nik
from workflows.validation.phone import mask_phone

TICKETS_SHOWN = 10  # the newest; a request still covers them all


def held_facts(services: Services, session: Session, contact: Contact, tickets: Sequence[Ticket]) -> dict[str, Any]:
    """The `privacy/held` message's context: the chat, the newest tickets, the earlier requests."""
    language = contact.language
    shown = [_ticket_facts(services, session, t, language) for t in tickets[:TICKETS_SHOWN]]
    history = [
        {"kind": r.kind, "status": r.status, "at": moment(services, r.received_at), "detail": r.detail}
        for r in requests.requests_of(session, contact)
        if r.kind in ("withdraw", "erase", "correction")
    ]
    return {
        **chat_facts(services, contact),
        "tickets": shown,
        "more": max(0, len(tickets) - len(shown)),
        "history": history,
    }


def chat_facts(services: Services, contact: Contact) -> dict[str, Any]:
    """What the chat itself holds: its channel, whether a profile name, its number, the consent."""
    consent = (
        {"version": contact.consent_version, "at": moment(services, contact.consent_at)}
        if contact.consent_version and contact.consent_at
        else None
    )
    return {
        "channel": contact.channel,
        "name": bool(contact.display_name),
        "phone": mask_phone(contact.phone) if contact.phone else None,
        "consent": consent,
        "language": contact.language,
    }


def _ticket_facts(services: Services, session: Session, ticket: Ticket, language: str) -> dict[str, Any]:
    book = services.book
    found = book.category(ticket.kind, ticket.category)
    village = book.areas.village(ticket.village_code) if ticket.village_code else None
    photos = session.execute(select(func.count()).where(col(Attachment.ticket_id) == ticket.id)).scalar_one()
    answers = {
        "person_name": ticket.person_name,
        "person_nik": mask_nik(ticket.person_nik) if ticket.person_nik else None,
        "person_age": ticket.person_age,
        "person_sex": ticket.person_sex,
        "village_code": f"{village[1].name}, {village[0].name}" if village else None,
        "address": ticket.address,
        "location": ticket.latitude is not None,
        "photos": photos,
        "description": ticket.description,
        "reporter_phone": mask_phone(ticket.reporter_phone) if ticket.reporter_phone else None,
    }
    return {
        "number": ticket.number,
        "kind": ticket.kind,
        "category": found[1].label.as_dict() if found else {"id": ticket.category, "en": ticket.category},
        "status": ticket.status,
        "created": services.texts.long_date(services.calendar.local_date(ticket.created_at), language),
        "erased": is_erased(ticket),
        "public_service": (ticket.details or {}).get("basis") == requests.PUBLIC_SERVICE,
        "answers": answers,
    }


def moment(services: Services, at: datetime | None) -> dict[str, str] | None:
    """A date and time in words in every language: a message is rendered in its reader's."""
    if at is None:
        return None
    zone = services.calendar.zone
    return {lang: services.texts.long_moment(at, zone, lang) for lang in ("id", "en")}
