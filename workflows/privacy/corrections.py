"""Correcting a field of one's own ticket (UU 27/2022's right to correction): which answers
may be corrected, the new value checked as the intake checks it, and the change recorded."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from storage import repo
from storage.models import Contact, Ticket, stored_id
from workflows.engine import Say
from workflows.engine.words import fold
from workflows.flowbook import FlowBook, StepSpec
from workflows.privacy import requests
from workflows.services import Services
from workflows.validation import answers as checks

# What a citizen may correct, by answer key; the flow's own step says how it is checked.
CORRECTABLE = ("person_name", "person_nik", "reporter_phone", "address", "village_code", "description")


def fields(book: FlowBook, ticket: Ticket) -> dict[str, StepSpec]:
    """The correctable questions of the flow the ticket was filed through, in its order."""
    flows = [f for name, f in book.flows.items() if f.kind == ticket.kind and name != "survey"]
    return {s.answer_key: s for f in flows[:1] for s in f.steps if s.answer_key in CORRECTABLE}


def checked(services: Services, step: StepSpec, raw: str, now: datetime) -> Any:
    """The new value, checked as the intake checks it."""
    if step.type == "nik":
        return checks.nik(raw, today=services.calendar.local_date(now), unknown_allowed=False)
    if step.type == "phone":
        return checks.phone(raw)
    if step.type == "area":
        return _village(services.book, raw)
    return checks.text(step, raw)


def _village(book: FlowBook, raw: str) -> tuple[str, str] | checks.Invalid:
    """A village typed by name (the intake's two lists would need a page of buttons here)."""
    typed = fold(raw)
    found = [(d.code, v.code) for d in book.areas.districts for v in d.villages if fold(v.name) == typed]
    return found[0] if len(found) == 1 else checks.Invalid("village_name")


def apply(
    services: Services, session: Session, contact: Contact, ticket: Ticket, step: StepSpec, value: Any, now: datetime
) -> None:
    """The correction on the ticket, as an event that names the field, not the values (the
    wrong one is not kept: it was wrong), and the officer told, with the console's link."""
    key = step.answer_key
    if key == "village_code":
        ticket.district_code, ticket.village_code = value
    else:
        setattr(ticket, key, value)
    ticket.version += 1
    ticket.updated_at = now
    actor = f"citizen:{contact.id}"
    repo.add_event(
        session, ticket_id=stored_id(ticket), actor=actor, kind="citizen_correction", at=now, data={"field": key}
    )
    requests.record(
        session,
        contact=contact,
        kind="correction",
        tickets=[ticket],
        now=now,
        detail={"ticket": ticket.number, "field": key},
    )
    casework = services.casework
    context = {
        "number": ticket.number,
        "field": step.title.as_dict() if step.title else key,
        "link": casework.case_link(ticket),
    }
    requests.tell_office(session, casework, ticket, Say("privacy/staff_correction", context), now)
