"""Scheduled jobs on the real database with a clock the test sets: reminders and escalations
at the right working-day times across a weekend and the Christmas holidays, referral
follow-ups, notes to citizens, the survey reminder, closing unanswered questions, tidying
abandoned reports, and exactly one leader among schedulers sharing a database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import build_inbound, build_services
from bot.scheduler import Scheduler
from bot.settings import Settings
from storage import repo
from storage.db import Database
from storage.migrate import upgrade
from storage.models import (
    Attachment,
    Conversation,
    OutboxMessage,
    Staff,
    Ticket,
)
from tests.support.scheduler import scheduler_for
from workflows import audit
from workflows import staff as records
from workflows.engine import Inbound
from workflows.inbound import Envelope
from workflows.services import Services

WIB = timezone(timedelta(hours=7))
UMBULHARJO = "34.71.04"
ANSWERS = {
    "category_group": "lansia",
    "category": "lansia_telantar",
    "subject": "other",
    "person_name": "Mbah Sarinah",
    "district_code": UMBULHARJO,
    "village_code": "34.71.04.1001",
    "address": "Jl. Imogiri Timur",
    "description": "Nenek tinggal sendiri tanpa yang merawat.",
}


def wib(day: str, hour: int, minute: int = 0) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:{minute:02d}:00").replace(tzinfo=WIB)


class Clock:
    def __init__(self) -> None:
        self.now = wib("2026-12-23", 10)

    def __call__(self) -> datetime:
        return self.now


class World:
    def __init__(self, settings: Settings) -> None:
        upgrade(settings.effective_database_url)
        self.db = Database(settings.effective_database_url)
        self.services: Services = build_services(settings)
        self.clock = Clock()
        self.scheduler = scheduler_for(settings, self.db, self.services, self.clock)
        self.seen: dict[str, int] = {}

    def hire(self, name: str, user_id: int, role: str = "officer", *, rehome: bool = False) -> Staff:
        """Add a staff member; `rehome` as the console and the CLI do (their area's waiting tickets
        go to them at once), else behind their back, as a script writing the table would."""
        book = self.services.book

        def add(session: Any) -> Staff:
            scope = records.check_scope(book, role=role, team=None, districts=[UMBULHARJO], categories=[])
            return records.add_staff(
                session,
                book=book,
                name=name,
                scope=scope,
                telegram_user_id=str(user_id),
                whatsapp_number=None,
                language="id",
                by=audit.CLI,
                now=self.clock(),
                rehome=self.services.casework if rehome else None,
            )

        return self.db.run_sync(add)

    def file(self, citizen: str = "web-1") -> Ticket:
        def work(session: Any) -> Ticket:
            contact = repo.get_or_create_contact(
                session,
                channel="web",
                external_id=citizen,
                chat_id=citizen,
                language="id",
                display_name=None,
                now=self.clock(),
            )
            return self.services.casework.open(
                session, contact=contact, flow="complaint", answers=ANSWERS, now=self.clock()
            )

        return self.db.run_sync(work)

    def act(self, number: str, user_id: int, action: str, *args: Any) -> None:
        def work(session: Any) -> None:
            staff = session.execute(select(Staff).where(Staff.telegram_user_id == str(user_id))).scalars().one()
            ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalars().one()
            getattr(self.services.casework, action)(session, staff, ticket, *args, self.clock())

        self.db.run_sync(work)

    async def tick_at(self, when: datetime) -> dict[str, list[str]]:
        """Run one tick at `when`; the new messages by chat."""
        self.clock.now = when
        await self.scheduler.tick()
        return self.new_messages()

    def new_messages(self) -> dict[str, list[str]]:
        """Messages queued since the last look, by chat (digests left out)."""
        rows = self.db.run_sync(lambda s: s.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars().all())
        fresh: dict[str, list[str]] = {}
        for row in rows:
            if (row.dedupe_key or "").startswith(("digest:", "weekly:")):
                continue  # the supervisors' digests have their own tests (test_digest.py)
            if row.id > self.seen.get("last", 0):
                fresh.setdefault(row.chat_id, []).append(row.payload["text"])
        self.seen["last"] = max([r.id for r in rows], default=0)
        return fresh


@pytest.fixture
async def world(settings: Settings) -> AsyncIterator[World]:
    made = World(settings)
    yield made
    await made.scheduler.stop()  # gives up leadership, as a process does when it stops
    made.db.close()


BUDI, SRI = "7001", "7003"


async def test_reminders_and_escalation_keep_to_working_days_over_christmas(world: World) -> None:
    world.hire("Budi", int(BUDI))
    world.hire("Sri", int(SRI), role="supervisor")
    ticket = world.file()  # Wednesday 23 December, 10:00 WIB; 24-25 are holidays, then a weekend
    assert world.services.calendar.local_date(ticket.due_at) == datetime(2026, 12, 28).date()
    world.new_messages()  # the new-ticket card

    for quiet in (wib("2026-12-24", 9), wib("2026-12-25", 9), wib("2026-12-26", 9), wib("2026-12-28", 7, 59)):
        assert await world.tick_at(quiet) == {}, quiet
    reminded = await world.tick_at(wib("2026-12-28", 8))
    assert (
        list(reminded) == [BUDI] and "batas tanggapan pertama untuk SP-2026-00001 adalah hari ini" in reminded[BUDI][0]
    )
    assert "Batas tanggapan pertama: Senin, 28 Desember 2026 ⚠️ hampir lewat batas" in reminded[BUDI][1]  # the card
    assert await world.tick_at(wib("2026-12-28", 8, 1)) == {}  # a doubled tick queues nothing
    assert await world.tick_at(wib("2026-12-28", 16)) == {}

    breached = await world.tick_at(wib("2026-12-29", 8))
    assert "melewati batas tanggapan pertama (1 hari kerja)" in breached[BUDI][0]
    assert "⏰ TERLAMBAT" in breached[BUDI][1]
    assert breached[SRI][0].startswith("📣 Eskalasi: SP-2026-00001") and "Petugas: Budi" in breached[SRI][0]
    assert await world.tick_at(wib("2026-12-30", 8)) == {}  # escalated again only every 2 working days
    again = await world.tick_at(wib("2026-12-31", 8))
    assert list(again) == [SRI] and "sudah 3 hari kerja" in again[SRI][0]
    assert await world.tick_at(wib("2027-01-01", 9)) == {}  # New Year's Day

    world.act(ticket.number, int(BUDI), "accept")  # late, but the first response is met
    world.new_messages()
    due = await world.tick_at(wib("2027-01-04", 8))
    assert list(due) == [BUDI] and "batas tindak lanjut untuk SP-2026-00001 adalah hari ini" in due[BUDI][0]
    assert await world.tick_at(wib("2027-01-05", 8)) == {}  # Isra Mi'raj
    follow_up = await world.tick_at(wib("2027-01-06", 8))
    assert "melewati batas tindak lanjut" in follow_up[BUDI][0] and "📣 Eskalasi" in follow_up[SRI][0]


async def test_an_overdue_referral_is_followed_up(world: World) -> None:
    world.hire("Budi", int(BUDI))
    ticket = world.file()
    world.act(ticket.number, int(BUDI), "accept")
    world.act(ticket.number, int(BUDI), "refer", "uptd_ppa", "Mohon pendampingan korban.")  # due in 1 working day
    world.new_messages()
    assert BUDI not in await world.tick_at(wib("2026-12-28", 8, 30))  # due Monday itself
    chased = await world.tick_at(wib("2026-12-29", 8, 30))
    assert "Rujukan SP-2026-00001 ke UPTD PPA belum dijawab" in chased[BUDI][0]
    assert await world.tick_at(wib("2026-12-29", 15)) == {}


async def test_citizens_hear_from_us_and_are_reminded_to_rate_once(world: World) -> None:
    world.hire("Budi", int(BUDI))
    ticket = world.file("web-siti")
    world.act(ticket.number, int(BUDI), "accept")  # the citizen is told: news on 23 December
    world.new_messages()
    assert "web-siti" not in await world.tick_at(wib("2026-12-31", 9))  # 4 working days
    note = await world.tick_at(wib("2027-01-04", 9))
    assert "masih kami tangani (sedang ditangani)" in note["web-siti"][0]
    assert "web-siti" not in await world.tick_at(wib("2027-01-06", 9))

    world.act(ticket.number, int(BUDI), "resolve", "Bantuan sudah diantar.")
    world.new_messages()
    assert "web-siti" not in await world.tick_at(wib("2027-01-07", 9))
    reminder = await world.tick_at(wib("2027-01-11", 9))
    assert "Maukah Anda memberi nilai" in reminder["web-siti"][0]
    assert "web-siti" not in await world.tick_at(wib("2027-01-12", 9))


async def test_an_unanswered_question_closes_the_ticket_after_ten_working_days(world: World) -> None:
    world.hire("Budi", int(BUDI))
    ticket = world.file("web-siti")
    world.act(ticket.number, int(BUDI), "accept")
    world.act(ticket.number, int(BUDI), "ask_citizen", "Di RT berapa?")
    world.new_messages()
    await world.tick_at(wib("2027-01-11", 9))  # 9 working days later (5 January is a holiday)
    assert world.db.run_sync(lambda s: s.get(Ticket, ticket.id)).status == "waiting_citizen"
    closed = await world.tick_at(wib("2027-01-12", 9))
    assert "kami tutup karena pertanyaan petugas belum dijawab" in closed["web-siti"][0]
    assert "ditutup karena warga tidak menjawab" in closed[BUDI][0]
    assert world.db.run_sync(lambda s: s.get(Ticket, ticket.id)).status == "closed"


async def test_abandoned_reports_lose_their_photos(world: World, settings: Settings) -> None:
    photo = settings.attachments_dir / "ab" / "photo.jpg"
    photo.parent.mkdir(parents=True)
    photo.write_bytes(b"jpeg")

    def abandon(session: Any) -> None:
        contact = repo.get_or_create_contact(
            session,
            channel="web",
            external_id="web-x",
            chat_id="web-x",
            language="id",
            display_name=None,
            now=world.clock(),
        )
        attachment = repo.add_attachment(
            session,
            contact_id=contact.id,
            sha256="ab" * 32,
            path="ab/photo.jpg",
            content_type="image/jpeg",
            size=4,
            width=1,
            height=1,
            now=world.clock(),
        )
        conversation = repo.load_conversation(session, contact_id=contact.id, now=world.clock())
        repo.save_conversation(
            session,
            conversation_id=conversation.id,
            flow="complaint",
            step="description",
            answers={"photos": [attachment.id]},
            extra={},
            expires_at=world.clock() + timedelta(hours=24),
            now=world.clock(),
        )

    world.db.run_sync(abandon)
    await world.tick_at(wib("2026-12-24", 9))  # not expired yet
    assert photo.exists()
    await world.tick_at(wib("2026-12-24", 11))
    assert not photo.exists()
    assert world.db.run_sync(lambda s: s.execute(select(Attachment)).all()) == []
    [conversation] = world.db.run_sync(lambda s: s.execute(select(Conversation)).scalars().all())
    assert conversation.flow is None and conversation.answers == {}


async def test_a_citizen_who_comes_back_after_the_tidy_hears_why_the_report_is_gone(
    world: World, settings: Settings
) -> None:
    handler = build_inbound(settings, world.services)

    def say(text: str) -> list[str]:
        envelope = Envelope(
            channel="web", external_id="web-late", chat_id="web-late", event=Inbound(kind="text", text=text)
        )
        handled = world.db.run_sync(lambda s: handler.handle(s, envelope, world.clock()))
        keys = world.db.run_sync(
            lambda s: [s.get(OutboxMessage, i).payload.get("key") for i in handled.outbox_ids]  # type: ignore[union-attr]
        )
        return [k for k in keys if k]

    say("lapor")  # half-way into a report, then gone for a day
    assert world.db.run_sync(lambda s: s.execute(select(Conversation)).scalars().one()).flow is not None
    await world.tick_at(world.clock() + timedelta(hours=25))  # the scheduler tidies the abandoned report
    assert world.db.run_sync(lambda s: s.execute(select(Conversation)).scalars().one()).answers == {}
    assert say("halo") == ["conversation/expired", "menu/main"]
    assert say("halo") == ["menu/main"]  # said once


async def test_one_leader_among_schedulers_sharing_a_database(world: World, settings: Settings) -> None:
    world.hire("Budi", int(BUDI))
    world.hire("Sri", int(SRI), role="supervisor")
    world.file()
    world.new_messages()
    others = [Database(settings.effective_database_url) for _ in range(2)]
    schedulers = [world.scheduler] + [
        Scheduler(
            db=db, ctx=world.scheduler.ctx, attachments_dir=settings.attachments_dir, clock=world.clock, tick_seconds=60
        )
        for db in others
    ]
    world.clock.now = wib("2026-12-29", 8)
    results = await asyncio.gather(*(s.tick() for s in schedulers for _ in range(3)))
    leaders = {id(s) for s, r in zip([s for s in schedulers for _ in range(3)], results, strict=True) if r is not None}
    assert len(leaders) == 1
    texts = [t for chat in world.new_messages().values() for t in chat]
    assert sum(t.startswith("🔴 SP-2026-00001 melewati batas") for t in texts) == 1
    assert sum(t.startswith("📣 Eskalasi") for t in texts) == 1

    # The leader steps down (or dies): another takes over, and nothing is sent twice.
    [leader] = [s for s in schedulers if id(s) in leaders]
    await leader.stop()
    world.clock.now += timedelta(minutes=5)
    follower = next(s for s in schedulers if s is not leader)
    assert await follower.tick() is not None
    assert world.new_messages() == {}
    for scheduler, db in zip(schedulers[1:], others, strict=True):
        await scheduler.stop()
        db.close()
