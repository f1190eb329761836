"""The case page: everything about a ticket for those who may see it, its photos behind signed
addresses, its story, and the forms that work it — once per press, and only for the right people."""

from __future__ import annotations

import io
import re
from typing import Any

from PIL import Image
from sqlalchemy import func, select

from bot.console.core import CONSOLE
from storage import repo
from storage.files import store_photo
from storage.models import AuditEntry, Contact, OutboxMessage, Staff, Ticket, TicketEvent
from tests.support.console import MANTRIJERON, ConsoleOffice, SignedInClient

FULL_NIK, MASKED_NIK = "3471045507450001", "3471********0001"
VERSION = re.compile(r'name="version" value="(\d+)"')
PHOTO = re.compile(r'<img src="(/console/cases/[^/"]+/photos/([^"]+))"')


def _png(colour: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(buffer, format="PNG")
    return buffer.getvalue()


async def _attach_photo(office: ConsoleOffice, ticket: Ticket, colour: str = "red") -> tuple[int, bytes]:
    """A photo the citizen sent with the report, kept as the chat keeps it."""
    data = _png(colour)
    settings = office.client.server.app[CONSOLE].settings
    stored = store_photo(settings.attachments_dir, data, max_bytes=5_000_000)

    def add(session: Any) -> int:
        attachment = repo.add_attachment(
            session,
            contact_id=ticket.reporter_contact_id,
            sha256=stored.sha256,
            path=stored.path,
            content_type=stored.content_type,
            size=stored.size,
            width=stored.width,
            height=stored.height,
            now=office.clock(),
        )
        repo.link_attachments(
            session, ticket_id=ticket.id, contact_id=ticket.reporter_contact_id, attachment_ids=[attachment.id]
        )
        return attachment.id

    return await office.db.run(add), data


async def _page(member: SignedInClient, number: str) -> str:
    answer = await member.get(f"/console/cases/{number}")
    assert answer.status == 200, await answer.text()
    return await answer.text()


async def _act(member: SignedInClient, number: str, action: str, **fields: str) -> Any:
    """Press an action's button as the page offers it (with the version the page shows)."""
    page = await _page(member, number)
    assert f'action="/console/cases/{number}/{action}"' in page, f"{action} is not offered"
    version = VERSION.search(page).group(1)  # type: ignore[union-attr]
    return await member.post(f"/console/cases/{number}/{action}", {"version": version, **fields})


async def _events(office: ConsoleOffice, ticket: Ticket, kind: str) -> list[TicketEvent]:
    return await office.db.run(
        lambda s: (
            s.execute(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == kind))
            .scalars()
            .all()
        )
    )


async def _to_citizen(office: ConsoleOffice, ticket: Ticket) -> list[OutboxMessage]:
    return await office.db.run(
        lambda s: (
            s.execute(
                select(OutboxMessage)
                .where(OutboxMessage.contact_id == ticket.reporter_contact_id)
                .order_by(OutboxMessage.id)
            )
            .scalars()
            .all()
        )
    )


async def test_a_supervisor_sees_the_whole_case_its_story_and_photo(office: ConsoleOffice) -> None:
    sri = await office.hire("Sri", role="supervisor")
    await office.hire("Budi")
    ticket = await office.file()
    _, photo = await _attach_photo(office, ticket)
    work = office.services.casework

    def accept_ask_and_reply(session: Any) -> None:
        current = session.get(Ticket, ticket.id)
        budi = session.get(Staff, current.assignee_staff_id)
        work.accept(session, budi, current, office.clock())
        work.ask_citizen(session, budi, current, "Di RT berapa rumahnya?", office.clock())
        contact = session.get(Contact, ticket.reporter_contact_id)
        work.citizen_replied(session, contact, ticket.id, "RT 03 RW 05, dekat masjid", office.clock())

    await office.db.run(accept_ask_and_reply)
    member = await office.signed_in(sri)
    page = await _page(member, ticket.number)
    for shown in (
        ticket.number,
        "Mbah Sarinah",
        MASKED_NIK,
        "80 tahun",
        "perempuan",
        "Jl. Kenanga 3",
        "Umbulharjo",
        "Nenek tinggal sendiri, belum makan dua hari.",
        "+6281234567890",
        "Budi",
        "Tanggapan pertama",
        "-7.830500, 110.392000",
        "Buka di OpenStreetMap",
    ):
        assert shown in page, shown
    assert FULL_NIK not in page
    story = page[page.index('id="h-timeline"') :]
    assert (
        story.index("Laporan masuk lewat web chat")
        < story.index("Ditugaskan kepada Budi")
        < story.index("Warga menjawab:")
    )
    assert "RT 03 RW 05, dekat masjid" in story and "Di RT berapa rumahnya?" in story
    assert "Pesan ke warga" in story and "petugas sudah menerima" in story and "menunggu dikirim" in story
    assert 'class="map small"' in page and 'data-lat="-7.8305"' in page
    link, _ = PHOTO.search(page).groups()  # type: ignore[union-attr]
    assert 'alt="Foto 1 dari 1, dikirim pelapor"' in page
    image = await member.get(link)
    assert image.status == 200
    assert image.headers["Content-Type"] == "image/png"
    assert image.headers["Cache-Control"] == "private, no-store"
    assert image.headers["X-Content-Type-Options"] == "nosniff"
    assert await image.read() == photo
    english = await _page(member, f"{ticket.number}?lang=en")
    assert "The citizen answered:" in english and "Assigned to Budi." in english and "Open in OpenStreetMap" in english
    await member.close()


