"""Staff records and the staff side of the chat: `satupintu staff …` run in-process against the
database under test; invite links redeemed over Telegram (the real app, the fake Bot API); a
supervisor's overview of their own district; an officer's internal note on a ticket card."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.cli import main
from bot.clock import utc_now
from storage.db import Database
from storage.models import AuditEntry, ConsoleSession, Staff, StaffInvite
from tests.support.office import (
    BUDI,
    MANTRIJERON,
    NUMBER,
    SITI,
    SRI,
    UMBULHARJO,
    Office,
    card_of,
    file,
)
from tests.support.telegram import TelegramCitizen
from workflows import audit, config_store, signin
from workflows import staff as records
from workflows.flowbook import load_flowbook

WATI, YUDI = 7101, 7102


# ----------------------------------------------------------------- the command line


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]) -> Any:
    """`satupintu …` as an administrator runs it: settings from the environment only."""
    for name in ("SATUPINTU_CONFIG", "SATUPINTU_FLOWS_DIR", "TELEGRAM_BOT_USERNAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SATUPINTU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DATABASE_URL", database_url)

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def rows(listing: str) -> list[list[str]]:
    """`staff list` output as cells, without the header."""
    lines = listing.strip().splitlines()
    assert lines[0].split("\t") == ["id", "name", "role", "team", "status", "districts", "categories", "chat"]
    return [line.split("\t") for line in lines[1:]]


def test_cli_adds_staff_with_their_districts_and_categories_and_lists_them(cli: Any) -> None:
    code, out, _ = cli(
        "staff",
        "add",
        "--name",
        "Budi  Santoso",
        "--role",
        "officer",
        "--district",
        UMBULHARJO,
        "--district",
        MANTRIJERON,
        "--category",
        "lansia_telantar",
        "--telegram-user-id",
        "7001",
    )
    assert code == 0
    assert out.startswith("added staff 1: 1\tBudi Santoso\tofficer\tumum\tactive")
    code, out, _ = cli("staff", "add", "--name", "Sri Wahyuni", "--role", "supervisor", "--team", "rehsos")
    assert code == 0

    code, out, _ = cli("staff", "list")
    assert code == 0
    assert rows(out) == [
        ["1", "Budi Santoso", "officer", "umum", "active", "34.71.01,34.71.04", "lansia_telantar", "telegram:7001"],
        ["2", "Sri Wahyuni", "supervisor", "rehsos", "active", "all districts", "all categories", "no chat yet"],
    ]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--district", "34.71.99"), "unknown district code '34.71.99'"),
        (("--category", "lansia"), "unknown category 'lansia'"),  # a group, not a category
        (("--team", "keuangan"), "unknown team 'keuangan'; known: umum, perlindungan, rehsos"),
    ],
)
def test_cli_refuses_an_unknown_code_with_exit_code_2_and_adds_nobody(
    cli: Any, extra: tuple[str, ...], message: str
) -> None:
    code, out, err = cli("staff", "add", "--name", "Budi", "--role", "officer", "--district", UMBULHARJO, *extra)
    assert code == 2
    assert err.strip() == f"error: {message}"
    assert out == ""  # nothing a script would take for a result
    code, out, _ = cli("staff", "list")
    assert rows(out) == []


def test_cli_refuses_the_same_telegram_user_twice(cli: Any) -> None:
    assert cli("staff", "add", "--name", "Budi", "--role", "officer", "--telegram-user-id", "7001")[0] == 0
    code, _, err = cli("staff", "add", "--name", "Budi lagi", "--role", "officer", "--telegram-user-id", "7001")
    assert (code, err.strip()) == (2, "error: Telegram user 7001 is already staff")


def test_cli_links_a_whatsapp_number_as_whatsapp_names_it_and_refuses_a_bad_or_taken_one(cli: Any) -> None:
    code, out, _ = cli("staff", "add", "--name", "Rina", "--role", "officer", "--whatsapp-number", "0857-0000-0002")
    assert code == 0 and out.rstrip().endswith("whatsapp:6285700000002")
    code, _, err = cli(
        "staff", "add", "--name", "Rina lagi", "--role", "officer", "--whatsapp-number", "+62 857 0000 0002"
    )
    assert (code, err.strip()) == (2, "error: WhatsApp number 6285700000002 is already staff")
    code, _, err = cli("staff", "add", "--name", "Salah", "--role", "officer", "--whatsapp-number", "12345")
    assert (code, err.strip()) == (2, "error: '12345' is not a valid phone number")


def test_cli_invite_prints_a_wa_me_link_when_the_whatsapp_number_is_set(
    cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHATSAPP_DISPLAY_NUMBER", "+62 811-0000-0000")
    code, out, _ = cli("staff", "invite", "--role", "officer")
    [link] = [line for line in out.splitlines() if line.startswith("WhatsApp: ")]
    code_in_text = [line for line in out.splitlines() if line.startswith("Or send the bot: ")][0].split("/start ", 1)[1]
    assert code == 0 and link == f"WhatsApp: https://wa.me/6281100000000?text=/start%20{code_in_text}"


def test_cli_invite_prints_the_start_command_and_the_link_when_the_bot_is_named(
    cli: Any, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    code, out, _ = cli("staff", "invite", "--role", "officer", "--district", UMBULHARJO, "--category", "odgj")
    assert code == 0
    assert out.startswith("One-time invite for a new officer, valid until ")
    assert "t.me" not in out
    [start] = [line for line in out.splitlines() if line.startswith("Or send the bot: /start join_")]
    first_code = start.split("/start ", 1)[1]

    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", "DinsosJogjaBot")
    code, out, _ = cli("staff", "invite", "--role", "supervisor")
    assert code == 0
    [link] = [line for line in out.splitlines() if line.startswith("Link: ")]
    second_code = link.removeprefix("Link: https://t.me/DinsosJogjaBot?start=")
    assert second_code.startswith("join_") and f"/start {second_code}" in out
    assert second_code != first_code

    # The printed codes are the stored invites, each with the scope it was made for.
    db = Database(database_url)
    try:
        invites = db.run_sync(
            lambda s: {
                i.code: (i.role, i.districts, i.categories, i.used_at) for i in s.execute(select(StaffInvite)).scalars()
            }
        )
    finally:
        db.close()
    assert invites == {first_code: ("officer", [UMBULHARJO], ["odgj"], None), second_code: ("supervisor", [], [], None)}


def test_cli_disable_away_and_back_change_the_listed_status(cli: Any) -> None:
    cli("staff", "add", "--name", "Budi", "--role", "officer")
    assert cli("staff", "away", "1")[1].strip() == "staff 1 (Budi) is now away"
    assert rows(cli("staff", "list")[1])[0][4] == "away"
    assert cli("staff", "back", "1")[1].strip() == "staff 1 (Budi) is now active"
    assert rows(cli("staff", "list")[1])[0][4] == "active"
    assert cli("staff", "disable", "1")[1].strip() == "staff 1 (Budi) is now disabled"
    assert rows(cli("staff", "list")[1])[0][4] == "disabled"
    code, _, err = cli("staff", "disable", "9")
    assert (code, err.strip()) == (2, "error: no staff member 9")


def test_cli_staff_actions_are_audited_as_the_console_s_are_and_disabling_ends_console_sessions(
    cli: Any, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("staff", "add", "--name", "Budi", "--role", "officer", "--district", UMBULHARJO)[0] == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("kata-sandi-panjang\n"))
    assert cli("staff", "password", "1", "--username", "budi", "--password-stdin")[0] == 0
    assert cli("staff", "invite", "--role", "supervisor")[0] == 0
    db = Database(database_url)
    try:

        def sign_in(session: Any) -> None:  # Budi opens the console in two browsers
            for _ in range(2):
                signin.open_session(session, staff=session.get(Staff, 1), how="password", now=utc_now())

        db.run_sync(sign_in)
        for command in ("away", "back", "disable"):
            assert cli("staff", command, "1")[0] == 0

        def trail(session: Any) -> list[tuple[str, int | None, str | None, dict[str, Any]]]:
            entries = session.execute(select(AuditEntry).where(AuditEntry.action != "signin").order_by(AuditEntry.id))
            return [(e.action, e.staff_id, e.subject, e.data) for e in entries.scalars()]

        assert db.run_sync(trail) == [
            (
                "staff.add",
                None,
                "staff:1",
                {"name": "Budi", "role": "officer", "team": "umum", "districts": [UMBULHARJO], "actor": "cli"},
            ),
            ("staff.password", None, "staff:1", {"actor": "cli"}),
            ("staff.invite", None, "invite:1", {"role": "supervisor", "team": None, "districts": [], "actor": "cli"}),
            ("staff.status", None, "staff:1", {"status": "away", "actor": "cli"}),
            ("staff.status", None, "staff:1", {"status": "active", "actor": "cli"}),
            ("staff.status", None, "staff:1", {"status": "disabled", "actor": "cli"}),
        ]
        sessions = db.run_sync(lambda s: s.execute(select(ConsoleSession).where(ConsoleSession.staff_id == 1)).all())
        assert sessions == []  # signed out everywhere, as a disable in the console does
    finally:
        db.close()


def test_cli_knows_a_district_an_admin_added_in_the_console(cli: Any, database_url: str) -> None:
    cli("staff", "add", "--name", "Ani", "--role", "admin")
    db = Database(database_url)
    try:

        def add(session: Any) -> None:
            config_store.change(
                session,
                book=load_flowbook(),
                name="areas",
                version=0,
                staff_id=1,
                now=utc_now(),
                edit=lambda document: config_store.add_district(
                    document,
                    code="34.71.15",
                    name="Kotabaru Baru",
                    village_code="34.71.15.1001",
                    village_name="Terban Baru",
                ),
            )

        db.run_sync(add)
    finally:
        db.close()
    code, out, err = cli("staff", "add", "--name", "Dewi", "--role", "officer", "--district", "34.71.15")
    assert code == 0, err
    assert rows(cli("staff", "list")[1])[1][5] == "34.71.15"


def test_cli_sets_a_console_password_and_prints_a_one_time_sign_in_link(
    cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli("staff", "add", "--name", "Ani", "--role", "admin")
    monkeypatch.setattr("sys.stdin", io.StringIO("pendek\n"))
    code, _, err = cli("staff", "password", "1", "--username", "ani", "--password-stdin")
    assert code == 2 and "at least 10 characters" in err
    monkeypatch.setattr("sys.stdin", io.StringIO("kata-sandi-panjang\n"))
    code, out, _ = cli("staff", "password", "1", "--username", "Ani", "--password-stdin")
    assert (code, out.strip()) == (0, "staff 1 (Ani) signs in to the console as ani")
    monkeypatch.setenv("SATUPINTU_PUBLIC_URL", "https://dinsos.example.go.id/")
    code, out, _ = cli("staff", "console-link", "1")
    assert code == 0
    assert re.search(r"^https://dinsos\.example\.go\.id/console/signin/link/[A-Za-z0-9_-]{40,}$", out.splitlines()[-1])


# ----------------------------------------------------------------- joining by invite, in Telegram


async def invite(
    office: Office, *, role: str = "officer", districts: tuple[str, ...] = (UMBULHARJO,), made: timedelta = timedelta()
) -> str:
    """A one-time join code, made `made` ago."""

    def create(session: Any) -> str:
        scope = records.check_scope(office.book, role=role, team=None, districts=districts, categories=())
        return records.create_invite(
            session, book=office.book, scope=scope, by=audit.CLI, now=office.clock() - made
        ).code

    return await office.db.run(create)


async def test_an_invite_makes_the_person_staff_once_and_they_get_their_districts_tickets(office: Office) -> None:
    code = await invite(office)
    wati = office.person(WATI, "Wati")
    [welcome] = await wati.type(f"/start {code}")
    assert welcome.text.startswith("Selamat bergabung, Wati! Anda terdaftar sebagai petugas.")
    [tickets] = await wati.type("/tickets")
    assert "Tidak ada tiket terbuka untuk Anda" in tickets.text  # the staff desk answers now

    # The same code again, by someone else: refused kindly; they stay a citizen.
    yudi = office.person(YUDI, "Yudi")
    [refused] = await yudi.type(f"/start {code}")
    assert "Tautan undangan itu sudah dipakai" in refused.text and "Minta tautan baru" in refused.text
    not_staff, menu = await yudi.type("/tickets")
    assert "tidak kami kenal" in not_staff.text and "Apa yang ingin Anda lakukan?" in menu.text

    # A citizen reports from Umbulharjo: the new officer gets the card.
    number = await file(office, office.person(SITI, "Siti"))
    [card] = await wati.catch_up()
    assert card.text.startswith("🆕 Tiket baru untuk Anda") and number in card.text
    assert "Terima" in wati.buttons(card)
    assert await yudi.catch_up() == []


async def test_an_expired_or_unknown_invite_is_refused(office: Office) -> None:
    code = await invite(office, made=timedelta(hours=office.book.office.invite_valid_hours, minutes=1))
    wati = office.person(WATI, "Wati")
    [expired] = await wati.type(f"/start {code}")
    assert "Tautan undangan itu sudah kedaluwarsa" in expired.text
    [unknown] = await wati.type("/start join_bukan-kode-asli")
    assert "Tautan undangan itu tidak dikenal" in unknown.text
    not_staff, menu = await wati.type("/tickets")
    assert "tidak kami kenal" in not_staff.text and "Apa yang ingin Anda lakukan?" in menu.text
    used = await office.db.run(lambda s: [i.used_at for i in s.execute(select(StaffInvite)).scalars()])
    assert used == [None]


async def test_staff_using_a_second_invite_is_told_they_are_already_staff(office: Office) -> None:
    budi = await office.hire("Budi", BUDI)
    code = await invite(office, role="supervisor")
    [told] = await budi.type(f"/start {code}")
    assert "Anda sudah terdaftar sebagai petugas" in told.text
    [help_text] = await budi.type("/help")
    assert "/overview" not in help_text.text  # still an officer, not made supervisor


# ----------------------------------------------------------------- a supervisor's overview


async def report(citizen: TelegramCitizen, district: str, village: str) -> str:
    """The shortest complaint about someone else in `district`; returns the ticket number."""
    await citizen.type("/start")
    await citizen.press("Pengaduan")
    await citizen.press("Setuju")
    await citizen.press("Lansia")
    await citizen.press("Lansia telantar")
    await citizen.press("Orang lain")
    await citizen.press("Lewati")  # name
    await citizen.press("Tidak tahu")  # NIK
    await citizen.press("Lewati")  # age
    await citizen.press("Lewati")  # sex
    await citizen.press(district)
    await citizen.press(village)
    await citizen.type("Jl. Bantul km 1, dekat pasar")
    await citizen.type("Lewati")  # location: the skip is on the reply keyboard
    await citizen.press("Lewati")  # photos
    await citizen.type("Kakek tidur di emperan toko sejak seminggu.")
    await citizen.press("Lewati")  # phone
    [confirmation, _menu] = await citizen.press("Kirim")
    return NUMBER.search(confirmation.text).group(0)


async def test_the_overview_counts_open_tickets_by_status_in_the_supervisors_district_only(office: Office) -> None:
    budi = await office.hire("Budi", BUDI)
    sri = await office.hire("Sri", SRI, role="supervisor")
    here = [await report(office.person(8200 + i, f"Warga {i}"), "Umbulharjo", "Sorosutan") for i in range(3)]
    # Mantrijeron has no officer and no supervisor: its ticket waits unassigned, but not Sri's.
    elsewhere = [await report(office.person(8300 + i, f"Tetangga {i}"), "Mantrijeron", "Gedongkiwo") for i in range(2)]
    await budi.catch_up()
    await budi.press("Terima", card_of(budi, here[0]))

    [overview] = await sri.type("/overview")
    assert overview.text.startswith("Ringkasan wilayah Anda: 3 tiket terbuka")
    assert "• ditangani: 1" in overview.text and "• ditugaskan: 2" in overview.text
    assert "• baru" not in overview.text  # the two new tickets of Mantrijeron are not Sri's
    assert "Tanpa petugas: 0" in overview.text
    assert not any(number in overview.text for number in elsewhere)
    assert [(await office.ticket(number)).unassigned for number in elsewhere] == [True, True]

    [officer] = await budi.type("/overview")
    assert "Ringkasan wilayah" not in officer.text and "Perintah petugas" in officer.text


async def test_konsol_in_chat_answers_with_a_one_time_console_link_that_signs_in(office: Office) -> None:
    sri = await office.hire("Sri", SRI, role="supervisor")
    [answer] = await sri.type("/konsol")
    assert "Tautan masuk ke konsol petugas (berlaku 15 menit, sekali pakai)" in answer.text
    path = re.search(r"/console/signin/link/[A-Za-z0-9_-]+", answer.text).group(0)  # type: ignore[union-attr]

    def redeem(session: Any) -> Any:
        return signin.redeem_link(session, token=path.rsplit("/", 1)[1], now=office.clock())

    staff = await office.db.run(redeem)
    assert staff is not None and staff.name == "Sri"
    assert await office.db.run(redeem) is None  # once only


# ----------------------------------------------------------------- an internal note on a card


async def test_a_note_is_kept_on_the_ticket_and_never_sent_to_the_citizen(office: Office) -> None:
    budi = await office.hire("Budi", BUDI)
    siti = office.person(SITI, "Siti")
    number = await file(office, siti)
    [card] = await budi.catch_up()
    [asked] = await budi.press("Catatan", card)
    assert f"Tulis catatan internal untuk {number} (tidak dikirim ke warga)" in asked.text
    [saved] = await budi.type("Tetangga bilang anaknya di Jakarta, nomor HP belum didapat.")
    assert saved.text == f"✅ Catatan disimpan ({number})."
    assert await siti.catch_up() == []
    assert not any("Jakarta" in (m.text or "") for m in siti.messages)
    [note] = [e for e in await office.events(number) if e.kind == "note"]
    assert note.data == {"text": "Tetangga bilang anaknya di Jakarta, nomor HP belum didapat."}
    assert note.actor.startswith("staff:")
    assert (await office.ticket(number)).status == "assigned"  # a note moves nothing


@pytest.mark.parametrize("how", ["/cancel", "Batal"])
async def test_cancelling_a_note_stores_nothing(office: Office, how: str) -> None:
    budi = await office.hire("Budi", BUDI)
    number = await file(office, office.person(SITI, "Siti"))
    [card] = await budi.catch_up()
    await budi.press("Catatan", card)
    [cancelled] = await budi.type(how) if how.startswith("/") else await budi.press(how)
    assert cancelled.text == "Dibatalkan. Tidak ada yang diubah."
    [after] = await budi.type("Ini bukan catatan lagi.")
    assert "Perintah petugas" in after.text  # the note is no longer awaited
    events = await office.events(number)
    assert [e.kind for e in events] == ["created", "assign"]


@pytest.mark.parametrize(
    "forged", ["card|note:²:0", "card|note:99999999999999:0", "card|accept:1:99999999999999999999"]
)
async def test_a_forged_card_button_is_refused_as_out_of_date(office: Office, forged: str) -> None:
    budi = await office.hire("Budi", BUDI)
    number = await file(office, office.person(SITI, "Siti"))
    [card] = await budi.catch_up()
    [refused] = await budi.press_data(card, forged)
    assert "Tombol itu sudah tidak berlaku" in refused.text
    assert [e.kind for e in await office.events(number)] == ["created", "assign"]
    [fresh] = await budi.type(f"/ticket {number}")  # the officer's chat still works
    [accepted] = await budi.press("Terima", fresh)
    assert accepted.text.startswith("✅ Anda menangani tiket ini")
