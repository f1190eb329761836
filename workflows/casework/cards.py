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
from workflows.casework import actions
from workflows.engine import Option, Say
from workflows.flowbook import FlowBook
from workflows.texts import Texts
from workflows.validation.nik import mask_nik
from workflows.validation.phone import mask_phone
from workflows.validation.redaction import redact

CARD_STEP = "card"
SUMMARY_MAX = 300
_NUMBER = re.compile(r"[0-9]{1,9}")  # a ticket id or version: fits a 32-bit column


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


def buttons(
    viewer: Staff, ticket: Ticket, referrals: Sequence[Referral], *, duplicates: bool = False
) -> tuple[Option, ...]:
    """A button for each action on the card that `viewer` may take on `ticket` now ("link as
    duplicate" only where a possible duplicate was found)."""
    return tuple(
        Option(button_value(action.name, ticket), label_key=action.button)
        for action in actions.offered(viewer, ticket, referrals)
        if action.button and (duplicates or not action.needs_choices)
    )


def _due(ticket: Ticket, *, calendar: WorkingCalendar, texts: Texts, language: str) -> str | None:
    """The next due time as the card shows it: a date, or for an urgent ticket a date and hour."""
    if ticket.due_at is None:
        return None
    if ticket.urgent:
        return texts.long_moment(ticket.due_at, calendar.zone, language)
    return texts.long_date(calendar.local_date(ticket.due_at), language)


def card(
    *,
    book: FlowBook,
    calendar: WorkingCalendar,
    texts: Texts,
    viewer: Staff,
    ticket: Ticket,
    assignee: Staff | None,
    reporter: dict[str, Any],
    referrals: Sequence[Referral],
    photos: int,
    heading: str | None,
    language: str,
    now: datetime,
    link: str,
    duplicates: Sequence[str] = (),
    linked_to: str | None = None,
    joined: Sequence[str] = (),
) -> Say:
    """The card. NIK and phone are masked for everyone, the assignee too: a chat message stays
    in the platform's history and on a phone that can be lost (UU 27/2022). `link` is the
    console's case page, access-checked and audited, where the full record is. `duplicates` are
    the numbers of open tickets that may be the same case, `linked_to` the case this one
    follows, `joined` the tickets that follow this one."""
    found = book.category(ticket.kind, ticket.category)
    category = found[1].label.as_dict()[language] if found else ticket.category
    village = book.areas.village(ticket.village_code) if ticket.village_code else None
    district = book.areas.district(ticket.district_code) if ticket.district_code else None
    nik = mask_nik(ticket.person_nik) if ticket.person_nik else None
    phone = reporter.get("phone")
    description = redact(ticket.description or "")  # a story may quote a NIK or a phone number
    if len(description) > SUMMARY_MAX:
        description = description[: SUMMARY_MAX - 1].rstrip() + "…"
    request = (ticket.details or {}).get("data_request")  # workflows/privacy/requests.py
    context = {
        "heading": heading,
        "data_request": {
            "kind": request["kind"],
            "due": texts.long_moment(datetime.fromisoformat(request["due"]), calendar.zone, language),
        }
        if request
        else None,
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
        "reporter": {**reporter, "phone": mask_phone(phone) if phone else None},
        "link": link,
        "due": _due(ticket, calendar=calendar, texts=texts, language=language),
        "urgent": ticket.urgent,
        "stage": ticket.sla_stage,
        "sla": sla.state(ticket, calendar=calendar, now=now),
        "assignee": assignee.name if assignee else None,
        "unassigned": ticket.unassigned,
        "question": ticket.waiting_question if ticket.status == "waiting_citizen" else None,
        "referrals": [
            {
                "agency": book.office.agency_label(r.agency)[language],
                "status": r.status,
                "due": texts.long_date(calendar.local_date(r.due_at), language),
            }
            for r in referrals
        ],
        "duplicates": list(duplicates),
        "linked_to": linked_to,
        "joined": list(joined),
    }
    return Say("desk/card", context, buttons(viewer, ticket, referrals, duplicates=bool(duplicates)), step=CARD_STEP)
