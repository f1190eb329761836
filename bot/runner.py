"""The one place an inbound event becomes a committed unit of work.

Channel adapter → `Runner.handle` → (per-chat lane) → `InboundHandler.handle` as one unit of work,
which also leases the replies for the sender → commit → the sender delivers them. A photo (or
a PDF document) is fetched from the platform only when the conversation is waiting for one,
checked and written to disk in a thread, and recorded in the unit of work that takes it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from bot.clock import Clock, utc_now
from bot.lanes import Lanes
from bot.metrics import Metrics
from storage.db import Database
from storage.files import StoredPhoto, delete_file
from workflows.inbound import Envelope, Handled, InboundHandler
from workflows.services import Services

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from bot.sender import Sender

PhotoFetcher = Callable[[int], Awaitable[bytes | None]]


class PhotoTooLarge(Exception):
    """Raised by a fetcher that saw the size before downloading."""


class Runner:
    def __init__(
        self,
        *,
        db: Database,
        inbound: InboundHandler,
        services: Services,
        clock: Clock = utc_now,
        sender: Sender | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.db = db
        self.metrics = metrics or Metrics()
        self.inbound = inbound
        self.services = services
        self.clock = clock
        self.sender = sender
        self.lanes = Lanes()

    async def handle(self, envelope: Envelope, fetch_photo: PhotoFetcher | None = None) -> Handled:
        """Handle one event in its chat's lane; returns once it is committed."""
        self.metrics.received(envelope.channel)
        async with self.lanes.lane(f"{envelope.channel}:{envelope.chat_id}"):
            photo: StoredPhoto | str | None = None
            if (
                envelope.event.kind in ("photo", "document")
                and fetch_photo is not None
                and await self.db.run(self.inbound.wants_photo, envelope)
            ):
                photo = await self._photo(fetch_photo, envelope.event.kind)
            handled = await self._commit(envelope, photo)
        for path in handled.files_to_delete:
            delete_file(self.services.attachments_dir, path)
        return handled

    async def _photo(self, fetch_photo: PhotoFetcher, kind: str) -> StoredPhoto | str:
        """Download, check and keep a photo (or a PDF), off the event loop; or the reason it was refused."""
        try:
            data = await fetch_photo(self.services.max_photo_bytes)
        except PhotoTooLarge:
            return "too_large"
        if data is None:
            return "unreadable"
        return await asyncio.to_thread(self.services.keep_photo, data, kind)

    async def _commit(self, envelope: Envelope, photo: StoredPhoto | str | None) -> Handled:
        sender = self.sender
        reserved = sender is not None and sender.reserve(envelope.channel, envelope.chat_id)

        def unit(session: Any) -> tuple[Handled, list[Any]]:
            handled = self.inbound.handle(session, envelope, self.clock(), photo)
            leased = (
                sender.lease_in(session, envelope.channel, envelope.chat_id)
                if sender is not None and reserved and handled.outbox_ids
                else []
            )
            return handled, leased

        started = time.perf_counter()
        try:
            handled, leased = await self.db.run(unit)
        except BaseException:
            if reserved:
                sender.release(envelope.channel, envelope.chat_id)  # type: ignore[union-attr]
            raise
        finally:
            self.metrics.unit_took(envelope.channel, time.perf_counter() - started)
        if reserved:
            sender.deliver_leased(envelope.channel, envelope.chat_id, leased)  # type: ignore[union-attr]
        return handled
