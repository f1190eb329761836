"""Erasing a ticket's personal data on the real database: everything personal goes, the
number and statistics stay, a photo file another ticket still uses is kept, and running it
again (a request and the retention job both reaching the ticket) records nothing twice."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.settings import Settings
from storage import repo
from storage.models import Attachment, Ticket, TicketEvent
from tests.workflows.test_jobs import World
from workflows.privacy.erasure import erase_personal_data, take_released_files


def _photo(session: Any, contact_id: int, ticket_id: int, path: str, now: Any) -> None:
    attachment = repo.add_attachment(
        session,
        contact_id=contact_id,
        sha256=path[:64].ljust(64, "0"),
        path=path,
        content_type="image/jpeg",
        size=10,
        width=1,
        height=1,
        now=now,
    )
    attachment.ticket_id = ticket_id


def test_erasure_is_thorough_keeps_statistics_and_shared_files_and_can_run_twice(settings: Settings) -> None:
    world = World(settings)
    first, second = world.file("web-1"), world.file("web-2")
    now = world.clock()

    def prepare(session: Any) -> None:
        for ticket, paths in ((first, ["ab/own.jpg", "cd/shared.jpg"]), (second, ["cd/shared.jpg"])):
            for path in paths:
                _photo(session, ticket.reporter_contact_id, ticket.id, path, now)
        row = session.get(Ticket, first.id)
        row.reporter_phone, row.person_nik, row.latitude, row.longitude = (
            "+6281234567890",
            "3471044101500001",
            -7.8,
            110.4,
        )
        row.details = {**row.details, "danger": True, "landmark": "rumah hijau"}
        repo.add_event(
            session, ticket_id=first.id, actor="staff:1", kind="note", at=now, data={"text": "Mbah Sarinah sakit"}
        )

    world.db.run_sync(prepare)

    def erase(session: Any) -> list[str]:
        erase_personal_data(session, session.get(Ticket, first.id), now=world.clock(), reason="retention")
        return take_released_files(session)

    assert world.db.run_sync(erase) == ["ab/own.jpg"]  # the shared file is still the other ticket's
    assert world.db.run_sync(erase) == []

    def read(session: Any) -> tuple[Ticket, list[TicketEvent], list[str]]:
        ticket = session.get(Ticket, first.id)
        events = list(session.execute(select(TicketEvent).where(TicketEvent.ticket_id == first.id)).scalars())
        paths = list(session.execute(select(Attachment.path).order_by(Attachment.id)).scalars())
        return ticket, events, paths

    ticket, events, paths = world.db.run_sync(read)
    assert (ticket.person_name, ticket.person_nik, ticket.reporter_phone, ticket.address) == (None,) * 4
    assert (ticket.latitude, ticket.longitude, ticket.description) == (None, None, None)
    assert (
        ticket.number == first.number
        and ticket.category == "lansia_telantar"
        and ticket.village_code == "34.71.04.1001"
    )
    assert ticket.details["danger"] is True and "landmark" not in ticket.details
    assert ticket.anonymised_reason == "retention" and ticket.anonymised_at is not None
    assert "Sarinah" not in str([e.data for e in events])
    assert paths == ["cd/shared.jpg"]  # the other ticket's photo, untouched
