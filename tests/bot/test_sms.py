"""SMS end to end: the real app (its console and its SMS channel) against a local fake gateway
(tests/fakes/sms_gateway.py) that holds every SMS to one SMS's size, on both databases. A
walk-in with a basic phone, filed at the desk with news by SMS, gets the ticket by SMS,
answers an officer's question by SMS and rates the service by replying with a number."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from bot.app import SENDER
from bot.channels import registry
from bot.channels.sms import INBOUND_PATH, RETRY_WAIT
from bot.channels.sms_text import parts, plain
from bot.settings import Settings
from storage import outbox
from storage.models import Contact, InboundMessage, OutboxMessage, Ticket, TicketEvent
from tests.console.test_case import _act, _page
from tests.console.test_intake import RECEIPT, blank_form, complaint, send
from tests.fakes.sms_gateway import FakeSmsGateway, sms_size
from tests.support.clock import MovableClock
from tests.support.console import ConsoleOffice, SignedInClient, console_office

SITI = "+6281234567890"  # typed at the desk as 0812 3456 7890
STRANGER = "+6285700000002"
WAITING = (outbox.PENDING, outbox.SENDING)


def sms_settings(settings: Settings, fake: FakeSmsGateway, body: str) -> Settings:
    """The channel's settings as the environment gives them, the sender's limits off."""
    env = {"SMS_GATEWAY": fake.kind, "SMS_GATEWAY_URL": fake.url, "SMS_WEBHOOK_SECRET": fake.secret}
    if fake.kind == "android":
        env |= {"SMS_GATEWAY_USERNAME": fake.username, "SMS_GATEWAY_PASSWORD": fake.password}
    else:
        env |= {"SMS_GATEWAY_TOKEN": fake.token, "SMS_GATEWAY_FORMAT": body}
    extra = registry.load_settings({**env, "SMS_RATE_PER_CHAT": "0", "SMS_RATE_GLOBAL": "0"}).extra
    return replace(settings, extra=extra)


@asynccontextmanager
async def sms_office(
    settings: Settings, kind: str = "android", body: str = "json"
) -> AsyncIterator[tuple[ConsoleOffice, FakeSmsGateway]]:
    """The app with SMS through the fake gateway of `kind` (the generic one posted `body`)."""
    async with (
        FakeSmsGateway(kind) as fake,  # type: ignore[arg-type]
        console_office(sms_settings(settings, fake, body), MovableClock()) as office,
    ):
        fake.webhook_url = str(office.client.make_url(INBOUND_PATH))
        yield office, fake


async def settled(office: ConsoleOffice, timeout: float = 15.0) -> None:
    """Everything queued so far went out through the sender (the console's rows are found by
    its poll, within a second)."""

    def waiting(session: Any) -> int:
        queued = select(func.count()).where(OutboxMessage.channel == "sms", OutboxMessage.status.in_(WAITING))
        return session.execute(queued).scalar_one()

    deadline = time.monotonic() + timeout
    while await office.db.run(waiting):
        assert time.monotonic() < deadline, "the sender did not send everything queued"
        await asyncio.sleep(0.05)
    await office.client.server.app[SENDER].idle()


async def reply(office: ConsoleOffice, fake: FakeSmsGateway, number: str, text: str) -> str:
    """Text the office from `number`; what came back, its parts joined."""
    before = len(fake.to(number))
    await fake.receive(number, text)
    await settled(office)
    return "\n".join(sms.text for sms in fake.to(number)[before:])


async def count(office: ConsoleOffice, model: Any) -> int:
    return await office.db.run(lambda s: s.execute(select(func.count()).select_from(model)).scalar_one())


async def file_walk_in(office: ConsoleOffice) -> tuple[str, SignedInClient]:
    """Budi, the district's officer, files Siti's report at the desk, news by SMS; the
    ticket's number, and Budi signed in."""
    member = await office.signed_in(await office.hire("Budi"))
    page = await member.get("/console/intake")
    assert "SMS ke nomor HP warga" in await page.text()  # offered: a gateway is set
    answer = await send(member, complaint(office, updates_via="sms", reporter_phone="0812 3456 7890"))
    assert answer.status == 303, await answer.text()
    number = RECEIPT.match(answer.headers["Location"]).group(1)  # type: ignore[union-attr]
    receipt = await member.get(answer.headers["Location"])
    assert f"SMS ke nomor {SITI}" in await receipt.text()
    return number, member


