"""Data access, keyword-only, one function per question the workflows ask.

Inserts that may race across processes (a contact's first message, a redelivered update, the
ticket sequence) are single upserts, so they are correct on PostgreSQL with several servers and
on SQLite alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, bindparam, delete, false, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel, col

from storage.models import (
    Attachment,
    Contact,
    Conversation,
    InboundMessage,
    Staff,
    Ticket,
    TicketCounter,
    TicketEvent,
    table_of,
)


def _insert(session: Session, model: type[SQLModel]) -> Any:
    """A dialect insert on the bare table: Core, not the ORM's bulk path, which costs several
    times more per row on the per-message path."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table_of(model))


# ------------------------------------------------------------------ inbound de-duplication
_CLAIM_INBOUND: dict[str, Any] = {}  # per dialect, built on first use


def first_delivery(session: Session, *, channel: str, message_id: str, now: datetime) -> bool:
    """Record that this inbound message is being processed. False when it already was: a
    redelivery. Part of the caller's transaction, so a failed attempt can be retried."""
    dialect = session.get_bind().dialect.name
    statement = _CLAIM_INBOUND.get(dialect)
    if statement is None:
        statement = _CLAIM_INBOUND[dialect] = (
            _insert(session, InboundMessage)
            .on_conflict_do_nothing(index_elements=["channel", "message_id"])
            .returning(table_of(InboundMessage).c.id)
        )
    row = session.execute(statement, {"channel": channel, "message_id": message_id, "received_at": now}).first()
    return row is not None


def inbound_seen(session: Session, *, channel: str, message_id: str) -> bool:
    found = session.execute(
        select(col(InboundMessage.id)).where(
            col(InboundMessage.channel) == channel, col(InboundMessage.message_id) == message_id
        )
    ).first()
    return found is not None


# ------------------------------------------------------------------ contacts and conversations
def find_contact(session: Session, *, channel: str, external_id: str) -> Contact | None:
    return (
        session.execute(select(Contact).where(col(Contact.channel) == channel, col(Contact.external_id) == external_id))
        .scalars()
        .first()
    )


def forget_last_inbound(session: Session, *, channel: str, chat_id: str, sent_at: datetime) -> None:
    """The platform says the person's reply window had closed (WhatsApp's 131047) for a
    message sent at `sent_at`, although our record said otherwise: believe it until they
    write again. A message of theirs newer than that one stands."""
    session.execute(
        update(Contact)
        .where(
            col(Contact.channel) == channel, col(Contact.chat_id) == chat_id, col(Contact.last_inbound_at) <= sent_at
        )
        .values(last_inbound_at=None)
    )


def get_or_create_contact(
    session: Session,
    *,
    channel: str,
    external_id: str,
    chat_id: str,
    language: str,
    display_name: str | None,
    now: datetime,
) -> Contact:
    found = find_contact(session, channel=channel, external_id=external_id)
    if found is not None:
        return found
    statement = (
        _insert(session, Contact)
        .values(
            channel=channel,
            external_id=external_id,
            chat_id=chat_id,
            language=language,
            display_name=display_name,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["channel", "external_id"])
    )
    session.execute(statement)
    contact = find_contact(session, channel=channel, external_id=external_id)
    assert contact is not None
    return contact


_LOAD_PARTY: dict[str | None, Any] = {}  # per staff column, built on first use


def load_party(
    session: Session, *, channel: str, external_id: str, staff_column: Any | None = None
) -> tuple[Contact, Conversation, Staff | None] | None:
    """A known contact with its conversation, row-locked, in one query (the common case),
    and the staff member whose `staff_column` (their id on this platform) is the contact's:
    one round trip where a second query for staff would cost another on every message."""
    key = staff_column.key if staff_column is not None else None
    statement = _LOAD_PARTY.get(key)
    if statement is None:
        statement = (
            select(Contact, Conversation, Staff)
            .join(Conversation, col(Conversation.contact_id) == col(Contact.id))
            .outerjoin(Staff, staff_column == col(Contact.external_id) if staff_column is not None else false())
            .where(col(Contact.channel) == bindparam("channel"), col(Contact.external_id) == bindparam("external_id"))
            .order_by(col(Staff.id))
            .limit(1)
            .with_for_update(of=Conversation)
        )
        _LOAD_PARTY[key] = statement
    row = session.execute(statement, {"channel": channel, "external_id": external_id}).first()
    return (row[0], row[1], row[2]) if row is not None else None


def find_conversation(session: Session, *, contact_id: int) -> Conversation | None:
    return session.execute(select(Conversation).where(col(Conversation.contact_id) == contact_id)).scalars().first()


