"""The queue page and its exports: filters, keyset pages, the viewer's area, counts, masked
personal data, safe spreadsheets and the audit trail."""

from __future__ import annotations

import base64
import csv
import io
import re
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import select

from storage.models import AuditEntry, Staff, Ticket
from tests.support.console import MANTRIJERON, UMBULHARJO, ConsoleOffice
from workflows.console import queue
from workflows.console.queue import QueueFilter
from workflows.lifecycle import STATUSES

NUMBER = re.compile(r'href="/console/cases/([A-Z]+-\d{4}-\d+)"')


async def numbers_on(client: Any, path: str) -> list[str]:
    answer = await client.get(path)
    assert answer.status == 200, await answer.text()
    return NUMBER.findall(await answer.text())


async def reject(office: ConsoleOffice, staff: Staff, ticket: Ticket) -> None:
    reason = office.services.book.office.reject_reasons[0].key

    def act(session: Any) -> None:
        office.services.casework.reject(
            session, staff, session.get(Ticket, ticket.id), reason, "Bukan wewenang Dinas.", office.clock()
        )

    await office.db.run(act)


async def queue_page(
    office: ConsoleOffice, viewer: Staff, filt: QueueFilter, after: str | None = None, limit: int = 50
) -> queue.QueuePage:
    return await office.db.run(
        queue.page,
        viewer=viewer,
        filt=filt,
        after=after,
        limit=limit,
        now=office.clock(),
        zone=office.services.calendar.zone,
        calendar=office.services.calendar,
    )


async def export_rows(member: Any, query: str = "") -> list[dict[str, str]]:
    answer = await member.get(f"/console/queue/export.csv{query}")
    assert answer.status == 200, await answer.text()
    assert answer.headers["Content-Disposition"].startswith('attachment; filename="satupintu-queue-2026-11-23')
    return list(csv.DictReader(io.StringIO((await answer.read()).decode("utf-8-sig"))))


async def test_the_queue_needs_a_signed_in_member(office: ConsoleOffice) -> None:
    for path in ("/console/queue", "/console/queue/export.csv", "/console/queue/export.xlsx"):
        answer = await office.client.get(path, allow_redirects=False)
        assert answer.status == 303 and answer.headers["Location"].startswith("/console/signin")


async def test_filters_by_status_category_district_and_date(office: ConsoleOffice) -> None:
    sri = await office.hire("Sri", role="supervisor", districts=(UMBULHARJO, MANTRIJERON))
    await office.hire("Budi", districts=(UMBULHARJO, MANTRIJERON))
    old = await office.file(category="lansia_telantar")
    odgj = await office.file(category="odgj")
    elsewhere = await office.file(district=MANTRIJERON, category="lansia_telantar")
    await reject(office, sri, odgj)
    office.clock.advance(days=3)
    late = await office.file(category="fakir_miskin")
    member = await office.signed_in(sri)

    assert await numbers_on(member, "/console/queue") == [late.number, elsewhere.number, old.number]
    assert await numbers_on(member, "/console/queue?status=rejected") == [odgj.number]
    assert await numbers_on(member, "/console/queue?status=all&category=odgj") == [odgj.number]
    assert await numbers_on(member, f"/console/queue?district={MANTRIJERON}") == [elsewhere.number]
    assert await numbers_on(member, f"/console/queue?village={UMBULHARJO}.1001&sort=created_asc") == [
        old.number,
        late.number,
    ]
    assert await numbers_on(member, "/console/queue?status=all&created_to=2026-11-23") == [
        elsewhere.number,
        odgj.number,
        old.number,
    ]
    assert await numbers_on(member, "/console/queue?created_from=2026-11-24") == [late.number]
    assert await numbers_on(member, "/console/queue?assignee=none&status=all") == []
    await member.close()


async def test_sla_filter_finds_the_overdue(office: ConsoleOffice) -> None:
    sri = await office.hire("Sri", role="supervisor")
    await office.hire("Budi")
    late = await office.file()
    office.clock.advance(days=10)
    fresh = await office.file()
    member = await office.signed_in(sri)

    assert await numbers_on(member, "/console/queue?sla=overdue") == [late.number]
    assert fresh.number in await numbers_on(member, "/console/queue?sla=due_soon") + await numbers_on(
        member, "/console/queue?sla=on_time"
    )
    assert await numbers_on(member, "/console/queue?sla=met") == []
    page = await (await member.get("/console/queue?sort=due_asc")).text()
    assert page.index(late.number) < page.index(fresh.number)
    assert re.search(r'class="badge overdue">lewat tenggat', page)
    await member.close()


