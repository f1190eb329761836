"""Real-browser helpers: Debian's Chromium driven by Playwright, and the real server on a port.

Chromium comes from the system (`apt-get install chromium`), never from `playwright install`.
Without it, or without the `playwright` package, browser tests skip saying why — except when
`CI` is set, where they fail: CI installs Chromium and must prove the page works.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
from aiohttp import web

from bot.app import create_app
from bot.settings import Settings
from tests.support.clock import running_clock

if TYPE_CHECKING:  # the package is optional outside CI: imported only once we know it is there
    from playwright.async_api import Browser, BrowserContext, Locator, Page, Request

CHROMIUM = Path(os.environ.get("SATUPINTU_CHROMIUM", "/usr/bin/chromium"))
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
PHONE = {"width": 360, "height": 740}
HOME = {"latitude": -7.8305, "longitude": 110.392}  # where the citizen stands (Umbulharjo)
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
TIMEOUT_MS = 10_000  # generous for a loaded CI machine; a passing step takes milliseconds


def require_browser() -> None:
    """Skip (or, under CI, fail) unless both Chromium and the playwright package are present."""
    missing = []
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package is not installed (pip install playwright)")
    if not CHROMIUM.exists():
        missing.append(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    if not missing:
        return
    reason = "browser tests cannot run: " + "; ".join(missing)
    if os.environ.get("CI"):
        pytest.fail(f"{reason} — CI must run them")
    pytest.skip(reason)


@asynccontextmanager
async def launched_browser() -> AsyncIterator[Browser]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def phone_context(browser: Browser, *, locale: str = "id-ID") -> BrowserContext:
    """A cheap Android phone in Indonesia that allowed the page to read its location."""
    context = await browser.new_context(
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale=locale,
        timezone_id="Asia/Jakarta",
        permissions=["geolocation"],
        geolocation=HOME,
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context


@dataclass
class LiveServer:
    """The real app (create_app) behind a real TCP socket on 127.0.0.1."""

    app: web.Application
    runner: web.AppRunner
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


@asynccontextmanager
async def live_server(settings: Settings) -> AsyncIterator[LiveServer]:
    app = create_app(settings, clock=running_clock())  # Monday 10:00 WIB: due dates are fixed
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()  # port 0: the system picks a free one
        port = runner.addresses[0][1]
        yield LiveServer(app, runner, port)
    finally:
        await runner.cleanup()


@dataclass
class Chat:
    """The web chat page as a citizen sees it: bubbles, buttons, the text box."""

    page: Page
    name: str  # prefix of this test's screenshots
    shots: list[Path] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # uncaught script errors
    dialogs: list[str] = field(default_factory=list)  # alert()/confirm() that fired

    @property
    def expect(self) -> Any:
        from playwright.async_api import expect

        return expect

    @property
    def bot(self) -> Locator:
        return self.page.locator("#log li.bot")

    @property
    def mine(self) -> Locator:
        return self.page.locator("#log li.me")

    @property
    def last_bot(self) -> Locator:
        return self.bot.last

    @property
    def options(self) -> Locator:
        """The buttons under the newest question (the page removes older ones)."""
        return self.page.locator("#log .options button")

    @property
    def box(self) -> Locator:
        return self.page.locator("#text")

    @property
    def notice(self) -> Locator:
        return self.page.locator("#notice")

    def button(self, title: str) -> Locator:
        """An answer button by the words on it (a description may follow in smaller type)."""
        return self.page.locator("#log .options").get_by_role("button", name=re.compile(rf"^{re.escape(title)}"))

    async def option_titles(self) -> list[str]:
        """The words on the offered buttons, without their descriptions."""
        return await self.options.evaluate_all("buttons => buttons.map(b => b.firstChild.textContent)")

    async def hidden_from_view(self, *targets: Locator) -> list[str]:
        """Which of `targets` a citizen cannot see without scrolling: not wholly inside the
        screen, or covered (say by the sticky text box) at its middle. Empty when all are seen."""
        unseen = []
        for target in targets:
            for element in await target.element_handles():
                seen = await element.evaluate("""el => {
                    const r = el.getBoundingClientRect();
                    if (!r.width || !r.height || r.top < 0 || r.bottom > window.innerHeight) return false;
                    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
                    return !!hit && (hit === el || el.contains(hit));
                }""")
                if not seen:
                    unseen.append((await element.inner_text()).strip() or str(target))
        return unseen

    async def bot_count(self) -> int:
        return await self.bot.count()

    async def wait_for_reply(self, before: int, expect: str | None = None) -> list[str]:
        """Wait until new bot bubbles are drawn (the page draws all replies to one answer at
        once) and return their texts; `expect` must be in one of them."""
        await self.page.wait_for_function(
            "n => document.querySelectorAll('#log li.bot').length > n", arg=before, timeout=TIMEOUT_MS
        )
        new = (await self.bot.all_inner_texts())[before:]
        if expect is not None:
            assert any(expect in text for text in new), f"{expect!r} not in the replies {new}"
        return new

    async def press(self, title: str, expect: str | None = None) -> list[str]:
        return await self.tap(self.button(title), expect)

    async def tap(self, target: Locator, expect: str | None = None) -> list[str]:
        before = await self.bot_count()
        await target.click()
        return await self.wait_for_reply(before, expect)

    async def type(self, text: str, expect: str | None = None) -> list[str]:
        before = await self.bot_count()
        await self.box.fill(text)
        await self.box.press("Enter")
        return await self.wait_for_reply(before, expect)

    def count_posts(self, path: str) -> list[Request]:
        """Every POST to `path` from now on, as it leaves the page (failed ones included)."""
        seen: list[Request] = []

        def note(request: Request) -> None:
            if request.method == "POST" and urlsplit(request.url).path == path:
                seen.append(request)

        self.page.on("request", note)
        return seen

    async def screenshot(self, label: str, *, full_page: bool = False) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.name}-{len(self.shots) + 1:02d}-{label}.png"
        await self.page.screenshot(path=str(path), full_page=full_page)
        self.shots.append(path)
        return path


async def open_chat(context: BrowserContext, url: str, name: str, *, expect: str = "Halo!") -> Chat:
    """Open the page and wait for the bot's first words and the menu."""
    from playwright.async_api import expect as expect_that

    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    chat = Chat(page, name)
    page.on("pageerror", lambda error: chat.errors.append(str(error)))

    async def dismiss(dialog: Any) -> None:
        chat.dialogs.append(f"{dialog.type}: {dialog.message}")
        await dialog.dismiss()

    page.on("dialog", dismiss)
    await page.goto(url)
    # wait_for_function checks on every frame; expect() would back off to 250-500 ms retries
    await page.wait_for_function("() => document.querySelector('#log .options button')", timeout=TIMEOUT_MS)
    await expect_that(chat.bot.first).to_contain_text(expect)
    return chat


def api_url(path: str) -> re.Pattern[str]:
    """Matches the page's calls to `path` (with or without a query string), for `page.route`."""
    return re.compile(rf"^https?://[^/]+{re.escape(path)}(\?.*)?$")


def shot_name(request: Any) -> str:
    """A short file-system-safe name for a test's screenshots."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name.removeprefix("test_"))[:60]
