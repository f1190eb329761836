"""The village facilitator: files reports through assisted intake and sees only the cases they
filed — in the queue, on the case page (read only), on the map, in the register, the reports and
the exports — is never given a ticket, and reads in the chat what they can do there."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from storage.models import Staff, Ticket, TicketEvent
from tests.console.test_intake import RECEIPT, complaint, send
from tests.support.console import UMBULHARJO, ConsoleOffice, SignedInClient
from workflows import staff as records
from workflows.engine import Say

WHOLE = "-8.5,109.5,-7.0,111.5"
TOTAL = re.compile(r"Tiket masuk: <strong>(\d+)</strong>")


async def filed_by(member: SignedInClient, office: ConsoleOffice, name: str, nik: str) -> str:
    answer = await send(member, complaint(office, person_name=name, person_nik=nik))
    assert answer.status == 303, await answer.text()
    return RECEIPT.match(answer.headers["Location"]).group(1)  # type: ignore[union-attr]


CASES = ("/console/queue", "/console/queue/export.csv", "map")  # pages that list cases by number
PEOPLE = "/console/register"  # lists people, by name


async def pages(member: SignedInClient) -> dict[str, str]:
    """What each page shows the member (the map's cases by number, the report's total)."""
    seen = {}
    for path in ("/console/queue", "/console/queue/export.csv", PEOPLE, "/console/reports"):
        answer = await member.get(path)
        assert answer.status == 200, (path, answer.status)
        seen[path] = await answer.text()
    spots = await member.get("/console/map.json", params={"zoom": 18, "bbox": WHOLE})
    assert spots.status == 200
    seen["map"] = " ".join(spot.get("number") or "" for spot in (await spots.json())["spots"])
    seen["/console/reports"] = TOTAL.search(seen["/console/reports"]).group(1)  # type: ignore[union-attr]
    return seen


@pytest.fixture
async def world(office: ConsoleOffice) -> dict[str, Any]:
    """A facilitator and an officer of the same district, each filing one report at the desk,
    and one report from the chat."""
    officer = await office.hire("Budi", telegram_user_id="7001")
    facilitator = await office.hire("Fajar", role="facilitator")
    fajar, budi = await office.signed_in(facilitator), await office.signed_in(officer)
    mine = await filed_by(fajar, office, "Mbah Sarinah", "3471045507450001")
    theirs = await filed_by(budi, office, "Pak Darmo", "3471040101500002")
    chat = (await office.file(person_name="Bu Wagiyem", person_nik="3471044202550003")).number
    return {
        "facilitator": facilitator,
        "officer": officer,
        "fajar": fajar,
        "budi": budi,
        "numbers": (mine, theirs, chat),
    }


async def test_a_facilitator_sees_only_the_cases_they_filed_on_every_page(
    office: ConsoleOffice, world: dict[str, Any]
) -> None:
    mine, theirs, chat = world["numbers"]
    fajar, budi = await pages(world["fajar"]), await pages(world["budi"])
    for path in CASES:
        assert mine in fajar[path] and theirs not in fajar[path] and chat not in fajar[path], path
        assert all(number in budi[path] for number in (mine, theirs, chat)), path  # the district's officer
    assert "Mbah Sarinah" in fajar[PEOPLE] and "Pak Darmo" not in fajar[PEOPLE] and "Bu Wagiyem" not in fajar[PEOPLE]
    assert all(name in budi[PEOPLE] for name in ("Mbah Sarinah", "Pak Darmo", "Bu Wagiyem"))
    assert (fajar["/console/reports"], budi["/console/reports"]) == ("1", "3")


async def test_the_case_page_is_read_only_for_the_facilitator_and_closed_on_others_cases(
    office: ConsoleOffice, world: dict[str, Any]
) -> None:
    mine, theirs, chat = world["numbers"]
    fajar = world["fajar"]
    page = await fajar.get(f"/console/cases/{mine}")
    text = await page.text()
    assert page.status == 200 and "Mbah Sarinah" in text
    assert f'action="/console/cases/{mine}/' not in text, "no forms to act on the case"
    for other in (theirs, chat):
        assert (await fajar.get(f"/console/cases/{other}")).status == 403
        assert (await fajar.get(f"/console/intake/receipt/{other}")).status == 403
    before = await office.db.run(lambda s: s.execute(select(Ticket).where(Ticket.number == mine)).scalars().one())
    for action, form in (("note", {"text": "Sudah dikunjungi"}), ("accept", {}), ("resolve", {"resolution": "x"})):
        answer = await fajar.post(f"/console/cases/{mine}/{action}", {"version": str(before.version), **form})
        assert answer.status == 403, action
    kinds = await office.db.run(
        lambda s: list(s.execute(select(TicketEvent.kind).where(TicketEvent.ticket_id == before.id)).scalars())
    )
    assert "note" not in kinds and "accept" not in kinds
    assert (await fajar.get("/console/admin/staff")).status == 403
    assert (await fajar.get("/console/intake")).status == 200


async def test_a_facilitator_is_never_given_a_ticket(office: ConsoleOffice) -> None:
    facilitator = await office.hire("Fajar", role="facilitator")
    alone = await office.file()
    assert alone.assignee_staff_id is None  # nobody to route to: a facilitator does not count
    await office.db.run(lambda s: office.services.casework.rehome(s, now=office.clock()))
    assert (await office.db.run(lambda s: s.get(Ticket, alone.id))).assignee_staff_id is None
    officer = await office.hire("Budi")
    assert (await office.file()).assignee_staff_id == officer.id
    assert facilitator.id not in await office.db.run(
        lambda s: list(s.execute(select(Ticket.assignee_staff_id)).scalars())
    )


async def test_the_staff_form_and_the_cli_know_the_role(office: ConsoleOffice) -> None:
    admin = await office.hire("Ani", role="admin", districts=())
    boss = await office.signed_in(admin)
    form = await (await boss.get("/console/admin/staff")).text()
    assert 'value="facilitator"' in form
    answer = await boss.post(
        "/console/admin/staff", {"name": "Fajar", "role": "facilitator", "districts": UMBULHARJO, "language": "id"}
    )
    assert answer.status == 303, await answer.text()
    fajar = await office.db.run(lambda s: s.execute(select(Staff).where(Staff.name == "Fajar")).scalars().one())
    assert (fajar.role, fajar.team, fajar.districts) == ("facilitator", None, [UMBULHARJO])
    assert "facilitator" in records.ROLES


def test_the_chat_tells_a_facilitator_what_they_can_do(office: ConsoleOffice) -> None:
    texts = office.services.texts
    for language in ("id", "en"):
        words = texts.message(Say("desk/help", {"role": "facilitator"}), language).text
        officer = texts.message(Say("desk/help", {"role": "officer"}), language).text
        assert words != officer
        assert "/konsol" in words or "/console" in words
        assert "/tickets" not in words and "/away" not in words  # never given tickets, never on leave from them
    indonesian = texts.message(Say("desk/help", {"role": "facilitator"}), "id").text
    assert "Layanan langsung" in indonesian and "Anda ajukan" in indonesian
