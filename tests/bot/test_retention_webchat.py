"""Retention as a web chat citizen lives it: the consent text states the office's period, and
once it has passed the report's name, address, phone, photo and the chat's messages that
quoted them are gone from the page's history; then the silent chat is forgotten, and the
citizen writing again starts afresh."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app import create_app
from bot.console.core import CONSOLE
from bot.settings import Settings
from storage.models import Attachment, Staff, Ticket
from tests.support.clock import MovableClock
from tests.support.console import Staffing
from tests.support.scheduler import scheduler_for
from tests.support.webchat import WebCitizen, jpeg
from workflows.flowbook import DATA_DIR

NUMBER = re.compile(r"SP-\d{4}-\d{5}")
PERSONAL = ("Mbah Sarinah", "Imogiri", "7890", "tidak ada yang merawat")


async def test_a_web_chat_report_is_erased_once_the_period_its_consent_stated_is_over(
    settings: Settings, tmp_path: Path
) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    office = yaml.safe_load((DATA_DIR / "office.yaml").read_text())
    office["retention"]["default_months"] = 18
    (flows / "office.yaml").write_text(yaml.safe_dump(office, allow_unicode=True))
    settings = dataclasses.replace(settings, flows_dir=flows)
    clock = MovableClock()
    app = create_app(settings, clock=clock)
    async with TestServer(app) as server:
        client = TestClient(server)
        await client.start_server()
        console = app[CONSOLE]
        desk = Staffing(console.db, console.services, clock)
        budi = await desk.hire("Budi")
        person = WebCitizen(client)
        await person.open()
        confirmation = await person.file_complaint(photo=jpeg())
        consent = next(m["text"] for m in person.messages if m.get("step") == "consent")
        assert "paling lama 18 bulan sesudahnya" in consent
        number = NUMBER.search(confirmation).group(0)  # type: ignore[union-attr]
        assert any("Mbah Sarinah" in m["text"] and "Imogiri" in m["text"] for m in person.messages), "the summary"

        def resolve(session: Any) -> None:
            ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
            staff = session.get(Staff, budi.id)
            console.services.casework.accept(session, staff, ticket, clock())
            console.services.casework.resolve(session, staff, ticket, "Mbah Sarinah sudah dibawa ke panti.", clock())

        await console.db.run(resolve)  # the page never reads the news: it stays undelivered
        photo = console.db.read_sync(lambda s: s.execute(select(Attachment.path)).scalar_one())
        assert (settings.attachments_dir / photo).exists()

        # 19 months on, at 02:00 WIB.
        clock.offset += datetime(2028, 6, 24, 19, 0, tzinfo=UTC) - clock()
        scheduler = scheduler_for(settings, console.db, console.services, clock)
        try:
            await scheduler.tick()
        finally:
            await scheduler.stop()

        ticket = console.db.read_sync(lambda s: s.execute(select(Ticket).where(Ticket.number == number)).scalar_one())
        assert ticket.anonymised_reason == "retention" and ticket.village_code == "34.71.04.1001"
        assert not (settings.attachments_dir / photo).exists()
        history = await (await client.get("/api/chat/messages?after=0")).json()
        texts = [m["text"] for m in history["messages"]]
        for text in texts:
            assert not any(word in text for word in PERSONAL), text
        assert not any("sudah dibawa ke panti" in text for text in texts), "the undelivered news is given up"

        # The next tick forgets the chat of a reporter silent for the period with nothing kept.
        scheduler = scheduler_for(settings, console.db, console.services, clock)
        try:
            await scheduler.tick()
        finally:
            await scheduler.stop()
        history = await (await client.get("/api/chat/messages?after=0")).json()
        assert history["messages"] == [], "the page's history is gone with its chat"
        person.messages, person.after = [], 0
        await person.type("/mulai")
        await person.press("complaint")
        assert person.last["step"] == "consent", "writing again, the citizen starts afresh, consent first"
        await client.close()
