"""WhatsApp end to end: the real app behind its webhook, against the fake Graph API, on both
databases. Citizens file, answer officers and rate the service; officers work tickets with
the same actions as on Telegram; outside the 24-hour window messages go out as templates."""

from __future__ import annotations

import asyncio
import io
import os
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, web
from PIL import Image
from sqlalchemy import func, select

from bot.app import DATABASE, create_app
from bot.channels.whatsapp import image_for_whatsapp
from bot.settings import Settings
from storage.db import Database
from storage.models import Attachment, Contact, InboundMessage, OutboxMessage, Ticket
from tests.bot.test_telegram import free_port
from tests.fakes.graph_api import FakeGraphAPI
from tests.support.clock import MovableClock
from tests.support.complaint import file_complaint
from tests.support.office import NUMBER, UMBULHARJO
from tests.support.webchat import jpeg
from tests.support.whatsapp import WhatsAppPerson
from workflows import audit
from workflows import staff as records
from workflows.flowbook import load_flowbook

SITI, BUDI, RINA = "6281234567890", "6281300000001", "6285700000002"
VERIFY = "verify-me"


class WhatsAppOffice:
    """The app under test with WhatsApp on, the fake Graph API, and a clock both share."""

    def __init__(self, fake: FakeGraphAPI, db: Database, clock: MovableClock, url: str) -> None:
        self.fake, self.db, self.clock, self.url = fake, db, clock, url

    def person(self, wa_id: str, name: str = "Siti") -> WhatsAppPerson:
        return WhatsAppPerson(self.fake, self.db, wa_id, name)

    async def hire(self, name: str, number: str) -> WhatsAppPerson:
        """An officer linked by phone number, typed the way people write it."""
        book = load_flowbook()

        def add(session: Any) -> None:
            scope = records.check_scope(book, role="officer", team=None, districts=(UMBULHARJO,), categories=())
            records.add_staff(
                session,
                book=book,
                name=name,
                scope=scope,
                telegram_user_id=None,
                whatsapp_number="0" + number[2:],
                language="id",
                by=audit.CLI,
                now=self.clock(),
            )

        await self.db.run(add)
        member = self.person(number, name)
        [help_text] = await member.type("halo")
        assert "Perintah petugas" in help_text.text
        return member

    async def ticket(self, number: str) -> Ticket:
        return await self.db.run(lambda s: s.execute(select(Ticket).where(Ticket.number == number)).scalars().one())

    async def outbox(self, wa_id: str) -> list[OutboxMessage]:
        return await self.db.run(
            lambda s: list(
                s.execute(
                    select(OutboxMessage)
                    .where(OutboxMessage.channel == "whatsapp", OutboxMessage.chat_id == wa_id)
                    .order_by(OutboxMessage.id)
                ).scalars()
            )
        )


def register_templates(fake: FakeGraphAPI) -> None:
    """The templates of our packaged whatsapp_templates.yaml, as approved in WhatsApp Manager."""
    for language, buttons in (("id", ["Beri nilai", "Belum selesai"]), ("en", ["Rate service", "Not resolved"])):
        fake.add_template("satupintu_kabar", language, 1)
        fake.add_template("satupintu_pertanyaan", language, 2)
        fake.add_template("satupintu_selesai", language, 2, buttons)
        fake.add_template("satupintu_survei", language, 2, buttons)


@pytest.fixture
async def office(settings: Settings) -> AsyncIterator[WhatsAppOffice]:
    clock = MovableClock()
    skew = [0.0]  # seconds WhatsApp's clock runs ahead of ours (to close its window before ours)
    fake = FakeGraphAPI(clock=lambda: clock().timestamp() + skew[0])
    register_templates(fake)
    await fake.start()
    port = free_port()
    app = create_app(
        replace(
            settings,
            whatsapp_access_token=fake.access_token,
            whatsapp_phone_number_id=fake.phone_number_id,
            whatsapp_app_secret=fake.app_secret,
            whatsapp_verify_token=VERIFY,
            whatsapp_api_base_url=fake.api_base_url,
            whatsapp_rate_per_chat=0.0,
        ),
        clock=clock,
    )
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    url = f"http://127.0.0.1:{port}/whatsapp/webhook"
    fake.webhook_url = url
    wa = WhatsAppOffice(fake, app[DATABASE], clock, url)
    wa.skew = skew  # type: ignore[attr-defined]
    yield wa
    await runner.cleanup()
    await fake.close()


