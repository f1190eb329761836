"""One rate limit for the whole bot, across processes: real `satupintu serve` processes (and
senders with engines of their own) sharing their send slots through PostgreSQL or Redis,
against the fake Bot API counting Telegram's limit as Telegram states it (any one second).
Counts and order are asserted, never speeds."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import time
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
import redis
from sqlalchemy import text

from bot.ratelimit import Claim, LocalSlots, Window
from bot.settings import Settings
from bot.shared_slots import FallbackSlots, RedisSlots, RedisStore, shared_store
from storage import outbox
from storage.db import Database
from storage.migrate import upgrade
from tests.bot.test_sender_limits import FIRST_CHAT, TOKEN, all_sent, sending, telegram_defaults, texts
from tests.bot.test_telegram import _exited, _serve_process, free_port
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.support.clock import running_clock
from workflows.messages import OutMessage

REDIS_URL = os.environ.get("SATUPINTU_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
STORES = ["postgresql", "redis"]


@pytest.fixture
def redis_url(request: pytest.FixtureRequest, settings: Settings) -> Iterator[str | None]:
    """The store under test: None for PostgreSQL's own slots, else the Redis server's URL.
    Both share across processes, so SQLite (one process) has nothing to test here."""
    if not settings.effective_database_url.startswith("postgresql"):
        pytest.skip("SQLite deployments are one process: their send slots stay in memory")
    if request.param == "postgresql":
        yield None
        return
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        if os.environ.get("CI"):
            pytest.fail(f"Redis at {REDIS_URL} is required in CI: {error}")
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {error.__class__.__name__}")
    yield REDIS_URL


def queue(db: Database, queued: dict[int, int]) -> None:
    clock = running_clock()
    for chat, count in queued.items():
        db.run_sync(
            lambda s, c=chat, n=count: outbox.enqueue_many(
                s,
                channel="telegram",
                chat_id=str(c),
                contact_id=None,
                payloads=[OutMessage(text=t).to_json() for t in texts(c, n)],
                now=clock(),
            )
        )


def delivered_once_in_order(fake: FakeTelegramAPI, queued: dict[int, int]) -> None:
    for chat, count in queued.items():
        assert [m.text for m in fake.sent(chat)] == texts(chat, count)


@pytest.fixture
async def serving(settings: Settings, redis_url: str | None) -> AsyncIterator[list[subprocess.Popen[bytes]]]:
    """Three `satupintu serve` processes for one bot (a webhook each, as behind a balancer),
    with Telegram's limits as the settings give them: nothing divided by hand."""
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        process.terminate()
    for process in processes:
        await _exited(process, 15)


async def start_serving(
    settings: Settings, fake: FakeTelegramAPI, redis_url: str | None, processes: list[subprocess.Popen[bytes]]
) -> None:
    ports = [free_port() for _ in range(3)]
    for port in ports:
        env = {
            "TELEGRAM_RATE_GLOBAL": "30",
            "TELEGRAM_RATE_PER_CHAT": "1",
            "TELEGRAM_RATE_BURST": "1",  # the fake allows no burst in a chat here
            "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram/webhook",
            "TELEGRAM_WEBHOOK_SECRET": "rahasia",
            "SATUPINTU_SCHEDULER_TICK_SECONDS": "0",
            **({"REDIS_URL": redis_url} if redis_url else {}),
        }
        processes.append(_serve_process(settings, fake, port, **env))
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as session:
        for port, process in zip(ports, processes, strict=True):
            while True:
                assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
                assert time.monotonic() < deadline, "a server never answered"
                try:
                    async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)


async def watch_holders(db: Database, redis_url: str | None, seen: set[str]) -> None:
    """Collect, until cancelled, the processes the store records as claiming slots lately (a
    slot row keeps its last claimer; Redis the claimers of the last minute)."""
    if redis_url is None:
        while True:
            rows = await db.run(lambda s: s.execute(text("SELECT DISTINCT holder FROM send_slot")).all())
            seen.update(row[0] for row in rows if row[0])
            await asyncio.sleep(0.1)
    store = shared_store(db.url, redis_url)
    assert isinstance(store, RedisStore)
    try:
        while True:
            seen.update(h.decode() for h in await store.client.hkeys(RedisSlots(store, "telegram", Window(30)).keys[2]))
            await asyncio.sleep(0.1)
    finally:
        await store.close()


