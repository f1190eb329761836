"""Benchmark: a supervisor's daily digest (and weekly summary) over a million tickets.

Seeds --tickets tickets spread over the example districts (workflows/data/areas.yaml, some
districts busier than others) and the last --years years, with what an office of that size
holds: most tickets closed, resolved or rejected with their service-standard stages met (a few
late), the recent ones still open at every status, some late, referrals and survey answers.
Rows go in by chunks: COPY on PostgreSQL, Core executemany on SQLite. Then times `build_digest`
for the supervisor of the busiest district and for one over the whole regency, and
`build_weekly`, each the median of --runs, next to a baseline measured in the same run on the
same data: a bare `SELECT count(*)` over the district's index range. Target: each under 2 s.

    python bench/digest.py [--tickets 1000000] [--years 2] [--runs 5] [--database sqlite|postgresql]
                           [--explain]

--explain prints each query of one digest with its time and plan (EXPLAIN QUERY PLAN on SQLite,
EXPLAIN ANALYZE on PostgreSQL). PostgreSQL runs in a new schema on SATUPINTU_TEST_POSTGRES_URL
(default: the test server), dropped afterwards; it is vacuumed and analysed after loading, as
autovacuum would. SQLite is not analysed: a deployment's file never is unless someone runs
ANALYZE. Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from psycopg.types.json import Jsonb  # noqa: E402
from sqlalchemy import event, func, insert, select  # noqa: E402

from bench.sender_rate import database  # noqa: E402  (a new SQLite file or PostgreSQL schema)
from bot.app import build_services  # noqa: E402
from bot.settings import Settings  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import Contact, Referral, Staff, SurveyResponse, Ticket  # noqa: E402
from workflows.jobs import JobContext, digest  # noqa: E402
from workflows.lifecycle import OPEN  # noqa: E402

CHUNK = 20_000
STAGE_DAYS = {"complaint": (1, 5, 14), "service": (3, 5, 14)}  # working days, as office.yaml
# (statuses, cumulative weights): of open tickets, and of the others
OPEN_MIX = (("new", "assigned", "in_progress", "waiting_citizen", "referred", "reopened"), (10, 30, 70, 80, 95, 100))
DONE_MIX = (("closed", "resolved", "rejected"), (80, 88, 100))


def open_share(age_days: float) -> float:
    """How many tickets of this age are still open: most within days, a few stragglers."""
    for limit, share in ((3, 0.85), (14, 0.45), (30, 0.15), (90, 0.03)):
        if age_days < limit:
            return share
    return 0.005


class Seeder:
    """Rows for one office, generated chunk by chunk (never a million dicts at once)."""

    def __init__(self, ctx: JobContext, now: datetime, years: float, rng: random.Random) -> None:
        self.ctx, self.now, self.rng = ctx, now, rng
        self.span = timedelta(days=365 * years)
        districts = ctx.book.areas.districts
        self.districts = [(d.code, [v.code for v in d.villages]) for d in districts]
        self.weights = list(itertools.accumulate(rng.uniform(0.5, 1.5) for _ in districts))
        self.categories = {
            kind: [t.key for g in ctx.book.categories.groups(kind) for t in g.types]
            for kind in ("complaint", "service")
        }
        self.officers: dict[str, list[int]] = {}
        self.supervisors: dict[str, int] = {}
        self.surveys: list[dict[str, Any]] = []
        self.referrals: list[dict[str, Any]] = []

    def staff(self, session: Any) -> tuple[Staff, Staff]:
        """Two officers and a supervisor per district, and one supervisor over the regency."""

        def hire(name: str, role: str, districts: list[str]) -> Staff:
            row = Staff(name=name, role=role, districts=districts, created_at=self.now - self.span)
            session.add(row)
            session.flush()
            return row

        for n, (code, _) in enumerate(self.districts):
            self.officers[code] = [hire(f"Officer {n}-{i}", "officer", [code]).id for i in range(2)]  # type: ignore[misc]
            self.supervisors[code] = hire(f"Supervisor {n}", "supervisor", [code]).id  # type: ignore[assignment]
        session.add(Contact(channel="web", external_id="bench", chat_id="bench", created_at=self.now - self.span))
        regency = hire("Supervisor regency", "supervisor", [])
        shares = [b - a for a, b in zip([0.0, *self.weights], self.weights, strict=False)]
        busiest = self.districts[shares.index(max(shares))][0]
        return session.get(Staff, self.supervisors[busiest]), regency

    def tickets(self, first_id: int, count: int, total: int) -> list[dict[str, Any]]:
        """Tickets `first_id`… in creation order, evenly over the span."""
        rng, rows = self.rng, []
        for ticket_id in range(first_id, first_id + count):
            created = (
                self.now - self.span + self.span * ((ticket_id - 0.5) / total) + timedelta(minutes=rng.uniform(-5, 5))
            )
            created = min(created, self.now - timedelta(minutes=1))
            rows.append(self.ticket(ticket_id, created))
        return rows

    def ticket(self, ticket_id: int, created: datetime) -> dict[str, Any]:
        rng = self.rng
        code, villages = rng.choices(self.districts, cum_weights=self.weights)[0]
        kind = "complaint" if rng.random() < 0.6 else "service"
        age = (self.now - created).total_seconds() / 86400
        is_open = rng.random() < open_share(age)
        statuses, cumulative = OPEN_MIX if is_open else DONE_MIX
        status = rng.choices(statuses, cum_weights=cumulative)[0]
        dues = [created + timedelta(days=round(days * 1.4), hours=rng.uniform(0, 8)) for days in STAGE_DAYS[kind]]
        met = self.met(status, created, dues)
        unmet = [
            (due, stage)
            for due, stage, when in zip(dues, ("first_response", "follow_up", "resolution"), met, strict=True)
            if when is None
        ]
        resolved = max(m for m in met if m) if status in ("resolved", "closed") else None
        assignee = rng.choice(self.officers[code])
        unassigned = status == "new" and rng.random() < 0.3
        if unassigned:
            assignee = self.supervisors[code]
        elif status == "new":
            assignee = None
        if resolved is not None and status == "closed" and rng.random() < 0.35:
            self.surveys.append(
                {
                    "ticket_id": ticket_id,
                    "comment": None,
                    "created_at": min(resolved + timedelta(hours=rng.uniform(1, 72)), self.now),
                    "scores": {k: rng.choices((1, 2, 3, 4), (1, 2, 5, 4))[0] for k in ("speed", "conduct", "handling")},
                }
            )
        if rng.random() < 0.06 or status == "referred":
            pending = status == "referred"
            self.referrals.append(
                {
                    "ticket_id": ticket_id,
                    "agency": "disdukcapil",
                    "request": "Perekaman KTP-el",
                    "due_at": created + timedelta(days=7),
                    "status": rng.choice(("sent", "acknowledged") if pending else ("done", "declined")),
                    "outcome": None,
                    "created_by_staff_id": self.officers[code][0],
                    "created_at": created,
                    "updated_at": created,
                }
            )
        sla = {
            stage: {"due": due.isoformat(), "met": when.isoformat() if when else None}
            for stage, due, when in zip(("first_response", "follow_up", "resolution"), dues, met, strict=True)
        }
        return {
            "id": ticket_id,
            "number": f"SP-{created.year}-{ticket_id:07d}",
            "kind": kind,
            "category": rng.choice(self.categories[kind]),
            "category_group": None,
            "reporter_contact_id": 1,
            "subject": "other",
            "details": {},
            "district_code": code,
            "village_code": rng.choice(villages),
            "status": status,
            "team": None,
            "assignee_staff_id": assignee,
            "unassigned": unassigned,
            "version": 3,
            "sla": sla,
            "due_at": min(unmet)[0] if unmet else None,
            "sla_stage": min(unmet)[1] if unmet else None,
            "citizen_updated_at": created,
            "resolved_at": resolved,
            "channel": "telegram",
            "language": "id",
            "created_at": created,
            "updated_at": resolved or created,
        }

    def met(self, status: str, created: datetime, dues: list[datetime]) -> list[datetime | None]:
        """When each stage was met: mostly in time; none of an open ticket's resolution."""
        rng = self.rng

        def when(due: datetime) -> datetime:
            moment = (
                created + (due - created) * rng.uniform(0.1, 1)
                if rng.random() < 0.85
                else due + timedelta(days=rng.uniform(0.1, 6))
            )
            return min(moment, self.now)

        if status == "rejected":
            at = when(dues[0])
            return [at, at, at]
        done = {"new": 0, "assigned": 0, "reopened": 0, "in_progress": 1, "waiting_citizen": 2, "referred": 2}.get(
            status, 3
        )
        return [when(due) if n < done else None for n, due in enumerate(dues)]


