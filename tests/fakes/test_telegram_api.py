"""The fake Bot API, exercised by the real python-telegram-bot over HTTP: if these pass, a test
that drives the bot through the fake sees what it would see against api.telegram.org."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    Update,
)
from telegram.error import BadRequest, Conflict, EndPointNotFound, Forbidden, InvalidToken, NetworkError, RetryAfter
from telegram.ext import Updater

from tests.fakes.telegram_api import SECRET_HEADER, FakeTelegramAPI

TOKEN = "123456:TEST-TOKEN"
SITI = 7001


def jpeg(size: tuple[int, int] = (320, 240)) -> bytes:
    Image = pytest.importorskip("PIL.Image")
    buffer = io.BytesIO()
    Image.new("RGB", size, (30, 120, 200)).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeTelegramAPI]:
    async with FakeTelegramAPI(TOKEN) as api:
        yield api


@pytest_asyncio.fixture
async def bot(fake: FakeTelegramAPI) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=fake.base_url, base_file_url=fake.base_file_url) as client:
        yield client


@pytest.fixture(autouse=True)
def timedelta_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """PTB 22 warns when RetryAfter.retry_after is read as int; opt in to timedelta."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.mark.asyncio
async def test_get_me_and_the_token_and_method_checks(fake: FakeTelegramAPI, bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.username) == (123456, True, "satupintu_test_bot")
    assert fake.calls[0][0] == "getMe"
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("noSuchMethod")
    with pytest.raises(InvalidToken, match="rejected"):
        async with Bot("999:WRONG", base_url=fake.base_url):
            pass


@pytest.mark.asyncio
async def test_polling_receives_a_users_text_as_a_real_update(fake: FakeTelegramAPI, bot: Bot) -> None:
    queue: asyncio.Queue[object] = asyncio.Queue()
    updater = Updater(bot, queue)
    async with updater:
        await updater.start_polling(poll_interval=0, timeout=timedelta(seconds=5))
        await fake.wait_for_calls("getUpdates")
        started = time.monotonic()
        sent = await fake.send_text(SITI, "/start hello")
        update = await asyncio.wait_for(queue.get(), 3)
        assert time.monotonic() - started < 1  # the long poll returned early
        await updater.stop()
        assert await bot.get_updates(timeout=0) == ()
    assert isinstance(update, Update) and update.message is not None
    assert update.update_id == sent["update_id"]
    assert update.message.text == "/start hello"
    assert update.message.from_user.id == SITI and update.message.from_user.first_name == "Siti"
    assert update.message.from_user.language_code == "id"
    assert (update.message.chat.id, update.message.chat.type) == (SITI, "private")
    assert update.message.parse_entities() != {}  # the bot_command entity
    assert fake.calls_to("getUpdates")[-2]["offset"] == sent["update_id"] + 1  # stop() confirmed it


@pytest.mark.asyncio
async def test_get_updates_offsets_long_polls_and_conflicts(fake: FakeTelegramAPI, bot: Bot) -> None:
    first = await fake.send_text(SITI, "satu")
    second = await fake.send_text(SITI, "dua")
    updates = await bot.get_updates()
    assert [u.update_id for u in updates] == [first["update_id"], second["update_id"]]
    assert [u.message.message_id for u in updates] == [1, 2]
    assert len(await bot.get_updates(offset=second["update_id"])) == 1  # the first is now forgotten
    assert await bot.get_updates(offset=second["update_id"] + 1) == ()
    started = time.monotonic()
    assert await bot.get_updates(timeout=0.3) == ()
    assert 0.25 < time.monotonic() - started < 1.5
    async with Bot(TOKEN, base_url=fake.base_url) as second_instance:  # PTB's poll pool holds one
        waiting = asyncio.create_task(second_instance.get_updates(timeout=3))
        await fake.wait_for_calls("getUpdates", len(fake.calls_to("getUpdates")) + 1)
        assert await bot.get_updates(timeout=0) == ()
        with pytest.raises(Conflict, match="terminated by other getUpdates"):
            await waiting


