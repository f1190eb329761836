"""Citizens' data-rights requests (UU 27/2022) as tracked items: recorded, carried out where
the chat can do it at once, and otherwise left open for the office within 3×24 hours.

Withdrawing consent and asking for erasure both erase at once the personal data of every
ticket that is finished (nothing needs it any more). An open case is different: the office
is helping someone, often a person in danger who did not file it, under its public-service
task (UU 27/2022 art. 20: a legal basis besides consent), so its data stays, the officer (or,
without one, the area's supervisor) is told, and the request stays open until the case is
closed; the scheduler then erases it and answers the citizen, and chases the office before
and after the deadline (workflows/jobs/data_rights.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from storage import repo
from storage.models import Contact, Conversation, DataRightsRequest, Staff, Ticket, stored_id
from workflows.casework import routing
from workflows.casework.service import Casework
from workflows.engine import Say
from workflows.lifecycle import OPEN
from workflows.privacy.erasure import erase_personal_data, is_erased, take_released_files

log = logging.getLogger(__name__)

ANSWER_WITHIN = timedelta(hours=72)  # UU 27/2022: 3×24 hours, calendar hours
PUBLIC_SERVICE = "public_service"  # a ticket's details["basis"] once consent was withdrawn
DATA_REQUEST = "data_request"  # a ticket's details: the citizen's request its closing will answer


def tickets_of(session: Session, contact: Contact) -> list[Ticket]:
    """Every ticket the contact filed, newest first: a request covers them all, not a page."""
    return list(
        session.execute(
            select(Ticket)
            .where(col(Ticket.reporter_contact_id) == stored_id(contact))
            .order_by(col(Ticket.created_at).desc(), col(Ticket.id).desc())
        ).scalars()
    )


def record(
    session: Session,
    *,
    contact: Contact,
    kind: str,
    tickets: Sequence[Ticket],
    now: datetime,
    detail: dict[str, Any] | None = None,
    done: bool = True,
) -> DataRightsRequest:
    """A request as its row: answered at once (`done`) or open until the office acts."""
    request = DataRightsRequest(
        contact_id=stored_id(contact),
        kind=kind,
        status="done" if done else "open",
        ticket_ids=[stored_id(t) for t in tickets],
        districts=sorted({t.district_code for t in tickets if t.district_code}),
        detail=detail or {},
        received_at=now,
        due_at=now + ANSWER_WITHIN,
        done_at=now if done else None,
    )
    session.add(request)
    session.flush()
    return request


def requests_of(session: Session, contact: Contact) -> list[DataRightsRequest]:
    return list(
        session.execute(
            select(DataRightsRequest)
            .where(col(DataRightsRequest.contact_id) == stored_id(contact))
            .order_by(col(DataRightsRequest.id))
        ).scalars()
    )


def withdraw_or_erase(
    session: Session, casework: Casework, *, contact: Contact, kind: str, now: datetime
) -> tuple[DataRightsRequest, list[str]]:
    """Carry out a withdrawal of consent (`kind` "withdraw") or an erasure request ("erase"):
    finished tickets erased now, open ones kept for the public service with their officer
    told. Returns the request and the files to delete once the transaction has committed."""
    tickets = tickets_of(session, contact)
    still_open = [t for t in tickets if t.status in OPEN and not is_erased(t)]
    files: list[str] = []
    erased = []
    for ticket in tickets:
        if ticket not in still_open:
            erase_personal_data(session, ticket, now=now, reason=kind)
            erased.append(ticket.number)
    files += take_released_files(session)
    detail: dict[str, Any] = {"erased": erased, "kept": [t.number for t in still_open]}
    if kind == "withdraw" and contact.consent_version:
        detail["consent"] = {
            "version": contact.consent_version,
            "at": contact.consent_at.isoformat() if contact.consent_at else None,
        }
    if kind == "withdraw":  # asked again, with its text, before any new report
        contact.consent_at, contact.consent_version = None, None
    contact.display_name = None
    files += forget_unfinished_report(session, contact)
    request = record(session, contact=contact, kind=kind, tickets=tickets, now=now, detail=detail, done=not still_open)
    log.info("data-rights request %s (%s): %d tickets erased, %d open", request.id, kind, len(erased), len(still_open))
    for ticket in still_open:
        # On the card until the case closes (erasure then drops it with the rest of the details).
        pending = {DATA_REQUEST: {"kind": kind, "due": request.due_at.isoformat()}}
        basis = {"basis": PUBLIC_SERVICE} if kind == "withdraw" else {}
        ticket.details = {**(ticket.details or {}), **pending, **basis}
        repo.add_event(
            session,
            ticket_id=stored_id(ticket),
            actor=f"citizen:{contact.id}",
            kind="data_rights_request",
            at=now,
            data={"request": request.id, "kind": kind},
        )
        ticket.version += 1
        tell_office(
            session, casework, ticket, Say("privacy/staff_request", staff_context(casework, ticket, request)), now
        )
    return request, files


def forget_unfinished_report(session: Session, contact: Contact) -> list[str]:
    """The answers of a report they had started: not kept once they asked to be forgotten."""
    conversation = session.execute(
        select(Conversation).where(col(Conversation.contact_id) == stored_id(contact))
    ).scalar_one_or_none()
    if conversation is None or not conversation.answers:
        return []
    photos = list(conversation.answers.get("photos") or [])
    conversation.answers = {}
    return repo.drop_attachments(session, contact_id=stored_id(contact), attachment_ids=photos)


def staff_context(casework: Casework, ticket: Ticket, request: DataRightsRequest) -> dict[str, Any]:
    """What a message to staff says of a request: never a value, only what and by when."""
    return {
        "number": ticket.number,
        "kind": request.kind,
        "due": {
            lang: casework.texts.long_moment(request.due_at, casework.calendar.zone, lang) for lang in ("id", "en")
        },
        "link": casework.case_link(ticket),
    }


def office_for(session: Session, ticket: Ticket) -> Staff | None:
    """Who answers for a ticket now: its active officer, else the area's supervisor."""
    owner = Casework.assignee(session, ticket)
    if owner is not None and owner.status == "active":
        return owner
    return routing.area_supervisor(session, district_code=ticket.district_code)


def tell_office(
    session: Session, casework: Casework, ticket: Ticket, say: Say, now: datetime, dedupe_key: str | None = None
) -> int:
    staff = office_for(session, ticket)
    return casework.tell_staff(session, staff, [say], now, dedupe_key) if staff is not None else 0
