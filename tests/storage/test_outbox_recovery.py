"""The outbox after a crash, against a real database: what a dead sender had in hand is sent
again only while it still applies, and a row is marked handed over before its call."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from storage import outbox, repo
from storage.db import Database
from storage.migrate import upgrade
from storage.models import OutboxMessage

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)
AFTER_LEASE = NOW + LEASE + timedelta(seconds=1)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    upgrade(database_url)
    database = Database(database_url)
    yield database
    database.close()


def _conversation(session: Any, chat: str) -> int:
    contact = repo.get_or_create_contact(
        session, channel="telegram", external_id=chat, chat_id=chat, language="id", display_name=None, now=NOW
    )
    return repo.load_conversation(session, contact_id=contact.id, now=NOW).id  # type: ignore[arg-type,return-value]


def _save(session: Any, conversation_id: int, step: str) -> int:
    return repo.save_conversation(
        session,
        conversation_id=conversation_id,
        flow="complaint",
        step=step,
        answers={},
        extra={},
        expires_at=None,
        now=NOW,
    )


def _queue(
    db: Database, chat: str, texts: list[str], step: outbox.Step | None, lasting: frozenset[int] = frozenset()
) -> list[int]:
    return db.run_sync(
        lambda s: outbox.enqueue_many(
            s,
            channel="telegram",
            chat_id=chat,
            contact_id=None,
            payloads=[{"text": t} for t in texts],
            now=NOW,
            steps=[None if i in lasting else step for i in range(len(texts))],
        )
    )


def _lease(db: Database, chat: str, at: datetime) -> list[str]:
    leased = db.run_sync(lambda s: outbox.lease_batch(s, channel="telegram", chat_id=chat, now=at, lease=LEASE))
    return [m.payload["text"] for m in leased]


def _rows(db: Database, chat: str) -> dict[str, OutboxMessage]:
    rows = db.run_sync(lambda s: s.execute(select(OutboxMessage).where(OutboxMessage.chat_id == chat)).scalars().all())
    return {row.payload["text"]: row for row in rows}


def test_saving_a_conversation_grows_its_version(db: Database) -> None:
    def work(session: Any) -> list[int]:
        conversation = _conversation(session, "1")
        return [_save(session, conversation, "name"), _save(session, conversation, "nik")]

    first, second = db.run_sync(work)
    assert second == first + 1


def test_a_lease_hands_over_only_its_first_message(db: Database) -> None:
    _queue(db, "2", ["consent", "menu"], None)
    assert _lease(db, "2", NOW) == ["consent", "menu"]
    rows = _rows(db, "2")
    assert rows["consent"].handed_at == NOW and rows["menu"].handed_at is None
    assert {row.status for row in rows.values()} == {outbox.SENDING}
    db.run_sync(lambda s: outbox.mark_handed(s, message_id=rows["menu"].id, now=NOW + timedelta(seconds=1)))
    assert _rows(db, "2")["menu"].handed_at == NOW + timedelta(seconds=1)


def test_a_live_lease_keeps_everyone_else_off_the_chat(db: Database) -> None:
    _queue(db, "3", ["one"], None)
    assert _lease(db, "3", NOW) == ["one"]
    _queue(db, "3", ["two"], None)
    assert _lease(db, "3", NOW + timedelta(seconds=30)) == []  # "one" is still in flight: order first


def test_after_a_crash_a_reply_whose_conversation_moved_on_is_dropped(db: Database) -> None:
    conversation = db.run_sync(lambda s: _conversation(s, "4"))
    version = db.run_sync(lambda s: _save(s, conversation, "consent"))
    step = outbox.Step(conversation, version)
    _queue(db, "4", ["consent text", "ticket SP-2026-00001"], step, lasting={1})
    assert _lease(db, "4", NOW) == ["consent text", "ticket SP-2026-00001"]
    # The sender dies here. The citizen answers meanwhile: the conversation moves on.
    db.run_sync(lambda s: _save(s, conversation, "category"))
    [newer] = _queue(db, "4", ["category prompt"], outbox.Step(conversation, version + 1))
    assert _lease(db, "4", AFTER_LEASE) == ["ticket SP-2026-00001", "category prompt"]
    rows = _rows(db, "4")
    assert rows["consent text"].status == outbox.DROPPED
    assert "moved on" in (rows["consent text"].last_error or "")
    assert rows["ticket SP-2026-00001"].status == outbox.SENDING  # stands whatever the person does
    assert rows["category prompt"].id == newer


def test_after_a_crash_a_reply_still_current_is_sent_again(db: Database) -> None:
    conversation = db.run_sync(lambda s: _conversation(s, "5"))
    version = db.run_sync(lambda s: _save(s, conversation, "name"))
    _queue(db, "5", ["what is the name?"], outbox.Step(conversation, version))
    assert _lease(db, "5", NOW) == ["what is the name?"]
    assert _lease(db, "5", AFTER_LEASE) == ["what is the name?"]  # nobody answered: it still applies
    row = _rows(db, "5")["what is the name?"]
    assert (row.status, row.attempts, row.handed_at) == (outbox.SENDING, 2, AFTER_LEASE)


def test_a_message_tied_to_no_step_is_sent_again_after_a_crash(db: Database) -> None:
    conversation = db.run_sync(lambda s: _conversation(s, "6"))
    _queue(db, "6", ["the officer asks: which RT?"], None)
    assert _lease(db, "6", NOW) == ["the officer asks: which RT?"]
    db.run_sync(lambda s: _save(s, conversation, "menu"))
    assert _lease(db, "6", AFTER_LEASE) == ["the officer asks: which RT?"]


def test_marking_sent_is_final_and_a_retry_or_release_forgets_the_hand_over(db: Database) -> None:
    _queue(db, "7", ["a", "b", "c"], None)
    assert _lease(db, "7", NOW) == ["a", "b", "c"]
    rows = _rows(db, "7")

    def settle(session: Any) -> None:
        outbox.mark_all_sent(session, sent=[(rows["a"].id, "900")], now=NOW)
        outbox.mark_handed(session, message_id=rows["b"].id, now=NOW)
        outbox.mark_retry(session, message_id=rows["b"].id, not_before=NOW + timedelta(seconds=5), error="429")
        outbox.release(session, message_ids=[rows["c"].id])

    db.run_sync(settle)
    rows = _rows(db, "7")
    assert (rows["a"].status, rows["a"].external_id) == (outbox.SENT, "900")
    assert (rows["b"].status, rows["b"].handed_at) == (outbox.PENDING, None)
    assert (rows["c"].status, rows["c"].handed_at, rows["c"].attempts) == (outbox.PENDING, None, 0)
    assert _lease(db, "7", AFTER_LEASE) == ["b", "c"]  # "a" is never leased again


def test_steps_must_match_the_payloads(db: Database) -> None:
    with pytest.raises(ValueError, match="one step"):
        _queue_mismatch(db)


def _queue_mismatch(db: Database) -> None:
    db.run_sync(
        lambda s: outbox.enqueue_many(
            s, channel="telegram", chat_id="8", contact_id=None, payloads=[{"text": "x"}], now=NOW, steps=[None, None]
        )
    )
