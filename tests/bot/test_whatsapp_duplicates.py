"""Possible duplicates on WhatsApp, through the fake Graph API: the officer's card (a list
message) offers the link; the second reporter, on WhatsApp too, is told their report joined
the case, hears its resolution under their own number — as an approved template once their
24-hour window has closed — and rates it once."""

from __future__ import annotations

from tests.bot.test_whatsapp import BUDI, SITI, WhatsAppOffice, office  # noqa: F401  (the fixture)
from tests.support.complaint import file_complaint
from tests.support.office import NUMBER

NEIGHBOUR = "6281200000099"


async def test_a_second_whatsapp_report_of_the_same_person_follows_the_first(office: WhatsAppOffice) -> None:  # noqa: F811
    budi = await office.hire("Budi Santoso", BUDI)
    siti, rahmat = office.person(SITI), office.person(NEIGHBOUR, "Rahmat")
    first = NUMBER.search(await file_complaint(siti, greeting="halo")).group(0)
    second = NUMBER.search(
        await file_complaint(
            rahmat,
            greeting="halo",
            name="Nenek Sarinah",
            description="Mbah Sarinah sudah sepuh, hidup sendirian, tidak ada keluarga yang merawat.",
        )
    ).group(0)
    cards = await budi.catch_up()
    [card] = [c for c in cards if f"🎫 {second}" in c.text]
    assert f"Mungkin sama dengan {first}" in card.text and "Gabungkan" in budi.choices(card)

    await budi.press("Gabungkan", card)
    [joined] = await rahmat.catch_up()
    assert f"laporan {second}" in joined.text and first not in joined.text

    office.clock.advance(hours=25)  # neither citizen has written for a day
    await budi.type(f"/ticket {first}")
    await budi.press("Terima")
    await budi.press("Selesai")
    await budi.type("Mbah Sarinah sudah dijemput ke panti wreda.")
    for person, number in ((siti, first), (rahmat, second)):
        told = await person.catch_up()
        [resolved] = [m for m in told if m.type == "template" and "satupintu_selesai" in m.text]
        assert resolved.text.startswith(f"template:satupintu_selesai {number} | ") and "panti wreda" in resolved.text
    replies = await rahmat.press("Beri nilai", resolved)
    assert "cepat" in replies[-1].text.lower()
    for answer in ("3 Cepat", "4 Sangat sopan", "3 Baik"):
        await rahmat.press(answer)
    replies = await rahmat.type("lewati")
    assert "Terima kasih atas penilaian Anda" in replies[0].text
    assert (await office.ticket(second)).status == "closed"
    assert (await office.ticket(first)).status == "resolved"  # Siti has not rated yet: her own survey waits
