"""Erasing one ticket's personal data while keeping what the office counts.

UU 27/2022 lets an office keep personal data only as long as it needs it (the retention period
stated in the consent text) and lets a citizen ask for it to be erased; the office must still
report how many reports of which kind came from which village and how they ended. So a ticket
is anonymised, never deleted: its number, kind, category, district and village codes, status,
dates, service-standard stages, channel, urgency, age and sex and its survey scores stay; its
names, NIK, phone numbers, address, exact location, free text, photos and documents go, and so
do the messages of its chats that quoted them.

Erasing is idempotent (a ticket already anonymised is left as it is) and runs in the caller's
transaction. Photo files are shared by content hash, so a file is released only when no other
attachment row names it, and only once the transaction has committed: `take_released_files`
hands the caller the paths to remove then. A crash between the commit and the removal leaves a
file no row names; `sweep_orphan_files` finds and removes such files.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import String, cast, delete, func, select, update
from sqlmodel import Session, col

from storage.models import (
    Attachment,
    Contact,
    OutboxMessage,
    Referral,
    Staff,
    SurveyResponse,
    Ticket,
    TicketEvent,
    stored_id,
    table_of,
)
from workflows import audit

RELEASED = "satupintu.released_files"  # session.info key: files to remove after the commit
PROBES = "satupintu.outbox_probes"  # session.info key: outbox ids looked up by time, for the next erasure
ACTION = "ticket.anonymised"
DONE = ("sent", "failed")  # outbox rows already delivered (or given up): their text is a record only
GIVEN_UP = "erased before delivery"  # an undelivered message's outbox error, for the operator
# The ticket's columns that hold personal data, and what they become.
ERASED_COLUMNS: dict[str, Any] = {
    "person_name": None,
    "person_nik": None,
    "reporter_phone": None,
    "address": None,
    "latitude": None,
    "longitude": None,
    "description": None,
    "resolution": None,
    "waiting_question": None,
}
# What may stay of `details` (the office's own questions' answers, any of which may be free text).
KEPT_DETAILS = frozenset({"consent", "danger", "updates_via", "filed_by_staff_id", "form_key"})
# What may stay of an event's data: codes, ids, statuses, scores; never words someone wrote.
KEPT_EVENT_DATA = frozenset(
    {
        "from",
        "to",
        "action",
        "staff",
        "supervisor",
        "referral",
        "agency",
        "attachment_id",
        "content_type",
        "survey",
        "channel",
        "source",
        "photos",
        "flow",
        "urgent",
        "from_contact",
    }
)
REASON_KEYS = frozenset({"reject"})  # events whose `reason` is a configured key, not someone's words
# Messages about a ticket go out from its summary (before it is filed, within a conversation's
# life) to the survey reminder after it is resolved (office.yaml allows up to 60 days).
MESSAGES_BEFORE, MESSAGES_AFTER = timedelta(days=2), timedelta(days=62)
ORPHAN_GRACE_SECONDS = 3600  # a photo is written a moment before its row: never sweep a fresh file


def is_erased(ticket: Ticket) -> bool:
    """Whether the ticket's personal data is gone (a request or the retention job erased it)."""
    return ticket.anonymised_at is not None


