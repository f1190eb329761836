"""A ticket filed while nobody could take it gets an owner as soon as someone can: when an
officer or supervisor is added, joins by invite or comes back, and, as a safety net, at the
scheduler's next tick. The new owner gets the card as usual, and nothing is re-routed twice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from bot.settings import Settings
from storage import repo
from storage.models import Staff, StaffInvite, Ticket, TicketEvent
from tests.workflows.test_jobs import BUDI, SRI, UMBULHARJO, World, wib
from workflows import audit
from workflows import staff as records


@pytest.fixture
async def world(settings: Settings) -> AsyncIterator[World]:
    made = World(settings)
    yield made
    await made.scheduler.stop()
    made.db.close()


def ticket(world: World, number: str) -> Ticket:
    return world.db.run_sync(lambda s: s.execute(select(Ticket).where(Ticket.number == number)).scalars().one())


def kinds(world: World, number: str) -> list[str]:
    found = ticket(world, number)
    return world.db.run_sync(
        lambda s: list(
            s.execute(
                select(TicketEvent.kind).where(TicketEvent.ticket_id == found.id).order_by(TicketEvent.id)
            ).scalars()
        )
    )


def cards(messages: dict[str, list[str]], chat: str, number: str) -> int:
    return sum(f"🎫 {number}" in text for text in messages.get(chat, []))


async def test_an_officer_added_later_gets_the_ticket_filed_before_any_staff_existed(world: World) -> None:
    filed = world.file()
    assert filed.assignee_staff_id is None and filed.unassigned
    world.new_messages()
    budi = world.hire("Budi", int(BUDI), rehome=True)
    now = ticket(world, filed.number)
    assert (now.assignee_staff_id, now.unassigned, now.status) == (budi.id, False, "assigned")
    assert cards(world.new_messages(), BUDI, filed.number) == 1
    # The scheduler's safety net finds nothing left to do: no second card, no second assignment.
    assert cards(await world.tick_at(wib("2026-12-23", 10, 5)), BUDI, filed.number) == 0
    assert kinds(world, filed.number).count("assign") == 1


async def test_the_scheduled_job_routes_tickets_whose_area_has_staff_now(world: World) -> None:
    filed = world.file()
    world.hire("Budi", int(BUDI))  # e.g. added straight into the database, or a crash
    assert ticket(world, filed.number).assignee_staff_id is None
    world.new_messages()
    messages = await world.tick_at(wib("2026-12-23", 10, 1))
    assert cards(messages, BUDI, filed.number) == 1
    assert ticket(world, filed.number).status == "assigned"
    assert cards(await world.tick_at(wib("2026-12-23", 10, 2)), BUDI, filed.number) == 0
    assert kinds(world, filed.number).count("assign") == 1


async def test_a_ticket_parked_with_the_supervisor_stays_put_until_an_officer_can_take_it(world: World) -> None:
    world.hire("Sri", int(SRI), role="supervisor", rehome=True)
    filed = world.file()
    parked = ticket(world, filed.number)
    assert parked.unassigned and parked.assignee_staff_id is not None
    world.new_messages()
    # Nothing changes while only the supervisor can hold it: no card again at every tick.
    assert await world.tick_at(wib("2026-12-23", 10, 1)) == {}
    assert kinds(world, filed.number).count("unassigned") == 1
    budi = world.hire("Budi", int(BUDI))

    def away(session: Any) -> None:
        records.set_status(session, staff_id=budi.id, status="away", by=audit.CLI, now=world.clock())

    world.db.run_sync(away)
    assert await world.tick_at(wib("2026-12-23", 10, 2)) == {}  # away: not eligible

    def back(session: Any) -> None:
        records.set_status(
            session, staff_id=budi.id, status="active", by=budi.id, now=world.clock(), rehome=world.services.casework
        )

    world.db.run_sync(back)
    now = ticket(world, filed.number)
    assert (now.assignee_staff_id, now.unassigned) == (budi.id, False)
    assert cards(world.new_messages(), BUDI, filed.number) == 1


async def test_a_supervisor_joining_by_invite_takes_the_ownerless_tickets_of_their_area(world: World) -> None:
    filed = world.file()
    book = world.services.book

    def invite(session: Any) -> str:
        scope = records.check_scope(book, role="supervisor", team=None, districts=[UMBULHARJO], categories=[])
        return records.create_invite(session, book=book, scope=scope, by=audit.CLI, now=world.clock()).code

    code = world.db.run_sync(invite)

    def join(session: Any) -> Staff | str:
        contact = repo.get_or_create_contact(
            session,
            channel="telegram",
            external_id=SRI,
            chat_id=SRI,
            language="id",
            display_name="Sri",
            now=world.clock(),
        )
        return records.redeem_invite(
            session, code=code, contact=contact, now=world.clock(), rehome=world.services.casework
        )

    sri = world.db.run_sync(join)
    assert isinstance(sri, Staff)
    now = ticket(world, filed.number)
    assert (now.assignee_staff_id, now.unassigned) == (sri.id, True)  # an owner, still flagged for an officer
    assert world.db.run_sync(lambda s: s.execute(select(StaffInvite.used_at)).scalars().one()) is not None
    assert cards(world.new_messages(), SRI, filed.number) == 1


async def test_two_processes_never_route_the_same_waiting_ticket(world: World) -> None:
    """One holds the waiting tickets while it routes them; the other skips what is held (on
    PostgreSQL, FOR UPDATE SKIP LOCKED; SQLite lets one writer in at a time anyway)."""
    if world.db.is_sqlite:
        pytest.skip("SQLite has one writer at a time: there is no second process routing alongside")
    filed = world.file()
    world.hire("Budi", int(BUDI))
    casework = world.services.casework
    with world.db.session() as first, world.db.session() as second:
        assert [t.number for t in casework.rehome(first, now=world.clock())] == [filed.number]
        assert casework.rehome(second, now=world.clock()) == []  # held by the first: skipped
        second.commit()
        first.commit()
    with world.db.session() as third:
        assert casework.rehome(third, now=world.clock()) == []  # routed now: nothing waits
    assert kinds(world, filed.number).count("assign") == 1
    assert cards(world.new_messages(), BUDI, filed.number) == 1
