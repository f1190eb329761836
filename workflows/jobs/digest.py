"""The supervisors' daily digest and weekly summary of their area (their districts; none
named: the whole regency).

Daily, on working days from `ctx.digest_time` (local): what came in since the previous working
day, what is open (by status and category), what is late (oldest first, with its officer),
referrals waiting on an agency, and the last 30 days' service-standard compliance and citizen
satisfaction. Weekly, on the first working day of the ISO week: the week before in figures.

Working days only, like every other nudge: supervisors are not on duty at the weekend or on a
holiday, and the service standards themselves count working days. Nothing is lost by it: a
digest counts new reports since the start of the previous working day, so Monday's covers
Friday, Saturday and Sunday. Each digest carries a dedupe key naming its supervisor and day (or
ISO week): a missed tick is made up by the next one the same day, a doubled tick sends nothing
twice.

What a digest shows is no one's personal data: ticket numbers, categories, village names and
officer names. Never a citizen's name, NIK, phone number or address.

Every figure comes from an index range (tickets by district and creation time, by district and
status, by due time; referrals by status; survey answers by time) and is counted in SQL, except
two: compliance needs each ticket's stages (`sla.met_in_time`) and satisfaction each answer's
scores (the survey's elements are the office's to choose), both over one window's rows only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlmodel import Session, col

from storage.models import DataRightsRequest, OutboxMessage, Referral, Staff, SurveyResponse, Ticket
from workflows import sla
from workflows.casework.actions import OPEN_REFERRAL
from workflows.engine import Say
from workflows.jobs.base import JobContext, JobResult
from workflows.lifecycle import OPEN, STATUSES
from workflows.staff import contact_for_staff
from workflows.texts import LANGUAGES

WINDOW_DAYS = 30  # compliance and satisfaction look back this many days
OVERDUE_SHOWN = 20  # late tickets listed by number; the rest are counted
DATA_RIGHTS_SCANNED = 500  # open data-rights requests read for one digest (a handful in practice)
CATEGORIES_SHOWN = 10  # open tickets by category: the largest, then "other categories"
MAX_DAYS_OFF = 31  # the longest run of days off looked back over (Lebaran and cuti bersama)
_OPEN = sorted(OPEN)


# ------------------------------------------------------------------ the messages


def build_digest(session: Session, *, ctx: JobContext, supervisor: Staff, day: date, now: datetime) -> Say:
    """The daily digest of `day` for `supervisor`'s area, as of `now`.

    New: tickets created from the start (00:00 local) of the working day before `day` up to the
    start of `day`: one day on Tuesday to Friday, Friday to Sunday on a Monday, and the whole
    of a holiday after one. Open: by status and by category, with how many wait for an officer.
    Overdue: open tickets whose earliest unmet stage was due before `now`, earliest first, with
    working days late. Referrals: sent or acknowledged, not yet answered; how many past due.
    Compliance and satisfaction: the 30 full local days before `day` — stages of the tickets
    created then that were met in time, out of those met or due by `now` (`sla.met_in_time`);
    the mean of every score of the survey answers given then, and how many answers.
    """
    area = _area(supervisor)
    start = _midnight(ctx, day)
    since = previous_working_day(ctx, day)
    window = start - timedelta(days=WINDOW_DAYS)
    return Say(
        "digest/daily",
        {
            "day": _long_date(ctx, day),
            "since": _long_date(ctx, since),
            "area": _area_names(ctx, supervisor),
            "new": _new(session, area, _midnight(ctx, since), start),
            "urgent": _urgent(session, ctx, area),
            "data_rights": _data_rights(session, ctx, supervisor, now),
            "open": _open(session, ctx, area),
            "overdue": _overdue(session, ctx, area, now),
            "referrals": _referrals(session, area, now),
            "compliance": _compliance(session, area, window, start, now),
            "satisfaction": _satisfaction(ctx, _scores(session, _area(supervisor, by_index=False), window, start))[
                "all"
            ],
            "window_days": WINDOW_DAYS,
        },
    )


def build_weekly(session: Session, *, ctx: JobContext, supervisor: Staff, day: date, now: datetime) -> Say:
    """The weekly summary sent in `day`'s ISO week, about the week before (Monday to Sunday,
    local): tickets created then; tickets last resolved then (reopened since or not); compliance of
    the week's new tickets as of `now`; satisfaction of the answers given that week, overall and
    by category (most answered first)."""
    area, window_led = _area(supervisor), _area(supervisor, by_index=False)
    first = day - timedelta(days=day.weekday() + 7)
    start, end = _midnight(ctx, first), _midnight(ctx, first + timedelta(days=7))
    satisfaction = _satisfaction(ctx, _scores(session, window_led, start, end))
    return Say(
        "digest/weekly",
        {
            "first": _long_date(ctx, first),
            "last": _long_date(ctx, first + timedelta(days=6)),
            "area": _area_names(ctx, supervisor),
            "new": _new(session, area, start, end),
            "resolved": session.execute(
                select(func.count())
                .select_from(Ticket)
                .where(*window_led, col(Ticket.resolved_at) >= start, col(Ticket.resolved_at) < end)
            ).scalar_one(),
            "compliance": _compliance(session, area, start, end, now),
            "satisfaction": satisfaction["all"],
            "by_category": satisfaction["by_category"],
        },
    )


# ------------------------------------------------------------------ the jobs


def daily_key(supervisor: Staff, day: date) -> str:
    return f"digest:{supervisor.id}:{day.isoformat()}"


def weekly_key(supervisor: Staff, day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"weekly:{supervisor.id}:{year}-W{week:02d}"


def daily_digests(ctx: JobContext, session: Session, now: datetime) -> JobResult:
    """Each active supervisor's digest, once a working day, from `ctx.digest_time` local."""
    day = ctx.calendar.local_date(now)
    return _deliver(
        ctx,
        session,
        now,
        lambda staff: daily_key(staff, day),
        lambda staff: build_digest(session, ctx=ctx, supervisor=staff, day=day, now=now),
    )


