"""The durable outbox: every outbound message is a row, written in the transaction that caused
it, then leased, delivered and marked by a sender.

A row's way out: `pending` → leased (`sending`, with `claimed_until`, the column's old name)
→ handed to the platform (`handed_at`, committed before the call) → `sent` as soon as the
platform accepted it, before the next message is handed over. Rows of one chat are leased
strictly oldest first and only when none of that chat is in flight, so a chat's messages keep
their order.

A sender that crashed leaves a lease that runs out. What it had leased is then of unknown fate
(it went out, or not): a reply to a conversation's step is sent again only while the
conversation is still at the version it was written for, and otherwise dropped (`dropped`,
logged), since the person has answered since and has had a newer prompt. Rows that answer
no step (a ticket's number, an officer's question, a resolution) are sent again: at least once
is right for them, a double is better than a loss.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, bindparam, case, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from storage.models import Conversation, OutboxMessage, table_of

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
HELD = "held"  # waits for the person's next message (WhatsApp, outside its 24-hour window)
DROPPED = "dropped"  # of unknown fate after a crash, and out of date: not sent again
TABLE = table_of(OutboxMessage)
CONVERSATION = table_of(Conversation)
BATCH = 10  # messages of one chat leased at once
log = logging.getLogger(__name__)
# Built once: the per-message path should not pay for constructing and keying statements.
_INSERT = insert(TABLE).returning(TABLE.c.id, sort_by_parameter_order=True)


@dataclass(frozen=True)
class Step:
    """The conversation, at the version, that a reply answers (see the module)."""

    conversation_id: int
    version: int


def enqueue_many(
    session: Session,
    *,
    channel: str,
    chat_id: str,
    contact_id: int | None,
    payloads: Sequence[dict[str, Any]],
    now: datetime,
    dedupe_key: str | None = None,
    steps: Sequence[Step | None] = (),
) -> list[int]:
    """Queue messages to one chat, in this order, in the caller's transaction (one statement).
    With `dedupe_key` (scheduled jobs) messages already queued under that key are not queued
    again: the ids returned are only those of new rows. `steps`, one per payload when given:
    the conversation step each answers, None for one that stands whatever the person does next."""
    if not payloads:
        return []
    if steps and len(steps) != len(payloads):
        raise ValueError("steps must name one step (or None) per payload")
    marks = list(steps) or [None] * len(payloads)
    rows = [
        {
            "channel": channel,
            "chat_id": chat_id,
            "contact_id": contact_id,
            "payload": payload,
            "status": PENDING,
            "attempts": 0,
            "created_at": now,
            "dedupe_key": None,
            "conversation_id": step.conversation_id if step else None,
            "conversation_version": step.version if step else None,
        }
        for payload, step in zip(payloads, marks, strict=True)
    ]
    if dedupe_key is None:
        return [int(i) for i in session.execute(_INSERT, rows).scalars()]
    for index, row in enumerate(rows):
        row["dedupe_key"] = dedupe_key if index == 0 else f"{dedupe_key}/{index + 1}"
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(TABLE).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(TABLE.c.id)
    inserted = (session.execute(statement, row).scalar() for row in rows)
    return [int(i) for i in inserted if i is not None]


def chats_with_work(session: Session, *, channel: str, now: datetime, limit: int) -> list[str]:
    """Chats with a message waiting or a lease run out, oldest first. Two index range scans
    (channel, status) rather than one OR that would read the whole table."""
    pending = (
        select(TABLE.c.chat_id, func.min(TABLE.c.id).label("first"))
        .where(TABLE.c.channel == channel, TABLE.c.status == PENDING)
        .group_by(TABLE.c.chat_id)
    )
    stale = (
        select(TABLE.c.chat_id, func.min(TABLE.c.id).label("first"))
        .where(TABLE.c.channel == channel, TABLE.c.status == SENDING, TABLE.c.claimed_until < now)
        .group_by(TABLE.c.chat_id)
    )
    first: dict[str, int] = {}
    for statement in (pending, stale):
        for row in session.execute(statement):
            first[row.chat_id] = min(row.first, first.get(row.chat_id, row.first))
    return sorted(first, key=first.__getitem__)[:limit]


@dataclass(frozen=True)
class Leased:
    id: int
    payload: dict[str, Any]
    attempts: int
    parts_sent: int = 0


_CLAIM_SELECT = (
    select(
        TABLE.c.id,
        TABLE.c.status,
        TABLE.c.claimed_until,
        TABLE.c.not_before,
        TABLE.c.attempts,
        TABLE.c.payload,
        TABLE.c.parts_sent,
        TABLE.c.handed_at,
        TABLE.c.conversation_id,
        TABLE.c.conversation_version,
    )
    .where(
        TABLE.c.channel == bindparam("channel"),
        TABLE.c.chat_id == bindparam("chat_id"),
        TABLE.c.status.in_((PENDING, SENDING)),
    )
    .order_by(TABLE.c.id)
    .limit(bindparam("limit"))
)
_CLAIM_SELECT_LOCKING = _CLAIM_SELECT.with_for_update(skip_locked=True)
_LEASE_UPDATE = (
    update(TABLE)
    .where(TABLE.c.id.in_(bindparam("ids", expanding=True)))
    .values(
        status=SENDING,
        claimed_until=bindparam("until"),
        attempts=TABLE.c.attempts + 1,
        # The first of the batch is handed over next: recorded now, in the lease's transaction,
        # which saves a transaction per batch (a crash before the call leaves it of unknown fate,
        # which is handled as if it had gone out).
        handed_at=case((TABLE.c.id == bindparam("first"), bindparam("now")), else_=None),
    )
)
_DROP = (
    update(TABLE)
    .where(TABLE.c.id.in_(bindparam("ids", expanding=True)))
    .values(status=DROPPED, claimed_until=None, last_error=bindparam("reason"))
)


def lease_batch(
    session: Session, *, channel: str, chat_id: str, now: datetime, lease: timedelta, limit: int = BATCH
) -> list[Leased]:
    """Claim the chat's oldest unsent messages, in order, up to the first one not due yet, and
    record the first as handed over. Nothing is leased while another sender holds a live lease
    on the chat's oldest message: order comes first. A message whose lease ran out (its sender
    died) is leased again only if it still applies (`_out_of_date`). (Statements are
    prebuilt: this runs for every reply.)"""
    locking = session.get_bind().dialect.name == "postgresql"
    rows = session.execute(
        _CLAIM_SELECT_LOCKING if locking else _CLAIM_SELECT, {"channel": channel, "chat_id": chat_id, "limit": limit}
    ).all()
    due = []
    for row in rows:
        if row.status == SENDING and row.claimed_until is not None and row.claimed_until >= now:
            break
        if row.not_before is not None and row.not_before > now:
            break
        due.append(row)
    dropped = _out_of_date(session, [row for row in due if row.status == SENDING])  # leases that ran out
    leased = [Leased(row.id, row.payload, row.attempts + 1, row.parts_sent) for row in due if row.id not in dropped]
    if dropped:
        session.execute(
            _DROP, {"ids": sorted(dropped), "reason": "out of date after a crash: the conversation moved on"}
        )
        for row in due:
            if row.id in dropped:
                log.info(
                    "outbox %s not sent again: %s after its sender stopped, and conversation %s has moved on",
                    row.id,
                    "handed over" if row.handed_at is not None else "leased",
                    row.conversation_id,
                )
    if leased:
        session.execute(
            _LEASE_UPDATE, {"ids": [c.id for c in leased], "until": now + lease, "first": leased[0].id, "now": now}
        )
    return leased


def _out_of_date(session: Session, rows: Sequence[Any]) -> set[int]:
    """Of these rows whose lease ran out, those that answer a conversation step the
    conversation has moved past since (one query, and only after a crash: rarely)."""
    tied = [row for row in rows if row.conversation_id is not None]
    if not tied:
        return set()
    statement = select(CONVERSATION.c.id, CONVERSATION.c.version).where(
        CONVERSATION.c.id.in_({row.conversation_id for row in tied})
    )
    if session.get_bind().dialect.name == "postgresql":
        # Wait for a unit of work moving the conversation right now, and read what it stored:
        # reading the version before its commit would send the old prompt after the answer.
        # (On SQLite the write lock already keeps them apart.)
        statement = statement.with_for_update()
    versions = dict(session.execute(statement).all())
    return {
        row.id
        for row in tied
        if versions.get(row.conversation_id, row.conversation_version) != row.conversation_version
    }


_HAND = update(TABLE).where(TABLE.c.id == bindparam("message_id")).values(handed_at=bindparam("now"))


def mark_handed(session: Session, *, message_id: int, now: datetime) -> None:
    """Record that this leased message is being handed to the platform now. Committed before
    the call: after a crash it tells a message of unknown fate from one never tried."""
    session.execute(_HAND, {"message_id": message_id, "now": now})


def release(session: Session, *, message_ids: Sequence[int]) -> None:
    """Give back leased messages that were not tried (an earlier one must wait first)."""
    if message_ids:
        session.execute(
            update(TABLE)
            .where(TABLE.c.id.in_(message_ids), TABLE.c.status == SENDING)
            .values(status=PENDING, claimed_until=None, handed_at=None, attempts=TABLE.c.attempts - 1)
        )


_MARK_SENT = (
    update(TABLE)
    .where(TABLE.c.id == bindparam("message_id"))
    .values(
        status=SENT,
        sent_at=bindparam("sent_at"),
        external_id=bindparam("external_id"),
        claimed_until=None,
        last_error=None,
    )
)
_MARK_SENT_AS = _MARK_SENT.values(sent_as=bindparam("sent_as"))


def mark_all_sent(session: Session, *, sent: Sequence[tuple[int, str | None]], now: datetime) -> None:
    """Mark a delivered batch, (message id, platform id) each, in one statement. A message
    held after a template keeps that template's name in `sent_as`."""
    if sent:
        session.execute(_MARK_SENT, [{"message_id": m, "external_id": e, "sent_at": now} for m, e in sent])