@pytest.mark.parametrize("redis_url", STORES, indirect=True)
async def test_three_serve_processes_never_exceed_the_bot_limit_together(
    settings: Settings, redis_url: str | None, serving: list[subprocess.Popen[bytes]]
) -> None:
    """Each of three processes is set to Telegram's whole 30/s; together they send a backlog
    of 240 messages to 120 chats and the platform sees at most 30 in any second, no 429,
    every message once and in order. (Each process on its own limit sent 90 in a second.)"""
    url = settings.effective_database_url
    upgrade(url)
    queued = {FIRST_CHAT + i: 2 for i in range(120)}
    async with FakeTelegramAPI(TOKEN, global_rate=30.0, per_chat_rate=1.0) as fake:
        for chat in queued:
            fake.add_chat(chat)
        await start_serving(settings, fake, redis_url, serving)
        db = Database(url)
        claimers: set[str] = set()
        watching = asyncio.create_task(watch_holders(db, redis_url, claimers))
        try:
            queue(db, queued)
            await all_sent(db, timeout=120)
        finally:
            watching.cancel()
            await asyncio.gather(watching, return_exceptions=True)
            db.close()
        assert fake.count_429 == 0
        assert fake.busiest_second() <= 30
        assert fake.count_sent == 240
        delivered_once_in_order(fake, queued)
    assert len(claimers) >= 2  # the processes shared the work, and the slots


@pytest.mark.parametrize("redis_url", STORES, indirect=True)
async def test_an_idle_process_holds_no_share(settings: Settings, redis_url: str | None) -> None:
    """A second sender, with an engine and a store of its own, sent a burst and then sits idle
    (it would only send what its own process queues). The first one reaches the bot's full 30
    in a second alone, where a limit divided by hand would have held it to 15."""
    url = settings.effective_database_url
    upgrade(url)
    stores = [shared_store(url, redis_url), shared_store(url, redis_url)]
    idle_chats = {FIRST_CHAT + 500 + i: 1 for i in range(30)}
    busy_chats = {FIRST_CHAT + i: 1 for i in range(90)}
    limits = {"telegram": telegram_defaults()}
    try:
        async with FakeTelegramAPI(TOKEN, global_rate=30.0, per_chat_rate=1.0, per_chat_burst=3) as fake:
            # It looks for work once, at its start: then only its own process's replies would wake it.
            async with sending(settings, fake, limits, idle_chats, stores[0], poll_seconds=3600) as db:
                await all_sent(db)  # the idle one's burst: every slot claimed once
                first_busy = fake.count_sent
                for chat in busy_chats:
                    fake.add_chat(chat)
                async with sending(settings, fake, limits, {}, stores[1]) as busy_db:
                    queue(busy_db, busy_chats)
                    await all_sent(busy_db)
            busy_times = fake.send_times[first_busy:]
            assert fake.count_429 == 0
            assert fake.busiest_second() <= 30
            assert busiest(busy_times) == 30
            delivered_once_in_order(fake, {**idle_chats, **busy_chats})
    finally:
        for store in stores:
            assert store is not None
            await store.close()


def busiest(times: list[float]) -> int:
    return max(sum(1 for t in times if start <= t < start + 1.0) for start in times)


async def test_the_window_holds_however_late_the_answers_come() -> None:
    """The slots' rule on a hand-moved clock: 30 claimed at once, then none while all are in
    flight; a slot may be claimed ahead, but its send waits until a second after its answer,
    and an answer that came late moves its slot's second on with it."""
    now = [100.0]
    slots = LocalSlots(Window(30), monotonic=lambda: now[0])
    claims = [await slots.claim() for _ in range(30)]
    assert all(isinstance(c, Claim) and c.delay == 0 for c in claims)
    assert isinstance(await slots.claim(), float)  # all in flight: no second has begun
    now[0] = 100.2
    for claim in claims[:29]:
        assert isinstance(claim, Claim)
        await slots.answered(claim)
    now[0] = 100.9
    last = claims[29]
    assert isinstance(last, Claim)
    await slots.answered(last)  # a slow trip: its second starts now
    now[0] = 101.2
    again = [await slots.claim() for _ in range(30)]
    assert [c.delay if isinstance(c, Claim) else None for c in again] == [0.0] * 29 + [pytest.approx(0.7)]
    assert isinstance(await slots.claim(), float)


async def test_an_unreachable_store_falls_back_to_a_share_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    """Slower, never over: a process that cannot reach Redis sends at its share of the limit
    (a quarter when it never learnt how many processes there are) and logs why."""
    store = RedisStore("redis://127.0.0.1:1/0", "test")
    slots = FallbackSlots(RedisSlots(store, "telegram", Window(30)), "telegram", Window(30))
    try:
        with caplog.at_level(logging.WARNING, logger="bot.shared_slots"):
            claimed = [await slots.claim() for _ in range(7)]
            assert all(isinstance(c, Claim) and not c.shared for c in claimed)
            assert isinstance(await slots.claim(), float)  # 30/s over four: 7 in any 0.93 s
        assert "the shared store failed" in caplog.text
    finally:
        await store.close()
