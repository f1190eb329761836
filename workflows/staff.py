"""Staff records: adding, inviting, joining, leave and disabling.

Used by the console's staff admin and the CLI (scripted deployments), through the same
functions, so both are audited alike (`by`: the admin's id, or `audit.CLI`); and by the chat
(an invite link opened with `/start <code>`). A staff member is found from a chat contact by their platform id, so the
same person can be a citizen elsewhere without the two ever mixing.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlmodel import Session, col

from storage import repo
from storage.models import Contact, Staff, StaffInvite, Ticket
from workflows import audit, signin
from workflows.flowbook import FlowBook
from workflows.validation.phone import normalize_phone

ROLES = ("officer", "supervisor", "admin", "facilitator")  # a facilitator files and follows their own reports
STATUSES = ("active", "away", "disabled")
INVITE_PREFIX = "join_"  # `/start join_…` is an invite, anything else a campaign source


class Rehome(Protocol):
    """What gives the waiting tickets of an area to someone who can now take them (the
    casework service): a ticket filed before anyone could own it must not wait for its breach."""

    def staff_available(self, session: Session, staff: Staff, now: datetime) -> Sequence[Ticket]: ...


class StaffError(ValueError):
    """Bad input for a staff record; the message says which."""


@dataclass(frozen=True)
class Scope:
    """Who a staff member is for routing and access: role, team, districts, categories."""

    role: str
    team: str | None
    districts: list[str]
    categories: list[str]


def check_scope(
    book: FlowBook, *, role: str, team: str | None, districts: Sequence[str], categories: Sequence[str]
) -> Scope:
    """Validate against the office's configuration; an unknown code is an error, not a silent miss."""
    if role not in ROLES:
        raise StaffError(f"role must be one of {', '.join(ROLES)}")
    teams = [t.key for t in book.office.teams]
    if team is not None and team not in teams:
        raise StaffError(f"unknown team {team!r}; known: {', '.join(teams)}")
    for code in districts:
        if book.areas.district(code) is None:
            raise StaffError(f"unknown district code {code!r}")
    for key in categories:
        if not any(book.category(kind, key) for kind in ("complaint", "service")):
            raise StaffError(f"unknown category {key!r}")
    if role == "officer" and team is None:
        team = teams[0]
    return Scope(role, team, sorted(set(districts)), sorted(set(categories)))


def add_staff(
    session: Session,
    *,
    book: FlowBook,
    name: str,
    scope: Scope,
    telegram_user_id: str | None,
    whatsapp_number: str | None,
    language: str,
    by: audit.Actor,
    now: datetime,
    rehome: Rehome | None = None,
) -> Staff:
    """A new staff member; with `rehome`, the tickets waiting for an owner in their area are
    routed to them at once (None: the scheduler's next tick does it)."""
    name = " ".join(name.split())
    if not name:
        raise StaffError("a name is needed")
    if telegram_user_id is not None and not telegram_user_id.isdigit():
        raise StaffError("a Telegram user id is a number")
    if telegram_user_id and staff_by_platform(session, channel="telegram", external_id=telegram_user_id):
        raise StaffError(f"Telegram user {telegram_user_id} is already staff")
    if whatsapp_number is not None:
        whatsapp_number = whatsapp_id(whatsapp_number)
    if whatsapp_number and staff_by_platform(session, channel="whatsapp", external_id=whatsapp_number):
        raise StaffError(f"WhatsApp number {whatsapp_number} is already staff")
    staff = Staff(
        name=name[:128],
        role=scope.role,
        team=scope.team,
        districts=scope.districts,
        categories=scope.categories,
        telegram_user_id=telegram_user_id,
        whatsapp_number=whatsapp_number,
        language=language,
        created_at=now,
    )
    session.add(staff)
    session.flush()
    audit.record_by(
        session,
        actor=by,
        action="staff.add",
        subject=f"staff:{staff.id}",
        now=now,
        data={"name": staff.name, "role": scope.role, "team": scope.team, "districts": scope.districts},
    )
    if rehome is not None:
        rehome.staff_available(session, staff, now)
    return staff


def whatsapp_id(number: str) -> str:
    """A phone number as WhatsApp names its owner (`wa_id`: the E.164 digits, no "+"), so a
    staff member typed as "0812…" or "+62 812…" is recognised when they write."""
    normal = normalize_phone(number)
    if normal is None:
        raise StaffError(f"{number!r} is not a valid phone number")
    return normal.removeprefix("+")