async def test_keyset_pages_walk_every_ticket_once(office: ConsoleOffice) -> None:
    sri = await office.hire("Sri", role="supervisor")
    await office.hire("Budi")
    tickets = [await office.file(category=c) for c in ("lansia_telantar", "odgj", "fakir_miskin") * 3]
    for ticket in tickets[::3]:  # some closed: no deadline left, listed last by due_asc
        await reject(office, sri, ticket)
    expected = sorted(t.id for t in tickets)

    for sort in queue.SORTS:
        seen: list[int] = []
        after: str | None = None
        for _ in range(10):
            found = await queue_page(office, sri, QueueFilter(status=(), sort=sort), after=after, limit=2)
            seen += [row.ticket.id for row in found.rows]
            after = found.next_cursor
            if after is None:
                break
        assert sorted(seen) == expected and len(seen) == len(expected), sort
    dated = await queue_page(office, sri, QueueFilter(status=(), sort="due_asc"))
    assert [row.sla for row in dated.rows][-3:] == ["met"] * 3
    newest = await queue_page(office, sri, QueueFilter(status=()), limit=4)
    assert [row.ticket.id for row in newest.rows] == expected[::-1][:4]

    member = await office.signed_in(sri)
    first = await (await member.get("/console/queue?status=all")).text()
    assert "Berikutnya" not in first and "Halaman pertama" not in first
    odd = await member.get(
        "/console/queue?status=bogus&sort=sideways&after=not-a-cursor&assignee=x&created_from=kemarin"
    )
    assert odd.status == 200 and "Halaman pertama" in await odd.text()
    await member.close()


async def test_next_page_link_carries_the_filter(office: ConsoleOffice) -> None:
    sri = await office.hire("Sri", role="supervisor")
    for _ in range(51):
        await office.file(category="odgj")
    member = await office.signed_in(sri)
    first = await (await member.get("/console/queue?category=odgj")).text()
    link = re.search(r'href="\?([^"]+)" rel="next">Berikutnya', first)
    assert link, "a next-page link"
    second = await member.get("/console/queue?" + link.group(1).replace("&amp;", "&"))
    text = await second.text()
    assert len(NUMBER.findall(first)) == 50 and len(NUMBER.findall(text)) == 1
    assert "Halaman pertama" in text and "Berikutnya" not in text
    await member.close()


async def test_an_officer_sees_only_their_area(office: ConsoleOffice) -> None:
    budi = await office.hire("Budi")  # Umbulharjo
    await office.hire("Rudi", districts=(MANTRIJERON,))
    mine = await office.file()
    theirs = await office.file(district=MANTRIJERON)
    member = await office.signed_in(budi)

    assert await numbers_on(member, "/console/queue?status=all") == [mine.number]
    assert await numbers_on(member, f"/console/queue?status=all&district={MANTRIJERON}") == []
    assert [row["Nomor"] for row in await export_rows(member, "?status=all")] == [mine.number]
    assert await export_rows(member, f"?district={MANTRIJERON}") == []
    page = await (await member.get("/console/queue")).text()
    assert "Mantrijeron</option>" not in page and "Rudi" not in page
    assert theirs.number not in page
    await member.close()


async def test_counts_per_status_ignore_the_status_filter(office: ConsoleOffice) -> None:
    sri = await office.hire("Sri", role="supervisor")
    await office.hire("Budi")
    await office.file(category="odgj")
    kept = await office.file(category="odgj")
    await office.file(category="lansia_telantar")
    await office.file(district=MANTRIJERON, category="odgj")  # outside Sri's area
    await reject(office, sri, kept)

    found = await queue_page(office, sri, QueueFilter(status=("rejected",), category="odgj"))
    assert [row.ticket.number for row in found.rows] == [kept.number]
    assert found.counts["rejected"] == 1 and sum(found.counts.values()) == 2 and set(found.counts) == set(STATUSES)
    member = await office.signed_in(sri)
    page = await (await member.get("/console/queue")).text()
    assert re.search(r"terbuka <strong>2</strong>", page) and re.search(r"semua <strong>3</strong>", page)
    await member.close()


async def test_csv_masks_personal_data_by_role(office: ConsoleOffice) -> None:
    budi = await office.hire("Budi")
    admin = await office.hire("Ani", role="admin", districts=())
    sri = await office.hire("Sri", role="supervisor")
    his = await office.file()
    assert his.assignee_staff_id == budi.id
    await office.hire("Dewi")
    others = [await office.file() for _ in range(2)]
    other = next(t for t in others if t.assignee_staff_id != budi.id)

    members = [await office.signed_in(who) for who in (budi, sri, admin)]
    as_officer = {row["Nomor"]: row for row in await export_rows(members[0], "?status=all")}
    assert as_officer[his.number]["NIK"] == "3471045507450001"
    assert as_officer[his.number]["Nama"] == "Mbah Sarinah" and as_officer[his.number]["Alamat"] == "Jl. Kenanga 3"
    assert as_officer[other.number]["NIK"] == "3471********0001"
    assert as_officer[other.number]["Nama"] == "M*** S******" and as_officer[other.number]["Alamat"] == "J** K****** *"
    assert as_officer[other.number]["Telepon"] == "***********890"
    assert (
        as_officer[his.number]["Kategori"] == "Lansia telantar" and as_officer[his.number]["Kecamatan"] == "Umbulharjo"
    )

    as_supervisor = {row["Nomor"]: row for row in await export_rows(members[1])}
    assert (
        as_supervisor[other.number]["Nama"] == "Mbah Sarinah"
        and as_supervisor[other.number]["NIK"] == "3471********0001"
    )
    as_admin = await export_rows(members[2])
    assert {row["NIK"] for row in as_admin} == {"3471045507450001"} and len(as_admin) == 3
    for member in members:
        await member.close()


