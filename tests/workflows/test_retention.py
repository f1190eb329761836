"""Retention: the nightly purge with a set clock, on the real database and files. Closed tickets
past their period lose names, NIK, phone, address, location, photos and free text; tickets still
open or within their period keep everything; the monthly summary and the digests add up to the
same figures afterwards; the dry run lists without erasing; a second night changes nothing."""

from __future__ import annotations

import dataclasses
import io
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image
from sqlalchemy import select, update

from bot.settings import Settings
from storage import repo
from storage.models import (
    Attachment,
    AuditEntry,
    Contact,
    OutboxMessage,
    Staff,
    SurveyResponse,
    Ticket,
    TicketEvent,
    table_of,
)
from tests.support.clock import MovableClock
from tests.support.console import UMBULHARJO, ConsoleOffice, console_office
from tests.support.scheduler import scheduler_for
from workflows.console.summary import monthly
from workflows.flowbook import DATA_DIR, load_flowbook
from workflows.jobs import JobContext, digest
from workflows.privacy import erasure, retention

START = datetime(2021, 3, 1, 3, 0, tzinfo=UTC)  # Monday 1 March 2021, 10:00 WIB
SCORES = {"time": 4, "conduct": 3}


def _photo(colour: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(out, format="PNG")
    return out.getvalue()


@dataclass
class World:
    office: ConsoleOffice
    settings: Settings
    officer: Staff
    admin: Staff

    async def file(self, category: str, *, photo: bytes | None = None) -> Ticket:
        """A report as the chat files it, by a citizen of its own, with a photo if given."""
        services, clock = self.office.services, self.office.clock

        def work(session: Any) -> Ticket:
            chat = f"w-{category}-{clock().timestamp()}"
            contact = repo.get_or_create_contact(
                session,
                channel="web",
                external_id=chat,
                chat_id=chat,
                language="id",
                display_name="Bu Warsi",
                now=clock(),
            )
            contact.phone = "+6281234567890"
            photos = []
            if photo is not None:
                stored = services.keep_photo(photo)
                assert not isinstance(stored, str), stored
                photos.append(services.record_photo(session, contact, stored, clock()).id)
            group = services.book.category("complaint", category)
            assert group is not None
            answers = {
                "category_group": group[0].key,
                "category": category,
                "subject": "other",
                "person_name": "Mbah Sarinah",
                "person_nik": "3471045507450001",
                "person_age": 80,
                "person_sex": "P",
                "district_code": UMBULHARJO,
                "village_code": f"{UMBULHARJO}.1001",
                "address": "Jl. Kenanga 3",
                "location": {"lat": -7.8305, "lon": 110.392},
                "description": "Nenek tinggal sendiri, belum makan dua hari.",
                "reporter_phone": "+6281234567890",
                "photos": photos,
            }
            return services.casework.open(session, contact=contact, flow="complaint", answers=answers, now=clock())

        return await self.office.db.run(work)

    async def resolve(self, ticket: Ticket, *, rate: bool = True) -> None:
        casework, clock = self.office.services.casework, self.office.clock

        def work(session: Any) -> None:
            fresh, staff = session.get(Ticket, ticket.id), session.get(Staff, self.officer.id)
            casework.accept(session, staff, fresh, clock())
            casework.note(session, staff, fresh, "Tetangga bernama Pak Joko siap membantu.", clock())
            casework.resolve(session, staff, fresh, "Mbah Sarinah sudah dibawa ke panti.", clock())
            if rate:
                reporter = session.get(Contact, fresh.reporter_contact_id)
                casework.survey(session, reporter, fresh.id, SCORES, "Pak Budi baik sekali", clock())

        await self.office.db.run(work)

    async def reject(self, ticket: Ticket) -> None:
        casework, clock = self.office.services.casework, self.office.clock

        def work(session: Any) -> None:
            fresh, staff = session.get(Ticket, ticket.id), session.get(Staff, self.officer.id)
            casework.reject(session, staff, fresh, "duplicate", "Sama dengan laporan Bu Warsi kemarin.", clock())

        await self.office.db.run(work)

    async def deliver_everything(self) -> None:
        """What the sender would have done by now: every queued message went out."""
        await self.office.db.run(
            lambda s: s.execute(update(table_of(OutboxMessage)).values(status="sent", sent_at=self.office.clock()))
        )

    async def get(self, ticket: Ticket) -> Ticket:
        return await self.office.db.run(lambda s: s.get(Ticket, ticket.id))

    async def figures(self, first: date, day: date) -> dict[str, Any]:
        """What the office reports: the monthly summary, and a supervisor's daily digest and
        weekly summary of a day in that month."""
        services = self.office.services
        ctx = JobContext(services)

        def read(session: Any) -> dict[str, Any]:
            admin = session.get(Staff, self.admin.id)
            now = datetime.combine(day, ctx.digest_time, ctx.calendar.zone)
            summary = monthly(session, viewer=admin, first=first, zone=services.calendar.zone, now=now)
            daily = digest.build_digest(session, ctx=ctx, supervisor=admin, day=day, now=now)
            weekly = digest.build_weekly(session, ctx=ctx, supervisor=admin, day=day, now=now)
            # What the queue's counts, the map and any feed group by, ticket by ticket.
            tally = session.execute(
                select(
                    Ticket.kind,
                    Ticket.category_group,
                    Ticket.category,
                    Ticket.district_code,
                    Ticket.village_code,
                    Ticket.status,
                    Ticket.channel,
                    Ticket.urgent,
                    Ticket.created_at,
                    Ticket.resolved_at,
                    Ticket.sla,
                    Ticket.person_age,
                    Ticket.person_sex,
                ).order_by(Ticket.id)
            ).all()
            scores = session.execute(select(SurveyResponse.ticket_id, SurveyResponse.scores)).all()
            return {
                "summary": {k: dataclasses.asdict(v) for k, v in summary.rows.items()},
                "daily": daily.context,
                "weekly": weekly.context,
                "tickets": [tuple(row) for row in tally],
                "scores": sorted(tuple(row) for row in scores),
            }

        return await self.office.db.run(read)


@pytest.fixture
async def world(settings: Settings, tmp_path: Path) -> AsyncIterator[World]:
    """The packaged office, but poverty cases (a first-menu group) kept 24 months instead of 60."""
    flows = tmp_path / "flows"
    flows.mkdir()
    office = yaml.safe_load((DATA_DIR / "office.yaml").read_text())
    office["retention"]["categories"] = {"kemiskinan": 24}
    (flows / "office.yaml").write_text(yaml.safe_dump(office, allow_unicode=True))
    settings = dataclasses.replace(settings, flows_dir=flows)
    async with console_office(settings, MovableClock(START)) as running:
        officer = await running.hire("Budi", telegram_user_id="7001")
        admin = await running.hire("Ani", role="admin", districts=())
        yield World(running, settings, officer, admin)


async def _night(world: World, ticks: int = 5) -> None:
    """The scheduler at 02:00 local, ticked a few times (a batch a tick)."""
    scheduler = scheduler_for(world.settings, world.office.db, world.office.services, world.office.clock)
    try:
        for _ in range(ticks):
            assert await scheduler.tick() is not None, "this scheduler leads"
    finally:
        await scheduler.stop()


def _audits(world: World) -> Any:
    return world.office.db.read_sync(
        lambda s: s.execute(select(AuditEntry.subject).where(AuditEntry.action == "ticket.anonymised")).scalars().all()
    )


async def test_the_nightly_purge_erases_what_is_past_its_period_and_the_figures_stay(world: World) -> None:
    old = await world.file("lansia_telantar", photo=_photo("red"))
    rejected = await world.file("lansia_telantar")
    still_open = await world.file("lansia_telantar", photo=_photo("blue"))
    world.office.clock.advance(hours=3)
    await world.resolve(old)
    await world.reject(rejected)
    world.office.clock.advance(days=365 * 3 + 100)  # June 2024
    recent = await world.file("lansia_telantar", photo=_photo("red"))  # the same photo as `old`
    odgj = await world.file("fakir_miskin", photo=_photo("green"))
    world.office.clock.advance(hours=3)
    await world.resolve(recent, rate=False)
    await world.resolve(odgj)
    await world.deliver_everything()
    root = world.settings.attachments_dir
    odgj_file = world.office.db.read_sync(
        lambda s: s.execute(select(Attachment.path).where(Attachment.ticket_id == odgj.id)).scalar_one()
    )
    shared_file = world.office.db.read_sync(
        lambda s: s.execute(select(Attachment.path).where(Attachment.ticket_id == old.id)).scalar_one()
    )
    orphan = root / "ab" / ("ab" * 32 + ".png")
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"left by a crash")
    os.utime(orphan, (time.time() - 7200, time.time() - 7200))
    fresh = root / "cd" / ("cd" * 32 + ".png")
    fresh.parent.mkdir(parents=True, exist_ok=True)
    fresh.write_bytes(b"being filed right now")

    then, later = (date(2021, 3, 1), date(2021, 3, 1)), (date(2024, 6, 1), date(2024, 6, 10))
    before = [await world.figures(*then), await world.figures(*later)]
    statuses = {}
    for ticket in (old, rejected, odgj):
        fresh_row = await world.get(ticket)
        statuses[ticket.number] = (f"{UMBULHARJO}.1001", ticket.category, fresh_row.status)
    assert statuses[rejected.number][2] == "rejected" and statuses[old.number][2] == "closed"
    assert before[0]["summary"] and before[1]["summary"]

    # 2026-07-15 02:00 WIB: `old` and `rejected` closed 64 months ago (60 allowed), `odgj` 25 (24).
    world.office.clock.offset += datetime(2026, 7, 14, 19, 0, tzinfo=UTC) - world.office.clock()
    found = world.office.db.read_sync(retention.plan, book=world.office.services.book, now=world.office.clock())
    assert sorted(found.numbers) == sorted([old.number, rejected.number, odgj.number])
    assert found.per_category == {("complaint", "lansia_telantar"): 2, ("complaint", "fakir_miskin"): 1}
    assert (await world.get(old)).person_name == "Mbah Sarinah", "the dry run changes nothing"

    await _night(world)

    for ticket in (old, rejected, odgj):
        gone = await world.get(ticket)
        assert gone.anonymised_reason == "retention" and gone.anonymised_at is not None
        assert (gone.person_name, gone.person_nik, gone.reporter_phone, gone.address) == (None,) * 4
        assert (gone.latitude, gone.longitude, gone.description, gone.resolution) == (None,) * 4
        assert (gone.village_code, gone.category, gone.status) == statuses[ticket.number]
    for ticket in (still_open, recent):
        kept = await world.get(ticket)
        assert kept.anonymised_at is None and kept.person_nik == "3471045507450001" and kept.latitude is not None

    def erased_rows(session: Any) -> dict[str, Any]:
        return {
            "photos": session.execute(select(Attachment.ticket_id)).scalars().all(),
            "events": [
                e.data for e in session.execute(select(TicketEvent).where(TicketEvent.ticket_id == old.id)).scalars()
            ],
            "survey": session.execute(select(SurveyResponse).where(SurveyResponse.ticket_id == old.id)).scalar_one(),
            "reporter": session.get(Contact, old.reporter_contact_id),
            "card_texts": [
                m.payload["text"]
                for m in session.execute(select(OutboxMessage).where(OutboxMessage.chat_id == "7001")).scalars()
            ],
        }

    rows = world.office.db.read_sync(erased_rows)
    assert sorted(rows["photos"]) == sorted([still_open.id, recent.id])
    assert not (root / odgj_file).exists(), "the photo of an erased ticket is deleted"
    assert (root / shared_file).exists(), "a photo another kept ticket also holds stays"
    assert not orphan.exists() and fresh.exists(), "a file left by a crash is swept, a fresh one is not"
    assert "Pak Joko" not in str(rows["events"]) and "panti" not in str(rows["events"])
    assert rows["survey"].scores == SCORES and rows["survey"].comment is None
    assert (rows["reporter"].display_name, rows["reporter"].phone) == (None, None)
    cards = rows["card_texts"]
    assert not any(old.number in text or odgj.number in text for text in cards)
    assert any(recent.number in text and "3471********0001" in text for text in cards), "kept tickets' cards stay"
    assert sorted(_audits(world)) == sorted([old.number, rejected.number, odgj.number])

    after = [await world.figures(*then), await world.figures(*later)]
    assert after == before

    await _night(world)  # another night: nothing more to take, nothing taken twice
    assert len(_audits(world)) == 3
    assert (
        world.office.db.read_sync(retention.plan, book=world.office.services.book, now=world.office.clock()).total == 0
    )


