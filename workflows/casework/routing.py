"""Who gets a ticket: the office's rule picks the team (category × district), then the
least-loaded active officer of that team who covers the district and category; ties go to
whoever was given a ticket longest ago (round-robin). With nobody eligible the area's
supervisor gets it, flagged unassigned, so no ticket is ever ownerless and silent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlmodel import Session, col

from storage.models import Staff, Ticket, stored_id
from workflows.casework.access import in_area
from workflows.flowbook import FlowBook
from workflows.lifecycle import OPEN


@dataclass(frozen=True)
class Choice:
    team: str
    staff: Staff | None
    unassigned: bool


def open_load(session: Session, staff_ids: list[int]) -> dict[int, int]:
    """Open tickets per staff member (one grouped query on the assignee index)."""
    if not staff_ids:
        return {}
    rows = session.execute(
        select(col(Ticket.assignee_staff_id), func.count())
        .where(col(Ticket.assignee_staff_id).in_(staff_ids), col(Ticket.status).in_(sorted(OPEN)))
        .group_by(col(Ticket.assignee_staff_id))
    )
    return {int(staff_id): int(count) for staff_id, count in rows}


def eligible_officers(
    session: Session, *, ticket: Ticket, team: str | None = None, exclude: int | None = None
) -> list[Staff]:
    """Active officers covering the ticket's district and category (of `team`, when given)."""
    statement = select(Staff).where(col(Staff.role) == "officer", col(Staff.status) == "active")
    if team is not None:
        statement = statement.where(col(Staff.team) == team)
    officers = session.execute(statement.order_by(col(Staff.id))).scalars().all()
    return [
        s
        for s in officers
        if s.id != exclude
        and in_area(s, ticket.district_code)
        and (not s.categories or ticket.category in s.categories)
    ]


def area_supervisor(session: Session, *, district_code: str | None) -> Staff | None:
    """The supervisor of the district: one named for it before one covering the whole regency."""
    return next(iter(area_supervisors(session, district_code=district_code)), None)


def area_supervisors(session: Session, *, district_code: str | None) -> list[Staff]:
    """Every active supervisor of the district: those named for it, else those covering the
    whole regency (an urgent ticket left unaccepted is escalated to all of them)."""
    supervisors = (
        session.execute(
            select(Staff).where(col(Staff.role) == "supervisor", col(Staff.status) == "active").order_by(col(Staff.id))
        )
        .scalars()
        .all()
    )
    named = [s for s in supervisors if district_code in s.districts]
    return named or [s for s in supervisors if not s.districts]


def least_loaded(session: Session, officers: list[Staff]) -> Staff | None:
    load = open_load(session, [stored_id(s) for s in officers])
    floor = datetime.min.replace(tzinfo=None)

    def rank(staff: Staff) -> tuple[int, datetime, int]:
        last = staff.last_assigned_at.replace(tzinfo=None) if staff.last_assigned_at else floor
        return load.get(stored_id(staff), 0), last, stored_id(staff)

    return min(officers, key=rank, default=None)


def choose(session: Session, *, book: FlowBook, ticket: Ticket, exclude: int | None = None) -> Choice:
    team = book.office.team_for(ticket.category, ticket.district_code)
    officer = least_loaded(session, eligible_officers(session, ticket=ticket, team=team, exclude=exclude))
    if officer is not None:
        return Choice(team, officer, unassigned=False)
    return Choice(team, area_supervisor(session, district_code=ticket.district_code), unassigned=True)


# ---------------------------------------------------------------- tickets still waiting for an owner

OWNER_ROLES = ("officer", "supervisor")  # the roles routing gives tickets to
REHOME_BATCH = 200  # tickets looked at in one go; the scheduler's next tick carries on
_NOT_TAKEN_UP = ("new", "reopened")  # once someone works a parked ticket, it stays theirs


def waiting_for_owner(
    session: Session, *, districts: Sequence[str] = (), limit: int = REHOME_BATCH
) -> Sequence[Ticket]:
    """Tickets nobody has taken up that routing could not give an officer: no owner at all, or
    parked with a supervisor. Locked (skipping rows another process holds), so a ticket is routed
    again by one process only; the caller re-checks with `improves`."""
    statement = select(Ticket).where(
        col(Ticket.status).in_(_NOT_TAKEN_UP),
        or_(col(Ticket.assignee_staff_id).is_(None), col(Ticket.unassigned).is_(True)),
    )
    if districts:
        statement = statement.where(col(Ticket.district_code).in_(list(districts)))
    statement = statement.order_by(col(Ticket.id)).limit(limit).with_for_update(skip_locked=True)
    return session.execute(statement).scalars().all()


def improves(ticket: Ticket, choice: Choice) -> bool:
    """Routing again helps: an officer can take it now, or an ownerless one gets a supervisor.
    (Parking it with a supervisor again would only send the same card at every tick.)"""
    if choice.staff is None:
        return False
    return not choice.unassigned or ticket.assignee_staff_id is None
