"""A fourth channel, added the way CONTRIBUTING.md says (its own module, tests/support/
echo_channel.py, registered through `create_app(extra_channels=...)`), files a complaint end to
end on the real app: its setting is read from the environment, its route takes the messages,
the sender pushes the replies to it within the limits it declares."""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app import DATABASE, SENDER, create_app
from bot.channels import registry
from bot.settings import Settings
from storage.models import Ticket
from tests.support import echo_channel
from tests.support.clock import running_clock
from tests.support.complaint import file_complaint
from tests.support.echo_channel import Drawn, EchoChannel

NUMBER = re.compile(r"SP-\d{4}-\d{5}")


class EchoPerson:
    """Someone on the echo platform: posts to its route, reads what the sender pushed."""

    def __init__(self, app: web.Application, client: TestClient[Any, Any], sender_id: str) -> None:
        self.client = client
        self.sender_id = sender_id
        channel = app[registry.INSTALLED][echo_channel.CHANNEL]
        assert isinstance(channel, EchoChannel)
        self.channel = channel
        self.sender = app[SENDER]

    @property
    def received(self) -> list[Drawn]:
        return [d for d in self.channel.delivered if d.chat_id == self.sender_id]

    @property
    def last(self) -> Drawn:
        return self.received[-1]

    async def _post(self, body: dict[str, Any]) -> list[Drawn]:
        before = len(self.received)
        response = await self.client.post(
            echo_channel.INBOUND_PATH, json={"from": self.sender_id, "id": uuid.uuid4().hex, **body}
        )
        assert response.status == 200
        await self.sender.idle()  # every reply pushed through the sender's channel map
        return self.received[before:]

    async def type(self, text: str) -> list[Drawn]:
        return await self._post({"text": text})

    async def press(self, title: str) -> list[Drawn]:
        buttons = dict(self.last.buttons)
        assert title in buttons, f"no button {title!r} in {self.last}"
        return await self._post({"button": buttons[title]})

    async def location(self, latitude: float, longitude: float) -> list[Drawn]:
        return await self._post({"latitude": latitude, "longitude": longitude})

    async def photo(self, data: bytes) -> list[Drawn]:
        raise NotImplementedError("the echo channel takes no photos")

    def asked_for_location(self, replies: list[Drawn]) -> bool:
        return bool(replies) and replies[-1].asks_location


async def test_a_complaint_filed_on_a_channel_added_by_its_own_module_gets_a_ticket_number(settings: Settings) -> None:
    from_env = registry.load_settings({"ECHO_ENABLED": "yes"}, channels=(*registry.CHANNELS, echo_channel.SPEC))
    assert from_env.extra == {"echo_enabled": True}  # a new channel's setting needs no field in Settings
    app = create_app(
        replace(settings, extra=from_env.extra), clock=running_clock(), extra_channels=(echo_channel.SPEC,)
    )
    assert (
        app[SENDER].limiters[echo_channel.CHANNEL].limits.per_chat is not None
    )  # its declared limits reach the sender
    async with TestServer(app) as server:
        client: TestClient[Any, Any] = TestClient(server)
        async with client:  # closing the client stops the app, and its database with it: check before
            confirmation = await file_complaint(EchoPerson(app, client, "echo-6281"))
            number = NUMBER.search(confirmation)
            assert number is not None, confirmation
            [(ticket,)] = await app[DATABASE].run(lambda s: s.execute(select(Ticket)).all())
            assert (ticket.number, ticket.channel) == (number.group(0), "echo")


async def test_a_channel_left_off_installs_nothing(settings: Settings) -> None:
    app = create_app(settings, extra_channels=(echo_channel.SPEC,))
    assert echo_channel.CHANNEL not in app[registry.INSTALLED]
    assert all(r.canonical != echo_channel.INBOUND_PATH for r in app.router.resources())
    app[DATABASE].close()
