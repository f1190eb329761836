"""Who may see and do what with a ticket.

An officer works the tickets assigned to them and sees the tickets of their districts; a
supervisor sees and acts within their districts; an admin everywhere. Empty districts mean the
whole regency. A disabled account can do nothing. The full NIK is for the assigned officer only,
and in the records an office hands on (the register, exports) for admins too.
"""

from __future__ import annotations

from sqlalchemy import false, or_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from storage.models import Staff, Ticket
from workflows.flowbook import District, FlowBook


def in_area(staff: Staff, district_code: str | None) -> bool:
    return not staff.districts or district_code in staff.districts


def can_view(staff: Staff, ticket: Ticket) -> bool:
    if staff.status == "disabled":
        return False
    if staff.role == "admin":
        return True
    return ticket.assignee_staff_id == staff.id or in_area(staff, ticket.district_code)


def can_act(staff: Staff, ticket: Ticket) -> bool:
    """Accept, ask, refer, resolve…: the assignee, or a supervisor or admin over the area."""
    if staff.status == "disabled":
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
    return staff.role == "admin" or not staff.districts


def visible_tickets(staff: Staff) -> list[ColumnElement[bool]]:
    """`can_view` as conditions on a query: the tickets of the staff member's districts and
    those assigned to them (none for an admin or a regency-wide account; nothing when disabled)."""
    if staff.status == "disabled":
        return [false()]
    if sees_whole_regency(staff):
        return []
    return [or_(col(Ticket.district_code).in_(staff.districts), col(Ticket.assignee_staff_id) == staff.id)]


def covers(staff: Staff, district_code: str) -> bool:
    """Whether a district is the staff member's to see and file for (admins: every one)."""
    return sees_whole_regency(staff) or district_code in staff.districts


def districts_of(book: FlowBook, staff: Staff) -> list[District]:
    """The districts of the staff member's area, in the book's order (for filters and forms)."""
    return [d for d in book.areas.districts if covers(staff, d.code)]
