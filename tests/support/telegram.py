"""A citizen on Telegram: the fake Bot API plays the user, the real app (python-telegram-bot
inside) answers. A turn is over when the app has processed the update and sent every reply,
which the test reads from the database rather than guessing with sleeps."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import select

from storage.db import Database
from storage.models import InboundMessage, OutboxMessage
from tests.fakes.telegram_api import FakeTelegramAPI


class TelegramCitizen:
    def __init__(self, fake: FakeTelegramAPI, db: Database, user_id: int, language_code: str = "id") -> None:
        self.fake = fake
        self.db = db
        self.user_id = user_id
        self.language_code = language_code
        self.seen = 0

    # ------------------------------------------------------------------ reading the chat
    @property
    def messages(self) -> list[Any]:
        return self.fake.sent(self.user_id)

    @property
    def last(self) -> Any:
        return self.messages[-1]

    def new(self) -> list[Any]:
        """Messages that arrived since the last call."""
        fresh = self.messages[self.seen :]
        self.seen = len(self.messages)
        return fresh

    def buttons(self, message: Any | None = None) -> dict[str, str]:
        """title → callback data of the inline keyboard on `message` (default: the last)."""
        markup = (message or self.last).reply_markup or {}
        return {b["text"]: b.get("callback_data", "") for row in markup.get("inline_keyboard", []) for b in row}

    def asked_for_location(self, replies: list[Any]) -> bool:
        """A reply keyboard whose first button shares the location."""
        return bool(replies) and [b.get("request_location") for b in self.keyboard(replies[-1])][:1] == [True]

    def keyboard(self, message: Any | None = None) -> list[dict[str, Any]]:
        markup = (message or self.last).reply_markup or {}
        return [b for row in markup.get("keyboard", []) for b in row]

    # ------------------------------------------------------------------ acting
    async def settle(self, update: dict[str, Any] | None, timeout: float = 10.0) -> list[Any]:
        """Wait until the app committed this update (if any) and delivered every message
        queued for this chat; returns what arrived since the last look."""
        message_id = f"u{update['update_id']}" if update else None
        chat = str(self.user_id)

        def done(session: Any) -> bool:
            if message_id is not None:
                seen = session.execute(select(InboundMessage.id).where(InboundMessage.message_id == message_id)).first()
                if seen is None:
                    return False
            waiting = session.execute(
                select(OutboxMessage.id).where(
                    OutboxMessage.chat_id == chat, OutboxMessage.status.in_(("pending", "sending"))
                )
            ).first()
            return waiting is None

        deadline = time.monotonic() + timeout
        while not await asyncio.to_thread(self.db.run_sync, done):
            if time.monotonic() > deadline:
                raise AssertionError(f"update {message_id} not settled; chat so far: {[m.text for m in self.messages]}")
            await asyncio.sleep(0.02)
        expected = await asyncio.to_thread(
            self.db.run_sync,
            lambda s: len(
                s.execute(
                    select(OutboxMessage.id).where(OutboxMessage.chat_id == chat, OutboxMessage.status == "sent")
                ).all()
            ),
        )
        await self.fake.wait_for_sent(self.user_id, expected, timeout=timeout)
        return self.new()

    async def catch_up(self) -> list[Any]:
        """What others caused to be sent here (a ticket card, an officer's question)."""
        return await self.settle(None)

    async def type(self, text: str) -> list[Any]:
        return await self.settle(await self.fake.send_text(self.user_id, text))

    async def press(self, title: str, message: Any | None = None) -> list[Any]:
        """Press a button on `message` (default: the last one)."""
        message = message or self.last
        data = self.buttons(message).get(title)
        assert data is not None, f"no button {title!r} on {message.text!r}: {self.buttons(message)}"
        return await self.settle(await self.fake.press_button(self.user_id, message.message_id, data))

    async def press_data(self, message: Any, data: str) -> list[Any]:
        """Send callback data no button carries (a forged or outdated press)."""
        return await self.settle(await self.fake.press_button(self.user_id, message.message_id, data, check=False))

    async def photo(self, data: bytes) -> list[Any]:
        return await self.settle(await self.fake.send_photo(self.user_id, data))

    async def location(self, latitude: float, longitude: float) -> list[Any]:
        return await self.settle(await self.fake.send_location(self.user_id, latitude, longitude))

    async def sticker(self) -> list[Any]:
        return await self.settle(await self.fake.send_sticker(self.user_id))