def load_conversation(session: Session, *, contact_id: int, now: datetime) -> Conversation:
    """The contact's conversation row, locked for this transaction (PostgreSQL row lock; on
    SQLite the transaction already holds the write lock)."""
    statement = select(Conversation).where(col(Conversation.contact_id) == contact_id).with_for_update()
    conversation = session.execute(statement).scalars().first()
    if conversation is None:
        session.execute(
            _insert(session, Conversation)
            .values(contact_id=contact_id, answers={}, extra={}, updated_at=now)
            .on_conflict_do_nothing(index_elements=["contact_id"])
        )
        conversation = session.execute(statement).scalars().one()
    return conversation


_CONVERSATION = table_of(Conversation)
_SAVE_CONVERSATION = (
    update(_CONVERSATION)
    .where(_CONVERSATION.c.id == bindparam("conversation_id"))
    .values(version=_CONVERSATION.c.version + 1)
    .returning(_CONVERSATION.c.version)
)


def save_conversation(
    session: Session,
    *,
    conversation_id: int,
    flow: str | None,
    step: str | None,
    answers: dict[str, Any],
    extra: dict[str, Any],
    expires_at: datetime | None,
    now: datetime,
) -> int:
    """Store the conversation's new state (one Core UPDATE: this runs on every message) and
    return its new version, which the replies to it are queued under (storage/outbox.py)."""
    version = session.execute(
        _SAVE_CONVERSATION,
        {
            "conversation_id": conversation_id,
            "flow": flow,
            "step": step,
            "answers": answers,
            "extra": extra,
            "expires_at": expires_at,
            "updated_at": now,
        },
    ).scalar_one()
    return int(version)


# ------------------------------------------------------------------ tickets
def next_sequence(session: Session, *, scope: str) -> int:
    """The next number in `scope` (e.g. "SP-2026"), unique across processes."""
    counters = table_of(TicketCounter)
    insert = _insert(session, TicketCounter).values(scope=scope, value=1)
    statement = insert.on_conflict_do_update(index_elements=["scope"], set_={"value": counters.c.value + 1}).returning(
        counters.c.value
    )
    return int(session.execute(statement).scalar_one())


def add_event(
    session: Session, *, ticket_id: int, actor: str, kind: str, at: datetime, data: dict[str, Any] | None = None
) -> None:
    session.add(TicketEvent(ticket_id=ticket_id, actor=actor, kind=kind, at=at, data=data or {}))


def tickets_of_contact(
    session: Session, *, contact_id: int, number: str | None = None, limit: int = 5
) -> Sequence[Ticket]:
    """A citizen's own tickets, newest first; never anyone else's."""
    statement = select(Ticket).where(col(Ticket.reporter_contact_id) == contact_id)
    if number is not None:
        statement = statement.where(col(Ticket.number) == number)
    statement = statement.order_by(col(Ticket.created_at).desc(), col(Ticket.id).desc()).limit(limit)
    return session.execute(statement).scalars().all()


# ------------------------------------------------------------------ attachments
def add_attachment(
    session: Session,
    *,
    contact_id: int,
    sha256: str,
    path: str,
    content_type: str,
    size: int,
    width: int,
    height: int,
    now: datetime,
) -> Attachment:
    attachment = Attachment(
        contact_id=contact_id,
        sha256=sha256,
        path=path,
        content_type=content_type,
        size=size,
        width=width,
        height=height,
        created_at=now,
    )
    session.add(attachment)
    session.flush()
    return attachment


def link_attachments(session: Session, *, ticket_id: int, contact_id: int, attachment_ids: Sequence[int]) -> int:
    """Attach the contact's own, not yet filed photos to the ticket."""
    if not attachment_ids:
        return 0
    statement = (
        update(table_of(Attachment))
        .where(
            col(Attachment.id).in_(attachment_ids),
            col(Attachment.contact_id) == contact_id,
            col(Attachment.ticket_id).is_(None),
        )
        .values(ticket_id=ticket_id)
    )
    return cast("CursorResult[Any]", session.execute(statement)).rowcount


def drop_attachments(session: Session, *, contact_id: int, attachment_ids: Sequence[int]) -> list[str]:
    """Delete unfiled photos; returns the paths no other attachment uses, for the caller to
    remove from disk once the transaction has committed."""
    if not attachment_ids:
        return []
    rows = session.execute(
        select(col(Attachment.id), col(Attachment.path)).where(
            col(Attachment.id).in_(attachment_ids),
            col(Attachment.contact_id) == contact_id,
            col(Attachment.ticket_id).is_(None),
        )
    ).all()
    if not rows:
        return []
    session.execute(delete(table_of(Attachment)).where(col(Attachment.id).in_([r.id for r in rows])))
    paths = {r.path for r in rows}
    still_used = set(session.execute(select(col(Attachment.path)).where(col(Attachment.path).in_(paths))).scalars())
    return sorted(paths - still_used)
