"""A photos folder the server cannot write (a full disk, a wrong owner after a restore, a
read-only mount): the person is told kindly, the error is logged for the office, the Telegram
webhook answers 200 so the update is not delivered again and again, and once the folder is
writable the next photo is taken."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app import DATABASE, create_app
from bot.settings import Settings
from storage.db import Database
from storage.models import Attachment
from tests.bot.test_telegram import SECRET, fake, free_port, serve, telegram_settings  # noqa: F401  (fixture)
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.support.clock import running_clock
from tests.support.complaint import up_to_photos
from tests.support.faults import unwritable
from tests.support.telegram import TelegramCitizen
from tests.support.webchat import WebCitizen, jpeg

NOT_SAVED = "belum bisa kami simpan"


async def attachments(db: Database) -> list[Attachment]:
    return await db.run(lambda s: list(s.execute(select(Attachment)).scalars()))


@pytest.fixture
async def webhook(settings: Settings, fake: FakeTelegramAPI) -> AsyncIterator[Database]:  # noqa: F811
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/webhook"
    runner, db = await serve(
        telegram_settings(settings, fake, telegram_webhook_url=url, telegram_webhook_secret=SECRET), port
    )
    yield db
    await runner.cleanup()


async def test_telegram_photo_into_an_unwritable_folder_is_answered_kindly_once(
    webhook: Database,
    fake: FakeTelegramAPI,  # noqa: F811
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    citizen = TelegramCitizen(fake, webhook, user_id=5301)
    await up_to_photos(citizen)
    caplog.set_level(logging.ERROR)
    with unwritable(settings.attachments_dir):
        update = await fake.send_photo(5301, jpeg())
        replies = await citizen.settle(update)
    assert NOT_SAVED in replies[0].text
    assert "Selesai" in citizen.buttons() or "Lewati" in citizen.buttons(), "the step is still open"
    deliveries = [d for d in fake.webhook_deliveries if d.update_id == update["update_id"]]
    assert [d.status for d in deliveries] == [200], "answered once, with 200: Telegram does not redeliver"
    assert any("could not keep a photo" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
    assert await attachments(webhook) == []

    replies = await citizen.photo(jpeg(colour=(200, 30, 30)))
    assert "Foto diterima" in replies[0].text
    [kept] = await attachments(webhook)
    assert (settings.attachments_dir / kept.path).is_file()


async def test_web_chat_upload_into_an_unwritable_folder_is_answered_kindly(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    async with TestServer(create_app(settings, clock=running_clock())) as server:
        client = TestClient(server)
        await client.start_server()
        person = WebCitizen(client)
        await person.open()
        await person.begin_complaint("kejiwaan", "odgj")
        for value in ("skip", "unknown", "skip", "skip", "34.71.01", "34.71.01.1001"):
            await person.press(value)
        await person.type("Depan pasar, di bawah pohon")
        await person.press("skip")
        assert person.last["step"] == "photos"
        caplog.set_level(logging.ERROR)
        with unwritable(settings.attachments_dir):
            replies = await person.photo(jpeg())  # asserts the 200
        assert NOT_SAVED in replies[0]["text"]
        assert person.last["step"] == "photos"
        assert any("could not keep a photo" in r.getMessage() for r in caplog.records)
        assert not list(settings.attachments_dir.parent.glob("*.tmp")), "no half file left"
        replies = await person.photo(jpeg(colour=(10, 200, 10)))
        assert "Foto diterima" in replies[0]["text"]
        [kept] = await attachments(server.app[DATABASE])
        assert (settings.attachments_dir / kept.path).is_file()
        await client.close()
