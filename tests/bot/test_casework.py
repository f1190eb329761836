"""Officers and supervisors work tickets in Telegram: the real python-telegram-bot inside the
real app, against the fake Bot API, on the database under test. A citizen files; the right
officer gets the card, accepts, asks, refers, records the agency's answer and resolves; the
citizen answers, rates or reopens; access rules, double taps and illegal moves hold."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from storage.models import AuditEntry, Referral, SurveyResponse
from tests.support.complaint import file_complaint
from tests.support.office import (
    ANI,
    BUDI,
    DEWI,
    MANTRIJERON,
    NUMBER,
    SITI,
    SRI,
    Office,
    card_of,
    file,
)
from tests.support.telegram import TelegramCitizen
from tests.support.webchat import jpeg


async def test_the_whole_loop_from_report_to_rating(office: Office) -> None:
    budi = await office.hire("Budi Santoso", BUDI)
    ani = await office.hire("Ani Lestari", ANI, districts=(MANTRIJERON,))
    siti = office.person(SITI, "Siti")
    number = NUMBER.search(await file_complaint(siti, photo=jpeg())).group(0)

    # The officer of Umbulharjo gets the card and the photo; the officer of Mantrijeron nothing.
    card, photo = await budi.catch_up()
    assert photo.photo and photo.text == f"📷 {number} — foto 1 dari 1"
    assert card.text.startswith("🆕 Tiket baru untuk Anda") and "Lansia telantar" in card.text
    assert "Giwangan, Kec. Umbulharjo" in card.text and "openstreetmap.org/?mlat=-7.830500" in card.text
    assert "Batas tanggapan pertama: Selasa, 24 November 2026" in card.text
    assert list(budi.buttons(card)) == ["Terima", "Tolak", "Kembalikan", "Catatan"]
    assert await ani.catch_up() == []
    [refused] = await ani.type(f"/ticket {number}")
    assert "tidak punya akses" in refused.text

    # Accept, with a double tap: the second press finds the card out of date and acts not.
    data = budi.buttons(card)["Terima"]
    [accepted] = await budi.press("Terima", card)
    assert accepted.text.startswith("✅ Anda menangani tiket ini") and "Status: ditangani" in accepted.text
    stale = await budi.press_data(card, data)
    assert "sudah usang" in stale[0].text
    [news] = await siti.catch_up()
    assert f"laporan {number}: petugas sudah menerima" in news.text

    # Ask the citizen; their next message is the answer, relayed to the officer.
    await budi.press("Tanya warga", card_of(budi, number))
    [done] = await budi.type("Apakah Mbah Sarinah punya KTP atau KK?")
    assert "Pertanyaan dikirim ke warga" in done.text
    [question] = await siti.catch_up()
    assert "Apakah Mbah Sarinah punya KTP atau KK?" in question.text
    [thanks] = await siti.type("Tidak punya, KTP-nya hilang waktu banjir.")
    assert "sudah diteruskan ke petugas" in thanks.text
    relay, card = await budi.catch_up()
    assert "Jawaban: Tidak punya, KTP-nya hilang waktu banjir." in relay.text
    assert "Status: ditangani" in card.text

    # Refer to the civil registry; the citizen is told; the card shows the referral.
    await budi.press("Rujuk", card)
    assert "Rujuk ke instansi mana?" in budi.last.text
    await budi.press("Disdukcapil")
    [referred] = await budi.type("Mohon perekaman KTP-el di rumah, lansia tidak bisa berjalan.")
    assert "Rujukan dikirim" in referred.text and "Disdukcapil — terkirim" in referred.text
    assert "dirujuk" in referred.text
    [told] = await siti.catch_up()
    assert "merujuknya ke Disdukcapil" in told.text

    # The agency's answer: done, with what it said; the ticket is back in progress.
    await budi.press("Jawaban instansi", referred)
    await budi.press("Selesai")
    [recorded] = await budi.type("KTP-el sudah direkam dan dicetak 25/11.")
    assert "Disdukcapil — selesai" in recorded.text and "Status: ditangani" in recorded.text
    [closed_referral] = await siti.catch_up()
    assert "Disdukcapil sudah menindaklanjuti" in closed_referral.text and "dicetak 25/11" in closed_referral.text

    # Resolve; the citizen gets the outcome and the survey.
    await budi.press("Selesai", recorded)
    [resolved] = await budi.type("KTP sudah jadi dan Mbah Sarinah didaftarkan ke PBI-JK serta dikunjungi pendamping.")
    assert "Tiket ditandai selesai" in resolved.text
    [outcome] = await siti.catch_up()
    assert "sudah selesai ditangani" in outcome.text and "PBI-JK" in outcome.text
    assert list(siti.buttons(outcome)) == ["Beri nilai", "Belum selesai"]

    await siti.press("Beri nilai")
    assert "Seberapa cepat" in siti.last.text
    await siti.press("4 Sangat cepat")
    await siti.type("3")  # typing the number works as well as pressing
    await siti.press("4 Sangat baik")
    [rated, menu] = await siti.type("Petugasnya ramah, terima kasih.")
    assert "Terima kasih atas penilaian Anda" in rated.text

    ticket = await office.ticket(number)
    assert ticket.status == "closed" and ticket.resolution.startswith("KTP sudah jadi")
    [survey] = await office.db.run(lambda s: list(s.execute(select(SurveyResponse)).scalars()))
    assert (
        survey.scores == {"time": 4, "conduct": 3, "complaints": 4}
        and survey.comment == "Petugasnya ramah, terima kasih."
    )
    [referral] = await office.db.run(lambda s: list(s.execute(select(Referral)).scalars()))
    assert (referral.agency, referral.status, referral.outcome) == (
        "disdukcapil",
        "done",
        "KTP-el sudah direkam dan dicetak 25/11.",
    )
    kinds = [(e.kind, e.actor.split(":")[0]) for e in await office.events(number)]
    assert kinds == [
        ("created", "citizen"),
        ("assign", "system"),
        ("access_denied", "staff"),
        ("accept", "staff"),
        ("ask_citizen", "staff"),
        ("citizen_replied", "citizen"),
        ("refer", "staff"),
        ("referral_done", "staff"),
        ("referrals_done", "staff"),
        ("resolve", "staff"),
        ("close", "citizen"),
    ]
    transcript = "\n\n".join(
        f"[{who}] {m.text}" for who, person in (("warga", siti), ("petugas", budi)) for m in person.messages
    )
    assert "Apakah Mbah Sarinah punya KTP" in transcript


async def resolved(office: Office, officer: TelegramCitizen, citizen: TelegramCitizen) -> tuple[str, Any]:
    """A report filed, accepted and resolved; its number and the outcome message the citizen got."""
    number = await file(office, citizen)
    await officer.catch_up()
    await officer.press("Terima", card_of(officer, number))
    await officer.press("Selesai", card_of(officer, number))
    await officer.type("Bantuan sembako sudah diantar.")
    accepted, outcome = await citizen.catch_up()
    return number, outcome


async def test_not_resolved_reopens_to_the_same_officer_within_the_window(office: Office) -> None:
    budi = await office.hire("Budi", BUDI)
    siti = office.person(SITI, "Siti")
    number, outcome = await resolved(office, budi, siti)
    [reopened] = await siti.press("Belum selesai", outcome)
    assert f"Laporan {number} dibuka kembali" in reopened.text
    [card] = await budi.catch_up()
    assert card.text.startswith("🔁 Warga membuka kembali") and "Terima" in budi.buttons(card)
    assert (await office.ticket(number)).status == "reopened"

    # Resolved again, then the citizen waits too long: reopening is refused, kindly.
    await budi.press("Terima", card)
    await budi.press("Selesai", card_of(budi, number))
    await budi.type("Sembako kedua sudah diterima langsung oleh warga.")
    accepted, outcome = await siti.catch_up()
    office.clock.advance(days=15)
    [refused] = await siti.press("Belum selesai", outcome)
    assert "lebih dari 14 hari" in refused.text
    assert (await office.ticket(number)).status == "resolved"


async def test_a_reopened_ticket_whose_officer_is_on_leave_is_routed_again_on_the_record(office: Office) -> None:
    budi = await office.hire("Budi", BUDI)
    siti = office.person(SITI, "Siti")
    number, outcome = await resolved(office, budi, siti)
    await budi.type("/away")
    dewi = await office.hire("Dewi", DEWI)
    await siti.press("Belum selesai", outcome)
    [card] = await dewi.catch_up()
    assert card.text.startswith("🔁 Warga membuka kembali") and "Petugas: Dewi" in card.text
    ticket = await office.ticket(number)
    assert ticket.status == "assigned" and not ticket.unassigned
    assert [e.kind for e in await office.events(number)][-2:] == ["reopen", "assign"]


async def test_a_rejection_tells_the_citizen_why(office: Office) -> None:
    budi = await office.hire("Budi", BUDI)
    siti = office.person(SITI, "Siti")
    number = await file(office, siti)
    [card] = await budi.catch_up()
    await budi.press("Tolak", card)
    await budi.press("Laporan ganda")
    [done] = await budi.type("Sudah dilaporkan tetangga dengan nomor SP-2026-00007.")
    assert "Tiket ditolak" in done.text
    [told] = await siti.catch_up()
    assert "tidak dapat kami proses" in told.text and "Laporan ganda" in told.text and "SP-2026-00007" in told.text
    [event] = [e for e in await office.events(number) if e.kind == "reject"]
    assert event.data["reason"] == "duplicate" and event.data["from"] == "assigned"


async def test_illegal_moves_and_stale_cards_change_nothing(office: Office) -> None:
    budi = await office.hire("Budi", BUDI)
    siti = office.person(SITI, "Siti")
    number = await file(office, siti)
    [card] = await budi.catch_up()
    ticket = await office.ticket(number)
    # A forged "resolve" on a ticket not yet accepted: refused with the reason, nothing changes.
    [illegal] = await budi.press_data(card, f"card|resolve:{ticket.id}:{ticket.version}")
    assert 'berstatus "ditugaskan" tidak bisa diselesaikan' in illegal.text
    assert (await office.ticket(number)).status == "assigned"
    assert [e.kind for e in await office.events(number)] == ["created", "assign"]


async def test_a_disabled_officer_can_no_longer_act(office: Office) -> None:
    budi = await office.hire("Budi", BUDI)
    siti = office.person(SITI, "Siti")
    number = await file(office, siti)
    [card] = await budi.catch_up()
    await office.set_status(BUDI, "disabled")
    [refused] = await budi.press("Terima", card)
    assert "dinonaktifkan" in refused.text
    [refused] = await budi.type(f"/ticket {number}")
    assert "dinonaktifkan" in refused.text
    assert (await office.ticket(number)).status == "assigned"


async def test_routing_balances_load_skips_officers_on_leave_and_falls_back_to_the_supervisor(office: Office) -> None:
    budi = await office.hire("Budi", BUDI)
    dewi = await office.hire("Dewi", DEWI)
    sri = await office.hire("Sri", SRI, role="supervisor")
    reporters = [office.person(8100 + i, f"Warga {i}") for i in range(4)]
    first = await file(office, reporters[0])
    second = await file(office, reporters[1])
    owners = {(await office.ticket(n)).assignee_staff_id for n in (first, second)}
    assert len(owners) == 2  # one each: least loaded, ties round-robin

    [budi_card] = [m for m in await budi.catch_up() if "🎫" in m.text]
    await dewi.catch_up()
    [away] = await budi.type("/away")
    assert "cuti" in away.text
    third = await file(office, reporters[2])
    assert (await office.ticket(third)).assignee_staff_id != (
        await office.ticket(NUMBER.search(budi_card.text).group(0))
    ).assignee_staff_id

    await office.set_status(DEWI, "away")
    fourth = await file(office, reporters[3])
    parked = await office.ticket(fourth)
    assert parked.unassigned and parked.status == "new"
    cards = [m for m in await sri.catch_up() if fourth in m.text]
    assert cards[-1].text.startswith("⚠️ Tiket tanpa petugas")

    # The supervisor sees it in the overview; when Budi is back it is his at once, with its card.
    [overview] = await sri.type("/overview")
    assert "Tanpa petugas: 1" in overview.text and fourth in overview.text
    back = await budi.type("/back") + await budi.catch_up()
    routed = [m for m in back if fourth in m.text]
    assert routed[-1].text.startswith("🆕 Tiket baru untuk Anda")
    ticket = await office.ticket(fourth)
    assert ticket.status == "assigned" and not ticket.unassigned
    # The supervisor can still hand it on, to Dewi once she is back.
    await office.set_status(DEWI, "active")
    [fresh] = await sri.type(f"/ticket {fourth}")
    await sri.press("Alihkan", fresh)
    await sri.press("Dewi")
    assert "Tiket dialihkan kepada Dewi" in sri.last.text
    handed = [m for m in await dewi.catch_up() if fourth in m.text]
    assert handed[-1].text.startswith("📥 Tiket dialihkan kepada Anda")
    assert (await office.ticket(fourth)).assignee_staff_id != ticket.assignee_staff_id
    # Going away and coming back from the chat is audited as the console and the CLI are.
    changes = await office.db.run(
        lambda s: [
            (e.staff_id, e.action, e.subject, e.data)
            for e in s.execute(
                select(AuditEntry).where(AuditEntry.action == "staff.status").order_by(AuditEntry.id)
            ).scalars()
        ]
    )
    budi_id = changes[0][0]
    assert budi_id is not None and [c for c in changes if c[2] == f"staff:{budi_id}"] == [
        (budi_id, "staff.status", f"staff:{budi_id}", {"status": "away"}),
        (budi_id, "staff.status", f"staff:{budi_id}", {"status": "active"}),
    ]


async def test_cards_carry_no_full_nik_or_phone_but_a_link_to_the_case_page(office: Office) -> None:
    """A card sits in a chat history on Telegram's servers and on a phone that can be lost:
    the assignee's card too shows the NIK and phone masked, with the console's case page
    (access-checked, audited) for the full record."""
    budi = await office.hire("Budi", BUDI)
    sri = await office.hire("Sri", SRI, role="supervisor")
    siti = office.person(SITI, "Siti")
    await siti.type("/start")
    await siti.press("Pengaduan")
    await siti.press("Setuju")
    await siti.press("Lansia")
    await siti.press("Lansia telantar")
    await siti.press("Saya sendiri")
    await siti.type("Siti Aminah")
    await siti.type("3471044101500001")
    await siti.type("76")
    await siti.press("Perempuan")
    await siti.press("Umbulharjo")
    await siti.press("Giwangan")
    await siti.type("Jl. Imogiri Timur RT 03")
    await siti.type("Lewati")  # no location: the skip is on the reply keyboard
    await siti.press("Lewati")
    await siti.type("Saya tinggal sendiri dan butuh bantuan makan sehari-hari.")
    await siti.type("0812 3456 7890")
    [confirmation, _menu] = await siti.press("Kirim")
    number = NUMBER.search(confirmation.text).group(0)
    [card] = await budi.catch_up()
    [seen] = await sri.type(f"/ticket {number}")
    for shown in (card, seen):
        assert "NIK: 3471********0001" in shown.text and "3471044101500001" not in shown.text
        assert "Pelapor: Siti, ***********890 (lewat telegram)" in shown.text
        assert "3456" not in shown.text and "7890" not in shown.text
        assert f"Data lengkap (NIK, nomor HP) di konsol: http://localhost:8080/console/cases/{number}" in shown.text
