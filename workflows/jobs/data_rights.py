"""Citizens' data-rights requests (UU 27/2022, answered within 3×24 hours): finish those whose
open cases have closed, and chase the office for the rest.

A withdrawal or erasure request stays open while a case it covers is still being handled
(workflows/privacy/requests.py). Each tick: a covered ticket that has closed since is erased;
a request with nothing left open is done and the citizen told; one due within REMIND_BEFORE
reminds whoever answers for each open case; one past its due time goes to the area's
supervisors and the admins. The deadline is in calendar hours, so these go out at any hour,
each once (dedupe keys).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session, col

from storage.models import Contact, DataRightsRequest, Staff, Ticket
from workflows.casework import routing
from workflows.engine import Say
from workflows.jobs.base import JobContext, JobResult
from workflows.lifecycle import OPEN
from workflows.privacy import requests
from workflows.privacy.erasure import erase_personal_data, is_erased, take_released_files
from workflows.texts import LANGUAGES

BATCH = 200
REMIND_BEFORE = timedelta(hours=24)


def data_rights_requests(ctx: JobContext, session: Session, now: datetime) -> JobResult:
    result = JobResult()
    pending = (
        session.execute(
            select(DataRightsRequest)
            .where(col(DataRightsRequest.status) == "open")
            .order_by(col(DataRightsRequest.due_at))
            .limit(BATCH)
        )
        .scalars()
        .all()
    )
    for request in pending:
        tickets = _tickets(session, request)
        for ticket in tickets:
            if ticket.status not in OPEN and not is_erased(ticket):
                erase_personal_data(session, ticket, now=now, reason=request.kind)
        result.files_to_delete += take_released_files(session)
        still_open = [t for t in tickets if t.status in OPEN and not is_erased(t)]
        if not still_open:
            result.queued += _finish(ctx, session, request, tickets, now)
        elif now >= request.due_at:
            result.queued += _escalate(ctx, session, request, still_open, now)
        elif now >= request.due_at - REMIND_BEFORE:
            result.queued += _remind(ctx, session, request, still_open, now)
    return result


def _tickets(session: Session, request: DataRightsRequest) -> list[Ticket]:
    if not request.ticket_ids:
        return []
    return list(
        session.execute(select(Ticket).where(col(Ticket.id).in_(request.ticket_ids)).with_for_update()).scalars()
    )


def _finish(ctx: JobContext, session: Session, request: DataRightsRequest, tickets: list[Ticket], now: datetime) -> int:
    request.status, request.done_at = "done", now
    erased = [t.number for t in tickets]
    request.detail = {**request.detail, "erased": erased, "kept": []}
    contact = session.get(Contact, request.contact_id)
    if contact is None:
        return 0
    say = Say("privacy/request_done", {"kind": request.kind, "erased": erased})
    return ctx.casework.send(session, contact, [say], now, dedupe_key=f"rights_done:{request.id}")


def _context(ctx: JobContext, request: DataRightsRequest, still_open: list[Ticket]) -> dict[str, object]:
    zone = ctx.calendar.zone
    return {
        "numbers": [t.number for t in still_open],
        "kind": request.kind,
        "due": {lang: ctx.texts.long_moment(request.due_at, zone, lang) for lang in LANGUAGES},
        "link": ctx.casework.case_link(still_open[0]),
    }


def _remind(
    ctx: JobContext, session: Session, request: DataRightsRequest, still_open: list[Ticket], now: datetime
) -> int:
    """Whoever answers for each open case, once."""
    queued = 0
    for ticket in still_open:
        staff = requests.office_for(session, ticket)
        if staff is not None:
            say = Say("privacy/due_soon", _context(ctx, request, [ticket]))
            queued += ctx.casework.tell_staff(session, staff, [say], now, f"rights_due:{request.id}:{ticket.id}")
    return queued


def _escalate(
    ctx: JobContext, session: Session, request: DataRightsRequest, still_open: list[Ticket], now: datetime
) -> int:
    """Past the legal deadline: the area's supervisors and every admin, once each."""
    queued = 0
    admins = session.execute(select(Staff).where(col(Staff.role) == "admin", col(Staff.status) == "active")).scalars()
    people = {s.id: s for t in still_open for s in routing.area_supervisors(session, district_code=t.district_code)}
    people |= {s.id: s for s in admins}
    owner = requests.office_for(session, still_open[0])
    context = {
        **_context(ctx, request, still_open),
        "officer": owner.name if owner and owner.role == "officer" else None,
    }
    for staff in people.values():
        say = Say("privacy/overdue", context)
        queued += ctx.casework.tell_staff(session, staff, [say], now, f"rights_overdue:{request.id}:{staff.id}")
    return queued