# ---------------------------------------------------------------------- the webhook's door
async def test_the_subscription_handshake_answers_only_the_verify_token(office: WhatsAppOffice) -> None:
    async with ClientSession() as http:
        ok = {"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"}
        async with http.get(office.url, params=ok) as response:
            assert (response.status, await response.text()) == (200, "1158201444")
        for wrong in ({**ok, "hub.verify_token": "guess"}, {**ok, "hub.mode": "unsubscribe"}, {}):
            async with http.get(office.url, params=wrong) as response:
                assert response.status == 403


async def test_a_missing_or_wrong_signature_is_refused_and_nothing_is_processed(office: WhatsAppOffice) -> None:
    envelope = office.fake.text(SITI, "halo")
    assert await office.fake.deliver(envelope, signature="missing") == 401
    assert await office.fake.deliver(envelope, signature="wrong") == 403
    seen = await office.db.run(
        lambda s: (
            s.scalar(select(func.count()).select_from(InboundMessage)),
            s.scalar(select(func.count()).select_from(Contact)),
        )
    )
    assert seen == (0, 0) and office.fake.sent(SITI) == []


async def test_a_redelivered_message_is_answered_once(office: WhatsAppOffice) -> None:
    siti = office.person(SITI)
    envelope = office.fake.text(SITI, "halo")
    first = await siti.deliver(envelope)
    again = await siti.deliver(envelope)  # Meta retries a delivery it thinks failed
    assert [m.text.split("\n")[0] for m in first] == ["Apa yang ingin Anda lakukan?"]
    assert again == [] and len(office.fake.sent(SITI)) == 1


# ---------------------------------------------------------------------- a citizen's complaint
async def test_a_whole_complaint_with_a_photo_and_a_location(office: WhatsAppOffice) -> None:
    siti = office.person(SITI)
    confirmation = await file_complaint(siti, photo=jpeg(), greeting="halo")
    number = NUMBER.search(confirmation).group(0)
    assert "Selasa, 24 November 2026" in confirmation
    ticket = await office.ticket(number)
    assert (ticket.channel, ticket.category, ticket.village_code) == ("whatsapp", "lansia_telantar", "34.71.04.1001")
    assert (ticket.latitude, ticket.longitude) == (-7.8305, 110.392)
    [attachment] = await office.db.run(lambda s: list(s.execute(select(Attachment)).scalars()))
    assert attachment.ticket_id == ticket.id and attachment.width == 320
    contact = await office.db.run(
        lambda s: s.execute(select(Contact).where(Contact.external_id == SITI)).scalars().one()
    )
    assert (contact.channel, contact.display_name) == ("whatsapp", "Siti")
    await siti.type("status")
    assert number in siti.messages[-2].text
    assert all(row.status == "sent" and row.external_id.startswith("wamid.") for row in await office.outbox(SITI))


async def test_what_whatsapp_cannot_answer_gets_a_kind_reprompt(office: WhatsAppOffice) -> None:
    siti = office.person(SITI)
    await siti.type("halo")
    await siti.press("Pengaduan")
    for kind in ("sticker", "audio", "video", "reaction"):
        replies = await siti.deliver(office.fake.unsupported(SITI, kind))
        assert replies, kind
        assert "Setuju" in siti.choices(), kind  # the consent question again, with its buttons
    await siti.press("Setuju")
    replies = await siti.deliver(office.fake.contacts(SITI, "+62 811 0000 111", "Adik"))
    assert replies and "Lansia" in siti.choices()  # still the category question, nothing lost


async def walk_to_address(siti: WhatsAppPerson) -> None:
    """A quick complaint about a neighbour (no name, NIK or age), up to the address question."""
    await siti.type("halo")
    for title in (
        "Pengaduan",
        "Setuju",
        "Lansia",
        "Lansia telantar",
        "Orang lain",
        "Lewati",
        "Tidak tahu",
        "Lewati",
        "Lewati",
        "Umbulharjo",
        "Giwangan",
    ):
        await siti.press(title)


async def walk_to_photos(siti: WhatsAppPerson) -> None:
    """On to the photo question (no location)."""
    await walk_to_address(siti)
    await siti.type("Jl. Imogiri Timur RT 03")
    await siti.press("Lewati")


