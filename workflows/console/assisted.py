"""Assisted intake: an officer or village facilitator files a report for a citizen who came to
the office (walk-in) or was met in their village (outreach, "jemput bola").

The form asks the chat's own questions (the flow book's complaint and service flows), checks
each answer with the chat's own checks (`workflows.validation.answers`) and files through the
same `Casework.open`, so routing, service standards and the officer's notice are the chat's.
Who filed it, how it came and how the citizen wants news are kept with the ticket; a form sent
twice (a double tap, a retry on a slow line) files once.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from storage import repo
from storage.files import PhotoRejected, StoredPhoto, inspect_photo
from storage.models import Contact, Staff, Ticket, stored_id
from workflows import audit, link_codes
from workflows.casework import access
from workflows.casework.service import Denied
from workflows.flowbook import FlowBook, FlowSpec, StepSpec
from workflows.services import Services
from workflows.staff import whatsapp_id
from workflows.validation import answers as checks
from workflows.validation.answers import Invalid

SOURCES = ("walkin", "outreach")


@dataclass(frozen=True)
class NewsWay:
    """A way a citizen filed at the desk can get news of their case: on a channel that reaches
    people by their phone number (`address`: their address there, from the number), on one
    they link to the case with the receipt's code (`linked_by_code`), or from an officer. Each
    is worded by its templates, `templates/console/updates/<code>.<part>.html`. One that
    `needs_channel` is offered only while the channel of its code is switched on (SMS needs a
    gateway)."""

    code: str
    needs_phone: bool = False
    address: Callable[[str], str] | None = None
    linked_by_code: bool = False
    needs_channel: bool = False


NEWS_WAYS = {
    way.code: way
    for way in (
        NewsWay("whatsapp", needs_phone=True, address=whatsapp_id),
        NewsWay("telegram", linked_by_code=True),
        # the number as the form checked it (E.164) is the address SMS gateways take
        NewsWay("sms", needs_phone=True, address=str, needs_channel=True),
        NewsWay("phone", needs_phone=True),
        NewsWay("paper"),
    )
}
UPDATES = tuple(NEWS_WAYS)


def offered(switched_on: Collection[str]) -> tuple[str, ...]:
    """The ways the form offers, given the channels switched on."""
    return tuple(code for code, way in NEWS_WAYS.items() if not way.needs_channel or code in switched_on)


# What assisted intake adds to a ticket's details (the case page words the first two itself).
DETAILS_KEYS = ("updates_via", "filed_by_staff_id", "form_key")
PHONE_FIELD = "reporter_phone"  # the ticket column the citizen's number goes to
DESK = "desk"  # the channel of a citizen without a chat: nothing sends it, the case page shows it
FORM_KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")
RESUBMIT_WINDOW = timedelta(days=2)  # how far back a form key is looked for


@dataclass(frozen=True)
class Upload:
    """A file sent with the form: the name the browser gave it and its bytes."""

    name: str
    data: bytes


@dataclass(frozen=True)
class Filing:
    """A form that passed every check: what the ticket is opened with."""

    flow: str
    answers: dict[str, Any]
    source: str
    updates_via: str
    form_key: str
    photo_field: str | None = None
    photos: tuple[bytes, ...] = ()


@dataclass
class Checked:
    """Why each field was refused (by field name), or the filing when none was."""

    errors: dict[str, Invalid] = field(default_factory=dict)
    filing: Filing | None = None


def new_form_key() -> str:
    return secrets.token_urlsafe(18)


def flow_for(book: FlowBook, kind: str) -> str | None:
    """The intake flow of a kind (complaint or service)."""
    return next((name for name in book.intake_flows() if book.flow(name).kind == kind), None)


def kinds(book: FlowBook) -> list[str]:
    return [book.flow(name).kind for name in book.intake_flows()]


def fields(flow: FlowSpec) -> list[StepSpec]:
    """The flow's questions as form fields (the summary is the form itself)."""
    return [step for step in flow.steps if step.type != "summary"]


def asks_phone(flow: FlowSpec) -> bool:
    """Whether the flow has its own question for the citizen's number (else the form adds one)."""
    return any(step.answer_key == PHONE_FIELD for step in flow.steps)