async def test_exports_defuse_formulas_and_speak_the_viewer_language(office: ConsoleOffice) -> None:
    ani = await office.hire("Ani", role="admin", districts=())
    sneaky = await office.file(person_name='=HYPERLINK("http://x","klik")', address="@SUM(1+1)")
    member = await office.signed_in(ani)

    row = (await export_rows(member))[0]
    assert row["Nomor"] == sneaky.number
    assert row["Nama"] == '\'=HYPERLINK("http://x","klik")' and row["Alamat"] == "'@SUM(1+1)"
    assert row["Telepon"] == "'+6281234567890"

    answer = await member.get("/console/queue/export.xlsx?lang=en")
    assert answer.status == 200 and answer.headers["Content-Disposition"].endswith('.xlsx"')
    sheet = load_workbook(io.BytesIO(await answer.read()), read_only=True).active
    heading, first = list(sheet.iter_rows(max_row=2))
    assert [c.value for c in heading][:2] == ["Number", "Created"]
    name = first[6]
    assert name.value == '=HYPERLINK("http://x","klik")' and name.data_type == "s"
    assert first[0].value == sneaky.number and first[12].value == "new"
    await member.close()


async def test_an_export_leaves_an_audit_row(office: ConsoleOffice) -> None:
    sri = await office.hire("Sri", role="supervisor")
    await office.file()
    member = await office.signed_in(sri)
    await export_rows(member, "?category=lansia_telantar")
    await member.get("/console/queue/export.xlsx?status=all")

    entries = await office.db.run(
        lambda s: (
            s.execute(select(AuditEntry).where(AuditEntry.action.like("export.%")).order_by(AuditEntry.id))
            .scalars()
            .all()
        )
    )
    assert [(e.action, e.staff_id, e.data) for e in entries] == [
        ("export.csv", sri.id, {"filter": {"category": "lansia_telantar"}, "rows": 1}),
        ("export.xlsx", sri.id, {"filter": {"status": "all"}, "rows": 1}),
    ]
    await member.close()


async def test_the_page_escapes_what_citizens_typed(office: ConsoleOffice) -> None:
    sri = await office.hire("Sri", role="supervisor")
    await office.file(person_name="<script>alert(1)</script>", description="<script>alert(2)</script>")
    member = await office.signed_in(sri)
    page = await (await member.get("/console/queue")).text()
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    await member.close()


def test_filters_round_trip_through_the_address() -> None:
    filt = QueueFilter.from_query(
        {
            "status": "new,assigned",
            "category": "odgj",
            "district": UMBULHARJO,
            "assignee": "7",
            "created_from": "2026-11-01",
            "sort": "due_asc",
            "sla": "overdue",
        }
    )
    assert QueueFilter.from_query(filt.to_query()) == filt
    assert filt.status == ("new", "assigned") and filt.assignee == 7
    assert QueueFilter.from_query({}).to_query() == {} and QueueFilter.from_query({"status": "all"}).status == ()
    assert QueueFilter.from_query({"category": "x'; drop", "district": "<b>", "kind": "spam"}) == QueueFilter()


async def test_addresses_no_form_makes_are_answered_not_crashed_on(office: ConsoleOffice) -> None:
    admin = await office.hire("Ani", role="admin", districts=())
    await office.file()
    member = await office.signed_in(admin)
    forged = [queue.encode_cursor("created_desc", None, 10**20), queue.encode_cursor("created_desc", None, -1)]
    for query in (
        "created_to=9999-12-31",
        "created_from=0001-01-01",
        *(f"after={cursor}" for cursor in forged),
        "after=" + base64.urlsafe_b64encode(b'{"s":"created_desc","v":"2026-01-01T00:00:00","i":5}').decode(),
    ):
        for path in ("/console/queue", "/console/queue/export.csv", "/console/queue/export.xlsx"):
            answer = await member.get(f"{path}?{query}")
            assert answer.status == 200, (path, query, await answer.text())
    assert (await member.get("/console/admin/staff/99999999999999999999")).status == 404
    await member.close()