def mark_sent_as(session: Session, *, sent: Sequence[tuple[int, str | None, str]], now: datetime) -> None:
    """Mark messages that went out as something else (message id, platform id, e.g.
    "template:satupintu_kabar"). Apart from `mark_all_sent`, whose statement stays the
    narrowest for the many messages that go out as themselves."""
    if sent:
        session.execute(
            _MARK_SENT_AS, [{"message_id": m, "external_id": e, "sent_as": a, "sent_at": now} for m, e, a in sent]
        )


def requeue(session: Session, *, message_ids: Sequence[int], now: datetime) -> list[int]:
    """Queue again what these messages said, as new rows (the originals keep their record of
    how they failed): WhatsApp refused them after accepting them."""
    if not message_ids:
        return []
    rows = session.execute(
        select(TABLE.c.channel, TABLE.c.chat_id, TABLE.c.contact_id, TABLE.c.payload)
        .where(TABLE.c.id.in_(message_ids))
        .order_by(TABLE.c.id)
    ).all()
    copies = [
        {
            "channel": r.channel,
            "chat_id": r.chat_id,
            "contact_id": r.contact_id,
            "payload": r.payload,
            "status": PENDING,
            "attempts": 0,
            "created_at": now,
            "dedupe_key": None,
        }
        for r in rows
    ]
    return [int(i) for i in session.execute(_INSERT, copies).scalars()] if copies else []


