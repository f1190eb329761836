"""A person on WhatsApp: the fake Graph API plays them and posts signed webhooks, the real app
answers through the Cloud API. A turn is over when the app has committed the message and
delivered everything queued for this number, which the test reads from the database (a row is
marked sent only after the fake accepted it), not by sleeping."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import select

from storage.db import Database
from storage.models import InboundMessage, OutboxMessage
from tests.fakes.graph_api import FakeGraphAPI, SentMessage


class WhatsAppPerson:
    def __init__(self, fake: FakeGraphAPI, db: Database, wa_id: str, name: str = "Siti") -> None:
        self.fake, self.db, self.wa_id, self.name = fake, db, wa_id, name
        self.seen = 0

    @property
    def messages(self) -> list[SentMessage]:
        return self.fake.sent(self.wa_id)

    @property
    def last(self) -> SentMessage:
        return self.messages[-1]

    def new(self) -> list[SentMessage]:
        fresh = self.messages[self.seen :]
        self.seen = len(self.messages)
        return fresh

    def choices(self, message: SentMessage | None = None) -> dict[str, str]:
        """title → id of the buttons, list rows or quick replies on `message` (default: the
        last message that has any)."""
        if message is None:
            message = next((m for m in reversed(self.messages) if m.buttons), self.last)
        return {title: choice_id for choice_id, title in message.buttons}

    def asked_for_location(self, replies: list[SentMessage]) -> bool:
        """WhatsApp's "send location" request, with the other choices after it."""
        return any(
            m.type == "interactive" and m.payload["interactive"]["type"] == "location_request_message" for m in replies
        )

    async def settle(self, envelope: dict[str, Any] | None, timeout: float = 10.0) -> list[SentMessage]:
        """Wait until the app committed this delivery's message (if any) and sent everything
        queued for this number; returns what arrived since the last look."""
        message_id = envelope["entry"][0]["changes"][0]["value"]["messages"][0]["id"] if envelope else None

        def done(session: Any) -> bool:
            if (
                message_id is not None
                and session.execute(select(InboundMessage.id).where(InboundMessage.message_id == message_id)).first()
                is None
            ):
                return False
            return (
                session.execute(
                    select(OutboxMessage.id).where(
                        OutboxMessage.channel == "whatsapp",
                        OutboxMessage.chat_id == self.wa_id,
                        OutboxMessage.status.in_(("pending", "sending")),
                    )
                ).first()
                is None
            )

        deadline = time.monotonic() + timeout
        while not await asyncio.to_thread(self.db.run_sync, done):
            if time.monotonic() > deadline:
                raise AssertionError(f"{message_id} not settled; chat so far: {[m.text for m in self.messages]}")
            await asyncio.sleep(0.02)
        return self.new()

    async def catch_up(self) -> list[SentMessage]:
        return await self.settle(None)

    async def type(self, text: str) -> list[SentMessage]:
        return await self.settle(await self.fake.send_text(self.wa_id, text, name=self.name))

    async def press(self, title: str, message: SentMessage | None = None) -> list[SentMessage]:
        """Tap a reply button, list row or template quick reply by its title."""
        message = message or next(m for m in reversed(self.messages) if m.buttons)
        choice_id = self.choices(message).get(title)
        assert choice_id is not None, f"no choice {title!r} on {message.text!r}: {self.choices(message)}"
        if message.type == "template":
            envelope = self.fake.template_button(self.wa_id, choice_id, title, context_id=message.id)
        elif message.payload["interactive"]["type"] == "list":
            envelope = self.fake.list_reply(self.wa_id, choice_id, title, context_id=message.id)
        else:
            envelope = self.fake.button_reply(self.wa_id, choice_id, title, context_id=message.id)
        status = await self.fake.deliver(envelope)
        assert status == 200, status
        return await self.settle(envelope)

    async def photo(self, data: bytes) -> list[SentMessage]:
        return await self.settle(await self.fake.send_image(self.wa_id, data))

    async def location(self, latitude: float, longitude: float) -> list[SentMessage]:
        return await self.settle(await self.fake.send_location(self.wa_id, latitude, longitude))

    async def deliver(self, envelope: dict[str, Any]) -> list[SentMessage]:
        status = await self.fake.deliver(envelope)
        assert status == 200, status
        return await self.settle(envelope)
