"""The case page: one ticket whole — what was reported, by whom, where, its photos, its story —
and the forms to work it.

Every action is a small form carrying the ticket's version. The version grows with each
change, so a double press, or a form left open while a colleague acted, is refused instead of
acting twice. Which forms, their fields and their options come from the action table
(`workflows/casework/actions.py`), as the chat's buttons and questions do. The actions go
through `Casework`, which checks access and the lifecycle; a look at a case outside the
viewer's area is refused and logged on the ticket (and that log is kept, so the refusal is
caught inside the transaction rather than rolling it back).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal
from urllib.parse import quote

from aiohttp import web
from sqlmodel import Session

from bot.console.core import PREFIX, console_of, forbidden, form_of, not_found, redirect, render, signed_in
from storage.models import Attachment, Contact, Referral, Staff, SurveyResponse, Ticket
from workflows import audit, sla
from workflows.casework import access, cards
from workflows.casework.actions import ACTIONS, Action, Choice, choices, id_of, offered, offered_value
from workflows.casework.service import Casework, Denied, Refused
from workflows.console import assisted, photos, timeline
from workflows.duplicates import lookup
from workflows.lifecycle import IllegalTransition

TEXT_MAX = 2000  # what an officer types: a note, a question, a resolution
CHOICE_MAX = 64
NUMBER_MAX = 24  # Ticket.number
DENIED: Final = "denied"
_SLA_LABEL_CODES = {
    "breached": "overdue",
    "at_risk": "due_soon",
    "on_track": "on_time",
    "met": "met",
}  # sla.state → label code

Form = Mapping[str, str]


@dataclass(frozen=True)
class Stage:
    """A service-standard stage of the ticket: when it is due, when it was met, and for the
    stage now running, how it stands (a label code)."""

    name: str
    due: datetime
    met: datetime | None
    state: str | None


@dataclass(frozen=True)
class CaseView:
    ticket: Ticket
    assignee: Staff | None
    reporter: Contact | None
    referrals: Sequence[Referral]
    photos: list[photos.Photo]
    timeline: timeline.Timeline
    survey: SurveyResponse | None
    stages: list[Stage]
    actions: frozenset[str]
    forms: list[Action]  # the offered actions, in the table's order
    choices: Mapping[str, Mapping[str, tuple[Choice, ...]]]  # action → choice field → its options
    referral_answers: Mapping[int, tuple[Choice, ...]]  # open referral → the answers it may still get
    full_nik: bool
    map_link: str | None
    filed_by: Staff | None  # who filed it at the desk (assisted intake)
    duplicates: Sequence[Ticket]  # open tickets that may be the same case
    linked_to: Ticket | None  # the case this ticket follows
    joined: Sequence[Ticket]  # the tickets that follow this one


def _choices(
    session: Session, casework: Casework, staff: Staff, ticket: Ticket, forms: Sequence[Action]
) -> dict[str, dict[str, tuple[Choice, ...]]]:
    """The options of each offered form's choice fields, as the chat would offer them."""
    return {
        action.name: {
            item.name: choices(casework, session, staff, ticket, item.source, {})
            for item in action.inputs
            if item.source is not None
        }
        for action in forms
    }


def _stages(casework: Casework, ticket: Ticket, now: datetime) -> list[Stage]:
    current = _SLA_LABEL_CODES[sla.state(ticket, calendar=casework.calendar, now=now)]
    return [
        Stage(
            name,
            datetime.fromisoformat(entry["due"]),
            datetime.fromisoformat(entry["met"]) if entry["met"] else None,
            current if name == ticket.sla_stage else None,
        )
        for name, entry in (ticket.sla or {}).items()
    ]


def _find(
    session: Session, *, casework: Casework, staff: Staff, number: str, now: datetime, action: str = "view"
) -> Ticket | Literal["denied"] | None:
    """The ticket, if the viewer may `action` it; a refusal is kept on its timeline (caught here,
    so the unit of work commits it rather than rolling it back)."""
    try:
        return casework.find(session, staff, number=number, now=now, action=action)
    except Denied:
        return DENIED


def load_case(
    session: Session, *, casework: Casework, staff: Staff, number: str, now: datetime, secret: bytes
) -> CaseView | Literal["denied"] | None:
    ticket = _find(session, casework=casework, staff=staff, number=number, now=now)
    if not isinstance(ticket, Ticket):
        return ticket
    referrals = casework.referrals(session, ticket)
    reporter = session.get(Contact, ticket.reporter_contact_id)
    form_choices = _choices(session, casework, staff, ticket, offered(staff, ticket, referrals))
    forms = [
        action
        for action in offered(staff, ticket, referrals)
        if not action.needs_choices or any(form_choices[action.name].values())
    ]
    names = frozenset(action.name for action in forms)
    # Who looked at whose personal data (UU 27/2022 asks an office to be able to show it).
    audit.record(session, staff_id=staff.id, action="case.view", subject=ticket.number, now=now)
    return CaseView(
        ticket=ticket,
        assignee=casework.assignee(session, ticket),
        reporter=reporter,
        referrals=referrals,
        photos=photos.of_ticket(session, ticket_id=ticket.id, secret=secret),  # type: ignore[arg-type]
        timeline=timeline.build(session, ticket=ticket, reporter=reporter, referrals=referrals),
        survey=timeline.survey(session, ticket_id=ticket.id),  # type: ignore[arg-type]
        stages=_stages(casework, ticket, now),
        actions=names,
        forms=forms,
        choices=form_choices,
        referral_answers={
            id_of(c.value): choices(casework, session, staff, ticket, "referral_statuses", {"referral": c.value})
            for c in form_choices.get("referral", {}).get("referral", ())
        },
        full_nik=access.sees_full_nik(staff, ticket),
        map_link=cards.map_link(ticket),
        filed_by=session.get(Staff, ticket.details["filed_by_staff_id"])
        if ticket.details.get("filed_by_staff_id")
        else None,
        duplicates=lookup.suggested(session, ticket=ticket),
        linked_to=session.get(Ticket, ticket.linked_to_id) if ticket.linked_to_id else None,
        joined=casework.joined(session, ticket),
    )