_RELEASE_HELD = (
    update(TABLE)
    .where(TABLE.c.channel == bindparam("b_channel"), TABLE.c.status == HELD, TABLE.c.chat_id == bindparam("b_chat_id"))
    .values(status=PENDING)
)


def release_held(session: Session, *, channel: str, chat_id: str) -> int:
    """The person wrote: what waited for them goes out now, before the answer to what they wrote
    (older rows are leased first). The statement is prebuilt: building it took longer than running it."""
    result = cast("CursorResult[Any]", session.execute(_RELEASE_HELD, {"b_channel": channel, "b_chat_id": chat_id}))
    return int(result.rowcount or 0)


_DELIVERY_RANK = {"sent": 1, "delivered": 2, "read": 3, "failed": 4}


@dataclass(frozen=True)
class DeliveryReport:
    """A platform's word on a message it accepted earlier (WhatsApp's status callbacks)."""

    external_id: str
    status: str
    at: datetime
    error_code: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class Reported:
    """The row a delivery report is about, and whether the report was news to it (only one
    of several identical reports handled at once is)."""

    id: int
    chat_id: str
    status: str
    sent_at: datetime | None
    news: bool


def record_delivery(session: Session, *, channel: str, report: DeliveryReport) -> Reported | None:
    """Record a report on the row it is about (callbacks arrive out of order: a late
    "delivered" never undoes "read"); None when no row has this platform id (not recorded
    yet, or another deployment's message). The rank is checked in the UPDATE itself, so of
    two identical reports handled at once only one counts as news."""
    # The channel as a literal: the planner uses the partial index only when it can see that
    # the query asks for that channel.
    row = session.execute(
        select(TABLE.c.id, TABLE.c.chat_id, TABLE.c.status, TABLE.c.sent_at).where(
            TABLE.c.channel == bindparam("channel", channel, literal_execute=True),
            TABLE.c.external_id == report.external_id,
        )
    ).first()
    if row is None:
        return None
    rank = _DELIVERY_RANK.get(report.status, 0)
    older = [status for status, r in _DELIVERY_RANK.items() if r < rank]
    error = f"{report.error_code} {report.error or ''}".strip()[:500] if report.error_code is not None else None
    result = cast(
        "CursorResult[Any]",
        session.execute(
            update(TABLE)
            .where(TABLE.c.id == row.id, or_(TABLE.c.delivery.is_(None), TABLE.c.delivery.in_(older)))
            .values(delivery=report.status, delivery_at=report.at, delivery_error=error)
        ),
    )
    return Reported(int(row.id), row.chat_id, row.status, row.sent_at, news=result.rowcount == 1)


