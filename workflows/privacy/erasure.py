"""Erasing a ticket's personal data while keeping the case's number and its anonymous facts.

What goes: the person's name and NIK, the reporter's phone, the address and the map pin, the
photos and documents (rows here, files once the transaction has committed), and every free
text (the story, the officer's notes and questions, the citizen's answers, the resolution, the
referral's request and answer, the survey comment), since any of them may name someone. What
stays: the number, kind, category, district and village, age and sex, status and dates, the
service-standard record and the survey's scores — the office's statistics, about nobody.

Used for a citizen's erasure request or withdrawn consent (workflows/privacy/requests.py) and
by the retention job; idempotent, so either may run it again on the same ticket.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlmodel import Session, col

from storage import outbox, repo
from storage.models import (
    Attachment,
    Contact,
    OutboxMessage,
    Referral,
    SurveyResponse,
    Ticket,
    TicketEvent,
    stored_id,
    table_of,
)

ERASED = "erased"  # the ticket's details key: when and why its personal data went (the marker)
PERSONAL_COLUMNS = ("person_name", "person_nik", "reporter_phone", "address", "latitude", "longitude")
FREE_TEXT_COLUMNS = ("description", "resolution", "waiting_question")
# Event data that holds what someone wrote; `reason` is free text only on a reopening.
EVENT_TEXT_KEYS = ("text", "question", "resolution", "request", "outcome")


def is_erased(ticket: Ticket) -> bool:
    return bool((ticket.details or {}).get(ERASED))


def erase_personal_data(session: Session, ticket: Ticket, *, now: datetime, reason: str) -> list[str]:
    """Erase `ticket`'s personal data in the caller's transaction. Returns the attachment files
    no other row uses, for the caller to delete from disk after the commit (a rollback then
    loses no file). Running it again scrubs anything added since, and records nothing twice."""
    ticket_id = stored_id(ticket)
    first_time = not is_erased(ticket)
    for column in (*PERSONAL_COLUMNS, *FREE_TEXT_COLUMNS):
        setattr(ticket, column, None)
    kept = {k: v for k, v in (ticket.details or {}).items() if not isinstance(v, (str, list, dict)) or k == ERASED}
    ticket.details = {**kept, ERASED: (ticket.details or {}).get(ERASED) or {"at": now.isoformat(), "reason": reason}}
    ticket.updated_at = now
    ticket.version += 1  # cards shown before now are out of date
    for event in session.execute(select(TicketEvent).where(col(TicketEvent.ticket_id) == ticket_id)).scalars():
        scrubbed = _scrub(event.kind, event.data or {})
        if scrubbed != event.data:
            event.data = scrubbed
    session.execute(
        update(table_of(Referral)).where(col(Referral.ticket_id) == ticket_id).values(request="", outcome=None)
    )
    session.execute(
        update(table_of(SurveyResponse)).where(col(SurveyResponse.ticket_id) == ticket_id).values(comment=None)
    )
    _scrub_messages_to_reporter(session, ticket)
    paths = set(session.execute(select(col(Attachment.path)).where(col(Attachment.ticket_id) == ticket_id)).scalars())
    session.execute(delete(table_of(Attachment)).where(col(Attachment.ticket_id) == ticket_id))
    still_used = set(session.execute(select(col(Attachment.path)).where(col(Attachment.path).in_(paths))).scalars())
    if first_time:
        repo.add_event(
            session, ticket_id=ticket_id, actor="system", kind="personal_data_erased", at=now, data={"reason": reason}
        )
    return sorted(paths - still_used)


def _scrub_messages_to_reporter(session: Session, ticket: Ticket) -> None:
    """The messages the citizen was sent about this ticket (an officer's question, the
    resolution; the console's timeline shows them): their words go, their number stays. Found
    as the timeline finds them, by the chat's index; messages still to go out are left alone."""
    reporter = session.get(Contact, ticket.reporter_contact_id)
    if reporter is None:
        return
    rows = session.execute(
        select(OutboxMessage).where(
            col(OutboxMessage.channel) == reporter.channel,
            col(OutboxMessage.chat_id) == reporter.chat_id,
            col(OutboxMessage.created_at) >= ticket.created_at,
            col(OutboxMessage.status).in_((outbox.SENT, outbox.FAILED)),
        )
    ).scalars()
    for row in rows:
        params = (row.payload or {}).get("params") or {}
        if params.get("number") == ticket.number and not row.payload.get(ERASED):
            row.payload = {"text": "", "key": row.payload.get("key"), "params": {"number": ticket.number}, ERASED: True}


def _scrub(kind: str, data: Mapping[str, Any]) -> dict[str, Any]:
    keys = (*EVENT_TEXT_KEYS, "reason") if kind == "reopen" else EVENT_TEXT_KEYS
    return {k: (None if k in keys and isinstance(v, str) else v) for k, v in data.items()}
