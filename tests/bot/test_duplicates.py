"""Two neighbours report the same old woman, days apart and in their own words: the officer's
card for the second report says it may be the same as the first; the officer links them, works
one case, and both reporters hear of its progress under their own numbers and rate it once
each. A wrong link is undone. The real python-telegram-bot against the fake Bot API, on the
database under test."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import DuplicateSuggestion, SurveyResponse
from tests.support.complaint import file_complaint
from tests.support.office import BUDI, DEWI, NUMBER, SITI, SRI, Office, card_of
from tests.support.telegram import TelegramCitizen

NEIGHBOUR = 8002
SECOND_WORDS = "Mbah Sarinah sudah tua, hidup sendirian di rumahnya, tidak ada yang merawat dan jarang makan."


async def _two_reports(office: Office) -> tuple[TelegramCitizen, TelegramCitizen, str, str]:
    siti = office.person(SITI, "Siti")
    first = NUMBER.search(await file_complaint(siti)).group(0)
    office.clock.advance(days=2)
    rahmat = office.person(NEIGHBOUR, "Rahmat")
    second = NUMBER.search(await file_complaint(rahmat, name="Nenek Sarinah", description=SECOND_WORDS)).group(0)
    return siti, rahmat, first, second


async def test_two_reports_of_one_person_become_one_worked_case(office: Office) -> None:
    budi = await office.hire("Budi Santoso", BUDI)
    siti, rahmat, first, second = await _two_reports(office)
    await budi.catch_up()

    # The first card names no duplicate; the second names the first, with a button to link.
    first_card = card_of(budi, first)
    assert "Mungkin sama dengan" not in first_card.text and "Gabungkan" not in budi.buttons(first_card)
    second_card = card_of(budi, second)
    assert f"🔎 Mungkin sama dengan {first}" in second_card.text
    assert list(budi.buttons(second_card)) == ["Terima", "Tolak", "Kembalikan", "Catatan", "Gabungkan"]

    # Linking takes the lone suggestion at once; the second reporter is told, without a word
    # of who else reported it.
    [done] = await budi.press("Gabungkan", second_card)
    assert "Tiket digabung" in done.text and first in done.text
    [joined] = await rahmat.catch_up()
    assert f"laporan {second}" in joined.text and "digabungkan" in joined.text
    assert first not in joined.text and "Siti" not in joined.text
    linked = await office.ticket(second)
    assert (linked.status, linked.due_at) == ("linked", None)
    [card] = await budi.type(f"/ticket {first}")
    assert f"Laporan lain tentang kasus ini: {second}" in card.text

    # One case worked: both reporters hear it is accepted, each under their own number.
    await budi.press("Terima", card)
    [news_siti] = await siti.catch_up()
    [news_rahmat] = await rahmat.catch_up()
    assert f"laporan {first}: petugas sudah menerima" in news_siti.text
    assert f"laporan {second}: petugas sudah menerima" in news_rahmat.text

    # Resolved: both told, each asked to rate their own ticket, once.
    await budi.press("Selesai", card_of(budi, first))
    await budi.type("Mbah Sarinah dijemput ke panti wreda dan didaftarkan PBI-JK.")
    for citizen, number in ((siti, first), (rahmat, second)):
        [outcome] = await citizen.catch_up()
        assert f"Laporan {number} sudah selesai" in outcome.text and "panti wreda" in outcome.text
        await citizen.press("Beri nilai", outcome)
        for answer in ("4 Sangat cepat", "3 Sopan", "4 Sangat baik"):
            await citizen.press(answer)
        replies = await citizen.press("Lewati")
        assert "Terima kasih atas penilaian Anda" in replies[0].text
    responses = await office.db.run(lambda s: list(s.execute(select(SurveyResponse)).scalars()))
    assert sorted(r.ticket_id for r in responses) == sorted(
        [(await office.ticket(first)).id, (await office.ticket(second)).id]
    )
    assert {(await office.ticket(n)).status for n in (first, second)} == {"closed"}
    kinds = [e.kind for e in await office.events(second)]
    assert kinds[-3:] == ["link", "case_resolved", "close"], kinds
    assert "joined" in [e.kind for e in await office.events(first)]


async def test_a_wrong_link_is_undone_and_the_ticket_is_its_own_case_again(office: Office) -> None:
    budi = await office.hire("Budi Santoso", BUDI)
    sri = await office.hire("Sri Wahyuni", SRI, role="supervisor")
    siti, rahmat, first, second = await _two_reports(office)
    await budi.catch_up()
    await budi.press("Gabungkan", card_of(budi, second))
    await rahmat.catch_up()

    # The supervisor sees the mistake and unlinks it: routed again with deadlines from now.
    [card] = await sri.type(f"/ticket {second}")
    assert f"Digabung ke {first}" in card.text and "Status: digabung ke kasus lain" in card.text
    office.clock.advance(days=1)
    [unlinked] = await sri.press("Pisahkan", card)
    assert "Tiket dipisahkan" in unlinked.text and "Status: ditugaskan" in unlinked.text
    [told] = await rahmat.catch_up()
    assert f"laporan {second}" in told.text and "ditangani tersendiri" in told.text
    ticket = await office.ticket(second)
    assert ticket.status == "assigned" and ticket.linked_to_id is None and ticket.due_at is not None
    assert ticket.due_at > (await office.ticket(first)).due_at  # counted from the unlinking
    [new_card] = await budi.catch_up()  # its owner gets its card again
    assert new_card.text.startswith("✂️ Tiket dipisahkan") and f"🎫 {second}" in new_card.text

    # The first case's news no longer reaches the second reporter.
    [card] = await budi.type(f"/ticket {first}")
    assert "Laporan lain tentang kasus ini" not in card.text
    await budi.press("Terima", card)
    assert "petugas sudah menerima" in (await siti.catch_up())[-1].text
    assert await rahmat.catch_up() == []
    assert [e.kind for e in await office.events(first)][-2:] == ["unjoined", "accept"]


async def test_the_same_words_in_another_district_are_not_suggested(office: Office) -> None:
    await office.hire("Budi Santoso", BUDI)
    dewi = await office.hire("Dewi", DEWI, districts=("34.71.01",))
    await file_complaint(office.person(SITI, "Siti"))
    other = await _file_elsewhere(office)
    [dewi_card] = [m for m in await dewi.catch_up() if other in (m.text or "")]
    assert "Mungkin sama dengan" not in dewi_card.text
    assert await office.db.run(lambda s: s.execute(select(DuplicateSuggestion)).all()) == []


async def _file_elsewhere(office: Office) -> str:
    """The same words about a woman in Mantrijeron, far from Giwangan."""
    citizen = office.person(NEIGHBOUR, "Rahmat")
    await citizen.type("/start")
    for title in ("Pengaduan", "Setuju", "Lansia", "Lansia telantar", "Orang lain"):
        await citizen.press(title)
    await citizen.type("Mbah Sarinah")
    await citizen.press("Tidak tahu")
    await citizen.type("80")
    for title in ("Perempuan", "Mantrijeron", "Gedongkiwo"):
        await citizen.press(title)
    await citizen.type("Jl. Bantul")
    await citizen.location(-7.8170, 110.3560)
    await citizen.press("Lewati")
    await citizen.type("Nenek tinggal sendiri dan tidak ada yang merawat sejak bulan lalu.")
    await citizen.type("0812 3456 7891")
    replies = await citizen.press("Kirim")
    return NUMBER.search(replies[0].text).group(0)
