"""The web chat's live stream (Server-Sent Events) through HTTP, on the real app and database:
what an officer queues reaches the open page, a reconnect resumes exactly where it stopped, and
a stream shows only its own cookie's chat."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import ClientResponse, ClientSession, web
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from bot.app import DATABASE, SERVICES, create_app
from bot.channels.registry import INSTALLED
from bot.channels.webchat import WebChat
from bot.settings import Settings
from storage import outbox
from storage.db import Database
from storage.models import OutboxMessage, Ticket
from tests.bot.test_webchat import citizen
from tests.support.clock import running_clock
from tests.support.console import Staffing
from tests.support.webchat import WebCitizen, queue_reply

NUMBER = re.compile(r"SP-\d{4}-\d{5}")
WAIT = 10.0  # generous, for a loaded machine: a failure is "never arrived", not "slow"


def web_chat(server: TestServer) -> WebChat:
    channel = server.app[INSTALLED]["web"]
    assert isinstance(channel, WebChat)
    return channel


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[TestServer]:
    """The app whose periodic check is off: what arrives came through the in-process wake."""
    app = create_app(settings, clock=running_clock())
    channel = app[INSTALLED]["web"]
    assert isinstance(channel, WebChat)
    channel.live.check_seconds = 3600
    async with TestServer(app) as test_server:
        yield test_server


class Stream:
    """An open `/api/chat/stream`, read event by event as a browser's EventSource does."""

    def __init__(self, response: ClientResponse) -> None:
        self.response = response
        self.comments = 0

    async def next_event(self) -> tuple[int, dict[str, Any]]:
        fields: dict[str, str] = {}
        while True:
            line = (await asyncio.wait_for(self.response.content.readline(), WAIT)).decode()
            assert line, "the stream ended"
            line = line.rstrip("\n")
            if line.startswith(":"):
                self.comments += 1
            elif line:
                name, _, value = line.partition(": ")
                fields[name] = value
            elif "data" in fields:
                assert fields["event"] == "message"
                return int(fields["id"]), json.loads(fields["data"])
            else:
                fields = {}

    async def events(self, count: int) -> list[tuple[int, dict[str, Any]]]:
        return [await self.next_event() for _ in range(count)]

    async def nothing_for(self, seconds: float) -> bool:
        """True when no event arrives within `seconds` (comments do not count)."""
        try:
            await asyncio.wait_for(self.next_event(), seconds)
        except TimeoutError:
            return True
        return False

    def close(self) -> None:
        self.response.close()


async def open_stream(person: WebCitizen, *, after: int | None = None, last_event_id: int | None = None) -> Stream:
    headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
    query = f"?after={after}" if after is not None else ""
    response = await person.client.get(f"/api/chat/stream{query}", headers=headers)
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    return Stream(response)


async def officer_asks(app: web.Application, number: str, *questions: str) -> None:
    """Budi accepts the ticket and asks the citizen, through the app's own case service and
    database, as the console's "ask the citizen" does."""
    services = app[SERVICES]
    officer = await Staffing(app[DATABASE], services, lambda: datetime.now(UTC)).hire("Budi Santoso")

    def work(session: Any) -> None:
        ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
        ticket.assignee_staff_id, ticket.status = officer.id, "assigned"  # filed before anyone was hired
        now = datetime.now(UTC)
        services.casework.accept(session, officer, ticket, now)
        for question in questions:
            services.casework.ask_citizen(session, officer, ticket, question, now)

    await app[DATABASE].run(work)


async def filed(server: TestServer) -> tuple[WebCitizen, str]:
    person = await citizen(server)
    number = NUMBER.search(await person.file_complaint()).group(0)
    return person, number


async def test_an_officers_question_arrives_on_the_open_stream(server: TestServer) -> None:
    siti, number = await filed(server)
    stream = await open_stream(siti, after=siti.after)
    await officer_asks(server.app, number, "Di RT berapa rumah Mbah Sarinah?")
    [(_, accepted), (event_id, message)] = await stream.events(2)  # the news that Budi took it, then his question
    assert number in accepted["text"]
    assert "Di RT berapa rumah Mbah Sarinah?" in message["text"] and number in message["text"]
    assert event_id == message["id"] > accepted["id"] > siti.after
    [(status,)] = await server.app[DATABASE].run(
        lambda s: s.execute(select(OutboxMessage.status).where(OutboxMessage.id == event_id)).all()
    )
    assert status == outbox.SENT  # the page has it: it counts as delivered
    stream.close()
    await siti.client.close()


async def test_a_stream_opened_without_a_cursor_starts_with_the_whole_conversation(server: TestServer) -> None:
    siti, _ = await filed(server)
    stream = await open_stream(siti)
    got = await stream.events(len(siti.messages))
    assert [message["id"] for _, message in got] == [m["id"] for m in siti.messages]
    assert [message["text"] for _, message in got] == [m["text"] for m in siti.messages]
    stream.close()
    await siti.client.close()


async def test_a_reconnect_with_last_event_id_gets_exactly_the_missed_messages(server: TestServer) -> None:
    siti, number = await filed(server)
    first = await open_stream(siti, after=siti.after)
    await siti.type("status")  # two messages while the stream is open: the listing and the menu
    seen = await first.events(2)
    assert number in seen[0][1]["text"]
    first.close()
    await siti.type("bantuan")  # missed while disconnected
    await officer_asks(server.app, number, "Apakah nenek masih di rumah?")
    since = [m for m in await all_messages(siti) if m["id"] > seen[-1][0]]
    assert len(since) >= 2 and "Apakah nenek masih di rumah?" in since[-1]["text"]
    # The browser reconnects to the URL it first opened (its `after` is old) with the last id it saw.
    again = await open_stream(siti, after=0, last_event_id=seen[-1][0])
    got = await again.events(len(since))
    assert [event_id for event_id, _ in got] == [m["id"] for m in since]
    assert await again.nothing_for(0.5)  # nothing twice
    again.close()
    await siti.client.close()


