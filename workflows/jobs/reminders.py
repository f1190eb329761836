"""Nudges: officers before a due time and at breach, supervisors at breach and again every few
working days, referral follow-ups, "still being handled" notes and one survey reminder to
citizens, closing tickets whose question was never answered, and tidying abandoned reports.

Each scan starts from an index (due times, referral due times, last citizen update, status)
and each message carries a dedupe key naming what it is about, so running a job twice, or
late, sends nothing twice. People are woken only in office hours on working days.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session, col

from storage import repo
from storage.models import (
    Conversation,
    OutboxMessage,
    Referral,
    Staff,
    SurveyResponse,
    Ticket,
)
from workflows.casework import routing
from workflows.casework.actions import OPEN_REFERRAL
from workflows.casework.service import Casework
from workflows.engine import Option, Say
from workflows.jobs.base import JobContext, JobResult
from workflows.lifecycle import OPEN

BATCH = 500  # rows one job looks at per tick; the next tick goes on
EXPIRED = "expired"  # the conversation's extra: a report was tidied away, its note is owed


def _fresh(session: Session, keys: Sequence[str]) -> set[str]:
    """The keys not used yet: one query instead of a failed insert per row already sent."""
    if not keys:
        return set()
    used = session.execute(
        select(col(OutboxMessage.dedupe_key)).where(col(OutboxMessage.dedupe_key).in_(list(keys)))
    ).scalars()
    return set(keys) - set(used)


def _working(ctx: JobContext, now: datetime) -> bool:
    return ctx.calendar.office_hours(now, ctx.book.office.reminders.office_opens)


def _owner(session: Session, ticket: Ticket) -> Staff | None:
    staff = Casework.assignee(session, ticket)
    return staff if staff is not None and staff.status != "disabled" else None


def due_today(ctx: JobContext, session: Session, now: datetime) -> JobResult:
    """The morning of the due day, the assignee hears which stage is due, with the card."""
    result = JobResult()
    if not _working(ctx, now):
        return result
    tickets = (
        session.execute(
            select(Ticket)
            .where(
                col(Ticket.due_at) >= now,
                col(Ticket.due_at) <= ctx.calendar.end_of_day(now),
                col(Ticket.status).in_(sorted(OPEN)),
                col(Ticket.urgent).is_(False),  # due within hours: jobs/urgent.py alerts until accepted
            )
            .order_by(col(Ticket.due_at))
            .limit(BATCH)
        )
        .scalars()
        .all()
    )
    keyed = {f"due:{t.id}:{t.sla_stage}:{t.due_at:%Y%m%d}": t for t in tickets}
    for key in _fresh(session, list(keyed)):
        ticket = keyed[key]
        owner = _owner(session, ticket)
        if owner is not None:
            say = Say("reminders/due_today", {"number": ticket.number, "stage": ticket.sla_stage})
            result.queued += ctx.casework.tell_staff(
                session, owner, [say, ctx.casework.card(session, owner, ticket, now)], now, dedupe_key=key
            )
    return result


def breaches(ctx: JobContext, session: Session, now: datetime) -> JobResult:
    """Past its due time: the assignee is told once per stage; the area supervisor at breach
    and again every `escalate_every` working days while it stays late."""
    result = JobResult()
    if not _working(ctx, now):
        return result
    every = ctx.book.office.reminders.escalate_every
    tickets = (
        session.execute(
            select(Ticket)
            .where(col(Ticket.due_at) < now, col(Ticket.status).in_(sorted(OPEN)))
            .order_by(col(Ticket.due_at).desc())
            .limit(BATCH)
        )
        .scalars()
        .all()
    )
    keyed: dict[str, tuple[Ticket, str, int]] = {}
    for ticket in tickets:
        late = ctx.calendar.working_days_between(ticket.due_at, now)
        stage = f"{ticket.id}:{ticket.sla_stage}:{ticket.due_at:%Y%m%d}"
        keyed[f"breach:{stage}"] = (ticket, "officer", late)
        keyed[f"escalate:{stage}:{max(0, late - 1) // every}"] = (ticket, "supervisor", late)
    for key in sorted(_fresh(session, list(keyed))):
        ticket, who, late = keyed[key]
        owner = _owner(session, ticket)
        context = {
            "number": ticket.number,
            "stage": ticket.sla_stage,
            "late": late,
            "assignee": owner.name if owner else None,
            "unassigned": ticket.unassigned,
        }
        if who == "officer" and owner is not None:
            say = Say("reminders/breached", context)
            result.queued += ctx.casework.tell_staff(
                session, owner, [say, ctx.casework.card(session, owner, ticket, now)], now, dedupe_key=key
            )
        elif who == "supervisor":
            supervisor = routing.area_supervisor(session, district_code=ticket.district_code)
            if supervisor is not None and (owner is None or supervisor.id != owner.id or late >= every):
                say = Say("reminders/escalated", context)
                card = ctx.casework.card(session, supervisor, ticket, now)
                result.queued += ctx.casework.tell_staff(session, supervisor, [say, card], now, dedupe_key=key)
    return result


def referral_followups(ctx: JobContext, session: Session, now: datetime) -> JobResult:
    """A referral past its due date without the agency's answer: remind whoever works the
    ticket to chase it, again every `escalate_every` working days."""
    result = JobResult()
    if not _working(ctx, now):
        return result
    every = ctx.book.office.reminders.escalate_every
    rows = session.execute(
        select(Referral, Ticket)
        .join(Ticket, col(Ticket.id) == col(Referral.ticket_id))
        .where(col(Referral.status).in_(OPEN_REFERRAL), col(Referral.due_at) < now)
        .order_by(col(Referral.due_at))
        .limit(BATCH)
    ).all()
    keyed = {}
    for referral, ticket in rows:
        late = ctx.calendar.working_days_between(referral.due_at, now)
        keyed[f"referral:{referral.id}:{max(0, late - 1) // every}"] = (referral, ticket, late)
    for key in sorted(_fresh(session, list(keyed))):
        referral, ticket, late = keyed[key]
        owner = _owner(session, ticket) or routing.area_supervisor(session, district_code=ticket.district_code)
        if owner is None:
            continue
        say = Say(
            "reminders/referral_overdue",
            {
                "number": ticket.number,
                "agency": ctx.book.office.agency_label(referral.agency),
                "late": late,
                "request": referral.request,
            },
        )
        result.queued += ctx.casework.tell_staff(
            session, owner, [say, ctx.casework.card(session, owner, ticket, now)], now, dedupe_key=key
        )
    return result


def citizen_updates(ctx: JobContext, session: Session, now: datetime) -> JobResult:
    """A citizen who has heard nothing for `citizen_quiet` working days is told the ticket is
    still being handled (which counts as news, so the next note is as far away again)."""
    result = JobResult()
    if not _working(ctx, now):
        return result
    quiet = ctx.book.office.reminders.citizen_quiet
    since = now - timedelta(days=quiet)  # calendar days: a superset, narrowed below in working days
    tickets = (
        session.execute(
            select(Ticket)
            .where(col(Ticket.citizen_updated_at) < since, col(Ticket.status).in_(sorted(OPEN - {"waiting_citizen"})))
            .order_by(col(Ticket.citizen_updated_at))
            .limit(BATCH)
        )
        .scalars()
        .all()
    )
    for ticket in tickets:
        if ctx.calendar.working_days_between(ticket.citizen_updated_at, now) < quiet:
            continue
        key = f"quiet:{ticket.id}:{ticket.citizen_updated_at:%Y%m%d%H%M}"
        say = Say("citizen/still_handling", {"number": ticket.number, "status": ticket.status})
        result.queued += ctx.casework.tell_citizen(session, ticket, say, now, dedupe_key=key)
    return result


def survey_reminders(ctx: JobContext, session: Session, now: datetime) -> JobResult:
    """One reminder to rate the service, some days after resolution, if not rated yet."""
    result = JobResult()
    if not _working(ctx, now):
        return result
    before = now - timedelta(days=ctx.book.office.reminders.survey_reminder_days)
    tickets = (
        session.execute(
            select(Ticket)
            .outerjoin(SurveyResponse, col(SurveyResponse.ticket_id) == col(Ticket.id))
            .where(col(Ticket.status) == "resolved", col(Ticket.resolved_at) < before, col(SurveyResponse.id).is_(None))
            .order_by(col(Ticket.resolved_at))
            .limit(BATCH)
        )
        .scalars()
        .all()
    )
    keyed = {f"survey:{t.id}": t for t in tickets}
    for key in sorted(_fresh(session, list(keyed))):
        ticket = keyed[key]
        options = (
            Option(f"rate:{ticket.id}", label_key="rate"),
            Option(f"reopen:{ticket.id}", label_key="not_resolved"),
        )
        say = Say("citizen/survey_reminder", {"number": ticket.number}, options)
        result.queued += ctx.casework.tell_citizen(session, ticket, say, now, dedupe_key=key)
    return result


def close_unanswered(ctx: JobContext, session: Session, now: datetime) -> JobResult:
    """A question the citizen has not answered in `waiting_citizen_close` working days closes
    the ticket, with a notice to both sides; the citizen may report again at any time."""
    result = JobResult()
    limit = ctx.book.office.reminders.waiting_citizen_close
    since = now - timedelta(days=limit)
    tickets = (
        session.execute(
            select(Ticket)
            .where(col(Ticket.status) == "waiting_citizen", col(Ticket.updated_at) < since)
            .order_by(col(Ticket.updated_at))
            .limit(BATCH)
            .with_for_update()
        )
        .scalars()
        .all()
    )
    for ticket in tickets:
        if ctx.calendar.working_days_between(ticket.updated_at, now) >= limit:
            result.queued += ctx.casework.expire(session, ticket, now)
    return result


def tidy_conversations(ctx: JobContext, session: Session, now: datetime) -> JobResult:
    """Reports abandoned half-way are forgotten: their answers cleared and their photos,
    never filed, deleted (kept no longer than needed). The conversation is marked expired, so
    the citizen's next message still hears why the report is gone before the menu."""
    result = JobResult()
    rows = (
        session.execute(
            select(Conversation)
            .where(col(Conversation.expires_at) < now, col(Conversation.flow).is_not(None))
            .order_by(col(Conversation.expires_at))
            .limit(BATCH)
            .with_for_update()
        )
        .scalars()
        .all()
    )
    for conversation in rows:
        photos = [p for p in (conversation.answers or {}).get("photos", ()) if isinstance(p, int)]
        result.files_to_delete += repo.drop_attachments(
            session, contact_id=conversation.contact_id, attachment_ids=photos
        )
        repo.save_conversation(
            session,
            conversation_id=conversation.id,
            flow=None,
            step=None,
            answers={},
            extra={"source": (conversation.extra or {}).get("source"), EXPIRED: True},
            expires_at=None,
            now=now,
        )
    return result
