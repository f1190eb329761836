"""The safety net for tickets filed while nobody could own them: adding a staff member, an
invite redeemed or someone back from leave routes their area's waiting tickets at once; this job
catches what those missed (staff added by a script, a change in a process that stopped).

Only the scheduler's leader runs it, and the tickets are locked while they are routed, so none
is routed twice; a ticket that still only a supervisor could hold is left where it is.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from workflows.jobs.base import JobContext, JobResult


def route_waiting_tickets(ctx: JobContext, session: Session, now: datetime) -> JobResult:
    """Give the tickets waiting for an owner to whoever can take them now (the card goes out
    through the outbox like any assignment)."""
    return JobResult(queued=len(ctx.casework.rehome(session, now=now)))  # a card each (photos aside)
