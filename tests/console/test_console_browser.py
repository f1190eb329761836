"""The staff console in a real browser: Debian's Chromium driven by Playwright, against the real
server and database (both databases, as the rest of the suite). Each test walks what a
supervisor, officer, facilitator or admin does, and keeps screenshots of the main pages in
tests/artifacts/ for a human to look at.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import func, select

from bot.console.core import CONSOLE
from bot.settings import Settings
from storage.models import Attachment, OutboxMessage, Staff, Ticket, TicketEvent
from tests.support.browser import (
    ARTIFACTS,
    HOME,
    TIMEOUT_MS,
    LiveServer,
    launched_browser,
    live_server,
    require_browser,
)
from tests.support.console import MANTRIJERON, PASSWORD, UMBULHARJO, Staffing
from tests.support.webchat import jpeg

pytestmark = pytest.mark.asyncio(loop_scope="module")

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 360, "height": 740}
LINK = re.compile(r"https?://[^\s]+/console/signin/link/[A-Za-z0-9_-]+")
NUMBER = re.compile(r"SP-\d{4}-\d{5}")


# --------------------------------------------------------------------------- fixtures
@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Any]:
    require_browser()
    async with launched_browser() as launched:
        yield launched


@pytest_asyncio.fixture(loop_scope="module")
async def server(browser: Any, settings: Settings) -> AsyncIterator[LiveServer]:
    quiet = Settings(**{**settings.__dict__, "map_tile_url": ""})  # no tiles here: the map must work without
    async with live_server(quiet) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="module")
async def desk(server: LiveServer) -> Staffing:
    console = server.app[CONSOLE]
    return Staffing(console.db, console.services, console.clock)


class Screen:
    """One browser page of the console, with its screenshots and any script errors."""

    def __init__(self, page: Any, name: str, base: str) -> None:
        self.page, self.name, self.base = page, name, base.rstrip("/")
        self.shots = 0
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    async def goto(self, path: str) -> Any:
        return await self.page.goto(self.base + path)

    async def shot(self, label: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.shots += 1
        path = ARTIFACTS / f"console-{self.name}-{self.shots:02d}-{label}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path

    async def sign_in(self, username: str) -> None:
        await self.goto("/console/signin")
        await self.page.locator("#username").fill(username)
        await self.page.locator("#password").fill(PASSWORD)
        await self.page.get_by_role("button", name="Masuk", exact=True).click()
        await self.page.wait_for_url(re.compile(r"/console/queue"))


async def screen(browser: Any, server: LiveServer, name: str, *, phone: bool = False) -> Screen:
    context = await browser.new_context(
        viewport=PHONE if phone else DESKTOP,
        locale="id-ID",
        timezone_id="Asia/Jakarta",
        accept_downloads=True,
        permissions=["geolocation"],
        geolocation=HOME,
        is_mobile=phone,
        has_touch=phone,
    )
    context.set_default_timeout(TIMEOUT_MS)
    return Screen(await context.new_page(), name, server.url)


# --------------------------------------------------------------------------- a supervisor's day
async def test_a_supervisor_signs_in_from_a_chat_link_filters_opens_a_case_and_acts(
    browser: Any, server: LiveServer, desk: Staffing
) -> None:
    budi = await desk.hire("Budi")
    await desk.hire("Sri", role="supervisor", telegram_user_id="7003")
    await desk.file(category="lansia_telantar", person_name="Mbah Sarinah")
    odgj = await desk.file(
        category="odgj",
        person_name="Pak Darto",
        description="Sering mengamuk malam hari. <script>window.pwned = 1</script>",
    )
    await desk.file(district=MANTRIJERON, category="odgj", person_name="Bu Warsi")
    sri = await screen(browser, server, "supervisor")
    page = sri.page

    await sri.goto("/console/")
    await page.wait_for_url(re.compile(r"/console/signin"))
    await sri.shot("signin")
    await page.locator("#link-username").fill("sri")
    await page.get_by_role("button", name="Kirim tautan").click()
    await page.get_by_text("tautan masuk sudah dikirim").wait_for()
    sent = await desk.db.run(
        lambda s: (
            s.execute(
                select(OutboxMessage.payload).where(OutboxMessage.chat_id == "7003").order_by(OutboxMessage.id.desc())
            )
            .scalars()
            .first()
        )
    )
    link = LINK.search(sent["text"]).group(0)  # type: ignore[union-attr]
    await sri.goto("/console/" + link.split("/console/", 1)[1])  # the server's port here, not PUBLIC_URL's
    await page.get_by_role("button", name="Masuk sekarang").click()
    await page.wait_for_url(re.compile(r"/console/queue"))
    assert await page.locator("tbody tr").count() == 2  # Mantrijeron's case is not Sri's
    await sri.shot("queue")

    await page.get_by_text("Filter", exact=True).click()  # folded away on the first visit
    await page.locator("#f-category").select_option("odgj")
    await page.get_by_role("button", name="Tampilkan").click()
    await page.wait_for_url(re.compile(r"category=odgj"))
    rows = page.locator("tbody tr")
    assert await rows.count() == 1
    await rows.first.get_by_role("link", name=odgj.number).click()
    await page.wait_for_url(re.compile(rf"/console/cases/{odgj.number}$"))
    body = page.locator("main")
    await body.get_by_text("<script>window.pwned = 1</script>", exact=False).wait_for()
    assert await page.evaluate("window.pwned") is None
    assert await page.locator(".map").count() >= 1
    await sri.shot("case")

    await page.get_by_text("Tambah catatan internal").click()
    await page.locator("#f-note-text").fill("Sudah koordinasi dengan Puskesmas Umbulharjo.")
    await page.get_by_role("button", name="Simpan catatan").click()
    await page.wait_for_url(re.compile(rf"/console/cases/{odgj.number}\?done=note$"))
    await page.locator("ol.timeline").get_by_text("Sudah koordinasi dengan Puskesmas Umbulharjo.").wait_for()
    events = await desk.db.run(
        lambda s: s.execute(
            select(TicketEvent.kind, TicketEvent.actor).where(TicketEvent.ticket_id == odgj.id).order_by(TicketEvent.id)
        ).all()
    )
    assert events[-1][0] == "note" and events[-1][1] != f"staff:{budi.id}"
    assert not sri.errors, sri.errors


async def test_an_officer_opening_another_districts_case_gets_403(
    browser: Any, server: LiveServer, desk: Staffing
) -> None:
    await desk.hire("Budi")
    await desk.hire("Wati", districts=(MANTRIJERON,))
    there = await desk.file(category="lansia_telantar")
    wati = await screen(browser, server, "forbidden")
    await wati.sign_in("wati")
    answer = await wati.goto(f"/console/cases/{there.number}")
    assert answer.status == 403
    await wati.page.get_by_text("Anda tidak berhak membuka halaman ini").wait_for()
    await wati.shot("403")
    denied = await desk.db.run(
        lambda s: s.execute(
            select(TicketEvent.kind).where(TicketEvent.ticket_id == there.id, TicketEvent.kind == "access_denied")
        ).all()
    )
    assert len(denied) == 1


async def test_the_filtered_queue_downloads_as_csv(browser: Any, server: LiveServer, desk: Staffing) -> None:
    await desk.hire("Budi")
    await desk.hire("Sri", role="supervisor")
    await desk.file(category="lansia_telantar", person_name="Mbah Sarinah")  # Budi's case
    await desk.file(category="odgj", person_name="Pak Darto")
    sri = await screen(browser, server, "export")
    await sri.sign_in("sri")
    await sri.goto("/console/queue?category=lansia_telantar")
    async with sri.page.expect_download() as waiting:
        await sri.page.get_by_role("link", name=re.compile("CSV")).click()
    download = await waiting.value
    text = Path(await download.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) == 2, rows  # the header and Mbah Sarinah's case
    assert any("Mbah Sarinah" in cell for cell in rows[1])
    assert not any("3471045507450001" in cell for cell in rows[1]), (
        "a supervisor who is not the assignee gets the NIK masked"
    )


# --------------------------------------------------------------------------- an admin's configuration
KEMENDAGRI_CSV = "kode,nama\n34.71.15,Kotabaru Baru\n34.71.15.1001,Terban Baru\n34.71.15.1002,Gowongan Baru\n"


async def test_an_admin_adds_a_district_sets_a_service_standard_and_adds_an_officer(
    browser: Any, server: LiveServer, desk: Staffing
) -> None:
    await desk.hire("Ani", role="admin", districts=())
    ani = await screen(browser, server, "admin")
    page = ani.page
    await ani.sign_in("ani")

    await ani.goto("/console/admin/areas")
    await page.locator("#file").set_input_files(
        {"name": "wilayah.csv", "mimeType": "text/csv", "buffer": KEMENDAGRI_CSV.encode()}
    )
    await page.get_by_role("button", name="Periksa berkas").click()
    await page.get_by_role("button", name=re.compile(r"^Terapkan 3 perubahan")).click()
    await page.get_by_text("Kotabaru Baru").first.wait_for()
    await ani.shot("areas")
    assert desk.services.book.areas.district("34.71.15") is not None, "the running chat offers the new district at once"

    await ani.goto("/console/admin/categories/odgj")
    await page.locator("#resolution").fill("7")
    await page.get_by_role("button", name="Simpan standar layanan").click()
    await page.locator("#resolution").and_(page.locator("[value='7']")).wait_for()
    assert desk.services.book.office.service_standards.days("complaint", "odgj")["resolution"] == 7
    await ani.shot("category")

    await ani.goto("/console/admin/staff")
    await page.locator("#add_name").fill("Dewi Lestari")
    await page.locator("#add_role").select_option("officer")
    await page.locator("form[action='/console/admin/staff'] input[name=districts][value='34.71.15']").check()
    await page.get_by_role("button", name="Tambah staf").click()
    await page.get_by_role("heading", name="Dewi Lestari").wait_for()  # the new member's own page
    await page.get_by_text("Tersimpan.").wait_for()
    await ani.shot("staff")
    dewi = await desk.db.run(lambda s: s.execute(select(Staff).where(Staff.name == "Dewi Lestari")).scalars().one())
    assert (dewi.role, dewi.districts) == ("officer", ["34.71.15"])

    await ani.goto("/console/admin")
    trail = page.locator("main")
    for action in ("wilayah diubah", "aturan kantor diubah", "staf ditambahkan"):
        await trail.get_by_text(action).first.wait_for()
    await ani.shot("audit")
    assert not ani.errors, ani.errors


# --------------------------------------------------------------------------- a facilitator's walk-in
async def test_a_facilitator_files_a_walk_in_case_with_a_photo_on_a_phone_and_prints_its_receipt(
    browser: Any, server: LiveServer, desk: Staffing, tmp_path: Path
) -> None:
    await desk.hire("Budi")
    await desk.hire("Rina")  # a village facilitator: an officer of the same district
    photo = tmp_path / "rumah.jpg"
    photo.write_bytes(jpeg())
    rina = await screen(browser, server, "walkin", phone=True)
    page = rina.page
    await rina.sign_in("rina")
    await page.get_by_role("link", name="Layanan langsung").click()
    await page.wait_for_url(re.compile(r"/console/intake"))

    await page.get_by_label("Datang ke kantor").check()
    await page.get_by_label(re.compile("^Saya setuju|^Warga setuju|setuju", re.I)).first.check()
    await page.locator("#f-category").select_option("lansia_telantar")
    await page.get_by_label("Orang lain").check()
    await page.locator("#f-person_name").fill("Mbah Sarinah")
    await page.locator("#f-person_nik").fill("3471045507450001")
    await page.locator("#f-person_age").fill("80")
    await page.get_by_label("Perempuan").check()
    await page.locator("#f-village_code").select_option(f"{UMBULHARJO}.1001")
    await page.locator("#f-address").fill("Jl. Kenanga 3, RT 02")
    await page.get_by_role("button", name="Pakai lokasi saat ini").click()
    await page.get_by_text("Lokasi tercatat").wait_for()
    await page.locator("#f-photos").set_input_files(str(photo))
    await page.locator("#f-description").fill("Nenek tinggal sendiri, belum makan dua hari. <b>tolong</b>")
    await page.get_by_label("Diambil di posko desa/kelurahan").check()
    await rina.shot("form")
    await page.get_by_role("button", name="Simpan dan buat tanda terima").click()
    await page.wait_for_url(re.compile(r"/console/intake/receipt/SP-\d{4}-\d{5}"))
    number = NUMBER.search(page.url).group(0)  # type: ignore[union-attr]
    await page.get_by_text(number).first.wait_for()
    await rina.shot("receipt")
    await page.emulate_media(media="print")
    assert not await page.locator("header.top").is_visible(), "the printed receipt is the receipt alone"
    await rina.shot("receipt-print")

    ticket = await desk.db.run(lambda s: s.execute(select(Ticket).where(Ticket.number == number)).scalars().one())
    assert (ticket.source, ticket.channel, ticket.details["updates_via"]) == ("walkin", "desk", "paper")
    assert ticket.latitude == pytest.approx(HOME["latitude"]) and ticket.description.endswith("<b>tolong</b>")
    photos = await desk.db.run(
        lambda s: s.execute(
            select(func.count()).select_from(Attachment).where(Attachment.ticket_id == ticket.id)
        ).scalar_one()
    )
    assert photos == 1
    assert ticket.assignee_staff_id is not None, "routed to an officer as a chat report is"
    assert not rina.errors, rina.errors


# --------------------------------------------------------------------------- the map, without tiles
async def test_the_map_shows_the_areas_cases_without_any_tile_server(
    browser: Any, server: LiveServer, desk: Staffing
) -> None:
    await desk.hire("Budi")
    await desk.hire("Sri", role="supervisor")
    for name in ("Mbah Sarinah", "Pak Darto", "Bu Warsi"):
        await desk.file(person_name=name)
    await desk.file(district=MANTRIJERON, person_name="Mbah Jiyo")  # not Sri's
    await desk.file(person_name="Bu Tumi", village=UMBULHARJO + ".1007", location=None)  # a village, no pin
    sri = await screen(browser, server, "map")
    page = sri.page
    loaded: list[str] = []
    page.on("request", lambda request: loaded.append(request.url))
    await sri.sign_in("sri")
    await sri.goto("/console/map")
    cluster = page.locator(".leaflet-marker-icon")
    await cluster.first.wait_for()
    assert "3" in await page.locator(".marker-cluster").first.inner_text(), "the three cases at one spot, counted"
    approximate = page.locator(".marker-approximate")
    assert await approximate.count() == 1, "the case without a pin, at Semaki's centre, drawn apart"
    await approximate.first.click()
    assert "perkiraan lokasi (pusat desa)" in await page.locator(".leaflet-popup-content").inner_text()
    list_links = page.locator("table a[href^='/console/cases/']")
    assert await list_links.count() == 4  # the text list beside the map, for keyboards and screen readers
    await sri.shot("map")
    assert all(url.startswith(server.url.rstrip("/")) for url in loaded), [
        u for u in loaded if not u.startswith(server.url)
    ]
    assert not sri.errors, sri.errors
