"""The web chat end to end through its HTTP API, on the real app and database."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.app import DATABASE, create_app
from bot.settings import Settings
from storage.models import Attachment, Ticket, TicketEvent
from tests.support.clock import running_clock
from tests.support.webchat import HEADERS, WebCitizen, jpeg

NUMBER = re.compile(r"SP-\d{4}-\d{5}")


@pytest.fixture
async def server(settings: Settings):
    app = create_app(settings, clock=running_clock())
    async with TestServer(app) as test_server:
        yield test_server


async def citizen(server: TestServer) -> WebCitizen:
    client = TestClient(server)
    await client.start_server()
    person = WebCitizen(client)
    await person.open()
    return person


async def query(server: TestServer, statement):  # type: ignore[no-untyped-def]
    db = server.app[DATABASE]
    return await db.run(lambda s: s.execute(statement).all())


async def test_a_complaint_with_photo_and_location_gets_a_ticket_number(server: TestServer, settings: Settings) -> None:
    person = await citizen(server)
    confirmation = await person.file_complaint(photo=jpeg())
    number = NUMBER.search(confirmation).group(0)
    assert number == "SP-2026-00001"
    assert "Selasa, 24 November 2026" in confirmation  # one working day after Monday
    [(ticket,)] = await query(server, select(Ticket))
    assert (ticket.number, ticket.kind, ticket.category, ticket.subject) == (
        number,
        "complaint",
        "lansia_telantar",
        "other",
    )
    assert ticket.person_nik is None and ticket.person_age == 80 and ticket.person_sex == "P"
    assert (ticket.district_code, ticket.village_code) == ("34.71.04", "34.71.04.1001")
    assert (ticket.latitude, ticket.longitude) == (-7.8305, 110.392)
    assert ticket.reporter_phone == "+6281234567890"
    assert ticket.channel == "web" and ticket.status == "new"
    [(attachment,)] = await query(server, select(Attachment))
    assert attachment.ticket_id == ticket.id
    assert (settings.attachments_dir / attachment.path).exists()
    events = [row[0] for row in await query(server, select(TicketEvent).order_by(TicketEvent.id))]
    assert [e.kind for e in events] == ["created", "unassigned"]  # no staff yet: flagged, never silent
    assert all(e.ticket_id == ticket.id for e in events)
    await person.client.close()


async def test_status_shows_only_the_citizens_own_tickets(server: TestServer) -> None:
    siti, budi = await citizen(server), await citizen(server)
    number = NUMBER.search(await siti.file_complaint()).group(0)
    await siti.type("status")
    assert number in siti.messages[-2]["text"]
    await budi.type("status")
    assert number not in budi.messages[-2]["text"]
    assert "belum punya laporan" in budi.messages[-2]["text"]
    await budi.type(f"status {number}")
    assert "tidak ada di antara laporan Anda" in budi.messages[-2]["text"]
    for person in (siti, budi):
        await person.client.close()


async def test_the_same_message_sent_twice_is_handled_once(server: TestServer) -> None:
    person = await citizen(server)
    await person.file_complaint()
    await person.type("/mulai")
    first = await person.press("complaint")
    again = await person.post({"value": "complaint", "step": "menu"}, client_id="fixed-client-id-1")
    repeat = await person.post({"value": "complaint", "step": "menu"}, client_id="fixed-client-id-1")
    assert first and again and repeat == []
    [(count,)] = await query(server, select(func.count()).select_from(Ticket))
    assert count == 1
    await person.client.close()


async def test_fifty_citizens_at_once_get_fifty_distinct_tickets(server: TestServer) -> None:
    people = [await citizen(server) for _ in range(50)]
    confirmations = await asyncio.gather(*(p.file_complaint(name=f"Warga {i}") for i, p in enumerate(people)))
    numbers = [NUMBER.search(text).group(0) for text in confirmations]
    assert len(set(numbers)) == 50
    rows = await query(server, select(Ticket.number, Ticket.person_name))
    assert sorted(rows) == sorted((n, f"Warga {i}") for i, n in enumerate(numbers))
    await people[7].type("status")
    listing = people[7].messages[-2]["text"]
    assert numbers[7] in listing and not any(n in listing for i, n in enumerate(numbers) if i != 7)
    for person in people:
        await person.client.close()


async def test_a_restart_mid_conversation_continues_at_the_same_step(settings: Settings) -> None:
    first_app = create_app(settings, clock=running_clock())
    async with TestServer(first_app) as first_server:
        person = await citizen(first_server)
        await person.type("/mulai")
        await person.press("complaint")
        await person.press("agree")
        await person.press("kejiwaan")
        cookies = person.client.session.cookie_jar
        saved = {c.key: c.value for c in cookies}
        await person.client.close()
    second_app = create_app(settings, clock=running_clock())
    async with TestServer(second_app) as second_server:
        client = TestClient(second_server)
        await client.start_server()
        client.session.cookie_jar.update_cookies(saved)
        person = WebCitizen(client)
        history = await (await client.get("/api/chat/messages?after=0")).json()
        person.messages = history["messages"]
        person.after = history["last_id"]
        assert person.last["step"] == "category"
        types = [o["value"] for o in person.last["options"]]
        await person.press(types[0])
        assert person.last["step"] == "subject"
        await client.close()


async def test_requests_without_the_chat_header_or_cookie_are_refused(server: TestServer) -> None:
    async with ClientSession() as anonymous:
        url = server.make_url("/api/chat/send")
        no_cookie = await anonymous.post(url, json={"client_id": "abcdefgh12", "text": "halo"}, headers=HEADERS)
        assert no_cookie.status == 401
    person = await citizen(server)
    forged = await person.client.post("/api/chat/send", json={"client_id": "abcdefgh12", "text": "halo"})
    assert forged.status == 403
    await person.client.close()


async def test_a_giant_text_is_refused_kindly(server: TestServer) -> None:
    person = await citizen(server)
    await person.begin_complaint(subject="self")
    replies = await person.type("A" * 15000)
    assert "terlalu panjang (15000 huruf)" in replies[0]["text"] and "100" in replies[0]["text"]
    assert person.last["step"] == "person_name"
    await person.client.close()


async def test_a_file_that_is_not_a_photo_is_refused_and_nothing_is_kept(
    server: TestServer, settings: Settings
) -> None:
    person = await citizen(server)
    await person.begin_complaint("kejiwaan", "odgj")
    await person.press("skip")
    await person.press("unknown")
    await person.press("skip")
    await person.press("skip")
    await person.press("34.71.01")
    await person.press("34.71.01.1001")
    await person.type("Depan pasar, di bawah pohon")
    await person.press("skip")
    assert person.last["step"] == "photos"
    replies = await person.photo(b"%PDF-1.4 this is a letter", filename="surat.pdf")
    assert "tidak bisa kami terima" in replies[0]["text"]
    assert person.last["step"] == "photos"
    assert await query(server, select(Attachment)) == []
    assert not Path(settings.attachments_dir).exists() or not any(Path(settings.attachments_dir).rglob("*.*"))
    await person.client.close()


async def test_a_pdf_uploaded_in_the_web_chat_is_added_to_a_filed_ticket(server: TestServer) -> None:
    person = await citizen(server)
    number = NUMBER.search(await person.file_complaint()).group(0)
    await person.type(f"status {number}")
    assert person.last["key"] == "menu/main"
    [prompt] = await person.press_title(f"📎 {number}")
    assert prompt["request"] == "photo", "the page shows its upload button"
    letter = b"%PDF-1.5\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
    replies = await person.photo(letter, filename="surat-rt.pdf")
    assert f"dokumen Anda sudah ditambahkan ke laporan {number}" in replies[0]["text"]
    [(attachment,)] = await query(server, select(Attachment))
    assert (attachment.content_type, attachment.size) == ("application/pdf", len(letter))
    assert attachment.ticket_id is not None
    await person.client.close()


async def test_the_nik_never_reaches_the_logs(server: TestServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    person = await citizen(server)
    confirmation = await person.file_complaint(name="Siti Aminah", nik="3471014507850001")
    assert NUMBER.search(confirmation)
    [(nik,)] = await query(server, select(Ticket.person_nik))
    assert nik == "3471014507850001"
    assert caplog.records, "the flow should log something (the ticket number)"
    assert "3471014507850001" not in caplog.text
    assert "3471 0145" not in caplog.text
    await person.client.close()


async def test_malformed_requests_get_a_400_not_a_crash(server: TestServer) -> None:
    person = await citizen(server)
    for body in (
        [1, 2],
        {"client_id": "abcdefgh12", "text": "halo", "after": "x"},
        {"client_id": "bad id!", "text": "halo"},
    ):
        response = await person.client.post("/api/chat/send", json=body, headers=HEADERS)
        assert response.status == 400, body
    assert (await person.client.get("/healthz")).status == 200
    await person.client.close()
