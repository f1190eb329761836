"""Signing in to the console: passwords, one-time links from the chat, sessions, CSRF, throttling."""

from __future__ import annotations

import re
from dataclasses import replace

from sqlalchemy import select

from bot.settings import Settings
from storage.models import AuditEntry, OutboxMessage
from tests.support.clock import MovableClock
from tests.support.console import CSRF, PASSWORD, ConsoleOffice, console_office

LINK = re.compile(r"/console/signin/link/([A-Za-z0-9_-]+)")


async def _form_token(office: ConsoleOffice) -> str:
    page = await office.client.get("/console/signin")
    return CSRF.search(await page.text()).group(1)  # type: ignore[union-attr]


async def test_a_page_needs_signing_in(office: ConsoleOffice) -> None:
    answer = await office.client.get("/console/", allow_redirects=False)
    assert answer.status == 303
    assert answer.headers["Location"].startswith("/console/signin?next=")


async def test_password_sign_in_and_out(office: ConsoleOffice) -> None:
    sri = await office.hire("Sri", role="supervisor")
    member = await office.signed_in(sri)
    home = await member.get("/console/", allow_redirects=False)
    assert home.status == 303 and home.headers["Location"] == "/console/queue"
    cookie = [c for c in member.client.session.cookie_jar if c.key == "satupintu_console"][0]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/console"
    out = await member.post("/console/signout", {})
    assert out.status == 303
    again = await member.get("/console/", allow_redirects=False)
    assert again.status == 303 and "/console/signin" in again.headers["Location"]
    actions = await office.db.run(
        lambda s: s.execute(select(AuditEntry.action).order_by(AuditEntry.id)).scalars().all()
    )
    assert actions[-2:] == ["signin", "signout"]
    await member.close()


async def test_a_form_without_its_token_is_refused(office: ConsoleOffice) -> None:
    await office.hire("Sri", role="supervisor")
    answer = await office.client.post("/console/signin", data={"username": "sri", "password": PASSWORD})
    assert answer.status == 403
    assert "kedaluwarsa" in await answer.text()


async def test_wrong_passwords_are_throttled(office: ConsoleOffice) -> None:
    await office.hire("Sri", role="supervisor")
    token = await _form_token(office)
    statuses = []
    for _ in range(6):
        answer = await office.client.post(
            "/console/signin", data={"csrf": token, "username": "sri", "password": "salah-salah-salah"}
        )
        statuses.append(answer.status)
    assert statuses == [401] * 5 + [429]
    right = await office.client.post(
        "/console/signin", data={"csrf": token, "username": "sri", "password": PASSWORD}, allow_redirects=False
    )
    assert right.status == 429, "the right password waits too, or guessing would go on"
    office.clock.advance(minutes=16)
    right = await office.client.post(
        "/console/signin", data={"csrf": token, "username": "sri", "password": PASSWORD}, allow_redirects=False
    )
    assert right.status == 303


async def test_a_link_sent_to_the_chat_signs_in_once(office: ConsoleOffice) -> None:
    await office.hire("Sri", role="supervisor", telegram_user_id="7003")
    token = await _form_token(office)
    for username in ("sri", "nobody"):  # the same answer for a name that does not exist
        answer = await office.client.post("/console/signin/link", data={"csrf": token, "username": username})
        assert answer.status == 200 and "tautan masuk sudah dikirim" in await answer.text()
    rows = await office.db.run(
        lambda s: s.execute(select(OutboxMessage).where(OutboxMessage.chat_id == "7003")).scalars().all()
    )
    assert len(rows) == 1
    link = LINK.search(rows[0].payload["text"]).group(0)  # type: ignore[union-attr]
    preview = await office.client.get(link)  # a chat app's link preview: it must not sign in or use the link
    assert preview.status == 200 and "Masuk sekarang" in await preview.text()
    token = CSRF.search(await preview.text()).group(1)  # type: ignore[union-attr]
    used = await office.client.post(link, data={"csrf": token}, allow_redirects=False)
    assert used.status == 303
    queue = await office.client.get("/console/", allow_redirects=False)
    assert queue.headers["Location"] == "/console/queue"
    office.client.session.cookie_jar.clear()
    token = await _form_token(office)
    again = await office.client.post(link, data={"csrf": token}, allow_redirects=False)
    assert again.status == 410


async def test_a_new_password_needs_the_current_one(office: ConsoleOffice) -> None:
    sri = await office.hire("Sri", role="supervisor")
    member = await office.signed_in(sri)
    taken = await member.post("/console/account", {"username": "sri", "password": "kata-sandi-baru-1"})
    assert taken.status == 400 and "Kata sandi sekarang salah" in await taken.text()
    changed = await member.post(
        "/console/account", {"username": "sri", "password": "kata-sandi-baru-1", "current": PASSWORD}
    )
    assert changed.status == 200 and "Kata sandi disimpan" in await changed.text()
    await member.close()


async def test_throttling_counts_the_address_the_proxy_saw_not_what_the_client_wrote(settings: Settings) -> None:
    async with console_office(replace(settings, behind_proxy=True), MovableClock()) as office:
        token = await _form_token(office)
        statuses = []
        for attempt in range(6):  # a sprayer writing a new first address each time, through our proxy
            answer = await office.client.post(
                "/console/signin",
                headers={"X-Forwarded-For": f"10.0.0.{attempt}, 203.0.113.9"},
                data={"csrf": token, "username": f"user{attempt}", "password": "salah-salah"},
            )
            statuses.append(answer.status)
        assert statuses == [401] * 5 + [429]


async def test_cookies_are_secure_when_staff_reach_the_console_over_https(settings: Settings) -> None:
    async with console_office(replace(settings, public_url="https://dinsos.example.go.id"), MovableClock()) as office:
        page = await office.client.get("/console/signin")
        assert "Secure" in page.headers["Set-Cookie"]


async def test_a_form_no_browser_sends_is_refused_kindly(office: ConsoleOffice) -> None:
    broken = await office.client.post(
        "/console/signin", data=b"\xff\xfe=\xff", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert broken.status == 400 and "tidak bisa dibaca" in await broken.text()
    no_boundary = await office.client.post(
        "/console/signin", data=b"--x\r\n", headers={"Content-Type": "multipart/form-data"}
    )
    assert no_boundary.status == 400
