"""Benchmark: the duplicate lookup when a ticket is filed, and how well it tells duplicates.

1. Precision and recall on the labelled pairs (`tests/data/duplicate_pairs.jsonl`, written by
   `tests/data/make_duplicate_pairs.py`): each pair is two reports in one village and category
   group; a pair is suggested when `lookup.judged` scores it at least the threshold, for the
   office's threshold and a few around it. Text scores come from pg_trgm's `similarity()` on a
   PostgreSQL that has it, else from the same measure in Python (both when both are there).
2. What the lookup adds to filing at --tickets tickets (bench/console_seed.py's office, kept for
   the next run, with the category group the chat gives each ticket; loaded with the ticket
   table's indexes dropped and built again after, which is much faster on SQLite; a database
   seeded by console_seed.py itself is used as it is): --filings reports,
   each filed the real way (`Casework.open`, committed), alternately with the lookup and with it
   left out, in the same run on the same data. Prints p50/p99 of each, the added median and the
   lookup's own p50/p99. Target: under 20 ms added at 1,000,000 tickets.

    python bench/duplicates.py sqlite:////tmp/dupikm/bench.db [--tickets 1000000] [--filings 400] [--explain]
    python bench/duplicates.py postgresql+psycopg://postgres@127.0.0.1/bench_dupikm

--explain prints the lookup's queries' plans for one filing. Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import case, event, func, inspect, select, text, update  # noqa: E402

from bench.console_seed import BATCH, CENTRE, FIRST, LAST, STORIES, ConsoleSeeder, seeded  # noqa: E402
from bench.digest import load  # noqa: E402
from bot.app import build_services  # noqa: E402
from bot.settings import Settings  # noqa: E402
from storage import repo  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import Ticket, TicketCounter  # noqa: E402
from workflows.duplicates import lookup  # noqa: E402
from workflows.duplicates.trigrams import similarity  # noqa: E402
from workflows.flowbook import FlowBook  # noqa: E402

PAIRS = ROOT / "tests" / "data" / "duplicate_pairs.jsonl"
THRESHOLDS = (0.15, 0.2, 0.25, 0.3, 0.35, 0.4)


def _words(report: dict[str, Any]) -> str:
    return f"{report['name'] or ''} {report['description']}".strip()


def quality(db: Database, threshold: float) -> None:
    pairs = [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines() if line.strip()]
    scorers: dict[str, Callable[[str, str], float]] = {"python": similarity}
    schema = db.run_sync(lookup.trigram_schema)
    if schema is not None:

        def pg(a: str, b: str) -> float:
            return db.run_sync(
                lambda s: float(s.execute(text(f"SELECT {schema}.similarity(:a, :b)"), {"a": a, "b": b}).scalar_one())
            )

        scorers["pg_trgm"] = pg
    positives = sum(bool(p["same"]) for p in pairs)
    print(f"labelled pairs: {len(pairs)} ({positives} the same person), {PAIRS.relative_to(ROOT)}")
    for name, scorer in scorers.items():
        scores = [
            (lookup.judged(scorer(_words(p["a"]), _words(p["b"])), p["a"]["name"], p["b"]["name"]), bool(p["same"]))
            for p in pairs
        ]
        print(f"  scored by {name}:")
        for t in THRESHOLDS:
            found = [same for score, same in scores if score >= t]
            hits = sum(found)
            precision = hits / len(found) if found else 0.0
            mark = "  ← office.yaml" if abs(t - threshold) < 1e-9 else ""
            print(f"    threshold {t:.2f}: precision {precision:.2f}  recall {hits / positives:.2f}{mark}")


def _groups(book: FlowBook) -> dict[str, str]:
    return {t.key: g.key for kind in ("complaint", "service") for g in book.categories.groups(kind) for t in g.types}


def seed(url: str, *, tickets: int, settings: Settings) -> float:
    """console_seed.py's office, loaded without the ticket indexes (built once at the end)."""
    upgrade(url)
    db = Database(url)
    try:
        book = build_services(settings).book
        groups = _groups(book)
        seeder = ConsoleSeeder(book, datetime.now(UTC), random.Random(20261124))
        started = time.perf_counter()
        db.run_sync(seeder.staff)
        indexes = list(Ticket.__table__.indexes)  # type: ignore[attr-defined]
        with db.engine.begin() as connection:
            for index in indexes:
                index.drop(connection)
        for first in range(1, tickets + 1, BATCH):
            rows = seeder.tickets(first, min(BATCH, tickets - first + 1), tickets)
            for row in rows:
                row["category_group"] = groups.get(row["category"])
            with db.engine.begin() as connection:
                load(connection, Ticket.__table__, rows)  # type: ignore[attr-defined]
            print(f"\rseeding: {first + len(rows) - 1:,} tickets", end="", flush=True)
        print("\nbuilding the ticket indexes…", flush=True)
        with db.engine.begin() as connection:
            load(connection, TicketCounter.__table__, seeder.counters())  # type: ignore[attr-defined]
            if not db.is_sqlite:
                connection.execute(text("SELECT setval(pg_get_serial_sequence('ticket', 'id'), :n)"), {"n": tickets})
            for index in indexes:
                index.create(connection)
        if not db.is_sqlite:
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.exec_driver_sql("VACUUM ANALYZE ticket")
        return time.perf_counter() - started
    finally:
        db.close()


