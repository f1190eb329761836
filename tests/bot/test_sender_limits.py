"""The sender's rate limits: the real Sender and Telegram channel (python-telegram-bot) against
the fake Bot API enforcing Telegram's flood limits, on the database under test. Counts and
order are asserted, never speeds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace

from sqlalchemy import select

from bot.channels import telegram
from bot.channels.telegram import TelegramChannel
from bot.ratelimit import ChannelLimiter, ChannelLimits, RateLimit, Window
from bot.sender import Sender
from bot.settings import Settings
from bot.shared_slots import SlotStore, shared_store
from storage import outbox
from storage.db import Database
from storage.migrate import upgrade
from storage.models import OutboxMessage
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.support.clock import running_clock
from workflows.messages import OutMessage

TOKEN = "123456:TEST-TOKEN"
GLOBAL, PER_CHAT = 40.0, 4.0
# The fake allows no burst in a chat (Telegram allows a short one), so neither may the sender here.
MATCHING = {"telegram": ChannelLimits(per_chat=RateLimit(PER_CHAT, burst=1), overall=Window.of_rate(GLOBAL))}
FIRST_CHAT = 7000


def texts(chat: int, count: int) -> list[str]:
    return [f"pesan {n} untuk {chat}" for n in range(count)]


@asynccontextmanager
async def sending(
    settings: Settings,
    fake: FakeTelegramAPI,
    limits: Mapping[str, ChannelLimits],
    queued: dict[int, int],
    slots: SlotStore | None = None,
    poll_seconds: float = 1.0,
) -> AsyncIterator[Database]:
    """`queued[chat]` messages waiting in the outbox for each chat, then a running sender
    (sharing the `slots` store's send slots when given) that looks for more every `poll_seconds`."""
    url = settings.effective_database_url
    upgrade(url)
    db = Database(url)
    clock = running_clock()
    for chat, count in queued.items():
        fake.add_chat(chat)
        await db.run(
            lambda s, c=chat, n=count: outbox.enqueue_many(
                s,
                channel="telegram",
                chat_id=str(c),
                contact_id=None,
                payloads=[OutMessage(text=t).to_json() for t in texts(c, n)],
                now=clock(),
            )
        )
    telegram = replace(
        settings,
        telegram_bot_token=TOKEN,
        telegram_api_base_url=fake.base_url,
        telegram_file_base_url=fake.base_file_url,
    )
    channel = TelegramChannel(telegram, runner=None)  # type: ignore[arg-type]  # sends only: nobody writes
    await channel.start()
    sender = Sender(
        db=db,
        channels={"telegram": channel},
        clock=clock,
        poll_seconds=poll_seconds,
        limits=limits,
        slots=slots.slots if slots else None,
    )
    task = asyncio.create_task(sender.run())
    try:
        yield db
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await sender.idle()
        await channel.stop()
        db.close()


async def rows(db: Database) -> list[OutboxMessage]:
    return await db.run(lambda s: list(s.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars()))


async def all_sent(db: Database, timeout: float = 60.0) -> list[OutboxMessage]:
    """Every row sent; the timeout only stops a broken run."""
    deadline = time.monotonic() + timeout
    while True:
        found = await rows(db)
        if all(row.status == outbox.SENT for row in found):
            return found
        assert time.monotonic() < deadline, {row.id: (row.status, row.last_error) for row in found}
        await asyncio.sleep(0.05)


async def test_many_chats_get_every_message_once_in_order_without_a_429(settings: Settings) -> None:
    queued = {FIRST_CHAT + i: 4 for i in range(20)}  # 80 messages: twice the overall rate a second
    async with FakeTelegramAPI(TOKEN, global_rate=GLOBAL, per_chat_rate=PER_CHAT) as fake:
        async with sending(settings, fake, MATCHING, queued) as db:
            await all_sent(db)
        assert fake.count_429 == 0
        assert fake.count_sent == 80
        for chat, count in queued.items():
            assert [m.text for m in fake.sent(chat)] == texts(chat, count)


async def test_without_limits_the_same_fake_refuses_a_burst(settings: Settings) -> None:
    """The fake does bite: what the limits above avoid is real."""
    async with (
        FakeTelegramAPI(TOKEN, global_rate=GLOBAL, per_chat_rate=PER_CHAT) as fake,
        sending(settings, fake, {}, {FIRST_CHAT: 3}),
    ):
        deadline = time.monotonic() + 30
        while fake.count_429 == 0:
            assert time.monotonic() < deadline, "no 429 from the fake"
            await asyncio.sleep(0.02)


async def test_a_429_is_waited_out_and_nothing_is_lost_or_doubled(settings: Settings) -> None:
    queued = {FIRST_CHAT + i: 3 for i in range(10)}
    async with FakeTelegramAPI(TOKEN, global_rate=GLOBAL, per_chat_rate=PER_CHAT) as fake:
        fake.fail_next("sendMessage", status=429, retry_after=1)
        async with sending(settings, fake, MATCHING, queued) as db:
            found = await all_sent(db)
        assert fake.count_429 == 1  # the one injected: its retry came after retry_after
        [(_, refused, _, _)] = fake.errors
        assert fake.count_sent == 30
        for chat, count in queued.items():
            assert [m.text for m in fake.sent(chat)] == texts(chat, count)
    [row] = [r for r in found if r.chat_id == str(refused["chat_id"]) and r.payload["text"] == refused["text"]]
    assert row.attempts == 2
    assert row.not_before is not None and row.sent_at is not None and row.sent_at >= row.not_before


# ---------------------------------------------------------------------- the limiter alone, on a hand-moved clock
def telegram_defaults() -> ChannelLimits:
    """The limits Telegram declares when its settings are left alone."""
    limits = telegram.SPEC.limits(Settings())
    assert limits is not None
    return limits


async def test_a_reply_of_three_goes_out_at_once_then_one_a_second() -> None:
    now = [100.0]
    limiter = ChannelLimiter(telegram_defaults(), monotonic=lambda: now[0])
    for _ in range(3):
        assert await limiter.acquire("5", deadline=now[0]) == 0.0
        await limiter.answered("5")
    assert await limiter.acquire("5", deadline=now[0]) == 1.0
    assert await limiter.acquire("6", deadline=now[0]) == 0.0  # another chat is not held back
    now[0] += 1.0
    assert await limiter.acquire("5", deadline=now[0]) == 0.0


async def test_a_429_pauses_the_channel_only_when_the_chat_was_quiet() -> None:
    now = [100.0]
    limiter = ChannelLimiter(telegram_defaults(), monotonic=lambda: now[0])
    await limiter.acquire("5", deadline=now[0])
    await limiter.answered("5")
    limiter.refused("5", 10)  # "5" just sent: its own limit, the others carry on
    assert await limiter.acquire("6", deadline=now[0]) == 0.0
    limiter.refused("7", 10)  # "7" sent nothing lately: the whole bot was over the limit
    assert limiter.paused()
    assert await limiter.acquire("8", deadline=now[0]) == 10.0
    now[0] += 10.0
    assert await limiter.acquire("8", deadline=now[0]) == 0.0


async def test_sigkill_mid_batch_loses_nothing_and_resends_nothing_confirmed(settings: Settings) -> None:
    """A real server sending a long rate-limited batch to one chat is killed between two
    messages; after a restart the rest arrive, in order, and none of the first ones again."""
    from tests.bot.test_telegram import _exited, _serve_process, free_port

    url = settings.effective_database_url
    upgrade(url)
    db = Database(url)
    chat = FIRST_CHAT
    async with FakeTelegramAPI(TOKEN, per_chat_rate=2.0) as fake:
        fake.add_chat(chat)
        await db.run(
            lambda s: outbox.enqueue_many(
                s,
                channel="telegram",
                chat_id=str(chat),
                contact_id=None,
                payloads=[OutMessage(text=t).to_json() for t in texts(chat, 8)],
                now=running_clock()(),
            )
        )
        # A short lease: the killed server's leased messages go out again soon after the restart.
        limits = {"TELEGRAM_RATE_PER_CHAT": "1", "TELEGRAM_RATE_BURST": "1", "SATUPINTU_OUTBOX_LEASE_SECONDS": "4"}

        def confirmed() -> int:
            return len(
                db.run_sync(lambda s: s.execute(select(OutboxMessage.id).where(OutboxMessage.status == "sent")).all())
            )

        process = _serve_process(settings, fake, free_port(), **limits)
        try:
            while confirmed() < 3:  # three sent and recorded; the sender now waits a second for the fourth
                assert process.poll() is None
                await asyncio.sleep(0.02)
        finally:
            process.kill()
            await _exited(process, 10)
        assert len(fake.sent(chat)) == 3
        process = _serve_process(settings, fake, free_port(), **limits)
        try:
            while confirmed() < 8:
                assert process.poll() is None
                await asyncio.sleep(0.05)
        finally:
            process.terminate()
            await _exited(process, 15)
        assert [m.text for m in fake.sent(chat)] == texts(chat, 8)
        assert fake.count_429 == 0
    db.close()


async def test_a_burst_of_200_citizens_never_exceeds_30_in_any_second(settings: Settings) -> None:
    """200 chats each waiting for a reply, with Telegram's default limits: every reply once, in
    order, and never more than 30 sends in any one-second window as the platform counts them
    (a bucket with a burst on top of 30/s let 36-39 through)."""
    defaults = telegram_defaults()
    queued = {FIRST_CHAT + i: 1 for i in range(200)}
    slots = shared_store(settings.effective_database_url, None)  # as the app: PostgreSQL's, or in memory
    async with FakeTelegramAPI(TOKEN, global_rate=30.0, per_chat_rate=1.0, per_chat_burst=3) as fake:
        async with sending(settings, fake, {"telegram": defaults}, queued, slots) as db:
            await all_sent(db)
        if slots is not None:
            await slots.close()
        assert fake.busiest_second() <= 30
        assert fake.count_429 == 0
        assert fake.count_sent == 200
        for chat, count in queued.items():
            assert [m.text for m in fake.sent(chat)] == texts(chat, count)