def load(connection: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    """Bulk insert: COPY on PostgreSQL, Core executemany on SQLite (its column types applied)."""
    if connection.dialect.name != "postgresql":
        connection.execute(insert(table), rows)
        return
    columns = list(rows[0])
    raw = connection.connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([Jsonb(value) if isinstance(value, dict) else value for value in row.values()])


def seed(db: Database, ctx: JobContext, args: argparse.Namespace, now: datetime) -> tuple[Staff, Staff, float]:
    seeder = Seeder(ctx, now, args.years, random.Random(20261124))
    district, regency = db.run_sync(seeder.staff)
    started = time.perf_counter()
    with db.engine.begin() as connection:
        for first in range(1, args.tickets + 1, CHUNK):
            load(
                connection, Ticket.__table__, seeder.tickets(first, min(CHUNK, args.tickets - first + 1), args.tickets)
            )
            for table, rows in ((SurveyResponse.__table__, seeder.surveys), (Referral.__table__, seeder.referrals)):
                if rows:
                    load(connection, table, rows)
                    rows.clear()
            print(f"\rseeding: {min(first + CHUNK - 1, args.tickets):,} tickets", end="", flush=True)
    if not db.is_sqlite:  # what autovacuum does in time: statistics, and a visibility map for index-only scans
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE ticket, survey_response, referral")
    print()
    return district, regency, time.perf_counter() - started


def median_seconds(db: Database, work: Callable[[Any], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        with db.session() as session:
            started = time.perf_counter()
            work(session)
            times.append(time.perf_counter() - started)
            session.rollback()
    return statistics.median(times)


def explain(db: Database, work: Callable[[Any], object]) -> None:
    """Each statement one digest runs, the time until the next one (fetching and the Python
    work on its rows included), and its plan."""
    seen: list[tuple[str, Any, float]] = []

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        seen.append((statement, parameters, time.perf_counter()))

    event.listen(db.engine, "before_cursor_execute", before)
    with db.session() as session:
        work(session)
        ended = time.perf_counter()
    event.remove(db.engine, "before_cursor_execute", before)
    prefix = "EXPLAIN QUERY PLAN " if db.is_sqlite else "EXPLAIN (ANALYZE, BUFFERS) "
    with db.engine.connect() as connection:
        for (statement, parameters, started), following in zip(seen, [*(s[2] for s in seen[1:]), ended], strict=True):
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            print(f"\n-- {(following - started) * 1000:.1f} ms\n{' '.join(statement.split())}")
            for row in connection.exec_driver_sql(prefix + statement, parameters):
                print("   ", row[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--years", type=float, default=2.0)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder, database(args.database, Path(folder)) as url:
        upgrade(url)
        db = Database(url)
        ctx = JobContext(build_services(Settings(data_dir=Path(folder), database_url=url)))
        now = datetime.now(UTC)
        day: date = ctx.calendar.local_date(now)
        try:
            district, regency, seeding = seed(db, ctx, args, now)
            area = district.districts

            def daily(supervisor: Staff) -> Callable[[Any], object]:
                return lambda session: digest.build_digest(session, ctx=ctx, supervisor=supervisor, day=day, now=now)

            figures = {
                "baseline: count(*) of the district": median_seconds(
                    db,
                    lambda s: s.execute(
                        select(func.count()).select_from(Ticket).where(Ticket.district_code.in_(area))
                    ).scalar_one(),
                    args.runs,
                ),
                "daily digest, one district": median_seconds(db, daily(district), args.runs),
                "daily digest, whole regency": median_seconds(db, daily(regency), args.runs),
                "weekly summary, one district": median_seconds(
                    db,
                    lambda session: digest.build_weekly(session, ctx=ctx, supervisor=district, day=day, now=now),
                    args.runs,
                ),
            }
            counts = db.run_sync(
                lambda s: s.execute(
                    select(
                        select(func.count())
                        .select_from(Ticket)
                        .where(Ticket.district_code.in_(area))
                        .scalar_subquery(),
                        select(func.count())
                        .select_from(Ticket)
                        .where(Ticket.status.in_(sorted(OPEN)))
                        .scalar_subquery(),
                        select(func.count()).select_from(SurveyResponse).scalar_subquery(),
                        select(func.count()).select_from(Referral).scalar_subquery(),
                    )
                ).one()
            )
            if args.explain:
                explain(db, daily(district))
        finally:
            db.close()

    print(
        f"Supervisors' digest, {args.tickets:,} tickets over {args.years:g} years in "
        f"{len(ctx.book.areas.districts)} districts; database {args.database}; median of {args.runs} runs"
    )
    print(
        f"seeded in {seeding:.0f} s; the district has {counts[0]:,} tickets; open {counts[1]:,}; "
        f"survey answers {counts[2]:,}; referrals {counts[3]:,}"
    )
    baseline = figures["baseline: count(*) of the district"]
    for name, seconds in figures.items():
        print(f"{name:<38}{seconds * 1000:>10.1f} ms{seconds / baseline:>10.1f}x")
    slowest = max(seconds for name, seconds in figures.items() if not name.startswith("baseline"))
    print(f"target: every digest under 2 s -> {'met' if slowest < 2 else 'NOT met'}")


if __name__ == "__main__":
    main()