async def test_a_case_outside_the_area_is_refused_and_the_attempt_logged(office: ConsoleOffice) -> None:
    sri = await office.hire("Sri", role="supervisor")
    eko = await office.hire("Eko", districts=(MANTRIJERON,))
    await office.hire("Budi")
    ticket = await office.file()
    await _attach_photo(office, ticket)
    insider = await office.signed_in(sri)
    link, _ = PHOTO.search(await _page(insider, ticket.number)).groups()  # type: ignore[union-attr]
    outsider = await office.signed_in(eko)
    page = await outsider.get(f"/console/cases/{ticket.number}")
    assert page.status == 403 and "Mbah Sarinah" not in await page.text()
    image = await outsider.get(link)
    assert image.status == 403 and image.headers["Content-Type"].startswith("text/html")
    note = await outsider.post(f"/console/cases/{ticket.number}/note", {"version": "1", "text": "mengintip"})
    assert note.status == 403
    denied = await _events(office, ticket, "access_denied")
    assert [(e.actor, e.data["action"]) for e in denied] == [(f"staff:{eko.id}", "view")] * 2 + [
        (f"staff:{eko.id}", "note")
    ]
    assert not await _events(office, ticket, "note")
    missing = await outsider.get("/console/cases/SP-2099-99999")
    assert missing.status == 404
    await insider.close()
    await outsider.close()


async def test_a_walked_or_borrowed_photo_address_is_not_found(office: ConsoleOffice) -> None:
    sri = await office.hire("Sri", role="supervisor")
    first, second = await office.file(), await office.file()
    await _attach_photo(office, first, "red")
    await _attach_photo(office, second, "blue")
    member = await office.signed_in(sri)
    _, token = PHOTO.search(await _page(member, first.number)).groups()  # type: ignore[union-attr]
    other_link, other_token = PHOTO.search(await _page(member, second.number)).groups()  # type: ignore[union-attr]
    assert (await member.get(other_link)).status == 200
    attachment_id, mac = token.split("-")
    for forged in (f"{int(attachment_id) + 1}-{mac}", other_token, f"{attachment_id}-{'0' * 32}", "1", "x-" + mac):
        answer = await member.get(f"/console/cases/{first.number}/photos/{forged}")
        assert answer.status == 404, forged
    await member.close()


async def test_the_full_nik_is_for_the_assignee_only(office: ConsoleOffice) -> None:
    sri = await office.hire("Sri", role="supervisor")
    budi = await office.hire("Budi")
    ticket = await office.file()
    assert ticket.assignee_staff_id == budi.id
    colleague = await office.hire("Wati")
    members = [
        (await office.signed_in(staff), full) for staff, full in ((budi, True), (sri, False), (colleague, False))
    ]
    for member, full in members:
        page = await _page(member, ticket.number)
        assert (FULL_NIK in page) is full and (MASKED_NIK in page) is not full, member.staff.name
    seen = await office.db.run(
        lambda s: (
            s.execute(
                select(AuditEntry.staff_id).where(AuditEntry.action == "case.view", AuditEntry.subject == ticket.number)
            )
            .scalars()
            .all()
        )
    )
    assert sorted(seen) == sorted([budi.id, sri.id, colleague.id]), "who saw whose data is on record"
    for member, _ in members:
        await member.close()


async def test_what_the_citizen_typed_is_shown_as_text(office: ConsoleOffice) -> None:
    sri = await office.hire("Sri", role="supervisor")
    ticket = await office.file(
        description="<script>alert(1)</script> tolong", person_name='"><img src=x onerror=alert(2)>'
    )
    member = await office.signed_in(sri)
    page = await _page(member, ticket.number)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; tolong" in page
    assert "<script>alert(1)" not in page and "<img src=x" not in page
    await member.close()


