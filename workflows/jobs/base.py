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
    book: FlowBook
    texts: Texts
    calendar: WorkingCalendar
    casework: Casework
    digest_time: time = time(7, 0)  # local time of the supervisors' daily digest


@dataclass
class JobResult:
    queued: int = 0  # outbox rows queued
    files_to_delete: list[str] = field(default_factory=list)  # removed once the transaction committed

    def __iadd__(self, other: JobResult) -> JobResult:
        self.queued += other.queued
        self.files_to_delete += other.files_to_delete
        return self


Job = Callable[[JobContext, Session, datetime], JobResult]