@pytest.mark.parametrize(("kind", "body"), [("android", "json"), ("generic", "json"), ("generic", "form")])
async def test_a_walk_in_gets_news_answers_a_question_and_rates_the_service_by_sms(
    settings: Settings, kind: str, body: str
) -> None:
    async with sms_office(settings, kind, body) as (office, fake):
        number, budi = await file_walk_in(office)
        [ticket] = await office.db.run(lambda s: s.execute(select(Ticket)).scalars().all())
        assert ticket.channel == "sms"
        created = await fake.wait_for(SITI, 1)
        assert number in created[0].text and created[0].encoding == "gsm"

        assert (await _act(budi, number, "accept")).status == 303
        asked_at = len(fake.to(SITI))
        assert (await _act(budi, number, "ask_citizen", question="Apakah Mbah Sarinah punya KTP?")).status == 303
        await settled(office)
        question = "".join(sms.text for sms in fake.to(SITI)[asked_at:])  # one message, in as many parts as it takes
        assert "Apakah Mbah Sarinah punya KTP?" in question and "untuk" not in question  # no choices: free text

        # She answers by SMS from her phone: the answer reaches the officer, and she is thanked.
        await fake.receive("081234567890", "Tidak punya, hilang waktu banjir.")  # as her phone shows its number
        await settled(office)
        thanks = fake.to(SITI)[-1].text
        assert "sudah diteruskan ke petugas" in thanks
        ticket = await office.db.run(lambda s: s.get(Ticket, ticket.id))
        assert ticket.status != "waiting_citizen"
        page = await _page(budi, number)
        assert "Tidak punya, hilang waktu banjir." in page

        # The resolution's buttons come as numbers; "1" is "Beri nilai", whatever step she is on.
        resolved = "KTP sudah jadi; Mbah Sarinah didaftarkan PBI-JK."
        before = len(fake.to(SITI))
        assert (await _act(budi, number, "resolve", resolution=resolved)).status == 303
        await settled(office)
        notice = "".join(sms.text for sms in fake.to(SITI)[before:])
        assert "KTP sudah jadi" in notice and "1 untuk Beri nilai, 2 untuk Belum selesai" in notice
        before = len(fake.to(SITI))
        await fake.receive(SITI, "1")
        await settled(office)
        survey = " ".join(sms.text for sms in fake.to(SITI)[before:])
        assert "cepat" in survey.lower() and "Balas" in survey
        await budi.close()

        # Every SMS fit one SMS, and none was refused.
        assert fake.refused == [] and {sms.posted_as for sms in fake.sent} == {body}
        assert all(sms_size(sms.text)[1] <= (160 if sms.encoding == "gsm" else 70) for sms in fake.sent)


async def test_a_reply_with_a_number_is_the_choice_it_names(settings: Settings) -> None:
    async with sms_office(settings) as (office, fake):
        menu = await reply(office, fake, STRANGER, "halo")
        assert "Balas dengan angka pilihan Anda:\n1 Pengaduan\n2 Permohonan\n3 Cek status\n4 Data saya" in menu
        consent = await reply(office, fake, STRANGER, "1")  # Pengaduan
        assert "1 untuk Setuju" in consent
        categories = await reply(office, fake, STRANGER, " 1. ")  # Setuju, as people type it
        assert "Balas dengan angka pilihan Anda:" in categories and "Lansia" in categories
        contact = await office.db.run(
            lambda s: s.execute(select(Contact).where(Contact.external_id == STRANGER)).scalar_one()
        )
        assert contact.channel == "sms" and contact.consent_at is not None and contact.phone == STRANGER


async def test_a_webhook_that_is_not_the_gateways_is_refused_and_nothing_is_stored(settings: Settings) -> None:
    async with sms_office(settings) as (office, fake):
        body = fake.webhook(STRANGER, "halo")
        assert await fake.post(body, fake.headers(body, key="kunci-yang-salah")) == 401
        assert await fake.post(body, {"Content-Type": "application/json"}) == 401  # unsigned
        old = time.time() - 3600  # a signed request captured an hour ago, replayed
        assert await fake.post(body, fake.headers(body, at=old)) == 401
        tampered = body.replace(b"halo", b"HALO")
        assert await fake.post(tampered, fake.headers(body)) == 401
        assert (await count(office, InboundMessage), await count(office, Contact)) == (0, 0)
        await settled(office)
        assert fake.sent == []
    async with sms_office(settings, "generic") as (office, fake):
        body = fake.webhook(STRANGER, "halo")
        assert await fake.post(body, fake.headers(body, key="kunci-yang-salah")) == 401
        assert await fake.post(body, fake.headers(body), url=f"{fake.webhook_url}/kunci-yang-salah") == 401
        assert (
            await fake.post(body, {"Content-Type": "application/json"}, url=f"{fake.webhook_url}/{fake.secret}") == 200
        )
        assert await count(office, InboundMessage) == 1  # the secret in the path, for gateways that set only a URL
        form = urlencode({"from": "085700000002", "message": "status", "received_at": "2026-12-03T10:00:00+07:00"})
        headers = {**fake.headers(b""), "Content-Type": "application/x-www-form-urlencoded"}
        assert await fake.post(form.encode(), headers) == 200  # a form, without an id: known by its time
        assert await fake.post(form.encode(), headers) == 200
        assert await count(office, InboundMessage) == 2


