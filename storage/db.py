"""Engines and units of work.

The ORM is synchronous (SQLModel's own API) and a unit of work is a plain function
`fn(session, ...)` that runs whole, in one transaction. How it is run depends on the database:

- **PostgreSQL:** on the event loop, over psycopg 3's async mode, through SQLAlchemy's asyncio
  extension (`AsyncSession.run_sync`): the unit stays synchronous code, and each statement's
  wait on the network suspends it (a greenlet switch) so that the loop serves other requests
  meanwhile. Measured with bench/telegram_webhook.py against the former pool of 8 worker
  threads, which fought the event loop for the GIL: see bench/README.md.
- **SQLite:** inline on the event loop: its statements take microseconds, one process is its
  only writer, and handing each unit to a worker thread made the two threads fight for the GIL
  (inline units more than doubled the updates a second and cut p99 latency by two thirds).
  The write lock is tried without waiting; when another process (`satupintu migrate`, a
  second `serve`) holds it, the unit waits with `asyncio.sleep` and tries again, so the loop
  goes on serving reads, the console and every other chat. After `write_wait` seconds it
  gives up with `DatabaseBusy`, and a webhook answers 5xx: the platform delivers it again.

Reads that may be long (the console's map, queue and exports) run on reading threads; on
SQLite their transactions are deferred, beside the writer (WAL), and never take the write lock.
Slow work that needs no database (checking a photo) is done in a thread before a unit starts.

Behind PgBouncer in transaction pooling, no session state survives a unit of work: units set
nothing on their connection. psycopg prepares a statement on the server after it ran a few
times on one connection; a PgBouncer older than 1.21 (or without `max_prepared_statements`)
cannot follow that, so `prepared_statements=False` turns it off. The scheduler's advisory lock
is the one documented exception: it lives on a connection of its own (bot/scheduler.py).
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel import Session
from sqlmodel.ext.asyncio.session import AsyncSession

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 5000  # blocking users (the CLI, start-up) wait this long for the lock
WRITE_WAIT_SECONDS = 5.0  # how long a unit of work on the event loop waits for SQLite's write lock
POOL_SIZE = 10  # PostgreSQL connections per process (plus a few more at a peak)
_FIRST_RETRY, _LONGEST_RETRY = 0.002, 0.05  # seconds between tries for the write lock


class DatabaseBusy(Exception):
    """Another process held SQLite's write lock for longer than the unit may wait: nothing of
    the unit was written. A webhook answers 5xx so that the platform delivers it again."""


def make_engine(url: str, *, reader: bool = False, wait: bool = True) -> Engine:
    """An engine with the pragmas SQLite needs to be a good server database (WAL, a busy
    timeout, foreign keys, immediate write locks) and a modest pool for PostgreSQL. A `reader`
    engine's SQLite transactions begin deferred: they read beside the writer (WAL) and never
    hold the write lock, however long they take. Without `wait`, a SQLite write lock held by
    another connection fails at once (SQLITE_BUSY) instead of blocking the thread."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        timeout_ms = SQLITE_BUSY_TIMEOUT_MS if wait else 0
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": timeout_ms / 1000},
            # Every unit of work ends in commit or rollback, so the pool's extra rollback on
            # return is redundant work on each message; a reader's is how its reading ends.
            pool_reset_on_return="rollback" if reader else None,
        )
        event.listen(engine, "connect", functools.partial(_sqlite_on_connect, timeout_ms=timeout_ms))
        event.listen(engine, "begin", _sqlite_on_read if reader else _sqlite_on_begin)
        return engine
    return create_engine(url, pool_size=4, max_overflow=4, pool_pre_ping=True)


