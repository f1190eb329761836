"""How fast the sender may send on a channel: token buckets per chat and for the whole channel.

Telegram's FAQ: "avoid sending more than one message per second" in one chat ("we may allow
short bursts that go over this limit"), and no more than "30 messages per second or so" to
all users. So a chat gets a small burst (a reply of two or three messages is not slowed) and
then one a second; all chats of a channel share the overall rate. Each channel declares its
own limits (`ChannelSpec.limits`, from its settings); a channel without limits (the web chat
only stores rows for the browser to read) is not limited at all.

Limits are kept in memory, per process: two processes sending for one bot share nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimit:
    """`burst` messages at once, refilled at `per_second`."""

    per_second: float
    burst: int = 1


@dataclass(frozen=True)
class ChannelLimits:
    per_chat: RateLimit | None = None
    overall: RateLimit | None = None


# The overall burst is a little slack, so a timer that fires late loses no sending time; it
# stays far below a second's worth, so the platform never sees much more than the rate.
OVERALL_BURST = 5


def channel_limits(per_chat: float, burst: int, overall: float) -> ChannelLimits:
    """A channel's limits as its settings give them: messages a second to one chat (`burst` at
    once) and to all chats; 0 turns either off."""
    return ChannelLimits(
        per_chat=RateLimit(per_chat, burst) if per_chat > 0 else None,
        overall=RateLimit(overall, OVERALL_BURST) if overall > 0 else None,
    )


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
    so a chat's bucket needs no lock. Chats take turns at the overall bucket in arrival order
    (an asyncio.Lock is fair): only the first in line sleeps on a timer."""

    def __init__(self, limits: ChannelLimits, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.monotonic = monotonic
        self.paused_until = 0.0
        self._chats: dict[str, TokenBucket] = {}
        self._overall = TokenBucket(limits.overall, monotonic()) if limits.overall else None
        self._line = asyncio.Lock()

    def paused(self) -> bool:
        return self.paused_until > self.monotonic()

    async def acquire(self, chat_id: str, deadline: float) -> float:
        """Wait until the chat may send one message, and count it against the channel.
        Returns 0.0 then; or, without waiting, the seconds still to wait when the wait would
        end after `deadline` (monotonic): the caller gives its messages back for later."""
        chat = None
        if self.limits.per_chat is not None:
            chat = self._chats.setdefault(chat_id, TokenBucket(self.limits.per_chat, self.monotonic()))
        if (wait := await self._until_free(chat, deadline)) or self._overall is None:
            return wait
        async with self._line:
            if wait := await self._until_free(self._overall, deadline):
                return wait
            self._overall.take(self.monotonic())
        return 0.0

    async def _until_free(self, bucket: TokenBucket | None, deadline: float) -> float:
        """Sleep until the bucket has a token and no pause holds; 0.0, or the seconds left
        when that is past the deadline."""
        while True:
            now = self.monotonic()
            wait = max(0.0, self.paused_until - now, bucket.wait(now) if bucket else 0.0)
            if wait == 0.0 or now + wait > deadline:
                return wait
            await asyncio.sleep(wait)

    def answered(self, chat_id: str) -> None:
        """A message went to the platform, whatever the answer. The chat's token is taken
        when the answer is back, not when the request left: the next message then leaves at
        least one interval after the platform counted this one, however long the trip was."""
        if self.limits.per_chat is not None:
            now = self.monotonic()
            self._chats.setdefault(chat_id, TokenBucket(self.limits.per_chat, now)).take(now)

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
