"""The console's staff admin gives waiting tickets an owner: an officer added for the area, or
set active again, gets the tickets filed while nobody could take them, with their cards."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import OutboxMessage, Staff, Ticket
from tests.console.test_admin import _admin
from tests.support.console import UMBULHARJO, ConsoleOffice


async def test_an_officer_added_or_back_in_the_console_takes_the_waiting_tickets(office: ConsoleOffice) -> None:
    admin = await _admin(office)
    waiting = await office.file()
    assert waiting.assignee_staff_id is None
    added = await admin.post(
        "/console/admin/staff",
        {"name": "Citra", "role": "officer", "districts": UMBULHARJO, "telegram_user_id": "7301", "language": "id"},
    )
    assert added.status == 303, await added.text()
    citra = await office.db.run(lambda s: s.execute(select(Staff).where(Staff.name == "Citra")).scalars().one())
    assert (await office.db.run(lambda s: s.get(Ticket, waiting.id))).assignee_staff_id == citra.id

    assert (await admin.post(f"/console/admin/staff/{citra.id}/status", {"status": "away"})).status == 303
    later = await office.file()
    assert later.assignee_staff_id is None  # nobody else covers Umbulharjo
    assert (await admin.post(f"/console/admin/staff/{citra.id}/status", {"status": "active"})).status == 303
    assert (await office.db.run(lambda s: s.get(Ticket, later.id))).assignee_staff_id == citra.id
    cards = await office.db.run(
        lambda s: s.execute(select(OutboxMessage.payload).where(OutboxMessage.chat_id == "7301")).scalars().all()
    )
    # One card each (the later one also names the first as a possible duplicate: same story, same village).
    assert [sum(f"🎫 {t.number}" in p["text"] for p in cards) for t in (waiting, later)] == [1, 1]
    await admin.close()
