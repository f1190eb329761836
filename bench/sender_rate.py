"""Benchmark: the outbox sender against Telegram's flood limits.

Seeds --messages outbox rows spread over --chats chats, then runs the real Sender with the real
Telegram channel (python-telegram-bot) against the local fake Bot API, which answers 429 to
anything over --global-rate messages/s in all or --per-chat-rate in one chat. Prints the
messages/s achieved (from the sender's start to the last message accepted), its ratio to the
global rate, the 429s, and whether every message arrived once and in order.
Target: >= 95% of the global rate with no 429.

    python bench/sender_rate.py [--chats 60] [--messages 600] [--global-rate 30] [--per-chat-rate 1]
                                [--database sqlite|postgresql]

The sender's limits are the fake's rates. Its per-chat burst defaults to 1 because the fake
allows none (Telegram allows short bursts; the sender's default is 3). PostgreSQL runs in a new
schema on SATUPINTU_TEST_POSTGRES_URL (default: the test server), dropped afterwards.
Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, func, select, text  # noqa: E402

from bot.channels.telegram import TelegramChannel  # noqa: E402
from bot.clock import utc_now  # noqa: E402
from bot.ratelimit import OVERALL_BURST, ChannelLimits, RateLimit  # noqa: E402
from bot.sender import Sender  # noqa: E402
from bot.settings import Settings  # noqa: E402
from storage import outbox  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import OutboxMessage  # noqa: E402
from tests.fakes.telegram_api import FakeTelegramAPI  # noqa: E402
from workflows.messages import OutMessage  # noqa: E402

TOKEN = "123456:BENCH-TOKEN"
FIRST_CHAT = 3_000_000
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@contextmanager
def database(kind: str, data_dir: Path) -> Iterator[str]:
    """A new, empty database: a SQLite file, or a PostgreSQL schema dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{data_dir / 'bench.db'}"
        return
    server = os.environ.get("SATUPINTU_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{server}{'&' if '?' in server else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def seed(db: Database, chats: int, messages: int) -> dict[int, int]:
    """`messages` rows, dealt to the chats in turn, numbered per chat; chat -> count."""
    per_chat = {FIRST_CHAT + i: messages // chats + (1 if i < messages % chats else 0) for i in range(chats)}

    def insert(session: object) -> None:
        for chat, count in per_chat.items():
            payloads = [OutMessage(text=f"{chat} #{n}").to_json() for n in range(count)]
            outbox.enqueue_many(
                session,
                channel="telegram",
                chat_id=str(chat),
                contact_id=None,  # type: ignore[arg-type]
                payloads=payloads,
                now=utc_now(),
            )

    db.run_sync(insert)
    return per_chat


def check_delivery(fake: FakeTelegramAPI, per_chat: dict[int, int]) -> dict[str, int]:
    """Messages lost and doubled, and chats out of order, from what the fake shows."""
    found = {"lost": 0, "doubled": 0, "disordered": 0}
    for chat, count in per_chat.items():
        numbers = [int(m.text.split("#")[1]) for m in fake.sent(chat)]
        found["lost"] += len(set(range(count)) - set(numbers))
        found["doubled"] += len(numbers) - len(set(numbers))
        found["disordered"] += numbers != sorted(numbers)
    return found


async def run(args: argparse.Namespace, url: str, data_dir: Path) -> dict[str, float]:
    upgrade(url)
    db = Database(url)
    per_chat = seed(db, args.chats, args.messages)
    fake = FakeTelegramAPI(TOKEN, global_rate=args.global_rate, per_chat_rate=args.per_chat_rate)
    await fake.start()
    for chat in range(FIRST_CHAT, FIRST_CHAT + args.chats):
        fake.add_chat(chat)
    settings = Settings(
        data_dir=data_dir,
        database_url=url,
        telegram_bot_token=TOKEN,
        telegram_api_base_url=fake.base_url,
        telegram_file_base_url=fake.base_file_url,
    )
    channel = TelegramChannel(settings, runner=None)  # type: ignore[arg-type]  # sends only: no user writes
    await channel.start()
    limits = {
        "telegram": ChannelLimits(
            per_chat=RateLimit(args.per_chat_rate, burst=args.per_chat_burst),
            overall=RateLimit(args.global_rate, burst=args.global_burst),
        )
    }
    sender = Sender(db=db, channels={"telegram": channel}, limits=limits)
    started = last = time.perf_counter()
    task = asyncio.create_task(sender.run())
    seen = 0
    try:
        while fake.count_sent < args.messages and time.perf_counter() - last < 30:
            await asyncio.sleep(0.005)
            if fake.count_sent != seen:
                seen, last = fake.count_sent, time.perf_counter()
        # let the sender record the last answers, then check the outbox agrees
        for _ in range(200):
            unsent = db.run_sync(
                lambda s: s.execute(
                    select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status != outbox.SENT)
                ).scalar_one()
            )
            if not unsent:
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await sender.idle()
        await channel.stop()
        await fake.close()
        db.close()
    return {
        "sent": fake.count_sent,
        "rate": fake.count_sent / (last - started),
        "429": fake.count_429,
        "unsent": unsent,
        "seconds": last - started,
        **check_delivery(fake, per_chat),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chats", type=int, default=60)
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument("--global-rate", type=float, default=30.0)
    parser.add_argument("--per-chat-rate", type=float, default=1.0)
    parser.add_argument("--per-chat-burst", type=int, default=1)
    parser.add_argument("--global-burst", type=int, default=OVERALL_BURST)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder, database(args.database, Path(folder)) as url:
        result = await run(args, url, Path(folder))

    print(
        f"Outbox sender, {args.messages} messages to {args.chats} chats; fake Bot API limits "
        f"{args.global_rate:g}/s overall, {args.per_chat_rate:g}/s per chat; database {args.database}"
    )
    print(
        f"delivered {result['sent']} in {result['seconds']:.1f} s: {result['rate']:.1f} messages/s, "
        f"{result['rate'] / args.global_rate:.1%} of the global rate"
    )
    print(
        f"429 answers: {result['429']}; left unsent: {result['unsent']}; lost: {result['lost']}; "
        f"doubled: {result['doubled']}; chats out of order: {result['disordered']}"
    )
    met = (
        result["rate"] >= 0.95 * args.global_rate
        and result["429"] == 0
        and not (result["unsent"] or result["lost"] or result["doubled"] or result["disordered"])
    )
    print(f"target: >= 95% of the global rate, no 429, each message once and in order -> {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    asyncio.run(main())
