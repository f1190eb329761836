"""How fast the sender may send on a channel: a token bucket per chat, and a window of send
slots for the whole channel, shared by every process that sends for the same bot.

Telegram's FAQ: "avoid sending more than one message per second" in one chat ("we may allow
short bursts that go over this limit"), and no more than "30 messages per second or so" to
all users. So a chat gets a small burst (a reply of two or three messages is not slowed) and
then one a second; all chats of a channel share the overall limit. Each channel declares its
own limits (`ChannelSpec.limits`, from its settings); a channel without limits (the web chat
only stores rows for the browser to read) is not limited at all.

Why slots, and not a bucket, for the overall limit: the platform counts the messages that reach
it in any one second. A token bucket holding a burst on top of its rate lets rate + burst
through in one second (36-39 against Telegram's 30 in a burst of 200 citizens). A window of
`count` slots cannot: a send takes a slot, and the slot stays taken while the request is in
flight and for one window (`seconds`) after its answer came back. The answer comes after the
platform counted the message, so two sends through one slot reach the platform at least a
window apart, and of any `count + 1` sends two share a slot: never more than `count` in any
window, however long or uneven the trips were. The cost is one trip per slot per window (a few
milliseconds in a second). A slot may be claimed as soon as its answer is back, for when its
window ends (`Claim.delay`): the sender waits that out on a timer, and the claim's own trip to
a shared store costs no sending time. A slot claimed by a process that died is free again
after `IN_FLIGHT` seconds.

The slots live where every process that sends for the bot can see them (`bot/shared_slots.py`:
PostgreSQL, or Redis when `REDIS_URL` is set), so the limit holds for the bot as a whole, whatever
the number of `serve` processes, and a process that sends nothing holds none of it. SQLite
deployments are one process, and keep them in memory here (`LocalSlots`), by the same rule.

A chat's bucket stays in the process: the outbox leases a chat's messages to one sender at a
time (nothing is leased while another sender holds a live lease on the chat's oldest message),
so only one process delivers to a chat at any moment. Two batches of one chat may still go out
through two processes one after the other (the second leased the moment the first was marked
sent); the second's bucket then starts full, and the chat may get two short bursts in a row,
which Telegram's "short bursts" allow.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

# The longest a send may take to reach the platform: a slot whose answer never came (its
# process died, or the request hung) counts as in flight this long. Longer than the channels'
# HTTP timeouts (python-telegram-bot's are 5 s each for connecting, writing and reading).
IN_FLIGHT = 30.0
# While every slot is in flight, claim again this often. A slot may be claimed up to a window
# ahead of its send, as soon as its answer is back, so a claimer that looks a little late loses
# no sending time; looking often would only load the shared store.
IN_FLIGHT_RECHECK = 0.05


@dataclass(frozen=True)
class RateLimit:
    """`burst` messages at once, refilled at `per_second`."""

    per_second: float
    burst: int = 1


@dataclass(frozen=True)
class Window:
    """At most `count` messages in any `seconds`."""

    count: int
    seconds: float = 1.0

    @classmethod
    def of_rate(cls, per_second: float) -> Window:
        """30/s is 30 in any second; under one a second, one per 1/rate seconds (SMS: 0.2/s
        is one in any five seconds); 2.5/s is two in any 0.8 s, never more than the rate."""
        count = max(1, math.floor(per_second))
        return cls(count, count / per_second)

    @property
    def per_second(self) -> float:
        return self.count / self.seconds


@dataclass(frozen=True)
class ChannelLimits:
    per_chat: RateLimit | None = None
    overall: Window | None = None


def channel_limits(per_chat: float, burst: int, overall: float) -> ChannelLimits:
    """A channel's limits as its settings give them: messages a second to one chat (`burst` at
    once) and to all chats; 0 turns either off."""
    return ChannelLimits(
        per_chat=RateLimit(per_chat, burst) if per_chat > 0 else None,
        overall=Window.of_rate(overall) if overall > 0 else None,
    )


@dataclass(frozen=True)
class Claim:
    """A slot taken for one send, perhaps a little ahead of its time (`delay`); `ticket` tells
    this claim from a later one of the same slot, and `shared` whether the slot is shared with other processes or this process's own. A
    shared store's claim also keeps when it was asked for on this process's clock (`asked`)
    and the store's (`store_time`): the answer's time on the store's clock is then
    `store_time` plus the time elapsed here, however late the answer's own write arrives."""

    slot: int
    ticket: int
    shared: bool = False
    asked: float = 0.0
    store_time: float = 0.0
    delay: float = 0.0  # seconds from the claim until the slot's window is over: send no sooner


class Slots(Protocol):
    """A channel's window of send slots (see the module). `claim` takes a free slot, or says
    how many seconds until one frees; `answered` starts the slot's window once the platform
    has answered the send it was claimed for."""

    async def claim(self) -> Claim | float: ...

    async def answered(self, claim: Claim) -> None: ...


