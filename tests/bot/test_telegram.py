"""Telegram end to end: the real python-telegram-bot inside the real app, against the local
fake Bot API over HTTP, in polling and in webhook mode, on the database under test."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp import ClientSession, web
from sqlalchemy import func, select

from bot.app import DATABASE, create_app
from bot.settings import Settings
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Attachment, OutboxMessage, Ticket
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.support.clock import running_clock
from tests.support.complaint import file_complaint
from tests.support.telegram import TelegramCitizen
from tests.support.webchat import jpeg

TOKEN = "123456:TEST-TOKEN"
SECRET = "s3cret_Token-for-tests"
NUMBER = re.compile(r"SP-\d{4}-\d{5}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegramAPI]:
    api = FakeTelegramAPI(TOKEN)
    await api.start()
    yield api
    await api.close()


def telegram_settings(settings: Settings, fake: FakeTelegramAPI, **more: object) -> Settings:
    """The app against the fake. Flood limits off: the fake's users answer instantly, and the
    limits have their own tests (test_sender_limits.py)."""
    more = {"telegram_rate_per_chat": 0.0, "telegram_rate_global": 0.0, **more}
    return replace(
        settings,
        telegram_bot_token=TOKEN,
        telegram_api_base_url=fake.base_url,
        telegram_file_base_url=fake.base_file_url,
        **more,
    )


async def serve(settings: Settings, port: int | None = None) -> tuple[web.AppRunner, Database]:
    app = create_app(settings, clock=running_clock())
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port or free_port()).start()
    return runner, app[DATABASE]


@pytest.fixture
async def polling(settings: Settings, fake: FakeTelegramAPI) -> AsyncIterator[Database]:
    runner, db = await serve(telegram_settings(settings, fake))
    yield db
    await runner.cleanup()


@pytest.fixture
async def webhook(settings: Settings, fake: FakeTelegramAPI) -> AsyncIterator[Database]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/webhook"
    runner, db = await serve(
        telegram_settings(settings, fake, telegram_webhook_url=url, telegram_webhook_secret=SECRET), port
    )
    yield db
    await runner.cleanup()


async def tickets(db: Database) -> list[Ticket]:
    return await db.run(lambda s: list(s.execute(select(Ticket)).scalars()))


async def test_polling_a_complaint_with_photo_and_location(
    polling: Database, fake: FakeTelegramAPI, settings: Settings
) -> None:
    citizen = TelegramCitizen(fake, polling, user_id=5001)
    confirmation = await file_complaint(citizen, photo=jpeg())
    assert NUMBER.search(confirmation).group(0) == "SP-2026-00001"
    assert "Selasa, 24 November 2026" in confirmation
    [ticket] = await tickets(polling)
    assert (ticket.channel, ticket.category, ticket.village_code) == ("telegram", "lansia_telantar", "34.71.04.1001")
    assert (ticket.latitude, ticket.longitude) == (-7.8305, 110.392)
    [attachment] = await polling.run(lambda s: list(s.execute(select(Attachment)).scalars()))
    assert attachment.ticket_id == ticket.id and attachment.width == 320  # the largest size was fetched
    await citizen.type("status")
    assert "SP-2026-00001" in citizen.messages[-2].text


async def test_webhook_mode_processes_updates_once_and_checks_the_secret(
    webhook: Database, fake: FakeTelegramAPI
) -> None:
    citizen = TelegramCitizen(fake, webhook, user_id=5002)
    await citizen.type("/start")
    assert "Apa yang ingin Anda lakukan?" in citizen.last.text
    update = await fake.press_button(5002, citizen.last.message_id, citizen.buttons()["Pengaduan"])
    await citizen.settle(update)
    replies_before = len(citizen.messages)
    assert await fake.deliver_again(update["update_id"]) == 200
    await asyncio.sleep(0.3)
    assert len(citizen.messages) == replies_before  # the redelivery changed nothing
    forged = {**update, "update_id": update["update_id"] + 1000}
    assert await fake.post_to_webhook(forged, secret="wrong") == 403
    assert await fake.post_to_webhook(forged, secret=None) == 403
    async with ClientSession() as client:  # a body that is not an update: refused, nothing breaks
        url = fake.calls_to("setWebhook")[-1]["url"]
        async with client.post(url, json=[1, 2], headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as answer:
            assert answer.status == 400
    await asyncio.sleep(0.2)
    assert len(citizen.messages) == replies_before
    confirmation = await finish_from_consent(citizen)
    assert NUMBER.search(confirmation)
    assert len(await tickets(webhook)) == 1


async def finish_from_consent(citizen: TelegramCitizen) -> str:
    await citizen.press("Setuju")
    await citizen.press("Gangguan jiwa (ODGJ)")
    await citizen.press("ODGJ")
    await citizen.press("Orang lain")
    await citizen.press("Lewati")
    await citizen.press("Tidak tahu")
    await citizen.press("Lewati")
    await citizen.press("Lewati")
    await citizen.press("Mantrijeron")
    await citizen.press("Gedongkiwo")
    await citizen.type("Depan pasar, di bawah pohon beringin")
    await citizen.type("Lewati")  # typed on the reply keyboard beside the location button
    await citizen.press("Lewati")
    await citizen.type("Seorang bapak tidur di jalan dan bicara sendiri sejak tiga hari.")
    await citizen.press("Lewati")
    replies = await citizen.press("Kirim")
    return replies[0].text


async def test_a_sticker_where_a_photo_is_asked_gets_a_kind_reprompt(polling: Database, fake: FakeTelegramAPI) -> None:
    citizen = TelegramCitizen(fake, polling, user_id=5003)
    await citizen.type("/start")
    await citizen.press("Pengaduan")
    await citizen.press("Setuju")
    await citizen.press("Lansia")
    await citizen.press("Lansia telantar")
    await citizen.press("Orang lain")
    await citizen.press("Lewati")
    await citizen.press("Tidak tahu")
    await citizen.press("Lewati")
    await citizen.press("Lewati")
    await citizen.press("Kraton")
    await citizen.press("Patehan")
    await citizen.type("Jl. Patehan Lor 12")
    await citizen.type("Lewati")
    replies = await citizen.sticker()
    assert "stiker" in replies[0].text
    assert "Kirim foto" in replies[-1].text or "foto" in replies[-1].text.lower()
    assert "Lewati" in citizen.buttons()


async def test_english_speakers_are_answered_in_english(polling: Database, fake: FakeTelegramAPI) -> None:
    fake.add_user(5004, first_name="Anna", language_code="en")
    citizen = TelegramCitizen(fake, polling, user_id=5004)
    await citizen.type("/start")
    assert citizen.last.text.startswith("What would you like to do?")
    await citizen.type("bahasa indonesia")
    assert "Bahasa Indonesia" in citizen.messages[-2].text


async def test_a_429_is_waited_out_and_every_reply_arrives_once_in_order(
    polling: Database, fake: FakeTelegramAPI
) -> None:
    citizen = TelegramCitizen(fake, polling, user_id=5005)
    fake.fail_next("sendMessage", status=429, retry_after=1, count=1)
    started = time.monotonic()
    replies = await citizen.type("/start")
    assert time.monotonic() - started >= 0.9
    assert [m.text.split("\n")[0] for m in replies] == [
        "Halo! Ini layanan pengaduan dan permohonan Dinas Sosial.",
        "Apa yang ingin Anda lakukan?",
    ]
    fake.fail_next("sendMessage", status=500, count=1)
    replies = await citizen.press("Pengaduan")
    assert len(replies) == 1 and "Sebelum mulai" in replies[0].text


async def test_a_blocked_bot_marks_the_message_failed_instead_of_retrying(
    polling: Database, fake: FakeTelegramAPI
) -> None:
    fake.add_user(5006, first_name="Budi")
    fake.block(5006)
    update = await fake.send_text(5006, "/start")
    deadline = time.monotonic() + 10
    while True:
        statuses = await polling.run(
            lambda s: list(s.execute(select(OutboxMessage.status).where(OutboxMessage.chat_id == "5006")).scalars())
        )
        if statuses and all(status == "failed" for status in statuses):
            break
        assert time.monotonic() < deadline, statuses
        await asyncio.sleep(0.05)
    assert update["update_id"]


def _serve_process(settings: Settings, fake: FakeTelegramAPI, port: int, **more_env: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SATUPINTU_DATA_DIR": str(settings.data_dir),
        "DATABASE_URL": settings.effective_database_url,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "TELEGRAM_FILE_BASE_URL": fake.base_file_url,
        "TELEGRAM_RATE_PER_CHAT": "0",
        "TELEGRAM_RATE_GLOBAL": "0",
        **more_env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).resolve().parents[2],
    )


async def _exited(process: subprocess.Popen[bytes], seconds: float) -> bool:
    """Wait without blocking the loop: the fake Bot API in this loop must keep answering the
    server's last calls while it shuts down. Kills it if it overstays."""
    deadline = time.monotonic() + seconds
    while process.poll() is None:
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            return False
        await asyncio.sleep(0.05)
    return True


