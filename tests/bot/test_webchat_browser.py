"""The web chat page in a real browser: Debian's Chromium, driven by Playwright, on a phone-sized
screen, against the real server and database. Each test checks what a citizen would notice.

Screenshots of the main states go to tests/artifacts/ (git-ignored) for a human to look at.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import func, select

from bot.app import DATABASE
from bot.settings import Settings
from storage.models import Attachment, Conversation, Ticket
from tests.support.browser import (
    Chat,
    LiveServer,
    api_url,
    launched_browser,
    live_server,
    open_chat,
    phone_context,
    require_browser,
    shot_name,
)
from tests.support.webchat import jpeg

NUMBER = re.compile(r"SP-\d{4}-\d{5}")

# One Chromium for the whole file (each test gets a fresh profile, server and database): the
# tests, and every async fixture they use, run in the module's event loop.
pytestmark = pytest.mark.asyncio(loop_scope="module")


# --------------------------------------------------------------------------- fixtures
@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Any]:
    require_browser()
    async with launched_browser() as launched:
        yield launched


@pytest_asyncio.fixture(loop_scope="module")
async def server(browser: Any, settings: Settings) -> AsyncIterator[LiveServer]:
    async with live_server(settings) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="module")
async def context(browser: Any) -> AsyncIterator[Any]:
    phone = await phone_context(browser)
    yield phone
    await phone.close()


@pytest_asyncio.fixture(loop_scope="module")
async def chat(context: Any, server: LiveServer, request: pytest.FixtureRequest) -> AsyncIterator[Chat]:
    """The page opened on a fresh phone: welcome and menu are showing. Afterwards, no script
    error may have happened on it."""
    opened = await open_chat(context, server.url, shot_name(request))
    yield opened
    assert opened.errors == [], f"script errors on the page: {opened.errors}"


async def rows(server: LiveServer, statement: Any) -> list[Any]:
    return await server.app[DATABASE].run(lambda session: session.execute(statement).all())


async def to_summary(chat: Chat, *, address: str = "Jl. Imogiri Timur RT 03, dekat masjid") -> None:
    """A complaint about a neighbour, answered by tapping and typing, up to the summary."""
    await chat.press("Pengaduan", expect="Apakah Anda setuju?")
    await chat.press("Setuju", expect="Masalahnya tentang apa?")
    await chat.press("Lansia", expect="Lansia: pilih yang paling cocok.")
    await chat.press("Lansia telantar", expect="Laporan ini tentang siapa?")
    await chat.press("Orang lain", expect="Siapa namanya?")
    await chat.type("Mbah Sarinah", expect="Ketik NIK-nya")
    await chat.type("tidak tahu", expect="berapa umurnya?")
    await chat.type("80", expect="Jenis kelaminnya?")
    await chat.press("Perempuan", expect="Di kecamatan mana?")
    await chat.press("Umbulharjo", expect="Kecamatan Umbulharjo")
    await chat.press("Giwangan", expect="Tulis alamatnya")
    await chat.type(address, expect="Kirim lokasi")
    await chat.press("Lewati", expect="Kirim foto bila ada")
    await chat.press("Lewati", expect="Ceritakan keadaannya")
    await chat.type("Nenek tinggal sendiri dan tidak ada yang merawat sejak bulan lalu.", expect="Nomor HP")
    await chat.type("0812 3456 7890", expect="Periksa lagi pengaduan Anda")


# --------------------------------------------------------------------------- 1. the whole report
async def test_a_citizen_files_a_complaint_by_tapping_and_typing(
    chat: Chat, server: LiveServer, settings: Settings
) -> None:
    page = chat.page
    await chat.expect(chat.bot.first).to_contain_text("Halo! Ini layanan pengaduan dan permohonan Dinas Sosial.")
    await chat.expect(chat.last_bot).to_contain_text("Apa yang ingin Anda lakukan?")
    assert await chat.option_titles() == ["Pengaduan", "Permohonan", "Cek status", "Data saya"]
    await chat.screenshot("menu")

    await chat.press("Pengaduan", expect="Apakah Anda setuju?")
    await chat.screenshot("consent")
    await chat.press("Setuju", expect="Masalahnya tentang apa?")
    await chat.press("Lansia", expect="Lansia: pilih yang paling cocok.")
    await chat.press("Lansia telantar", expect="Laporan ini tentang siapa?")
    await chat.press("Orang lain", expect="Siapa namanya?")
    await chat.type("Mbah Sarinah", expect="Ketik NIK-nya")
    await chat.type("tidak tahu", expect="berapa umurnya?")
    await chat.type("80", expect="Jenis kelaminnya?")
    await chat.press("Perempuan", expect="Di kecamatan mana?")
    assert "Wirobrajan" not in await chat.option_titles()  # on the second page of the list
    await chat.press("Lainnya ▸", expect="Di kecamatan mana?")
    await chat.press("Wirobrajan", expect="Kecamatan Wirobrajan")
    await chat.press("Patangpuluhan", expect="Tulis alamatnya")
    await chat.type("Jl. HOS Cokroaminoto gang 3, dekat warung", expect="Kirim lokasi")

    location = page.locator("#location")
    await chat.expect(location).to_be_visible()
    await chat.expect(location).to_have_text("📍 Kirim lokasi")
    await chat.screenshot("location")
    await chat.tap(location, expect="Kirim foto bila ada")
    await chat.expect(chat.mine.last).to_have_text("📍 -7.83050, 110.39200")
    await chat.expect(location).to_be_hidden()

    await chat.expect(page.locator("#photo-label")).to_be_visible()
    await chat.expect(page.locator("#photo-label")).to_have_text(re.compile(r"📷\s*Kirim foto"))
    before = await chat.bot_count()
    await page.locator("#photo").set_input_files({"name": "nenek.jpg", "mimeType": "image/jpeg", "buffer": jpeg()})
    new = await chat.wait_for_reply(before, "Foto diterima (1 dari paling banyak 5).")
    assert new[-1].startswith("Kirim foto lain, atau tekan")
    await chat.expect(chat.mine.last).to_have_text("📷 nenek.jpg")
    await chat.press("Selesai", expect="Ceritakan keadaannya")
    await chat.type("Nenek tinggal sendiri dan tidak ada yang merawat sejak bulan lalu.", expect="Nomor HP")
    await chat.type("0812 3456 7890", expect="Periksa lagi pengaduan Anda")
    summary = await chat.last_bot.inner_text()
    for shown in (
        "Mbah Sarinah",
        "Patangpuluhan, Wirobrajan",
        "Jl. HOS Cokroaminoto gang 3",
        "Lokasi: terkirim",
        "Foto: 1 foto",
        "+6281234567890",
    ):
        assert shown in summary
    assert await chat.option_titles() == ["Kirim", "Ubah", "Batal"]
    await chat.screenshot("summary")

    await chat.press("Kirim", expect="Nomor laporan")
    log = page.locator("#log")
    await chat.expect(log).to_contain_text(NUMBER)
    await chat.expect(log).to_contain_text("Selasa, 24 November 2026")  # one working day after Monday
    await chat.expect(chat.last_bot).to_contain_text("Apa yang ingin Anda lakukan?")  # back at the menu
    await chat.screenshot("confirmation")

    number = NUMBER.search(await log.inner_text()).group(0)
    [(ticket,)] = await rows(server, select(Ticket))
    assert ticket.number == number == "SP-2026-00001"
    assert (ticket.category, ticket.person_name, ticket.person_nik, ticket.person_age) == (
        "lansia_telantar",
        "Mbah Sarinah",
        None,
        80,
    )
    assert (ticket.district_code, ticket.village_code) == ("34.71.11", "34.71.11.1001")
    assert ticket.latitude == pytest.approx(-7.8305, abs=1e-7)
    assert ticket.longitude == pytest.approx(110.392, abs=1e-7)
    assert ticket.channel == "web" and ticket.reporter_phone == "+6281234567890"
    [(attachment,)] = await rows(server, select(Attachment))
    assert attachment.ticket_id == ticket.id and attachment.content_type == "image/jpeg"
    assert (attachment.width, attachment.height) == (320, 240)
    assert (settings.attachments_dir / attachment.path).is_file()


# --------------------------------------------------------------------------- 2. reload
async def test_a_reload_mid_conversation_shows_it_and_continues_at_the_same_step(chat: Chat) -> None:
    page = chat.page
    await chat.press("Pengaduan", expect="Apakah Anda setuju?")
    await chat.press("Setuju", expect="Masalahnya tentang apa?")
    await chat.press("Lansia", expect="Lansia: pilih yang paling cocok.")
    await chat.press("Lansia telantar", expect="Laporan ini tentang siapa?")
    await chat.press("Orang lain", expect="Siapa namanya?")
    await chat.press("Lewati", expect="Ketik NIK-nya")
    await chat.press("Tidak tahu", expect="berapa umurnya?")
    await chat.press("Lewati", expect="Jenis kelaminnya?")
    await chat.press("Lewati", expect="Di kecamatan mana?")
    await chat.press("Lainnya ▸", expect="Di kecamatan mana?")
    question = await chat.last_bot.inner_text()
    buttons = await chat.option_titles()
    bubbles = await chat.bot.all_inner_texts()
    assert "Wirobrajan" in buttons and "Umbulharjo" not in buttons

    await page.reload()
    await chat.expect(chat.bot).to_have_count(len(bubbles))
    assert await chat.bot.all_inner_texts() == bubbles  # the conversation so far, in order
    await chat.expect(chat.last_bot).to_have_text(question)
    assert await chat.option_titles() == buttons  # the same page of the same list
    await chat.screenshot("after-reload")

    await chat.press("Wirobrajan", expect="Kecamatan Wirobrajan")
    await chat.press("Pakuncen", expect="Tulis alamatnya")
    await chat.type("Jl. Kapten Tendean 12", expect="Kirim lokasi")

    await page.reload()  # again, at a question answered by the location button
    await chat.expect(chat.last_bot).to_contain_text("Kirim lokasi")
    await chat.expect(page.locator("#location")).to_be_visible()
    await chat.tap(page.locator("#location"), expect="Kirim foto bila ada")
    await chat.expect(chat.notice).to_be_hidden()


# --------------------------------------------------------------------------- 3. double taps
async def test_a_double_tap_on_a_button_acts_once(chat: Chat) -> None:
    sent = chat.count_posts("/api/chat/send")
    before = await chat.bot_count()
    await chat.button("Pengaduan").dblclick()
    await chat.wait_for_reply(before, "Apakah Anda setuju?")
    await chat.press("Setuju", expect="Masalahnya tentang apa?")  # anything a second tap caused is here by now
    assert len(sent) == 2  # "Pengaduan" once, "Setuju" once
    texts = await chat.bot.all_inner_texts()
    assert sum("Apakah Anda setuju?" in t for t in texts) == 1
    assert sum("Masalahnya tentang apa?" in t for t in texts) == 1
    assert not any("tidak berlaku" in t for t in texts)  # no "that button is old" complaint
    await chat.expect(chat.page.locator("#log .options")).to_have_count(1)  # one set of buttons


async def test_a_double_tap_shows_the_answer_once(chat: Chat) -> None:
    before = await chat.bot_count()
    await chat.button("Pengaduan").dblclick()
    await chat.wait_for_reply(before, "Apakah Anda setuju?")
    assert await chat.mine.all_inner_texts() == ["Pengaduan"]


async def test_a_double_tap_on_send_files_one_ticket(chat: Chat, server: LiveServer) -> None:
    await to_summary(chat)
    before = await chat.bot_count()
    await chat.button("Kirim").dblclick()
    await chat.wait_for_reply(before, "Apa yang ingin Anda lakukan?")
    listing = await chat.press("Cek status", expect="SP-2026-00001")  # a second tap would be handled by now
    assert listing[0].splitlines()[:2] == ["Laporan Anda (1 terakhir):", "• SP-2026-00001 — Lansia telantar"]
    texts = await chat.bot.all_inner_texts()
    assert sum("Nomor laporan" in t for t in texts) == 1
    assert not any("SP-2026-00002" in t for t in texts)
    assert await rows(server, select(func.count()).select_from(Ticket)) == [(1,)]


# --------------------------------------------------------------------------- 4. markup stays text
async def test_markup_typed_as_the_address_shows_as_plain_text(chat: Chat) -> None:
    typed = "<script>alert(1)</script> <b>tebal</b> <img src=x onerror=alert(2)> & Jl. Mawar"
    await to_summary(chat, address=typed)
    await chat.expect(chat.last_bot).to_contain_text(f"Alamat: {typed}")
    await chat.expect(chat.mine.filter(has_text="<script>")).to_have_text([typed])  # the citizen's own bubble
    log = chat.page.locator("#log")
    for tag in ("script", "b", "img"):
        await chat.expect(log.locator(tag)).to_have_count(0)
    summary = await chat.last_bot.evaluate("node => node.textContent")
    assert f"Alamat: {typed}" in summary
    await chat.screenshot("summary-with-markup")
    await chat.press("Kirim", expect="Apa yang ingin Anda lakukan?")
    assert chat.dialogs == []  # nothing ran: no alert() anywhere along the way


async def test_the_summary_shows_one_answer_per_line(chat: Chat) -> None:
    await to_summary(chat)
    lines = (await chat.last_bot.inner_text()).splitlines()
    assert "• Alamat: Jl. Imogiri Timur RT 03, dekat masjid" in lines
    assert "• Nomor HP Anda: +6281234567890" in lines


# --------------------------------------------------------------------------- 5. language
async def test_the_en_link_gives_english_page_words(chat: Chat) -> None:
    page = chat.page
    assert await page.title() == "Layanan Pengaduan Dinas Sosial"
    await chat.expect(page.locator("#send")).to_have_attribute("aria-label", "Kirim")
    await page.get_by_role("link", name="EN").click()
    await page.wait_for_url(re.compile(r"\?lang=en$"))
    await chat.expect(page.locator("html")).to_have_attribute("lang", "en")
    assert await page.title() == "Social Welfare Office Help Desk"
    await chat.expect(page.locator("h1")).to_have_text("Social Welfare Office Help Desk")
    await chat.expect(page.locator("#send")).to_have_attribute("aria-label", "Send")
    await chat.expect(chat.box).to_have_attribute("placeholder", "Type your answer…")
    await chat.expect(page.get_by_role("link", name="EN")).to_have_attribute("aria-current", "true")
    await chat.screenshot("english-page")
    await page.get_by_role("link", name="ID").click()
    await chat.expect(page.locator("#send")).to_have_attribute("aria-label", "Kirim")


async def test_after_the_en_link_start_answers_in_english(chat: Chat) -> None:
    page = chat.page
    await page.get_by_role("link", name="EN").click()
    await chat.expect(page.locator("#send")).to_have_attribute("aria-label", "Send")
    await chat.type("/start", expect="What would you like to do?")
    await chat.expect(chat.bot.filter(has_text="Hello! This is")).not_to_have_count(0)
    assert await chat.option_titles() == ["Complaint", "Service", "Status", "My data"]
    await chat.screenshot("english-bot")


async def test_an_english_phone_is_greeted_in_english(
    server: LiveServer, browser: Any, request: pytest.FixtureRequest
) -> None:
    english = await phone_context(browser, locale="en-US")
    try:
        chat = await open_chat(english, server.url, shot_name(request), expect="Hello! This is")
        await chat.expect(chat.page.locator("#send")).to_have_attribute(
            "aria-label", "Send"
        )  # page words follow the phone too
        assert await chat.option_titles() == ["Complaint", "Service", "Status", "My data"]
        assert chat.errors == []
    finally:
        await english.close()


# --------------------------------------------------------------------------- 6. the network fails
async def test_offline_keeps_the_answer_in_the_box_and_sends_it_once_when_back(chat: Chat, context: Any) -> None:
    page = chat.page
    await chat.press("Pengaduan", expect="Apakah Anda setuju?")
    await chat.press("Setuju", expect="Masalahnya tentang apa?")
    await chat.press("Lansia", expect="Lansia: pilih yang paling cocok.")
    await chat.press("Lansia telantar", expect="Laporan ini tentang siapa?")
    await chat.press("Orang lain", expect="Siapa namanya?")
    sent = chat.count_posts("/api/chat/send")
    bubbles = await chat.bot_count()

    await context.set_offline(True)
    await chat.box.fill("Mbah Sarinah")
    await chat.box.press("Enter")
    await chat.expect(chat.notice).to_be_visible()
    await chat.expect(chat.notice).to_have_text(
        "Koneksi terputus. Pesan Anda belum terkirim — coba lagi sebentar lagi."
    )
    await chat.expect(chat.box).to_have_value("Mbah Sarinah")
    await chat.expect(chat.mine.filter(has_text="Mbah Sarinah")).to_have_count(0)
    assert await chat.bot_count() == bubbles
    await chat.screenshot("offline")

    await context.set_offline(False)
    await page.locator("#send").click()
    await chat.wait_for_reply(bubbles, "Ketik NIK-nya")
    await chat.expect(chat.notice).to_be_hidden()
    await chat.expect(chat.box).to_have_value("")
    await chat.expect(chat.mine.filter(has_text="Mbah Sarinah")).to_have_count(1)
    assert sum("Ketik NIK-nya" in t for t in await chat.bot.all_inner_texts()) == 1
    assert [r.failure for r in sent] == ["net::ERR_INTERNET_DISCONNECTED", None]


async def test_a_lost_reply_is_not_acted_on_twice_when_sent_again(chat: Chat, server: LiveServer) -> None:
    """The answer reached the server but the reply never came back (a dropped mobile connection):
    the page keeps the text, and sending again shows the next question once, not an error."""
    page = chat.page
    await chat.press("Pengaduan", expect="Apakah Anda setuju?")
    await chat.press("Setuju", expect="Masalahnya tentang apa?")
    await chat.press("Lansia", expect="Lansia: pilih yang paling cocok.")
    await chat.press("Lansia telantar", expect="Laporan ini tentang siapa?")
    await chat.press("Orang lain", expect="Siapa namanya?")
    bubbles = await chat.bot_count()
    reached: list[str] = []

    async def drop_the_reply(route: Any) -> None:
        response = await route.fetch()  # the server handles it...
        reached.append(await response.text())
        await route.abort("connectionreset")  # ...but the phone never hears back

    await page.route(api_url("/api/chat/send"), drop_the_reply)
    await chat.box.fill("Mbah Sarinah")
    await chat.box.press("Enter")
    await chat.expect(chat.notice).to_be_visible()
    await chat.expect(chat.box).to_have_value("Mbah Sarinah")
    assert len(reached) == 1 and "Ketik NIK-nya" in reached[0]

    await page.unroute(api_url("/api/chat/send"))
    await page.locator("#send").click()
    await chat.wait_for_reply(bubbles, "Ketik NIK-nya")
    await chat.expect(chat.notice).to_be_hidden()
    await chat.expect(chat.box).to_have_value("")
    texts = await chat.bot.all_inner_texts()
    assert sum("Ketik NIK-nya" in t for t in texts) == 1
    await chat.type("tidak tahu", expect="berapa umurnya?")  # and the conversation goes on
    [(step, answers)] = await rows(server, select(Conversation.step, Conversation.answers))
    assert step == "person_age" and answers["person_name"] == "Mbah Sarinah"


# --------------------------------------------------------------------------- on a small screen
async def test_what_the_citizen_must_see_is_on_screen(chat: Chat, context: Any) -> None:
    """On a 360x740 phone the buttons to answer the newest question, and the connection notice,
    are on screen after each reply, not under the text box or below the fold."""
    page = chat.page
    unseen: dict[str, list[str]] = {}

    async def look(where: str, *targets: Any) -> None:
        if missing := await chat.hidden_from_view(*targets):
            unseen[where] = missing

    await chat.press("Pengaduan", expect="Apakah Anda setuju?")
    await look("consent", chat.options)
    await chat.press("Setuju", expect="Masalahnya tentang apa?")
    await chat.press("Lansia", expect="Lansia: pilih yang paling cocok.")
    await chat.press("Lansia telantar", expect="Laporan ini tentang siapa?")
    await look("subject", chat.options)
    await chat.press("Orang lain", expect="Siapa namanya?")
    await chat.press("Lewati", expect="Ketik NIK-nya")
    await chat.press("Tidak tahu", expect="berapa umurnya?")
    await chat.press("Lewati", expect="Jenis kelaminnya?")
    await chat.press("Lewati", expect="Di kecamatan mana?")
    await chat.press("Umbulharjo", expect="Kecamatan Umbulharjo")
    await chat.press("Giwangan", expect="Tulis alamatnya")
    await chat.type("Jl. Imogiri Timur RT 03", expect="Kirim lokasi")
    await look("location", chat.options, page.locator("#location"))
    await chat.screenshot("location-step")
    await chat.press("Lewati", expect="Kirim foto bila ada")
    await look("photos", chat.options, page.locator("#photo-label"))
    await chat.press("Lewati", expect="Ceritakan keadaannya")
    await context.set_offline(True)
    await chat.box.fill("Nenek tinggal sendiri dan tidak ada yang merawat.")
    await chat.box.press("Enter")
    await chat.expect(chat.notice).to_be_visible()
    await look("offline notice", chat.notice)
    await chat.screenshot("offline-notice")
    await context.set_offline(False)
    await chat.tap(page.locator("#send"), expect="Nomor HP")
    await chat.press("Lewati", expect="Periksa lagi pengaduan Anda")
    await look("summary", chat.options)
    await chat.press("Kirim", expect="Nomor laporan")
    await look("menu after the ticket", chat.options)
    await chat.screenshot("menu-after-ticket")
    assert unseen == {}


# --------------------------------------------------------------------------- long conversations
async def test_a_reload_after_a_long_conversation_shows_the_current_question(chat: Chat) -> None:
    page = chat.page
    # A puzzled citizen asked for help fifty times (help and menu: two bubbles each), from this
    # phone, then chose "Pengaduan"; sent from the page's own script to save time.
    await page.evaluate("""async () => {
        const send = (body) => fetch('/api/chat/send', {method: 'POST', credentials: 'same-origin',
            headers: {'Content-Type': 'application/json', 'X-Satupintu-Chat': '1'}, body: JSON.stringify(body)});
        for (let i = 0; i < 50; i++) await send({client_id: 'help-request-' + i, text: 'bantuan'});
        await send({client_id: 'menu-choice-1', value: 'complaint', step: 'menu'});
    }""")
    await page.reload()
    await chat.expect(chat.last_bot).to_contain_text("Apakah Anda setuju?", timeout=2_000)
    await chat.expect(chat.bot).to_have_count(2 + 50 * 2 + 1)
    assert await chat.option_titles() == ["Setuju", "Tidak setuju"]
    await chat.press("Setuju", expect="Masalahnya tentang apa?")


# --------------------------------------------------------------------------- Web Push
async def test_the_notify_button_shows_where_notifications_may_be_asked_for(chat: Chat, server: LiveServer) -> None:
    """Headless Chromium reaches no real push service: what can be seen is that the page
    registers its worker on load without asking anything, hides the button where notifications
    are refused (headless refuses by default), and offers it where they may be asked for."""
    scope = await chat.page.evaluate("navigator.serviceWorker.ready.then((registration) => registration.scope)")
    assert scope == server.url.rstrip("/") + "/"
    assert await chat.page.evaluate("Notification.permission") == "denied"
    await chat.expect(chat.page.locator("#notify")).to_be_hidden()
    await chat.page.context.grant_permissions(["notifications"], origin=server.url.rstrip("/"))
    await chat.page.reload()
    await chat.expect(chat.page.locator("#notify")).to_be_visible()
    await chat.expect(chat.page.locator("#notify")).to_contain_text("Beri tahu saya jika ada balasan")