async def walk_to_phone(siti: WhatsAppPerson) -> list[Any]:
    """On to the phone question; returns it."""
    await walk_to_photos(siti)
    await siti.press("Lewati")  # no photo
    return await siti.type("Nenek tinggal sendiri dan tidak ada yang merawat.")


async def test_a_contact_card_answers_the_phone_question(office: WhatsAppOffice) -> None:
    siti = office.person(SITI)
    await walk_to_phone(siti)
    replies = await siti.deliver(office.fake.contacts(SITI, "+62 811-0000-111", "Adik"))
    assert "Periksa lagi" in replies[-1].text and "+628110000111" in replies[-1].text


async def test_the_phone_question_offers_the_number_she_writes_from(office: WhatsAppOffice) -> None:
    siti = office.person(SITI)
    [question] = await walk_to_phone(siti)
    assert "+6281234567890" in question.text and "Nomor ini" in siti.choices(question)
    replies = await siti.press("Nomor ini")
    assert "Periksa lagi" in replies[-1].text and "+6281234567890" in replies[-1].text


# ---------------------------------------------------------------------- officers, the window and templates
async def test_an_officer_on_whatsapp_and_a_citizen_outside_the_window(office: WhatsAppOffice) -> None:
    budi = await office.hire("Budi Santoso", BUDI)
    siti = office.person(SITI)
    number = NUMBER.search(await file_complaint(siti, photo=jpeg(), greeting="halo")).group(0)

    [card, photo] = await budi.catch_up()
    assert f"🎫 {number}" in card.text and card.payload["interactive"]["type"] == "list"
    assert photo.type == "image" and photo.payload["image"]["id"]  # uploaded, then sent by media id
    await budi.press("Terima", card)
    [accepted] = await siti.catch_up()
    assert accepted.type == "text" and "sudah menerima" in accepted.text

    await budi.press("Tanya warga")
    await budi.type("Apakah Mbah Sarinah punya KTP?")
    [question] = await siti.catch_up()
    assert "Apakah Mbah Sarinah punya KTP?" in question.text
    [thanks] = await siti.type("Tidak punya, hilang waktu banjir.")
    assert "sudah diteruskan" in thanks.text
    relayed = await budi.catch_up()
    assert any("Tidak punya, hilang waktu banjir." in (m.text or "") for m in relayed)

    office.clock.advance(hours=25)  # Siti has not written for a day: WhatsApp allows templates only
    await budi.type(f"/ticket {number}")  # Budi writes, so his own window is open again
    await budi.press("Selesai")
    await budi.type("KTP sudah jadi; Mbah Sarinah didaftarkan PBI-JK.")
    [resolved] = await siti.catch_up()
    assert resolved.type == "template" and resolved.text.startswith(f"template:satupintu_selesai {number} | ")
    assert "KTP sudah jadi" in resolved.text
    sent = (await office.outbox(SITI))[-1]
    assert sent.sent_as == "template:satupintu_selesai" and sent.status == "sent"

    # She rates the service with the template's quick replies, then the survey goes on as usual.
    replies = await siti.press("Beri nilai", resolved)
    assert replies and "cepat" in replies[-1].text.lower()
    for answer in ("4 Sangat cepat", "4 Sangat sopan", "3 Baik"):
        await siti.press(answer)
    replies = await siti.type("Petugasnya ramah, terima kasih.")
    assert "Terima kasih atas penilaian Anda" in replies[0].text
    assert (await office.ticket(number)).status == "closed"


async def test_a_pdf_sent_on_whatsapp_answers_the_officers_question(office: WhatsAppOffice) -> None:
    budi = await office.hire("Budi Santoso", BUDI)
    siti = office.person(SITI)
    number = NUMBER.search(await file_complaint(siti, greeting="halo")).group(0)
    [card] = await budi.catch_up()
    await budi.press("Terima", card)
    await budi.press("Tanya warga")
    await budi.type("Mohon kirim KK Mbah Sarinah.")
    await siti.catch_up()
    kk = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
    [thanks] = await siti.deliver(office.fake.document(SITI, kk, "KK.pdf", "application/pdf"))
    assert "sudah diteruskan" in thanks.text
    ticket = await office.ticket(number)
    kept = await office.db.run(
        lambda s: s.execute(select(Attachment).where(Attachment.ticket_id == ticket.id)).scalars().all()
    )
    assert [(a.content_type, a.size) for a in kept] == [("application/pdf", len(kk))]
    relayed = await budi.catch_up()
    assert any("dokumen PDF" in (m.text or "") and number in (m.text or "") for m in relayed)


