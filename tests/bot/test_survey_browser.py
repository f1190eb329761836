"""The full satisfaction form in a real browser (Debian's Chromium on a phone-sized screen): a
citizen opens the link from their chat, answers the nine IKM elements by tapping, and sends it;
the response is stored complete, counts for the index, and the link is spent."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select

from bot.app import DATABASE, RUNNER, SERVICES
from bot.settings import Settings
from storage import repo
from storage.models import OutboxMessage, SurveyResponse, Ticket
from tests.support.browser import ARTIFACTS, LiveServer, launched_browser, live_server, phone_context, require_browser
from workflows import audit
from workflows import staff as records

pytestmark = pytest.mark.asyncio(loop_scope="module")
LINK = re.compile(r"/survey/[A-Za-z0-9_-]+")
ANSWERS = {
    "requirements": 4,
    "procedure": 3,
    "time": 3,
    "cost": 4,
    "product": 3,
    "competence": 4,
    "conduct": 4,
    "complaints": 3,
    "facilities": 2,
}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Any]:
    require_browser()
    async with launched_browser() as launched:
        yield launched


@pytest_asyncio.fixture(loop_scope="module")
async def server(browser: Any, settings: Settings) -> AsyncIterator[LiveServer]:
    async with live_server(settings) as running:
        yield running


async def _resolved_ticket(server: LiveServer) -> tuple[int, str]:
    """A ticket an officer resolved: its id and the form's address sent to the citizen."""
    services = server.app[SERVICES]
    at = server.app[RUNNER].clock()

    def work(session: Any) -> tuple[int, str]:
        scope = records.check_scope(services.book, role="officer", team=None, districts=["34.71.04"], categories=[])
        officer = records.add_staff(
            session,
            book=services.book,
            name="Budi",
            scope=scope,
            telegram_user_id=None,
            whatsapp_number=None,
            language="id",
            by=audit.CLI,
            now=at,
        )
        contact = repo.get_or_create_contact(
            session, channel="web", external_id="w-survey", chat_id="w-survey", language="id", display_name=None, now=at
        )
        answers = {
            "category_group": "lansia",
            "category": "lansia_telantar",
            "subject": "other",
            "district_code": "34.71.04",
            "village_code": "34.71.04.1001",
            "description": "Nenek tinggal sendiri.",
        }
        ticket = services.casework.open(session, contact=contact, flow="complaint", answers=answers, now=at)
        session.flush()
        services.casework.accept(session, officer, ticket, at)
        services.casework.resolve(session, officer, ticket, "Sudah dibantu sembako.", at)
        session.flush()
        texts = [
            r.payload.get("text", "")
            for r in session.execute(select(OutboxMessage).where(OutboxMessage.contact_id == contact.id)).scalars()
        ]
        [link] = [m.group(0) for m in map(LINK.search, texts) if m]
        return ticket.id, link  # type: ignore[return-value]

    return await server.app[DATABASE].run(work)


async def test_a_citizen_answers_the_nine_elements_on_a_phone(server: LiveServer, browser: Any) -> None:
    ticket_id, path = await _resolved_ticket(server)
    context = await phone_context(browser)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(server.url.rstrip("/") + path)
    assert await page.locator("fieldset").count() == 9
    assert "Persyaratan" in await page.locator("legend").first.inner_text()

    # Sending with a question open is held by the browser (each question is required).
    await page.get_by_role("button", name="Kirim penilaian").click()
    assert await page.locator("#answer").count() == 0

    for key, value in ANSWERS.items():
        await page.locator(f'input[name="{key}"][value="{value}"]').check()
    await page.locator("#comment").fill("Petugas ramah, tapi kantornya jauh.")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "survey-form.png"), full_page=True)
    await page.get_by_role("button", name="Kirim penilaian").click()
    await page.locator("#answer").wait_for()
    assert "Terima kasih" in await page.locator("#answer").inner_text()

    def stored(session: Any) -> tuple[Any, str]:
        response = session.execute(select(SurveyResponse)).scalars().one()
        return response, session.get(Ticket, ticket_id).status

    response, status = await server.app[DATABASE].run(stored)
    assert response.complete and response.scores == ANSWERS and status == "closed"
    assert response.comment == "Petugas ramah, tapi kantornya jauh."

    await page.goto(server.url.rstrip("/") + path)  # the link is spent
    assert "sudah diisi" in await page.locator("#answer").inner_text()
    assert errors == []
    await context.close()
