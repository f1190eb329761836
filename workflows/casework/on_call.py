"""Who is on call now: the team's rota in office.yaml (`urgent.on_call`) read at one instant,
in the office's time zone, nights, weekends and holidays included.

An urgent ticket goes to the first active person on a shift covering this moment; with no
shift, or nobody on it active, to the rota's fallback (the area's supervisor, or a named
person). A team without a rota is routed as any ticket is (`routing.choose`).
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session, col

from storage.models import Staff, Ticket
from workflows.calendar import WorkingCalendar
from workflows.casework import routing
from workflows.flowbook import WEEKDAYS, FlowBook, Rota, Shift, StaffRef

log = logging.getLogger(__name__)


def _day_keys(calendar: WorkingCalendar, day: date) -> set[str]:
    """The names a shift may give this day: its weekday, and `holiday` for a weekday off."""
    keys = {WEEKDAYS[day.weekday()]}
    if day.weekday() < 5 and not calendar.is_working_day(day):
        keys.add("holiday")
    return keys


def _covers(shift: Shift, calendar: WorkingCalendar, now: datetime) -> str | None:
    """Which of the shift's day names puts it on duty at `now` (None: off duty). A shift whose
    end is at or before its start began on the day named and runs past midnight."""
    local = now.astimezone(calendar.zone)
    moment, today = local.time(), local.date()
    if shift.start < shift.end:
        started = today if shift.start <= moment < shift.end else None
    else:
        started = today if moment >= shift.start else today - timedelta(days=1) if moment < shift.end else None
    if started is None:
        return None
    named = _day_keys(calendar, started) & set(shift.days)
    return "holiday" if "holiday" in named else next(iter(named), None)


def on_shift(rota: Rota, calendar: WorkingCalendar, now: datetime) -> list[StaffRef]:
    """Everyone on a shift covering `now`, in the rota's order; on a holiday the shifts that
    name `holiday`, when one covers the hour, instead of the weekday's."""
    covering = [(shift, day) for shift in rota.shifts if (day := _covers(shift, calendar, now))]
    holiday = [shift for shift, day in covering if day == "holiday"]
    shifts = holiday or [shift for shift, _ in covering]
    return [ref for shift in shifts for ref in shift.staff]


def _active(session: Session, ref: StaffRef) -> Staff | None:
    """A staff member named by id or username, if active (away means not on call)."""
    if isinstance(ref, int):
        staff = session.get(Staff, ref)
    else:
        staff = session.execute(select(Staff).where(col(Staff.username) == ref)).scalars().first()
    if staff is None:  # a typo in office.yaml must not pass unnoticed: the fallback is woken instead
        log.warning("urgent.on_call names staff %r, who does not exist", ref)
    return staff if staff is not None and staff.status == "active" else None


def on_call(
    session: Session, *, book: FlowBook, calendar: WorkingCalendar, ticket: Ticket, now: datetime
) -> routing.Choice | None:
    """Whom an urgent ticket goes to now, or None when its team keeps no rota."""
    team = book.office.team_for(ticket.category, ticket.district_code)
    rota = book.office.urgent.on_call.get(team)
    if rota is None:
        return None
    for ref in on_shift(rota, calendar, now):
        staff = _active(session, ref)
        if staff is not None:
            return routing.Choice(team, staff, unassigned=False)
    if rota.fallback == "supervisor":
        fallback = routing.area_supervisor(session, district_code=ticket.district_code)
    else:
        fallback = _active(session, rota.fallback)
    return routing.Choice(team, fallback, unassigned=False) if fallback is not None else None
