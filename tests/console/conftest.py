"""Console tests share one office per test: the real app, its database, a movable clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.settings import Settings
from tests.support.clock import MovableClock
from tests.support.console import ConsoleOffice, console_office


@pytest.fixture
async def office(settings: Settings) -> AsyncIterator[ConsoleOffice]:
    async with console_office(settings, MovableClock()) as office:
        yield office
