"""Delivers outbox rows through their channel, in order per chat, with retries.

A unit of work that queues replies leases them to the sender in its own transaction (see
`reserve` and `lease_in`); a short timer picks up rows left by a crash or waiting on a retry.
Each message is recorded as handed over (committed) before its platform call, and as sent
before the next one is handed over, in one transaction: a crash leaves at most one message of
a chat of unknown fate, which storage/outbox.py sends again only while it still applies. A
record that cannot be written because the database is away is kept and written when it is
back, the chat held meanwhile: a message that went out is never sent again for want of it.

A channel may have rate limits (`bot/ratelimit.py`; each channel declares its own in its
`SPEC`, and a channel without any is not limited): a chat's task waits for its turn before each message, but
never so long that its lease could run out; then it gives the rest back for later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from bot.channels.base import HoldForReply, PermanentFailure, RetryLater, Sending, Sent, masked
from bot.clock import Clock, utc_now
from bot.ratelimit import ChannelLimiter, ChannelLimits, Slots, Window
from storage import outbox
from storage.db import Database
from storage.outage import database_away
from workflows.messages import OutMessage

log = logging.getLogger(__name__)

# A channel's shared window of send slots, by channel name and its overall limit.
SlotsFor = Callable[[str, Window], Slots]
LEASE = timedelta(seconds=60)  # how long a lease lasts: a crashed sender's rows wait this long
BACKOFF_MAX = 300.0
RECORD_RETRY_MAX = 5.0  # longest pause between tries of a record while the database is away
STOP_RECORD_SECONDS = 10.0  # how long a shutdown waits for the database to take the last records


def _slots(limits: Mapping[str, ChannelLimits]) -> int:
    needed = [
        2 * limit.overall.per_second / limit.per_chat.per_second
        for limit in limits.values()
        if limit.overall is not None and limit.per_chat is not None
    ]
    return max([16, *(int(n) + 1 for n in needed)])


class Sender:
    def __init__(
        self,
        *,
        db: Database,
        channels: dict[str, Sending],
        clock: Clock = utc_now,
        poll_seconds: float = 1.0,
        parallel_chats: int | None = None,
        limits: Mapping[str, ChannelLimits] | None = None,
        slots: SlotsFor | None = None,
        lease: timedelta = LEASE,
    ) -> None:
        """`limits` by channel name (`bot.channels.registry.send_limits`); none by default.
        `parallel_chats` (chats delivered at once) defaults to 16, or, with limits, twice a
        channel's overall rate over its per-chat rate (60 for Telegram), since a chat waiting for
        its own limit holds its slot. More slots than needed only add contention: 64 without
        limits tripled the p99 latency of bench/telegram_webhook.py on SQLite. `slots` gives a
        channel's window of send slots shared with the other processes (`bot/shared_slots.py`);
        without it each limiter keeps its own."""
        self.db = db
        self.channels = channels
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.parallel_chats = parallel_chats or _slots(limits or {})
        self.limiters = {
            name: ChannelLimiter(limit, slots(name, limit.overall) if slots and limit.overall else None)
            for name, limit in (limits or {}).items()
        }
        self.lease = lease
        self.hold = lease.total_seconds() / 2  # longest a chat's task waits for the limits on a leased batch
        self._stopping = False
        self._wake = asyncio.Event()
        self._busy: set[tuple[str, str]] = set()
        self._starved = False
        self._again: set[tuple[str, str]] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def _start(self, channel: str, chat_id: str, first: list[outbox.Leased] | None = None) -> None:
        if first is None and not self.reserve(channel, chat_id):
            return
        task = asyncio.create_task(self._deliver_chat(channel, chat_id, first))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ delivery right after a unit of work
    def reserve(self, channel: str, chat_id: str) -> bool:
        """Take a chat for delivery. False when this sender does not serve the channel, the
        chat is already being delivered (which then leases again), or all slots are busy."""
        key = (channel, chat_id)
        if channel not in self.channels:
            return False
        if key in self._busy:
            self._again.add(key)
            return False
        if len(self._busy) >= self.parallel_chats:
            self._starved = True  # the next chat to finish wakes the poll (waking it now would spin)
            return False
        self._busy.add(key)
        return True

    def lease_in(self, session: Any, channel: str, chat_id: str) -> list[outbox.Leased]:
        """Claim a reserved chat's messages inside the caller's transaction: the unit of work
        that queued the replies leases them too, which saves a transaction per message."""
        return outbox.lease_batch(session, channel=channel, chat_id=chat_id, now=self.clock(), lease=self.lease)

    def deliver_leased(self, channel: str, chat_id: str, batch: list[outbox.Leased]) -> None:
        """Deliver what `lease_in` leased (or give the reservation back when nothing was)."""
        if batch:
            self._start(channel, chat_id, batch)
        else:
            self.release(channel, chat_id)

    def release(self, channel: str, chat_id: str) -> None:
        """Give a chat back; if more was queued for it meanwhile, deliver that now."""
        key = (channel, chat_id)
        self._busy.discard(key)
        if key in self._again:
            self._again.discard(key)
            self._start(channel, chat_id)

    async def run(self) -> None:
        """Loop until cancelled. Once cancelled, tasks still delivering send only what the
        limits let go at once, and give the rest back: a shutdown does not wait on them."""
        self._stopping = False
        away = False  # said once per outage, not every pass
        try:
            while True:
                try:
                    await self.drain_once()
                except Exception as error:
                    if not database_away(error):
                        log.exception("outbox pass failed; trying again")
                    elif not away:
                        log.warning("outbox: the database is away (%s); looking again", type(error).__name__)
                    away = database_away(error)
                else:
                    away = False
                with contextlib.suppress(TimeoutError):  # the poll's interval is up: look again
                    await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
                self._wake.clear()
        finally:
            self._stopping = True

    async def drain_once(self) -> None:
        """Start a delivery task for every chat with due work that is not already running."""
        for name in self.channels:
            limiter = self.limiters.get(name)
            if limiter is not None:
                if limiter.paused():
                    continue  # the platform asked the whole channel to wait
                limiter.forget_idle()
            chats = await self.db.run(
                lambda s, n=name: outbox.chats_with_work(s, channel=n, now=self.clock(), limit=self.parallel_chats * 4)
            )
            for chat_id in chats:
                if (name, chat_id) not in self._busy:
                    self._start(name, chat_id)

    async def idle(self) -> None:
        """Wait for the delivery tasks in flight (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _deliver_chat(self, channel_name: str, chat_id: str, first: list[outbox.Leased] | None = None) -> None:
        """Deliver a chat's messages in order, leasing again only when more were queued
        while sending (the runner says so through `reserve`); the poll catches anything else."""
        channel = self.channels[channel_name]
        key = (channel_name, chat_id)
        try:
            while True:
                self._again.discard(key)
                batch = first if first is not None else await self.db.run(self.lease_in, channel_name, chat_id)
                first = None
                if not batch or not await self._deliver_batch(channel, chat_id, batch, self.limiters.get(channel_name)):
                    return
                if key not in self._again and len(batch) < outbox.BATCH:
                    return  # all of it went out and nothing new was queued meanwhile
        except Exception as error:  # the database away at the lease; the poll comes back to the chat
            log.warning("outbox: delivering to %s:%s stopped: %r", channel_name, masked(chat_id), error)
        finally:
            self.release(channel_name, chat_id)
            if self._starved:  # a chat was left waiting for a free slot: look again now
                self._starved = False
                self._wake.set()

    async def _deliver_batch(
        self, channel: Sending, chat_id: str, batch: list[outbox.Leased], limiter: ChannelLimiter | None
    ) -> bool:
        """Send a chat's leased messages in order. What became of each is recorded in the
        transaction that records the next as handed over (the lease did so for the first),
        before that one's call and before any wait for the limiter. False when one must wait
        (a retry), which holds back the rest of the chat."""
        sent: list[tuple[int, str | Sent | None]] = []
        failed: list[tuple[int, str, bool]] = []  # (message id, reason, whether it waits for the person instead)
        retry: tuple[int, float, str, int] | None = None  # (index in batch, seconds, reason, parts done)
        hold_until = time.monotonic() + self.hold
        for index, message in enumerate(batch):
            if index > 0:
                await self._record(sent, failed, hand=message.id)
                sent, failed = [], []
            if limiter is not None and (
                wait := await limiter.acquire(chat_id, time.monotonic() if self._stopping else hold_until)
            ):
                retry = (index, wait, f"rate limit: {wait:.1f}s to wait", 0)
                break
            try:
                sent.append(
                    (message.id, await channel.send(chat_id, OutMessage.from_json(message.payload), message.parts_sent))
                )
            except HoldForReply as hold:
                log.info(
                    "outbox %s to %s:%s waits for the person's next message: %s",
                    message.id,
                    channel.name,
                    masked(chat_id),
                    hold,
                )
                failed.append((message.id, str(hold), True))
            except PermanentFailure as failure:
                log.warning(
                    "outbox %s to %s:%s failed for good: %s", message.id, channel.name, masked(chat_id), failure
                )
                failed.append((message.id, str(failure), False))
            except RetryLater as later:
                if limiter is not None:
                    limiter.refused(chat_id, later.seconds)
                retry = (index, later.seconds, later.reason, later.parts_done)
            except Exception as error:  # network trouble, a bug in a channel: retry, never drop
                wait = min(BACKOFF_MAX, 2.0 ** min(message.attempts, 8))
                log.warning("outbox %s: %r; retrying in %.0fs", message.id, error, wait)
                retry = (index, wait, repr(error), 0)
            finally:
                if limiter is not None:
                    await limiter.answered(chat_id)
            if retry is not None:
                break
        put_back = None
        if retry is not None:
            index, seconds, reason, parts = retry
            put_back = (batch[index].id, seconds, reason, parts, [m.id for m in batch[index + 1 :]])
        await self._record(sent, failed, put_back)
        return retry is None

    async def _record(
        self,
        sent: list[tuple[int, str | Sent | None]],
        failed: list[tuple[int, str, bool]],
        retry: tuple[int, float, str, int, list[int]] | None = None,
        hand: int | None = None,
    ) -> None:
        """Mark what went out and what failed, put a retried message (and those after it)
        back, and record the next message as handed over, in one transaction."""
        now = self.clock()

        plain = [(m, s) for m, s in sent if not isinstance(s, Sent)]
        other = [(m, s) for m, s in sent if isinstance(s, Sent)]

        def record(session: Any) -> None:
            outbox.mark_all_sent(session, sent=plain, now=now)
            outbox.mark_sent_as(
                session, sent=[(m, s.external_id, s.sent_as or "") for m, s in other if not s.held], now=now
            )
            for message_id, announced in other:
                if announced.held:
                    outbox.mark_held(
                        session,
                        message_id=message_id,
                        reason=f"announced by {announced.sent_as}",
                        external_id=announced.external_id,
                        sent_as=announced.sent_as,
                    )
            for message_id, reason, hold in failed:
                if hold:
                    outbox.mark_held(session, message_id=message_id, reason=reason)
                else:
                    outbox.mark_failed(session, message_id=message_id, error=reason)
            if retry is not None:
                message_id, seconds, reason, parts, rest = retry
                outbox.mark_retry(
                    session,
                    message_id=message_id,
                    not_before=now + timedelta(seconds=seconds),
                    error=reason,
                    parts_sent=parts,
                )
                outbox.release(session, message_ids=rest)
            if hand is not None:
                outbox.mark_handed(session, message_id=hand, now=now)

        await self._write(record, [m for m, _ in sent])

    async def _write(self, record: Any, sent: list[int]) -> None:
        """Write a delivery's record, however long the database is away: were it lost, what
        went out would be sent again once its lease ran out. The chat stays taken meanwhile,
        so nothing in this process leases it again. (Another process sharing the database may,
        if the outage outlasts the lease; then only the check that a reply still applies
        stands between the person and a double.) A shutdown waits for it only so long."""
        pause = 0.1
        given_up_at: float | None = None
        while True:
            try:
                await self.db.run(record)
                if pause > 0.1:
                    log.info("outbox: the database is back; delivery records written")
                return
            except Exception as error:
                if not database_away(error):
                    raise
                if self._stopping:
                    given_up_at = given_up_at or time.monotonic() + STOP_RECORD_SECONDS
                    if time.monotonic() > given_up_at:
                        log.error("outbox: stopping with the database away; %s may be sent again", sent or "nothing")
                        raise
                if pause == 0.1:
                    log.warning("outbox: the database is away (%s); keeping the delivery records", type(error).__name__)
                await asyncio.sleep(pause)
                pause = min(pause * 2, RECORD_RETRY_MAX)
