"""Who may see and do what with a ticket.

An officer works the tickets assigned to them and sees the tickets of their districts; a
supervisor sees and acts within their districts; an admin everywhere. Empty districts mean the
whole regency. A village facilitator files reports at the desk (assisted intake) for their
districts and sees only the reports they filed, without acting on them. A disabled account can
do nothing. The full NIK is for the assigned officer only, and in the records an office hands on
(the register, exports) for admins too.
"""

from __future__ import annotations

from sqlalchemy import false, or_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from storage.models import Staff, Ticket
from workflows.flowbook import District, FlowBook

FACILITATOR = "facilitator"
FILED_BY = "filed_by_staff_id"  # the ticket detail naming who filed it at the desk (assisted intake)


def in_area(staff: Staff, district_code: str | None) -> bool:
    return not staff.districts or district_code in staff.districts


def filer_of(ticket: Ticket) -> int | None:
    """The staff member who filed the ticket at the desk; None for a report from the chat."""
    filer = (ticket.details or {}).get(FILED_BY)
    return filer if isinstance(filer, int) else None


def filed_by(staff: Staff) -> ColumnElement[bool]:
    """`filer_of(ticket) == staff.id` as a condition on a query."""
    return col(Ticket.details)[FILED_BY].as_integer() == staff.id


def can_view(staff: Staff, ticket: Ticket) -> bool:
    if staff.status == "disabled":
        return False
    if staff.role == "admin":
        return True
    if staff.role == FACILITATOR:
        return filer_of(ticket) == staff.id
    return ticket.assignee_staff_id == staff.id or in_area(staff, ticket.district_code)


def can_note(staff: Staff, ticket: Ticket) -> bool:
    """An internal note: anyone who works cases and may see this one (a facilitator only reads)."""
    return staff.role != FACILITATOR and can_view(staff, ticket)


def can_act(staff: Staff, ticket: Ticket) -> bool:
    """Accept, ask, refer, resolve…: the assignee, or a supervisor or admin over the area."""
    if staff.status == "disabled" or staff.role == FACILITATOR:
        return False
    if ticket.assignee_staff_id == staff.id:
        return True
    return staff.role in ("supervisor", "admin") and can_view(staff, ticket)


def can_reassign(staff: Staff, ticket: Ticket) -> bool:
    return staff.status != "disabled" and staff.role in ("supervisor", "admin") and can_view(staff, ticket)


def sees_full_nik(staff: Staff, ticket: Ticket) -> bool:
    return staff.status != "disabled" and ticket.assignee_staff_id == staff.id


def sees_full_nik_in_records(staff: Staff, ticket: Ticket) -> bool:
    """The register and exports: the assignee, and admins, who answer for the office's data."""
    return (staff.role == "admin" and staff.status != "disabled") or sees_full_nik(staff, ticket)


def sees_whole_regency(staff: Staff) -> bool:
    return staff.role == "admin" or (not staff.districts and staff.role != FACILITATOR)


def visible_tickets(staff: Staff) -> list[ColumnElement[bool]]:
    """`can_view` as conditions on a query: the tickets of the staff member's districts and
    those assigned to them (none for an admin or a regency-wide account; nothing when disabled;
    a facilitator's own filings)."""
    if staff.status == "disabled":
        return [false()]
    if staff.role == FACILITATOR:
        return [filed_by(staff)]
    if sees_whole_regency(staff):
        return []
    return [or_(col(Ticket.district_code).in_(staff.districts), col(Ticket.assignee_staff_id) == staff.id)]


def covers(staff: Staff, district_code: str) -> bool:
    """Whether a district is the staff member's to see and file for (admins: every one; a
    facilitator files for it, and sees there only what they filed)."""
    return staff.role == "admin" or not staff.districts or district_code in staff.districts


def districts_of(book: FlowBook, staff: Staff) -> list[District]:
    """The districts of the staff member's area, in the book's order (for filters and forms)."""
    return [d for d in book.areas.districts if covers(staff, d.code)]
