"""Two `satupintu serve` processes on one database: exactly one runs the scheduled jobs, a job's
work is done once, and when the leader is killed the other takes over."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.app import build_services
from bot.settings import Settings
from storage import repo
from storage.db import Database
from storage.migrate import upgrade
from storage.models import OutboxMessage, Ticket
from tests.bot.test_telegram import free_port
from workflows import audit
from workflows import staff as records

ROOT = Path(__file__).resolve().parents[2]
LEADS = "scheduler: this process now runs the jobs"


class Server:
    """A `satupintu serve` subprocess whose log lines are collected as they come."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.lines: list[str] = []
        self.process: asyncio.subprocess.Process | None = None
        self.port = free_port()
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        env = {
            **os.environ,
            "SATUPINTU_DATA_DIR": str(self.settings.data_dir),
            "DATABASE_URL": self.settings.effective_database_url,
            "SATUPINTU_SCHEDULER_TICK_SECONDS": "1",
        }
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            "serve",
            "--port",
            str(self.port),
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        async for line in self.process.stdout:
            self.lines.append(line.decode(errors="replace").rstrip())

    @property
    def leads(self) -> bool:
        return any(LEADS in line for line in self.lines)

    async def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(sig)
            await asyncio.wait_for(self.process.wait(), 20)
        if self._reader is not None:
            await asyncio.wait_for(self._reader, 5)


async def until(predicate: Any, seconds: float, what: str) -> None:
    for _ in range(int(seconds * 10)):
        if predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"waited {seconds}s for {what}")


def seed_unanswered_question(settings: Settings) -> str:
    """A ticket whose question to the citizen went unanswered long ago: the next tick closes it."""
    upgrade(settings.effective_database_url)
    services = build_services(settings)
    db = Database(settings.effective_database_url)
    long_ago = datetime.now(UTC) - timedelta(days=60)

    def work(session: Any) -> str:
        scope = records.check_scope(services.book, role="officer", team=None, districts=["34.71.04"], categories=[])
        officer = records.add_staff(
            session,
            book=services.book,
            name="Budi",
            scope=scope,
            telegram_user_id="7001",
            whatsapp_number=None,
            language="id",
            by=audit.CLI,
            now=long_ago,
        )
        contact = repo.get_or_create_contact(
            session,
            channel="web",
            external_id="web-siti",
            chat_id="web-siti",
            language="id",
            display_name=None,
            now=long_ago,
        )
        answers = {
            "category_group": "lansia",
            "category": "lansia_telantar",
            "subject": "other",
            "district_code": "34.71.04",
            "village_code": "34.71.04.1001",
            "description": "Nenek tinggal sendiri.",
        }
        ticket = services.casework.open(session, contact=contact, flow="complaint", answers=answers, now=long_ago)
        services.casework.accept(session, officer, ticket, long_ago)
        services.casework.ask_citizen(session, officer, ticket, "Di RT berapa?", long_ago)
        return ticket.number

    try:
        return db.run_sync(work)
    finally:
        db.close()


async def test_two_servers_one_leader_and_a_takeover_when_it_dies(settings: Settings) -> None:
    number = seed_unanswered_question(settings)
    servers = [Server(settings), Server(settings)]
    db = Database(settings.effective_database_url)
    try:
        for server in servers:
            await server.start()
        await until(lambda: any(s.leads for s in servers), 30, "a leader")

        def closed_notices() -> int:
            rows = db.run_sync(
                lambda s: (
                    s.execute(select(OutboxMessage.payload).where(OutboxMessage.chat_id == "web-siti")).scalars().all()
                )
            )
            return sum("kami tutup karena pertanyaan petugas belum dijawab" in p["text"] for p in rows)

        await until(lambda: closed_notices() >= 1, 20, "the unanswered ticket to be closed")
        await asyncio.sleep(3)  # several more ticks of both servers
        assert closed_notices() == 1
        assert sum(s.leads for s in servers) == 1, [s.lines for s in servers]
        assert (
            db.run_sync(lambda s: s.execute(select(Ticket.status).where(Ticket.number == number)).scalar_one())
            == "closed"
        )
        [leader] = [s for s in servers if s.leads]
        [other] = [s for s in servers if s is not leader]

        await leader.stop(signal.SIGKILL)  # no goodbye: the lock or lease must lapse on its own
        await until(lambda: other.leads, 20, "the other server to take over")
    finally:
        for server in servers:
            await server.stop()
        db.close()