@pytest.mark.asyncio
async def test_the_bot_sends_keyboards_and_the_fake_records_them(fake: FakeTelegramAPI, bot: Bot) -> None:
    await fake.send_text(SITI, "/start")
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Pengaduan", callback_data="menu:complaint"),
                InlineKeyboardButton("Status", callback_data="menu:status"),
            ]
        ]
    )
    message = await bot.send_message(SITI, "Apa yang ingin Anda lakukan?", reply_markup=keyboard)
    await bot.send_message(
        SITI,
        "Kirim lokasi",
        reply_markup=ReplyKeyboardMarkup([[KeyboardButton("Kirim lokasi", request_location=True)], ["Lewati"]]),
    )
    assert message.message_id == 2 and message.reply_markup == keyboard  # id 1 is the user's /start
    first, second = await fake.wait_for_sent(SITI, 2)
    assert (first.method, first.text, first.chat_id) == ("sendMessage", "Apa yang ingin Anda lakukan?", SITI)
    assert first.reply_markup == {
        "inline_keyboard": [
            [
                {"text": "Pengaduan", "callback_data": "menu:complaint"},
                {"text": "Status", "callback_data": "menu:status"},
            ]
        ]
    }
    assert second.reply_markup["keyboard"][0][0] == {"text": "Kirim lokasi", "request_location": True}
    assert isinstance(first.date, int)
    method, params = fake.calls[-1]
    assert method == "sendMessage" and params["chat_id"] == SITI and params["reply_markup"]["keyboard"]


@pytest.mark.asyncio
async def test_limits_that_real_telegram_enforces(fake: FakeTelegramAPI, bot: Bot) -> None:
    await fake.send_text(SITI, "halo")
    await bot.send_message(SITI, "x" * 4096)
    with pytest.raises(BadRequest, match="(?i)message is too long"):
        await bot.send_message(SITI, "x" * 4097)
    with pytest.raises(BadRequest, match="(?i)text is empty"):
        await bot.send_message(SITI, " ")
    with pytest.raises(BadRequest, match="(?i)chat not found"):
        await bot.send_message(424242, "halo")
    with pytest.raises(BadRequest, match="(?i)button_data_invalid"):
        await bot.send_message(
            SITI, "pilih", reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="x" * 65)]])
        )
    with pytest.raises(BadRequest, match="(?i)unsupported start tag"):
        await bot.send_message(SITI, "baris satu<br>baris dua", parse_mode="HTML")
    with pytest.raises(BadRequest, match="reserved"):
        await bot.send_message(SITI, "Nomor SP-2026-00001.", parse_mode="MarkdownV2")
    html = await bot.send_message(SITI, "<b>Nomor</b> &lt;SP&gt;", parse_mode="HTML")
    assert html.text == "Nomor <SP>" and fake.sent(SITI)[-1].raw_text == "<b>Nomor</b> &lt;SP&gt;"
    assert (await bot.send_message(SITI, r"*Nomor* SP\-1\.", parse_mode="MarkdownV2")).text == "Nomor SP-1."
    fake.add_user(7002, first_name="Budi")
    with pytest.raises(Forbidden, match="can't initiate conversation"):
        await bot.send_message(7002, "halo")
    with pytest.raises(AssertionError, match="transcript"):
        await fake.wait_for_sent(SITI, 10, timeout=0.1)


@pytest.mark.asyncio
async def test_a_button_press_arrives_as_a_callback_query(fake: FakeTelegramAPI, bot: Bot) -> None:
    await fake.send_text(SITI, "/start")
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Setuju", callback_data="consent:yes")]])
    sent = await bot.send_message(SITI, "Setuju?", reply_markup=keyboard)
    with pytest.raises(ValueError, match="no button"):
        await fake.press_button(SITI, sent.message_id, "consent:no")
    pressed = await fake.press_button(SITI, sent.message_id, "consent:yes")
    [_, update] = await bot.get_updates()
    query = update.callback_query
    assert update.update_id == pressed["update_id"]
    assert (query.data, query.from_user.id, query.message.message_id) == ("consent:yes", SITI, sent.message_id)
    assert isinstance(query.message, Message) and query.message.reply_markup == keyboard
    assert query.chat_instance
    assert await bot.answer_callback_query(query.id)
    with pytest.raises(BadRequest, match="(?i)query is too old"):
        await bot.answer_callback_query(query.id)
    await bot.edit_message_reply_markup(SITI, sent.message_id, reply_markup=None)
    assert fake.sent(SITI)[0].reply_markup is None
    with pytest.raises(BadRequest, match="(?i)not modified"):
        await bot.edit_message_reply_markup(SITI, sent.message_id, reply_markup=None)
    edited = await bot.edit_message_text("Terima kasih", chat_id=SITI, message_id=sent.message_id)
    assert edited.text == "Terima kasih" and fake.sent(SITI)[0].text == "Terima kasih"
    assert await bot.delete_message(SITI, sent.message_id)
    assert fake.sent(SITI)[0].deleted
    with pytest.raises(BadRequest, match="(?i)not found"):
        await bot.edit_message_text("lagi", chat_id=SITI, message_id=sent.message_id)


