"""The scheduled jobs, in the order one tick runs them. Each is `(ctx, session, now) ->
JobResult` in its own transaction; the process installs this list (bot/scheduler.py)."""

from __future__ import annotations

from workflows.jobs import data_rights, digest, rehoming, reminders, retention, urgent
from workflows.jobs.base import Job, JobContext, JobResult

JOBS: tuple[tuple[str, Job], ...] = (
    ("urgent_alerts", urgent.urgent_alerts),  # first: someone may be in danger
    ("route_waiting_tickets", rehoming.route_waiting_tickets),
    ("tidy_conversations", reminders.tidy_conversations),
    ("close_unanswered", reminders.close_unanswered),
    ("due_today", reminders.due_today),
    ("breaches", reminders.breaches),
    ("referral_followups", reminders.referral_followups),
    ("citizen_updates", reminders.citizen_updates),
    ("survey_reminders", reminders.survey_reminders),
    ("data_rights_requests", data_rights.data_rights_requests),  # before the digest that lists them
    ("daily_digests", digest.daily_digests),
    ("weekly_summaries", digest.weekly_summaries),
    ("purge_expired", retention.purge_expired),  # last: at night, after everything that reads tickets
)

__all__ = ["JOBS", "Job", "JobContext", "JobResult"]
