"""The live web chat in Debian's Chromium: what an officer asks appears on the open page without
a reload, and the page picks the stream up again after the server restarts."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

from bot.app import create_app
from bot.settings import Settings
from tests.bot.test_telegram import free_port
from tests.bot.test_webchat_browser import browser, to_summary
from tests.bot.test_webchat_live import officer_asks
from tests.support.browser import Chat, open_chat, phone_context, shot_name
from tests.support.clock import running_clock

NUMBER = re.compile(r"SP-\d{4}-\d{5}")

# One Chromium for the file (test_webchat_browser's fixture): the tests run in the module's loop.
pytestmark = pytest.mark.asyncio(loop_scope="module")
__all__ = ["browser"]


@asynccontextmanager
async def serving(settings: Settings, port: int) -> AsyncIterator[web.Application]:
    """The real app on a fixed port, so that a second one can take the first one's place."""
    app = create_app(settings, clock=running_clock())
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=10)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        yield app
    finally:
        await runner.cleanup()


async def file_on_page(chat: Chat) -> str:
    await to_summary(chat)
    confirmation = await chat.press("Kirim", expect="Apa yang ingin Anda lakukan?")
    found = NUMBER.search(" ".join(confirmation))
    assert found, confirmation
    return found.group(0)


async def without_reload(chat: Chat) -> None:
    """Fails the test if the page was reloaded (the marker set on it would be gone)."""
    assert await chat.page.evaluate("() => window.__stillTheSamePage === true")


async def test_an_officers_question_appears_on_the_open_page(browser: Any, settings: Settings, request: Any) -> None:
    context = await phone_context(browser)
    port = free_port()
    async with serving(settings, port) as app:
        chat = await open_chat(context, f"http://127.0.0.1:{port}/", shot_name(request))
        number = await file_on_page(chat)
        await chat.page.evaluate("() => { window.__stillTheSamePage = true; }")
        await officer_asks(app, number, "Di RT berapa rumah Mbah Sarinah?")
        await chat.expect(chat.last_bot).to_contain_text("Di RT berapa rumah Mbah Sarinah?")
        await without_reload(chat)
        texts = await chat.bot.all_inner_texts()
        assert sum("Di RT berapa rumah Mbah Sarinah?" in text for text in texts) == 1  # shown once
        await chat.screenshot("question-arrived")
        # The citizen answers right there, and the answer reaches the ticket's conversation.
        await chat.type("RT 03", expect=number)
    assert chat.errors == []
    await context.close()


async def test_the_page_reconnects_after_the_server_restarts(browser: Any, settings: Settings, request: Any) -> None:
    context = await phone_context(browser)
    port = free_port()
    async with serving(settings, port):
        chat = await open_chat(context, f"http://127.0.0.1:{port}/", shot_name(request))
        number = await file_on_page(chat)
        await chat.page.evaluate("() => { window.__stillTheSamePage = true; }")
    async with serving(settings, port) as second:  # the same office, restarted
        await officer_asks(second, number, "Apakah nenek masih di rumah?")
        await chat.expect(chat.last_bot).to_contain_text("Apakah nenek masih di rumah?")
        await without_reload(chat)
        texts = await chat.bot.all_inner_texts()
        assert sum("Apakah nenek masih di rumah?" in text for text in texts) == 1
    assert chat.errors == []
    await context.close()
