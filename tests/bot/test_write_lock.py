"""A unit of work that cannot commit, and SQLite's write lock held by another process.

A webhook whose message could not be committed answers 5xx, never 200, and keeps nothing of
it, so the platform's redelivery is handled in full, once. On SQLite the lock is really held
by another process (as `satupintu migrate` or a second `serve` would); on PostgreSQL the
commit itself is refused (a deferred constraint trigger). While another process holds
SQLite's write lock, the web chat's reads and the console answer, and only the units that
write wait for it."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.engine import make_url

from bot.app import DATABASE, create_app
from bot.settings import Settings
from storage.db import Database
from storage.models import Contact, InboundMessage, OutboxMessage
from tests.bot.test_telegram import SECRET, free_port, serve, telegram_settings
from tests.bot.test_whatsapp import register_templates
from tests.fakes.graph_api import FakeGraphAPI
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.support.clock import MovableClock
from tests.support.console import console_office
from tests.support.telegram import TelegramCitizen
from tests.support.webchat import HEADERS, WebCitizen

WAIT = 0.3  # seconds a unit waits for SQLite's write lock in the webhook tests

# Another process that takes SQLite's write lock and keeps it until told (a line on stdin).
HOLDER = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
print("held", flush=True)
sys.stdin.readline()
connection.execute("ROLLBACK")
"""

REFUSE_COMMIT = (
    "CREATE FUNCTION refuse_commit() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'the commit is refused'; END $$",
    "CREATE CONSTRAINT TRIGGER refuse_commit AFTER INSERT ON inbound_message "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_commit()",
)
ALLOW_COMMIT = ("DROP TRIGGER refuse_commit ON inbound_message", "DROP FUNCTION refuse_commit()")


class HeldLock:
    """SQLite's write lock, held by another process until `release`."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @property
    def held(self) -> bool:
        return self.process.returncode is None

    async def release(self) -> None:
        if self.held:
            assert self.process.stdin is not None
            self.process.stdin.write(b"go\n")
            await self.process.stdin.drain()
            await asyncio.wait_for(self.process.wait(), 10)


@asynccontextmanager
async def write_lock_held(settings: Settings) -> AsyncIterator[HeldLock]:
    path = make_url(settings.effective_database_url).database
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, str(path), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    assert await asyncio.wait_for(process.stdout.readline(), 10) == b"held\n"
    lock = HeldLock(process)
    try:
        yield lock
    finally:
        await lock.release()


@asynccontextmanager
async def commits_fail(db: Database, settings: Settings) -> AsyncIterator[None]:
    """Every unit that handles a message fails to commit: SQLite's write lock is held by
    another process past the unit's wait; PostgreSQL refuses the commit."""
    if db.is_sqlite:
        async with write_lock_held(settings):
            yield
        return

    def run(session: Any, statements: tuple[str, ...]) -> None:
        for statement in statements:
            session.connection().exec_driver_sql(statement)

    await db.run(run, REFUSE_COMMIT)
    try:
        yield
    finally:
        await db.run(run, ALLOW_COMMIT)


async def kept(db: Database, channel: str, external_id: str, message_id: str) -> dict[str, int]:
    """What the database holds of one person's message: their contact, the message's
    de-duplication row, and replies queued to them."""

    def count(session: Any) -> dict[str, int]:
        return {
            "contacts": len(
                session.execute(
                    select(Contact.id).where(Contact.channel == channel, Contact.external_id == external_id)
                ).all()
            ),
            "inbound": len(
                session.execute(
                    select(InboundMessage.id).where(
                        InboundMessage.channel == channel, InboundMessage.message_id == message_id
                    )
                ).all()
            ),
            "outbox": len(
                session.execute(
                    select(OutboxMessage.id).where(
                        OutboxMessage.channel == channel, OutboxMessage.chat_id == external_id
                    )
                ).all()
            ),
        }

    return await db.read(count)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegramAPI]:
    api = FakeTelegramAPI("123456:TEST-TOKEN")
    await api.start()
    yield api
    await api.close()


