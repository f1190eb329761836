"""`satupintu digest --supervisor ID [--date YYYY-MM-DD] [--weekly] [--print]`: a supervisor's
daily digest (or weekly summary) now, to read it (`--print`, nothing queued) or to send it to
their chat under the same dedupe key as the scheduled job (so it is never sent twice a day)."""

from __future__ import annotations

import argparse
from datetime import date, datetime
from typing import Any

from bot.clock import utc_now
from bot.settings import Settings
from bot.staff_cli import with_session
from workflows import staff as records
from workflows.jobs import JobContext, digest
from workflows.services import Services


def register(commands: Any) -> None:
    command = commands.add_parser("digest", help="print or send a supervisor's daily digest or weekly summary")
    command.add_argument("--supervisor", type=int, required=True, help="staff id")
    command.add_argument(
        "--date",
        type=date.fromisoformat,
        default=None,
        help="the digest of this day (YYYY-MM-DD) as of its digest time; default: now, today",
    )
    command.add_argument("--weekly", action="store_true", help="the weekly summary (of the week before --date's)")
    command.add_argument("--print", action="store_true", help="print it in the supervisor's language; queue nothing")
    command.set_defaults(run=_digest)


def _digest(args: argparse.Namespace) -> int:
    def work(session: Any, services: Services, settings: Settings) -> str:
        ctx = JobContext(services)
        supervisor = records.get_staff(session, args.supervisor)
        if supervisor.role == "officer":
            raise records.StaffError(f"staff {supervisor.id} is an officer; digests are for supervisors and admins")
        day = args.date or ctx.calendar.local_date(utc_now())
        now = datetime.combine(day, ctx.digest_time, ctx.calendar.zone) if args.date else utc_now()
        build, key = (
            (digest.build_weekly, digest.weekly_key) if args.weekly else (digest.build_digest, digest.daily_key)
        )
        say = build(session, ctx=ctx, supervisor=supervisor, day=day, now=now)
        if args.print:
            return ctx.texts.message(say, supervisor.language).text
        if not ctx.casework.tell_staff(session, supervisor, [say], utc_now(), dedupe_key=key(supervisor, day)):
            raise records.StaffError(
                f"nothing queued: {supervisor.name} has no chat, or it was already sent ({key(supervisor, day)})"
            )
        return f"queued {'the weekly summary' if args.weekly else 'the digest'} for {supervisor.name} ({key(supervisor, day)})"

    return with_session(work)