def create_invite(session: Session, *, book: FlowBook, scope: Scope, by: audit.Actor, now: datetime) -> StaffInvite:
    invite = StaffInvite(
        code=INVITE_PREFIX + secrets.token_urlsafe(16),
        role=scope.role,
        team=scope.team,
        districts=scope.districts,
        categories=scope.categories,
        created_at=now,
        expires_at=now + timedelta(hours=book.office.invite_valid_hours),
    )
    session.add(invite)
    session.flush()
    audit.record_by(
        session,
        actor=by,
        action="staff.invite",
        subject=f"invite:{invite.id}",
        now=now,
        data={"role": scope.role, "team": scope.team, "districts": scope.districts},
    )
    return invite


def redeem_invite(
    session: Session, *, code: str, contact: Contact, now: datetime, rehome: Rehome | None = None
) -> Staff | str:
    """Make the contact a staff member; or a reason code (unknown, used, expired, already_staff).
    Like `add_staff`, `rehome` gives them their area's tickets waiting for an owner."""
    invite = (
        session.execute(select(StaffInvite).where(col(StaffInvite.code) == code).with_for_update()).scalars().first()
    )
    if invite is None:
        return "unknown"
    if invite.used_at is not None:
        return "used"
    if invite.expires_at <= now:
        return "expired"
    if staff_for_contact(session, contact) is not None:
        return "already_staff"
    staff = Staff(
        name=(contact.display_name or f"Staff {contact.external_id}")[:128],
        role=invite.role,
        team=invite.team,
        districts=list(invite.districts),
        categories=list(invite.categories),
        language=contact.language,
        created_at=now,
    )
    setattr(staff, _PLATFORM_FIELD[contact.channel], contact.external_id)
    session.add(staff)
    session.flush()
    invite.used_at, invite.staff_id = now, staff.id
    if rehome is not None:
        rehome.staff_available(session, staff, now)
    return staff


_PLATFORM_FIELD = {"telegram": "telegram_user_id", "whatsapp": "whatsapp_number"}


def platform_column(channel: str) -> Any | None:
    """The staff column that holds a person's id on `channel`; none for the web chat, which
    is for citizens only."""
    field = _PLATFORM_FIELD.get(channel)
    return getattr(Staff, field) if field is not None else None


def staff_by_platform(session: Session, *, channel: str, external_id: str) -> Staff | None:
    column = platform_column(channel)
    if column is None:
        return None
    return session.execute(select(Staff).where(column == external_id).order_by(col(Staff.id))).scalars().first()


def staff_for_contact(session: Session, contact: Contact) -> Staff | None:
    return staff_by_platform(session, channel=contact.channel, external_id=contact.external_id)


def contact_for_staff(session: Session, staff: Staff, now: datetime) -> Contact | None:
    """Where to reach a staff member: their Telegram private chat (chat id = user id), else WhatsApp."""
    return next(iter(contacts_for_staff(session, staff, now)), None)


def contacts_for_staff(session: Session, staff: Staff, now: datetime) -> list[Contact]:
    """Every chat a staff member has, Telegram first: an urgent alert goes to all of them."""
    return [
        repo.get_or_create_contact(
            session,
            channel=channel,
            external_id=external_id,
            chat_id=external_id,
            language=staff.language,
            display_name=staff.name,
            now=now,
        )
        for channel, external_id in (("telegram", staff.telegram_user_id), ("whatsapp", staff.whatsapp_number))
        if external_id
    ]


def list_staff(session: Session) -> Sequence[Staff]:
    return session.execute(select(Staff).order_by(col(Staff.id))).scalars().all()


def get_staff(session: Session, staff_id: int) -> Staff:
    staff = session.get(Staff, staff_id)
    if staff is None:
        raise StaffError(f"no staff member {staff_id}")
    return staff


def set_status(
    session: Session, *, staff_id: int, status: str, by: audit.Actor, now: datetime, rehome: Rehome | None = None
) -> Staff:
    """Away (no new tickets) or disabled (no access at all: signed out of the console everywhere
    at once), or active again; audited. Back to active, `rehome` gives them their area's tickets
    waiting for an owner."""
    if status not in STATUSES:
        raise StaffError(f"status must be one of {', '.join(STATUSES)}")
    staff = get_staff(session, staff_id)
    staff.status = status
    if status == "disabled":
        signin.close_all_sessions(session, staff_id=staff_id)
    audit.record_by(
        session, actor=by, action="staff.status", subject=f"staff:{staff_id}", now=now, data={"status": status}
    )
    if rehome is not None:
        rehome.staff_available(session, staff, now)
    return staff
