"""The supervisors' daily digest and weekly summary, on the real database: a small office in two
districts (open, late, closed and rated tickets, referrals), seen by the supervisor of one
district; the jobs that send them once a working day (once a week) from 07:00 local; and
`satupintu digest` printing or queuing one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.app import build_services
from bot.settings import Settings
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Contact, OutboxMessage, Referral, Staff, SurveyResponse, Ticket
from tests.bot.test_staff import cli  # noqa: F401  (the fixture: `satupintu …` in-process)
from workflows.jobs import JobContext, digest

WIB = timezone(timedelta(hours=7))
UMBULHARJO, MANTRIJERON = "34.71.04", "34.71.01"
GIWANGAN, PANDEYAN, SEMAKI, GEDONGKIWO = "34.71.04.1001", "34.71.04.1003", "34.71.04.1007", "34.71.01.1001"
TUESDAY = date(2026, 11, 24)
# What must never reach a digest: the citizen's and the reporter's personal data.
NIK, PERSON, REPORTER, PHONE, ADDRESS = (
    "3471014507850001",
    "Mbah Sarinah",
    "Siti Aminah",
    "+6281234567890",
    "Jl. Imogiri",
)


def wib(day: str, hour: int = 23, minute: int = 59) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:{minute:02d}:00").replace(tzinfo=WIB)


def stages(
    first: tuple[str, str | None], follow: tuple[str, str | None], resolution: tuple[str, str | None]
) -> dict[str, Any]:
    """`ticket.sla` from (due day, met instant or None) per stage; due at 23:59 local."""
    return {
        stage: {"due": wib(due).isoformat(), "met": met and datetime.fromisoformat(met).replace(tzinfo=WIB).isoformat()}
        for stage, (due, met) in (("first_response", first), ("follow_up", follow), ("resolution", resolution))
    }


class Office:
    """The database, the jobs' context, and the rows the tests look at."""

    def __init__(self, settings: Settings) -> None:
        upgrade(settings.effective_database_url)
        self.db = Database(settings.effective_database_url)
        self.ctx: JobContext = JobContext(build_services(settings))
        self.staff: dict[str, Staff] = {}
        self.db.run_sync(self._seed)

    def _hire(self, session: Any, name: str, role: str, district: str, telegram: str | None, **extra: Any) -> Staff:
        staff = Staff(
            name=name,
            role=role,
            districts=[district],
            telegram_user_id=telegram,
            created_at=wib("2026-01-05", 9),
            **extra,
        )
        session.add(staff)
        session.flush()
        self.staff[name] = staff
        return staff

    def _seed(self, session: Any) -> None:
        sri = self._hire(session, "Sri", "supervisor", UMBULHARJO, "7003")
        self._hire(session, "Wati", "supervisor", MANTRIJERON, "7004", language="en")
        self._hire(session, "Rina", "supervisor", UMBULHARJO, "7005", status="away")  # on leave: no digest
        self._hire(session, "Yudi", "supervisor", UMBULHARJO, None)  # no chat yet: skipped, no error
        budi = self._hire(session, "Budi", "officer", UMBULHARJO, "7001")
        andi = self._hire(session, "Andi", "officer", MANTRIJERON, "7002")
        citizen = Contact(
            channel="telegram",
            external_id="9001",
            chat_id="9001",
            display_name=REPORTER,
            phone=PHONE,
            created_at=wib("2026-01-05", 9),
        )
        session.add(citizen)
        session.flush()
        self.sequence = 0

        def ticket(
            created: datetime,
            status: str,
            category: str,
            village: str,
            sla: dict[str, Any],
            assignee: Staff | None,
            kind: str = "complaint",
            resolved: datetime | None = None,
            unassigned: bool = False,
        ) -> Ticket:
            self.sequence += 1
            unmet = sorted((datetime.fromisoformat(e["due"]), stage) for stage, e in sla.items() if e["met"] is None)
            row = Ticket(
                number=f"SP-2026-{self.sequence:05d}",
                kind=kind,
                category=category,
                reporter_contact_id=citizen.id,
                reporter_phone=PHONE,
                subject="other",
                person_name=PERSON,
                person_nik=NIK,
                address=ADDRESS + " 5",
                district_code=village[:8],
                village_code=village,
                status=status,
                channel="telegram",
                assignee_staff_id=assignee.id if assignee else None,
                unassigned=unassigned,
                sla=sla,
                due_at=unmet[0][0] if unmet else None,
                sla_stage=unmet[0][1] if unmet else None,
                resolved_at=resolved,
                created_at=created,
                updated_at=created,
            )
            session.add(row)
            session.flush()
            return row

        def rated(
            created: str,
            category: str,
            village: str,
            sla: dict[str, Any],
            resolved: str,
            scores: tuple[int, int, int],
            officer: Staff = budi,
        ) -> None:
            """Closed: resolved at 09:00 on `resolved`, rated the day after."""
            row = ticket(wib(created, 9), "closed", category, village, sla, officer, resolved=wib(resolved, 9))
            session.add(
                SurveyResponse(
                    ticket_id=row.id,
                    scores=dict(zip(("time", "conduct", "complaints"), scores, strict=True)),
                    created_at=wib(resolved, 9) + timedelta(days=1),
                )
            )

        def refer(row: Ticket, status: str, due: str) -> None:
            session.add(
                Referral(
                    ticket_id=row.id,
                    agency="disdukcapil",
                    request="Perekaman KTP-el",
                    due_at=wib(due),
                    status=status,
                    created_by_staff_id=budi.id,
                    created_at=row.created_at,
                    updated_at=row.created_at,
                )
            )

        # Umbulharjo. 00001: new yesterday, due tonight.
        ticket(
            wib("2026-11-23", 10),
            "assigned",
            "lansia_telantar",
            GIWANGAN,
            stages(("2026-11-24", None), ("2026-11-30", None), ("2026-12-11", None)),
            budi,
        )
        # 00002: first response in time, follow-up due yesterday: 1 working day late.
        ticket(
            wib("2026-11-16", 9),
            "in_progress",
            "odgj",
            SEMAKI,
            stages(("2026-11-17", "2026-11-16T11:00"), ("2026-11-23", None), ("2026-12-04", None)),
            budi,
        )
        # 00003: a service request nobody could take, first response due Wednesday: 4 working days late.
        ticket(
            wib("2026-11-13", 9),
            "new",
            "sktm",
            PANDEYAN,
            stages(("2026-11-18", None), ("2026-11-20", None), ("2026-12-03", None)),
            sri,
            kind="service",
            unassigned=True,
        )
        # 00004, 00005: closed and rated this month; 00005's first response was late.
        rated(
            "2026-11-02",
            "lansia_telantar",
            GIWANGAN,
            stages(
                ("2026-11-03", "2026-11-03T09:00"),
                ("2026-11-09", "2026-11-06T09:00"),
                ("2026-11-20", "2026-11-10T09:00"),
            ),
            "2026-11-10",
            (4, 4, 3),
        )
        rated(
            "2026-11-05",
            "odgj",
            SEMAKI,
            stages(
                ("2026-11-06", "2026-11-09T09:00"),
                ("2026-11-12", "2026-11-12T09:00"),
                ("2026-11-25", "2026-11-12T09:00"),
            ),
            "2026-11-12",
            (2, 3, 3),
        )
        # 00006: long ago, rated badly: outside the 30 days.
        rated(
            "2026-09-01",
            "lansia_telantar",
            GIWANGAN,
            stages(
                ("2026-09-02", "2026-09-02T09:00"),
                ("2026-09-08", "2026-09-03T09:00"),
                ("2026-09-21", "2026-09-03T09:00"),
            ),
            "2026-09-03",
            (1, 1, 1),
        )
        # 00007: referred, two referrals still open (one past due), one answered.
        referred = ticket(
            wib("2026-11-10", 9),
            "referred",
            "fakir_miskin",
            GIWANGAN,
            stages(("2026-11-11", "2026-11-10T10:00"), ("2026-11-17", "2026-11-12T10:00"), ("2026-11-27", None)),
            budi,
        )
        refer(referred, "sent", "2026-11-20")
        refer(referred, "acknowledged", "2026-11-30")
        refer(referred, "done", "2026-11-16")
        # 00008: closed unanswered with its resolution stage never met: late in the figures, not in the list.
        ticket(
            wib("2026-11-03", 9),
            "closed",
            "lansia_telantar",
            GIWANGAN,
            stages(("2026-11-04", "2026-11-03T10:00"), ("2026-11-10", "2026-11-04T10:00"), ("2026-11-23", None)),
            budi,
        )

        # Mantrijeron: late, referred and badly rated; none of it is Sri's.
        other = ticket(
            wib("2026-11-20", 9),
            "assigned",
            "anak_telantar",
            GEDONGKIWO,
            stages(("2026-11-23", None), ("2026-11-27", None), ("2026-12-10", None)),
            andi,
        )
        refer(other, "sent", "2026-11-23")
        rated(
            "2026-11-09",
            "anak_telantar",
            GEDONGKIWO,
            stages(
                ("2026-11-10", "2026-11-12T09:00"),
                ("2026-11-16", "2026-11-18T09:00"),
                ("2026-11-27", "2026-11-18T09:00"),
            ),
            "2026-11-18",
            (1, 1, 1),
            andi,
        )

    def digest(self, name: str, day: date = TUESDAY, now: datetime | None = None, weekly: bool = False) -> str:
        build = digest.build_weekly if weekly else digest.build_digest

        def work(session: Any) -> str:
            supervisor = session.get(Staff, self.staff[name].id)
            say = build(session, ctx=self.ctx, supervisor=supervisor, day=day, now=now or wib(day.isoformat(), 7, 0))
            return self.ctx.texts.message(say, supervisor.language).text

        return self.db.run_sync(work)

    def tick(self, now: datetime, weekly: bool = False) -> dict[str, list[str]]:
        """Run the job at `now`; the texts it queued, by chat."""
        job = digest.weekly_summaries if weekly else digest.daily_digests
        before = self.outbox_ids()
        self.db.run_sync(lambda session: job(self.ctx, session, now))
        rows = self.db.run_sync(lambda s: s.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars().all())
        queued: dict[str, list[str]] = {}
        for row in rows:
            if row.id not in before:
                queued.setdefault(row.chat_id, []).append(row.payload["text"])
        return queued

    def outbox_ids(self) -> set[int]:
        return set(self.db.run_sync(lambda s: s.execute(select(OutboxMessage.id)).scalars().all()))

    def dedupe_keys(self) -> list[str]:
        return sorted(self.db.run_sync(lambda s: s.execute(select(OutboxMessage.dedupe_key)).scalars().all()))


