"""What every scheduled job gets and gives back.

A job is a plain function `(ctx, session, now) -> JobResult`: it reads state and queues
outbox rows with a dedupe key, so a missed tick is made up by the next one and a doubled tick
queues nothing twice. Jobs are listed in `workflows.jobs.JOBS`; the process installs them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time

from sqlmodel import Session

from workflows.calendar import WorkingCalendar
from workflows.casework.service import Casework
from workflows.flowbook import FlowBook
from workflows.services import Services
from workflows.texts import Texts


@dataclass(frozen=True)
class JobContext:
    """The jobs' share of the running process: its services. The office's configuration is
    read through them at each tick, so a change made in any process (Services.use_book,
    Services.refresh) reaches the next one."""

    services: Services

    @property
    def book(self) -> FlowBook:
        return self.services.book

    @property
    def texts(self) -> Texts:
        return self.services.texts

    @property
    def calendar(self) -> WorkingCalendar:
        return self.services.calendar

    @property
    def casework(self) -> Casework:
        return self.services.casework

    @property
    def digest_time(self) -> time:
        """Local time of the supervisors' daily digest."""
        return self.book.office.reminders.digest_at


@dataclass
class JobResult:
    queued: int = 0  # outbox rows queued
    files_to_delete: list[str] = field(default_factory=list)  # removed once the transaction committed

    def __iadd__(self, other: JobResult) -> JobResult:
        self.queued += other.queued
        self.files_to_delete += other.files_to_delete
        return self


Job = Callable[[JobContext, Session, datetime], JobResult]