async def test_an_officer_works_a_case_through_the_forms(office: ConsoleOffice) -> None:
    await office.hire("Sri", role="supervisor")
    budi = await office.hire("Budi")
    ticket = await office.file()
    member = await office.signed_in(budi)
    number = ticket.number
    steps = [
        ("accept", {}, "Tiket diterima. Warga sudah diberi tahu."),
        ("note", {"text": "Sudah telepon ketua RT."}, "Catatan disimpan."),
        ("ask_citizen", {"question": "Apakah nenek punya KTP?"}, "Pertanyaan dikirim ke warga."),
        ("refer", {"agency": "disdukcapil", "request": "Perekaman KTP-el di rumah"}, "Rujukan dikirim."),
    ]
    for action, fields, said in steps:
        answer = await _act(member, number, action, **fields)
        assert answer.status == 303, (action, await answer.text())
        assert answer.headers["Location"] == f"/console/cases/{number}?done={action}"
        assert said in await _page(member, f"{number}?done={action}")
    referral_id = re.search(r'name="referral" value="(\d+)"', await _page(member, number)).group(1)  # type: ignore[union-attr]
    answer = await _act(member, number, "referral", referral=referral_id, status="done", outcome="KTP sudah dicetak")
    assert answer.status == 303, await answer.text()
    answer = await _act(member, number, "resolve", resolution="KTP diantar, bantuan sembako diberikan.")
    assert answer.status == 303, await answer.text()
    final = await office.db.run(lambda s: s.get(Ticket, ticket.id))
    assert final.status == "resolved" and final.resolution == "KTP diantar, bantuan sembako diberikan."
    sent = await _to_citizen(office, ticket)
    keys = [m.payload["key"] for m in sent]
    assert keys == [
        "citizen/accepted",
        "citizen/question",
        "citizen/referred",
        "citizen/referral_closed",
        "citizen/resolved",
    ]
    assert all(m.status == "pending" for m in sent)
    page = await _page(member, number)
    story = page[page.index('id="h-timeline"') :]
    for shown in (
        "Catatan internal:",
        "Sudah telepon ketua RT.",
        "Dirujuk ke Disdukcapil:",
        "sudah ditindaklanjuti",
        "KTP sudah dicetak",
        "Ditandai selesai:",
        "Apakah nenek punya KTP?",
    ):
        assert shown in story, shown
    assert story.count("Pesan ke warga") == 5
    assert 'action="/console/cases/' + number + '/reopen"' in page  # resolved: it may be reopened
    assert f"/console/cases/{number}/resolve" not in page
    await member.close()


async def test_a_supervisor_reassigns_and_reopens_a_rated_case(office: ConsoleOffice) -> None:
    sri = await office.hire("Sri", role="supervisor")
    budi = await office.hire("Budi")
    ticket = await office.file()
    wati = await office.hire("Wati")
    member = await office.signed_in(sri)
    page = await _page(member, ticket.number)
    assert f"/console/cases/{ticket.number}/accept" not in page  # a supervisor reassigns instead
    answer = await _act(member, ticket.number, "reassign", officer=str(wati.id))
    assert answer.status == 303, await answer.text()
    assert (await office.db.run(lambda s: s.get(Ticket, ticket.id))).assignee_staff_id == wati.id
    unknown = await _act(member, ticket.number, "reassign", officer="999999")
    assert unknown.status == 409 and "sudah tidak tersedia" in await unknown.text()

    def resolve(session: Any) -> None:
        current = session.get(Ticket, ticket.id)
        officer = session.get(Staff, wati.id)
        office.services.casework.accept(session, officer, current, office.clock())
        office.services.casework.resolve(session, officer, current, "Sudah dikunjungi.", office.clock())
        citizen = session.get(Contact, ticket.reporter_contact_id)
        office.services.casework.survey(
            session, citizen, ticket.id, {"time": 2, "conduct": 4, "complaints": 3}, "Petugasnya ramah", office.clock()
        )

    await office.db.run(resolve)
    rated = await _page(member, ticket.number)
    assert (
        "Penilaian warga" in rated and "Petugasnya ramah" in rated and "Ditutup setelah warga menilai layanan:" in rated
    )
    assert re.search(r"Waktu penyelesaian: <strong>2</strong>/4", rated)
    empty = await _act(member, ticket.number, "reopen", reason="   ")
    assert empty.status == 400 and "tidak boleh kosong" in await empty.text()
    too_long = await _act(member, ticket.number, "reopen", reason="x" * 2001)
    assert too_long.status == 400 and "paling banyak 2000 karakter" in await too_long.text()
    answer = await _act(member, ticket.number, "reopen", reason="Keluarga bilang bantuan belum sampai.")
    assert answer.status == 303, await answer.text()
    final = await office.db.run(lambda s: s.get(Ticket, ticket.id))
    assert final.status == "reopened" and final.due_at is not None
    last = (await _to_citizen(office, ticket))[-1]
    assert last.payload["key"] == "citizen/reopened_by_office"
    assert "Keluarga bilang bantuan belum sampai." in last.payload["text"]
    page = await _page(member, ticket.number)
    assert "Dibuka lagi oleh kantor:" in page and "Ditugaskan kepada Wati" in page and budi.name in page
    await member.close()


