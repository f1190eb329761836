"""Benchmark: the outbox sender against Telegram's flood limits, from one process or several.

Seeds --messages outbox rows spread over --chats chats, then runs --processes sender processes
(each the real Sender with the real Telegram channel, python-telegram-bot, as `satupintu serve`
builds them) against one local fake Bot API, which answers 429 to anything over --global-rate
messages in any one second, or over --per-chat-rate in one chat. Every process is set to the
whole global rate: with more than one, they share it through their send slots, in PostgreSQL
or, with --redis, in Redis (SQLite is one process). Prints the messages/s achieved (first to
last message accepted), its ratio to the global rate, the most messages in any one second,
the 429s, and whether every message arrived once and in order.
Target: >= 95% of the global rate, at most the rate in any second, no 429.

    python bench/sender_rate.py [--chats 60] [--messages 600] [--global-rate 30] [--per-chat-rate 1]
                                [--database sqlite|postgresql] [--processes 3] [--redis redis://127.0.0.1:6379/0]
                                [--per-second]

The sender's per-chat burst defaults to 1 because the fake allows none here (Telegram allows
short bursts; the sender's default is 3). PostgreSQL runs in a new schema on
SATUPINTU_TEST_POSTGRES_URL (default: the test server), dropped afterwards.
Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
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
from bot.ratelimit import ChannelLimits, RateLimit, Window  # noqa: E402
from bot.sender import Sender  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.shared_slots import shared_store  # noqa: E402
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


async def serve_sender(args: argparse.Namespace) -> None:
    """One sender process, as `satupintu serve` runs it (its limits and shared slots), until
    SIGTERM; prints "ready" once it looks for work."""
    settings = Settings(
        data_dir=Path(tempfile.gettempdir()),
        database_url=args.url,
        telegram_bot_token=TOKEN,
        telegram_api_base_url=args.fake_url,
        telegram_file_base_url=args.fake_url,
        # A webhook, as several processes behind a balancer have it: polling from each would conflict.
        telegram_webhook_url="http://127.0.0.1:9/telegram/webhook",
        telegram_webhook_secret="bench",
    )
    db = Database(args.url)
    slots = shared_store(args.url, args.redis)
    channel = TelegramChannel(settings, runner=None)  # type: ignore[arg-type]  # sends only: no user writes
    await channel.start()
    limits = {
        "telegram": ChannelLimits(
            per_chat=RateLimit(args.per_chat_rate, burst=args.per_chat_burst),
            overall=Window.of_rate(args.global_rate),
        )
    }
    sender = Sender(db=db, channels={"telegram": channel}, limits=limits, slots=slots.slots if slots else None)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    task = asyncio.create_task(sender.run())
    print("ready", flush=True)
    await stop.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await sender.idle()
    await channel.stop()
    if slots is not None:
        await slots.close()
    db.close()


async def run(args: argparse.Namespace, url: str, data_dir: Path) -> dict[str, float]:
    upgrade(url)
    db = Database(url)
    fake = FakeTelegramAPI(TOKEN, global_rate=args.global_rate, per_chat_rate=args.per_chat_rate)
    await fake.start()
    for chat in range(FIRST_CHAT, FIRST_CHAT + args.chats):
        fake.add_chat(chat)
    command = [sys.executable, __file__, "--serve-sender", "--url", url, "--fake-url", fake.base_url]
    command += ["--global-rate", str(args.global_rate), "--per-chat-rate", str(args.per_chat_rate)]
    command += ["--per-chat-burst", str(args.per_chat_burst)] + (["--redis", args.redis] if args.redis else [])
    workers = [subprocess.Popen(command, stdout=subprocess.PIPE) for _ in range(args.processes)]
    try:
        for worker in workers:  # every process looks for work before there is any
            assert worker.stdout is not None
            line = await asyncio.to_thread(worker.stdout.readline)
            assert line.strip() == b"ready", f"a sender process did not start: {line!r}"
        per_chat = seed(db, args.chats, args.messages)
        last = time.perf_counter()
        seen = 0
        while fake.count_sent < args.messages and time.perf_counter() - last < 30:
            await asyncio.sleep(0.005)
            if fake.count_sent != seen:
                seen, last = fake.count_sent, time.perf_counter()
        # let the senders record the last answers, then check the outbox agrees
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
        for worker in workers:
            worker.terminate()
        for worker in workers:
            await asyncio.to_thread(worker.wait, 30)
        await fake.close()
        db.close()
    # The rate over the time from the first message to one window after the last: a sender
    # that fills every window exactly scores 100%, and the first window's burst adds nothing.
    times = fake.send_times
    if args.per_second and times:
        each = [
            sum(1 for t in times if times[0] + k <= t < times[0] + k + 1) for k in range(int(times[-1] - times[0]) + 1)
        ]
        print("sends in each second:", each)
    seconds = times[-1] - times[0] + Window.of_rate(args.global_rate).seconds if times else 0.0
    return {
        "sent": fake.count_sent,
        "rate": len(times) / seconds if seconds else 0.0,
        "busiest": fake.busiest_second(),
        "429": fake.count_429,
        "unsent": unsent,
        "seconds": seconds,
        **check_delivery(fake, per_chat),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chats", type=int, default=60)
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument("--global-rate", type=float, default=30.0)
    parser.add_argument("--per-chat-rate", type=float, default=1.0)
    parser.add_argument("--per-chat-burst", type=int, default=1)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--processes", type=int, default=1, help="sender processes sharing the bot's limit")
    parser.add_argument("--redis", help="share the limit through this Redis rather than PostgreSQL")
    parser.add_argument("--per-second", action="store_true", help="also print the sends in each second")
    parser.add_argument("--serve-sender", action="store_true", help=argparse.SUPPRESS)  # a worker process
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--fake-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_sender:
        await serve_sender(args)
        return
    if args.processes > 1 and args.database == "sqlite":
        parser.error("SQLite is one process: use --database postgresql for --processes > 1")

    with tempfile.TemporaryDirectory() as folder, database(args.database, Path(folder)) as url:
        result = await run(args, url, Path(folder))

    store = "Redis" if args.redis else ("PostgreSQL" if args.database == "postgresql" else "memory")
    print(
        f"Outbox sender, {args.messages} messages to {args.chats} chats from {args.processes} process(es) "
        f"sharing the limit through {store}; fake Bot API limits {args.global_rate:g} in any second overall, "
        f"{args.per_chat_rate:g}/s per chat; database {args.database}"
    )
    print(
        f"delivered {result['sent']} in {result['seconds']:.1f} s (first to a window after the last): "
        f"{result['rate']:.1f} messages/s, "
        f"{result['rate'] / args.global_rate:.1%} of the global rate; most in any one second: {result['busiest']}"
    )
    print(
        f"429 answers: {result['429']}; left unsent: {result['unsent']}; lost: {result['lost']}; "
        f"doubled: {result['doubled']}; chats out of order: {result['disordered']}"
    )
    met = (
        result["rate"] >= 0.95 * args.global_rate
        and result["busiest"] <= args.global_rate
        and result["429"] == 0
        and not (result["unsent"] or result["lost"] or result["doubled"] or result["disordered"])
    )
    print(
        "target: >= 95% of the global rate, at most the rate in any second, no 429, each message once "
        f"and in order -> {'met' if met else 'NOT met'}"
    )


if __name__ == "__main__":
    asyncio.run(main())
