"""Retention on Telegram: a report filed, questioned, answered, resolved and rated in the real
chats (python-telegram-bot against the fake Bot API) keeps its counts and loses, once its period
is over, everything that named the person: the ticket's columns, the photo and its file, the
officer's cards and the citizen's messages as the outbox keeps them, the question, the answer
and the comment. The night's purge sends nobody anything, and the citizen, silent all that time, is forgotten
as a chat: writing again, she is asked for her consent as anyone new."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from bot.app import build_services
from bot.settings import Settings
from storage.models import Attachment, Contact, OutboxMessage, SurveyResponse, TicketEvent
from tests.support.complaint import file_complaint
from tests.support.office import BUDI, NUMBER, SITI, Office, card_of
from tests.support.scheduler import scheduler_for
from tests.support.webchat import jpeg

PERSONAL = ("Mbah Sarinah", "Imogiri", "KTP-nya hilang", "Petugasnya ramah", "Bu Siti")


async def test_a_telegram_report_past_its_period_keeps_its_counts_and_loses_its_person(
    office: Office, settings: Settings
) -> None:
    budi = await office.hire("Budi Santoso", BUDI)
    siti = office.person(SITI, "Siti")
    number = NUMBER.search(await file_complaint(siti, photo=jpeg())).group(0)  # type: ignore[union-attr]
    await budi.catch_up()
    await budi.press("Terima", card_of(budi, number))
    await budi.press("Tanya warga", card_of(budi, number))
    await budi.type("Apakah Mbah Sarinah punya KTP? Saya hubungi Bu Siti besok.")
    await siti.catch_up()
    await siti.type("Tidak punya, KTP-nya hilang waktu banjir.")
    await budi.catch_up()
    await budi.press("Selesai", card_of(budi, number))
    await budi.type("Mbah Sarinah didaftarkan ke PBI-JK.")
    await siti.catch_up()
    await siti.press("Beri nilai")
    await siti.press("4 Sangat cepat")
    await siti.type("3")
    await siti.press("4 Sangat baik")
    await siti.type("Petugasnya ramah, terima kasih.")
    ticket = await office.ticket(number)
    assert ticket.status == "closed"
    photo = await office.db.run(lambda s: s.execute(select(Attachment.path)).scalar_one())
    assert (settings.attachments_dir / photo).exists()

    def chats(session: Any) -> list[str]:
        rows = session.execute(
            select(OutboxMessage).where(
                OutboxMessage.chat_id.in_([str(BUDI), str(SITI)]) | OutboxMessage.chat_id.startswith("erased:")
            )
        )
        return [str(m.payload) for m in rows.scalars()]

    assert any("Mbah Sarinah" in text for text in await office.db.run(chats))
    sent_before = len(office.fake.sent(BUDI)) + len(office.fake.sent(SITI))

    # Five years and a month on, at 02:00 WIB.
    office.clock.offset += datetime(2031, 12, 24, 19, 0, tzinfo=UTC) - office.clock()
    services = build_services(settings)
    scheduler = scheduler_for(settings, office.db, services, office.clock)
    try:
        await scheduler.tick()  # the purge
        await scheduler.tick()  # then the chats of silent reporters
    finally:
        await scheduler.stop()

    erased = await office.ticket(number)
    assert erased.anonymised_reason == "retention"
    assert (erased.person_name, erased.address, erased.latitude, erased.resolution) == (None, None, None, None)
    assert (erased.category, erased.village_code, erased.status) == (ticket.category, ticket.village_code, "closed")
    assert not (settings.attachments_dir / photo).exists()
    texts = await office.db.run(chats)
    assert len(texts) > 20
    for text in texts:
        assert not any(word in text for word in PERSONAL), text
    events = await office.db.run(
        lambda s: [
            str(e.data) for e in s.execute(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)).scalars()
        ]
    )
    assert not any(word in text for text in events for word in (*PERSONAL, "PBI-JK"))
    survey = await office.db.run(lambda s: s.execute(select(SurveyResponse)).scalar_one())
    assert survey.scores == {"time": 4, "conduct": 3, "complaints": 4} and survey.comment is None
    await siti.catch_up()
    await budi.catch_up()
    assert len(office.fake.sent(BUDI)) + len(office.fake.sent(SITI)) == sent_before, "the purge tells nobody"

    # Siti has not written for five years and has nothing kept: her Telegram id is forgotten too.
    reporter = await office.db.run(lambda s: s.get(Contact, ticket.reporter_contact_id))
    assert reporter.external_id == reporter.chat_id == f"erased:{reporter.id}" and reporter.phone is None
    staff_chat = await office.db.run(
        lambda s: s.execute(select(Contact).where(Contact.external_id == str(BUDI))).scalar_one()
    )
    assert staff_chat.chat_id == str(BUDI), "the officer's chat is no reporter's: kept"
    # Writing again, she starts afresh: the consent comes first, as for anyone new.
    await siti.type("/start")
    await siti.press("Pengaduan")
    assert "Berapa lama" in siti.last.text and "Setuju" in siti.buttons()
