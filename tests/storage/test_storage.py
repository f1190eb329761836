"""Storage against a real database file or server: migrations, de-duplication, numbering,
the outbox's order and leases, photos on disk."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, inspect, select

from storage import outbox, repo
from storage.db import Database
from storage.files import PhotoRejected, store_photo
from storage.migrate import downgrade, upgrade
from storage.models import Contact

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


@pytest.fixture
def db(database_url: str):
    upgrade(database_url)
    database = Database(database_url)
    yield database
    database.close()


def _contact(db: Database, external_id: str = "42") -> Contact:
    return db.run_sync(
        lambda s: repo.get_or_create_contact(
            s,
            channel="telegram",
            external_id=external_id,
            chat_id=external_id,
            language="id",
            display_name="Siti",
            now=NOW,
        )
    )


def test_migrations_create_every_table_and_roll_back(database_url: str) -> None:
    upgrade(database_url)
    database = Database(database_url)
    tables = set(inspect(database.engine).get_table_names())
    assert {
        "contact",
        "conversation",
        "ticket",
        "attachment",
        "ticket_event",
        "inbound_message",
        "outbox_message",
        "ticket_counter",
    } <= tables
    database.close()
    downgrade(database_url, "base")
    database = Database(database_url)
    assert "ticket" not in inspect(database.engine).get_table_names()
    database.close()
    upgrade(database_url)  # and again, as `serve` does on every start


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(db: Database) -> None:
    if not db.is_sqlite:
        pytest.skip("SQLite only")
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000


def test_a_long_read_leaves_writers_free(db: Database) -> None:
    """The console's heavy reads (a map over a million tickets, an export) must not stop the
    chat from writing: a reading transaction holds no write lock, even on SQLite."""
    now = datetime.now(UTC)
    with db.reading() as reader:
        assert reader.execute(select(func.count()).select_from(Contact)).scalar_one() == 0  # a read is open
        db.run_sync(
            lambda s: repo.get_or_create_contact(
                s, channel="web", external_id="w1", chat_id="w1", language="id", display_name=None, now=now
            )
        )
        if db.is_sqlite:  # a snapshot: the read goes on seeing the database as it began
            assert reader.execute(select(func.count()).select_from(Contact)).scalar_one() == 0
    assert db.read_sync(lambda s: s.execute(select(func.count()).select_from(Contact)).scalar_one()) == 1


def test_a_redelivered_message_is_handled_once(db: Database) -> None:
    first = db.run_sync(lambda s: repo.first_delivery(s, channel="telegram", message_id="u1", now=NOW))
    again = db.run_sync(lambda s: repo.first_delivery(s, channel="telegram", message_id="u1", now=NOW))
    other_channel = db.run_sync(lambda s: repo.first_delivery(s, channel="web", message_id="u1", now=NOW))
    assert (first, again, other_channel) == (True, False, True)


def test_a_contact_is_created_once(db: Database) -> None:
    assert _contact(db).id == _contact(db).id


def test_times_come_back_aware_and_equal(db: Database) -> None:
    contact = _contact(db)
    loaded = db.run_sync(lambda s: repo.find_contact(s, channel="telegram", external_id="42"))
    assert loaded.created_at == NOW and loaded.created_at.tzinfo is not None
    assert contact.id == loaded.id


def test_ticket_sequence_is_unique_under_concurrency(db: Database) -> None:
    def take(_: int) -> int:
        return db.run_sync(lambda s: repo.next_sequence(s, scope="SP-2026"))

    with ThreadPoolExecutor(max_workers=8) as pool:
        numbers = list(pool.map(take, range(80)))
    assert sorted(numbers) == list(range(1, 81))
    assert db.run_sync(lambda s: repo.next_sequence(s, scope="SP-2027")) == 1


def _enqueue(db: Database, chat: str, text: str, contact_id: int) -> int:
    return db.run_sync(
        lambda s: outbox.enqueue_many(
            s, channel="telegram", chat_id=chat, contact_id=contact_id, payloads=[{"text": text}], now=NOW
        )
    )[0]


def _lease(db: Database, now: datetime) -> list[outbox.Leased]:
    return db.run_sync(
        lambda s: outbox.lease_batch(s, channel="telegram", chat_id="42", now=now, lease=timedelta(seconds=60))
    )


def test_outbox_leases_a_chats_messages_in_order_and_nothing_more_while_they_are_out(db: Database) -> None:
    contact = _contact(db)
    ids = [_enqueue(db, "42", f"m{i}", contact.id) for i in range(3)]
    batch = _lease(db, NOW)
    assert [c.id for c in batch] == ids and [c.payload["text"] for c in batch] == ["m0", "m1", "m2"]
    later = _enqueue(db, "42", "m3", contact.id)
    assert _lease(db, NOW) == []  # the chat is busy until its earlier messages are done
    db.run_sync(lambda s: outbox.mark_all_sent(s, sent=[(c.id, "1") for c in batch], now=NOW))
    assert [c.id for c in _lease(db, NOW)] == [later]


def test_a_crashed_senders_lease_runs_out_and_the_message_is_sent_again(db: Database) -> None:
    contact = _contact(db)
    message_id = _enqueue(db, "42", "hello", contact.id)
    assert [c.id for c in _lease(db, NOW)] == [message_id]
    assert db.run_sync(lambda s: outbox.chats_with_work(s, channel="telegram", now=NOW, limit=10)) == []
    later = NOW + timedelta(seconds=61)
    assert db.run_sync(lambda s: outbox.chats_with_work(s, channel="telegram", now=later, limit=10)) == ["42"]
    [again] = _lease(db, later)
    assert again.id == message_id and again.attempts == 2


def test_a_retry_holds_back_the_rest_of_the_chat_until_its_time(db: Database) -> None:
    contact = _contact(db)
    first = _enqueue(db, "42", "first", contact.id)
    second = _enqueue(db, "42", "second", contact.id)
    batch = _lease(db, NOW)
    db.run_sync(lambda s: outbox.mark_retry(s, message_id=first, not_before=NOW + timedelta(seconds=3), error="429"))
    db.run_sync(lambda s: outbox.release(s, message_ids=[c.id for c in batch[1:]]))
    assert _lease(db, NOW) == []  # "second" may not overtake "first"
    again = _lease(db, NOW + timedelta(seconds=3))
    assert [c.id for c in again] == [first, second]
    assert [c.attempts for c in again] == [2, 1]


def _image(kind: str = "JPEG", size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, kind)
    return buffer.getvalue()


def test_photos_are_stored_once_by_content_hash(tmp_path: Path) -> None:
    data = _image()
    first = store_photo(tmp_path, data, max_bytes=1_000_000)
    second = store_photo(tmp_path, data, max_bytes=1_000_000)
    assert first == second
    assert (first.content_type, first.width, first.height) == ("image/jpeg", 64, 48)
    assert (tmp_path / first.path).read_bytes() == data
    assert len(list(tmp_path.rglob("*.jpg"))) == 1


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"GIF89a" + b"\x00" * 100, "unreadable"),
        (b"%PDF-1.4 not a photo", "unreadable"),
        (_image("GIF"), "bad_type"),
    ],
)
def test_what_is_not_a_photo_is_refused(tmp_path: Path, data: bytes, reason: str) -> None:
    with pytest.raises(PhotoRejected) as refused:
        store_photo(tmp_path, data, max_bytes=1_000_000)
    assert refused.value.reason == reason
    assert not any(tmp_path.iterdir())


def test_an_oversized_photo_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PhotoRejected) as refused:
        store_photo(tmp_path, _image(size=(400, 400)), max_bytes=100)
    assert refused.value.reason == "too_large"
