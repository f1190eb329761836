"""Service standards on a ticket: the due time of each stage, the actions that meet a stage,
and whether the ticket is on track, at risk or breached.

`ticket.sla` keeps every stage's due and met time (for compliance figures); `ticket.due_at`
and `ticket.sla_stage` name the earliest stage not yet met, so the scheduler and the digest
find what is late with one index range scan instead of reading every ticket.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

from storage.models import Ticket
from workflows.calendar import WorkingCalendar
from workflows.flowbook import FlowBook

# The lifecycle actions that meet each stage.
MET_BY = {
    "first_response": frozenset({"accept", "reject"}),
    "follow_up": frozenset({"ask_citizen", "refer", "resolve", "reject"}),
    "resolution": frozenset({"resolve", "reject"}),
}
State = Literal["on_track", "at_risk", "breached", "met"]
URGENT_AT_RISK = timedelta(minutes=30)  # an urgent stage this close to its due time is at risk


def plan(ticket: Ticket, *, book: FlowBook, calendar: WorkingCalendar, now: datetime) -> None:
    """Set every stage's due time from `now` (a new or reopened ticket): in working days, or
    for an urgent ticket in calendar hours (a child in danger on Friday night cannot wait
    for Monday)."""
    if ticket.urgent:
        hours = book.office.urgent.hours(ticket.category)
        dues = {stage: now + timedelta(hours=count) for stage, count in hours.items()}
    else:
        days = book.office.service_standards.days(ticket.kind, ticket.category)
        dues = {stage: calendar.due_after(now, count) for stage, count in days.items()}
    ticket.sla = {stage: {"due": due.isoformat(), "met": None} for stage, due in dues.items()}
    _point_at_next(ticket)


def meet(ticket: Ticket, action: str, now: datetime) -> None:
    """Record the stages `action` meets; a stage is met once, by its first such action."""
    stages = {stage: dict(entry) for stage, entry in (ticket.sla or {}).items()}
    for stage, entry in stages.items():
        if entry["met"] is None and action in MET_BY.get(stage, ()):
            entry["met"] = now.isoformat()
    ticket.sla = stages  # a new object, so the JSON column is written
    _point_at_next(ticket)


def _point_at_next(ticket: Ticket) -> None:
    open_stages = [
        (datetime.fromisoformat(e["due"]), stage) for stage, e in (ticket.sla or {}).items() if e["met"] is None
    ]
    due, stage = min(open_stages) if open_stages else (None, None)
    ticket.due_at, ticket.sla_stage = due, stage


def state(ticket: Ticket, *, calendar: WorkingCalendar, now: datetime) -> State:
    """Breached once the due time has passed; at risk on the last working day before it (an
    urgent ticket: in its last half hour)."""
    if ticket.due_at is None:
        return "met"
    if now > ticket.due_at:
        return "breached"
    if ticket.urgent:
        return "at_risk" if ticket.due_at - now < URGENT_AT_RISK else "on_track"
    tomorrow = calendar.add_working_days(now, 1)
    return "at_risk" if calendar.local_date(ticket.due_at) < tomorrow else "on_track"


def met_in_time(stages: Mapping[str, Any] | None, now: datetime) -> tuple[int, int]:
    """(stages met by their due time, stages that were due by now or are met): the
    compliance figures, from a ticket's `sla` column (read alone: building a whole Ticket
    per row of a month's report costs ~100 µs). A stage still open past its due counts as missed."""
    good = total = 0
    for entry in (stages or {}).values():
        due = datetime.fromisoformat(entry["due"])
        met = datetime.fromisoformat(entry["met"]) if entry["met"] else None
        if met is not None or due < now:
            total += 1
            good += met is not None and met <= due
    return good, total
