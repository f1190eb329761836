"""Assisted intake: a facilitator files a report for a walk-in or outreach citizen on one form,
checked like the chat, filed like the chat, and prints the citizen a receipt."""

from __future__ import annotations

import io
import re
from typing import Any

from aiohttp import FormData
from aiohttp.test_utils import TestClient
from PIL import Image
from sqlalchemy import func, select

from storage import repo
from storage.models import Attachment, Contact, OutboxMessage, Ticket, TicketEvent
from tests.support.console import MANTRIJERON, UMBULHARJO, ConsoleOffice, SignedInClient
from tests.support.webchat import WebCitizen

FORM_KEY = re.compile(r'name="form_key" value="([^"]+)"')
RECEIPT = re.compile(r"^/console/intake/receipt/(SP-\d{4}-\d{5})$")
VILLAGE = UMBULHARJO + ".1001"


def jpeg() -> bytes:
    """A real, small photo, as a phone camera would send (only smaller)."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(buffer, "JPEG")
    return buffer.getvalue()


async def blank_form(member: SignedInClient, kind: str = "complaint") -> tuple[str, str]:
    """The form as the browser gets it: its CSRF token and its one-time form key."""
    page = await member.get(f"/console/intake?kind={kind}")
    assert page.status == 200
    text = await page.text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', text).group(1)  # type: ignore[union-attr]
    return csrf, FORM_KEY.search(text).group(1)  # type: ignore[union-attr]


def complaint(office: ConsoleOffice, **changes: Any) -> dict[str, Any]:
    """A walk-in complaint about a neighbour, every question answered."""
    answers = {
        "kind": "complaint",
        "source": "walkin",
        "consent": office.services.book.settings.consent_version,
        "category": "lansia_telantar",
        "subject": "other",
        "person_name": "Mbah Sarinah",
        "person_nik": "3471 0455 0745 0001",
        "person_age": "80",
        "person_sex": "P",
        "village_code": VILLAGE,
        "address": "Jl. Kenanga 3, RT 02",
        "latitude": "-7.830512",
        "longitude": "110.392034",
        "description": "Nenek tinggal sendiri, belum makan dua hari.",
        "reporter_phone": "0812 3456 7890",
        "updates_via": "paper",
    }
    answers.update(changes)
    return {key: value for key, value in answers.items() if value is not None}


async def send(
    member: SignedInClient,
    answers: dict[str, Any],
    *,
    photos: list[tuple[str, bytes, str]] = (),  # type: ignore[assignment]
    form: tuple[str, str] | None = None,
) -> Any:
    """Post the form as a browser does: multipart, with its CSRF token and form key."""
    csrf, key = form or await blank_form(member, answers.get("kind", "complaint"))
    data = FormData()
    for name, value in {"csrf": csrf, "form_key": key, **answers}.items():
        data.add_field(name, str(value))
    for filename, content, content_type in photos:
        data.add_field("photos", content, filename=filename, content_type=content_type)
    return await member.client.post("/console/intake", data=data, allow_redirects=False)


async def tickets(office: ConsoleOffice) -> list[Ticket]:
    return await office.db.run(lambda s: s.execute(select(Ticket).order_by(Ticket.id)).scalars().all())


async def stored_photos(office: ConsoleOffice) -> tuple[int, int]:
    """(attachment rows, files on disk)."""
    rows = await office.db.run(lambda s: s.execute(select(func.count()).select_from(Attachment)).scalar_one())
    folder = office.services.attachments_dir
    return rows, sum(1 for path in folder.rglob("*") if path.is_file()) if folder.exists() else 0


async def test_a_walk_in_complaint_is_filed_like_the_chat_and_gets_a_receipt(office: ConsoleOffice) -> None:
    budi = await office.hire("Budi", telegram_user_id="7001")
    facilitator = await office.hire("Fasilitator Desa")
    member = await office.signed_in(facilitator)

    answer = await send(member, complaint(office), photos=[("rumah.jpg", jpeg(), "image/jpeg")])
    assert answer.status == 303, await answer.text()
    number = RECEIPT.match(answer.headers["Location"]).group(1)  # type: ignore[union-attr]

    [ticket] = await tickets(office)
    assert ticket.number == number and ticket.kind == "complaint" and ticket.category == "lansia_telantar"
    assert (ticket.person_name, ticket.person_nik, ticket.person_age, ticket.person_sex) == (
        "Mbah Sarinah",
        "3471045507450001",
        80,
        "P",
    )
    assert (ticket.district_code, ticket.village_code, ticket.address) == (UMBULHARJO, VILLAGE, "Jl. Kenanga 3, RT 02")
    assert (ticket.latitude, ticket.longitude) == (-7.830512, 110.392034)
    assert ticket.reporter_phone == "+6281234567890"
    assert ticket.source == "walkin" and ticket.channel == "desk"
    assert ticket.details["updates_via"] == "paper" and ticket.details["filed_by_staff_id"] == facilitator.id
    # Routed as the chat routes: the team's officer for the district has it, and was told.
    assert ticket.team == "umum" and ticket.assignee_staff_id == budi.id and ticket.status == "assigned"
    assert ticket.due_at is not None
    told = await office.db.run(
        lambda s: s.execute(select(OutboxMessage.payload).where(OutboxMessage.chat_id == "7001")).scalars().all()
    )
    assert any(number in payload["text"] for payload in told)

    photos = await office.db.run(
        lambda s: s.execute(select(Attachment).where(Attachment.ticket_id == ticket.id)).scalars().all()
    )
    assert len(photos) == 1 and photos[0].content_type == "image/jpeg"
    assert (office.services.attachments_dir / photos[0].path).read_bytes() == jpeg()
    created = await office.db.run(
        lambda s: (
            s.execute(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "created"))
            .scalars()
            .one()
        )
    )
    assert created.data["source"] == "walkin" and created.data["photos"] == 1
    reporter = await office.db.run(lambda s: s.get(Contact, ticket.reporter_contact_id))
    assert reporter.channel == "desk" and reporter.consent_version == office.services.book.settings.consent_version

    receipt = await member.get(answer.headers["Location"])
    text = await receipt.text()
    assert receipt.status == 200 and number in text and "Tanda terima laporan" in text
    assert "Lansia telantar" in text and "posko desa/kelurahan" in text
    english = await member.get(answer.headers["Location"] + "?lang=en")
    assert "Report receipt" in await english.text()
    case = await (await member.get(f"/console/cases/{number}?lang=id")).text()
    assert "Kabar untuk warga" in case and "Dicatat oleh</dt><dd>Fasilitator" in case
    assert "form_key" not in case and "filed_by_staff_id" not in case, "the bookkeeping stays out of sight"
    await member.close()


async def test_an_invalid_nik_keeps_the_form_and_files_nothing(office: ConsoleOffice) -> None:
    member = await office.signed_in(await office.hire("Fasilitator Desa"))
    answer = await send(
        member, complaint(office, person_nik="3471 0455 0745"), photos=[("rumah.jpg", jpeg(), "image/jpeg")]
    )
    assert answer.status == 400
    page = await answer.text()
    assert 'value="Mbah Sarinah"' in page and "Jl. Kenanga 3, RT 02" in page
    assert 'role="alert"' in page and "NIK harus 16 angka" in page
    assert re.search(r'name="person_nik"[^>]*aria-describedby="h-person_nik e-person_nik" aria-invalid="true"', page)
    assert "foto perlu dipilih lagi" in page, "files cannot be kept: the page says so"
    assert await tickets(office) == []
    assert await stored_photos(office) == (0, 0), "a refused form keeps nobody's pictures"

    # "Don't know" is an answer only where the flow allows it (about someone else, not oneself).
    unknown = await send(member, complaint(office, person_nik="", person_nik_unknown="1", subject="self"))
    assert unknown.status == 400 and "Wajib diisi" in await unknown.text()
    allowed = await send(member, complaint(office, person_nik="", person_nik_unknown="1", subject="other"))
    assert allowed.status == 303
    [ticket] = await tickets(office)
    assert ticket.person_nik is None
    await member.close()


async def test_a_giant_text_is_refused_kindly(office: ConsoleOffice) -> None:
    member = await office.signed_in(await office.hire("Fasilitator Desa"))
    answer = await send(member, complaint(office, description="Tolong. " * 1000))
    assert answer.status == 400
    page = await answer.text()
    assert "Terlalu panjang: 7999 karakter, paling banyak 2000" in page
    assert await tickets(office) == []
    await member.close()


async def test_updates_by_whatsapp_go_to_the_whatsapp_contact_of_that_number(office: ConsoleOffice) -> None:
    await office.hire("Budi")
    member = await office.signed_in(await office.hire("Fasilitator Desa"))

    def wrote_before(session: Any) -> Contact:  # the citizen once wrote to the office on WhatsApp
        return repo.get_or_create_contact(
            session,
            channel="whatsapp",
            external_id="6281234567890",
            chat_id="6281234567890",
            language="id",
            display_name="Bu Ani",
            now=office.clock(),
        )

    known = await office.db.run(wrote_before)
    answer = await send(
        member, complaint(office, updates_via="whatsapp", reporter_phone="0812-3456-7890", source="outreach")
    )
    assert answer.status == 303
    [ticket] = await tickets(office)
    assert ticket.reporter_contact_id == known.id and ticket.channel == "whatsapp" and ticket.source == "outreach"
    queued = await office.db.run(
        lambda s: s.execute(select(OutboxMessage).where(OutboxMessage.contact_id == known.id)).scalars().all()
    )
    assert [(m.channel, m.chat_id) for m in queued] == [("whatsapp", "6281234567890")]
    assert ticket.number in queued[0].payload["text"]
    receipt = await member.get(answer.headers["Location"])
    assert "WhatsApp ke nomor +6281234567890" in await receipt.text()

    # WhatsApp without a number cannot work: the form says which field is missing.
    refused = await send(member, complaint(office, updates_via="whatsapp", reporter_phone=""))
    assert refused.status == 400 and "Isi nomor HP warga" in await refused.text()
    await member.close()


async def test_a_double_submit_files_one_ticket(office: ConsoleOffice) -> None:
    member = await office.signed_in(await office.hire("Fasilitator Desa"))
    form = await blank_form(member)
    first = await send(member, complaint(office), form=form)
    second = await send(member, complaint(office), form=form)
    assert first.status == second.status == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert len(await tickets(office)) == 1
    again = await send(member, complaint(office))  # a new form is a new report
    assert again.status == 303 and again.headers["Location"] != first.headers["Location"]
    await member.close()


async def test_an_officer_cannot_open_a_receipt_outside_their_area(office: ConsoleOffice) -> None:
    member = await office.signed_in(await office.hire("Fasilitator Desa"))
    answer = await send(member, complaint(office))
    stranger = await office.signed_in(await office.hire("Rina", districts=(MANTRIJERON,)))
    refused = await stranger.get(answer.headers["Location"])
    assert refused.status == 403
    [ticket] = await tickets(office)
    denied = await office.db.run(
        lambda s: (
            s.execute(
                select(TicketEvent.actor).where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "access_denied")
            )
            .scalars()
            .all()
        )
    )
    assert denied == [f"staff:{stranger.staff.id}"]
    missing = await stranger.get("/console/intake/receipt/SP-2020-99999")
    assert missing.status == 404
    await stranger.close()
    await member.close()


async def test_the_form_offers_only_the_viewers_villages(office: ConsoleOffice) -> None:
    member = await office.signed_in(await office.hire("Fasilitator Desa"))
    page = await (await member.get("/console/intake?kind=service")).text()
    assert f'value="{VILLAGE}"' in page and f'value="{MANTRIJERON}.1001"' not in page
    assert 'accept="image/*" capture="environment" multiple' in page
    outside = await send(member, complaint(office, village_code=f"{MANTRIJERON}.1001"))
    assert outside.status == 400 and "Pilih salah satu pilihan yang ada" in await outside.text()
    await member.close()


async def test_missing_consent_is_refused(office: ConsoleOffice) -> None:
    member = await office.signed_in(await office.hire("Fasilitator Desa"))
    answer = await send(member, complaint(office, consent=None))
    assert answer.status == 400
    page = await answer.text()
    assert "Laporan hanya bisa dicatat bila warga setuju" in page
    assert "Yang kami catat" in page, "the consent text is on the form, to read out"
    assert await tickets(office) == []
    await member.close()


async def test_a_file_that_is_not_a_photo_is_refused_kindly(office: ConsoleOffice) -> None:
    member = await office.signed_in(await office.hire("Fasilitator Desa"))
    answer = await send(member, complaint(office), photos=[("surat.pdf", b"%PDF-1.4 not a photo", "application/pdf")])
    assert answer.status == 400
    page = await answer.text()
    assert "surat.pdf tidak bisa dibuka sebagai foto" in page
    assert await tickets(office) == []
    assert await stored_photos(office) == (0, 0)
    await member.close()


async def test_every_mistake_gets_its_own_note(office: ConsoleOffice) -> None:
    member = await office.signed_in(await office.hire("Fasilitator Desa"))
    answer = await send(
        member,
        complaint(
            office,
            category="bukan_kategori",
            person_age="200",
            person_sex="X",
            address="Jl",
            latitude="95",
            longitude="110",
            reporter_phone="12345",
            updates_via="pigeon",
        ),
        photos=[(f"foto{i}.jpg", jpeg(), "image/jpeg") for i in range(6)],
    )
    assert answer.status == 400
    page = await answer.text()
    for note in (
        "Isi angka dari 0 sampai 120",
        "Terlalu pendek: paling sedikit 5 karakter",
        "Lokasi tidak terbaca",
        "Nomor HP tidak dikenali",
        "Paling banyak 5 foto",
        "Pilih salah satu pilihan yang ada",
    ):
        assert note in page, note
    assert page.count('aria-invalid="true"') >= 7
    assert 'value="95"' in page, "the typed location is kept too"
    assert await tickets(office) == [] and await stored_photos(office) == (0, 0)
    await member.close()


async def test_photos_too_large_for_one_form_get_a_kind_page_not_a_bare_error(office: ConsoleOffice) -> None:
    member = await office.signed_in(await office.hire("Fasilitator Desa"))
    token = await member.csrf()
    limit = office.services.max_photo_bytes
    form = FormData()
    form.add_field("csrf", token)
    for index in range(2):
        form.add_field("photos", b"\xff" * limit, filename=f"besar{index}.jpg", content_type="image/jpeg")
    answer = await member.client.post("/console/intake", data=form)
    assert answer.status == 413
    assert "terlalu besar" in await answer.text()
    await member.close()


async def test_a_citizen_on_telegram_links_their_chat_with_the_code_on_their_receipt(office: ConsoleOffice) -> None:
    member = await office.signed_in(await office.hire("Fasilitator Desa"))
    answer = await send(member, complaint(office, updates_via="telegram", reporter_phone=None))
    assert answer.status == 303, await answer.text()
    receipt = await (await member.get(answer.headers["Location"])).text()
    code = re.search(r"/start (k_[A-Za-z0-9_-]+)", receipt).group(1)  # type: ignore[union-attr]
    number = re.search(r"SP-\d{4}-\d{5}", answer.headers["Location"]).group(0)  # type: ignore[union-attr]
    colleague = await office.signed_in(await office.hire("Budi"))
    theirs = await (await colleague.get(answer.headers["Location"])).text()
    assert number in theirs and "/start k_" not in theirs, "only the filer sees the code that hands over the news"

    # The chat side is the same for every channel: the web chat stands in for Telegram here.
    citizen, stranger = WebCitizen(TestClient(office.client.server)), WebCitizen(TestClient(office.client.server))
    await citizen.open()
    linked = await citizen.type(f"/start {code}")
    assert f"Laporan {number} sekarang tersambung dengan chat ini" in linked[-1]["text"], linked
    again = await citizen.type(f"/start {code}")  # a second tap is answered as the first
    assert number in again[-1]["text"]
    status = await citizen.type("status")
    assert any(number in message["text"] for message in status), "the linked ticket is now theirs to ask about"
    await stranger.open()
    refused = await stranger.type(f"/start {code}")
    assert "sudah dipakai" in refused[-1]["text"]
    receipt = await (await member.get(answer.headers["Location"])).text()
    assert "/start k_" not in receipt and "sudah tersambung" in receipt
    case = await (await member.get(f"/console/cases/{number}")).text()
    assert "Warga menyambungkan chat web chat-nya" in case
    for client in (citizen.client, stranger.client):
        await client.session.close()
    await member.close()
