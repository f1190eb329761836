"""Urgent tickets not yet accepted: the person holding one is alerted again on every chat
they have every `urgent.repeat_minutes`, and from `urgent.escalate_minutes` on the area's
supervisors too, at any hour, nights and holidays included, until someone accepts it
(the card's accept button; any move out of `new`/`assigned` ends the alerts).

Each alert's dedupe key names the ticket, the person and the round (minutes since filing
divided by the period), so a doubled or late tick sends nothing twice and a missed one is
made up by the next. With the default tick of 60 s an alert goes out within a minute of its time.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session, col

from storage.models import Staff, Ticket
from workflows.casework import routing
from workflows.engine import Say
from workflows.jobs.base import JobContext, JobResult

UNACKNOWLEDGED = ("new", "assigned")  # accepting (or rejecting) moves an urgent ticket out of these
BATCH = 200


def urgent_alerts(ctx: JobContext, session: Session, now: datetime) -> JobResult:
    """Alert again whoever holds an urgent ticket nobody has accepted; escalate when it stays so."""
    result = JobResult()
    policy = ctx.book.office.urgent
    tickets = (
        session.execute(
            select(Ticket)
            .where(col(Ticket.urgent).is_(True), col(Ticket.status).in_(UNACKNOWLEDGED))
            .order_by(col(Ticket.created_at), col(Ticket.id))
            .limit(BATCH)
        )
        .scalars()
        .all()
    )
    for ticket in tickets:
        waited = int((now - ticket.created_at).total_seconds() // 60)
        if waited < policy.repeat_minutes:
            continue  # the first alert went out with the ticket's card
        context = {"number": ticket.number, "minutes": waited}
        holder = session.get(Staff, ticket.assignee_staff_id) if ticket.assignee_staff_id else None
        if holder is not None and holder.status != "disabled":
            key = f"urgent:{ticket.id}:{holder.id}:{waited // policy.repeat_minutes}"
            says = [Say("urgent/alert", context), ctx.casework.card(session, holder, ticket, now)]
            result.queued += ctx.casework.tell_staff(session, holder, says, now, dedupe_key=key, every_chat=True)
        if waited < policy.escalate_minutes:
            continue
        escalation = {**context, "assignee": holder.name if holder else None}
        round_ = (waited - policy.escalate_minutes) // policy.repeat_minutes
        for supervisor in routing.area_supervisors(session, district_code=ticket.district_code):
            if holder is not None and supervisor.id == holder.id:
                continue  # already alerted above as the holder
            key = f"urgent_escalate:{ticket.id}:{supervisor.id}:{round_}"
            says = [Say("urgent/escalated", escalation), ctx.casework.card(session, supervisor, ticket, now)]
            result.queued += ctx.casework.tell_staff(session, supervisor, says, now, dedupe_key=key, every_chat=True)
    return result