def erase_personal_data(session: Session, ticket: Ticket, *, now: datetime, reason: str) -> None:
    """Anonymise `ticket` (see the module) and write one audit row; nothing if it already is.
    The ticket should be locked by the caller (selected FOR UPDATE) when others may change it."""
    if ticket.anonymised_at is not None:
        return
    ticket_id = stored_id(ticket)
    for column, value in ERASED_COLUMNS.items():
        setattr(ticket, column, value)
    ticket.details = {k: v for k, v in (ticket.details or {}).items() if k in KEPT_DETAILS}
    ticket.anonymised_at, ticket.anonymised_reason = now, reason[:32]
    _scrub_events(session, ticket_id)
    session.execute(
        update(table_of(Referral)).where(col(Referral.ticket_id) == ticket_id).values(request="", outcome=None)
    )
    session.execute(
        update(table_of(SurveyResponse)).where(col(SurveyResponse.ticket_id) == ticket_id).values(comment=None)
    )
    photos = _drop_attachments(session, ticket_id)
    window = (
        _first_id_at(session, ticket.created_at - MESSAGES_BEFORE),
        _first_id_at(session, ticket.updated_at + MESSAGES_AFTER),
    )
    blanked = _blank_messages(session, _chats_of(session, ticket), ticket.number, window)
    reporter = session.get(Contact, ticket.reporter_contact_id)
    if reporter is not None and not _keeps_other_tickets(session, reporter, ticket_id):
        reporter.display_name, reporter.phone = None, None
        blanked += _blank_messages(session, [(reporter.channel, reporter.chat_id)], None, None)
    session.add(ticket)
    audit.record(
        session,
        staff_id=None,
        action=ACTION,
        subject=ticket.number,
        now=now,
        data={"reason": reason, "photos": len(photos), "messages": blanked},
    )


def take_released_files(session: Session) -> list[str]:
    """The photo and document files erasures in this session released (paths under the
    attachments dir), for the caller to remove once the transaction has committed."""
    return sorted(session.info.pop(RELEASED, set()))


def remove_files(root: Path, paths: Iterable[str]) -> int:
    """Remove released files (ones already gone are fine); how many were there."""
    removed = 0
    for relative in paths:
        path = root / relative
        if path.is_file():
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def sweep_orphan_files(session: Session, root: Path, *, grace_seconds: float = ORPHAN_GRACE_SECONDS) -> list[str]:
    """Remove the files under the attachments dir that no attachment row names and that are
    older than `grace_seconds` (a photo is written just before its row is): what a crash left
    between an erasure's commit and its files' removal. Returns the paths removed."""
    if not root.is_dir():
        return []
    known = set(session.execute(select(col(Attachment.path))).scalars())
    cutoff = time.time() - grace_seconds
    removed: list[str] = []
    for directory, _, names in os.walk(root):
        for name in names:
            path = Path(directory) / name
            relative = path.relative_to(root).as_posix()
            if relative not in known and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed.append(relative)
    return sorted(removed)


# ---------------------------------------------------------------------- the parts


def _scrub_events(session: Session, ticket_id: int) -> None:
    events = session.execute(select(TicketEvent).where(col(TicketEvent.ticket_id) == ticket_id)).scalars().all()
    for event in events:
        kept = {k: v for k, v in (event.data or {}).items() if k in KEPT_EVENT_DATA}
        if event.kind in REASON_KEYS and "reason" in (event.data or {}):
            kept["reason"] = event.data["reason"]
        if kept != event.data:
            event.data = kept
            session.add(event)


def _drop_attachments(session: Session, ticket_id: int) -> list[str]:
    """Delete the ticket's attachment rows; note the files no other row names as released."""
    paths = set(session.execute(select(col(Attachment.path)).where(col(Attachment.ticket_id) == ticket_id)).scalars())
    if not paths:
        return []
    session.execute(delete(table_of(Attachment)).where(col(Attachment.ticket_id) == ticket_id))
    still_used = set(session.execute(select(col(Attachment.path)).where(col(Attachment.path).in_(paths))).scalars())
    released = paths - still_used
    session.info.setdefault(RELEASED, set()).update(released)
    return sorted(paths)


