"""Web Push for the web chat, on the real app and database against a local fake push service:
an officer's question to a citizen whose page is closed nudges her browser once, with nothing
about her case in it; an open page gets no nudge; a subscription the service calls gone is
forgotten; only the chat's own cookie may subscribe."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from bot.app import DATABASE, create_app
from bot.channels.registry import INSTALLED
from bot.channels.webchat import COOKIE, WebChat, chat_id_of
from bot.channels.webchat_push import WebPush
from bot.settings import Settings
from storage.models import PushSubscription
from tests.bot.test_webchat import citizen
from tests.bot.test_webchat_live import officer_asks, open_stream
from tests.fakes.push_service import FakePushService, unb64url
from tests.support.clock import running_clock
from tests.support.webchat import HEADERS, WebCitizen, queue_reply

NUMBER = re.compile(r"SP-\d{4}-\d{5}")
NIK = "3471041203450001"
GRACE = 0.3


def pusher(server: TestServer) -> WebPush:
    channel = server.app[INSTALLED]["web"]
    assert isinstance(channel, WebChat) and channel.push is not None
    return channel.push


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[TestServer]:
    settings = replace(settings, extra={**settings.extra, "webchat_push_allow_local_http": True})
    app = create_app(settings, clock=running_clock())
    channel = app[INSTALLED]["web"]
    assert isinstance(channel, WebChat) and channel.push is not None
    channel.live.check_seconds = 3600
    channel.push.grace_seconds = GRACE
    channel.push.retry_seconds = 0.5
    async with TestServer(app) as test_server:
        yield test_server


@pytest.fixture
async def push_service() -> AsyncIterator[FakePushService]:
    async with FakePushService() as fake:
        yield fake


async def subscribed(server: TestServer, fake: FakePushService, name: str) -> tuple[WebCitizen, str]:
    """Siti files a complaint about herself (name and NIK), then lets the page notify her."""
    person = await citizen(server)
    number = NUMBER.search(await person.file_complaint(name="Siti Aminah", nik=NIK)).group(0)
    response = await person.client.post("/api/chat/push", json=fake.subscribe(name), headers=HEADERS)
    assert response.status == 200, await response.text()
    return person, number


def chat_id_of_cookie(person: WebCitizen) -> str:
    [cookie] = [c for c in person.client.session.cookie_jar if c.key == COOKIE]
    return chat_id_of(cookie.value)


async def subscriptions(server: TestServer) -> list[Any]:
    return await server.app[DATABASE].run(lambda s: s.execute(select(PushSubscription.endpoint)).scalars().all())


async def test_a_question_to_a_closed_page_sends_one_push_with_nothing_of_the_case(
    server: TestServer, push_service: FakePushService
) -> None:
    siti, number = await subscribed(server, push_service, "siti")
    key = (await (await siti.client.get("/api/chat/push/key")).json())["key"]
    await asyncio.sleep(GRACE * 3)
    assert push_service.requests == 0  # her own answers were read by the page that sent them
    await officer_asks(server.app, number, "Di RT berapa rumah Ibu?")
    [payload] = await push_service.wait_for("siti", 1)
    await asyncio.sleep(GRACE * 3)
    assert len(push_service.received["siti"]) == 1  # the news that Budi took it and his question: one nudge
    text = str(payload)
    for private in (number, "Siti", "Aminah", NIK, "RT"):
        assert private not in text
    assert payload["url"].endswith("/")
    [claims] = push_service.claims
    assert claims["k"] == key and len(unb64url(key)) == 65  # signed with the key the page subscribed with
    await asyncio.to_thread(
        queue_reply, server.app[DATABASE], chat_id_of_cookie(siti), "Satu lagi?"
    )  # within the coalescing window: no second nudge
    await asyncio.sleep(GRACE * 4)
    assert len(push_service.received["siti"]) == 1
    await siti.client.close()


async def test_no_push_while_the_page_is_open(server: TestServer, push_service: FakePushService) -> None:
    siti, number = await subscribed(server, push_service, "siti")
    stream = await open_stream(siti, after=siti.after)
    await officer_asks(server.app, number, "Di RT berapa?")
    await stream.events(2)
    await asyncio.sleep(GRACE * 4)
    assert push_service.requests == 0
    stream.close()
    await siti.client.close()


async def test_a_gone_subscription_is_forgotten(server: TestServer, push_service: FakePushService) -> None:
    siti, number = await subscribed(server, push_service, "siti")
    push_service.status_for["siti"] = 410
    await officer_asks(server.app, number, "Di RT berapa?")
    for _ in range(100):
        if not await subscriptions(server):
            break
        await asyncio.sleep(0.1)
    assert await subscriptions(server) == []
    assert push_service.requests == 1
    await siti.client.close()


async def test_a_failed_push_is_tried_once_more(server: TestServer, push_service: FakePushService) -> None:
    siti, number = await subscribed(server, push_service, "siti")
    push_service.fail_next["siti"] = [500]
    await officer_asks(server.app, number, "Di RT berapa?")
    [payload] = await push_service.wait_for("siti", 1)  # failed first, the retry delivered it
    assert payload["kind"] == "reply" and push_service.requests == 2
    await siti.client.close()


async def test_a_push_failing_twice_is_given_up_but_the_subscription_kept(
    server: TestServer, push_service: FakePushService
) -> None:
    siti, number = await subscribed(server, push_service, "siti")
    push_service.fail_next["siti"] = [503, 503, 503]
    await officer_asks(server.app, number, "Di RT berapa?")
    for _ in range(100):
        if push_service.requests >= 2:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.5)
    assert push_service.requests == 2  # the first try and one retry, then it gives up
    assert await subscriptions(server) == [push_service.endpoint("siti")]  # kept: the service may recover
    await siti.client.close()


async def test_subscribing_needs_the_chat_cookie_and_a_push_service_address(
    server: TestServer, push_service: FakePushService
) -> None:
    body = push_service.subscribe("stranger")
    async with ClientSession() as stranger:
        refused = await stranger.post(server.make_url("/api/chat/push"), json=body, headers=HEADERS)
        assert refused.status == 401
    siti = await citizen(server)
    for bad in (
        {**body, "endpoint": "http://push.example.org/x"},  # plain http to another machine
        {**body, "endpoint": "https://push.example.org/" + "x" * 1000},
        {**body, "keys": {"p256dh": body["keys"]["p256dh"]}},
        {"endpoint": body["endpoint"]},
    ):
        response = await siti.client.post("/api/chat/push", json=bad, headers=HEADERS)
        assert response.status == 400, bad
    assert (await siti.client.post("/api/chat/push", json=body)).status == 403  # no page header
    assert await subscriptions(server) == []
    for n in range(7):  # a page cannot fill the table: the newest five of a chat are kept
        again = {**body, "endpoint": push_service.endpoint(f"more{n}")}
        assert (await siti.client.post("/api/chat/push", json=again, headers=HEADERS)).status == 200
    assert sorted(await subscriptions(server)) == sorted(push_service.endpoint(f"more{n}") for n in range(2, 7))
    assert (await siti.client.post("/api/chat/push", json=body, headers=HEADERS)).status == 200
    assert (
        await siti.client.delete("/api/chat/push", json={"endpoint": body["endpoint"]}, headers=HEADERS)
    ).status == 200
    assert body["endpoint"] not in await subscriptions(server) and len(await subscriptions(server)) == 4
    await siti.client.close()


async def test_the_service_worker_speaks_the_pages_language(server: TestServer) -> None:
    async with ClientSession() as browser:
        for lang, words in (("id", "Ada pesan baru dari Dinas Sosial"), ("en", "new message")):
            response = await browser.get(server.make_url(f"/sw.js?lang={lang}"))
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/javascript")
            assert words in await response.text()
