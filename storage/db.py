"""Engines and units of work.

The ORM is synchronous (SQLModel's own API) and a unit of work runs whole, in one transaction.
On PostgreSQL it runs on a pool of worker threads, since every statement waits on the network.
On SQLite it runs inline on the event loop: its statements take microseconds, one process is
its only writer, and handing each unit to a worker thread made the two threads fight for the
GIL — measured with bench/telegram_webhook.py, inline units more than doubled the updates a
second and cut p99 latency by two thirds. Slow work that needs no database (checking a photo)
is done in a thread before the unit starts.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 5000  # another process (`satupintu migrate`) may briefly hold the lock


def make_engine(url: str, *, reader: bool = False) -> Engine:
    """An engine with the pragmas SQLite needs to be a good server database (WAL, a busy
    timeout, foreign keys, immediate write locks) and a modest pool for PostgreSQL. A `reader`
    engine's SQLite transactions begin deferred: they read beside the writer (WAL) and never
    hold the write lock, however long they take."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            # Every unit of work ends in commit or rollback, so the pool's extra rollback on
            # return is redundant work on each message; a reader's is how its reading ends.
            pool_reset_on_return="rollback" if reader else None,
        )
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_read if reader else _sqlite_on_begin)
        return engine
    return create_engine(url, pool_size=8, max_overflow=4, pool_pre_ping=True)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control away from pysqlite so `begin` below decides the lock mode.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_on_begin(connection: Any) -> None:
    # IMMEDIATE takes the write lock up front: a reader that later writes can never deadlock
    # with another writer (which SQLite would answer with an instant SQLITE_BUSY).
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_on_read(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN")


class Database:
    """An engine plus the worker threads that run units of work on it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._executor = None if self.is_sqlite else ThreadPoolExecutor(max_workers=8, thread_name_prefix="db")
        # Long reads (the console's map, queue and exports over a million tickets) run on threads
        # of their own, so that on SQLite too the chat's units of work go on meanwhile.
        self._reader = make_engine(url, reader=True) if self.is_sqlite else self.engine
        self._read_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="db-read")

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def session(self) -> Session:
        """No autoflush: units of work flush where they need ids, and save a flush per query."""
        return Session(self.engine, expire_on_commit=False, autoflush=False)

    def run_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn(session, ...)` in one transaction: commit on return, roll back on error."""
        with self.session() as session:
            result = fn(session, *args, **kwargs)
            session.commit()
            return result

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`run_sync` inline for SQLite, on a worker thread for PostgreSQL (see the module)."""
        if self._executor is None:
            return self.run_sync(fn, *args, **kwargs)
        loop = asyncio.get_running_loop()
        call = functools.partial(self.run_sync, fn, *args, **kwargs)
        return await loop.run_in_executor(self._executor, call)

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
        if self._reader is not self.engine:
            self._reader.dispose()
        self.engine.dispose()
