"""The audit viewer in Chromium: an admin filters the trail down to one officer, goes to "who
was affected", downloads the list and writes the letters; screenshots go to tests/artifacts/."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bot.console.core import CONSOLE
from bot.settings import Settings
from storage.models import Staff, Ticket
from tests.support.browser import ARTIFACTS, TIMEOUT_MS, LiveServer, launched_browser, live_server, require_browser
from tests.support.console import PASSWORD, Staffing

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Any]:
    require_browser()
    async with launched_browser() as launched:
        yield launched


@pytest_asyncio.fixture(loop_scope="module")
async def server(browser: Any, settings: Settings) -> AsyncIterator[LiveServer]:
    async with live_server(Settings(**{**settings.__dict__, "map_tile_url": ""})) as running:
        yield running


async def test_an_admin_follows_an_officer_through_the_trail_to_the_notice_letters(
    browser: Any, server: LiveServer
) -> None:
    console = server.app[CONSOLE]
    desk = Staffing(console.db, console.services, console.clock)
    budi = await desk.hire("Budi")
    await desk.hire("Ani", role="admin", districts=())
    ticket = await desk.file(person_name="Mbah Sarinah")

    def accept(session: Any) -> None:
        console.services.casework.accept(
            session, session.get(Staff, budi.id), session.get(Ticket, ticket.id), console.clock()
        )

    await console.db.run(accept)

    context = await browser.new_context(locale="id-ID", timezone_id="Asia/Jakarta", accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    base = server.url.rstrip("/")
    await page.goto(base + "/console/signin")
    await page.locator("#username").fill("ani")
    await page.locator("#password").fill(PASSWORD)
    await page.get_by_role("button", name="Masuk", exact=True).click()
    await page.wait_for_url(re.compile(r"/console/queue"))

    await page.get_by_role("link", name="Pengaturan").click()
    await page.get_by_role("link", name="Jejak audit tiket & kebocoran data").click()
    await page.wait_for_url(re.compile(r"/console/admin/audit"))
    await page.locator("#a-staff").select_option(label="Budi")
    await page.get_by_role("button", name="Tampilkan").click()
    trail = page.locator("#trail")
    await trail.get_by_text(ticket.number).first.wait_for()
    assert await trail.locator("code", has_text="accept").count() == 1
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "console-audit-01-trail.png"), full_page=True)

    day = console.services.calendar.local_date(console.clock()).isoformat()
    await page.get_by_role("link", name=re.compile("Siapa yang terdampak")).click()
    await page.locator("#b-staff").select_option(label="Budi (petugas)")
    await page.locator("#b-since").fill(day)
    await page.locator("#b-until").fill(day)
    await page.get_by_role("button", name="Cari").click()
    await page.locator("#affected").get_by_text("Mbah Sarinah").wait_for()
    async with page.expect_download() as waiting:
        await page.get_by_role("link", name=re.compile("CSV")).click()
    download = await waiting.value
    rows = list(csv.reader(io.StringIO(Path(await download.path()).read_text(encoding="utf-8-sig"))))
    assert [row[0] for row in rows[1:]] == [ticket.number]
    await page.screenshot(path=str(ARTIFACTS / "console-audit-02-affected.png"), full_page=True)

    await page.locator("#l-incident").fill("Ponsel Pak Budi hilang.")
    await page.locator("#l-actions").fill("Akunnya kami nonaktifkan.")
    await page.locator("#l-contact").fill("0274-000000")
    await page.get_by_role("button", name="Buat surat").click()
    letter = page.locator(f"#letter-{ticket.number}")
    await letter.get_by_text(f"laporan Anda nomor {ticket.number} tentang Mbah Sarinah").wait_for()
    assert "Ponsel Pak Budi hilang." in await letter.inner_text()
    await page.screenshot(path=str(ARTIFACTS / "console-audit-03-letters.png"), full_page=True)
    assert not errors, errors
    await context.close()