LONG_QUESTION = "Mohon ceritakan " + "keadaan Mbah Sarinah sehari-hari, " * 40  # longer than a template carries


async def officer_asks_a_day_later(office: WhatsAppOffice) -> tuple[WhatsAppPerson, WhatsAppPerson, str]:
    """Siti files, Budi accepts; 30 hours later (her window closed) Budi is about to type a
    question for her. Returns Budi, Siti and the ticket number."""
    budi = await office.hire("Budi Santoso", BUDI)
    siti = office.person(SITI)
    number = NUMBER.search(await file_complaint(siti, greeting="halo")).group(0)
    [card] = await budi.catch_up()
    await budi.press("Terima", card)
    await siti.catch_up()
    office.clock.advance(hours=30)
    await budi.type(f"/ticket {number}")
    await budi.press("Tanya warga")
    return budi, siti, number


async def test_what_a_template_cannot_carry_waits_for_the_citizens_next_message(office: WhatsAppOffice) -> None:
    budi, siti, number = await officer_asks_a_day_later(office)
    await budi.type(LONG_QUESTION)
    [notice] = await siti.catch_up()
    assert notice.text.startswith(f"template:satupintu_pertanyaan {number} | ") and notice.text.endswith("…")
    held = [row for row in await office.outbox(SITI) if row.status == "held"]
    assert len(held) == 1
    replies = await siti.type("halo")  # her message opens the window: the whole question comes first
    assert LONG_QUESTION.strip() in replies[0].text.replace("\n", " ")
    assert [row.status for row in await office.outbox(SITI) if row.id == held[0].id] == ["sent"]


async def test_whatsapp_closing_the_window_first_turns_the_message_into_a_template(office: WhatsAppOffice) -> None:
    budi = await office.hire("Budi Santoso", BUDI)
    siti = office.person(SITI)
    number = NUMBER.search(await file_complaint(siti, greeting="halo")).group(0)
    [card] = await budi.catch_up()
    office.skew[0] = 25 * 3600  # type: ignore[attr-defined]  # by WhatsApp's clock Siti's window has closed; by ours not yet
    await budi.type("halo")  # Budi's window stays open on both clocks
    await budi.press("Terima", card)
    deadline = time.monotonic() + 10
    while not [m for m in office.fake.sent(SITI) if m.type == "template"]:
        assert time.monotonic() < deadline, [m.text for m in office.fake.sent(SITI)]
        await asyncio.sleep(0.05)
    await siti.catch_up()
    rows = [row for row in await office.outbox(SITI) if "sudah menerima" in row.payload["text"]]
    assert [(row.delivery, row.sent_as) for row in rows] == [("failed", None), (None, "template:satupintu_kabar")]
    assert rows[0].delivery_error.startswith("131047")
    assert office.fake.sent(SITI)[-1].text.startswith("template:satupintu_kabar Kabar tentang laporan")
    assert number in office.fake.sent(SITI)[-1].text


async def test_rate_limit_answers_are_waited_out_and_nothing_is_lost_or_doubled(office: WhatsAppOffice) -> None:
    siti = office.person(SITI)
    office.fake.fail_next(130429, to=SITI)
    started = time.monotonic()
    replies = await siti.type("halo")
    assert time.monotonic() - started >= 1.5
    assert [m.text.split("\n")[0] for m in replies] == ["Apa yang ingin Anda lakukan?"]
    office.fake.fail_next(131056, to=SITI)
    replies = await siti.press("Pengaduan")
    assert len(replies) == 1 and "Sebelum mulai" in replies[0].text


async def test_delivery_reports_are_recorded_in_order(office: WhatsAppOffice) -> None:
    siti = office.person(SITI)
    await siti.type("halo")
    last = siti.last
    for status in ("read", "delivered"):  # a late "delivered" must not undo "read"
        assert await office.fake.deliver(office.fake.statuses(last.id, status, recipient_id=SITI)) == 200
    [row] = [r for r in await office.outbox(SITI) if r.external_id == last.id]
    assert row.delivery == "read" and row.delivery_at is not None