def weekly_summaries(ctx: JobContext, session: Session, now: datetime) -> JobResult:
    """Each active supervisor's summary of last week, once a week: on Monday from the digest
    time, or on the first working day after it (a holiday, or a scheduler that was down)."""
    day = ctx.calendar.local_date(now)
    return _deliver(
        ctx,
        session,
        now,
        lambda staff: weekly_key(staff, day),
        lambda staff: build_weekly(session, ctx=ctx, supervisor=staff, day=day, now=now),
    )


def _deliver(
    ctx: JobContext, session: Session, now: datetime, key_of: Callable[[Staff], str], build: Callable[[Staff], Say]
) -> JobResult:
    """Queue `build(staff)` under `key_of(staff)` to every active supervisor who has a chat and
    not had it yet; built only for them, since a digest reads a good part of the area."""
    result = JobResult()
    local = now.astimezone(ctx.calendar.zone)
    if not ctx.calendar.is_working_day(local.date()) or local.time() < ctx.digest_time:
        return result
    supervisors = (
        session.execute(
            select(Staff).where(col(Staff.role) == "supervisor", col(Staff.status) == "active").order_by(col(Staff.id))
        )
        .scalars()
        .all()
    )
    keys = {key_of(staff): staff for staff in supervisors}
    sent = set(
        session.execute(
            select(col(OutboxMessage.dedupe_key)).where(col(OutboxMessage.dedupe_key).in_(list(keys)))
        ).scalars()
    )
    for key, staff in keys.items():
        if key not in sent and contact_for_staff(session, staff, now) is not None:
            result.queued += ctx.casework.tell_staff(session, staff, [build(staff)], now, dedupe_key=key)
    return result


# ------------------------------------------------------------------ the figures


def previous_working_day(ctx: JobContext, day: date) -> date:
    """The working day before `day` (a month back at most, should the calendar be all holidays)."""
    previous = day - timedelta(days=1)
    while not ctx.calendar.is_working_day(previous) and previous > day - timedelta(days=MAX_DAYS_OFF):
        previous -= timedelta(days=1)
    return previous


def _area(supervisor: Staff, *, by_index: bool = True) -> list[ColumnElement[bool]]:
    """The supervisor's districts as a condition on tickets. `by_index=False` where a short time
    window should lead the query: SQLite, with no statistics unless someone ran ANALYZE, would
    otherwise read every ticket the district ever had (`|| ''` hides the district indexes)."""
    if not supervisor.districts:
        return []
    return [(col(Ticket.district_code) if by_index else col(Ticket.district_code).concat("")).in_(supervisor.districts)]


def _midnight(ctx: JobContext, day: date) -> datetime:
    return datetime.combine(day, time.min, ctx.calendar.zone)


def _long_date(ctx: JobContext, day: date) -> dict[str, str]:
    """A date in words in every language: the message is rendered in its reader's."""
    return {language: ctx.texts.long_date(day, language) for language in LANGUAGES}


