"""Where one message's time goes: the unit of work alone, without HTTP or the sender.

Simulated citizens type the webhook benches' complaint (bench/webhook_load.py's SCRIPT) straight
into the real runner (`bot.runner.Runner.handle`: per-chat lanes, one unit of work, commit),
--concurrency chats at a time, on a fresh database. Prints the messages a second, the CPU time
a message costs this process, the SQL statements a message sends (counted with SQLAlchemy's
`before_cursor_execute`), and with --profile a cProfile of the run grouped by where the time
went: run it under py-spy and group the samples with bench/profile_table.py (the table in
bench/README.md; py-spy sees PostgreSQL's worker threads too, which cProfile does not).

    python bench/message_profile.py [--database URL] [--citizens 200] [--concurrency 32]
    py-spy record --format raw -o /tmp/unit.txt -- python bench/message_profile.py
    python bench/profile_table.py /tmp/unit.txt
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import event

from bench.webhook_load import SCRIPT, fresh_database
from bot.app import build_inbound, build_services
from bot.runner import Runner
from bot.settings import Settings
from storage.db import Database
from storage.migrate import upgrade
from workflows.engine import Inbound
from workflows.inbound import Envelope


def envelope(user: int, number: int, text: str) -> Envelope:
    return Envelope(
        channel="telegram",
        external_id=str(user),
        chat_id=str(user),
        event=Inbound(kind="text", text=text),
        message_id=f"{user}:{number}",
        language_hint="id",
        display_name=f"Warga {user}",
    )


async def drive(runner: Runner, citizens: int, concurrency: int) -> float:
    gate = asyncio.Semaphore(concurrency)

    async def one(user: int) -> None:
        for number, typed in enumerate(SCRIPT):
            async with gate:
                await runner.handle(envelope(user, number, typed))

    started = time.perf_counter()
    await asyncio.gather(*(one(10_000 + user) for user in range(citizens)))
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default=None, help="DATABASE_URL (default: a new SQLite file)")
    parser.add_argument("--citizens", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, fresh_database(args.database, folder) as url:
        settings = Settings(data_dir=Path(folder), database_url=url, scheduler_tick_seconds=0)
        upgrade(url)
        db = Database(url)
        statements = Counter[str]()

        def count(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
            statements[statement.split(None, 1)[0].upper()] += 1

        for engine in db.engines():
            event.listen(engine, "before_cursor_execute", count)
        services = build_services(settings)
        runner = Runner(db=db, inbound=build_inbound(settings, services), services=services)
        await drive(runner, 5, 5)  # warm up: templates compiled, statements cached, pool filled
        statements.clear()
        cpu = time.process_time()
        seconds = await drive(runner, args.citizens, args.concurrency)
        cpu = time.process_time() - cpu
        db.close()
    messages = args.citizens * len(SCRIPT)
    print(f"{messages} messages, {args.concurrency} chats at a time, database {url.split(':')[0]}")
    print(f"  {messages / seconds:.0f} messages/s; {cpu / messages * 1000:.2f} ms of CPU a message (this process)")
    total = sum(statements.values())
    kinds = ", ".join(f"{kind} {n / messages:.2f}" for kind, n in statements.most_common())
    print(f"  {total / messages:.2f} SQL statements a message ({kinds})")


if __name__ == "__main__":
    asyncio.run(main())
