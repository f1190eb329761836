"""The admin pages: areas (with a Kemendagri CSV import), categories and service standards,
routing, referral agencies, staff, the message preview and the audit trail. Every change is
used by the running chat at once, kept over a restart, and audited."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import datetime
from functools import partial

import aiohttp
import pytest
from sqlalchemy import select

from bot.app import RUNNER, SCHEDULER, create_app
from bot.console.core import CONSOLE
from bot.settings import Settings
from storage.models import AuditEntry, ConfigDocument, Ticket
from tests.support.console import MANTRIJERON, PASSWORD, UMBULHARJO, ConsoleOffice, SignedInClient
from workflows import config_store
from workflows.casework.service import Refused
from workflows.console import district_import
from workflows.console.samples import sample
from workflows.flowbook import load_flowbook

VERSION = re.compile(r'name="version" value="(\d+)"')
CONTENT = re.compile(r'name="content" value="([^"]*)"')
NEW_DISTRICT = "34.71.15"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, telegram_bot_username="dinsos_jogja_bot")


async def _admin(office: ConsoleOffice) -> SignedInClient:
    return await office.signed_in(await office.hire("Ani Admin", role="admin", districts=()))


async def _version(client: SignedInClient, path: str) -> str:
    page = await client.get(path)
    return VERSION.search(await page.text()).group(1)  # type: ignore[union-attr]


async def _upload(client: SignedInClient, text: str) -> aiohttp.ClientResponse:
    form = aiohttp.FormData()
    form.add_field("csrf", await client.csrf())
    form.add_field("step", "preview")
    form.add_field("file", text.encode(), filename="wilayah.csv", content_type="text/csv")
    return await client.client.post("/console/admin/areas/import", data=form)


async def _actions(office: ConsoleOffice) -> list[str]:
    return list(
        await office.db.run(lambda s: s.execute(select(AuditEntry.action).order_by(AuditEntry.id)).scalars().all())
    )


async def test_a_csv_import_adds_a_district_now_and_after_a_restart(office: ConsoleOffice, settings: Settings) -> None:
    admin = await _admin(office)
    csv = (
        f"code,name\n{NEW_DISTRICT},Wirobrajan Baru\n{NEW_DISTRICT}.1001,Pakuncen\n{NEW_DISTRICT}.1002,Patangpuluhan\n"
        "34.71.04.1001,Giwangan\n"
    )
    preview = await _upload(admin, csv)
    page = await preview.text()
    assert preview.status == 200, page
    assert "Wirobrajan Baru" in page and "Patangpuluhan" in page
    assert office.services.book.areas.district(NEW_DISTRICT) is None  # a preview changes nothing

    content = html.unescape(CONTENT.search(page).group(1))  # type: ignore[union-attr]
    version = VERSION.search(page).group(1)  # type: ignore[union-attr]
    applied = await admin.post("/console/admin/areas/import", {"step": "apply", "content": content, "version": version})
    assert applied.status == 303, await applied.text()

    district = office.services.book.areas.district(NEW_DISTRICT)
    assert district is not None and [v.name for v in district.villages] == ["Pakuncen", "Patangpuluhan"]
    engine = office.client.server.app[RUNNER].inbound.engine
    assert engine.book is office.services.book and office.services.casework.book is office.services.book
    assert office.client.server.app[SCHEDULER].ctx.book is office.services.book  # the reminders and digests too
    listing = await (await admin.get("/console/admin/areas")).text()
    assert "Wirobrajan Baru" in listing

    restarted = create_app(settings, clock=office.clock)
    try:
        again = restarted[CONSOLE].services.book.areas.district(NEW_DISTRICT)
        assert again is not None and again.name == "Wirobrajan Baru"
    finally:
        restarted[CONSOLE].db.close()
    assert (await _actions(office))[-1] == "config.areas"
    await admin.close()


async def test_a_bad_csv_is_refused_line_by_line_and_changes_nothing(office: ConsoleOffice) -> None:
    admin = await _admin(office)
    csv = (
        "code,name\n"
        f"{NEW_DISTRICT},Wirobrajan Baru\n"
        f"{NEW_DISTRICT}.1001,Pakuncen\n"
        "34.72.01,Kota Lain\n"  # line 4: another regency
        "34.71.1X,Salah\n"  # line 5: not a code
        f"{NEW_DISTRICT}.1002,Kelurahan Dengan Nama Yang Terlalu Panjang\n"
    )  # line 6: over 24 characters
    answer = await _upload(admin, csv)
    page = html.unescape(await answer.text())
    assert answer.status == 400
    rows = re.findall(r"<tr>\s*<td>(\d+)</td>\s*<td>([^<]+)</td>", page)
    assert [(line, reason.strip()) for line, reason in rows] == [
        ("4", "kode bukan dari kabupaten/kota ini (34.71)"),
        ("5", "kode bukan NN.NN.NN atau NN.NN.NN.NNNN"),
        ("6", "nama lebih dari 24 karakter"),
    ]
    assert 'name="content"' not in page  # nothing to apply
    assert office.services.book.areas.district(NEW_DISTRICT) is None
    assert await office.db.run(lambda s: s.execute(select(ConfigDocument)).first()) is None
    await admin.close()


async def test_adding_and_renaming_villages(office: ConsoleOffice) -> None:
    admin = await _admin(office)
    path = f"/console/admin/areas/{UMBULHARJO}"
    added = await admin.post(
        path + "/villages", {"number": "1099", "name": "Kampung Baru", "version": await _version(admin, path)}
    )
    assert added.status == 303
    renamed = await admin.post(
        path + "/villages/rename",
        {"village": f"{UMBULHARJO}.1099", "name": "Kampung Lama", "version": await _version(admin, path)},
    )
    assert renamed.status == 303
    assert office.services.book.areas.village(f"{UMBULHARJO}.1099")[1].name == "Kampung Lama"  # type: ignore[index]
    too_long = await admin.post(
        path, {"name": "Kecamatan Yang Namanya Kepanjangan", "version": await _version(admin, path)}
    )
    assert too_long.status == 400 and "paling banyak 24 karakter" in await too_long.text()
    stale = await admin.post(path, {"name": "Umbul", "version": "0"})  # drawn before the two changes above
    assert stale.status == 400 and "baru saja diubah" in await stale.text()
    assert office.services.book.areas.district(UMBULHARJO).name == "Umbulharjo"  # type: ignore[union-attr]
    await admin.close()


async def test_a_category_service_standard_sets_new_tickets_due_dates(office: ConsoleOffice) -> None:
    admin = await _admin(office)
    path = "/console/admin/categories/lansia_telantar"
    labels = await admin.post(
        path + "/labels",
        {"label_id": "Lansia terlantar", "label_en": "Neglected elder", "version": await _version(admin, path)},
    )
    assert labels.status == 303
    page = await (await admin.get(path)).text()
    office_version = re.findall(r'name="version" value="(\d+)"', page)[-1]  # the standards form's
    saved = await admin.post(
        path + "/standards", {"first_response": "3", "follow_up": "", "resolution": "20", "version": office_version}
    )
    assert saved.status == 303, await saved.text()

    ticket = await office.file(category="lansia_telantar")
    calendar = office.services.calendar
    due = {stage: calendar.local_date(datetime.fromisoformat(entry["due"])) for stage, entry in ticket.sla.items()}
    assert due["first_response"] == calendar.add_working_days(office.clock(), 3)
    assert due["follow_up"] == calendar.add_working_days(office.clock(), 5)  # blank: the office's default
    assert due["resolution"] == calendar.add_working_days(office.clock(), 20)
    assert office.services.book.category("complaint", "lansia_telantar")[1].label.id == "Lansia terlantar"  # type: ignore[index]
    assert (await _actions(office))[-2:] == ["config.categories", "config.office"]
    await admin.close()


async def test_a_new_routing_rule_sends_new_tickets_to_its_team(office: ConsoleOffice) -> None:
    admin = await _admin(office)
    assert (await office.file(category="lansia_telantar")).team == "umum"
    version = await _version(admin, "/console/admin/routing/new")
    added = await admin.post(
        "/console/admin/routing/new",
        {"team": "rehsos", "categories": "lansia_telantar", "districts": UMBULHARJO, "version": version},
    )
    assert added.status == 303, await added.text()
    assert (await office.file(category="lansia_telantar")).team == "rehsos"
    assert (await office.file(category="lansia_telantar", district=MANTRIJERON)).team == "umum"

    rules = len(office.services.book.office.routing)
    moved = await admin.post(
        f"/console/admin/routing/{rules}/move",
        {"direction": "up", "version": await _version(admin, "/console/admin/routing")},
    )
    page = html.unescape(await moved.text())
    assert moved.status == 400 and "the last rule must match every ticket" in page  # the validator's words
    assert len(office.services.book.office.routing) == rules and not office.services.book.office.routing[-1].categories
    await admin.close()


async def test_a_new_agency_is_offered_for_referral(office: ConsoleOffice) -> None:
    admin = await _admin(office)
    officer = await office.hire("Budi")
    ticket = await office.file(category="lansia_telantar")
    assert ticket.assignee_staff_id == officer.id
    casework = office.services.casework

    def refer(session, agency: str) -> None:  # type: ignore[no-untyped-def]
        found = session.get(Ticket, ticket.id)
        if found.status == "assigned":
            casework.accept(session, officer, found, office.clock())
        casework.refer(session, officer, found, agency, "Perbaikan rumah tidak layak huni", office.clock())

    with pytest.raises(Refused):
        await office.db.run(refer, "dinas_pupr")
    added = await admin.post(
        "/console/admin/agencies",
        {
            "key": "dinas_pupr",
            "label_id": "Dinas PUPR",
            "label_en": "Public works",
            "due_working_days": "7",
            "version": await _version(admin, "/console/admin/agencies"),
        },
    )
    assert added.status == 303, await added.text()
    await office.db.run(refer, "dinas_pupr")
    assert office.services.book.office.agency("dinas_pupr").due_working_days == 7  # type: ignore[union-attr]
    edited = await admin.post(
        "/console/admin/agencies/dinas_pupr",
        {
            "label_id": "Dinas PUPR",
            "label_en": "Public works",
            "due_working_days": "4",
            "version": await _version(admin, "/console/admin/agencies"),
        },
    )
    assert edited.status == 303
    assert office.services.book.office.agency("dinas_pupr").due_working_days == 4  # type: ignore[union-attr]
    await admin.close()


async def test_staff_are_added_invited_disabled_and_given_passwords(office: ConsoleOffice) -> None:
    admin = await _admin(office)
    added = await admin.post(
        "/console/admin/staff",
        {"name": "Citra Lestari", "role": "officer", "team": "rehsos", "districts": MANTRIJERON, "language": "id"},
    )
    assert added.status == 303, await added.text()
    listing = await (await admin.get("/console/admin/staff")).text()
    assert "Citra Lestari" in listing and "Mantrijeron" in listing

    invite = await admin.post("/console/admin/staff/invite", {"role": "supervisor", "team": ""})
    page = await invite.text()
    assert invite.status == 200
    assert re.search(r"https://t\.me/dinsos_jogja_bot\?start=join_[A-Za-z0-9_-]+", page)

    budi = await office.hire("Budi")
    own = await office.signed_in(budi)
    assert (await own.get("/console/account")).status == 200
    disabled = await admin.post(f"/console/admin/staff/{budi.id}/status", {"status": "disabled"})
    assert disabled.status == 303
    after = await own.get("/console/account", allow_redirects=False)
    assert after.status == 303 and after.headers["Location"].startswith("/console/signin")

    myself = await admin.post(f"/console/admin/staff/{admin.staff.id}/status", {"status": "disabled"})
    assert myself.status == 400

    dewi = await office.hire("Dewi")
    password = await admin.post(
        f"/console/admin/staff/{dewi.id}/password", {"username": "dewi.baru", "password": PASSWORD}
    )
    assert password.status == 303
    renamed = await office.signed_in(dewi, username="dewi.baru")
    by_admin = await office.db.run(
        lambda s: set(s.execute(select(AuditEntry.action).where(AuditEntry.staff_id == admin.staff.id)).scalars())
    )
    assert {"staff.add", "staff.invite", "staff.status", "staff.password"} <= by_admin
    await renamed.close()  # closing a client stops the app: last
    await own.close()
    await admin.close()


async def test_the_audit_trail_names_who_changed_what(office: ConsoleOffice) -> None:
    admin = await _admin(office)
    path = f"/console/admin/areas/{MANTRIJERON}"
    await admin.post(path, {"name": "Mantrijeron Kota", "version": await _version(admin, path)})
    page = html.unescape(await (await admin.get("/console/admin")).text())
    assert "Ani Admin" in page and "wilayah diubah" in page and "Mantrijeron Kota" in page
    assert "baris perintah" in page  # Ani herself was added the way `satupintu staff add` adds staff
    await admin.close()


async def test_only_admins_reach_the_admin_pages(office: ConsoleOffice) -> None:
    supervisor = await office.signed_in(await office.hire("Sri", role="supervisor"))
    for path in (
        "/console/admin",
        "/console/admin/areas",
        "/console/admin/categories/odgj",
        "/console/admin/routing",
        "/console/admin/agencies",
        "/console/admin/staff",
        "/console/admin/templates",
    ):
        assert (await supervisor.get(path)).status == 403, path
    posted = await supervisor.post(
        "/console/admin/agencies",
        {"key": "x", "label_id": "X", "label_en": "X", "due_working_days": "3", "version": "0"},
    )
    assert posted.status == 403
    staff = await supervisor.post("/console/admin/staff", {"name": "Diam-diam", "role": "admin"})
    assert staff.status == 403
    assert office.services.book.office.agency("x") is None
    hired = await office.db.run(
        lambda s: s.execute(
            select(AuditEntry.staff_id, AuditEntry.data["name"].as_string()).where(AuditEntry.action == "staff.add")
        ).all()
    )
    assert [tuple(row) for row in hired] == [(None, "Sri")]  # her own hiring, by the test; none by her
    assert not [action for action in await _actions(office) if action.startswith("config.")]
    await supervisor.close()


async def test_the_message_preview_shows_every_message_in_both_languages(office: ConsoleOffice) -> None:
    admin = await _admin(office)
    page = html.unescape(await (await admin.get("/console/admin/templates")).text())
    texts = office.services.texts
    for key in ("citizen/accepted", "intake/ticket_created", "steps/consent"):
        assert key in page
        for language in ("id", "en"):
            assert texts.render(key, language, sample(key)) in page
    assert page.count("<pre>") == 2 * len(texts.keys())
    await admin.close()


async def test_a_change_saved_by_another_process_is_taken_up_by_the_admin_pages(office: ConsoleOffice) -> None:
    admin = await _admin(office)
    before = office.services.book

    def elsewhere(session) -> None:  # type: ignore[no-untyped-def]
        config_store.change(
            session,
            book=before,
            name="areas",
            version=0,
            staff_id=admin.staff.id,
            now=office.clock(),
            edit=partial(config_store.rename_district, code=MANTRIJERON, name="Mantrijeron Baru"),
        )

    await office.db.run(elsewhere)  # stored, but this process was not told
    assert office.services.book.areas.district(MANTRIJERON).name == "Mantrijeron"  # type: ignore[union-attr]
    assert (await admin.get("/console/admin/areas")).status == 200
    assert office.services.book.areas.district(MANTRIJERON).name == "Mantrijeron Baru"  # type: ignore[union-attr]
    await admin.close()


def test_the_import_reads_spreadsheet_csv_and_names_every_bad_row() -> None:
    areas = load_flowbook().areas
    saved_by_excel = "\ufeffkode;nama\r\n34.71.04.1001;Giwangan Lor\r\n34.71.15;Baru\r\n34.71.15.2001;Desa Satu\r\n"
    plan = district_import.plan(areas, district_import.decode(saved_by_excel.encode()) or "")
    assert not plan.problems
    assert [(c.kind, c.code, c.before) for c in plan.changes] == [
        ("add_district", "34.71.15", None),
        ("rename_village", "34.71.04.1001", "Giwangan"),
        ("add_village", "34.71.15.2001", None),
    ]

    rows = "code,name\n34.71.04.1001,Giwangan\n34.71.04.1001,Giwangan Lagi\n34.71.04.1002\n"
    assert [(p.line, p.reason) for p in district_import.plan(areas, rows).problems] == [
        (3, "duplicate"),
        (4, "columns"),
    ]
    orphans = "code,name\n34.71.16,Tanpa Desa\n34.71.17.1001,Tanpa Kecamatan\n"
    assert [(p.line, p.reason) for p in district_import.plan(areas, orphans).problems] == [
        (2, "no_villages"),
        (3, "no_district"),
    ]
    assert [p.reason for p in district_import.plan(areas, "code,name\n").problems] == ["empty"]
    assert district_import.decode(b"\xff\xfe,") is None


async def test_a_document_saved_in_the_console_says_it_overrides_its_file_and_an_admin_can_go_back(
    office: ConsoleOffice, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    admin = await _admin(office)
    path = f"/console/admin/areas/{MANTRIJERON}"
    renamed = await admin.post(path, {"name": "Mantrijeron Baru", "version": await _version(admin, path)})
    assert renamed.status == 303
    for page in ("/console/admin/areas", path):
        text = await (await admin.get(page)).text()
        assert "Pengaturan ini diatur dari konsol" in text and "Ani Admin" in text, page
        assert "berkas areas.yaml diabaikan" in text, page
    assert "diatur dari konsol" not in await (await admin.get("/console/admin/agencies")).text(), "office: the file's"

    with caplog.at_level("WARNING", logger="bot.app"):
        elsewhere = create_app(settings, clock=office.clock)  # another process, started after the change
    overridden = [r.getMessage() for r in caplog.records if "ignored" in r.getMessage()]
    assert len(overridden) == 1 and "areas" in overridden[0] and "areas.yaml" in overridden[0]
    other = elsewhere[CONSOLE].services
    assert other.book.areas.district(MANTRIJERON).name == "Mantrijeron Baru"  # type: ignore[union-attr]
    try:
        confirm = await admin.get("/console/admin/config/areas/file")
        page = await confirm.text()
        assert confirm.status == 200 and "Kembali ke berkas areas.yaml?" in page
        back = await admin.post("/console/admin/config/areas/file", {"version": VERSION.search(page).group(1)})  # type: ignore[union-attr]
        assert back.status == 303, await back.text()
        assert office.services.book.areas.district(MANTRIJERON).name == "Mantrijeron"  # type: ignore[union-attr]
        assert "diatur dari konsol" not in await (await admin.get(path)).text()
        assert (await _actions(office))[-1] == "config.areas"
        await elsewhere[CONSOLE].db.run(other.refresh)  # the other process's every-few-seconds check
        assert other.book.areas.district(MANTRIJERON).name == "Mantrijeron"  # type: ignore[union-attr]
    finally:
        elsewhere[CONSOLE].db.close()
    again = await admin.post(path, {"name": "Mantrijeron Lagi", "version": await _version(admin, path)})
    assert again.status == 303 and office.services.book.areas.district(MANTRIJERON).name == "Mantrijeron Lagi"  # type: ignore[union-attr]
    await admin.close()
