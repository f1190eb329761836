"""Fixtures of the end-to-end tests: the office (the real app against the fake Bot API)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from bot.app import DATABASE, create_app
from bot.settings import Settings
from tests.bot.test_telegram import TOKEN, free_port, telegram_settings
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.support.clock import MovableClock
from tests.support.office import Office


@pytest.fixture
async def office(settings: Settings) -> AsyncIterator[Office]:
    fake = FakeTelegramAPI(TOKEN)
    await fake.start()
    clock = MovableClock()
    app = create_app(telegram_settings(settings, fake), clock=clock)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", free_port()).start()
    yield Office(fake, app[DATABASE], clock)
    await runner.cleanup()
    await fake.close()
