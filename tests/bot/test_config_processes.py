"""Two `satupintu serve` processes on one database: a configuration change an admin saves in
one is in force in the other within seconds, without a restart and without anyone opening an
admin page there (each process checks the stored configuration every few seconds)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp
import pytest

from bot.clock import utc_now
from bot.settings import Settings
from storage.db import Database
from storage.migrate import upgrade
from tests.bot.test_scheduler_processes import Server, until
from workflows import audit, signin
from workflows import staff as records
from workflows.flowbook import load_flowbook

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
VERSION = re.compile(r'name="version" value="(\d+)"')
PASSWORD = "kata-sandi-rahasia-1"
RUNNING = "Satupintu is running."
TOOK_UP = "configuration: took up the version stored by another process"
NEW_LABEL = "Lansia sebatang kara"


def hire_admin(settings: Settings) -> None:
    """An admin who signs in with a password, as `satupintu staff add` and `staff password` make one."""
    upgrade(settings.effective_database_url)
    db = Database(settings.effective_database_url)
    book = load_flowbook()

    def work(session: Any) -> None:
        scope = records.check_scope(book, role="admin", team=None, districts=[], categories=[])
        ani = records.add_staff(
            session,
            book=book,
            name="Ani",
            scope=scope,
            telegram_user_id=None,
            whatsapp_number=None,
            language="id",
            by=audit.CLI,
            now=utc_now(),
        )
        signin.set_password(session, staff=ani, username="ani", password=PASSWORD, by=audit.CLI, now=utc_now())

    try:
        db.run_sync(work)
    finally:
        db.close()


async def _text(browser: aiohttp.ClientSession, url: str) -> str:
    async with browser.get(url, allow_redirects=False) as answer:
        assert answer.status == 200, (url, answer.status)
        return await answer.text()


async def test_a_change_saved_in_one_server_is_used_by_the_other_within_seconds(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SATUPINTU_CONFIG_CHECK_SECONDS", "1")
    hire_admin(settings)
    a, b = Server(settings), Server(settings)
    # Cookies are kept per host, not per port: the session made on A (stored in the shared
    # database) is good on B as well.
    browser = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        for server in (a, b):
            await server.start()
        await until(lambda: all(any(RUNNING in line for line in s.lines) for s in (a, b)), 30, "both servers")
        at_a, at_b = f"http://127.0.0.1:{a.port}", f"http://127.0.0.1:{b.port}"

        token = CSRF.search(await _text(browser, at_a + "/console/signin")).group(1)  # type: ignore[union-attr]
        credentials = {"csrf": token, "username": "ani", "password": PASSWORD, "next": "/console/"}
        async with browser.post(at_a + "/console/signin", data=credentials, allow_redirects=False) as answer:
            assert answer.status == 303, await answer.text()
        assert NEW_LABEL not in await _text(browser, at_b + "/console/queue")

        form = await _text(browser, at_a + "/console/admin/categories/lansia_telantar")
        csrf, version = CSRF.search(form).group(1), VERSION.search(form).group(1)  # type: ignore[union-attr]
        data = {"csrf": csrf, "version": version, "label_id": NEW_LABEL, "label_en": "Older person alone"}
        async with browser.post(
            at_a + "/console/admin/categories/lansia_telantar/labels", data=data, allow_redirects=False
        ) as answer:
            assert answer.status == 303, await answer.text()

        # B's queue page reads the configuration in force; it never looks for a newer one itself.
        for _ in range(50):
            page = await _text(browser, at_b + "/console/queue")
            if NEW_LABEL in page:
                break
            await asyncio.sleep(0.2)
        assert NEW_LABEL in page, "B still used the old configuration after 10 seconds"
        assert any(TOOK_UP in line for line in b.lines), b.lines
    finally:
        await browser.close()
        for server in (a, b):
            await server.stop()
