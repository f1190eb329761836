"""The web chat's Web Push subscriptions: kept per chat, dropped when the push service says gone."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlmodel import Session

from storage.models import PushSubscription

PER_CHAT = 5  # a person's phone and a computer or two; a page cannot fill the table


def subscribe(session: Session, *, chat_id: str, endpoint: str, p256dh: str, auth: str, now: datetime) -> None:
    """Keep a browser's subscription for the chat; the same endpoint again replaces its keys and chat."""
    found = session.execute(select(PushSubscription).where(PushSubscription.endpoint == endpoint)).scalars().first()  # type: ignore[arg-type]
    if found is None:
        found = PushSubscription(chat_id=chat_id, endpoint=endpoint, p256dh=p256dh, auth=auth, created_at=now)
    found.chat_id, found.p256dh, found.auth = chat_id, p256dh, auth
    session.add(found)
    session.flush()
    kept = select(PushSubscription.id).where(PushSubscription.chat_id == chat_id)  # type: ignore[call-overload]
    newest = kept.order_by(PushSubscription.id.desc()).limit(PER_CHAT)  # type: ignore[union-attr]
    session.execute(
        delete(PushSubscription).where(
            PushSubscription.chat_id == chat_id,  # type: ignore[arg-type]
            PushSubscription.id.not_in(newest.scalar_subquery()),  # type: ignore[union-attr]
        )
    )


def unsubscribe(session: Session, *, chat_id: str, endpoint: str) -> None:
    session.execute(
        delete(PushSubscription).where(PushSubscription.chat_id == chat_id, PushSubscription.endpoint == endpoint)  # type: ignore[arg-type]
    )


def forget(session: Session, *, endpoint: str) -> None:
    """The push service said the subscription is gone (404/410)."""
    session.execute(delete(PushSubscription).where(PushSubscription.endpoint == endpoint))  # type: ignore[arg-type]


def of_chats(session: Session, *, chat_ids: Sequence[str]) -> list[PushSubscription]:
    if not chat_ids:
        return []
    query = select(PushSubscription).where(PushSubscription.chat_id.in_(chat_ids))  # type: ignore[attr-defined]
    return list(session.execute(query).scalars())