async def test_an_officer_who_does_not_own_the_case_may_only_add_notes(office: ConsoleOffice) -> None:
    await office.hire("Budi")
    ticket = await office.file()
    wati = await office.hire("Wati")
    member = await office.signed_in(wati)
    page = await _page(member, ticket.number)
    offered = set(re.findall(rf'action="/console/cases/{ticket.number}/([a-z_]+)"', page))
    assert offered == {"note"}
    forced = await member.post(f"/console/cases/{ticket.number}/resolve", {"version": "2", "resolution": "selesai"})
    assert forced.status == 403
    assert (await office.db.run(lambda s: s.get(Ticket, ticket.id))).status == "assigned"
    await member.close()


async def test_a_stale_form_is_refused_and_nothing_doubles(office: ConsoleOffice) -> None:
    budi = await office.hire("Budi")
    ticket = await office.file()
    member = await office.signed_in(budi)
    page = await _page(member, ticket.number)
    version = VERSION.search(page).group(1)  # type: ignore[union-attr]
    first = await member.post(f"/console/cases/{ticket.number}/accept", {"version": version})
    again = await member.post(f"/console/cases/{ticket.number}/accept", {"version": version})
    assert first.status == 303 and again.status == 409
    assert "sudah berubah sejak halaman dibuka" in await again.text()
    note = await member.post(f"/console/cases/{ticket.number}/note", {"version": version, "text": "dobel?"})
    assert note.status == 409 and "dobel?" in await note.text()  # what was typed is kept to send again
    assert len(await _events(office, ticket, "accept")) == 1 and not await _events(office, ticket, "note")
    assert [m.payload["key"] for m in await _to_citizen(office, ticket)] == ["citizen/accepted"]
    illegal = await member.post(
        f"/console/cases/{ticket.number}/accept",
        {"version": VERSION.search(await _page(member, ticket.number)).group(1)},
    )  # type: ignore[union-attr]
    assert illegal.status == 409 and "tidak bisa dilakukan pada tiket berstatus ditangani" in await illegal.text()
    await member.close()


async def test_a_form_without_its_csrf_token_is_refused(office: ConsoleOffice) -> None:
    budi = await office.hire("Budi")
    ticket = await office.file()
    member = await office.signed_in(budi)
    answer = await member.client.post(
        f"/console/cases/{ticket.number}/accept", data={"version": "2"}, allow_redirects=False
    )
    assert answer.status == 403
    assert not await _events(office, ticket, "accept")
    count = await office.db.run(
        lambda s: s.execute(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.contact_id == ticket.reporter_contact_id)
        ).scalar_one()
    )
    assert count == 0
    await member.close()


async def test_the_timeline_shows_only_this_tickets_messages_not_the_citizens_other_reports(
    office: ConsoleOffice,
) -> None:
    sri = await office.hire("Sri", role="supervisor")
    wati = await office.hire("Wati", role="supervisor", districts=(MANTRIJERON,))
    here = await office.file()
    casework = office.services.casework

    def second_report(session: Any) -> str:
        """The same citizen reports a case in Mantrijeron, which Wati answers with something private."""
        first = session.get(Ticket, here.id)
        contact = session.get(Contact, first.reporter_contact_id)
        answers = {
            **{k: getattr(first, k) for k in ("category_group", "category", "subject", "person_name")},
            "district_code": MANTRIJERON,
            "village_code": f"{MANTRIJERON}.1001",
            "description": "Tetangga lain.",
        }
        there = casework.open(session, contact=contact, flow="complaint", answers=answers, now=office.clock())
        reason = office.services.book.office.reject_reasons[0].key
        casework.reject(
            session, session.get(Staff, wati.id), there, reason, "RAHASIA-B: sudah ditangani RSJ.", office.clock()
        )
        return there.number

    other = await office.db.run(second_report)
    member = await office.signed_in(sri)
    page = await _page(member, here.number)
    assert "RAHASIA-B" not in page and other not in page, "another district's case leaked through the citizen's chat"
    await member.close()
