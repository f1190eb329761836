"""The audit viewer and breach support: admins only; the trail of views and changes filtered by
staff, ticket, action and dates and paged by keyset; who a staff account affected in a window,
as a page, a CSV with formula cells defused and the notice letters; each of these audited."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from storage.models import AuditEntry, Staff, Ticket
from tests.support.console import ConsoleOffice
from workflows.console import audit_log


async def _accept(office: ConsoleOffice, ticket: Ticket, officer: Staff) -> None:
    def work(session: Any) -> None:
        office.services.casework.accept(
            session, session.get(Staff, officer.id), session.get(Ticket, ticket.id), office.clock()
        )

    await office.db.run(work)


def _actions(office: ConsoleOffice) -> list[str]:
    return office.db.read_sync(
        lambda s: [
            a for a in s.execute(select(AuditEntry.action).order_by(AuditEntry.id)).scalars() if a.startswith("audit.")
        ]
    )


async def test_officers_and_supervisors_are_refused(office: ConsoleOffice) -> None:
    budi = await office.hire("Budi")
    sri = await office.hire("Sri", role="supervisor")
    for person in (budi, sri):
        member = await office.signed_in(person)
        for path in (
            "/console/admin/audit",
            "/console/admin/audit/affected",
            f"/console/admin/audit/affected.csv?staff={budi.id}&since=2026-11-01&until=2026-11-30",
        ):
            answer = await member.get(path, allow_redirects=False)
            assert answer.status == 403, (person.role, path)
        refused = await member.post(
            "/console/admin/audit/letters", {"staff": budi.id, "since": "2026-11-01", "until": "2026-11-30"}
        )
        assert refused.status == 403
        await member.close()
    assert _actions(office) == [], "nothing was shown, so nothing was recorded as seen"


async def test_the_trail_filtered_by_staff_ticket_action_and_dates(office: ConsoleOffice) -> None:
    budi = await office.hire("Budi")
    admin = await office.hire("Ani", role="admin", districts=())
    first = await office.file(person_name="Mbah Sarinah")
    second = await office.file(person_name="Pak Darto")
    office.clock.advance(hours=1)
    officer = await office.signed_in(budi)
    assert (await officer.get(f"/console/cases/{first.number}")).status == 200
    await _accept(office, second, budi)
    member = await office.signed_in(admin)

    page = await member.get(f"/console/admin/audit?staff={budi.id}")
    html = await page.text()
    assert page.status == 200
    assert "case.view" in html and first.number in html and "accept" in html and second.number in html
    assert "signin" in html  # Budi's sign-in is his too

    html = await (await member.get(f"/console/admin/audit?ticket={second.number.lower().replace('-', ' ')}")).text()
    assert second.number in html and first.number not in html, "a number as typed finds the ticket"

    html = await (await member.get(f"/console/admin/audit?staff={budi.id}&action=case.view")).text()
    assert first.number in html and "<code>accept</code>" not in html

    tomorrow = (office.clock() + timedelta(days=1)).date().isoformat()
    html = await (await member.get(f"/console/admin/audit?staff={budi.id}&since={tomorrow}")).text()
    assert "Tidak ada catatan yang cocok." in html
    assert _actions(office) == ["audit.view"] * 4


async def test_the_trail_pages_by_keyset_without_gaps_or_repeats(office: ConsoleOffice) -> None:
    budi = await office.hire("Budi")
    tickets = [await office.file() for _ in range(4)]
    for ticket in tickets:
        await _accept(office, ticket, budi)
    everything = office.db.read_sync(
        audit_log.page, filt=audit_log.TrailFilter(), zone=office.services.calendar.zone, size=1000
    )
    assert len(everything.rows) > 10 and everything.older is None
    walked, cursor = [], None
    while True:
        found = office.db.read_sync(
            audit_log.page, filt=audit_log.TrailFilter(), zone=office.services.calendar.zone, cursor=cursor, size=3
        )
        walked += found.rows
        if found.older is None:
            break
        cursor = found.older
    assert [(r.trail, r.id) for r in walked] == [(r.trail, r.id) for r in everything.rows]
    assert [r.at for r in walked] == sorted((r.at for r in walked), reverse=True)


async def test_who_was_affected_as_a_list_a_csv_and_letters(office: ConsoleOffice) -> None:
    budi = await office.hire("Budi")
    admin = await office.hire("Ani", role="admin", districts=())
    seen = await office.file(person_name='=HYPERLINK("http://x")', category="odgj", district="34.71.04")
    changed = await office.file(person_name="Pak Darto")
    untouched = await office.file(person_name="Bu Warsi")
    office.clock.advance(hours=1)
    officer = await office.signed_in(budi)
    assert (await officer.get(f"/console/cases/{seen.number}")).status == 200
    await _accept(office, changed, budi)
    day = office.clock().date().isoformat()
    member = await office.signed_in(admin)

    page = await member.get(f"/console/admin/audit/affected?staff={budi.id}&since={day}&until={day}")
    html = await page.text()
    assert page.status == 200
    assert changed.number in html and "Pak Darto" in html and untouched.number not in html

    download = await member.get(f"/console/admin/audit/affected.csv?staff={budi.id}&since={day}&until={day}")
    assert download.status == 200 and download.headers["Content-Disposition"].startswith("attachment")
    rows = list(csv.reader(io.StringIO((await download.read()).decode("utf-8-sig"))))
    assert rows[0][0] == "Nomor tiket"
    by_number = {row[0]: row for row in rows[1:]}
    assert set(by_number) == {seen.number, changed.number}
    # A phone starts with "+": defused as every export does (a spreadsheet shows it without the quote).
    assert by_number[changed.number][3:6] == ["Pak Darto", "Jl. Kenanga 3", "'+6281234567890"]
    assert "NIK" in by_number[changed.number][12] and "lokasi" in by_number[changed.number][12]
    assert by_number[seen.number][3].startswith("'="), "a formula-like cell is defused"
    assert "data kesehatan" in by_number[seen.number][12], "a mental-health case holds specific data"
    assert (by_number[seen.number][8], by_number[changed.number][9]) == ("1", "1")  # viewed once, changed once

    letters = await member.post(
        "/console/admin/audit/letters",
        {
            "staff": budi.id,
            "since": day,
            "until": day,
            "incident": "Ponsel Pak Budi yang masih masuk ke konsol hilang.",
            "actions": "Akunnya kami nonaktifkan.",
            "contact": "Pejabat pelindungan data, 0274-000000",
        },
    )
    text = await letters.text()
    assert letters.status == 200
    # Filed about someone else: the letter goes to the reporter and names the person concerned.
    assert f"laporan Anda nomor {changed.number} tentang Pak Darto" in text and "Yth. Bapak/Ibu pelapor" in text
    assert "Ponsel Pak Budi yang masih masuk ke konsol hilang." in text and "Dinas Sosial Kota Yogyakarta" in text
    assert "NIK" in text and untouched.number not in text

    empty = await member.get(f"/console/admin/audit/affected?staff={budi.id}&since=2026-01-01&until=2026-01-31")
    assert "0 tiket dilihat atau diubah" in await empty.text()
    backwards = await member.get(f"/console/admin/audit/affected?staff={budi.id}&since={day}&until=2026-01-01")
    assert "akhir tidak sebelum awal" in await backwards.text()
    assert _actions(office) == ["audit.affected", "audit.export", "audit.letters", "audit.affected"]
