"""The bot's send slots where every process that sends for it sees them: PostgreSQL, or Redis
when `REDIS_URL` is set (`bot/ratelimit.py` says why slots). Then the platform's limit (30/s on
Telegram, 80/s on WhatsApp) holds for the bot as a whole, whatever the number of `serve`
processes, and is never divided by hand: a process that sends nothing claims nothing.

Redis, when there is one, because a claim there is one script on a store made for it; else the
database the processes already share: one short statement a claim and one an answer, about
60 a second at Telegram's full rate, and a claim every `IN_FLIGHT_RECHECK` from each process
whose next send waits while every slot is in flight (bench/sender_rate.py, three processes:
95.8% of 30/s on PostgreSQL, 92.4-97.9% on Redis, on a loaded machine). SQLite is one process: its
slots stay in memory.

If the shared store cannot be reached, a process falls back to slots in its own memory, for
its share of the limit: the rate over the number of processes that claimed lately, plus one
for a process that may start meanwhile (`UNKNOWN_PEERS` when it never reached the store). It
logs that, goes slower, never over the limit, and tries the store again every `RETRY_SECONDS`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import os
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from redis.asyncio import Redis

from bot.ratelimit import IN_FLIGHT, Claim, LocalSlots, Slots, Window
from storage import send_slots

log = logging.getLogger(__name__)

RECENT = 60.0  # a process that claimed a slot this long ago still counts as sending
RETRY_SECONDS = 5.0  # while fallen back, how often to try the shared store again
UNKNOWN_PEERS = 4  # processes assumed when the store was never reached: a process's share is then a quarter
TIMEOUT = 2.0  # seconds before a claim or an answer counts as failed

# KEYS: the channel's claims (a sorted set: ticket -> when its slot frees, in ms), its ticket
# counter, and the processes' last claims (a hash). ARGV: count, hold ms, holder, recent ms,
# window ms. With every slot taken, the one whose window ends first within a window is taken
# over, from then (the claimer waits that out). Returns the ticket (0: none), the wait (until
# that slot's window ends, or until the first slot in flight frees), peers, and Redis's time.
_CLAIM = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local count, hold, recent = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local ticket, wait, start = 0, 0, now
if redis.call('ZCARD', KEYS[1]) >= count then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  wait = tonumber(first[2]) - now
  if wait <= tonumber(ARGV[5]) then
    redis.call('ZREM', KEYS[1], first[1])
    start = now + wait
  end
end
if redis.call('ZCARD', KEYS[1]) < count then
  ticket = redis.call('INCR', KEYS[2])
  redis.call('ZADD', KEYS[1], start + hold, ticket)
  redis.call('PEXPIRE', KEYS[1], hold + recent + tonumber(ARGV[5]))
  redis.call('HSET', KEYS[3], ARGV[3], now)
  redis.call('PEXPIRE', KEYS[3], recent)
end
local peers = 0
local seen = redis.call('HGETALL', KEYS[3])
for i = 1, #seen, 2 do
  if tonumber(seen[i + 1]) > now - recent then peers = peers + 1 else redis.call('HDEL', KEYS[3], seen[i]) end
end
return {ticket, wait, peers, now}
"""

# KEYS: the channel's claims. ARGV: ticket, when its slot frees (ms). Only a claim still held is moved.
_ANSWERED = """
redis.call('ZADD', KEYS[1], 'XX', tonumber(ARGV[2]), ARGV[1])
return 0
"""


class SharedStore(Protocol):
    """A shared store's slots for one channel; `peers`: processes that claimed lately (None
    until the store answered once)."""

    peers: int | None

    async def claim(self) -> Claim | float: ...

    async def answered(self, claim: Claim) -> None: ...


class SlotStore(Protocol):
    """Where the processes share their slots: each channel's, and a close at shutdown."""

    def slots(self, channel: str, window: Window) -> Slots: ...

    async def close(self) -> None: ...


def answer_time(claim: Claim) -> float:
    """When the send was answered, on the store's clock: the claim's time there plus the time
    elapsed here since it was asked for (which began before the store's time was read)."""
    return claim.store_time + (time.monotonic() - claim.asked)