@pytest.fixture
def office(settings: Settings) -> Iterator[Office]:
    made = Office(settings)
    yield made
    made.db.close()


def test_the_digest_shows_one_district_without_anyones_personal_data(office: Office) -> None:
    text = office.digest("Sri")
    lines = text.splitlines()
    assert lines[0] == "📋 Ringkasan harian, Selasa, 24 November 2026"
    assert lines[1] == "Wilayah: Kec. Umbulharjo"
    assert "🆕 Laporan baru sejak Senin, 23 November 2026: 1 (1 pengaduan, 0 permohonan layanan)" in lines
    by_status = lines.index("📂 Tiket terbuka: 4, 1 belum ada petugas") + 1
    assert lines[by_status : by_status + 4] == ["• baru: 1", "• ditugaskan: 1", "• ditangani: 1", "• dirujuk: 1"]
    for category in ("• Lansia telantar: 1", "• ODGJ: 1", "• SKTM (tidak mampu): 1", "• Keluarga sangat miskin: 1"):
        assert category in lines
    # Late, the oldest first, with the officer (or none) and working days late; a closed
    # ticket with a stage never met is not on the list.
    late = lines.index("⏰ Terlambat: 2")
    assert lines[late + 1 : late + 3] == [
        "• SP-2026-00003 · SKTM (tidak mampu) · Pandeyan · belum ada petugas · 4 hari kerja",
        "• SP-2026-00002 · ODGJ · Semaki · Budi · 1 hari kerja",
    ]
    assert "↪️ Rujukan menunggu jawaban instansi: 2 (1 lewat batas)" in lines
    # Stages met in time, of those met or due, of the tickets created in the 30 days before:
    # 00002 1/2, 00003 0/2, 00004 3/3, 00005 2/3, 00007 2/2, 00008 2/3 (00001 has none due yet).
    assert "✅ Standar layanan (30 hari terakhir): 66% tepat waktu (10 dari 15 tahap)" in lines
    # (4+4+3 + 2+3+3) / 6 = 3.17; September's answer and Mantrijeron's are not counted.
    assert lines[-1] == "⭐ Kepuasan warga (30 hari terakhir): 3,2 dari 4 (2 penilaian)"
    # Nothing of Mantrijeron, nothing personal.
    for absent in (
        "SP-2026-00009",
        "SP-2026-00010",
        "Andi",
        "Gedongkiwo",
        "Anak telantar",
        NIK,
        NIK[:6],
        PERSON,
        REPORTER,
        PHONE,
        PHONE[3:],
        ADDRESS,
    ):
        assert absent not in text, absent


