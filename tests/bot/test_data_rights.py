"""A citizen's rights over their data (UU 27/2022) in the chat, end to end: the real app and
python-telegram-bot against the fake Bot API, on the database under test. `/datasaya` shows
what is held after the last four digits of a number they gave; they correct a field (the
officer told, without the values), withdraw consent or have their data erased (rows and photo
files gone, the number and statistics kept); a request an open case holds up is chased by
the scheduler before and after its 72-hour deadline and listed in the supervisor's digest."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app import DATABASE, SERVICES, create_app
from bot.scheduler import Scheduler
from bot.settings import Settings
from storage.models import Attachment, AuditEntry, Contact, DataRightsRequest, OutboxMessage, Staff, Ticket
from tests.bot.test_telegram import TOKEN, free_port, telegram_settings
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.support.clock import MovableClock, running_clock
from tests.support.complaint import file_complaint, file_own_complaint
from tests.support.office import BUDI, NUMBER, SITI, SRI, Office, card_of
from tests.support.scheduler import scheduler_for
from tests.support.telegram import TelegramCitizen
from tests.support.webchat import WebCitizen, jpeg
from workflows.jobs import JobContext
from workflows.jobs.digest import build_digest
from workflows.services import Services

NIK, NAME, PHONE = "3471044101500001", "Siti Aminah", "0812 3456 7890"
TONO = 8002


class RightsOffice(Office):
    def __init__(self, office: Office, services: Services, scheduler: Scheduler, settings: Settings) -> None:
        super().__init__(office.fake, office.db, office.clock)
        self.services, self.scheduler, self.settings = services, scheduler, settings

    async def requests(self) -> list[DataRightsRequest]:
        return await self.db.run(
            lambda s: list(s.execute(select(DataRightsRequest).order_by(DataRightsRequest.id)).scalars())
        )

    async def digest_for(self, user_id: int) -> str:
        def build(session: Any) -> str:
            staff = session.execute(select(Staff).where(Staff.telegram_user_id == str(user_id))).scalar_one()
            now = self.clock()
            day = self.services.calendar.local_date(now)
            say = build_digest(session, ctx=JobContext(self.services), supervisor=staff, day=day, now=now)
            return self.services.texts.render(say.key, "id", say.context)

        return await self.db.run(build)


@pytest.fixture
async def office(settings: Settings) -> AsyncIterator[RightsOffice]:
    fake = FakeTelegramAPI(TOKEN)
    await fake.start()
    clock = MovableClock()
    app = create_app(telegram_settings(settings, fake), clock=clock)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", free_port()).start()
    services = app[SERVICES]
    scheduler = scheduler_for(settings, app[DATABASE], services, clock)
    yield RightsOffice(Office(fake, app[DATABASE], clock), services, scheduler, settings)
    await runner.cleanup()
    await fake.close()


def about_data(messages: list[Any]) -> list[Any]:
    """The data-rights reminders and escalations among a chat's news (not the digest, not SLA nudges)."""
    return [m for m in messages if (m.text or "").startswith(("⏳ Permintaan data warga", "🚫 Permintaan data warga"))]


async def own_report(office: RightsOffice, siti: TelegramCitizen, phone: str | None = PHONE) -> str:
    confirmation = await file_own_complaint(
        siti, name=NAME, nik=NIK, phone=phone, story="Saya tinggal sendiri dan butuh bantuan makan."
    )
    return NUMBER.search(confirmation).group(0)


async def verified(siti: TelegramCitizen, digits: str = "7890") -> tuple[Any, Any]:
    [ask] = await siti.type("/datasaya")
    assert "4 angka terakhir nomor HP atau NIK" in ask.text
    held, actions = await siti.type(digits)
    return held, actions