async def test_a_photo_whatsapp_no_longer_has_is_asked_for_again(office: WhatsAppOffice) -> None:
    siti = office.person(SITI)
    await walk_to_photos(siti)
    envelope = office.fake.image(SITI, jpeg())
    envelope["entry"][0]["changes"][0]["value"]["messages"][0]["image"]["id"] = "404404404"  # gone from WhatsApp
    replies = await siti.deliver(envelope)
    assert "tidak bisa dibuka" in replies[0].text and "Lewati" in siti.choices()
    replies = await siti.photo(jpeg())
    assert "Foto diterima" in replies[0].text


async def test_a_refused_template_leaves_the_message_waiting_for_the_citizen(office: WhatsAppOffice) -> None:
    budi = await office.hire("Budi Santoso", BUDI)
    siti = office.person(SITI)
    await file_complaint(siti, greeting="halo")
    [card] = await budi.catch_up()
    office.clock.advance(hours=26)
    await budi.type("halo")
    office.fake.fail_next(132001, to=SITI)  # the office never got its template approved
    await budi.press("Terima", card)
    await siti.catch_up()
    [row] = [row for row in await office.outbox(SITI) if "sudah menerima" in row.payload["text"]]
    assert row.status == "held" and row.last_error.startswith("template satupintu_kabar: 132001")
    replies = await siti.type("halo")
    assert "sudah menerima" in replies[0].text and "Apa yang ingin Anda lakukan?" in replies[-1].text
    [row] = [r for r in await office.outbox(SITI) if r.id == row.id]
    assert (row.status, row.sent_as) == ("sent", None)  # as itself, once she had written


async def test_reports_on_unknown_messages_are_ignored_but_a_failure_is_looked_for_again(
    office: WhatsAppOffice,
) -> None:
    started = time.monotonic()
    assert await office.fake.deliver(office.fake.statuses("wamid.elsewhere", "delivered", recipient_id=SITI)) == 200
    assert time.monotonic() - started < 1.0
    failed = [
        office.fake.statuses(f"wamid.elsewhere{n}", "failed", recipient_id=SITI, errors=[131047]) for n in range(3)
    ]
    envelope = failed[0]
    envelope["entry"][0]["changes"][0]["value"]["statuses"] += [
        f["entry"][0]["changes"][0]["value"]["statuses"][0] for f in failed[1:]
    ]
    started = time.monotonic()
    assert await office.fake.deliver(envelope) == 200  # looked for together for a moment, then let go
    assert 2.0 < time.monotonic() - started < 4.0


async def test_an_officer_who_has_not_written_today_gets_a_notice_then_the_card_and_photo_when_he_writes(
    office: WhatsAppOffice,
) -> None:
    budi = await office.hire("Budi Santoso", BUDI)
    office.clock.advance(hours=25)  # Budi's window has closed
    siti = office.person(SITI)
    number = NUMBER.search(await file_complaint(siti, photo=jpeg(), greeting="halo")).group(0)
    [notice] = await budi.catch_up()  # the photo is not worth a template of its own: it waits
    assert notice.type == "template" and notice.text.startswith("template:satupintu_kabar 🆕")
    assert [r.status for r in await office.outbox(BUDI)][-3:] == ["sent", "held", "held"]  # notice; card; photo
    card, photo, *_ = await budi.type("halo")
    assert f"🎫 {number}" in card.text and "Terima" in budi.choices(card) and photo.type == "image"


# ---------------------------------------------------------------------- edges found in review
async def test_a_message_in_several_requests_resumes_after_a_rate_limit_without_repeating(
    office: WhatsAppOffice,
) -> None:
    siti = office.person(SITI)
    await walk_to_address(siti)
    send, armed = office.fake._send, [True]

    async def limited_after_the_first_part(request: dict[str, Any]) -> Any:
        answer = await send(request)
        if armed[0] and request.get("to") == SITI:
            armed[0] = False
            office.fake.fail_next(131056, to=SITI)  # the pair rate limit hits the second request
        return answer

    office.fake._send = limited_after_the_first_part  # type: ignore[method-assign]
    replies = await siti.settle(await office.fake.send_text(SITI, "Jl. Imogiri Timur RT 03"), timeout=20)
    kinds = [m.payload["interactive"]["type"] for m in replies]
    assert kinds == ["location_request_message", "button"]


async def test_the_same_failure_reported_several_times_at_once_resends_once(office: WhatsAppOffice) -> None:
    siti = office.person(SITI)
    [menu] = await siti.type("halo")
    failed = office.fake.statuses(menu.id, "failed", recipient_id=SITI, errors=[130429])
    assert await asyncio.gather(*(office.fake.deliver(failed) for _ in range(4))) == [200] * 4
    await siti.catch_up()
    rows = [r for r in await office.outbox(SITI) if r.payload["text"] == menu.text]
    assert [(r.status, r.delivery) for r in rows] == [("sent", "failed"), ("sent", None)]