def test_the_english_digest_caps_the_late_list_and_counts_the_rest(office: Office) -> None:
    wati = office.staff["Wati"]

    def more_late(session: Any) -> None:
        template = session.execute(select(Ticket).where(Ticket.number == "SP-2026-00009")).scalars().one()
        for n in range(22):
            data = template.model_dump(exclude={"id", "number"})
            session.add(
                Ticket(**{**data, "number": f"SP-2026-{100 + n:05d}", "due_at": template.due_at + timedelta(minutes=n)})
            )

    office.db.run_sync(more_late)

    text = office.digest("Wati")
    lines = text.splitlines()
    assert lines[:2] == ["📋 Daily digest, Tuesday, November 24, 2026", "Area: Mantrijeron district"]
    assert "⏰ Overdue: 23" in lines
    listed = [line for line in lines if line.startswith("• SP-")]
    assert len(listed) == digest.OVERDUE_SHOWN
    assert listed[0] == "• SP-2026-00009 · Neglected child · Gedongkiwo · Andi · 1 working day late"
    assert "…and 3 more" in lines
    assert "↪️ Referrals waiting for an agency: 1 (1 past due)" in lines
    assert lines[-1] == "⭐ Citizen satisfaction (last 30 days): 1.0 of 4 (1 rating)"
    assert wati.language == "en" and "Umbulharjo" not in text and "SP-2026-00002" not in text


