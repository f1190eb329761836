"""The ticket card an officer works from: what the case is, where, who reported it, what is
due, and one button per action the viewer may take now.

Buttons carry `action:ticket:version`; the version grows with every change to the ticket, so
a press on an older card (a double tap, a card from yesterday) is recognised and refused.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from storage.models import Referral, Staff, Ticket
from workflows import sla
from workflows.calendar import WorkingCalendar
from workflows.casework import access
from workflows.engine import Option, Say
from workflows.flowbook import FlowBook
from workflows.lifecycle import allowed_actions
from workflows.texts import Texts
from workflows.validation.nik import mask_nik

CARD_STEP = "card"
SUMMARY_MAX = 300
OPEN_REFERRAL = ("sent", "acknowledged")
_NUMBER = re.compile(r"[0-9]{1,9}")  # a ticket id or version: fits a 32-bit column

# Lifecycle action → card button, in the order they are shown.
_BUTTONS = (
    ("accept", "accept"), ("ask_citizen", "ask"), ("refer", "refer"), ("resolve", "resolve"),
    ("reject", "reject"), ("return", "return"),
)


def button_value(action: str, ticket: Ticket) -> str:
    return f"{action}:{ticket.id}:{ticket.version}"


def parse_button(value: str) -> tuple[str, int, int] | None:
    """`action:ticket:version`, or None for anything else: a forged "²" or a 20-digit id would
    crash the lookup instead of reading as an out-of-date button."""
    parts = value.split(":")
    if len(parts) != 3 or not _NUMBER.fullmatch(parts[1]) or not _NUMBER.fullmatch(parts[2]):
        return None
    return parts[0], int(parts[1]), int(parts[2])


def map_link(ticket: Ticket) -> str | None:
    if ticket.latitude is None or ticket.longitude is None:
        return None
    lat, lon = f"{ticket.latitude:.6f}", f"{ticket.longitude:.6f}"
    return f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=17/{lat}/{lon}"


def buttons(viewer: Staff, ticket: Ticket, referrals: Sequence[Referral]) -> tuple[Option, ...]:
    """The actions `viewer` may take on `ticket` in its current status."""
    options: list[Option] = []
    if access.can_act(viewer, ticket):
        allowed = set(allowed_actions(ticket.status))
        if ticket.assignee_staff_id != viewer.id:
            allowed.discard("accept")  # a supervisor reassigns rather than accepting for someone
        if viewer.role != "officer":
            allowed.discard("return")
        options += [Option(button_value(action, ticket), label_key=f"card_{label}") for action, label in _BUTTONS if action in allowed]
        if any(r.status in OPEN_REFERRAL for r in referrals):
            options.append(Option(button_value("referral", ticket), label_key="card_referral"))
    if access.can_view(viewer, ticket) and viewer.status != "disabled":
        options.append(Option(button_value("note", ticket), label_key="card_note"))
    if access.can_reassign(viewer, ticket) and ticket.status not in ("resolved", "closed", "rejected"):
        options.append(Option(button_value("reassign", ticket), label_key="card_reassign"))
    return tuple(options)


def card(*, book: FlowBook, calendar: WorkingCalendar, texts: Texts, viewer: Staff, ticket: Ticket, assignee: Staff | None,
         reporter: dict[str, Any], referrals: Sequence[Referral], photos: int, heading: str | None,
         language: str, now: datetime) -> Say:
    found = book.category(ticket.kind, ticket.category)
    category = found[1].label.as_dict()[language] if found else ticket.category
    village = book.areas.village(ticket.village_code) if ticket.village_code else None
    district = book.areas.district(ticket.district_code) if ticket.district_code else None
    nik = ticket.person_nik
    if nik and not access.sees_full_nik(viewer, ticket):
        nik = mask_nik(nik)
    description = ticket.description or ""
    if len(description) > SUMMARY_MAX:
        description = description[: SUMMARY_MAX - 1].rstrip() + "…"
    context = {
        "heading": heading,
        "number": ticket.number,
        "kind": ticket.kind,
        "category": category,
        "status": ticket.status,
        "summary": description,
        "subject": ticket.subject,
        "person_name": ticket.person_name,
        "person_nik": nik,
        "person_age": ticket.person_age,
        "village": village[1].name if village else None,
        "district": district.name if district else None,
        "address": ticket.address,
        "map": map_link(ticket),
        "photos": photos,
        "reporter": reporter,
        "due": texts.long_date(calendar.local_date(ticket.due_at), language) if ticket.due_at else None,
        "stage": ticket.sla_stage,
        "sla": sla.state(ticket, calendar=calendar, now=now),
        "assignee": assignee.name if assignee else None,
        "unassigned": ticket.unassigned,
        "question": ticket.waiting_question if ticket.status == "waiting_citizen" else None,
        "referrals": [
            {"agency": book.office.agency_label(r.agency)[language], "status": r.status,
             "due": texts.long_date(calendar.local_date(r.due_at), language)} for r in referrals
        ],
    }
    return Say("desk/card", context, buttons(viewer, ticket, referrals), step=CARD_STEP)