async def test_a_citizen_sees_what_is_held_and_corrects_a_field_the_officer_is_told(office: RightsOffice) -> None:
    budi = await office.hire("Budi", BUDI)
    siti = office.person(SITI, "Siti")
    number = await own_report(office, siti)
    [card] = await budi.catch_up()

    [ask] = await siti.type("/datasaya")
    [wrong] = await siti.type("1234")
    assert "tidak cocok" in wrong.text and "2 kali lagi" in wrong.text
    [again] = await siti.type("12")
    assert "4 angka saja" in again.text  # a slip of the thumb is not a try
    held, actions = await siti.type("0001")  # the NIK's last four do as well as the phone's
    assert f"🎫 {number} · Pengaduan · Lansia telantar · ditugaskan" in held.text
    assert "• Nama: Siti Aminah" in held.text and "• NIK: 3471********0001 (disamarkan)" in held.text
    assert "• Alamat: Jl. Imogiri Timur RT 03" in held.text and "• Nomor HP: ***********890" in held.text
    assert NIK not in held.text and "3456" not in held.text
    assert "pemberitahuan data pribadi versi 2026-11, disetujui Senin, 23 November 2026" in held.text
    assert list(siti.buttons(actions)) == ["Perbaiki", "Cabut persetujuan", "Hapus data", "Selesai"]

    await siti.press("Perbaiki")
    [which] = await siti.press(number)
    assert list(siti.buttons(which)) == ["Nama", "NIK", "Desa/Kelurahan", "Alamat", "Cerita", "Nomor HP Anda"]
    [ask_nik] = await siti.press("NIK")
    assert "16 angka" in ask_nik.text
    [refused] = await siti.type("12345")  # checked as at intake
    assert "NIK" in refused.text and "16" in refused.text
    [done, actions] = await siti.type("3471044101500002")
    assert f"NIK di {number} sudah diperbaiki" in done.text
    await siti.press("Perbaiki")
    await siti.press(number)
    await siti.press("Alamat")
    [done, actions] = await siti.type("Jl. Mawar 5, RT 02")
    assert f"Alamat di {number} sudah diperbaiki" in done.text
    await siti.press("Perbaiki")
    await siti.press(number)
    [ask_village] = await siti.press("Desa/Kelurahan")
    assert "nama desa/kelurahan" in ask_village.text
    [unknown] = await siti.type("Atlantis")
    assert "tidak kami kenal" in unknown.text
    [done, actions] = await siti.type("gedongkiwo")
    assert f"Desa/Kelurahan di {number} sudah diperbaiki" in done.text

    told = await budi.catch_up()
    assert [m.text.split(" (")[0] for m in told] == [
        f"✏️ Warga memperbaiki nik di {number}",
        f"✏️ Warga memperbaiki alamat di {number}",
        f"✏️ Warga memperbaiki desa/kelurahan di {number}",
    ]
    for message in told:
        assert "Mawar" not in message.text and "3471044101500002" not in message.text
        assert f"/console/cases/{number}" in message.text
    ticket = await office.ticket(number)
    assert (ticket.person_nik, ticket.address) == ("3471044101500002", "Jl. Mawar 5, RT 02")
    assert (ticket.district_code, ticket.village_code) == ("34.71.01", "34.71.01.1001")
    corrections = [e.data for e in await office.events(number) if e.kind == "citizen_correction"]
    assert corrections == [{"field": "person_nik"}, {"field": "address"}, {"field": "village_code"}]  # no old values
    stale = await budi.press_data(card, budi.buttons(card)["Terima"])
    assert "sudah usang" in stale[0].text  # the card from before the correction is out of date

    bye, menu = await siti.press("Selesai")
    assert "datasaya" in bye.text and "Apa yang ingin Anda lakukan?" in menu.text
    assert "Data saya" in siti.buttons(menu)
    assert [(r.kind, r.status) for r in await office.requests()] == [
        ("access", "done"),
        ("correction", "done"),
        ("correction", "done"),
        ("correction", "done"),
    ]


async def test_wrong_digits_three_times_lock_the_door_for_half_an_hour(office: RightsOffice) -> None:
    siti = office.person(SITI, "Siti")
    await own_report(office, siti)
    await siti.type("/datasaya")
    await siti.type("0000")
    await siti.type("1111")
    [locked, menu] = await siti.type("2222")
    assert "coba lagi dalam 30 menit" in locked.text and "Apa yang ingin Anda lakukan?" in menu.text
    [still, _menu] = await siti.type("/datasaya")
    assert "coba lagi dalam" in still.text  # starting again does not reset the count
    office.clock.advance(minutes=31)
    held, _actions = await verified(siti)
    assert "Siti Aminah" in held.text
    await siti.press("Selesai")
    await siti.type("/datasaya")
    [miss] = await siti.type("0000")
    office.clock.advance(minutes=31)  # a miss long ago does not count towards today's three
    await siti.type("/datasaya")
    [miss] = await siti.type("1111")
    assert "2 kali lagi" in miss.text