def test_the_weekly_summary_counts_the_week_before(office: Office) -> None:
    # Sent on Monday 16 November: the week of 9 to 15 November.
    text = office.digest("Sri", day=date(2026, 11, 16), weekly=True)
    lines = text.splitlines()
    assert lines[0] == "📊 Ringkasan mingguan, Senin, 09 November 2026 – Minggu, 15 November 2026"
    assert "🆕 Laporan baru: 2 (1 pengaduan, 1 permohonan layanan)" in lines  # 00007 and 00003
    assert "✔️ Selesai ditangani: 2" in lines  # 00004 and 00005
    assert "⭐ Kepuasan warga: 3,2 dari 4 (2 penilaian)" in lines
    assert "• Lansia telantar: 3,7 (1 penilaian)" in lines and "• ODGJ: 2,7 (1 penilaian)" in lines
    assert NIK not in text and PERSON not in text


def test_a_monday_digest_counts_new_reports_since_friday(office: Office) -> None:
    since = {
        date(2026, 11, 23): date(2026, 11, 20),  # Monday: since Friday
        date(2026, 11, 24): date(2026, 11, 23),
        date(2026, 12, 28): date(2026, 12, 23),
    }  # after Christmas, cuti bersama and a weekend
    assert {day: digest.previous_working_day(office.ctx, day) for day in since} == since
    assert (
        "🆕 Laporan baru sejak Jumat, 20 November 2026: 0" in office.digest("Sri", day=date(2026, 11, 23)).splitlines()
    )


