"""The one place an inbound event becomes a committed unit of work.

Channel adapter → `Runner.handle` → (per-chat lane) → `Intake.handle` in a database worker →
commit → wake the sender. Photos are fetched from the platform only when the conversation is
waiting for one, and stored in the same transaction that records the answer.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timezone
from typing import Awaitable, Callable

from bot.lanes import Lanes
from storage.db import Database
from storage.files import delete_file
from workflows.engine import Inbound
from workflows.inbound import Envelope, Handled, Intake

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
PhotoFetcher = Callable[[int], Awaitable[bytes | None]]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class PhotoTooLarge(Exception):
    """Raised by a fetcher that saw the size before downloading."""


class Runner:
    def __init__(self, *, db: Database, intake: Intake, clock: Clock = utc_now,
                 on_queued: Callable[[str, str], None] | None = None) -> None:
        self.db = db
        self.intake = intake
        self.clock = clock
        self.lanes = Lanes()
        self._on_queued = on_queued or (lambda channel, chat_id: None)

    async def handle(self, envelope: Envelope, fetch_photo: PhotoFetcher | None = None) -> Handled:
        """Handle one event in its chat's lane; returns once it is committed."""
        async with self.lanes.lane(f"{envelope.channel}:{envelope.chat_id}"):
            photo: bytes | None = None
            if envelope.event.kind == "photo" and fetch_photo is not None:
                if await self.db.run(self.intake.wants_photo, envelope):
                    try:
                        photo = await fetch_photo(self.intake.max_photo_bytes)
                    except PhotoTooLarge:
                        envelope = replace(envelope, event=Inbound(kind="photo", photo_error="too_large"))
                    if photo is None and envelope.event.photo_error is None:
                        envelope = replace(envelope, event=Inbound(kind="photo", photo_error="unreadable"))
            handled = await self.db.run(self.intake.handle, envelope, self.clock(), photo)
        for path in handled.files_to_delete:
            delete_file(self.intake.attachments_dir, path)
        if handled.outbox_ids:
            self._on_queued(envelope.channel, envelope.chat_id)
        return handled