async def test_a_failed_notice_for_a_held_message_does_not_send_it_twice(office: WhatsAppOffice) -> None:
    budi, siti, _ = await officer_asks_a_day_later(office)
    await budi.type(LONG_QUESTION)
    [notice] = await siti.catch_up()
    assert (
        await office.fake.deliver(office.fake.statuses(notice.id, "failed", recipient_id=SITI, errors=[131056])) == 200
    )
    await siti.catch_up()
    replies = await siti.type("halo")
    assert sum(LONG_QUESTION.strip()[:60] in (m.text or "").replace("\n", " ") for m in replies) == 1


async def test_a_late_131047_does_not_undo_a_newer_message_from_the_citizen(office: WhatsAppOffice) -> None:
    budi = await office.hire("Budi Santoso", BUDI)
    siti = office.person(SITI)
    await file_complaint(siti, greeting="halo")
    [card] = await budi.catch_up()
    earlier = siti.last
    await siti.type("status")  # she writes: her window is open
    assert (
        await office.fake.deliver(office.fake.statuses(earlier.id, "failed", recipient_id=SITI, errors=[131047])) == 200
    )
    await siti.catch_up()
    await budi.press("Terima", card)
    [accepted] = await siti.catch_up()
    assert accepted.type == "text" and "sudah menerima" in accepted.text


async def test_a_citizen_writing_while_a_notice_goes_out_gets_the_whole_message_at_once(office: WhatsAppOffice) -> None:
    budi, siti, _ = await officer_asks_a_day_later(office)
    send, armed = office.fake._send, [True]

    async def she_writes_meanwhile(request: dict[str, Any]) -> Any:
        answer = await send(request)
        if armed[0] and request.get("type") == "template" and request.get("to") == SITI:
            armed[0] = False
            assert await office.fake.deliver(office.fake.text(SITI, "halo, ada kabar?")) == 200
        return answer

    office.fake._send = she_writes_meanwhile  # type: ignore[method-assign]
    await budi.type(LONG_QUESTION)
    await siti.catch_up()
    assert [r.id for r in await office.outbox(SITI) if r.status == "held"] == []
    assert any(LONG_QUESTION.strip()[:60] in (m.text or "").replace("\n", " ") for m in siti.messages)


async def test_a_large_or_webp_photo_is_sent_as_a_jpeg_whatsapp_takes(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    Image.frombytes("RGB", (1400, 1400), os.urandom(1400 * 1400 * 3)).save(big, "PNG")
    webp = tmp_path / "small.webp"
    Image.new("RGB", (64, 48), (10, 120, 200)).save(webp, "WEBP")
    assert big.stat().st_size > 5 * 1024 * 1024
    for path in (big, webp):
        data, content_type = image_for_whatsapp(path)
        assert content_type == "image/jpeg" and len(data) <= 5 * 1024 * 1024
        assert Image.open(io.BytesIO(data)).format == "JPEG"
    small = tmp_path / "small.png"
    Image.new("RGB", (64, 48)).save(small, "PNG")
    assert image_for_whatsapp(small) == (small.read_bytes(), "image/png")  # already fine: as it is


# ---------------------------------------------------------------------- the citizen's data
async def test_my_data_on_whatsapp_is_shown_after_the_last_digits_of_her_number(office: WhatsAppOffice) -> None:
    """UU 27/2022's rights through the Cloud API: the actions come as a list of four rows."""
    siti = office.person(SITI)
    await walk_to_phone(siti)
    await siti.press("Nomor ini")
    confirmation = (await siti.press("Kirim"))[0].text
    number = NUMBER.search(confirmation).group(0)
    [ask] = await siti.type("datasaya")
    assert "4 angka terakhir" in ask.text
    held, actions = await siti.type("7890")
    assert f"🎫 {number}" in held.text and "+6281234567890" not in held.text and "***********890" in held.text
    assert list(siti.choices(actions)) == ["Perbaiki", "Cabut persetujuan", "Hapus data", "Selesai"]
    bye, menu = await siti.press("Selesai")
    assert "datasaya" in bye.text and "Data saya" in siti.choices(menu)
