"""Who may see and do what with a ticket.

An officer works the tickets assigned to them and sees the tickets of their districts; a
supervisor sees and acts within their districts; an admin everywhere. Empty districts mean the
whole regency. A disabled account can do nothing. The full NIK is for the assigned officer only.
"""

from __future__ import annotations

from storage.models import Staff, Ticket


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
