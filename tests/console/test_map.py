"""The map of cases and the PPKS register, as staff use them: counts that add up, filters,
areas that stay apart, masked NIKs, pages that walk every person once, and nothing from a CDN."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from pydantic import ValidationError

from storage.models import Staff, Ticket
from tests.support.console import MANTRIJERON, UMBULHARJO, ConsoleOffice
from workflows.console import mapview, register
from workflows.flowbook import Areas

# Spots inside the two districts (about a kilometre apart) and a third one farther south.
NORTH = {"lat": -7.8100, "lon": 110.3900}
EAST = {"lat": -7.8120, "lon": 110.3950}
SOUTH = {"lat": -7.8300, "lon": 110.3600}
WHOLE = "-8.5,109.5,-7.0,111.5"


async def _map(member: Any, **params: Any) -> dict[str, Any]:
    answer = await member.get("/console/map.json", params={"zoom": 12, **params})
    assert answer.status == 200, await answer.text()
    return await answer.json()


def _total(found: dict[str, Any]) -> int:
    return sum(spot["count"] for spot in found["spots"])


def _numbers(found: dict[str, Any]) -> set[str]:
    return {spot["number"] for spot in found["spots"]}


async def _reject(office: ConsoleOffice, admin: Staff, ticket: Ticket) -> None:
    def reject(session: Any) -> None:
        found = office.services.casework.find(session, admin, number=ticket.number, now=office.clock(), action="reject")
        office.services.casework.reject(session, admin, found, "duplicate", "Laporan ganda", office.clock())

    await office.db.run(reject)


async def test_the_circles_add_up_to_the_matching_cases(office: ConsoleOffice) -> None:
    admin = await office.hire("Ani", role="admin", districts=())
    tickets = [await office.file(location=spot) for spot in (NORTH, NORTH, EAST, SOUTH)]
    await office.file(district=MANTRIJERON, category="odgj", location=SOUTH)
    await office.file(description="Tanpa titik lokasi.", location=None)
    await _reject(office, admin, tickets[0])
    member = await office.signed_in(admin)

    found = await _map(member, bbox=WHOLE)
    assert not found["points"] and _total(found) == 5, "open cases only, the one without a pin at its village"
    assert _total(await _map(member, bbox=WHOLE, status="all")) == 6
    assert _total(await _map(member, bbox=WHOLE, status="rejected")) == 1
    odgj = await _map(member, bbox=WHOLE, category="odgj")
    assert [(s["count"], s["category"]) for s in odgj["spots"]] == [(1, "odgj")]
    assert _total(await _map(member, zoom=3)) == 5, "no box: everywhere"
    assert [s["approximate"] for s in (await _map(member, zoom=3))["spots"]] == [False, True], (
        "far out, the whole town is one circle, and the case without a pin one at its village"
    )
    close = await _map(member, zoom=12, bbox=WHOLE)
    assert any(spot["count"] == 1 and spot["number"] for spot in close["spots"])

    page = await member.get("/console/map?status=all")
    text = await page.text()
    assert page.status == 200 and "Daftar kasus di peta" in text
    assert "6 kasus di peta." in text and "tanpa titik lokasi" not in text
    for ticket in tickets:
        assert f'href="/console/cases/{ticket.number}"' in text
    # An office whose areas have no centres cannot draw the case without a pin, and says so.
    found = await office.db.run(
        lambda s: mapview.extent(s, viewer=admin, filters=mapview.Filters(status="all"), centres={})
    )
    assert (found.placed, found.unplaced, found.approximate) == (5, 1, 0)
    await member.close()


async def test_close_in_single_cases_come_one_by_one_and_the_box_bounds_them(office: ConsoleOffice) -> None:
    admin = await office.hire("Ani", role="admin", districts=())
    north = await office.file(location=NORTH)
    east = await office.file(location=EAST)
    await office.file(location=SOUTH)
    member = await office.signed_in(admin)
    around_north = "-7.8110,110.3890,-7.8090,110.3910"
    close = await _map(member, zoom=17, bbox=around_north)
    assert close["points"] and _numbers(close) == {north.number}
    both = await _map(member, zoom=16, bbox="-7.8130,110.3880,-7.8090,110.3960")
    assert _numbers(both) == {north.number, east.number}
    assert _total(await _map(member, bbox="-7.8130,110.3880,-7.8090,110.3960")) == 2
    await member.close()


async def test_an_officer_sees_only_their_district_on_the_map(office: ConsoleOffice) -> None:
    officer = await office.hire("Budi", role="officer", districts=(UMBULHARJO,))
    ours = await office.file(location=NORTH)
    await office.file(district=MANTRIJERON, location=SOUTH)
    await office.file(district=MANTRIJERON, location=NORTH)
    member = await office.signed_in(officer)
    close = await _map(member, zoom=18, bbox=WHOLE)
    assert _numbers(close) == {ours.number}
    assert _total(await _map(member, zoom=5)) == 1
    page = await (await member.get("/console/map")).text()
    assert "1 kasus di peta." in page
    await member.close()


async def test_the_map_page_uses_only_this_servers_leaflet(office: ConsoleOffice) -> None:
    member = await office.signed_in(await office.hire("Sri", role="supervisor"))
    answer = await member.get("/console/map")
    text = await answer.text()
    sources = re.findall(r'<script[^>]*\ssrc="([^"]+)"', text) + re.findall(r'<link[^>]*\shref="([^"]+)"', text)
    assert any("vendor/leaflet/leaflet.js" in s for s in sources)
    assert any("vendor/leaflet/leaflet.css" in s for s in sources)
    assert any("leaflet.markercluster.js" in s for s in sources)
    assert not [s for s in sources if re.match(r"(https?:)?//", s)], sources
    assert "<script>" not in text and "style=" not in text, "the policy allows no inline script or style"
    for source in sources:
        assert (await member.get(source)).status == 200, source
    assert 'data-tiles="https://tile.openstreetmap.org/{z}/{x}/{y}.png"' in text
    await member.close()


async def test_the_register_lists_people_with_nik_masked_but_for_the_admin(office: ConsoleOffice) -> None:
    await office.hire("Budi", role="officer")  # takes the tickets: the supervisor is not the assignee
    supervisor = await office.hire("Sri", role="supervisor")
    admin = await office.hire("Ani", role="admin", districts=())
    older = await office.file(person_name="Mbah Sarinah", person_nik="3471045507450001")
    office.clock.advance(minutes=30)
    newer = await office.file(person_name="Mbah Sarinah", person_nik="3471045507450001", category="fakir_miskin")
    await office.file(person_name="Pak Darmo", person_nik="3471041203500002", district=MANTRIJERON)

    seen = await office.signed_in(supervisor)
    text = await (await seen.get("/console/register")).text()
    assert "Mbah Sarinah" in text and "3471********0001" in text and "3471045507450001" not in text
    assert text.count("Mbah Sarinah") == 1 and newer.number in text and older.number not in text, "one row per person"
    assert "Keluarga sangat miskin" in text, "the latest complaint's PPKS type"
    assert "Pak Darmo" not in text, "Mantrijeron is outside her area"

    boss = await office.signed_in(admin)
    text = await (await boss.get("/console/register")).text()
    assert "3471045507450001" in text and "Pak Darmo" in text
    only = await (await boss.get("/console/register", params={"q": "pak d"})).text()
    assert "Pak Darmo" in only and "Mbah Sarinah" not in only
    in_district = await (await boss.get("/console/register", params={"district": MANTRIJERON})).text()
    assert "Pak Darmo" in in_district and "Mbah Sarinah" not in in_district
    by_type = await (await boss.get("/console/register", params={"category": "fakir_miskin"})).text()
    assert "Mbah Sarinah" in by_type and "Pak Darmo" not in by_type
    await seen.close()
    await boss.close()


async def test_register_pages_walk_every_person_once(office: ConsoleOffice) -> None:
    admin = await office.hire("Ani", role="admin", districts=())
    names = [f"Warga {letter}" for letter in "QWERTYUIOP"]
    for name in names:
        await office.file(person_name=name, person_nik=None)
        await office.file(person_name=name.upper(), person_nik=None)  # the same person, typed in capitals

    seen: list[str] = []
    cursor = None
    for _ in range(10):
        page = await office.db.run(register.people, viewer=admin, query=register.Query(), cursor=cursor, size=3)
        seen += [person.name.lower() for person in page.people]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == sorted(name.lower() for name in names)

    member = await office.signed_in(admin)
    first = await (await member.get("/console/register")).text()
    assert "Halaman berikutnya" not in first and all(name.upper() in first for name in names)
    await member.close()


async def test_people_without_a_name_are_listed_by_village_and_description(office: ConsoleOffice) -> None:
    admin = await office.hire("Ani", role="admin", districts=())
    await office.file(person_name="Pak Darmo", person_nik=None)
    street = await office.file(
        person_name=None,
        person_nik=None,
        category="odgj",
        village=f"{UMBULHARJO}.1002",
        description="Laki-laki berkeliaran di depan pasar, bicara sendiri, tidak berbaju.",
    )
    shackled = await office.file(
        person_name=None, person_nik=None, category="odgj", description="Perempuan dipasung di belakang rumah."
    )
    member = await office.signed_in(admin)
    text = await (await member.get("/console/register")).text()
    assert text.count("(tanpa nama)") == 2 and street.number in text and shackled.number in text
    assert "Laki-laki berkeliaran di depan pasar" in text and "Perempuan dipasung" in text
    assert text.index("Pak Darmo") < text.index(shackled.number) < text.index(street.number), "by name, then village"
    named_only = await (await member.get("/console/register", params={"q": "pak"})).text()
    assert "(tanpa nama)" not in named_only

    walked: list[str] = []
    cursor = None
    for _ in range(5):
        page = await office.db.run(register.people, viewer=admin, query=register.Query(), cursor=cursor, size=1)
        walked += [person.number for person in page.people]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert walked[1:] == [shackled.number, street.number] and len(walked) == 3
    await member.close()


async def test_a_name_with_markup_is_shown_as_text(office: ConsoleOffice) -> None:
    member = await office.signed_in(await office.hire("Ani", role="admin", districts=()))
    await office.file(person_name="<script>alert(1)</script>")
    text = await (await member.get("/console/register")).text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "<script>alert(1)" not in text
    await member.close()


async def test_register_pages_never_carry_a_nik_in_their_address(office: ConsoleOffice) -> None:
    officer = await office.hire("Budi")
    for index in range(4):
        await office.file(person_name=f"Warga {index}", person_nik=f"34710455074500{index:02d}")
    page = await office.db.run(register.people, viewer=officer, query=register.Query(), cursor=None, size=2)
    assert page.next_cursor is not None
    decoded = base64.urlsafe_b64decode(page.next_cursor + "=" * (-len(page.next_cursor) % 4)).decode()
    assert "3471" not in decoded and "warga" not in decoded, decoded
    second = await office.db.run(
        register.people, viewer=officer, query=register.Query(), cursor=page.next_cursor, size=2
    )
    assert [p.name for p in second.people] == ["Warga 2", "Warga 3"]
    other = await office.hire("Wati", districts=(MANTRIJERON,))
    elsewhere = await office.db.run(
        register.people, viewer=other, query=register.Query(), cursor=page.next_cursor, size=2
    )
    assert elsewhere.people == [], "a cursor naming a ticket the viewer may not see places nothing"


# ----------------------------------------------------------------- cases with a village but no GPS pin


def _centroid(office: ConsoleOffice, village: str) -> tuple[float, float]:
    found = office.services.book.areas.village(village)
    assert found is not None and found[1].lat is not None and found[1].lon is not None, village
    return found[1].lat, found[1].lon


def _at(spots: list[dict[str, Any]], where: tuple[float, float]) -> list[dict[str, Any]]:
    return [s for s in spots if (s["lat"], s["lon"]) == (round(where[0], 6), round(where[1], 6))]


async def test_a_case_with_only_a_village_is_drawn_at_the_village_centre_as_approximate(
    office: ConsoleOffice,
) -> None:
    admin = await office.hire("Ani", role="admin", districts=())
    pinned = await office.file(location=NORTH)
    sorosutan, gedongkiwo = UMBULHARJO + ".1002", MANTRIJERON + ".1001"
    here = [await office.file(village=sorosutan, location=None) for _ in range(2)]
    there = await office.file(district=MANTRIJERON, village=gedongkiwo, location=None)
    gone = await office.file(village=sorosutan, location=None)
    await _reject(office, admin, gone)
    member = await office.signed_in(admin)

    found = await _map(member, bbox=WHOLE)
    assert _total(found) == 4, "the three cases without a pin are on the map too"
    [village] = _at(found["spots"], _centroid(office, sorosutan))
    assert village["count"] == 2 and village["approximate"] is True
    [alone] = _at(found["spots"], _centroid(office, gedongkiwo))
    assert (alone["count"], alone["number"], alone["approximate"]) == (1, there.number, True)
    assert not any(s.get("approximate") for s in found["spots"] if s.get("number") == pinned.number)
    assert _total(await _map(member, bbox=WHOLE, status="all")) == 5

    lat, lon = _centroid(office, sorosutan)
    close = await _map(member, zoom=17, bbox=f"{lat - 0.001},{lon - 0.001},{lat + 0.001},{lon + 0.001}")
    assert close["points"] and _numbers(close) == {t.number for t in here}, "close in, one by one"
    assert all(s["approximate"] for s in close["spots"])
    away = await _map(member, zoom=12, bbox="-7.8110,110.3890,-7.8090,110.3910")
    assert not any(s.get("approximate") for s in away["spots"]), "a village centre outside the box stays out"

    page = await (await member.get("/console/map")).text()
    assert "4 kasus di peta." in page and "tanpa titik lokasi" not in page
    assert page.count("perkiraan lokasi (pusat desa)") >= 3, "each listed case without a pin says so"
    for ticket in (*here, there, pinned):
        assert f'href="/console/cases/{ticket.number}"' in page
    await member.close()


async def test_an_officer_sees_only_their_districts_approximate_cases(office: ConsoleOffice) -> None:
    officer = await office.hire("Budi", role="officer", districts=(UMBULHARJO,))
    ours = await office.file(location=None)
    await office.file(district=MANTRIJERON, location=None)
    member = await office.signed_in(officer)
    assert _numbers(await _map(member, zoom=18, bbox=WHOLE)) == {ours.number}
    assert _total(await _map(member, zoom=5)) == 1
    await member.close()


def test_an_area_centre_needs_both_coordinates_within_range(office: ConsoleOffice) -> None:
    areas = office.services.book.areas
    district = areas.districts[0].model_dump()
    assert district["lat"] is not None and district["villages"][0]["lon"] is not None
    for wrong in ({"lat": -7.8, "lon": None}, {"lat": None, "lon": 110.4}, {"lat": -97.0, "lon": 110.4}):
        with pytest.raises(ValidationError):
            Areas.model_validate({"regency": areas.regency.model_dump(), "districts": [{**district, **wrong}]})
    bare = {**district, "lat": None, "lon": None, "villages": [{**district["villages"][0], "lat": None, "lon": None}]}
    plain = Areas.model_validate({"regency": areas.regency.model_dump(), "districts": [bare]})
    assert plain.centres() == {}, "no centres: an office that gives none still loads"
    village = {**district["villages"][0], "lat": None, "lon": None}
    fallback = Areas.model_validate(
        {"regency": areas.regency.model_dump(), "districts": [{**district, "villages": [village]}]}
    )
    assert fallback.centres()[district["code"], village["code"]] == (district["lat"], district["lon"])