def check(
    book: FlowBook,
    *,
    staff: Staff,
    kind: str,
    form: Mapping[str, str],
    uploads: Sequence[Upload],
    today: date,
    max_photo_bytes: int,
    ways: Collection[str] = UPDATES,
) -> Checked:
    """Check a posted form question by question, in the flow's order, so each step's `when`,
    `skippable` and `unknown_when` see the earlier answers exactly as in the chat. `ways`:
    the news ways the form offered (`offered`)."""
    flow_name = flow_for(book, kind)
    if flow_name is None:
        return Checked({"kind": Invalid("choose_option")})
    flow = book.flow(flow_name)
    errors: dict[str, Invalid] = {}
    answers: dict[str, Any] = {}
    photo_field: str | None = None
    photos: tuple[bytes, ...] = ()
    for step in fields(flow):
        if not checks.holds(step.when, answers):
            continue
        if step.type == "photos":
            photo_field = step.answer_key
            taken = _photos(step, uploads, max_photo_bytes)
            if isinstance(taken, Invalid):
                errors[step.answer_key] = taken
                continue
            photos = taken
            result: dict[str, Any] | Invalid = {step.answer_key: []}
        else:
            result = _answer(book, staff, flow, step, form, answers, today)
        if isinstance(result, Invalid):
            errors[step.answer_key] = result
        else:
            answers.update(result)
    if not asks_phone(flow) and form.get(PHONE_FIELD, "").strip():
        number = checks.phone(form[PHONE_FIELD])
        if isinstance(number, Invalid):
            errors[PHONE_FIELD] = number
        else:
            answers[PHONE_FIELD] = number
    source, updates_via = form.get("source", ""), form.get("updates_via", "")
    if source not in SOURCES:
        errors["source"] = Invalid("choose_option")
    if updates_via not in ways:
        errors["updates_via"] = Invalid("choose_option")
    elif NEWS_WAYS[updates_via].needs_phone and not answers.get(PHONE_FIELD) and PHONE_FIELD not in errors:
        errors[PHONE_FIELD] = Invalid("phone_needed")
    if errors:
        return Checked(errors)
    key = form.get("form_key", "")
    return Checked(
        filing=Filing(
            flow=flow_name,
            answers=answers,
            source=source,
            updates_via=updates_via,
            form_key=key if FORM_KEY.fullmatch(key) else new_form_key(),
            photo_field=photo_field,
            photos=photos,
        )
    )


def _answer(
    book: FlowBook,
    staff: Staff,
    flow: FlowSpec,
    step: StepSpec,
    form: Mapping[str, str],
    answers: Mapping[str, Any],
    today: date,
) -> dict[str, Any] | Invalid:
    key = step.answer_key
    if step.type == "consent":  # the version of the text the officer read out
        return {} if form.get("consent") == book.settings.consent_version else Invalid("consent")
    if step.type == "location":
        return _location(key, form)
    raw = form.get(key, "").strip()
    if step.type == "nik" and form.get(f"{key}_unknown") and checks.unknown_allowed(step, answers):
        return {key: None}
    if not raw:
        if not checks.holds(step.skippable, answers):
            return Invalid("required")
        return {"district_code": None, key: None} if step.type == "area" else {key: None}
    if step.type == "category":
        found = book.category(flow.kind, raw)
        return {"category_group": found[0].key, key: found[1].key} if found else Invalid("choose_option")
    if step.type == "choice":
        return {key: raw} if raw in [o.value for o in step.options] else Invalid("choose_option")
    if step.type == "danger":  # someone in danger now: "yes" makes the ticket urgent
        return {key: raw == "yes"} if raw in ("yes", "no") else Invalid("choose_option")
    if step.type == "area":
        place = book.areas.village(raw)
        if place is None or not access.covers(staff, place[0].code):
            return Invalid("choose_option")
        return {"district_code": place[0].code, key: place[1].code}
    if step.type == "nik":
        value: Any = checks.nik(raw, today=today, unknown_allowed=checks.unknown_allowed(step, answers))
    elif step.type == "phone":
        value = checks.phone(raw)
    elif step.type == "number":
        value = checks.number(step, raw)
    else:
        value = checks.text(step, form.get(key, ""))
    return value if isinstance(value, Invalid) else {key: value}


def _location(key: str, form: Mapping[str, str]) -> dict[str, Any] | Invalid:
    """Optional, as in the chat: filled by the browser's position, or left empty."""
    latitude, longitude = form.get("latitude", "").strip(), form.get("longitude", "").strip()
    if not latitude and not longitude:
        return {key: None}
    try:
        place = checks.location(float(latitude), float(longitude))
    except ValueError:
        return Invalid("expected_location")
    return place if isinstance(place, Invalid) else {key: place}


def _photos(step: StepSpec, uploads: Sequence[Upload], max_bytes: int) -> tuple[bytes, ...] | Invalid:
    """Each photo checked like a chat photo (size, a real JPEG, PNG or WebP); stored only once
    the whole form is accepted, so a refused form leaves nobody's pictures behind."""
    if len(uploads) > step.max_photos:
        return Invalid("too_many_photos", {"max": step.max_photos})
    for upload in uploads:
        try:
            inspect_photo(upload.data, max_bytes=max_bytes)
        except PhotoRejected as rejected:
            return Invalid("photo_rejected", {"reason": rejected.reason, "name": upload.name[:80]})
    return tuple(upload.data for upload in uploads)


