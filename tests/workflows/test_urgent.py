"""The urgent track, end to end on the real database with a clock the test sets: a report of a
child in danger filed on a Friday night, and one on Christmas Day, reach the officer on call at
once on every chat they have, are re-sent until accepted, escalate to the area's supervisor,
and stop once accepted; their deadlines are in hours; the citizen is given the hotlines; a
report that is not urgent goes on exactly as before."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy import select

from bot.app import build_inbound, build_services
from bot.settings import Settings
from storage.db import Database
from storage.migrate import upgrade
from storage.models import OutboxMessage, Staff, Ticket
from tests.support.scheduler import scheduler_for
from workflows import audit
from workflows import staff as records
from workflows.calendar import WorkingCalendar
from workflows.casework import on_call
from workflows.console import queue
from workflows.engine import Inbound
from workflows.flowbook import DATA_DIR, Rota
from workflows.inbound import Envelope, InboundHandler
from workflows.jobs import JobContext, digest
from workflows.services import Services

WIB = timezone(timedelta(hours=7))
UMBULHARJO = "34.71.04"
BUDI_TG, BUDI_WA, ANI_TG, SRI_TG = "7001", "6281200007001", "7002", "7003"
FRIDAY_NIGHT = datetime(2026, 12, 4, 22, 30, tzinfo=WIB)
CHRISTMAS = datetime(2026, 12, 25, 10, 0, tzinfo=WIB)  # a Friday, a national holiday
# Budi (staff 1) is on call on weekday nights, weekends and holidays; Ani (by username) in office hours.
ROTA = {
    "shifts": [
        {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "07:30", "to": "16:00", "staff": ["ani"]},
        {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "16:00", "to": "07:30", "staff": [1]},
        {"days": ["sat", "sun", "holiday"], "from": "00:00", "to": "00:00", "staff": [1]},
    ],
    "fallback": "supervisor",
}
# A child needing protection (not urgent by its category) in Giwangan, typed as a citizen would.
CHILD_IN_DANGER = [
    "/start",
    "Pengaduan",
    "Setuju",
    "Anak",
    "Anak perlu perlindungan",
    "ya",  # someone is in danger now
    "Orang lain",
    "lewati",
    "tidak tahu",
    "lewati",
    "lewati",
    "Umbulharjo",
    "Giwangan",
    "Jl. Imogiri Timur RT 03",
    "lewati",
    "lewati",
    "Anak kecil dipukuli ayahnya tiap malam, sekarang terdengar teriakan.",
    "lewati",
    "kirim",
]
NEGLECTED_ELDER = [
    "/start",
    "Pengaduan",
    "Setuju",
    "Lansia",
    "Lansia telantar",
    "Orang lain",
    "Mbah Sarinah",
    "tidak tahu",
    "80",
    "Perempuan",
    "Umbulharjo",
    "Giwangan",
    "Jl. Imogiri Timur RT 03",
    "lewati",
    "lewati",
    "Nenek tinggal sendiri dan tidak ada yang merawat.",
    "lewati",
    "kirim",
]


class Clock:
    def __init__(self) -> None:
        self.now = FRIDAY_NIGHT

    def __call__(self) -> datetime:
        return self.now


class Office:
    """One office with an on-call rota for its protection team, its chat and its scheduler."""

    def __init__(self, settings: Settings, flows_dir: Path, hotline: str | None) -> None:
        office = yaml.safe_load((DATA_DIR / "office.yaml").read_text(encoding="utf-8"))
        office["urgent"]["on_call"]["perlindungan"] = ROTA
        office["urgent"]["hotlines"][2]["number"] = hotline  # the regency's UPTD PPA
        flows_dir.mkdir()
        (flows_dir / "office.yaml").write_text(yaml.safe_dump(office), encoding="utf-8")
        settings = dataclasses.replace(settings, flows_dir=flows_dir)
        upgrade(settings.effective_database_url)
        self.db = Database(settings.effective_database_url)
        self.services: Services = build_services(settings)
        self.chat: InboundHandler = build_inbound(settings, self.services)
        self.clock = Clock()
        self.scheduler = scheduler_for(settings, self.db, self.services, self.clock)
        self.last_seen = 0
        self.messages = 0

    def hire(self, name: str, telegram: str, *, role: str = "officer", whatsapp: str | None = None) -> Staff:
        def add(session: Any) -> Staff:
            team = "perlindungan" if role == "officer" else None
            scope = records.check_scope(self.services.book, role=role, team=team, districts=[UMBULHARJO], categories=[])
            return records.add_staff(
                session,
                book=self.services.book,
                name=name,
                scope=scope,
                telegram_user_id=telegram,
                whatsapp_number=whatsapp,
                language="id",
                by=audit.CLI,
                now=self.clock(),
            )

        return self.db.run_sync(add)

    def set_username(self, staff_id: int, username: str) -> None:
        def work(session: Any) -> None:
            staff = session.get(Staff, staff_id)
            staff.username = username

        self.db.run_sync(work)

    def citizen_types(self, citizen: str, texts: list[str]) -> list[str]:
        """A web chat citizen types each text; the replies to the last one."""
        replies: list[str] = []
        for text in texts:
            self.messages += 1
            envelope = Envelope(
                channel="web",
                external_id=citizen,
                chat_id=citizen,
                event=Inbound(kind="text", text=text),
                message_id=f"{citizen}-{self.messages}",
            )
            handled = self.db.run_sync(lambda s, e=envelope: self.chat.handle(s, e, self.clock()))
            replies = self.texts_of(handled.outbox_ids)
        return replies

    def texts_of(self, ids: list[int]) -> list[str]:
        rows = self.db.run_sync(
            lambda s: (
                s.execute(select(OutboxMessage).where(OutboxMessage.id.in_(ids)).order_by(OutboxMessage.id))
                .scalars()
                .all()
            )
        )
        return [row.payload["text"] for row in rows]

    def ticket(self, number: str | None = None) -> Ticket:
        query = select(Ticket).order_by(Ticket.id.desc())
        if number is not None:
            query = select(Ticket).where(Ticket.number == number)
        return self.db.run_sync(lambda s: s.execute(query).scalars().first())

    def accept(self, number: str, telegram: str) -> None:
        def work(session: Any) -> None:
            staff = session.execute(select(Staff).where(Staff.telegram_user_id == telegram)).scalars().one()
            ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalars().one()
            self.services.casework.accept(session, staff, ticket, self.clock())

        self.db.run_sync(work)

    def new_messages(self) -> dict[str, list[str]]:
        """Messages queued since the last look, by chat (staff: 'telegram:7001'), digests left out."""
        rows = self.db.run_sync(
            lambda s: (
                s.execute(select(OutboxMessage).where(OutboxMessage.id > self.last_seen).order_by(OutboxMessage.id))
                .scalars()
                .all()
            )
        )
        fresh: dict[str, list[str]] = {}
        for row in rows:
            if not (row.dedupe_key or "").startswith(("digest:", "weekly:")):
                fresh.setdefault(f"{row.channel}:{row.chat_id}", []).append(row.payload["text"])
        self.last_seen = max([r.id for r in rows], default=self.last_seen)
        return fresh

    async def tick_at(self, when: datetime) -> dict[str, list[str]]:
        self.clock.now = when
        await self.scheduler.tick()
        return self.new_messages()


@pytest.fixture
async def office(settings: Settings, tmp_path: Path) -> AsyncIterator[Office]:
    made = Office(settings, tmp_path / "flows", hotline=None)
    made.hire("Budi", BUDI_TG, whatsapp=BUDI_WA)  # staff 1: on call at night and on holidays
    ani = made.hire("Ani", ANI_TG)
    made.set_username(ani.id, "ani")  # type: ignore[arg-type]
    made.hire("Sri", SRI_TG, role="supervisor")
    made.new_messages()
    yield made
    await made.scheduler.stop()
    made.db.close()


BUDI = (f"telegram:{BUDI_TG}", f"whatsapp:{BUDI_WA}")
SRI = f"telegram:{SRI_TG}"


async def alerted_until_accepted(office: Office, number: str, filed: datetime) -> None:
    """Re-sent to Budi on both chats every 10 minutes, escalated to Sri from 30, over once accepted."""
    assert await office.tick_at(filed + timedelta(minutes=1)) == {}
    again = await office.tick_at(filed + timedelta(minutes=10))
    assert sorted(again) == sorted(BUDI)
    for chat in BUDI:
        assert again[chat][0].startswith(f"🚨 DARURAT {number}: belum diterima sejak 10 menit")
        assert "🚨 DARURAT — ada orang yang mungkin dalam bahaya" in again[chat][1]  # the card, to accept from
    assert await office.tick_at(filed + timedelta(minutes=10, seconds=30)) == {}  # a doubled tick
    assert sorted(await office.tick_at(filed + timedelta(minutes=20))) == sorted(BUDI)
    escalated = await office.tick_at(filed + timedelta(minutes=30, seconds=40))
    assert sorted(escalated) == sorted([*BUDI, SRI])
    assert escalated[SRI][0].startswith(f"🚨 Eskalasi DARURAT {number}: belum diterima sejak 30 menit")
    assert "Petugas piket: Budi" in escalated[SRI][0]
    assert f"telegram:{ANI_TG}" not in escalated  # not on call now
    office.clock.now = filed + timedelta(minutes=33)
    office.accept(number, BUDI_TG)
    office.new_messages()  # the citizen hears it is accepted
    for minutes in (40, 50, 60, 120):
        assert await office.tick_at(filed + timedelta(minutes=minutes)) == {}, minutes


async def test_a_child_in_danger_on_friday_night_wakes_the_officer_on_call(office: Office) -> None:
    replies = office.citizen_types("web-1", CHILD_IN_DANGER)
    ticket = office.ticket()
    assert ticket.urgent and ticket.category == "anak_perlindungan"  # urgent by the citizen's "yes"
    assert ticket.assignee_staff_id == 1 and ticket.status == "assigned"  # Budi, on call tonight
    # Deadlines in hours from 22:30 on Friday, not working days (that would be Monday 23:59).
    assert ticket.due_at == FRIDAY_NIGHT + timedelta(hours=1) and ticket.sla_stage == "first_response"
    dues = {stage: datetime.fromisoformat(entry["due"]) for stage, entry in ticket.sla.items()}
    assert dues == {
        "first_response": FRIDAY_NIGHT + timedelta(hours=1),
        "follow_up": FRIDAY_NIGHT + timedelta(hours=24),
        "resolution": FRIDAY_NIGHT + timedelta(hours=168),
    }
    # The citizen: the number, the hour it will be answered by, and whom to call right now.
    assert ticket.number in replies[0] and "Jumat, 04 Desember 2026 23.30 (1 jam)" in replies[0]
    hotlines = replies[1]
    assert hotlines.startswith(f"🚨 Laporan {ticket.number} kami tangani sebagai DARURAT")
    assert "📞 Darurat: 112" in hotlines and "📞 SAPA 129: 129" in hotlines
    assert "UPTD PPA" not in hotlines  # the office has not given its number yet
    # The officer on call, at once, on every chat he has; nobody else.
    alerted = office.new_messages()
    assert sorted(chat for chat in alerted if chat != "web:web-1") == sorted(BUDI)
    for chat in BUDI:
        assert alerted[chat][0].startswith("🆕 Tiket baru untuk Anda\n🚨 DARURAT")
        assert "Batas tanggapan pertama: Jumat, 04 Desember 2026 23.30" in alerted[chat][0]
    await alerted_until_accepted(office, ticket.number, FRIDAY_NIGHT)
    assert office.ticket(ticket.number).status == "in_progress"


async def test_a_report_on_a_holiday_goes_to_the_holiday_shift_at_once(office: Office) -> None:
    office.clock.now = CHRISTMAS  # 10:00 on a Friday: Ani's hours on a working day
    office.citizen_types("web-2", CHILD_IN_DANGER)
    ticket = office.ticket()
    assert ticket.urgent and ticket.assignee_staff_id == 1  # the holiday shift (Budi), not Ani
    assert ticket.due_at == CHRISTMAS + timedelta(hours=1)
    assert sorted(chat for chat in office.new_messages() if chat != "web:web-2") == sorted(BUDI)
    await alerted_until_accepted(office, ticket.number, CHRISTMAS)


async def test_an_urgent_category_is_urgent_without_the_question_and_office_hours_go_to_the_day_shift(
    office: Office,
) -> None:
    monday = datetime(2026, 12, 7, 9, 0, tzinfo=WIB)
    office.clock.now = monday
    steps = ["/start", "Pengaduan", "Setuju", "Kekerasan", "Anak korban kekerasan", *CHILD_IN_DANGER[6:]]
    replies = office.citizen_types("web-3", steps)
    ticket = office.ticket()
    assert ticket.urgent and ticket.category == "anak_kekerasan" and "danger" not in ticket.details
    ani = office.db.run_sync(lambda s: s.execute(select(Staff).where(Staff.username == "ani")).scalars().one())
    assert ticket.assignee_staff_id == ani.id  # on call in office hours, named by username
    assert "DARURAT" in replies[1]
    assert list(chat for chat in office.new_messages() if chat != "web:web-3") == [f"telegram:{ANI_TG}"]


async def test_a_report_that_is_not_urgent_is_unchanged(office: Office) -> None:
    replies = office.citizen_types("web-4", NEGLECTED_ELDER)
    ticket = office.ticket()
    assert not ticket.urgent and ticket.team == "umum"
    assert len(replies) == 2 and "(1 hari kerja)" in replies[0] and "DARURAT" not in replies[0]  # and the menu
    assert office.services.calendar.local_date(ticket.due_at) == datetime(2026, 12, 7).date()  # Monday
    routed = office.new_messages()  # the general team has no officer: parked with Sri, as before
    assert sorted(routed) == [SRI, "web:web-4"] and len(routed[SRI]) == 1 and "DARURAT" not in routed[SRI][0]
    assert await office.tick_at(FRIDAY_NIGHT + timedelta(minutes=40)) == {}


async def test_the_hotline_of_the_regency_is_shown_once_the_office_gives_its_number(
    settings: Settings, tmp_path: Path
) -> None:
    office = Office(settings, tmp_path / "flows", hotline="0274 515 111")
    try:
        replies = office.citizen_types("web-5", CHILD_IN_DANGER)
        assert "📞 UPTD PPA: 0274 515 111 (jam kerja)" in replies[1]
        ticket = office.ticket()
        # Nobody on staff yet: no rota, no supervisor; routed as any ticket is, still urgent.
        assert ticket.urgent and ticket.assignee_staff_id is None
    finally:
        office.db.close()


def test_the_rota_reads_days_hours_overnight_shifts_and_holidays() -> None:
    working = WorkingCalendar(ZoneInfo("Asia/Jakarta"))
    rota = Rota.model_validate(ROTA)
    assert on_call.on_shift(rota, working, datetime(2026, 12, 4, 15, 59, tzinfo=WIB)) == ["ani"]
    assert on_call.on_shift(rota, working, datetime(2026, 12, 4, 16, 0, tzinfo=WIB)) == [1]
    assert on_call.on_shift(rota, working, datetime(2026, 12, 5, 7, 0, tzinfo=WIB)) == [
        1,
        1,
    ]  # Friday's night, Saturday
    assert on_call.on_shift(rota, working, datetime(2026, 12, 8, 7, 29, tzinfo=WIB)) == [1]  # Monday's night shift
    assert on_call.on_shift(rota, working, CHRISTMAS) == [1]  # the holiday shift, not the weekday's
    day_only = Rota.model_validate({"shifts": ROTA["shifts"][:1]})
    assert on_call.on_shift(day_only, working, datetime(2026, 12, 5, 10, 0, tzinfo=WIB)) == []  # Saturday


async def test_urgent_tickets_come_first_in_the_queue_and_the_digest(office: Office) -> None:
    office.citizen_types("web-6", NEGLECTED_ELDER)
    office.clock.now += timedelta(minutes=5)
    office.citizen_types("web-7", CHILD_IN_DANGER)
    office.clock.now += timedelta(minutes=5)
    office.citizen_types("web-8", NEGLECTED_ELDER)
    office.clock.now += timedelta(minutes=5)
    office.citizen_types("web-9", NEGLECTED_ELDER)
    urgent_number = office.db.run_sync(
        lambda s: s.execute(select(Ticket.number).where(Ticket.urgent.is_(True))).scalar_one()
    )
    zone = office.services.calendar.zone

    def walk(sort: str) -> list[str]:
        """Every page of two rows of Sri's queue in `sort` order, newest first by default."""
        numbers: list[str] = []
        after: str | None = None
        while True:

            def read(session: Any, after: str | None = after) -> queue.QueuePage:
                sri = session.execute(select(Staff).where(Staff.telegram_user_id == SRI_TG)).scalars().one()
                filt = queue.QueueFilter(sort=sort)
                return queue.page(session, viewer=sri, filt=filt, after=after, limit=2, now=office.clock(), zone=zone)

            found = office.db.run_sync(read)
            numbers += [row.ticket.number for row in found.rows]
            if found.next_cursor is None:
                return numbers
            after = found.next_cursor

    everything = ["SP-2026-00001", "SP-2026-00002", "SP-2026-00003", "SP-2026-00004"]
    assert urgent_number == "SP-2026-00002"
    assert walk("created_desc") == ["SP-2026-00002", "SP-2026-00004", "SP-2026-00003", "SP-2026-00001"]
    assert walk("created_asc") == ["SP-2026-00002", "SP-2026-00001", "SP-2026-00003", "SP-2026-00004"]
    assert walk("due_asc")[0] == "SP-2026-00002" and sorted(walk("due_asc")) == everything

    def daily(session: Any) -> str:
        sri = session.execute(select(Staff).where(Staff.telegram_user_id == SRI_TG)).scalars().one()
        ctx = JobContext(office.services)
        say = digest.build_digest(
            session, ctx=ctx, supervisor=sri, day=datetime(2026, 12, 7).date(), now=office.clock()
        )
        return office.services.texts.message(say, "id").text

    text = office.db.run_sync(daily)
    urgent_at = text.index(
        "🚨 Darurat belum selesai: 1\n• SP-2026-00002 · Anak perlu perlindungan · Giwangan · Budi · ditugaskan\n\n"
    )
    assert urgent_at < text.index("🆕 Laporan baru")  # before everything else


async def test_no_danger_now_leaves_a_child_protection_report_on_working_days(office: Office) -> None:
    office.clock.now = datetime(2026, 12, 7, 9, 0, tzinfo=WIB)  # Monday: Ani is on call
    answers = [*CHILD_IN_DANGER[:5], "tidak", *CHILD_IN_DANGER[6:-1]]
    summary = office.citizen_types("web-10", answers)
    assert "• Dalam bahaya: Tidak" in summary[-1]
    replies = office.citizen_types("web-10", ["kirim"])
    ticket = office.ticket()
    assert not ticket.urgent and ticket.details["danger"] is False and "(1 hari kerja)" in replies[0]
    assert ticket.assignee_staff_id == 1  # the least-loaded officer (Budi, by id on a tie), not the one on call
    assert not any("DARURAT" in text for texts in office.new_messages().values() for text in texts)
