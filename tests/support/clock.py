"""A clock that starts on a chosen date and runs at real speed: dates in replies are fixed,
while retries and leases still see time pass."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

MONDAY_MORNING = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # Monday 10:00 WIB


def running_clock(start: datetime = MONDAY_MORNING) -> Callable[[], datetime]:
    origin = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - origin)


class MovableClock:
    """A running clock that a test can move forward, e.g. past a reopen window."""

    def __init__(self, start: datetime = MONDAY_MORNING) -> None:
        self.offset = timedelta()
        self._running = running_clock(start)

    def __call__(self) -> datetime:
        return self._running() + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)