async def test_a_delivery_posted_twice_is_handled_once(settings: Settings) -> None:
    async with sms_office(settings) as (office, fake):
        number, budi = await file_walk_in(office)
        await _act(budi, number, "accept")
        await _act(budi, number, "ask_citizen", question="Berapa anak Mbah Sarinah?")
        await settled(office)
        body = await fake.receive(SITI, "3")  # a number, but the question offered no choices: her answer
        assert await fake.post(body, fake.headers(body)) == 200  # the gateway did not see our 200: again
        await settled(office)
        replies = await office.db.run(
            lambda s: s.execute(select(TicketEvent).where(TicketEvent.kind == "citizen_replied")).scalars().all()
        )
        assert len(replies) == 1 and replies[0].data["text"] == "3"
        thanks = [sms for sms in fake.to(SITI) if "sudah diteruskan" in sms.text]
        assert len(thanks) == 1
        await budi.close()


async def test_a_long_message_goes_as_numbered_parts_and_a_failed_part_is_not_sent_twice(settings: Settings) -> None:
    async with sms_office(settings) as (office, fake):
        number, budi = await file_walk_in(office)
        await fake.wait_for(SITI, 1)
        await _act(budi, number, "accept")
        await settled(office)
        before = len(fake.to(SITI))
        question = "Mohon ceritakan 🙏 " + "keadaan Mbah Sarinah sehari-hari, " * 12
        fake.fail_next(503, after=1)  # the phone's server is busy after the first part: wait, go on
        await _act(budi, number, "ask_citizen", question=question)
        while not fake.refused:
            await asyncio.sleep(0.05)
        office.clock.advance(seconds=RETRY_WAIT + 1)  # the wait the channel asked for
        first = (await fake.wait_for(SITI, before + 1))[before]
        total = int(first.text[3])
        new = (await fake.wait_for(SITI, before + total, timeout=RETRY_WAIT + 10))[before:]
        assert [sms.text[:5] for sms in new] == [f"({i}/{total})" for i in range(1, total + 1)]  # none twice
        assert all(sms.encoding == "gsm" for sms in new)  # the emoji left out, so it stays GSM-7
        said = " ".join(sms.text[6:] for sms in new)  # without the markers
        assert said.count("keadaan Mbah Sarinah") == 12 and "🙏" not in said
        await settled(office)
        assert len(fake.to(SITI)) == before + total
        await budi.close()


def test_text_is_made_plain_for_gsm_and_cut_to_the_size_of_one_sms() -> None:
    assert plain("✅ Laporan “SP-1” — diterima… ⭐⭐") == 'Laporan "SP-1" - diterima... **'
    assert plain("Pak Ā̈dì") == "Pak Adì"  # ì is in GSM-7, Ā is not: written as A
    short = parts("Halo")
    assert short == ["Halo"]
    gsm = parts("kata " * 100)
    assert len(gsm) == 4 and all(sms_size(p) == ("gsm", len(p)) and len(p) <= 160 for p in gsm)
    ucs = parts("王小明 " + "kata " * 30)  # a name in another script: UCS-2, 70 a part
    assert sms_size(ucs[0]) == ("ucs2", len(ucs[0])) and ucs[0].startswith("(1/") and all(len(p) <= 70 for p in ucs)
    headed = parts("Pertanyaan petugas:\n" + "kata " * 50)  # a short first line does not cost an SMS alone
    assert len(headed) == 2 and headed[0].startswith("(1/2) Pertanyaan petugas:\nkata") and len(headed[0]) > 150
    braces = parts("[x] " * 100)  # extension characters take two septets
    assert all(sms_size(p)[1] <= 160 for p in braces)


async def test_the_channel_is_off_without_a_gateway_and_refuses_half_settings(settings: Settings) -> None:
    app_settings = registry.load_settings({})
    assert "sms" not in [spec.name for spec in registry.switched_on(app_settings)]
    with pytest.raises(ValueError, match="SMS_GATEWAY_URL"):
        registry.load_settings({"SMS_GATEWAY": "android", "SMS_WEBHOOK_SECRET": "x"})
    with pytest.raises(ValueError, match="SMS_GATEWAY must be"):
        registry.load_settings({"SMS_GATEWAY": "pigeon"})
    async with console_office(settings, MovableClock()) as office:  # no gateway: no SMS way at the desk
        member = await office.signed_in(await office.hire("Fasilitator Desa"))
        assert "SMS ke nomor HP warga" not in await (await member.get("/console/intake")).text()
        refused = await send(member, complaint(office, updates_via="sms"), form=await blank_form(member))
        assert refused.status == 400
        await member.close()
    async with FakeSmsGateway() as fake:  # on, the default limits are slow, as a phone sends
        on = registry.load_settings(
            {
                "SMS_GATEWAY": "android",
                "SMS_GATEWAY_URL": fake.url,
                "SMS_GATEWAY_USERNAME": "u",
                "SMS_GATEWAY_PASSWORD": "p",
                "SMS_WEBHOOK_SECRET": "s",
            }
        )
        [spec] = [spec for spec in registry.switched_on(on) if spec.name == "sms"]
        limits = spec.limits(on)
        assert limits is not None and limits.overall is not None and limits.overall.per_second <= 0.2
