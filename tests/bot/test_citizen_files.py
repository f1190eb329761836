"""A citizen's photos and documents after filing, through the real Telegram channel against the
fake Bot API: a photo or a PDF (a KK, a letter) sent as the answer to an officer's question
is attached to the ticket and relayed with the answer; a file added later, from the status
message, reaches the ticket and its officer; a file that only pretends to be a PDF is refused."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from storage.models import Attachment
from tests.support.office import BUDI, SITI, Office, card_of, file
from tests.support.telegram import TelegramCitizen
from tests.support.webchat import jpeg

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


async def _attachments(office: Office, number: str) -> list[tuple[str, int]]:
    ticket = await office.ticket(number)
    rows = await office.db.run(
        lambda s: (
            s.execute(select(Attachment).where(Attachment.ticket_id == ticket.id).order_by(Attachment.id))
            .scalars()
            .all()
        )
    )
    return [(row.content_type, row.size) for row in rows]


async def _asked(office: Office, budi: Any, siti: TelegramCitizen, question: str) -> str:
    number = await file(office, siti)
    [card] = await budi.catch_up()
    await budi.press("Terima", card)
    await budi.press("Tanya warga", card_of(budi, number))
    await budi.type(question)
    await siti.catch_up()  # the acceptance and the question
    return number


async def test_a_photo_answering_an_officers_question_reaches_the_ticket_and_the_officer(office: Office) -> None:
    budi = await office.hire("Budi", BUDI)
    siti = office.person(SITI, "Siti")
    number = await _asked(office, budi, siti, "Bisa kirim foto rumahnya?")
    picture = jpeg()
    [thanks] = await siti.photo(picture)
    assert "sudah diteruskan ke petugas" in thanks.text and not siti.buttons(thanks), "no main menu instead"
    assert await _attachments(office, number) == [("image/jpeg", len(picture))]
    relay, card = await budi.catch_up()
    assert relay.photo and number in relay.text and "Bisa kirim foto rumahnya?" in relay.text
    assert "Status: ditangani" in card.text
    assert (await office.ticket(number)).status == "in_progress"


async def test_a_pdf_answering_an_officers_question_is_kept_and_the_officer_told(office: Office) -> None:
    budi = await office.hire("Budi", BUDI)
    siti = office.person(SITI, "Siti")
    number = await _asked(office, budi, siti, "Mohon kirim foto KK.")
    [thanks] = await siti.settle(await office.fake.send_document(SITI, PDF, "kk.pdf", "application/pdf"))
    assert "sudah diteruskan ke petugas" in thanks.text
    assert await _attachments(office, number) == [("application/pdf", len(PDF))]
    relay, _card = await budi.catch_up()
    assert number in relay.text and "PDF" in relay.text and "/console/cases/" in relay.text


async def test_a_file_named_pdf_that_is_not_one_is_refused(office: Office) -> None:
    budi = await office.hire("Budi", BUDI)
    siti = office.person(SITI, "Siti")
    number = await _asked(office, budi, siti, "Mohon kirim surat keterangan.")
    replies = await siti.settle(
        await office.fake.send_document(SITI, b"MZ\x90\x00 not a pdf", "surat.pdf", "application/pdf")
    )
    assert "PDF" in replies[0].text and await _attachments(office, number) == []
    assert (await office.ticket(number)).status == "waiting_citizen", "still waiting for the answer"


async def test_a_citizen_adds_a_photo_to_a_filed_ticket_from_the_status_message(office: Office) -> None:
    budi = await office.hire("Budi", BUDI)
    siti = office.person(SITI, "Siti")
    number = await file(office, siti)
    await budi.catch_up()
    status, menu = await siti.type(f"/status {number}")
    assert "tekan 📎" in status.text
    [prompt] = await siti.press(f"📎 {number}", menu)  # with the menu: a web chat shows only the newest buttons
    assert "kirim satu foto atau dokumen PDF" in prompt.text
    picture = jpeg()
    [added, *_menu] = await siti.photo(picture)
    assert number in added.text and "ditambahkan" in added.text
    assert await _attachments(office, number) == [("image/jpeg", len(picture))]
    [told] = await budi.catch_up()
    assert told.photo and number in told.text
    [menu] = await siti.photo(jpeg())  # not asked for any more: the file is not kept
    assert len(await _attachments(office, number)) == 1
