"""Long polling that confirms an update to Telegram only once its unit of work committed.

Telegram forgets every update below the `offset` of the next getUpdates call. PTB's Updater
moves the offset past whatever it fetched, before the bot has handled it: a `kill -9` lost the
updates in hand, and so did a database outage (their units failed, and nothing tried them
again). Here the offset moves only past updates that are done; one that failed because the
database was away is tried again, at the head of its chat's queue (a chat's updates stay in
order), until it commits. While an update is unconfirmed Telegram hands it over again with
every poll: the ones in hand are recognised by id and not started twice, and after a crash
the inbound de-duplication (`first_delivery`) makes a second delivery harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

from telegram import Bot, Update
from telegram.error import TelegramError

from storage.outage import database_away

log = logging.getLogger(__name__)

RETRY_MAX = 5.0  # longest pause between tries of an update while the database is away
BUG_TRIES = 5  # an update failing for another reason is tried this often (about 6 s), then given up, logged
POLL_BACKOFF_MAX = 30.0  # longest pause between failed getUpdates calls
STOP_SECONDS = 5.0  # how long a shutdown lets the updates in hand finish
# Telegram answers a poll at once while an update is unconfirmed: when a poll brought nothing
# new, the next waits until one in hand is done (usually milliseconds), or at most this long.
IN_HAND_WAIT = 0.5

Handle = Callable[[Update], Awaitable[None]]


class Poller:
    """Fetches updates, hands each chat's to `handle` one after another, and confirms them."""

    def __init__(self, bot: Bot, handle: Handle, *, timeout: timedelta, allowed_updates: Sequence[str]) -> None:
        self.bot = bot
        self.handle = handle
        self.timeout = timeout
        self.allowed_updates = list(allowed_updates)
        self._queues: dict[str, deque[Update]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._in_hand: set[int] = set()  # fetched, not yet done
        self._done: set[int] = set()  # done, perhaps not yet confirmed: Telegram may send them again
        self._next = 0  # one past the highest update id of the last poll
        self._progress = asyncio.Event()  # set when an update in hand is done
        self._task: asyncio.Task[None] | None = None

    @property
    def offset(self) -> int:
        """Where Telegram may forget up to: the oldest update still in hand, else one past the
        last poll's (ids are not always rising: after a week without updates Telegram picks
        the next at random)."""
        return min(self._in_hand) if self._in_hand else self._next

    async def start(self) -> None:
        await self._retrying("deleteWebhook", self.bot.delete_webhook)  # polling and a webhook exclude each other
        self._task = asyncio.create_task(self._poll())

    async def stop(self) -> None:
        """Stop fetching, let the updates in hand finish for a moment, and confirm what is done."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        workers = list(self._workers.values())
        if workers:
            _, late = await asyncio.wait(workers, timeout=STOP_SECONDS)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._next or self._in_hand:
            try:  # confirm without waiting for news (Telegram keeps anything not confirmed)
                await self.bot.get_updates(offset=self.offset, limit=1, timeout=0)
            except TelegramError as error:
                log.info("telegram: confirming the last updates failed (%s); they come again", error)

    async def _retrying(self, what: str, call: Callable[[], Awaitable[object]]) -> None:
        pause = 1.0
        while True:
            try:
                await call()
                return
            except TelegramError as error:
                log.warning("telegram: %s failed (%s); trying again in %.0fs", what, error, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, POLL_BACKOFF_MAX)

    async def _poll(self) -> None:
        pause = 1.0
        while True:
            offset = self.offset
            try:
                updates = await self.bot.get_updates(
                    offset=offset or None, timeout=self.timeout, allowed_updates=self.allowed_updates
                )
            except TelegramError as error:
                log.warning("telegram polling: %s; trying again in %.0fs", error, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, POLL_BACKOFF_MAX)
                continue
            pause = 1.0
            self._done = {done for done in self._done if done >= offset}  # the rest are confirmed now
            fresh = [u for u in updates if u.update_id not in self._in_hand and u.update_id not in self._done]
            for update in fresh:
                self._take(update)
            if updates:
                self._next = max(u.update_id for u in updates) + 1
            if updates and not fresh:
                self._progress.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._progress.wait(), IN_HAND_WAIT)

    def _take(self, update: Update) -> None:
        chat = update.effective_chat
        key = str(chat.id) if chat is not None else f"u{update.update_id}"
        self._in_hand.add(update.update_id)
        self._queues.setdefault(key, deque()).append(update)
        if key not in self._workers:
            self._workers[key] = asyncio.create_task(self._work(key))

    async def _work(self, key: str) -> None:
        """Handle a chat's updates in order; the queue and worker go when it is empty."""
        queue = self._queues[key]
        try:
            while queue:
                update = queue[0]
                await self._until_done(update)
                queue.popleft()
                self._in_hand.discard(update.update_id)
                self._done.add(update.update_id)
                self._progress.set()
        finally:
            del self._workers[key]
            if not queue:
                del self._queues[key]

    async def _until_done(self, update: Update) -> None:
        """Handle one update: while the database is away, again and again (it must not be lost);
        after any other failure a few times, then it is given up, logged."""
        pause = 0.2
        failures = 0
        while True:
            try:
                await self.handle(update)
                if pause > 0.2:
                    log.info("telegram: update %s handled now the database is back", update.update_id)
                return
            except Exception as error:
                if database_away(error):
                    if pause == 0.2:
                        log.warning("telegram: the database is away (%s); keeping the updates", type(error).__name__)
                else:
                    failures += 1
                    if failures >= BUG_TRIES:
                        log.exception("telegram: update %s failed %s times; given up", update.update_id, failures)
                        return
                await asyncio.sleep(pause)
                pause = min(pause * 2, RETRY_MAX)
