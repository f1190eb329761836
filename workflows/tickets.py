"""Opening tickets from a finished flow: numbering, columns, photos and the first event."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlmodel import Session

from storage import repo
from storage.models import Contact, Ticket, stored_id
from workflows.flowbook import FlowBook
from workflows.validation.ticket_number import format_ticket_number

# Answers that are ticket columns; any other answer an office adds goes into `details`.
COLUMNS = (
    "category_group",
    "category",
    "subject",
    "person_name",
    "person_nik",
    "person_age",
    "person_sex",
    "address",
    "district_code",
    "village_code",
    "description",
    "reporter_phone",
    "source",
)


def allocate_number(session: Session, *, prefix: str, year: int) -> str:
    sequence = repo.next_sequence(session, scope=f"{prefix}-{year}")
    return format_ticket_number(prefix, year, sequence)


def open_ticket(
    session: Session,
    *,
    book: FlowBook,
    contact: Contact,
    flow: str,
    answers: Mapping[str, Any],
    year: int,
    now: datetime,
) -> Ticket:
    """Create the ticket, link its photos and log its creation, in the caller's transaction."""
    columns = {key: answers[key] for key in COLUMNS if answers.get(key) is not None}
    location = answers.get("location") or {}
    photos = list(answers.get("photos") or [])
    details = {
        key: value
        for key, value in answers.items()
        if key not in COLUMNS and key not in ("location", "photos") and value is not None
    }
    ticket = Ticket(
        number=allocate_number(session, prefix=book.settings.ticket_prefix, year=year),
        kind=book.flow(flow).kind,
        reporter_contact_id=stored_id(contact),
        latitude=location.get("lat"),
        longitude=location.get("lon"),
        details=details,
        status="new",
        urgent=book.is_urgent(flow, answers.get("category"), answers),
        channel=contact.channel,
        language=contact.language,
        created_at=now,
        updated_at=now,
        **columns,
    )
    session.add(ticket)
    session.flush()
    linked = repo.link_attachments(
        session, ticket_id=stored_id(ticket), contact_id=stored_id(contact), attachment_ids=photos
    )
    repo.add_event(
        session,
        ticket_id=stored_id(ticket),
        actor=f"citizen:{contact.id}",
        kind="created",
        at=now,
        data={
            "channel": contact.channel,
            "source": answers.get("source"),
            "photos": linked,
            "flow": flow,
            **({"urgent": True} if ticket.urgent else {}),
        },
    )
    return ticket
