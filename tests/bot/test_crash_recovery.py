"""Issue 17, item 3: a real `satupintu serve` killed with SIGKILL at random points while twenty
citizens are mid-complaint, started again, and the citizens let finish. Nothing is lost and
nothing already answered is asked again: one ticket each with every answer, every update
handled (polling too), no earlier prompt after a later one, and a message twice only if it
was of unknown fate (handed to the platform, not yet marked sent) when the server died."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, func, select

from bot.settings import Settings
from storage import outbox
from storage.db import Database
from storage.migrate import upgrade
from storage.models import OutboxMessage
from tests.bot.test_telegram import free_port
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.support.crowd import DONE, Citizen, UnknownFate, check_chat, check_records
from tests.support.serving import TOKEN, ServeProcess
from tests.support.telegram import TelegramCitizen

CITIZENS = 20
SECONDS = 240  # the longest a citizen may take, kills and restarts included (a guard against a hang: a loaded CI machine restarts slowly)


async def mid_conversation(citizens: list[Citizen]) -> None:
    """Until some citizen has begun and not finished: a kill then lands mid-conversation."""
    for _ in range(600):
        if any(0 < c.answered < DONE for c in citizens):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("no citizen got under way")


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegramAPI]:
    api = FakeTelegramAPI(TOKEN)
    await api.start()
    yield api
    await api.close()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["webhook", "polling"])
async def test_sigkill_mid_conversations_loses_nothing_and_asks_nothing_again(
    settings: Settings, fake: FakeTelegramAPI, mode: str
) -> None:
    rng = random.Random(f"issue-17-{mode}")
    fake.send_latency = 0.05  # a kill may land between a send's acceptance and its record
    upgrade(settings.effective_database_url)
    db = Database(settings.effective_database_url)
    server = ServeProcess(
        fake,
        data_dir=settings.data_dir,
        database_url=settings.effective_database_url,
        port=free_port(),
        webhook=mode == "webhook",
    )
    citizens = [Citizen(fake, 7100 + i, random.Random(rng.random())) for i in range(CITIZENS)]
    unknown = UnknownFate()
    try:
        await server.start()
        work = asyncio.gather(*(citizen.file(SECONDS) for citizen in citizens))
        kills = rng.choice((2, 3))
        for _ in range(kills):
            await mid_conversation(citizens)
            await asyncio.sleep(rng.uniform(0.2, 1.2))
            await server.kill()
            unknown.note(db)
            await server.start()
        await work
        assert await server.stop() == 0
        for citizen in citizens:
            check_chat(citizen, unknown)
        check_records(db, citizens)
        dropped = db.run_sync(
            lambda s: s.execute(select(func.count()).where(OutboxMessage.status == outbox.DROPPED)).scalar_one()
        )
        print(f"{mode}: {kills} kills; of unknown fate at a kill: {sum(unknown.texts.values())}; dropped: {dropped}")
    finally:
        if server.process is not None and server.process.returncode is None:
            await server.kill()
        print("\n".join(server.lines[-150:]))  # shown when the test fails
        db.close()


@contextmanager
def database_held(url: str) -> Iterator[None]:
    """Another client holds the inbound table (PostgreSQL) or the write lock (SQLite): a unit
    of work that begins now waits, so the update it handles stays in hand."""
    engine = create_engine(url)
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("LOCK TABLE inbound_message IN ACCESS EXCLUSIVE MODE")
        try:
            yield
        finally:
            connection.rollback()
    engine.dispose()


@pytest.mark.slow
async def test_an_update_in_hand_when_polling_is_killed_is_handled_after_the_restart(
    settings: Settings, fake: FakeTelegramAPI
) -> None:
    """Polling confirmed updates to Telegram before they were stored: one in hand at a kill was
    gone for good, and the citizen had to type again."""
    upgrade(settings.effective_database_url)
    db = Database(settings.effective_database_url)
    server = ServeProcess(
        fake, data_dir=settings.data_dir, database_url=settings.effective_database_url, port=free_port(), webhook=False
    )
    citizen = TelegramCitizen(fake, db, user_id=7400)
    try:
        await server.start()
        await citizen.type("/start")
        with database_held(settings.effective_database_url):
            update = await fake.press_button(7400, citizen.last.message_id, citizen.buttons()["Pengaduan"])
            polls = len(fake.calls_to("getUpdates"))  # the long poll that fetches it among them
            await fake.wait_for_calls("getUpdates", polls + 1, timeout=20)  # polled again since: in hand
            await server.kill()
        await server.start()
        [consent] = await citizen.settle(update)
        assert consent.text.startswith("Sebelum mulai")
        assert await server.stop() == 0
    finally:
        if server.process is not None and server.process.returncode is None:
            await server.kill()
        print("\n".join(server.lines[-150:]))  # shown when the test fails
        db.close()