@pytest.mark.asyncio
async def test_a_users_photo_is_downloaded_byte_for_byte(fake: FakeTelegramAPI, bot: Bot) -> None:
    data = jpeg()
    await fake.send_photo(SITI, data, caption="rumah")
    [update] = await bot.get_updates()
    sizes = update.message.photo
    assert len(sizes) == 3 and update.message.caption == "rumah"
    assert [s.width for s in sizes] == [80, 160, 320] and sizes[0].file_size < sizes[2].file_size
    largest = await bot.get_file(sizes[-1].file_id)
    assert largest.file_path.startswith(fake.base_file_url) and "photos/file_" in largest.file_path
    assert bytes(await largest.download_as_bytearray()) == data
    smallest = await bot.get_file(sizes[0].file_id)
    assert bytes(await smallest.download_as_bytearray()) != data
    with pytest.raises(BadRequest, match="(?i)invalid file_id"):
        await bot.get_file("nonsense")
    # not an image: all sizes share the bytes
    await fake.send_photo(SITI, b"not really a jpeg")
    [_, update] = await bot.get_updates()
    file = await bot.get_file(update.message.photo[-1].file_id)
    assert bytes(await file.download_as_bytearray()) == b"not really a jpeg"
    # the bot sends a photo (multipart upload) and may send it again by file_id
    reply = await bot.send_photo(SITI, data, caption="<i>diterima</i>", parse_mode="HTML")
    assert reply.caption == "diterima" and fake.sent(SITI)[-1].photo == data
    again = await bot.send_photo(SITI, reply.photo[-1].file_id)
    assert fake.sent(SITI)[-1].photo == data and again.message_id == reply.message_id + 1


@pytest.mark.asyncio
async def test_injected_failures_map_to_ptb_errors(fake: FakeTelegramAPI, bot: Bot) -> None:
    await fake.send_text(SITI, "halo")
    fake.fail_next("sendMessage", status=429, retry_after=3)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(SITI, "satu")
    assert caught.value.retry_after == timedelta(seconds=3)
    fake.fail_next("sendMessage", status=500)
    fake.fail_next("sendMessage", status=502)
    with pytest.raises(NetworkError, match="Internal Server Error"):
        await bot.send_message(SITI, "dua")
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.send_message(SITI, "dua")
    await bot.send_message(SITI, "tiga")
    assert [m.text for m in fake.sent(SITI)] == ["tiga"]
    assert fake.count_429 == 1 and [e[2] for e in fake.errors] == [429, 500, 502]


@pytest.mark.asyncio
async def test_a_blocked_user_answers_403(fake: FakeTelegramAPI, bot: Bot) -> None:
    await fake.send_text(SITI, "/start")
    await bot.send_message(SITI, "halo")
    fake.block(SITI)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(SITI, "masih di sana?")
    fake.unblock(SITI)
    await bot.send_chat_action(SITI, "typing")
    location = await bot.send_location(SITI, latitude=-7.8305, longitude=110.392)
    assert location.location.latitude == -7.8305 and fake.sent(SITI)[-1].location == (-7.8305, 110.392)


@pytest.mark.asyncio
async def test_flood_control_when_enabled() -> None:
    async with FakeTelegramAPI(TOKEN, per_chat_rate=1.0, global_rate=2.0) as fake:
        for user_id in (1, 2, 3):
            await fake.send_text(user_id, "halo")
        async with Bot(TOKEN, base_url=fake.base_url) as bot:
            await bot.send_message(1, "a")
            with pytest.raises(RetryAfter) as caught:
                await bot.send_message(1, "b")  # the chat's burst is one
            assert caught.value.retry_after == timedelta(seconds=1)
            await bot.send_message(2, "c")
            with pytest.raises(RetryAfter):
                await bot.send_message(3, "d")  # two went out in this second: the bot's limit
            await asyncio.sleep(1.0)  # a second after the first, the window has room again
            await bot.send_message(3, "d")
        assert (fake.count_sent, fake.count_429) == (3, 2)


