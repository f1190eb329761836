"""Delivers outbox rows through their channel, in order per chat, with retries.

Woken when a unit of work queued something, and on a short timer, so rows left by a crash or
waiting on a retry are picked up too. A row is marked sent only after the platform accepted
it; a crash between the two means it is sent again after its lease (at least once, never lost).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from bot.channels.base import PermanentFailure, RetryLater, Sending
from bot.runner import Clock, utc_now
from storage import outbox
from storage.db import Database
from workflows.messages import OutMessage

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
BACKOFF_MAX = 300.0


class Sender:
    def __init__(self, *, db: Database, channels: dict[str, Sending], clock: Clock = utc_now,
                 poll_seconds: float = 1.0, parallel_chats: int = 16) -> None:
        self.db = db
        self.channels = channels
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.parallel_chats = parallel_chats
        self._wake = asyncio.Event()
        self._busy: set[tuple[str, str]] = set()
        self._starved = False
        self._tasks: set[asyncio.Task[None]] = set()

    def wake(self, channel: str | None = None) -> None:
        if channel is None or channel in self.channels:
            self._wake.set()

    async def run(self) -> None:
        """Loop until cancelled."""
        while True:
            try:
                await self.drain_once()
            except Exception:
                log.exception("outbox pass failed; trying again")
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()

    async def drain_once(self) -> None:
        """Start a delivery task for every chat with due work that is not already running."""
        for name in self.channels:
            chats = await self.db.run(
                lambda s, n=name: outbox.chats_with_work(s, channel=n, now=self.clock(), limit=self.parallel_chats * 4)
            )
            for chat_id in chats:
                key = (name, chat_id)
                if key in self._busy:
                    continue
                if len(self._busy) >= self.parallel_chats:
                    self._starved = True
                    continue
                self._busy.add(key)
                task = asyncio.create_task(self._deliver_chat(name, chat_id))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Wait for the delivery tasks in flight (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _deliver_chat(self, channel_name: str, chat_id: str) -> None:
        channel = self.channels[channel_name]
        try:
            while True:
                message = await self.db.run(
                    lambda s: outbox.claim_next(s, channel=channel_name, chat_id=chat_id, now=self.clock(), lease=LEASE)
                )
                if message is None:
                    return
                if not await self._deliver_one(channel, message.id, chat_id, message.payload, message.attempts):
                    return
        finally:
            self._busy.discard((channel_name, chat_id))
            if self._starved:  # a chat was left waiting for a free slot: look again now
                self._starved = False
                self._wake.set()

    async def _deliver_one(self, channel: Sending, message_id: int, chat_id: str, payload: dict, attempts: int) -> bool:
        """Send one row; True when the chat may go on to its next message."""
        try:
            external_id = await channel.send(chat_id, OutMessage.from_json(payload))
        except PermanentFailure as failure:
            log.warning("outbox %s to %s:%s failed for good: %s", message_id, channel.name, chat_id, failure)
            await self.db.run(lambda s: outbox.mark_failed(s, message_id=message_id, error=str(failure)))
            return True
        except RetryLater as later:
            wait = later.seconds
            await self._retry(message_id, wait, later.reason)
            return False
        except Exception as error:  # network trouble, a bug in a channel: retry, never drop
            wait = min(BACKOFF_MAX, 2.0 ** min(attempts, 8))
            log.warning("outbox %s: %r; retrying in %.0fs", message_id, error, wait)
            await self._retry(message_id, wait, repr(error))
            return False
        await self.db.run(lambda s: outbox.mark_sent(s, message_id=message_id, external_id=external_id, now=self.clock()))
        return True

    async def _retry(self, message_id: int, seconds: float, reason: str) -> None:
        not_before = self.clock() + timedelta(seconds=seconds)
        await self.db.run(lambda s: outbox.mark_retry(s, message_id=message_id, not_before=not_before, error=reason))