def mark_retry(session: Session, *, message_id: int, not_before: datetime, error: str, parts_sent: int = 0) -> None:
    """Try again after `not_before`; `parts_sent` of a message in several requests already went out."""
    session.execute(
        update(TABLE)
        .where(col(OutboxMessage.id) == message_id)
        .values(
            status=PENDING,
            not_before=not_before,
            claimed_until=None,
            handed_at=None,
            last_error=error[:500],
            parts_sent=TABLE.c.parts_sent + parts_sent,
        )
    )


def mark_held(
    session: Session, *, message_id: int, reason: str, external_id: str | None = None, sent_as: str | None = None
) -> None:
    """Not now, but after the person's next message (`release_held`), in its place among the
    chat's messages; the reason is kept, and the template that announced it if one did."""
    session.execute(
        update(TABLE)
        .where(col(OutboxMessage.id) == message_id)
        .values(status=HELD, claimed_until=None, last_error=reason[:500], external_id=external_id, sent_as=sent_as)
    )


def mark_failed(session: Session, *, message_id: int, error: str) -> None:
    """A permanent failure (the person blocked the bot): kept, visible, never silently dropped."""
    session.execute(
        update(TABLE)
        .where(col(OutboxMessage.id) == message_id)
        .values(status=FAILED, claimed_until=None, last_error=error[:500])
    )


def messages_after(
    session: Session, *, channel: str, chat_id: str, after_id: int, limit: int = 100
) -> Sequence[OutboxMessage]:
    """A chat's messages after `after_id`, and any older one still pending: the web chat reads
    its replies this way. Pending means no page has read it yet; on PostgreSQL a row can commit
    after one with a higher id was read (ids are taken at insert, not at commit), and the
    reader's cursor would step over it for good without the second half."""
    statement = (
        select(OutboxMessage)
        .where(
            col(OutboxMessage.channel) == channel,
            col(OutboxMessage.chat_id) == chat_id,
            or_(col(OutboxMessage.id) > after_id, col(OutboxMessage.status) == PENDING),
        )
        .order_by(col(OutboxMessage.id))
        .limit(limit)
    )
    return session.execute(statement).scalars().all()


def latest_ids(session: Session, *, channel: str, chat_ids: Sequence[str]) -> dict[str, int]:
    """The newest message id of each of these chats that has any (one query over the chat
    index): a web chat page whose cursor is below it has something to read."""
    if not chat_ids:
        return {}
    statement = (
        select(col(OutboxMessage.chat_id), func.max(col(OutboxMessage.id)))
        .where(col(OutboxMessage.channel) == channel, col(OutboxMessage.chat_id).in_(chat_ids))
        .group_by(col(OutboxMessage.chat_id))
    )
    return {str(chat): int(newest) for chat, newest in session.execute(statement).all()}


def chats_with_unread(session: Session, *, channel: str, chat_ids: Sequence[str]) -> list[str]:
    """Those of these chats with a message no page has read yet (one query over the pending
    index): a row that committed late, below a page's cursor, is found this way."""
    if not chat_ids:
        return []
    statement = (
        select(col(OutboxMessage.chat_id))
        .where(
            col(OutboxMessage.channel) == channel,
            col(OutboxMessage.status) == PENDING,
            col(OutboxMessage.chat_id).in_(chat_ids),
        )
        .distinct()
    )
    return [str(chat) for chat in session.execute(statement).scalars().all()]


def mark_delivered(session: Session, *, message_ids: Sequence[int], now: datetime) -> None:
    if message_ids:
        session.execute(
            update(TABLE)
            .where(col(OutboxMessage.id).in_(message_ids), col(OutboxMessage.status) == PENDING)
            .values(status=SENT, sent_at=now)
        )