def test_the_daily_job_sends_once_a_working_day_from_seven(office: Office) -> None:
    assert office.tick(wib("2026-11-24", 6, 59)) == {}
    sent = office.tick(wib("2026-11-24", 7, 0))
    assert sorted(sent) == ["7003", "7004"]  # Sri and Wati; not Rina (away) nor Yudi (no chat)
    assert sent["7003"] == [office.digest("Sri")]
    assert sent["7004"][0].startswith("📋 Daily digest, Tuesday, November 24, 2026")
    assert office.tick(wib("2026-11-24", 7, 0)) == {}  # a doubled tick
    assert office.tick(wib("2026-11-24", 16, 0)) == {}
    sri, wati = office.staff["Sri"].id, office.staff["Wati"].id
    assert office.dedupe_keys() == [f"digest:{sri}:2026-11-24", f"digest:{wati}:2026-11-24"]

    # The scheduler was down at seven on Wednesday: the digest goes at the first tick after.
    assert sorted(office.tick(wib("2026-11-25", 11, 30))) == ["7003", "7004"]
    assert office.tick(wib("2026-11-25", 11, 31)) == {}
    # No digest at the weekend.
    assert office.tick(wib("2026-11-28", 8, 0)) == {} and office.tick(wib("2026-11-29", 8, 0)) == {}


def test_the_weekly_job_sends_once_a_week_on_the_first_working_day(office: Office) -> None:
    assert office.tick(wib("2026-11-29", 9, 0), weekly=True) == {}  # Sunday
    assert office.tick(wib("2026-11-30", 6, 0), weekly=True) == {}
    sent = office.tick(wib("2026-11-30", 7, 0), weekly=True)
    assert sorted(sent) == ["7003", "7004"]
    assert sent["7003"][0].startswith("📊 Ringkasan mingguan, Senin, 23 November 2026 – Minggu, 29 November 2026")
    assert office.tick(wib("2026-11-30", 7, 1), weekly=True) == {}
    assert office.tick(wib("2026-12-01", 7, 0), weekly=True) == {}  # Tuesday: this week's is sent
    sri = office.staff["Sri"].id
    assert f"weekly:{sri}:2026-W49" in office.dedupe_keys()


def test_the_command_prints_a_digest_or_queues_it_once(office: Office, cli: Any) -> None:  # noqa: F811
    sri, budi = office.staff["Sri"].id, office.staff["Budi"].id
    code, out, _ = cli("digest", "--supervisor", str(sri), "--date", "2026-11-24", "--print")
    assert code == 0
    assert out.strip() == office.digest("Sri")
    assert office.outbox_ids() == set()  # --print queues nothing

    code, out, _ = cli("digest", "--supervisor", str(sri), "--date", "2026-11-16", "--weekly", "--print")
    assert code == 0 and out.startswith("📊 Ringkasan mingguan, Senin, 09 November 2026")

    code, out, _ = cli("digest", "--supervisor", str(sri), "--date", "2026-11-24")
    assert code == 0 and f"digest:{sri}:2026-11-24" in out
    assert office.dedupe_keys() == [f"digest:{sri}:2026-11-24"]
    assert office.tick(wib("2026-11-24", 7, 0)).keys() == {"7004"}  # the job does not send Sri's again
    code, _, err = cli("digest", "--supervisor", str(sri), "--date", "2026-11-24")
    assert code == 2 and "already sent" in err

    code, _, err = cli("digest", "--supervisor", str(budi), "--print")
    assert code == 2 and "officer" in err
    count = office.db.run_sync(lambda s: s.execute(select(func.count()).select_from(OutboxMessage)).scalar_one())
    assert count == 2
