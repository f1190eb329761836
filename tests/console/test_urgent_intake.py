"""A walk-in report of a child in danger: the form asks the flow's danger question where the
chat does, a "yes" files it urgent (on the on-call track), and the question cannot be left out."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import Ticket
from tests.console.test_intake import complaint, send
from tests.support.console import ConsoleOffice


async def test_a_walk_in_child_in_danger_is_filed_urgent(office: ConsoleOffice) -> None:
    await office.hire("Budi", telegram_user_id="7001")
    facilitator = await office.hire("Fasilitator Desa")
    member = await office.signed_in(facilitator)
    form = await (await member.get("/console/intake?kind=complaint")).text()
    assert 'name="danger" value="yes"' in form and "apakah ada orang yang dalam bahaya saat ini?" in form

    child = complaint(office, category="anak_perlindungan", person_name="Dimas", person_age="7", person_sex="L")
    unanswered = await send(member, child)
    assert unanswered.status == 400 and "Wajib diisi" in await unanswered.text()  # it must be asked
    assert await office.db.run(lambda s: s.execute(select(Ticket)).scalars().all()) == []

    answer = await send(member, {**child, "danger": "yes"})
    assert answer.status == 303, await answer.text()
    ticket = await office.db.run(lambda s: s.execute(select(Ticket)).scalars().one())
    assert ticket.urgent and ticket.details["danger"] is True and ticket.team == "perlindungan"
    receipt = await (await member.get(answer.headers["Location"])).text()
    assert "Darurat: bila ada yang terancam bahaya sekarang" in receipt
    assert "<strong>Darurat: 112</strong> (24 jam, polisi/ambulans)" in receipt and "UPTD PPA" not in receipt
    case = await (await member.get(f"/console/cases/{ticket.number}?lang=en")).text()
    assert '<span class="badge overdue">🚨 Urgent</span>' in case
    await member.close()