def _area_names(ctx: JobContext, supervisor: Staff) -> dict[str, Any]:
    areas = ctx.book.areas
    names = [district.name if (district := areas.district(code)) else code for code in supervisor.districts]
    return {"districts": names, "regency": areas.regency.name}


def _category(ctx: JobContext, kind: str, key: str) -> dict[str, str]:
    found = ctx.book.category(kind, key)
    return found[1].label.as_dict() if found else {language: key for language in LANGUAGES}


def _new(session: Session, area: Sequence[ColumnElement[bool]], start: datetime, end: datetime) -> dict[str, int]:
    rows = session.execute(
        select(col(Ticket.kind), func.count())
        .where(*area, col(Ticket.created_at) >= start, col(Ticket.created_at) < end)
        .group_by(col(Ticket.kind))
    ).all()
    counts: dict[str, int] = {"complaint": 0, "service": 0, **{kind: count for kind, count in rows}}
    return {**counts, "total": sum(counts.values())}


def _open(session: Session, ctx: JobContext, area: Sequence[ColumnElement[bool]]) -> dict[str, Any]:
    rows = session.execute(
        select(col(Ticket.status), col(Ticket.kind), col(Ticket.category), col(Ticket.unassigned), func.count())
        .where(*area, col(Ticket.status).in_(_OPEN))
        .group_by(col(Ticket.status), col(Ticket.kind), col(Ticket.category), col(Ticket.unassigned))
    ).all()
    by_status: Counter[str] = Counter()
    by_category: Counter[tuple[str, str]] = Counter()
    unassigned = 0
    for status, kind, category, parked, count in rows:
        by_status[status] += count
        by_category[kind, category] += count
        unassigned += count if parked else 0
    largest = by_category.most_common()
    shown = [{"label": _category(ctx, kind, key), "count": count} for (kind, key), count in largest[:CATEGORIES_SHOWN]]
    return {
        "total": sum(by_status.values()),
        "unassigned": unassigned,
        "by_status": [{"status": status, "count": by_status[status]} for status in STATUSES if by_status[status]],
        "by_category": shown,
        "other_categories": sum(count for _, count in largest[CATEGORIES_SHOWN:]),
    }


def _overdue(session: Session, ctx: JobContext, area: Sequence[ColumnElement[bool]], now: datetime) -> dict[str, Any]:
    late = [*area, col(Ticket.status).in_(_OPEN), col(Ticket.due_at) < now]
    total = session.execute(select(func.count()).select_from(Ticket).where(*late)).scalar_one()
    rows = session.execute(
        select(
            col(Ticket.number),
            col(Ticket.kind),
            col(Ticket.category),
            col(Ticket.village_code),
            col(Ticket.due_at),
            col(Ticket.unassigned),
            col(Staff.name),
        )
        .outerjoin(Staff, col(Staff.id) == col(Ticket.assignee_staff_id))
        .where(*late)
        .order_by(col(Ticket.due_at), col(Ticket.id))
        .limit(OVERDUE_SHOWN)
    ).all()
    shown = [
        {
            "number": number,
            "category": _category(ctx, kind, category),
            "village": _village(ctx, village),
            "officer": None if parked else officer,
            "late": ctx.calendar.working_days_between(due, now),
        }
        for number, kind, category, village, due, parked, officer in rows
    ]
    return {"total": total, "rows": shown, "more": total - len(shown)}


def _urgent(session: Session, ctx: JobContext, area: Sequence[ColumnElement[bool]]) -> dict[str, Any]:
    """Open urgent tickets, oldest first: listed before everything else in the digest."""
    urgent = [col(Ticket.urgent).is_(True), col(Ticket.status).in_(_OPEN), *area]
    total = session.execute(select(func.count()).select_from(Ticket).where(*urgent)).scalar_one()
    rows = session.execute(
        select(
            col(Ticket.number),
            col(Ticket.kind),
            col(Ticket.category),
            col(Ticket.village_code),
            col(Ticket.status),
            col(Ticket.unassigned),
            col(Staff.name),
        )
        .outerjoin(Staff, col(Staff.id) == col(Ticket.assignee_staff_id))
        .where(*urgent)
        .order_by(col(Ticket.created_at), col(Ticket.id))
        .limit(OVERDUE_SHOWN)
    ).all()
    shown = [
        {
            "number": number,
            "category": _category(ctx, kind, category),
            "village": _village(ctx, village),
            "status": status,
            "officer": None if parked else officer,
        }
        for number, kind, category, village, status, parked, officer in rows
    ]
    return {"total": total, "rows": shown, "more": total - len(shown)}