async def test_nothing_is_purged_outside_the_night_or_before_its_time(world: World) -> None:
    ticket = await world.file("lansia_telantar")
    await world.resolve(ticket)
    # 59 months later, at night: within the period.
    world.office.clock.offset += datetime(2026, 1, 31, 19, 0, tzinfo=UTC) - world.office.clock()
    await _night(world, ticks=1)
    assert (await world.get(ticket)).anonymised_at is None
    # 61 months later, at noon: past the period, but the purge waits for the night.
    world.office.clock.offset += datetime(2026, 4, 1, 5, 0, tzinfo=UTC) - world.office.clock()
    await _night(world, ticks=1)
    assert (await world.get(ticket)).anonymised_at is None
    world.office.clock.offset += datetime(2026, 4, 1, 19, 30, tzinfo=UTC) - world.office.clock()  # 02:30 WIB
    await _night(world, ticks=1)
    assert (await world.get(ticket)).anonymised_reason == "retention"


def test_months_before_keeps_to_the_calendar() -> None:
    assert retention.months_before(datetime(2026, 3, 31, tzinfo=UTC), 1) == datetime(2026, 2, 28, tzinfo=UTC)
    assert retention.months_before(datetime(2026, 1, 15, tzinfo=UTC), 60) == datetime(2021, 1, 15, tzinfo=UTC)
    assert retention.months_before(datetime(2026, 1, 15, tzinfo=UTC), 1) == datetime(2025, 12, 15, tzinfo=UTC)


