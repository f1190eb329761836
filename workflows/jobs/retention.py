"""The nightly purge: closed tickets past their retention period lose their personal data.

Between office.yaml's `retention.runs_from` and `runs_until` (local time), each tick erases one
batch (`workflows.privacy.retention`), committed with the tick's transaction; the files released
are removed by the scheduler once it has committed. Then, a batch a tick, the chat addresses of
reporters silent for the default period with nothing left kept are forgotten. When nothing is
left of either, once a night, the
attachments dir is swept of files no row names (what a crash between a commit and a removal
left behind). Only the scheduler's leader runs it; a ticket is never taken twice, because a
batch picks only tickets not yet anonymised.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy import func, select
from sqlmodel import Session, col

from storage.models import AuditEntry
from workflows import audit
from workflows.jobs.base import JobContext, JobResult
from workflows.privacy import erasure, retention

SWEPT = "retention.swept"  # audit action: the night's sweep of orphan files is done (subject: the date)


def _tonight(start: time, end: time, local: time) -> bool:
    """Whether `local` falls in the window (one that runs past midnight too)."""
    return start <= local < end if start < end else local >= start or local < end


def purge_expired(ctx: JobContext, session: Session, now: datetime) -> JobResult:
    """One batch of the night's purge, else of silent chats to forget, else the night's sweep."""
    settings = ctx.book.office.retention
    local = now.astimezone(ctx.calendar.zone)
    if not _tonight(settings.runs_from, settings.runs_until, local.time().replace(tzinfo=None)):
        return JobResult()
    if retention.purge_batch(session, book=ctx.book, now=now):
        return JobResult(files_to_delete=erasure.take_released_files(session))
    if retention.forget_silent_chats(session, book=ctx.book, now=now):
        return JobResult()
    started = datetime.combine(local.date(), settings.runs_from, ctx.calendar.zone)
    if started > now:  # a window past midnight, begun yesterday
        started -= timedelta(days=1)
    swept = session.execute(
        select(func.count()).where(col(AuditEntry.at) >= started, col(AuditEntry.action) == SWEPT)
    ).scalar_one()
    if not swept:
        removed = erasure.sweep_orphan_files(session, ctx.services.attachments_dir)
        night = started.date().isoformat()
        audit.record(session, staff_id=None, action=SWEPT, subject=night, now=now, data={"files": len(removed)})
    return JobResult()
