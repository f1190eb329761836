"""Area centres from the Kemendagri CSV import: an office can bring the centre of each district
and village (`code,name,lat,lon`) with its code list, so the map can draw cases without a GPS
pin at their village; a file without those columns imports as before."""

from __future__ import annotations

import html

from tests.console.test_admin import CONTENT, VERSION, _admin, _upload
from tests.console.test_map import WHOLE
from tests.support.console import ConsoleOffice
from workflows.config_store import Document
from workflows.console import district_import
from workflows.flowbook import Areas, document_of, load_flowbook

GIWANGAN = "34.71.04.1001"


def test_the_import_reads_optional_centres_and_applies_them() -> None:
    book = load_flowbook()
    areas = book.areas
    text = (
        "code,name,lat,lon\n"
        "34.71.15,Baru,-7.9,110.41\n"
        "34.71.15.2001,Desa Satu,-7.91,110.42\n"
        "34.71.15.2002,Desa Dua,,\n"  # no centre: the district's stands in
        f"{GIWANGAN},Giwangan Lor,-7.8301,110.3925\n"  # renamed and moved
        "34.71.04.1002,Sorosutan\n"  # as it is: two columns are still fine
    )
    plan = district_import.plan(areas, text)
    assert not plan.problems
    assert [(c.kind, c.code, c.centre) for c in plan.changes] == [
        ("add_district", "34.71.15", (-7.9, 110.41)),
        ("add_village", "34.71.15.2001", (-7.91, 110.42)),
        ("add_village", "34.71.15.2002", None),
        ("rename_village", GIWANGAN, None),
        ("move_village", GIWANGAN, (-7.8301, 110.3925)),
    ]
    assert plan.unchanged == 1

    document: Document = document_of(book, "areas")
    district_import.apply(document, text=text)
    changed = Areas.model_validate(document)
    centres = changed.centres()
    assert centres["34.71.15", None] == (-7.9, 110.41)
    assert centres["34.71.15", "34.71.15.2001"] == (-7.91, 110.42)
    assert centres["34.71.15", "34.71.15.2002"] == (-7.9, 110.41)
    assert centres["34.71.04", GIWANGAN] == (-7.8301, 110.3925)
    assert changed.village(GIWANGAN)[1].name == "Giwangan Lor"  # type: ignore[index]


def test_a_bad_centre_is_named_by_its_line() -> None:
    areas = load_flowbook().areas
    rows = (
        "code,name,lat,lon\n"
        f"{GIWANGAN},Giwangan,-7.83,\n"  # one of two
        f"{GIWANGAN[:-1]}2,Sorosutan,utara,110.38\n"  # not a number
        "34.71.04.1003,Pandeyan,110.38,-7.81\n"  # swapped: latitude out of range
        "34.71.04.1004,Warungboto,-7.8,110.39,x\n"  # five columns
    )
    assert [(p.line, p.reason) for p in district_import.plan(areas, rows).problems] == [
        (2, "centre"),
        (3, "centre"),
        (4, "centre"),
        (5, "columns"),
    ]


async def test_an_admin_imports_centres_and_the_map_uses_them(office: ConsoleOffice) -> None:
    admin = await _admin(office)
    preview = await _upload(admin, f"code,name,lat,lon\n{GIWANGAN},Giwangan,-7.8402,110.3999\n")
    page = await preview.text()
    assert preview.status == 200 and "pusat desa/kelurahan" in page and "(-7.8402, 110.3999)" in page
    content = html.unescape(CONTENT.search(page).group(1))  # type: ignore[union-attr]
    version = VERSION.search(page).group(1)  # type: ignore[union-attr]
    applied = await admin.post("/console/admin/areas/import", {"step": "apply", "content": content, "version": version})
    assert applied.status == 303, await applied.text()
    assert office.services.book.areas.centres()["34.71.04", GIWANGAN] == (-7.8402, 110.3999)
    ticket = await office.file(village=GIWANGAN, location=None)
    spots = (await (await admin.get("/console/map.json", params={"zoom": 12, "bbox": WHOLE})).json())["spots"]
    assert [(s["lat"], s["lon"], s["number"], s["approximate"]) for s in spots] == [
        (-7.8402, 110.3999, ticket.number, True)
    ]
    await admin.close()