def act(
    session: Session,
    *,
    casework: Casework,
    staff: Staff,
    number: str,
    action: str,
    version: int | None,
    values: Form,
    now: datetime,
) -> Literal["denied", "missing", "stale", "done"]:
    """One action on the ticket as the form saw it. Refused and IllegalTransition pass up (the
    transaction is rolled back; nothing has changed before Casework raises them)."""
    ticket = _find(session, casework=casework, staff=staff, number=number, now=now, action=action)
    if not isinstance(ticket, Ticket):
        return ticket or "missing"
    if ticket.version != version:
        return "stale"
    todo = ACTIONS[action]
    if not offered_value(casework, session, staff, ticket, todo, values):
        raise Refused("no_longer_offered")
    todo.do(casework, session, staff, ticket, values, now)
    return "done"


def read_fields(form: Mapping[str, Any], action: str) -> tuple[dict[str, str], str | None]:
    """The action's fields, trimmed, and the first problem with them (a code the page words)."""
    values: dict[str, str] = {}
    problem = None
    for item in ACTIONS[action].inputs:
        value = str(form.get(item.name, "")).replace("\r\n", "\n").strip()
        if not item.typed:
            value = value[:CHOICE_MAX]
        elif len(value) > TEXT_MAX:
            problem = problem or "too_long"
        elif item.required and not value:
            problem = problem or "empty"
        values[item.name] = value
    return values, problem


def _number(request: web.Request) -> str:
    return request.match_info["number"][:NUMBER_MAX]


async def show(
    request: web.Request,
    staff: Staff,
    *,
    status: int = 200,
    error: str | None = None,
    action: str | None = None,
    typed: Mapping[str, str] | None = None,
) -> web.Response:
    """The case page; after a refused action, with what went wrong and what was typed."""
    console = console_of(request)
    now = console.now()
    view = await console.run(
        load_case,
        casework=console.services.casework,
        staff=staff,
        number=_number(request),
        now=now,
        secret=console.secret,
    )
    if view == DENIED:
        raise forbidden(request)
    if view is None:
        raise not_found(request)
    done = request.query.get("done") if status == 200 else None
    return render(
        request,
        "console/case.html",
        status=status,
        view=view,
        now=now,
        error=error,
        done=done,
        typed_action=action,
        typed=typed or {},
        text_max=TEXT_MAX,
        ASSISTED_KEYS=assisted.DETAILS_KEYS,
    )


async def case_page(request: web.Request) -> web.Response:
    return await show(request, signed_in(request))


async def case_action(request: web.Request) -> web.Response:
    staff = signed_in(request)
    console = console_of(request)
    action = request.match_info["action"]
    if action not in ACTIONS:
        raise not_found(request)
    form = await form_of(request)
    values, problem = read_fields(form, action)
    if problem:
        return await show(request, staff, status=400, error=problem, action=action, typed=values)
    version = str(form.get("version", ""))
    try:
        outcome = await console.run(
            act,
            casework=console.services.casework,
            staff=staff,
            number=_number(request),
            action=action,
            version=id_of(version) if version else None,
            values=values,
            now=console.now(),
        )
    except Refused as refused:
        return await show(request, staff, status=409, error=refused.reason, action=action, typed=values)
    except IllegalTransition:
        return await show(request, staff, status=409, error="illegal", action=action, typed=values)
    if outcome == DENIED:
        raise forbidden(request)
    if outcome == "missing":
        raise not_found(request)
    if outcome == "stale":
        return await show(request, staff, status=409, error="stale", action=action, typed=values)
    raise redirect(f"{PREFIX}/cases/{quote(_number(request))}?done={action}")


def fetch_photo(
    session: Session, *, casework: Casework, staff: Staff, number: str, token: str, now: datetime, secret: bytes
) -> Attachment | Literal["denied"] | None:
    """The photo behind a signed address, once the viewer may see the case."""
    ticket = _find(session, casework=casework, staff=staff, number=number, now=now)
    if not isinstance(ticket, Ticket):
        return ticket
    attachment_id = photos.verify(secret, token, ticket_id=ticket.id)  # type: ignore[arg-type]
    if attachment_id is None:
        return None
    return photos.find(session, ticket_id=ticket.id, attachment_id=attachment_id)  # type: ignore[arg-type]


async def photo(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    console = console_of(request)
    found = await console.run(
        fetch_photo,
        casework=console.services.casework,
        staff=staff,
        number=_number(request),
        token=request.match_info["token"][:64],
        now=console.now(),
        secret=console.secret,
    )
    if found == DENIED:
        raise forbidden(request)
    path = photos.file_of(console.settings.attachments_dir, found) if found is not None else None
    if found is None or path is None:
        raise not_found(request)
    return web.FileResponse(
        path,
        headers={
            "Content-Type": photos.content_type_of(found),
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def routes() -> list[web.RouteDef]:
    return [
        web.get(PREFIX + "/cases/{number}", case_page),
        web.post(PREFIX + "/cases/{number}/{action}", case_action),
        web.get(PREFIX + "/cases/{number}/photos/{token}", photo),
    ]