@pytest.mark.asyncio
async def test_the_bot_limit_holds_in_any_one_second_window() -> None:
    """Telegram's "30 messages per second" counted as the platform counts it: a second that
    starts full and refills as it goes would let 60 through; the fake lets 30, and the 31st
    only once the first is a second old."""
    async with FakeTelegramAPI(TOKEN, global_rate=30.0) as fake:
        for user_id in range(1, 32):
            await fake.send_text(user_id, "halo")
        async with Bot(TOKEN, base_url=fake.base_url) as bot:
            for user_id in range(1, 31):
                await bot.send_message(user_id, "kabar")
            with pytest.raises(RetryAfter):
                await bot.send_message(31, "kabar")
            await asyncio.sleep(max(0.0, fake.send_times[0] + 1.0 - time.monotonic()) + 0.01)
            await bot.send_message(31, "kabar")
        assert (fake.count_sent, fake.count_429, fake.busiest_second()) == (31, 1, 30)


@pytest.mark.asyncio
async def test_a_chat_may_have_a_short_burst_when_allowed() -> None:
    async with FakeTelegramAPI(TOKEN, per_chat_rate=1.0, per_chat_burst=3) as fake:
        await fake.send_text(1, "halo")
        async with Bot(TOKEN, base_url=fake.base_url) as bot:
            for part in ("satu", "dua", "tiga"):
                await bot.send_message(1, part)
            with pytest.raises(RetryAfter):
                await bot.send_message(1, "empat")
        assert (fake.count_sent, fake.count_429) == (3, 1)


@pytest.mark.asyncio
async def test_commands_and_json_bodies(fake: FakeTelegramAPI, bot: Bot) -> None:
    assert await bot.set_my_commands([BotCommand("start", "Mulai"), BotCommand("status", "Cek status")])
    assert [c.command for c in await bot.get_my_commands()] == ["start", "status"]
    assert await bot.get_my_commands(language_code="en") == ()
    assert await bot.delete_my_commands()
    assert await bot.get_my_commands() == ()
    await fake.send_text(SITI, "halo")
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{fake.base_url}{TOKEN}/sendmessage",
            json={"chat_id": SITI, "text": "json", "reply_markup": {"remove_keyboard": True}},
        ) as response,
    ):
        body = await response.json()
    assert body["ok"] and body["result"]["text"] == "json"
    assert fake.sent(SITI)[-1].reply_markup == {"remove_keyboard": True}


@pytest.mark.asyncio
async def test_webhook_delivery_retries_redelivers_and_checks_secrets(fake: FakeTelegramAPI, bot: Bot) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []
    answers = iter([500])  # the first delivery fails, later ones succeed

    async def hook(request: web.Request) -> web.Response:
        secret = request.headers.get(SECRET_HEADER)
        if secret != "s3cret":
            return web.Response(status=403)
        received.append((secret, await request.json()))
        return web.Response(status=next(answers, 200))

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        assert await bot.set_webhook(url, secret_token="s3cret", allowed_updates=["message", "callback_query"])
        with pytest.raises(Conflict):
            await bot.get_updates()
        update = await fake.send_text(SITI, "/start")
        deadline = time.monotonic() + 3
        while len(received) < 2 or (await bot.get_webhook_info()).pending_update_count:
            assert time.monotonic() < deadline, received
            await asyncio.sleep(0.02)
        assert [(s, u["update_id"]) for s, u in received] == [("s3cret", update["update_id"])] * 2
        parsed = Update.de_json(received[-1][1], bot)
        assert parsed.message.text == "/start"
        info = await bot.get_webhook_info()
        assert info.url == url and "500" in (info.last_error_message or "")
        assert await fake.deliver_again(update["update_id"]) == 200
        assert received[-1][1] == received[0][1] and len(received) == 3
        forged = {**update, "update_id": update["update_id"] + 1000}
        assert await fake.post_to_webhook(forged, secret="wrong") == 403
        assert await fake.post_to_webhook(forged, secret=None) == 403
        assert len(received) == 3
        assert [d.status for d in fake.webhook_deliveries] == [500, 200, 200, 403, 403]
        assert await bot.delete_webhook()
        await fake.send_text(SITI, "polling again")
        assert [u.message.text for u in await bot.get_updates()] == ["polling again"]
    finally:
        await runner.cleanup()
