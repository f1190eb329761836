"""The monthly summary: counts per category and district, compliance, satisfaction, the viewer's area."""

from __future__ import annotations

import re
from typing import Any

from storage.models import Contact, Staff, Ticket
from tests.support.console import MANTRIJERON, UMBULHARJO, ConsoleOffice

SCORES = {"time": 4, "conduct": 3}


async def _resolve_and_rate(office: ConsoleOffice, ticket: Ticket, officer: Staff) -> None:
    casework = office.services.casework

    def work(session: Any) -> None:
        fresh = session.get(Ticket, ticket.id)
        staff = session.get(Staff, officer.id)
        casework.accept(session, staff, fresh, office.clock())
        casework.resolve(session, staff, fresh, "Sudah dikunjungi dan dibantu sembako.", office.clock())
        reporter = session.get(Contact, fresh.reporter_contact_id)
        casework.survey(session, reporter, fresh.id, SCORES, "Terima kasih", office.clock())

    await office.db.run(work)


def _row(html: str, heading: str) -> list[str]:
    """The cells of the table row whose heading cell starts with `heading`."""
    for row in re.findall(r"<tr>(.*?)</tr>", html, re.S):
        if re.search(rf"<th scope=\"row\">\s*{re.escape(heading)}", row):
            return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]
    raise AssertionError(f"no row for {heading!r}")


async def test_a_month_by_category_and_district(office: ConsoleOffice) -> None:
    budi = await office.hire("Budi", districts=(UMBULHARJO,))
    admin = await office.hire("Ani", role="admin", districts=())
    first = await office.file(district=UMBULHARJO, category="lansia_telantar")
    await office.file(district=UMBULHARJO, category="lansia_telantar")
    await office.file(district=MANTRIJERON, category="odgj")
    assert first.assignee_staff_id == budi.id
    office.clock.advance(hours=2)
    await _resolve_and_rate(office, first, budi)

    member = await office.signed_in(admin)
    page = await member.get("/console/reports")
    html = await page.text()
    assert page.status == 200
    assert _row(html, "Lansia telantar")[:2] == ["2", "1"]
    assert _row(html, "ODGJ")[:2] == ["1", "0"]
    umbulharjo = _row(html, "Umbulharjo")
    assert umbulharjo[:2] == ["2", "1"]
    assert umbulharjo[3].startswith("3.50"), umbulharjo  # (4 + 3) / 2: the short survey, not an index
    assert "IKM" not in umbulharjo[3]
    assert _row(html, "Mantrijeron")[:2] == ["1", "0"]
    await member.close()


async def test_an_officer_sees_only_their_area_and_english_reads_english(office: ConsoleOffice) -> None:
    budi = await office.hire("Budi", districts=(UMBULHARJO,))
    await office.file(district=UMBULHARJO, category="lansia_telantar")
    await office.file(district=MANTRIJERON, category="odgj")
    member = await office.signed_in(budi)
    html = await (await member.get("/console/reports?lang=en")).text()
    assert "Monthly summary" in html and "By district" in html
    assert "Umbulharjo" in html and "Mantrijeron" not in html
    assert "ODGJ" not in html
    await member.close()


async def test_a_future_or_malformed_month_falls_back_to_this_one(office: ConsoleOffice) -> None:
    admin = await office.hire("Ani", role="admin", districts=())
    member = await office.signed_in(admin)
    for month in ("2099-01", "2026-13", "bogus"):
        html = await (await member.get(f"/console/reports?month={month}")).text()
        assert "Ringkasan bulanan — 11/2026" in html
    old = await (await member.get("/console/reports?month=2026-10")).text()
    assert "Belum ada tiket pada bulan ini" in old
    await member.close()