def _with_groups(db: Database, book: FlowBook) -> None:
    """Give the seeded tickets the category group the chat files them with (the seed has none)."""
    groups = _groups(book)
    missing = db.run_sync(
        lambda s: s.execute(
            select(func.count()).select_from(Ticket).where(Ticket.category_group.is_(None))
        ).scalar_one()
    )
    if not missing:
        return
    print(f"setting the category group of {missing:,} seeded tickets…", flush=True)
    with db.engine.begin() as connection:
        connection.execute(
            update(Ticket.__table__).values(category_group=case(groups, value=Ticket.__table__.c.category, else_=None))
        )
    if not db.is_sqlite:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE ticket")


def _answers(book: FlowBook, rng: random.Random) -> dict[str, Any]:
    district = rng.choice(book.areas.districts)
    kind_groups = book.categories.groups("complaint")
    group = rng.choice(kind_groups)
    return {
        "category_group": group.key,
        "category": rng.choice(group.types).key,
        "subject": "other",
        "person_name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
        "district_code": district.code,
        "village_code": rng.choice(district.villages).code,
        "location": {"lat": CENTRE[0] + rng.uniform(-0.05, 0.05), "lon": CENTRE[1] + rng.uniform(-0.05, 0.05)},
        "description": rng.choice(STORIES),
    }


@contextmanager
def _timed_lookup(spent: list[float], enabled: list[bool]) -> Iterator[None]:
    """Filing as it is, its lookup timed; or (enabled[0] False) with the lookup left out."""
    real = lookup.record

    def record(session: Any, **kwargs: Any) -> list[lookup.Match]:
        if not enabled[0]:
            return []
        session.flush()  # the filing's own writes so far, which its commit makes either way
        started = time.perf_counter()
        try:
            return real(session, **kwargs)
        finally:
            spent.append(time.perf_counter() - started)

    lookup.record = record  # type: ignore[assignment]
    try:
        yield
    finally:
        lookup.record = real  # type: ignore[assignment]


def _percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered) * 1000:6.2f} ms  p99 {p99 * 1000:6.2f} ms"


def filing(db: Database, settings: Settings, filings: int, explain: bool) -> None:
    services = build_services(settings)
    book, casework = services.book, services.casework
    rng = random.Random(20261203)
    now = datetime.now(UTC)
    times: dict[bool, list[float]] = {True: [], False: []}
    spent: list[float] = []
    enabled = [True]
    if explain:

        @event.listens_for(db.engine, "before_cursor_execute")
        def keep(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
            if "ticket.created_at >=" in statement and "LIMIT" in statement and not statement.startswith("EXPLAIN"):
                plan = "EXPLAIN QUERY PLAN " if db.is_sqlite else "EXPLAIN ANALYZE "
                rows = conn.exec_driver_sql(plan + statement, parameters).all()
                print("\n".join(str(r[-1] if db.is_sqlite else r[0]) for r in rows), "\n")

    with _timed_lookup(spent, enabled):
        for i in range(filings):
            answers = _answers(book, rng)
            with_lookup = i % 2 == 0
            enabled[0] = with_lookup

            def file(session: Any, number: int = i, answers: dict[str, Any] = answers) -> None:
                contact = repo.get_or_create_contact(
                    session,
                    channel="web",
                    external_id=f"bench-dup-{number}-{now.timestamp()}",
                    chat_id=f"bench-dup-{number}",
                    language="id",
                    display_name=None,
                    now=now,
                )
                casework.open(session, contact=contact, flow="complaint", answers=answers, now=now)

            started = time.perf_counter()
            db.run_sync(file)
            times[with_lookup].append(time.perf_counter() - started)
            if explain and i == 0:
                event.remove(db.engine, "before_cursor_execute", keep)
    with_, without = times[True], times[False]
    print(f"filing without the lookup ({len(without)}): {_percentiles(without)}")
    print(f"filing with the lookup    ({len(with_)}): {_percentiles(with_)}")
    added = (statistics.median(with_) - statistics.median(without)) * 1000
    print(f"added to filing (difference of medians): {added:.2f} ms;  the lookup itself: {_percentiles(spent)}")
    print(f"ratio with/without (medians): {statistics.median(with_) / statistics.median(without):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="database URL: sqlite:////path/file.db or postgresql+psycopg://…")
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--filings", type=int, default=400)
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()
    # The seeded staff have no chats: each card routed to them would log a warning per filing.
    logging.getLogger("workflows").setLevel(logging.ERROR)
    data_dir = Path(args.url.split("///", 1)[1]).parent if args.url.startswith("sqlite") else Path("/tmp")
    settings = Settings(data_dir=data_dir, database_url=args.url, scheduler_tick_seconds=0, config_check_seconds=0)
    db = Database(args.url)
    try:
        have = seeded(db) if _migrated(db) else 0
        if have < args.tickets:
            if have:
                sys.exit(f"{args.url} holds {have:,} tickets, fewer than --tickets: use a new database")
            db.close()
            seconds = seed(args.url, tickets=args.tickets, settings=settings)
            print(f"seeded {args.tickets:,} tickets in {seconds:.0f} s")
            db = Database(args.url)
        book = build_services(settings).book
        quality(db, book.office.duplicates.min_similarity)
        _with_groups(db, book)
        print(f"\nfiling at {seeded(db):,} tickets ({db.engine.dialect.name}):")
        filing(db, settings, args.filings, args.explain)
    finally:
        db.close()


def _migrated(db: Database) -> bool:
    return "ticket" in inspect(db.engine).get_table_names()


if __name__ == "__main__":
    main()