def holder_name() -> str:
    """This process, as the other processes see it among the peers."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"[:64]


class DatabaseSlots:
    """A channel's slots in PostgreSQL (`storage/send_slots.py`), on a small engine and two
    threads of their own (a claim need not wait behind an answer)."""

    def __init__(self, store: PostgresStore, channel: str, window: Window) -> None:
        self.store, self.channel, self.window = store, channel, window
        self.peers: int | None = None
        self._ready = False

    async def claim(self) -> Claim | float:
        if not self._ready:
            await self.store.call(send_slots.ensure, channel=self.channel, count=self.window.count)
            self._ready = True
        asked = time.monotonic()
        claimed = await self.store.call(
            send_slots.claim,
            channel=self.channel,
            count=self.window.count,
            ahead=self.window.seconds,
            hold=IN_FLIGHT,
            holder=self.store.holder,
            recent=RECENT,
        )
        self.peers = claimed.peers if claimed.slot is None else max(1, claimed.peers)
        if claimed.slot is None:  # the wait counts from the statement's start
            return claimed.wait - (time.monotonic() - asked)
        return Claim(claimed.slot, claimed.ticket, shared=True, asked=asked, store_time=claimed.at, delay=claimed.delay)

    async def answered(self, claim: Claim) -> None:
        free_at = answer_time(claim) + self.window.seconds
        await self.store.call(
            send_slots.answered, channel=self.channel, slot=claim.slot, ticket=claim.ticket, free_at=free_at
        )


class RedisSlots:
    """A channel's slots in Redis: a sorted set of the claims in flight or in their window,
    scored by when they free, on Redis's clock (`TIME` in the scripts)."""

    def __init__(self, store: RedisStore, channel: str, window: Window) -> None:
        self.store, self.window = store, window
        # The deployment (its database) and the channel, as one hash slot should Redis be a cluster.
        prefix = f"satupintu:send:{{{store.deployment}:{channel}}}"
        self.keys = [f"{prefix}:claims", f"{prefix}:tickets", f"{prefix}:holders"]
        self.peers: int | None = None

    async def claim(self) -> Claim | float:
        window = int(self.window.seconds * 1000)
        arguments = [self.window.count, int(IN_FLIGHT * 1000), self.store.holder, int(RECENT * 1000), window]
        asked = time.monotonic()
        ticket, wait, peers, now = await self.store.run(self.store.claim_script, self.keys, arguments)
        self.peers = int(peers)
        if not int(ticket):  # the wait counts from the script's start
            return int(wait) / 1000 - (time.monotonic() - asked)
        delay = max(0, int(wait)) / 1000
        return Claim(0, int(ticket), shared=True, asked=asked, store_time=int(now) / 1000, delay=delay)

    async def answered(self, claim: Claim) -> None:
        free_at = math.ceil((answer_time(claim) + self.window.seconds) * 1000)
        await self.store.run(self.store.answered_script, self.keys[:1], [claim.ticket, free_at])


class FallbackSlots:
    """Shared slots, with this process's share in memory while the store cannot be reached."""

    def __init__(self, shared: SharedStore, channel: str, window: Window) -> None:
        self.shared, self.channel, self.window = shared, channel, window
        self._local: LocalSlots | None = None
        self._retry_at = 0.0

    async def claim(self) -> Claim | float:
        loop = asyncio.get_running_loop()
        if self._local is None or loop.time() >= self._retry_at:
            try:
                claimed = await self.shared.claim()
            except Exception as error:
                self._fall_back(error, loop.time())
            else:
                if self._local is not None:
                    log.warning("send limit for %s: the shared store answers again", self.channel)
                    self._local = None
                return claimed
        assert self._local is not None
        return await self._local.claim()

    def _fall_back(self, error: Exception, now: float) -> None:
        self._retry_at = now + RETRY_SECONDS
        if self._local is not None:
            return
        peers = UNKNOWN_PEERS if self.shared.peers is None else self.shared.peers + 1
        share = Window.of_rate(self.window.per_second / max(1, peers))
        log.warning(
            "send limit for %s: the shared store failed (%r); sending at this process's share, "
            "%d in %.2fs, and trying again every %.0fs",
            self.channel,
            error,
            share.count,
            share.seconds,
            RETRY_SECONDS,
        )
        self._local = LocalSlots(share)

    async def answered(self, claim: Claim) -> None:
        if not claim.shared:
            if self._local is not None:
                await self._local.answered(claim)
            return
        try:
            await self.shared.answered(claim)
        except Exception as error:  # the slot frees by itself after IN_FLIGHT: slower, never over
            log.warning("send limit for %s: an answer could not be recorded (%r)", self.channel, error)


class PostgresStore:
    """Slots in the PostgreSQL database the processes share."""

    def __init__(self, url: str) -> None:
        self.engine = send_slots.slot_engine(url)
        self.holder = holder_name()
        self._threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="send-slots")

    async def call(self, fn: Any, **arguments: Any) -> Any:
        def run() -> Any:
            with self.engine.connect() as connection:
                return fn(connection, **arguments)

        loop = asyncio.get_running_loop()
        return await asyncio.wait_for(loop.run_in_executor(self._threads, run), TIMEOUT)

    def slots(self, channel: str, window: Window) -> Slots:
        return FallbackSlots(DatabaseSlots(self, channel, window), channel, window)

    async def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)
        self.engine.dispose()


class RedisStore:
    """Slots in Redis (`REDIS_URL`)."""

    def __init__(self, url: str, deployment: str) -> None:
        self.client = Redis.from_url(url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT)
        self.deployment = deployment
        self.holder = holder_name()
        self.claim_script = self.client.register_script(_CLAIM)
        self.answered_script = self.client.register_script(_ANSWERED)

    async def run(self, script: Any, keys: list[str], arguments: list[Any]) -> Any:
        return await asyncio.wait_for(script(keys=keys, args=arguments), TIMEOUT)

    def slots(self, channel: str, window: Window) -> Slots:
        return FallbackSlots(RedisSlots(self, channel, window), channel, window)

    async def close(self) -> None:
        await self.client.aclose()


def shared_store(database_url: str, redis_url: str | None) -> SlotStore | None:
    """Where this deployment's processes share their send slots: Redis when set, else the
    PostgreSQL database; None on SQLite (one process: the limiters keep their own)."""
    if redis_url:  # two deployments on one Redis share nothing: they have their own databases
        return RedisStore(redis_url, hashlib.sha256(database_url.encode()).hexdigest()[:12])
    if database_url.startswith("postgresql"):
        return PostgresStore(database_url)
    return None