def filed_with_key(session: Session, *, staff_id: int, form_key: str, now: datetime) -> Ticket | None:
    """The ticket this staff member already filed with this form, if any (a second send)."""
    return (
        session.execute(
            select(Ticket)
            .where(
                col(Ticket.created_at) >= now - RESUBMIT_WINDOW,
                col(Ticket.source).in_(SOURCES),
                col(Ticket.details)["form_key"].as_string() == form_key,
                col(Ticket.details)["filed_by_staff_id"].as_integer() == staff_id,
            )
            .order_by(col(Ticket.id))
            .limit(1)
        )
        .scalars()
        .first()
    )


def file(
    session: Session, *, services: Services, staff_id: int, filing: Filing, photos: Sequence[StoredPhoto], now: datetime
) -> Ticket:
    """Open the ticket as the chat would, for the citizen's contact; the second send of a form
    answers with the ticket the first one opened."""
    session.get(
        Staff, staff_id, with_for_update=True
    )  # one filing per staff member at a time: a twin waits, then finds the first
    earlier = filed_with_key(session, staff_id=staff_id, form_key=filing.form_key, now=now)
    if earlier is not None:
        return earlier
    contact = _reporter(session, filing, now)
    contact.consent_at, contact.consent_version = now, services.book.settings.consent_version
    answers = {
        **filing.answers,
        "source": filing.source,
        "updates_via": filing.updates_via,
        "filed_by_staff_id": staff_id,
        "form_key": filing.form_key,
    }
    if filing.photo_field:
        answers[filing.photo_field] = [services.record_photo(session, contact, photo, now).id for photo in photos]
    ticket = services.casework.open(session, contact=contact, flow=filing.flow, answers=answers, now=now)
    services.casework.send(session, contact, [services.ticket_created(ticket, contact.language)], now)
    if NEWS_WAYS[filing.updates_via].linked_by_code:  # their receipt carries the code that links their chat
        link_codes.issue(session, ticket=ticket, now=now)
    audit.record(
        session,
        staff_id=staff_id,
        action="assisted_intake",
        now=now,
        subject=ticket.number,
        data={"source": filing.source, "updates_via": filing.updates_via, "channel": contact.channel},
    )
    return ticket


def _reporter(session: Session, filing: Filing, now: datetime) -> Contact:
    """News on a channel that reaches people by their number goes to that channel's contact
    for the number (the same one the citizen has when they write, e.g. on WhatsApp); anyone
    else gets a desk contact of their own."""
    phone = filing.answers.get(PHONE_FIELD)
    name = filing.answers.get("person_name") if filing.answers.get("subject") == "self" else None
    way = NEWS_WAYS[filing.updates_via]
    if way.address is not None and phone:  # the form asked for the number (`needs_phone`)
        number = way.address(phone)
        contact = repo.get_or_create_contact(
            session, channel=way.code, external_id=number, chat_id=number, language="id", display_name=name, now=now
        )
    else:
        reference = f"{DESK}-{secrets.token_hex(10)}"
        contact = repo.get_or_create_contact(
            session, channel=DESK, external_id=reference, chat_id=reference, language="id", display_name=name, now=now
        )
    contact.phone = contact.phone or phone
    contact.display_name = contact.display_name or name
    return contact


@dataclass(frozen=True)
class Receipt:
    ticket: Ticket
    filed_by: str | None
    link_code: str | None  # for Telegram news: `/start <code>` links the citizen's chat (its filer only)
    link_open: bool  # a code waits to be used (False: the citizen's chat is linked)


def receipt(session: Session, *, services: Services, staff: Staff, number: str, now: datetime) -> Receipt | str:
    """A ticket's receipt for the staff member who filed it or anyone who may view the case;
    "not_found" or "denied" (the attempt kept on the ticket's timeline) otherwise."""
    ticket = session.execute(select(Ticket).where(col(Ticket.number) == number)).scalars().first()
    if ticket is None:
        return "not_found"
    filer_id = (ticket.details or {}).get("filed_by_staff_id")
    if filer_id != staff.id:
        try:
            services.casework.find(session, staff, number=number, now=now)
        except Denied:
            return "denied"
    filer = session.get(Staff, filer_id) if isinstance(filer_id, int) else None
    audit.record(session, staff_id=staff.id, action="receipt.view", subject=ticket.number, now=now)
    # The Telegram code hands over the case's news: only the one who filed it, to print for the
    # citizen, sees it; any other viewer could otherwise link their own chat instead.
    code = link_codes.unused_code(session, ticket_id=stored_id(ticket))
    return Receipt(
        ticket=ticket,
        filed_by=filer.name if filer else None,
        link_code=code if filer_id == staff.id else None,
        link_open=code is not None,
    )
