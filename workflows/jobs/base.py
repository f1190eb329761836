"""What every scheduled job gets and gives back.

A job is a plain function `(ctx, session, now) -> JobResult`: it reads state and queues
outbox rows with a dedupe key, so a missed tick is made up by the next one and a doubled tick
queues nothing twice. Jobs are listed in `workflows.jobs.JOBS`; the process installs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Callable

from sqlmodel import Session

from workflows.calendar import WorkingCalendar
from workflows.casework.service import Casework
from workflows.flowbook import FlowBook
from workflows.texts import Texts


@dataclass(frozen=True)
class JobContext:
    """The jobs' share of the running process. The office's configuration is read through the
    case workflows, so a change made in the console (Intake.use_book) reaches the next tick."""

    texts: Texts
    calendar: WorkingCalendar
    casework: Casework

    @property
    def book(self) -> FlowBook:
        return self.casework.book

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