async def _wait_polling(fake: FakeTelegramAPI, process: subprocess.Popen[bytes], calls_before: int) -> None:
    deadline = time.monotonic() + 30
    while sum(1 for method, _ in fake.calls[calls_before:] if method == "getUpdates") == 0:
        assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
        assert time.monotonic() < deadline, "the bot never started polling"
        await asyncio.sleep(0.1)


async def test_sigkill_mid_conversation_then_restart_continues_at_the_same_step(
    settings: Settings, fake: FakeTelegramAPI
) -> None:
    upgrade(settings.effective_database_url)
    db = Database(settings.effective_database_url)
    port = free_port()
    citizen = TelegramCitizen(fake, db, user_id=5007)
    process = _serve_process(settings, fake, port)
    try:
        await _wait_polling(fake, process, 0)
        await citizen.type("/start")
        await citizen.press("Pengaduan")
        await citizen.press("Setuju")
        await citizen.press("Lansia")
        await citizen.press("Lansia telantar")
        await citizen.press("Saya sendiri")
        await citizen.type("Siti Aminah")
        assert "NIK" in citizen.last.text
    finally:
        process.send_signal(signal.SIGKILL)
        await _exited(process, 10)
    calls_before = len(fake.calls)
    process = _serve_process(settings, fake, port)
    try:
        await _wait_polling(fake, process, calls_before)
        await citizen.type("3471014507850001")
        assert "umur" in citizen.last.text.lower()
        await citizen.type("41")
        await citizen.press("Perempuan")
        await citizen.press("Umbulharjo")
        await citizen.press("Giwangan")
        await citizen.type("Jl. Imogiri Timur 5")
        await citizen.type("Lewati")
        await citizen.press("Lewati")
        await citizen.type("Saya tinggal sendiri dan butuh bantuan untuk makan sehari-hari.")
        await citizen.press("Lewati")
        replies = await citizen.press("Kirim")
        assert NUMBER.search(replies[0].text)
        [ticket] = await db.run(lambda s: list(s.execute(select(Ticket)).scalars()))
        assert (ticket.person_name, ticket.person_nik, ticket.category) == (
            "Siti Aminah",
            "3471014507850001",
            "lansia_telantar",
        )
        count = await db.run(lambda s: s.execute(select(func.count()).select_from(Ticket)).scalar_one())
        assert count == 1
    finally:
        process.send_signal(signal.SIGTERM)
        clean = await _exited(process, 15)
        db.close()
    assert clean and process.returncode == 0, "serve must stop cleanly on SIGTERM"
