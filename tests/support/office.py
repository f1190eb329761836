"""An office under test: the real app (python-telegram-bot inside) against the fake Bot API,
its clock, and helpers to hire staff and file reports as people in the chat would."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from storage.db import Database
from storage.models import Staff, Ticket, TicketEvent
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.support.clock import MovableClock
from tests.support.complaint import file_complaint
from tests.support.telegram import TelegramCitizen
from workflows import audit
from workflows import staff as records
from workflows.flowbook import load_flowbook

NUMBER = re.compile(r"SP-\d{4}-\d{5}")
UMBULHARJO, MANTRIJERON = "34.71.04", "34.71.01"
BUDI, ANI, SRI, SITI, DEWI = 7001, 7002, 7003, 8001, 7004


class Office:
    """The app under test, its clock, and the people in the chat."""

    def __init__(self, fake: FakeTelegramAPI, db: Database, clock: MovableClock) -> None:
        self.fake, self.db, self.clock = fake, db, clock
        self.book = load_flowbook()

    def person(self, user_id: int, name: str) -> TelegramCitizen:
        self.fake.add_user(user_id, name)
        return TelegramCitizen(self.fake, self.db, user_id=user_id)

    async def hire(
        self,
        name: str,
        user_id: int,
        role: str = "officer",
        districts: tuple[str, ...] = (UMBULHARJO,),
        categories: tuple[str, ...] = (),
        team: str | None = None,
    ) -> TelegramCitizen:
        def add(session: Any) -> None:
            scope = records.check_scope(self.book, role=role, team=team, districts=districts, categories=categories)
            records.add_staff(
                session,
                book=self.book,
                name=name,
                scope=scope,
                telegram_user_id=str(user_id),
                whatsapp_number=None,
                language="id",
                by=audit.CLI,
                now=self.clock(),
            )

        await self.db.run(add)
        member = self.person(user_id, name)
        [help_text] = await member.type("/start")  # a bot may only write to people who opened it
        assert "Perintah petugas" in help_text.text
        return member

    async def ticket(self, number: str) -> Ticket:
        return await self.db.run(lambda s: s.execute(select(Ticket).where(Ticket.number == number)).scalars().one())

    async def events(self, number: str) -> list[TicketEvent]:
        ticket = await self.ticket(number)
        return await self.db.run(
            lambda s: list(
                s.execute(
                    select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
                ).scalars()
            )
        )

    async def set_status(self, user_id: int, status: str) -> None:
        def change(session: Any) -> None:
            staff = session.execute(select(Staff).where(Staff.telegram_user_id == str(user_id))).scalars().one()
            records.set_status(session, staff_id=staff.id, status=status, by=audit.CLI, now=self.clock())

        await self.db.run(change)


def card_of(person: TelegramCitizen, number: str) -> Any:
    """The latest ticket card for `number` in this person's chat."""
    cards = [m for m in person.messages if f"🎫 {number}" in (m.text or "")]
    assert cards, f"no card for {number} in {[m.text for m in person.messages]}"
    return cards[-1]


async def file(office: Office, citizen: TelegramCitizen) -> str:
    confirmation = await file_complaint(citizen)
    return NUMBER.search(confirmation).group(0)
