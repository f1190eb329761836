"""The IKM as PermenPAN-RB 14/2017 defines it, on the console's reports page: per service unit
(team) and period, from complete nine-element responses only, with its grade, the number of
respondents and a 95% margin of error; the chat's three-question answers are never counted in
it. And the full nine-element form a citizen reaches from the link in their chat: an answer left
out is asked for again with nothing lost, and the link is spent once used.

The expected figures are worked by hand in the comments."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from storage.models import Contact, OutboxMessage, Staff, SurveyResponse, Ticket
from tests.support.console import ConsoleOffice
from workflows.ikm import band, index

ELEMENTS = ["requirements", "procedure", "time", "cost", "product", "competence", "conduct", "complaints", "facilities"]
LINK = re.compile(r"/survey/[A-Za-z0-9_-]+")


def nine(*answers: int) -> dict[str, int]:
    return dict(zip(ELEMENTS, answers, strict=True))


async def _resolved(office: ConsoleOffice, officer: Staff, team: str) -> Ticket:
    ticket = await office.file()
    casework = office.services.casework

    def work(session: Any) -> Ticket:
        fresh, staff = session.get(Ticket, ticket.id), session.get(Staff, officer.id)
        fresh.team = team
        casework.accept(session, staff, fresh, office.clock())
        casework.resolve(session, staff, fresh, "Sudah dikunjungi dan dibantu.", office.clock())
        return fresh

    return await office.db.run(work)


async def _rate_in_full(office: ConsoleOffice, ticket: Ticket, scores: dict[str, int]) -> None:
    await office.db.run(
        lambda s: office.services.casework.survey_in_full(s, s.get(Ticket, ticket.id), scores, None, office.clock())
    )


def _cells(html: str, heading: str) -> list[str]:
    for row in re.findall(r"<tr>(.*?)</tr>", html, re.S):
        if re.search(rf"<th scope=\"row\">\s*{re.escape(heading)}", row):
            return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]
    raise AssertionError(f"no row for {heading!r}")


def test_the_index_grades_and_margin_by_hand() -> None:
    # Respondents' own indexes: 25 × 36/9 = 100, 25 × 27/9 = 75, 25 × 30/9 = 83.33; the index is
    # their mean, 86.11 (= the mean of the element means × 25), grade B. s = 12.73, so the margin
    # is 1.96 × 12.73 / √3 = 14.40.
    found = index(
        [nine(4, 4, 4, 4, 4, 4, 4, 4, 4), nine(3, 3, 3, 3, 3, 3, 3, 3, 3), nine(3, 3, 3, 3, 4, 4, 4, 4, 2)], ELEMENTS
    )
    assert found is not None
    assert (found.value, found.grade, found.grade_name, found.responses, found.margin) == (86.11, "B", "Baik", 3, 14.4)
    assert found.element_means["facilities"] == 3.0 and round(found.element_means["product"], 4) == 3.6667
    # An incomplete response (the chat's three questions) is not part of it, alone or mixed in.
    assert index([{"time": 4, "conduct": 4, "complaints": 4}], ELEMENTS) is None
    one = index([nine(4, 4, 4, 4, 4, 4, 4, 4, 4), {"time": 1, "conduct": 1, "complaints": 1}], ELEMENTS)
    assert one is not None and (one.value, one.responses, one.margin) == (100.0, 1, None)
    # The grade bands of the regulation, at their edges.
    assert [band(v)[0] for v in (100, 88.31, 88.30, 76.61, 76.60, 65.00, 64.99, 25)] == list("AABBCCDD")


async def test_the_console_shows_the_ikm_per_unit_and_never_a_short_survey_as_ikm(office: ConsoleOffice) -> None:
    budi = await office.hire("Budi")
    admin = await office.hire("Ani", role="admin", districts=())
    rehsos = [await _resolved(office, budi, "rehsos") for _ in range(3)]
    protection = [await _resolved(office, budi, "perlindungan") for _ in range(2)]
    short = await _resolved(office, budi, "rehsos")
    for ticket, scores in zip(
        rehsos + protection,
        [
            nine(4, 4, 4, 4, 4, 4, 4, 4, 4),  # 100
            nine(3, 3, 3, 3, 3, 3, 3, 3, 3),  # 75
            nine(3, 3, 3, 3, 4, 4, 4, 4, 2),  # 83.33
            nine(2, 2, 2, 2, 2, 2, 2, 2, 2),  # 50
            nine(2, 2, 2, 2, 2, 2, 2, 2, 3),  # 52.78
        ],
        strict=True,
    ):
        await _rate_in_full(office, ticket, scores)

    def rate_in_chat(session: Any) -> None:  # the chat's short survey: three elements, all 4
        reporter = session.get(Contact, short.reporter_contact_id)
        office.services.casework.survey(
            session, reporter, short.id, {"time": 4, "conduct": 4, "complaints": 4}, None, office.clock()
        )

    await office.db.run(rate_in_chat)

    member = await office.signed_in(admin)
    html = await (await member.get("/console/reports")).text()
    # Social rehabilitation: 100, 75, 83.33 → 86.11, B, n 3, ± 1.96 × 12.73 / √3 = 14.40.
    assert _cells(html, "Tim rehabilitasi sosial") == ["86.11", "B (Baik)", "3", "± 14.40"]
    # Protection: 50, 52.78 → 51.39, D, n 2, s = 1.96 → ± 1.96 × 1.96 / √2 = 2.72.
    assert _cells(html, "Tim perlindungan") == ["51.39", "D (Tidak Baik)", "2", "± 2.72"]
    # The office: the five → 72.22, C, s = 21.06 → ± 1.96 × 21.06 / √5 = 18.46; the 4-4-4 chat
    # answers would have raised it, and are only counted aside.
    assert _cells(html, "Seluruh kantor") == ["72.22", "C (Kurang Baik)", "5", "± 18.46"]
    assert "1 jawaban survei singkat di chat pada periode ini tidak dihitung dalam IKM" in html
    # The short survey's mean appears in the counts, and nowhere as "IKM".
    summary = html.split('id="h-ikm"')[0]
    assert "IKM" not in summary.replace("bukan IKM", "")
    # A year's view holds the same responses (all in this month).
    year = await (await member.get("/console/reports?period=year")).text()
    assert _cells(year, "Seluruh kantor") == ["72.22", "C (Kurang Baik)", "5", "± 18.46"]
    english = await (await member.get("/console/reports?lang=en")).text()
    assert "Public satisfaction index (IKM)" in english and "Margin of error (95%)" in english
    await member.close()


async def test_the_web_form_asks_again_for_what_is_missing_and_is_spent_once_sent(office: ConsoleOffice) -> None:
    budi = await office.hire("Budi")
    ticket = await _resolved(office, budi, "umum")
    path = await _form_path(office, ticket)
    page = await office.client.get(path)
    body = await page.text()
    assert page.status == 200 and ticket.number in body and body.count("<fieldset") == 9

    partial = {**nine(4, 4, 3, 4, 3, 4, 4, 3, 4)}
    del partial["facilities"]
    again = await office.client.post(path, data={**{k: str(v) for k, v in partial.items()}, "comment": "Cepat."})
    text = await again.text()
    assert again.status == 422 and "Yang belum dijawab" in text and "Sarana dan prasarana" in text
    assert 'name="time" value="3" required checked' in text and "Cepat." in text  # nothing lost
    assert (await _status(office, ticket)) == "resolved"

    full = {k: str(v) for k, v in nine(4, 4, 3, 4, 3, 4, 4, 3, 4).items()}
    sent = await office.client.post(path, data={**full, "comment": "Cepat."})
    assert sent.status == 200 and "Terima kasih" in await sent.text()
    [response] = await office.db.run(lambda s: list(s.execute(select(SurveyResponse)).scalars()))
    assert response.complete and response.scores == nine(4, 4, 3, 4, 3, 4, 4, 3, 4) and response.comment == "Cepat."
    assert (await _status(office, ticket)) == "closed"
    spent = await office.client.get(path)
    assert spent.status == 410 and "sudah diisi" in await spent.text()
    unknown = await office.client.get("/survey/tidak-ada")
    assert unknown.status == 404


async def _form_path(office: ConsoleOffice, ticket: Ticket) -> str:
    """The form's address from the resolution message queued for the citizen."""
    rows = await office.db.run(
        lambda s: list(
            s.execute(select(OutboxMessage).where(OutboxMessage.contact_id == ticket.reporter_contact_id)).scalars()
        )
    )
    found = [LINK.search(r.payload.get("text", "")) for r in rows]
    links = [m.group(0) for m in found if m]
    assert links, [r.payload for r in rows]
    return links[-1]


async def _status(office: ConsoleOffice, ticket: Ticket) -> str:
    return await office.db.run(lambda s: s.get(Ticket, ticket.id).status)


async def test_the_form_link_expires_after_the_offices_days(office: ConsoleOffice) -> None:
    budi = await office.hire("Budi")
    ticket = await _resolved(office, budi, "umum")
    path = await _form_path(office, ticket)
    office.clock.advance(days=office.services.book.office.survey_form_days, minutes=1)
    expired = await office.client.get(path)
    assert expired.status == 410 and "kedaluwarsa" in await expired.text()
    sent = await office.client.post(path, data={k: "4" for k in ELEMENTS})
    assert sent.status == 410 and (await _status(office, ticket)) == "resolved"