async def all_messages(person: WebCitizen) -> list[dict[str, Any]]:
    """The whole conversation, read through the page's own history endpoint."""
    found: list[dict[str, Any]] = []
    after = 0
    while True:
        body = await (await person.client.get(f"/api/chat/messages?after={after}")).json()
        if not body["messages"]:
            return found
        found += body["messages"]
        after = body["last_id"]


async def test_a_stream_shows_only_its_own_cookies_chat(server: TestServer) -> None:
    siti, number = await filed(server)
    budi = await citizen(server)
    await budi.type("/mulai")
    watching = await open_stream(budi, after=budi.after)
    await officer_asks(server.app, number, "Di RT berapa?")
    assert await watching.nothing_for(1.0)
    async with ClientSession() as stranger:
        refused = await stranger.get(server.make_url("/api/chat/stream"))
        assert refused.status == 401
        forged = await stranger.get(server.make_url("/api/chat/stream"), cookies={"satupintu_chat": "x" * 101})
        assert forged.status == 401
    watching.close()
    for person in (siti, budi):
        await person.client.close()


def queue_elsewhere(settings: Settings, chat_id: str, text: str) -> int:
    """A row queued by another process: its own engine, so no in-process wake."""
    other = Database(settings.effective_database_url)
    try:
        return queue_reply(other, chat_id, text)
    finally:
        other.close()


async def test_rows_queued_by_another_process_arrive_through_the_periodic_check(settings: Settings) -> None:
    app = create_app(settings, clock=running_clock())
    app[INSTALLED]["web"].live.check_seconds = 0.2  # type: ignore[attr-defined]
    async with TestServer(app) as server:
        siti, _ = await filed(server)
        chat_id = await server.app[DATABASE].run(
            lambda s: s.execute(select(OutboxMessage.chat_id).where(OutboxMessage.channel == "web")).scalars().first()
        )
        # On PostgreSQL a row's id is taken at insert and it is seen at commit: this row holds
        # an id below Siti's next ones, and becomes hers (commits) only after she read those.
        late = queue_elsewhere(settings, "someone-else", "placeholder")
        stream = await open_stream(siti, after=siti.after)
        await siti.type("status")
        seen = await stream.events(2)
        assert all(message["id"] > late for _, message in seen)
        queued = queue_elsewhere(settings, chat_id, "Dari konsol")
        [(event_id, message)] = await stream.events(1)
        assert (event_id, message["id"], message["text"]) == (queued, queued, "Dari konsol")

        def commit_late(session: Any) -> None:
            row = session.get(OutboxMessage, late)
            row.chat_id, row.payload = chat_id, {"text": "Terlambat"}

        other = Database(settings.effective_database_url)
        try:
            other.run_sync(commit_late)
        finally:
            other.close()
        [(event_id, message)] = await stream.events(1)
        assert (message["id"], message["text"]) == (late, "Terlambat")
        assert event_id == queued  # the cursor does not go back: a reconnect resends nothing
        assert await stream.nothing_for(0.6)
        stream.close()
        await siti.client.close()


async def test_a_row_another_servers_page_already_read_still_reaches_this_page(settings: Settings) -> None:
    """Two tabs of one chat on two `serve` processes: the other one's tab read the row first."""
    app = create_app(settings, clock=running_clock())
    app[INSTALLED]["web"].live.check_seconds = 0.2  # type: ignore[attr-defined]
    async with TestServer(app) as server:
        siti = await citizen(server)
        await siti.type("/mulai")
        chat_id = await server.app[DATABASE].run(
            lambda s: s.execute(select(OutboxMessage.chat_id).where(OutboxMessage.channel == "web")).scalars().first()
        )
        stream = await open_stream(siti, after=siti.after)
        queued = queue_elsewhere(settings, chat_id, "Dari konsol")
        other = Database(settings.effective_database_url)
        try:
            other.run_sync(outbox.mark_delivered, message_ids=[queued], now=datetime.now(UTC))
        finally:
            other.close()
        [(event_id, message)] = await stream.events(1)
        assert (event_id, message["text"]) == (queued, "Dari konsol")
        stream.close()
        await siti.client.close()


async def test_idle_streams_get_heartbeats_and_end_when_the_server_shuts_down(settings: Settings) -> None:
    app = create_app(settings, clock=running_clock())
    channel = app[INSTALLED]["web"]
    assert isinstance(channel, WebChat)
    channel.heartbeat_seconds = 0.1
    async with TestServer(app) as test_server:
        person = await citizen(test_server)
        await person.type("/mulai")
        stream = await open_stream(person, after=person.after)
        assert await stream.nothing_for(0.5)
        assert stream.comments >= 2
        assert channel.live.open_streams() == 1
        await test_server.runner.shutdown()  # what `serve` does first on SIGTERM
        assert await asyncio.wait_for(stream.response.content.read(), WAIT) == b""
        assert channel.live.open_streams() == 0
        await person.client.close()


async def test_a_closed_page_frees_its_stream_quietly(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(settings, clock=running_clock())
    channel = app[INSTALLED]["web"]
    assert isinstance(channel, WebChat)
    channel.heartbeat_seconds = 0.1
    async with TestServer(app) as test_server:
        person = await citizen(test_server)
        stream = await open_stream(person, after=0)
        assert channel.live.open_streams() == 1
        stream.close()  # the citizen closed the tab
        for _ in range(100):
            if channel.live.open_streams() == 0:
                break
            await asyncio.sleep(0.05)
        assert channel.live.open_streams() == 0
        await person.client.close()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
