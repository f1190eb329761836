"""Wakes the web chat's open streams when their chat has new outbox rows.

The web chat does not push (the sender never sees its rows), so its pages hold a Server-Sent
Events stream each, and each stream sleeps until told its chat has something new. Two things
tell it: a commit in this process that queued rows of channel "web" (a SQLAlchemy session
hook: the runner, the console and this process's scheduler all write through sessions), and,
for rows another process queued (a second `serve`, the console CLI, a separate scheduler), one
read (two small queries) every 0.75 s over all the open chats at once, so such a row still
reaches its page within a second. A stream then reads its own chat once; nothing polls per
connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState
from sqlmodel import Session

from storage import outbox
from storage.db import Database

log = logging.getLogger(__name__)

CHECK_SECONDS = 0.75  # how late a row queued by another process may arrive: under the 1 s asked of it
CHUNK = 500  # chats per query of the periodic check: well under every database's parameter limit
_QUEUED = "satupintu_web_chats"  # the session's info key: chats this transaction queued rows for


@dataclass(eq=False)
class Listener:
    """One open stream: the last id it has sent, and what wakes it."""

    chat_id: str
    last_id: int
    woken: asyncio.Event = field(default_factory=asyncio.Event)


class LiveChats:
    """The open streams of one app, by chat."""

    def __init__(self, db: Database, *, channel: str, check_seconds: float = CHECK_SECONDS) -> None:
        self.db = db
        self.channel = channel
        self.check_seconds = check_seconds
        self.closing = False
        self.on_unwatched: Callable[[Sequence[str]], None] | None = None  # chats queued for with no stream open here
        self._open: dict[str, set[Listener]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        # Kept as attributes: SQLAlchemy removes a listener by the same object it was given.
        self._on_execute = self._seen_execute
        self._on_commit = self._seen_commit
        self._on_rollback = self._seen_rollback

    async def start(self) -> None:
        self.closing = False
        self._loop = asyncio.get_running_loop()
        event.listen(Session, "do_orm_execute", self._on_execute)
        event.listen(Session, "after_commit", self._on_commit)
        event.listen(Session, "after_rollback", self._on_rollback)
        self._task = asyncio.create_task(self._check_forever())

    async def stop(self) -> None:
        """End every stream (a page reconnects to the next server) and stop listening."""
        self.end_streams()
        if event.contains(Session, "do_orm_execute", self._on_execute):
            event.remove(Session, "do_orm_execute", self._on_execute)
            event.remove(Session, "after_commit", self._on_commit)
            event.remove(Session, "after_rollback", self._on_rollback)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def end_streams(self) -> None:
        """Tell every open stream to finish, so a shutdown does not wait on them."""
        self.closing = True
        for listeners in self._open.values():
            for listener in listeners:
                listener.woken.set()

    @contextlib.contextmanager
    def listen(self, chat_id: str, last_id: int) -> Iterator[Listener]:
        listener = Listener(chat_id, last_id)
        self._open.setdefault(chat_id, set()).add(listener)
        try:
            yield listener
        finally:
            listeners = self._open.get(chat_id, set())
            listeners.discard(listener)
            if not listeners:
                self._open.pop(chat_id, None)

    def watched(self, chat_id: str) -> bool:
        """Whether a page of this chat holds a stream here now."""
        return chat_id in self._open

    def open_streams(self) -> int:
        return sum(len(listeners) for listeners in self._open.values())

    def wake(self, chat_ids: Sequence[str]) -> None:
        for chat_id in chat_ids:
            for listener in self._open.get(chat_id, ()):
                listener.woken.set()

    # ------------------------------------------------------------------ rows queued in this process
    def _queued(self, chat_ids: Sequence[str]) -> None:
        self.wake(chat_ids)
        unwatched = [chat_id for chat_id in chat_ids if chat_id not in self._open]
        if unwatched and self.on_unwatched is not None:
            self.on_unwatched(unwatched)

    def _seen_execute(self, state: ORMExecuteState) -> None:
        """Note the web chats an insert into the outbox wrote to, for `_seen_commit`."""
        if not state.is_insert or getattr(state.statement, "table", None) is not outbox.TABLE:
            return
        if not self.db.owns(state.session.get_bind()):
            return  # another app's database (tests run several)
        given: Any = state.parameters
        rows: list[Mapping[str, Any]] = given if isinstance(given, list) else [given or {}]
        chats = {str(row["chat_id"]) for row in rows if row.get("channel") == self.channel and "chat_id" in row}
        if chats:
            state.session.info.setdefault(_QUEUED, set()).update(chats)

    def _seen_commit(self, session: Session) -> None:
        """Runs on whichever thread committed (PostgreSQL's work runs on a thread pool)."""
        chats = session.info.pop(_QUEUED, None)
        if chats and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._queued, sorted(chats))

    def _seen_rollback(self, session: Session) -> None:
        session.info.pop(_QUEUED, None)

    # ------------------------------------------------------------------ rows queued by another process
    async def _check_forever(self) -> None:
        while True:
            await asyncio.sleep(self.check_seconds)
            try:
                await self.check()
            except Exception:
                log.warning("web chat: the check for new messages failed; trying again", exc_info=True)

    async def check(self) -> None:
        """For each `CHUNK` of open chats, one read: wake the streams behind their chat's newest
        row (another process's page may have read it already) and those of chats with a row no
        page has read (one that committed late, below the cursors)."""
        chats = list(self._open)
        for start in range(0, len(chats), CHUNK):
            newest, unread = await self.db.read(self._newest_and_unread, chats[start : start + CHUNK])
            self.wake(unread)
            for chat_id, last in newest.items():
                for listener in self._open.get(chat_id, ()):
                    if last > listener.last_id:
                        listener.woken.set()

    def _newest_and_unread(self, session: Session, chats: list[str]) -> tuple[dict[str, int], list[str]]:
        return (
            outbox.latest_ids(session, channel=self.channel, chat_ids=chats),
            outbox.chats_with_unread(session, channel=self.channel, chat_ids=chats),
        )
