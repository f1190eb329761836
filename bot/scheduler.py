"""Runs the scheduled jobs (workflows/jobs) in exactly one process.

APScheduler 3 (AsyncIOScheduler) ticks every `scheduler_tick_seconds`; a tick first makes
sure this process leads: on PostgreSQL by holding a session advisory lock on a connection of
its own (released by the server if the process dies), on SQLite by renewing a lease row.
Every job runs in its own transaction and queues idempotent outbox rows, so a tick that is
missed, late or doubled (a leader change) does no harm.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import Connection, CursorResult, text, update
from sqlalchemy.dialects import sqlite
from sqlmodel import Session

from bot.clock import Clock, utc_now
from storage.db import Database
from storage.files import delete_file
from storage.models import SchedulerLease, table_of
from workflows.jobs import JOBS, JobContext, JobResult

log = logging.getLogger(__name__)

ADVISORY_KEY = 0x5A7F_0001  # "satupintu jobs": one number all processes agree on (fits int4)
LEASE_NAME = "jobs"


class Leadership:
    """Whether this process runs the jobs: `acquire` and `release`. On PostgreSQL they block
    (the advisory lock's own connection) and run off the loop; on SQLite the lease is a unit
    of work, which waits for another process's write lock without holding up the loop."""

    def __init__(self, db: Database, *, lease: timedelta, holder: str | None = None) -> None:
        self.db = db
        self.lease = lease
        self.holder = holder or f"{uuid.uuid4().hex[:12]}"
        self._connection: Connection | None = None

    async def acquire(self, now: datetime) -> bool:
        if self.db.is_sqlite:
            return await self.db.run(self._lease, now)
        return await asyncio.to_thread(self._advisory)

    async def release(self) -> None:
        if self.db.is_sqlite:
            await self.db.run(self._end_lease)
        else:
            await asyncio.to_thread(self._drop)

    def _advisory(self) -> bool:
        if self._connection is not None:
            try:
                self._connection.execute(text("SELECT 1"))
                return True
            except Exception:
                log.warning("scheduler: lost the leader connection")
                self._drop()
        connection = self.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        # Keyed by schema as well: deployments sharing a database in separate schemas are separate.
        locked = connection.execute(
            text("SELECT pg_try_advisory_lock(:key, hashtext(current_schema()))"), {"key": ADVISORY_KEY}
        ).scalar()
        if locked:
            self._connection = connection
            return True
        connection.close()  # back to the pool: this session holds no lock
        return False

    def _lease(self, session: Session, now: datetime) -> bool:
        table = table_of(SchedulerLease)
        session.execute(
            sqlite.insert(table)
            .values(name=LEASE_NAME, holder=self.holder, until=now)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        taken = cast(
            "CursorResult[Any]",
            session.execute(
                update(table)
                .where(table.c.name == LEASE_NAME)
                .where((table.c.holder == self.holder) | (table.c.until < now))
                .values(holder=self.holder, until=now + self.lease)
            ),
        ).rowcount
        return bool(taken)

    def _end_lease(self, session: Session) -> None:
        table = table_of(SchedulerLease)
        session.execute(
            update(table)
            .where(table.c.name == LEASE_NAME, table.c.holder == self.holder)
            .values(until=datetime.fromtimestamp(0, UTC))
        )

    def _drop(self) -> None:
        """Close the leader's connection for real: back in the pool, its session (and so the
        lock) would live on."""
        if self._connection is not None:
            try:
                self._connection.invalidate()
                self._connection.close()
            except Exception:
                log.debug("scheduler: closing the leader connection failed", exc_info=True)
            self._connection = None


class Scheduler:
    def __init__(
        self, *, db: Database, ctx: JobContext, attachments_dir: Any, clock: Clock = utc_now, tick_seconds: float = 60.0
    ) -> None:
        self.db = db
        self.ctx = ctx
        self.attachments_dir = attachments_dir
        self.clock = clock
        self.tick_seconds = tick_seconds
        # A lease of three ticks: a leader that stops ticking hands over within three.
        self.leadership = Leadership(db, lease=timedelta(seconds=tick_seconds * 3))
        self._aps: AsyncIOScheduler | None = None
        self._leading = False

    def start(self) -> None:
        self._aps = AsyncIOScheduler(timezone=UTC)
        first = datetime.now(UTC) + timedelta(seconds=min(5.0, self.tick_seconds))
        self._aps.add_job(
            self.tick,
            "interval",
            seconds=self.tick_seconds,
            next_run_time=first,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            id="satupintu-jobs",
        )
        self._aps.start()

    async def stop(self) -> None:
        if self._aps is not None:
            self._aps.shutdown(wait=False)
            self._aps = None
        await self.leadership.release()

    async def is_leader(self) -> bool:
        now = self.clock()
        leads = await self.leadership.acquire(now)
        if leads != self._leading:
            log.info("scheduler: this process %s the jobs", "now runs" if leads else "no longer runs")
            self._leading = leads
        return leads

    async def tick(self) -> dict[str, int] | None:
        """Run every job once if this process leads; returns rows queued per job (or None)."""
        if not await self.is_leader():
            return None
        queued: dict[str, int] = {}
        for name, job in JOBS:
            try:
                result: JobResult = await self.db.run(lambda session, j=job: j(self.ctx, session, self.clock()))
            except Exception:
                log.exception("scheduler: job %s failed; the next tick tries again", name)
                continue
            for path in result.files_to_delete:
                delete_file(self.attachments_dir, path)
            queued[name] = result.queued
        if any(queued.values()):
            log.info("scheduler: queued %s", {k: v for k, v in queued.items() if v})
        return queued