def _chats_of(session: Session, ticket: Ticket) -> list[tuple[str, str]]:
    """The chats that were told about the ticket: its reporter's and those of the staff who
    handled it (cards, questions and answers quote the citizen's name, NIK and phone)."""
    chats: list[tuple[str, str]] = []
    reporter = session.get(Contact, ticket.reporter_contact_id)
    if reporter is not None:
        chats.append((reporter.channel, reporter.chat_id))
    staff_ids = {ticket.assignee_staff_id} if ticket.assignee_staff_id else set()
    for actor, data in session.execute(
        select(col(TicketEvent.actor), col(TicketEvent.data)).where(col(TicketEvent.ticket_id) == ticket.id)
    ).all():
        if actor.startswith("staff:") and actor[6:].isdigit():
            staff_ids.add(int(actor[6:]))
        for key in ("staff", "supervisor"):
            if isinstance((data or {}).get(key), int):
                staff_ids.add(data[key])
    if staff_ids:
        for staff in session.execute(select(Staff).where(col(Staff.id).in_(sorted(staff_ids)))).scalars():
            if staff.telegram_user_id:
                chats.append(("telegram", staff.telegram_user_id))
            if staff.whatsapp_number:
                chats.append(("whatsapp", staff.whatsapp_number))
    return chats


def _first_id_at(session: Session, moment: datetime) -> int:
    """The first outbox id of a row queued at or after `moment`. Ids grow with time (a row's
    `created_at` is when it was inserted), so a time window is an id range, found by bisecting
    the primary key: a few dozen index lookups, where reading a busy officer's whole chat for
    every erased ticket would read years of rows each time."""
    table = table_of(OutboxMessage)
    probes: dict[int | None, Any] = session.info.setdefault(PROBES, {})  # shared by a batch's erasures
    if None not in probes:
        probes[None] = session.execute(select(func.min(table.c.id), func.max(table.c.id))).one()
    low, high = probes[None]
    if low is None:
        return 0
    high += 1  # past the last row: "at or after `moment`" holds there whatever `moment` is
    while low < high:
        middle = (low + high) // 2
        if middle not in probes:
            probes[middle] = session.execute(
                select(table.c.created_at).where(table.c.id >= middle).order_by(table.c.id).limit(1)
            ).scalar_one()
        if probes[middle] < moment:
            low = middle + 1
        else:
            high = middle
    return int(low)


def _blank_messages(
    session: Session, chats: list[tuple[str, str]], number: str | None, window: tuple[int, int] | None
) -> int:
    """Empty the text of the messages in these chats that name the ticket `number` (all of
    them when `number` is None) among the outbox ids of `window` (all when None), keeping each
    row as the record that something was sent, when and how. One never delivered (a web chat
    page never opened again, a WhatsApp message held for a reply that never came) is given up:
    an empty message must not go out."""
    if not chats:
        return 0
    table = table_of(OutboxMessage)
    mentions = re.compile(rf"(?<![\w-]){re.escape(number)}(?!\d)") if number else None
    blanked = 0
    for channel, chat_id in chats:
        query = select(table.c.id, table.c.payload, table.c.status).where(
            table.c.channel == channel, table.c.chat_id == chat_id
        )
        if window is not None:
            query = query.where(table.c.id >= window[0], table.c.id < window[1])
        if number:
            query = query.where(cast(table.c.payload, String).contains(number))
        for row_id, payload, status in session.execute(query).all():
            if not payload.get("text") and not payload.get("photo") and not payload.get("options"):
                continue  # blanked before
            if mentions is not None and not mentions.search(str(payload)):
                continue
            empty = {"text": "", "key": payload.get("key"), "language": payload.get("language", "id")}
            values: dict[str, Any] = {"payload": empty}
            if status not in DONE:
                values.update(status="failed", last_error=GIVEN_UP)
            session.execute(update(table).where(table.c.id == row_id).values(**values))
            blanked += 1
    return blanked


def _keeps_other_tickets(session: Session, contact: Contact, ticket_id: int) -> bool:
    """Whether the contact has another ticket whose data is still kept (then their name and
    number stay for it)."""
    others = session.execute(
        select(func.count())
        .select_from(Ticket)
        .where(
            col(Ticket.reporter_contact_id) == contact.id,
            col(Ticket.id) != ticket_id,
            col(Ticket.anonymised_at).is_(None),
        )
    ).scalar_one()
    return bool(others)