def make_async_engine(url: str, *, prepared_statements: bool = True) -> AsyncEngine:
    """PostgreSQL over psycopg's async mode, for units of work run on the event loop. No
    pre-ping (a round trip on every unit): a connection the server dropped fails its unit
    once, which is retried like any failed unit, and the pool then replaces every older
    connection."""
    connect_args: dict[str, Any] = {} if prepared_statements else {"prepare_threshold": None}
    return create_async_engine(url, pool_size=POOL_SIZE, max_overflow=4, connect_args=connect_args)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any, *, timeout_ms: int) -> None:
    # Take transaction control away from pysqlite so `begin` below decides the lock mode.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={timeout_ms}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_on_begin(connection: Any) -> None:
    # IMMEDIATE takes the write lock up front: a reader that later writes can never deadlock
    # with another writer (which SQLite would answer with an instant SQLITE_BUSY).
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_on_read(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN")


def _is_busy(error: OperationalError) -> bool:
    code = getattr(error.orig, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class Database:
    """The engines of one database, and how units of work and reads are run on them."""

    def __init__(self, url: str, *, write_wait: float = WRITE_WAIT_SECONDS, prepared_statements: bool = True) -> None:
        self.url = url
        # Blocking units (the CLI, start-up, the scheduler's lock) and threads use this one.
        self.engine = make_engine(url)
        self.write_wait = write_wait
        self._async: AsyncEngine | None = None
        self._inline: Engine | None = None
        if self.is_sqlite:
            self._inline = make_engine(url, wait=False)
            self._reader = make_engine(url, reader=True)
        else:
            self._async = make_async_engine(url, prepared_statements=prepared_statements)
            self._reader = self.engine
        # Long reads (the console's map, queue and exports over a million tickets) run on threads
        # of their own: their rows are turned into objects off the event loop.
        self._read_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="db-read")

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def engines(self) -> tuple[Engine, ...]:
        """Every engine this database sends statements through (for event listeners); a unit
        of work's session is bound to one of them."""
        found = [self.engine, self._reader, self._inline, self._async.sync_engine if self._async else None]
        return tuple(dict.fromkeys(engine for engine in found if engine is not None))

    def owns(self, bind: Any) -> bool:
        """Whether a session's bind is one of this database's engines (several apps may run in
        one process, as tests do)."""
        return any(bind is engine for engine in self.engines())

    def session(self) -> Session:
        """No autoflush: units of work flush where they need ids, and save a flush per query."""
        return Session(self.engine, expire_on_commit=False, autoflush=False)

    def run_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn(session, ...)` in one transaction: commit on return, roll back on error.
        Blocks the calling thread (SQLite: up to its busy timeout for the write lock)."""
        with self.session() as session:
            result = fn(session, *args, **kwargs)
            session.commit()
            return result

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn(session, ...)` in one transaction without blocking the event loop on I/O
        (see the module): PostgreSQL over the async driver, SQLite inline once it holds the
        write lock. Raises `DatabaseBusy` when SQLite's lock stays taken past `write_wait`."""
        if self._async is not None:
            async with AsyncSession(self._async, expire_on_commit=False, autoflush=False) as session:
                result = await session.run_sync(fn, *args, **kwargs)
                await session.commit()
                return result
        return await self._run_inline(fn, args, kwargs, wait=self.write_wait)

    async def run_unless_busy(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
        """Run a unit of work that a later occasion can do as well (marking messages read,
        sliding a session's idle time), but only if SQLite's write lock is free now: whoever
        asked is answered at once either way. Returns whether it ran."""
        if self._async is not None:
            await self.run(fn, *args, **kwargs)
            return True
        try:
            await self._run_inline(fn, args, kwargs, wait=0.0)
        except DatabaseBusy:
            return False
        return True

    async def _run_inline(
        self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any], *, wait: float
    ) -> T:
        assert self._inline is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        pause = _FIRST_RETRY
        while True:
            with Session(self._inline, expire_on_commit=False, autoflush=False) as session:
                try:
                    session.connection()  # BEGIN IMMEDIATE: the lock, before any of the unit runs
                except OperationalError as error:
                    if not _is_busy(error):
                        raise
                    left = deadline - loop.time()
                    if left <= 0:
                        raise DatabaseBusy(f"the SQLite write lock stayed taken for {wait:g} s") from error
                else:
                    result = fn(session, *args, **kwargs)
                    session.commit()
                    return result
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 2, _LONGEST_RETRY)

    async def glance(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn(session, ...)`, a short read that someone waits on (the web chat's new
        messages, the console's sign-in check), on the event loop without a thread, and never
        behind the write lock: SQLite's reader engine inline (a deferred transaction beside
        the writer), PostgreSQL over the async driver. Long reads belong to `read`."""
        if self._async is not None:
            async with AsyncSession(self._async, expire_on_commit=False, autoflush=False) as session:
                return await session.run_sync(fn, *args, **kwargs)  # closing rolls the reading back
        return self.read_sync(fn, *args, **kwargs)

    def reading(self) -> Session:
        """A session for reading only: never committed; closing it ends its transaction (the
        pool rolls the connection back), and what it loaded stays readable."""
        return Session(self._reader, expire_on_commit=False, autoflush=False)

    def read_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with self.reading() as session:
            return fn(session, *args, **kwargs)

    async def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn(session, ...)`, which only reads, on a reading thread: a query of a second
        does not stall the event loop, and on SQLite it holds no write lock meanwhile."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._read_executor, functools.partial(self.read_sync, fn, *args, **kwargs))

    async def aclose(self) -> None:
        """Close everything; the async engine's connections are closed on the event loop."""
        if self._async is not None:
            await self._async.dispose()
        self._read_executor.shutdown(wait=True)
        self._dispose_sync()

    def close(self) -> None:
        """Close from synchronous code (the CLI, a test): the async engine's connections, which
        only the event loop can close politely, are let go and closed as they are collected."""
        if self._async is not None:
            self._async.sync_engine.dispose(close=False)
        self._read_executor.shutdown(wait=True)
        self._dispose_sync()

    def _dispose_sync(self) -> None:
        for engine in {self._reader, self._inline, self.engine}:
            if engine is not None:
                engine.dispose()
