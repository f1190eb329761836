"""Engines and units of work.

The ORM is synchronous (SQLModel's own API) and a unit of work is a plain function
`fn(session, ...)` that runs whole, in one transaction. How it is run depends on the database:

- **PostgreSQL:** on a pool of worker threads, since every statement waits on the network.
  Running the units on the event loop over an async driver instead (SQLAlchemy's asyncio
  extension, `AsyncSession.run_sync`, over psycopg 3's async mode or asyncpg) was measured
  with bench/telegram_webhook.py and bench/message_profile.py and cost more CPU a message
  (greenlet switches and a loop wake-up per statement) and gave fewer messages a second on
  this 2-core machine; the figures are in bench/README.md.
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
from sqlmodel import Session

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 5000  # blocking users (the CLI, start-up) wait this long for the lock
WRITE_WAIT_SECONDS = 5.0  # how long a unit of work on the event loop waits for SQLite's write lock
WORKERS = 8  # PostgreSQL: threads running units of work, each with its connection
_FIRST_RETRY, _LONGEST_RETRY = 0.002, 0.05  # seconds between tries for the write lock


class DatabaseBusy(Exception):
    """Another process held SQLite's write lock for longer than the unit may wait: nothing of
    the unit was written. A webhook answers 5xx so that the platform delivers it again."""


def make_engine(url: str, *, reader: bool = False, wait: bool = True, prepared_statements: bool = True) -> Engine:
    """An engine with the pragmas SQLite needs to be a good server database (WAL, a busy
    timeout, foreign keys, immediate write locks) and a pool for PostgreSQL's worker threads.
    A `reader` engine's SQLite transactions begin deferred: they read beside the writer (WAL)
    and never hold the write lock, however long they take. Without `wait`, a SQLite write lock
    held by another connection fails at once (SQLITE_BUSY) instead of blocking the thread."""
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
    connect_args: dict[str, Any] = {} if prepared_statements else {"prepare_threshold": None}
    return create_engine(url, pool_size=WORKERS, max_overflow=4, pool_pre_ping=True, connect_args=connect_args)


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
        # PostgreSQL's units, and blocking work on SQLite (the CLI, start-up), use this one.
        self.engine = make_engine(url, prepared_statements=prepared_statements)
        self.write_wait = write_wait
        self._inline: Engine | None = None
        self._executor: ThreadPoolExecutor | None = None
        if self.is_sqlite:
            self._inline = make_engine(url, wait=False)
            self._reader = make_engine(url, reader=True)
        else:
            self._executor = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="db")
            self._reader = self.engine
        # Long reads (the console's map, queue and exports over a million tickets) run on threads
        # of their own, so that on SQLite too the chat's units of work go on meanwhile.
        self._read_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="db-read")

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def engines(self) -> tuple[Engine, ...]:
        """Every engine this database sends statements through (for event listeners); a unit
        of work's session is bound to one of them."""
        return tuple(dict.fromkeys(engine for engine in (self.engine, self._reader, self._inline) if engine))

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
        """Run `fn(session, ...)` in one transaction (see the module): PostgreSQL on a worker
        thread, SQLite inline once it holds the write lock. Raises `DatabaseBusy` when SQLite's
        lock stays taken past `write_wait`."""
        if self._executor is not None:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, functools.partial(self.run_sync, fn, *args, **kwargs))
        return await self._run_inline(fn, args, kwargs, wait=self.write_wait)

    async def run_unless_busy(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
        """Run a unit of work that a later occasion can do as well (marking messages read,
        sliding a session's idle time), but only if SQLite's write lock is free now: whoever
        asked is answered at once either way. Returns whether it ran."""
        if self._executor is not None:
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
        messages, the console's sign-in check), never behind the write lock: on SQLite inline
        on the reader engine (a deferred transaction beside the writer), on PostgreSQL on a
        unit's worker thread. Long reads belong to `read`."""
        if self._executor is not None:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, functools.partial(self.read_sync, fn, *args, **kwargs))
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

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        self._read_executor.shutdown(wait=True)
        for engine in self.engines():
            engine.dispose()