async def test_a_chat_sees_only_its_own_data(office: RightsOffice) -> None:
    siti = office.person(SITI, "Siti")
    number = await own_report(office, siti)
    tono = office.person(TONO, "Tono")
    await tono.type("/start")
    [nothing, menu] = await tono.type("/datasaya")
    assert "belum pernah mengirim laporan dari obrolan ini" in nothing.text
    assert number not in nothing.text and "Siti" not in nothing.text
    # Tono files his own report with the same phone number: still only his own is shown.
    tono_number = NUMBER.search(await file_complaint(tono)).group(0)
    held, _ = await verified(tono)
    assert tono_number in held.text and number not in held.text and "Siti Aminah" not in held.text


async def test_erasure_removes_a_closed_cases_personal_data_and_photo_files(office: RightsOffice) -> None:
    budi = await office.hire("Budi", BUDI)
    siti = office.person(SITI, "Siti")
    number = NUMBER.search(await file_complaint(siti, photo=jpeg())).group(0)
    await budi.catch_up()
    await budi.press("Terima", card_of(budi, number))
    await budi.press("Selesai", card_of(budi, number))
    await budi.type("Mbah Sarinah sudah diantar ke panti.")
    await siti.catch_up()
    ticket = await office.ticket(number)
    [photo] = await office.db.run(lambda s: list(s.execute(select(Attachment)).scalars()))
    photo_file = office.settings.attachments_dir / photo.path
    assert photo_file.exists() and ticket.person_name == "Mbah Sarinah"

    held, actions = await verified(siti)
    assert "Mbah Sarinah" in held.text and "• Foto/dokumen: 1" in held.text
    [confirm] = await siti.press("Hapus data")
    assert "Hapus data pribadi Anda?" in confirm.text
    [received, menu] = await siti.press("Ya, lanjutkan")
    assert f"Data pribadi di laporan {number} sudah dihapus" in received.text

    erased = await office.ticket(number)
    assert erased.number == number and erased.category == "lansia_telantar" and erased.status == "resolved"
    assert erased.district_code == "34.71.04" and erased.person_age == 80  # statistics, about nobody
    assert (erased.person_name, erased.address, erased.reporter_phone, erased.description) == (None,) * 4
    assert (erased.latitude, erased.longitude, erased.resolution) == (None, None, None)
    assert erased.anonymised_reason == "erase"
    assert await office.db.run(lambda s: list(s.execute(select(Attachment)).scalars())) == []
    assert not photo_file.exists()
    events = await office.events(number)
    assert "Mbah Sarinah sudah diantar" not in str([e.data for e in events])
    audited = await office.db.run(
        lambda s: list(s.execute(select(AuditEntry.action).where(AuditEntry.subject == number)).scalars())
    )
    assert audited.count("ticket.anonymised") == 1
    told = await office.db.run(
        lambda s: [
            m.payload for m in s.execute(select(OutboxMessage).where(OutboxMessage.chat_id == str(SITI))).scalars()
        ]
    )
    assert not [p for p in told if "diantar ke panti" in str(p)]  # nor in what she was sent, as the console shows it
    [request] = [r for r in await office.requests() if r.kind == "erase"]
    assert request.status == "done" and request.ticket_ids == [erased.id]

    # Nothing left to check the digits against: the chat alone, and the erased report shown as such.
    [held, actions] = await siti.type("/datasaya")
    assert f"🎫 {number}" in held.text and "Data pribadinya sudah dihapus" in held.text


