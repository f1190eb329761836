"""`/metrics` on the real app: Prometheus text that parses, counters that move with a message
through Telegram (the fake Bot API) and the web chat, failures by code, the outbox's waiting
and held rows read from the database, the token when one is set, and nobody's data in it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import ClientSession, CookieJar, web
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from bot.channels.counted import failure_code
from bot.settings import Settings
from storage import outbox
from storage.db import Database
from storage.models import OutboxMessage
from tests.bot.test_telegram import fake, free_port, serve, telegram_settings  # noqa: F401  (fixture)
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.support.clock import MONDAY_MORNING
from tests.support.telegram import TelegramCitizen

TOKEN = "scrape-me-0123456789"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


class Server:
    def __init__(self, runner: web.AppRunner, db: Database, port: int) -> None:
        self.runner, self.db, self.url = runner, db, f"http://127.0.0.1:{port}"

    async def scrape(self, headers: dict[str, str] | None = None) -> tuple[int, str]:
        async with ClientSession() as client, client.get(self.url + "/metrics", headers=headers or {}) as answer:
            return answer.status, await answer.text()


async def start(settings: Settings) -> Server:
    port = free_port()
    runner, db = await serve(settings, port)
    return Server(runner, db, port)


@pytest.fixture
async def server(settings: Settings, fake: FakeTelegramAPI) -> AsyncIterator[Server]:  # noqa: F811
    running = await start(telegram_settings(settings, fake))
    yield running
    await running.runner.cleanup()


def samples(text: str) -> Samples:
    """Every sample by name and labels; parsing fails on anything not in the text format."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_counters_move_with_a_message_and_the_text_parses(
    server: Server,
    fake: FakeTelegramAPI,  # noqa: F811
) -> None:
    status, text = await server.scrape()
    assert status == 200
    before = samples(text)
    citizen = TelegramCitizen(fake, server.db, user_id=6101)
    replies = await citizen.type("/start")
    status, text = await server.scrape()
    after = samples(text)
    assert value(after, "satupintu_messages_in_total", channel="telegram") == (
        value(before, "satupintu_messages_in_total", channel="telegram") + 1
    )
    assert value(after, "satupintu_messages_out_total", channel="telegram") == (
        value(before, "satupintu_messages_out_total", channel="telegram") + len(replies)
    )
    assert value(after, "satupintu_unit_of_work_seconds_count", channel="telegram") == (
        value(before, "satupintu_unit_of_work_seconds_count", channel="telegram") + 1
    )
    assert value(after, "satupintu_unit_of_work_seconds_sum", channel="telegram") > 0
    assert value(after, "satupintu_outbox_queue_depth", channel="telegram") == 0
    assert ("process_resident_memory_bytes", ()) in after
    assert "6101" not in text and "Halo" not in text, "no chat, no words: operational numbers only"


async def test_send_failures_are_counted_by_code_and_waiting_rows_by_state(
    server: Server,
    fake: FakeTelegramAPI,  # noqa: F811
) -> None:
    citizen = TelegramCitizen(fake, server.db, user_id=6102)
    await citizen.type("/start")
    fake.fail_next("sendMessage", status=403, description="Forbidden: bot was blocked by the user")
    fake.fail_next("sendMessage", status=429, retry_after=600)

    def queue(session: Any) -> list[int]:
        return outbox.enqueue_many(
            session, channel="telegram", chat_id="6102", contact_id=None, payloads=[{"text": "a"}], now=MONDAY_MORNING
        )

    await server.db.run(queue)  # refused for good: 403
    await wait_for(server, "satupintu_send_failures_total", channel="telegram", code="403")
    await server.db.run(queue)  # asked to wait ten minutes: 429, and it waits in the queue
    found = await wait_for(server, "satupintu_send_failures_total", channel="telegram", code="429")
    assert value(found, "satupintu_outbox_queue_depth", channel="telegram") == 1

    def hold_one(session: Any) -> None:
        [row_id] = queue(session)
        outbox.mark_held(session, message_id=row_id, reason="outside the 24-hour window")

    await server.db.run(hold_one)
    _, text = await server.scrape()
    assert value(samples(text), "satupintu_outbox_held", channel="telegram") == 1
    statuses = await server.db.run(lambda s: s.execute(select(OutboxMessage.status)).scalars().all())
    assert sorted(set(statuses)) == ["failed", "held", "pending", "sent"]


async def wait_for(server: Server, name: str, **labels: str) -> Samples:
    """Scrape until the counter has moved (the sender works on its own schedule)."""
    for _ in range(200):
        _, text = await server.scrape()
        found = samples(text)
        if value(found, name, **labels) >= 1:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"{name}{labels} never counted:\n{text}")


async def test_a_metrics_token_when_set_is_required(
    settings: Settings,
    fake: FakeTelegramAPI,  # noqa: F811
) -> None:
    server = await start(replace(telegram_settings(settings, fake), metrics_token=TOKEN))
    try:
        assert (await server.scrape())[0] == 401
        assert (await server.scrape({"Authorization": "Bearer wrong"}))[0] == 401
        assert (await server.scrape({"Authorization": TOKEN}))[0] == 401
        status, text = await server.scrape({"Authorization": f"Bearer {TOKEN}"})
        assert status == 200 and "satupintu_outbox_queue_depth" in text
    finally:
        await server.runner.cleanup()


async def test_the_web_chat_is_counted_in_and_out(settings: Settings) -> None:
    server = await start(settings)
    try:
        async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as browser:  # keeps 127.0.0.1's cookie
            await (await browser.get(server.url + "/")).read()
            answer = await browser.post(
                server.url + "/api/chat/send",
                json={"client_id": "abcdefgh12", "text": "/mulai"},
                headers={"X-Satupintu-Chat": "1"},
            )
            read = len((await answer.json())["messages"])
        _, text = await server.scrape()
        found = samples(text)
        assert value(found, "satupintu_messages_in_total", channel="web") == 1
        assert value(found, "satupintu_messages_out_total", channel="web") == read > 0
    finally:
        await server.runner.cleanup()


def test_a_failure_is_labelled_by_its_code_never_by_its_words() -> None:
    assert failure_code("429 retry_after") == "429"
    assert failure_code("403 Forbidden: bot was blocked by the user") == "403"
    assert failure_code("whatsapp 131047: Re-engagement message") == "131047"
    assert failure_code("sms gateway 500: busy") == "500"
    assert failure_code("network: Connection reset") == "network"
    assert failure_code("refused for +6281234567890 at 08:00") == "other", "a number later in the text is no code"
