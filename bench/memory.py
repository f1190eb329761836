"""Benchmark: the memory of one `satupintu serve`, idle and after 10,000 dormant conversations.

A real `satupintu serve` with the Telegram webhook on (replies go to the local fake Bot API).
Its resident memory (VmRSS from /proc) is read once it is up and idle; then --warm citizens
each type one message (caches, templates, pools and the allocator's arenas warm up), and then
--conversations more citizens each start a conversation and leave it there. Conversations live
in the database, so the second batch should add nothing the first did not. Targets (issue 17):
idle RSS < 150 MB; 10,000 dormant conversations add no memory (printed: what they added, and
per conversation).

    python bench/memory.py [--conversations 10000] [--warm 500] [--database sqlite|URL ...]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

from aiohttp import ClientSession, TCPConnector

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy.engine import make_url

from bench.telegram_webhook import SECRET, TOKEN, telegram_target
from bench.webhook_load import Load, free_port, fresh_database, serve, settled, stop, wait_listening
from tests.fakes.telegram_api import FakeTelegramAPI

IDLE_MB = 150.0
ADDED_MB = 5.0  # what "no memory" allows for: the allocator's noise, not a byte per conversation


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def start_conversations(load: Load, first_user: int, count: int, fake: FakeTelegramAPI) -> None:
    """`count` new citizens each type /start (at most 32 at once); returns once all replies are out."""
    gate = asyncio.Semaphore(32)

    async def one(user: int) -> None:
        fake.add_chat(user)
        async with gate:
            await load.post(user, "/start")

    await asyncio.gather(*(one(first_user + i) for i in range(count)))
    await settled(lambda: fake.count_sent)


async def measure(database: str | None, args: argparse.Namespace, fake: FakeTelegramAPI) -> None:
    with tempfile.TemporaryDirectory() as data_dir, fresh_database(database, data_dir) as url:
        port = free_port()
        process = serve(
            port,
            {
                "SATUPINTU_DATA_DIR": data_dir,
                "TELEGRAM_BOT_TOKEN": TOKEN,
                "TELEGRAM_API_BASE_URL": fake.base_url,
                "TELEGRAM_FILE_BASE_URL": fake.base_file_url,
                "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram/webhook",
                "TELEGRAM_WEBHOOK_SECRET": SECRET,
                "TELEGRAM_RATE_PER_CHAT": "0",
                "TELEGRAM_RATE_GLOBAL": "0",
            },
            url,
        )
        try:
            await wait_listening(port, process)
            await asyncio.sleep(args.settle)
            idle = rss_mb(process.pid)
            async with ClientSession(connector=TCPConnector(limit=32)) as session:
                load = Load(telegram_target(port), session, 1)
                await start_conversations(load, 10_000_000, args.warm, fake)
                await asyncio.sleep(args.settle)
                warm = rss_mb(process.pid)
                await start_conversations(load, 20_000_000, args.conversations, fake)
                await asyncio.sleep(args.settle)
                after = rss_mb(process.pid)
        finally:
            await stop(process)
    added = after - warm
    print(f"satupintu serve, database {make_url(url).get_backend_name()}")
    print(f"  idle RSS: {idle:.1f} MB (target < {IDLE_MB:.0f} MB: {'met' if idle < IDLE_MB else 'NOT met'})")
    print(f"  after {args.warm} warm-up conversations: {warm:.1f} MB")
    print(
        f"  after {args.conversations} more dormant conversations: {after:.1f} MB; they added {added:.1f} MB, "
        f"{added * 1024 * 1024 / args.conversations:.0f} bytes each "
        f"(target: none, < {ADDED_MB:.0f} MB of noise: {'met' if added < ADDED_MB else 'NOT met'})"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--warm", type=int, default=500)
    parser.add_argument("--settle", type=float, default=3.0, help="seconds of quiet before each reading")
    parser.add_argument("--database", action="append", help="sqlite (default) or a PostgreSQL URL; may repeat")
    args = parser.parse_args()
    fake = FakeTelegramAPI(TOKEN)
    await fake.start()
    try:
        for database in args.database or ["sqlite"]:
            await measure(database, args, fake)
    finally:
        await fake.close()


if __name__ == "__main__":
    asyncio.run(main())