async def test_a_telegram_update_that_cannot_commit_is_answered_5xx_then_handled_once_when_redelivered(
    settings: Settings, fake: FakeTelegramAPI
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/webhook"
    runner, db = await serve(
        telegram_settings(
            replace(settings, database_write_wait_seconds=WAIT),
            fake,
            telegram_webhook_url=url,
            telegram_webhook_secret=SECRET,
        ),
        port,
    )
    try:
        citizen = TelegramCitizen(fake, db, user_id=5301)
        async with commits_fail(db, settings):
            update = await fake.send_text(5301, "/start")
            for _ in range(500):  # the fake retries until a 2xx, as Telegram does
                if len([d for d in fake.webhook_deliveries if d.update_id == update["update_id"]]) >= 2:
                    break
                await asyncio.sleep(0.02)
            answers = [d.status for d in fake.webhook_deliveries if d.update_id == update["update_id"]]
            assert len(answers) >= 2 and set(answers) == {503 if db.is_sqlite else 500}, answers
            assert await kept(db, "telegram", "5301", f"u{update['update_id']}") == {
                "contacts": 0,
                "inbound": 0,
                "outbox": 0,
            }
            assert citizen.messages == []
        replies = await citizen.settle(update)  # delivered again, now committed
        assert [d.status for d in fake.webhook_deliveries if d.update_id == update["update_id"]][-1] == 200
        assert "Apa yang ingin Anda lakukan?" in replies[-1].text
        assert await kept(db, "telegram", "5301", f"u{update['update_id']}") == {
            "contacts": 1,
            "inbound": 1,
            "outbox": len(replies),
        }
    finally:
        await runner.cleanup()


async def test_a_whatsapp_delivery_that_cannot_commit_is_answered_5xx_then_handled_once_when_redelivered(
    settings: Settings,
) -> None:
    graph = FakeGraphAPI()
    register_templates(graph)
    await graph.start()
    port = free_port()
    app = create_app(
        replace(
            settings,
            database_write_wait_seconds=WAIT,
            whatsapp_access_token=graph.access_token,
            whatsapp_phone_number_id=graph.phone_number_id,
            whatsapp_app_secret=graph.app_secret,
            whatsapp_verify_token="verify",
            whatsapp_api_base_url=graph.api_base_url,
            whatsapp_rate_per_chat=0.0,
        ),
        clock=MovableClock(),
    )
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    graph.webhook_url = f"http://127.0.0.1:{port}/whatsapp/webhook"
    db = app[DATABASE]
    wa_id = "6281200000077"
    try:
        delivery = graph.text(wa_id, "halo", name="Siti")
        wamid = delivery["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
        async with commits_fail(db, settings):
            assert await graph.deliver(delivery) == (503 if db.is_sqlite else 500)
            assert await kept(db, "whatsapp", wa_id, wamid) == {"contacts": 0, "inbound": 0, "outbox": 0}
        assert await graph.deliver(delivery) == 200  # Meta delivers it again
        [welcome] = await graph.wait_for_sent(wa_id, 1)
        assert "Apa yang ingin Anda lakukan?" in (welcome.text or "")
        await asyncio.sleep(0.2)
        assert len(graph.sent(wa_id)) == 1  # handled once
        assert await kept(db, "whatsapp", wa_id, wamid) == {"contacts": 1, "inbound": 1, "outbox": 1}
    finally:
        await runner.cleanup()
        await graph.close()


async def test_while_another_process_holds_the_sqlite_write_lock_reads_and_the_console_answer(
    settings: Settings,
) -> None:
    if not settings.effective_database_url.startswith("sqlite"):
        pytest.skip("SQLite only: PostgreSQL has no database-wide write lock")
    clock = MovableClock()
    async with console_office(settings, clock) as office:
        supervisor = await office.hire("Ani Lestari", role="supervisor")
        member = await office.signed_in(supervisor)
        citizen = WebCitizen(TestClient(office.client.server))
        await citizen.open()
        [welcome] = await citizen.type("halo")
        try:
            async with write_lock_held(settings) as lock:
                # A message written now waits for the lock (a unit that writes)...
                typing = asyncio.create_task(citizen.type("1"))
                await asyncio.sleep(0.05)
                # ...while the page's read of its messages and the console answer at once.
                read = await citizen.client.get("/api/chat/messages", params={"after": "0"}, headers=HEADERS)
                assert read.status == 200
                assert [m["id"] for m in (await read.json())["messages"]] == [welcome["id"]]
                queue = await member.get("/console/")
                assert queue.status == 200 and "Ani Lestari" in await queue.text()
                assert lock.held and not typing.done()
            replies = await asyncio.wait_for(typing, 10)  # the lock is free: the message goes through
            assert replies and replies[-1]["id"] > welcome["id"]
        finally:
            await member.close()
            await citizen.client.close()