def _data_rights(session: Session, ctx: JobContext, supervisor: Staff, now: datetime) -> dict[str, Any]:
    """Citizens' open data-rights requests touching the area (UU 27/2022: 3×24 hours), the
    overdue first (earliest due first): what the office owes an answer to, by ticket number."""
    pending = session.execute(
        select(DataRightsRequest)
        .where(col(DataRightsRequest.status) == "open")
        .order_by(col(DataRightsRequest.due_at), col(DataRightsRequest.id))
        .limit(DATA_RIGHTS_SCANNED)
    ).scalars()
    mine = [r for r in pending if not supervisor.districts or set(r.districts) & set(supervisor.districts)]
    numbers = dict(
        session.execute(
            select(col(Ticket.id), col(Ticket.number)).where(
                col(Ticket.id).in_({i for r in mine for i in r.ticket_ids})
            )
        ).all()
    )
    rows = [
        {
            "numbers": [numbers[i] for i in r.ticket_ids if i in numbers],
            "kind": r.kind,
            "due": {language: ctx.texts.long_moment(r.due_at, ctx.calendar.zone, language) for language in LANGUAGES},
            "overdue": r.due_at <= now,
        }
        for r in mine[:OVERDUE_SHOWN]
    ]
    return {
        "total": len(mine),
        "overdue": sum(r.due_at <= now for r in mine),
        "rows": rows,
        "more": len(mine) - len(rows),
    }


def _village(ctx: JobContext, code: str | None) -> str | None:
    found = ctx.book.areas.village(code) if code else None
    return found[1].name if found else None


def _referrals(session: Session, area: Sequence[ColumnElement[bool]], now: datetime) -> dict[str, int]:
    pending, late = session.execute(
        select(func.count(), func.count(case((col(Referral.due_at) < now, 1))))
        .select_from(Referral)
        .join(Ticket, col(Ticket.id) == col(Referral.ticket_id))
        .where(col(Referral.status).in_(OPEN_REFERRAL), *area)
    ).one()
    return {"pending": pending, "overdue": late}


def _compliance(
    session: Session, area: Sequence[ColumnElement[bool]], start: datetime, end: datetime, now: datetime
) -> dict[str, Any]:
    stages = session.execute(
        select(col(Ticket.sla)).where(*area, col(Ticket.created_at) >= start, col(Ticket.created_at) < end)
    ).scalars()
    met = due = 0
    for entry in stages:
        good, total = sla.met_in_time(entry, now)
        met, due = met + good, due + total
    return {"met": met, "due": due, "percent": met * 100 // due if due else None}


def _scores(session: Session, area: Sequence[ColumnElement[bool]], start: datetime, end: datetime) -> Iterable[Any]:
    """(kind, category, scores) of the survey answers given in [start, end) in the area."""
    return session.execute(
        select(col(Ticket.kind), col(Ticket.category), col(SurveyResponse.scores))
        .join(Ticket, col(Ticket.id) == col(SurveyResponse.ticket_id))
        .where(col(SurveyResponse.created_at) >= start, col(SurveyResponse.created_at) < end, *area)
    ).all()


def _satisfaction(ctx: JobContext, answers: Iterable[tuple[str, str, Mapping[str, Any]]]) -> dict[str, Any]:
    """The mean score (1-4) and number of answers, overall and by category."""
    tally: dict[tuple[str, str], list[int]] = {}  # (kind, category) -> [sum of scores, scores, answers]
    for kind, category, scores in answers:
        values = [v for v in (scores or {}).values() if isinstance(v, int) and not isinstance(v, bool)]
        entry = tally.setdefault((kind, category), [0, 0, 0])
        entry[0] += sum(values)
        entry[1] += len(values)
        entry[2] += 1

    def summary(total: int, count: int, answered: int) -> dict[str, Any]:
        return {"average": total / count if count else None, "responses": answered}

    overall = summary(*([sum(column) for column in zip(*tally.values(), strict=True)] or [0, 0, 0]))
    ranked = sorted(tally.items(), key=lambda item: (-item[1][2], item[0]))
    return {
        "all": overall,
        "by_category": [{"label": _category(ctx, kind, key), **summary(*entry)} for (kind, key), entry in ranked],
    }
