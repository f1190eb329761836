"""The scheduler as a job test drives it: the app's services on the test's database, ticked by
hand (no background loop) at the instants a clock the test moves says."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.scheduler import Scheduler
from bot.settings import Settings
from storage.db import Database
from workflows.jobs import JobContext
from workflows.services import Services


def scheduler_for(settings: Settings, db: Database, services: Services, clock: Callable[[], datetime]) -> Scheduler:
    return Scheduler(
        db=db, ctx=JobContext(services), attachments_dir=settings.attachments_dir, clock=clock, tick_seconds=60
    )
