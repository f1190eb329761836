"""Issue 17, item 6: PostgreSQL goes away for ten seconds while twenty citizens write, through
the webhook and through polling, and comes back. The server is not restarted: it answers the
webhook with 5xx (or keeps the polled updates) while the database is away, recovers on its
own, and no message is lost or doubled — no prompt twice, none again after a later one.

The database is a private server of this test's own (tests/support/private_postgres.py),
never the shared one. Runs in the PostgreSQL run of the suite."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.settings import Settings
from storage.db import Database
from storage.migrate import upgrade
from tests.bot.test_telegram import free_port
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.support import private_postgres
from tests.support.crowd import DONE, Citizen, UnknownFate, check_chat, check_records
from tests.support.serving import TOKEN, ServeProcess

CITIZENS = 20
OUTAGE_SECONDS = 10
SECONDS = 240  # the longest a citizen may take, the outage included (a guard against a hang)


@pytest.fixture
def postgres(settings: Settings) -> Iterator[private_postgres.PrivatePostgres]:
    if not settings.effective_database_url.startswith("postgresql"):
        pytest.skip("a PostgreSQL outage: runs with SATUPINTU_TEST_DB=postgresql")
    why = private_postgres.available()
    if why is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the outage test: {why}")
        pytest.skip(why)
    server = private_postgres.PrivatePostgres(free_port())
    try:
        server.create()
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegramAPI]:
    api = FakeTelegramAPI(TOKEN)
    await api.start()
    yield api
    await api.close()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["webhook", "polling"])
async def test_postgresql_away_then_back_loses_and_doubles_nothing(
    postgres: private_postgres.PrivatePostgres, fake: FakeTelegramAPI, tmp_path: Path, mode: str
) -> None:
    rng = random.Random(f"issue-17-outage-{mode}")
    fake.send_latency = 0.2  # sends in flight when the database goes: their records must wait for it
    upgrade(postgres.url)
    db = Database(postgres.url)
    server = ServeProcess(
        fake, data_dir=tmp_path / "data", database_url=postgres.url, port=free_port(), webhook=mode == "webhook"
    )
    citizens = [Citizen(fake, 7300 + i, random.Random(rng.random())) for i in range(CITIZENS)]
    try:
        await server.start()
        work = asyncio.gather(*(citizen.file(SECONDS) for citizen in citizens))
        await asyncio.sleep(rng.uniform(1.0, 2.0))
        assert any(0 < c.answered < DONE for c in citizens), "the outage must come mid-conversation"
        deliveries_before = len(fake.webhook_deliveries)
        updates_before = len(fake.updates_by_id)
        await asyncio.to_thread(postgres.stop)  # returns once the server is down: clients were cut off meanwhile
        down_at = time.monotonic()
        await asyncio.sleep(OUTAGE_SECONDS)
        written_while_down = len(fake.updates_by_id) - updates_before
        await asyncio.to_thread(postgres.start)
        print(f"{mode}: database away {time.monotonic() - down_at:.1f}s")
        await work
        assert server.process is not None and server.process.returncode is None, "serve must survive the outage"
        refused = [d for d in fake.webhook_deliveries[deliveries_before:] if d.status is not None and d.status >= 500]
        if mode == "webhook":
            assert refused, "the webhook should answer 5xx while the database is away"
        assert written_while_down > 0, "citizens should write while the database is away"
        for citizen in citizens:
            check_chat(citizen, UnknownFate())  # nobody died: not a single message twice
        check_records(db, citizens)
        assert await server.stop() == 0
        kept = sum("keeping the" in line for line in server.lines)
        print(f"{mode}: {written_while_down} updates as it went away; {len(refused)} got 5xx; {kept} parts kept work")
    finally:
        if server.process is not None and server.process.returncode is None:
            await server.kill()
        print("\n".join(server.lines[-150:]))  # shown when the test fails
        db.close()