def test_a_retention_period_for_an_unknown_category_or_out_of_range_stops_start_up() -> None:
    office = yaml.safe_load((DATA_DIR / "office.yaml").read_text())
    office["retention"]["categories"] = {"lansia": 120, "odgj": 24}  # a group and a type: fine
    book = load_flowbook(stored={"office": office})
    assert book.office.retention.months_for("lansia", "lansia_telantar") == 120
    assert book.office.retention.months_for("kejiwaan", "odgj") == 24
    assert book.office.retention.months_for("kejiwaan", "odgj_pasung") == 60
    office["retention"]["categories"] = {"lansiaa": 12}
    with pytest.raises(ValueError, match="retention: unknown category or group 'lansiaa'"):
        load_flowbook(stored={"office": office})
    office["retention"] = {"default_months": 0}
    with pytest.raises(ValueError, match="default_months"):
        load_flowbook(stored={"office": office})


async def test_erasing_a_ticket_twice_erases_it_once(world: World) -> None:
    """As a citizen's erasure request uses it: any ticket, at once; a second call does nothing."""
    ticket = await world.file("lansia_telantar", photo=_photo("purple"))
    path = world.office.db.read_sync(
        lambda s: s.execute(select(Attachment.path).where(Attachment.ticket_id == ticket.id)).scalar_one()
    )
    root = world.settings.attachments_dir

    def erase(session: Any) -> list[str]:
        fresh = session.get(Ticket, ticket.id)
        erasure.erase_personal_data(session, fresh, now=world.office.clock(), reason="request")
        erasure.erase_personal_data(session, fresh, now=world.office.clock(), reason="request")
        return erasure.take_released_files(session)

    released = await world.office.db.run(erase)
    assert released == [path] and (root / path).exists(), "the file waits for the commit"
    assert erasure.remove_files(root, released) == 1 and not (root / path).exists()
    again = await world.office.db.run(erase)
    assert again == []
    gone = await world.get(ticket)
    assert (gone.anonymised_reason, gone.person_name, gone.status) == ("request", None, "assigned"), "still worked on"
    assert _audits(world) == [ticket.number]
