"""A village facilitator in the chat: the help says what they can do (file in the console,
follow what they filed), and a case they did not file stays closed to them."""

from __future__ import annotations

from typing import Any

from tests.support.office import SITI, UMBULHARJO, Office, file
from workflows import audit
from workflows import staff as records

FAJAR = 7201


async def test_a_facilitator_reads_their_own_help_and_cannot_open_others_cases(office: Office) -> None:
    def add(session: Any) -> None:
        scope = records.check_scope(office.book, role="facilitator", team=None, districts=[UMBULHARJO], categories=[])
        records.add_staff(
            session,
            book=office.book,
            name="Fajar",
            scope=scope,
            telegram_user_id=str(FAJAR),
            whatsapp_number=None,
            language="id",
            by=audit.CLI,
            now=office.clock(),
        )

    await office.db.run(add)
    fajar = office.person(FAJAR, "Fajar")
    [help_text] = await fajar.type("/help")
    assert help_text.text.startswith("Perintah fasilitator desa") and "Layanan langsung" in help_text.text
    assert "/tickets" not in help_text.text

    number = await file(office, office.person(SITI, "Siti"))
    assert (await office.ticket(number)).assignee_staff_id is None  # a facilitator is never routed one
    [refused] = await fajar.type(f"/ticket {number}")
    assert number not in refused.text or "🎫" not in refused.text
    assert [e.kind for e in await office.events(number)][-1] == "access_denied"
