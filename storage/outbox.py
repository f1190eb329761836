"""The durable outbox: every outbound message is a row, written in the transaction that caused
it, then claimed, delivered and marked by a sender.

A claim is a lease: a row being sent carries `claimed_until`, and a sender that crashed
mid-send leaves a lease that runs out, after which the row is claimed again. Rows of one chat
are claimed strictly oldest first and only when none of that chat is in flight, so a chat's
messages keep their order.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Sequence

from sqlalchemy import func, or_, select, update
from sqlmodel import Session

from storage.models import OutboxMessage

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"


def enqueue(session: Session, *, channel: str, chat_id: str, contact_id: int | None,
            payload: dict[str, Any], now: datetime) -> OutboxMessage:
    message = OutboxMessage(channel=channel, chat_id=chat_id, contact_id=contact_id, payload=payload, created_at=now)
    session.add(message)
    return message


def _claimable(now: datetime) -> Any:
    return or_(
        OutboxMessage.status == PENDING,
        (OutboxMessage.status == SENDING) & (OutboxMessage.claimed_until < now),
    )


def chats_with_work(session: Session, *, channel: str, now: datetime, limit: int) -> list[str]:
    """Chats whose oldest unsent message could go now, oldest first."""
    statement = (
        select(OutboxMessage.chat_id, func.min(OutboxMessage.id).label("first"))
        .where(OutboxMessage.channel == channel, _claimable(now))
        .group_by(OutboxMessage.chat_id)
        .order_by("first")
        .limit(limit)
    )
    return [row.chat_id for row in session.execute(statement)]


def claim_next(session: Session, *, channel: str, chat_id: str, now: datetime, lease: timedelta) -> OutboxMessage | None:
    """Claim the chat's oldest unsent message, or None when it is not due yet or another
    sender holds a live lease on it (the chat is busy: order comes first)."""
    statement = (
        select(OutboxMessage)
        .where(OutboxMessage.channel == channel, OutboxMessage.chat_id == chat_id,
               OutboxMessage.status.in_((PENDING, SENDING)))
        .order_by(OutboxMessage.id)
        .limit(1)
    )
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    message = session.execute(statement).scalars().first()
    if message is None:
        return None
    if message.status == SENDING and message.claimed_until is not None and message.claimed_until >= now:
        return None
    if message.not_before is not None and message.not_before > now:
        return None
    message.status = SENDING
    message.claimed_until = now + lease
    message.attempts += 1
    session.add(message)
    return message


def mark_sent(session: Session, *, message_id: int, external_id: str | None, now: datetime) -> None:
    session.execute(
        update(OutboxMessage).where(OutboxMessage.id == message_id)
        .values(status=SENT, sent_at=now, external_id=external_id, claimed_until=None, last_error=None)
    )


def mark_retry(session: Session, *, message_id: int, not_before: datetime, error: str) -> None:
    session.execute(
        update(OutboxMessage).where(OutboxMessage.id == message_id)
        .values(status=PENDING, not_before=not_before, claimed_until=None, last_error=error[:500])
    )


def mark_failed(session: Session, *, message_id: int, error: str) -> None:
    """A permanent failure (the person blocked the bot): kept, visible, never silently dropped."""
    session.execute(
        update(OutboxMessage).where(OutboxMessage.id == message_id)
        .values(status=FAILED, claimed_until=None, last_error=error[:500])
    )


def messages_after(session: Session, *, channel: str, chat_id: str, after_id: int, limit: int = 100) -> Sequence[OutboxMessage]:
    """A chat's messages after `after_id`: the web chat reads its replies this way."""
    statement = (
        select(OutboxMessage)
        .where(OutboxMessage.channel == channel, OutboxMessage.chat_id == chat_id, OutboxMessage.id > after_id)
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    return session.execute(statement).scalars().all()


def mark_delivered(session: Session, *, message_ids: Sequence[int], now: datetime) -> None:
    if message_ids:
        session.execute(
            update(OutboxMessage).where(OutboxMessage.id.in_(message_ids), OutboxMessage.status == PENDING)
            .values(status=SENT, sent_at=now)
        )
