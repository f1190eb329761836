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


async def filed_on_page(context: Any, port: int, request: Any) -> tuple[Chat, str]:
    """A complaint filed by tapping and typing; the page is then marked, to catch a reload."""
    chat = await open_chat(context, f"http://127.0.0.1:{port}/", shot_name(request))
    await to_summary(chat)
    confirmation = await chat.press("Kirim", expect="Apa yang ingin Anda lakukan?")
    found = NUMBER.search(" ".join(confirmation))
    assert found, confirmation
    await chat.page.evaluate("() => { window.__stillTheSamePage = true; }")
    return chat, found.group(0)


async def appears_live(chat: Chat, app: web.Application, number: str, question: str) -> None:
    """The officer asks; the question shows on the open page once, and the page was not reloaded."""
    await officer_asks(app, number, question)
    await chat.expect(chat.last_bot).to_contain_text(question)
    assert await chat.page.evaluate("() => window.__stillTheSamePage === true")
    assert sum(question in text for text in await chat.bot.all_inner_texts()) == 1


async def test_an_officers_question_appears_on_the_open_page(browser: Any, settings: Settings, request: Any) -> None:
    context = await phone_context(browser)
    port = free_port()
    async with serving(settings, port) as app:
        chat, number = await filed_on_page(context, port, request)
        await appears_live(chat, app, number, "Di RT berapa rumah Mbah Sarinah?")
        await chat.screenshot("question-arrived")
        # The citizen answers right there, and the answer reaches the ticket's conversation.
        await chat.type("RT 03", expect=number)
    assert chat.errors == []
    await context.close()


async def test_the_page_reconnects_after_the_server_restarts(browser: Any, settings: Settings, request: Any) -> None:
    context = await phone_context(browser)
    port = free_port()
    async with serving(settings, port):
        chat, number = await filed_on_page(context, port, request)
    async with serving(settings, port) as second:  # the same office, restarted
        await appears_live(chat, second, number, "Apakah nenek masih di rumah?")
    assert chat.errors == []
    await context.close()


async def test_without_eventsource_the_page_polls_and_still_shows_the_question(
    browser: Any, settings: Settings, request: Any
) -> None:
    context = await phone_context(browser)
    await context.add_init_script("delete window.EventSource;")  # an old browser, or one that blocks streams
    streams: list[str] = []
    context.on("request", lambda sent: streams.append(sent.url) if "/api/chat/stream" in sent.url else None)
    port = free_port()
    async with serving(settings, port) as app:
        chat, number = await filed_on_page(context, port, request)
        await appears_live(chat, app, number, "Siapa yang merawat nenek sekarang?")
    assert streams == []
    assert chat.errors == []
    await context.close()