class LocalSlots:
    """The window kept in this process: the time each slot frees, on a monotonic clock. A slot
    whose window is running may be claimed ahead, for when it ends (`Claim.delay`), so the
    next send waits on a timer rather than on claiming."""

    def __init__(self, window: Window, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self.monotonic = monotonic
        self._free_at = [0.0] * window.count
        self._tickets = [0] * window.count
        self._issued = itertools.count(1)

    async def claim(self) -> Claim | float:
        now = self.monotonic()
        slot = min(range(len(self._free_at)), key=self._free_at.__getitem__)
        if self._free_at[slot] > now + self.window.seconds:  # every slot in flight
            return self._free_at[slot] - now
        start = max(now, self._free_at[slot])
        self._free_at[slot] = start + IN_FLIGHT
        self._tickets[slot] = next(self._issued)
        return Claim(slot, self._tickets[slot], delay=start - now)

    async def answered(self, claim: Claim) -> None:
        if self._tickets[claim.slot] == claim.ticket:
            self._free_at[claim.slot] = self.monotonic() + self.window.seconds


class TokenBucket:
    """Holds up to `burst` tokens, refilled continuously; a send takes one. Times are
    seconds on a monotonic clock, passed in, so the bucket itself is plain arithmetic."""

    def __init__(self, limit: RateLimit, now: float) -> None:
        self.limit = limit
        self.tokens = float(limit.burst)
        self.stamp = now

    def _refill(self, now: float) -> None:
        self.tokens = min(float(self.limit.burst), self.tokens + (now - self.stamp) * self.limit.per_second)
        self.stamp = max(self.stamp, now)

    def wait(self, now: float) -> float:
        """Seconds until a token is there (0 when one is)."""
        self._refill(now)
        return max(0.0, (1.0 - self.tokens) / self.limit.per_second)

    def take(self, now: float) -> None:
        self._refill(now)
        self.tokens -= 1.0

    def full(self, now: float) -> bool:
        self._refill(now)
        return self.tokens >= self.limit.burst


class ChannelLimiter:
    """One channel's limits. A chat's task asks `acquire` before each message and then
    reports `answered` (after `refused` when told to wait). Only that task sends to its chat,
    so a chat's bucket needs no lock. Chats take turns at the channel's slots in arrival order
    (an asyncio.Lock is fair): only the first in line claims, and sleeps on a timer when none
    is free. `slots`: the shared window (`bot/shared_slots.py`); in this process by default."""

    def __init__(
        self, limits: ChannelLimits, slots: Slots | None = None, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.limits = limits
        self.monotonic = monotonic
        self.paused_until = 0.0
        self._chats: dict[str, TokenBucket] = {}
        self._slots = slots if slots is not None or limits.overall is None else LocalSlots(limits.overall, monotonic)
        self._claims: dict[str, Claim] = {}
        self._line = asyncio.Lock()

    def paused(self) -> bool:
        return self.paused_until > self.monotonic()

    async def acquire(self, chat_id: str, deadline: float) -> float:
        """Wait until the chat may send one message, and claim a slot of the channel for it.
        Returns 0.0 then; or, without waiting, the seconds still to wait when the wait would
        end after `deadline` (monotonic): the caller gives its messages back for later."""
        chat = None
        if self.limits.per_chat is not None:
            chat = self._chats.setdefault(chat_id, TokenBucket(self.limits.per_chat, self.monotonic()))
        if (wait := await self._until_free(chat, deadline)) or self._slots is None:
            return wait
        async with self._line:
            while True:
                if wait := await self._until_free(None, deadline):
                    return wait
                claimed = await self._slots.claim()
                if isinstance(claimed, Claim):
                    break
                in_flight = claimed > self._window_seconds()
                expected = self._window_seconds() if in_flight else claimed
                if self.monotonic() + expected > deadline:
                    return expected
                await asyncio.sleep(IN_FLIGHT_RECHECK if in_flight else claimed)
        # The next in line may claim meanwhile: waiting out a claimed slot's window is a timer.
        if claimed.delay > 0:
            if self.monotonic() + claimed.delay > deadline:
                await self._slots.answered(claimed)  # unused: counted as sent now, which is later
                return claimed.delay
            await asyncio.sleep(claimed.delay)
        self._claims[chat_id] = claimed
        return 0.0

    def _window_seconds(self) -> float:
        """A slot frees within a window of its answer. When every one is still in flight (a
        burst just went out), one is answered in a trip, and nothing says when: the limiter
        expects a window's wait and claims again every `IN_FLIGHT_RECHECK`, rather than
        believe the `IN_FLIGHT` the slots report."""
        return self.limits.overall.seconds if self.limits.overall else 0.0

    async def _until_free(self, bucket: TokenBucket | None, deadline: float) -> float:
        """Sleep until the bucket has a token and no pause holds; 0.0, or the seconds left
        when that is past the deadline."""
        while True:
            now = self.monotonic()
            wait = max(0.0, self.paused_until - now, bucket.wait(now) if bucket else 0.0)
            if wait == 0.0 or now + wait > deadline:
                return wait
            await asyncio.sleep(wait)

    async def answered(self, chat_id: str) -> None:
        """A message went to the platform, whatever the answer. The chat's token and the
        channel's slot count from now, when the answer is back, not from when the request left:
        the platform counted the message in between, however long the trip was."""
        if self.limits.per_chat is not None:
            now = self.monotonic()
            self._chats.setdefault(chat_id, TokenBucket(self.limits.per_chat, now)).take(now)
        claim = self._claims.pop(chat_id, None)
        if claim is not None and self._slots is not None:
            await self._slots.answered(claim)

    def refused(self, chat_id: str, seconds: float) -> None:
        """The platform said wait (a 429's retry_after, or it could not be reached). The chat
        waits in any case: its message is retried later. Telegram does not say which limit was
        hit; a chat that sent nothing lately cannot have hit its own, so then the whole channel
        pauses."""
        now = self.monotonic()
        bucket = self._chats.get(chat_id)
        if bucket is None or bucket.full(now):
            self.paused_until = max(self.paused_until, now + seconds)

    def forget_idle(self) -> None:
        """Drop the buckets of chats that are full again: they behave as new ones."""
        now = self.monotonic()
        for chat_id in [c for c, bucket in self._chats.items() if bucket.full(now)]:
            del self._chats[chat_id]