async def test_withdrawal_waits_for_an_open_case_and_is_chased_then_finished(office: RightsOffice) -> None:
    budi = await office.hire("Budi", BUDI)
    sri = await office.hire("Sri", SRI, role="supervisor")
    siti = office.person(SITI, "Siti")
    number = await own_report(office, siti)
    await budi.catch_up()

    await verified(siti)
    [confirm] = await siti.press("Cabut persetujuan")
    assert f"Laporan yang masih ditangani ({number})" in confirm.text
    [received, _menu] = await siti.press("Ya, lanjutkan")
    assert "Persetujuan Anda sudah dicabut" in received.text and "Kamis, 26 November 2026" in received.text
    [told] = await budi.catch_up()
    assert f"{number}: warga mencabut persetujuan" in told.text and NIK not in told.text
    [card] = await budi.type(f"/ticket {number}")
    assert "🔒 Warga mencabut persetujuan (UU 27/2022)" in card.text and "Kamis, 26 November 2026" in card.text
    contact = await office.db.run(
        lambda s: s.execute(select(Contact).where(Contact.external_id == str(SITI))).scalar_one()
    )
    assert contact.consent_version is None and contact.consent_at is None
    [request] = [r for r in await office.requests() if r.kind == "withdraw"]
    assert request.status == "open" and request.due_at - request.received_at == timedelta(hours=72)
    assert request.detail["consent"]["version"] == "2026-11"

    digest = await office.digest_for(SRI)
    assert "🔒 Permintaan data warga (UU 27/2022, batas 3×24 jam): 1" in digest
    assert f"• {number} · cabut persetujuan · batas Kamis, 26 November 2026" in digest

    office.clock.advance(hours=49)
    await office.scheduler.tick()
    [reminder] = about_data(await budi.catch_up())  # besides the case's own service-standard reminders
    assert f"untuk {number} jatuh tempo Kamis, 26 November 2026" in reminder.text
    [digest] = [m for m in await sri.catch_up() if m.text.startswith("📋 Ringkasan harian")]  # the 07:00 digest
    assert f"• {number} · cabut persetujuan · batas Kamis, 26 November 2026" in digest.text
    await office.scheduler.tick()
    assert about_data(await budi.catch_up()) == [] and about_data(await sri.catch_up()) == []  # once

    office.clock.advance(hours=24)
    await office.scheduler.tick()
    [overdue] = about_data(await sri.catch_up())
    assert f"untuk {number} melewati batas 3×24 jam" in overdue.text and "petugas: Budi" in overdue.text
    assert "⏰ LEWAT BATAS" in await office.digest_for(SRI)

    await budi.press("Terima", card_of(budi, number))
    await budi.press("Selesai", card_of(budi, number))
    await budi.type("Bantuan makan sudah diatur dengan pendamping.")
    await siti.catch_up()
    await office.scheduler.tick()
    [finished] = await siti.catch_up()
    assert f"data pribadi di laporan {number} sudah dihapus" in finished.text
    ticket = await office.ticket(number)
    assert ticket.person_nik is None and ticket.person_name is None and ticket.anonymised_reason == "withdraw"
    [request] = [r for r in await office.requests() if r.kind == "withdraw"]
    assert request.status == "done"
    assert "Permintaan data warga" not in await office.digest_for(SRI)

    # Her next report asks for consent again.
    await siti.type("/start")
    [consent] = await siti.press("Pengaduan")
    assert "Setuju" in siti.buttons(consent)


async def test_on_the_web_chat_a_citizen_sees_her_data_and_has_it_erased(settings: Settings) -> None:
    """The same rights on the web chat, whose page shows only the newest message's buttons."""
    async with TestServer(create_app(settings, clock=running_clock())) as server:
        client = TestClient(server)
        await client.start_server()
        siti = WebCitizen(client)
        await siti.open()
        number = NUMBER.search(await siti.file_complaint(name=NAME, nik=NIK)).group(0)
        [ask] = await siti.type("/datasaya")
        assert "4 angka terakhir" in ask["text"]
        [wrong] = await siti.type("9999")
        assert "tidak cocok" in wrong["text"]
        held, actions = await siti.type("0001")
        assert number in held["text"] and "3471********0001" in held["text"] and NIK not in held["text"]
        assert [o["value"] for o in actions["options"]] == [
            "rights:correct",
            "rights:withdraw",
            "rights:erase",
            "rights:done",
        ]
        [confirm] = await siti.press("rights:erase")
        assert "Hapus data pribadi Anda?" in confirm["text"]
        received, _menu = await siti.press("rights:yes")
        assert "Permintaan penghapusan Anda sudah kami terima" in received["text"]
        assert f"Laporan {number} masih ditangani" in received["text"]  # nobody has closed it yet
        db = server.app[DATABASE]
        ticket = await db.run(lambda s: s.execute(select(Ticket).where(Ticket.number == number)).scalar_one())
        assert ticket.person_nik == NIK  # an open case keeps what the public service needs
        [request] = await db.run(
            lambda s: list(s.execute(select(DataRightsRequest).where(DataRightsRequest.kind == "erase")).scalars())
        )
        assert request.status == "open" and request.ticket_ids == [ticket.id]
        await client.close()
