"""Possible duplicates on the console's case page: both cases say they may be the same, the
supervisor links the second to the first with the page's form and unlinks it again; each step
is on both timelines."""

from __future__ import annotations

import re

from tests.support.console import ConsoleOffice

VERSION = re.compile(r'name="version" value="(\d+)"')


async def test_the_case_page_links_and_unlinks_a_possible_duplicate(office: ConsoleOffice) -> None:
    await office.hire("Budi")
    sri = await office.hire("Sri", role="supervisor")
    first = await office.file(person_name="Mbah Sarinah", description="Nenek tinggal sendiri, belum makan dua hari.")
    office.clock.advance(days=1)
    second = await office.file(
        person_name="Nenek Sarinah", description="Mbah Sarinah hidup sendirian dan jarang makan.", reporter_phone=None
    )
    member = await office.signed_in(sri)

    page = await (await member.get(f"/console/cases/{second.number}")).text()
    assert "Mungkin sama dengan" in page and f'href="/console/cases/{first.number}"' in page
    assert f'action="/console/cases/{second.number}/link_duplicate"' in page
    assert f'<option value="{first.id}"' in page
    version = VERSION.search(page).group(1)  # type: ignore[union-attr]
    linked = await member.post(
        f"/console/cases/{second.number}/link_duplicate", {"version": version, "case": str(first.id)}
    )
    assert linked.status == 303
    page = await (await member.get(linked.headers["Location"])).text()
    assert "Tiket digabung" in page and "Digabung ke" in page and "digabung" in page
    assert f"Digabung ke kasus {first.number}" in page  # the timeline
    assert f'action="/console/cases/{second.number}/unlink"' in page
    case = await (await member.get(f"/console/cases/{first.number}")).text()
    assert "Laporan lain tentang kasus ini" in case and f"Laporan {second.number} digabung ke kasus ini" in case
    assert "Mungkin sama dengan" not in case  # linked: no longer a suggestion

    version = VERSION.search(page).group(1)  # type: ignore[union-attr]
    unlinked = await member.post(f"/console/cases/{second.number}/unlink", {"version": version})
    page = await (await member.get(unlinked.headers["Location"])).text()
    assert "Tiket dipisahkan" in page and f"Dipisahkan dari kasus {first.number}" in page
    assert "Mungkin sama dengan" in page  # a suggestion again, should the officer change their mind
    await member.close()


async def test_a_case_with_nothing_alike_offers_no_link(office: ConsoleOffice) -> None:
    sri = await office.hire("Sri", role="supervisor")
    ticket = await office.file()
    member = await office.signed_in(sri)
    page = await (await member.get(f"/console/cases/{ticket.number}")).text()
    assert "Mungkin sama dengan" not in page and "link_duplicate" not in page
    await member.close()
