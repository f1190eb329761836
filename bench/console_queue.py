"""Benchmark: the console's queue over a million tickets, through the real app over HTTP.

Seeds --tickets tickets with bench/console_seed.py (or reuses a database already seeded: the
SQLite file or PostgreSQL database named by --url, by default one per size that is kept for the
next run, since seeding a million rows takes minutes), starts the real aiohttp app on a
127.0.0.1 port, signs in through the sign-in form as the supervisor of the busiest district and
as the admin, and times for each: the queue's first page, a filtered page (open tickets of one
category in one district), the page after the first through its cursor, and the CSV export of a
small filter (a month of one category in one district). Each is the median and p95 of --runs
requests, next to a bare aiohttp handler served and measured in the same run. Target: every
queue page under 300 ms (median). Timings are printed, never asserted.

    python bench/console_queue.py [--database sqlite|postgresql] [--tickets 1000000] [--runs 20]
                                  [--url URL] [--explain]

--explain prints each SQL statement of the filtered page with its time and plan (EXPLAIN QUERY
PLAN on SQLite, EXPLAIN ANALYZE on PostgreSQL). PostgreSQL lives on SATUPINTU_TEST_POSTGRES_URL's
server (default: the test server); the database is created if it does not exist.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aiohttp import ClientSession, CookieJar, web  # noqa: E402
from sqlalchemy import create_engine, func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.console_seed import PASSWORD, seed, seeded  # noqa: E402
from bench.digest import explain  # noqa: E402
from bench.sender_rate import DEFAULT_POSTGRES  # noqa: E402
from bench.webhook_load import free_port, percentile  # noqa: E402
from bot.app import create_app  # noqa: E402
from bot.settings import Settings  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import Staff, Ticket  # noqa: E402
from workflows.console import queue  # noqa: E402
from workflows.console.queue import QueueFilter  # noqa: E402

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
NEXT = re.compile(r'href="\?([^"]+)" rel="next"')
TARGET_MS = 300
CATEGORY = "odgj"


def database_url(args: argparse.Namespace) -> str:
    """The database to use: --url, or one kept per size (created on PostgreSQL when missing)."""
    if args.url:
        return args.url
    if args.database == "sqlite":
        return f"sqlite:///{Path(tempfile.gettempdir()) / f'satupintu-console-{args.tickets}.db'}"
    server = make_url(os.environ.get("SATUPINTU_TEST_POSTGRES_URL", DEFAULT_POSTGRES))
    name = f"satupintu_console_{args.tickets}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        if not connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return server.set(database=name).render_as_string(hide_password=False)


def busiest_district(db: Database) -> str:
    return db.run_sync(
        lambda s: s.execute(
            select(Ticket.district_code).group_by(Ticket.district_code).order_by(func.count().desc()).limit(1)
        ).scalar_one()
    )


class Member:
    """A browser signed in through the sign-in form, as a person would."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = ClientSession(cookie_jar=CookieJar(unsafe=True))  # cookies for 127.0.0.1

    async def sign_in(self, username: str) -> None:
        async with self.session.get(f"{self.base}/console/signin") as page:
            token = CSRF.search(await page.text()).group(1)  # type: ignore[union-attr]
        form = {"csrf": token, "username": username, "password": PASSWORD, "next": "/console/"}
        async with self.session.post(f"{self.base}/console/signin", data=form, allow_redirects=False) as answer:
            if answer.status != 303:
                raise RuntimeError(f"sign-in of {username} failed: HTTP {answer.status}")

    async def get(self, path: str) -> bytes:
        async with self.session.get(self.base + path, allow_redirects=False) as answer:
            body = await answer.read()
            if answer.status != 200:
                raise RuntimeError(f"{path}: HTTP {answer.status}")
            return body


async def timed(runs: int, fetch: Callable[[], Awaitable[object]]) -> list[float]:
    """Milliseconds of `runs` requests, after two unmeasured ones (a warm cache, as in use)."""
    for _ in range(2):
        await fetch()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await fetch()
        times.append((time.perf_counter() - started) * 1000)
    return times


async def bare_site(port: int) -> web.AppRunner:
    """The baseline: aiohttp answering a GET with a fixed page and nothing else."""
    body = "<!doctype html><title>queue</title>" + "<tr><td>SP-2026-00001</td></tr>" * 50

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=body, content_type="text/html")

    app = web.Application()
    app.router.add_get("/queue", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def measure(url: str, district: str, args: argparse.Namespace) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as data_dir:
        app = create_app(Settings(data_dir=Path(data_dir), database_url=url, scheduler_tick_seconds=0))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        ours, bare = free_port(), free_port()
        await web.TCPSite(runner, "127.0.0.1", ours).start()
        baseline = await bare_site(bare)
        figures: dict[str, list[float]] = {}
        try:
            async with ClientSession() as plain:

                async def bare_get() -> None:
                    async with plain.get(f"http://127.0.0.1:{bare}/queue") as answer:
                        await answer.read()

                figures["bare aiohttp GET"] = await timed(args.runs, bare_get)
            month_ago = (datetime.now(UTC) - timedelta(days=30)).date().isoformat()
            for who, username in (("supervisor", f"supervisor-{district}"), ("admin", "admin")):
                member = Member(f"http://127.0.0.1:{ours}")
                try:
                    await member.sign_in(username)
                    first = (await member.get("/console/queue")).decode()
                    link = NEXT.search(first)
                    if link is None:
                        raise RuntimeError("the first page has no next-page link")
                    second = "/console/queue?" + link.group(1).replace("&amp;", "&")
                    pages = {
                        "queue, first page": "/console/queue",
                        "queue, filtered": f"/console/queue?status=open&category={CATEGORY}&district={district}",
                        "queue, next page": second,
                        "CSV export, small filter": f"/console/queue/export.csv?status=all&category={CATEGORY}"
                        f"&district={district}&created_from={month_ago}",
                    }
                    for name, path in pages.items():
                        figures[f"{who}: {name}"] = await timed(args.runs, lambda p=path, m=member: m.get(p))
                    rows = (await member.get(pages["CSV export, small filter"])).count(b"\n") - 1
                    print(f"{who}: the small export has {rows} rows")
                finally:
                    await member.session.close()
        finally:
            await baseline.cleanup()
            await runner.cleanup()
    return figures


def explain_filtered(url: str, district: str) -> None:
    db = Database(url)
    try:
        viewer = db.run_sync(
            lambda s: s.execute(select(Staff).where(Staff.username == f"supervisor-{district}")).scalar_one()
        )
        filt = QueueFilter(category=CATEGORY, district=district)
        explain(
            db,
            lambda session: queue.page(
                session, viewer=viewer, filt=filt, after=None, now=datetime.now(UTC), zone=Settings().zone
            ),
        )
    finally:
        db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--url", default=None, help="a database to seed, or reuse if it already holds tickets")
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()

    url = database_url(args)
    db = Database(url)
    try:
        upgrade(url)
        held = seeded(db)
        if held == 0:
            with tempfile.TemporaryDirectory() as folder:
                print(
                    f"seeded {args.tickets:,} tickets in {seed(url, tickets=args.tickets, data_dir=Path(folder)):.0f} s"
                )
            held = args.tickets
        district = busiest_district(db)
    finally:
        db.close()

    figures = asyncio.run(measure(url, district, args))
    if args.explain:
        explain_filtered(url, district)

    database = make_url(url).get_backend_name()
    print(
        f"\nConsole queue over HTTP, {held:,} tickets; database {database}; {args.runs} runs each "
        f"(supervisor of {district}, and the admin)"
    )
    base = statistics.median(figures["bare aiohttp GET"])
    print(f"{'':<40}{'median ms':>10}{'p95 ms':>10}{'x bare':>10}")
    for name, times in figures.items():
        median = statistics.median(times)
        print(f"{name:<40}{median:>10.1f}{percentile(times, 0.95):>10.1f}{median / base:>10.0f}")
    slowest = max(statistics.median(t) for n, t in figures.items() if "queue," in n)
    print(f"target: every queue page under {TARGET_MS} ms (median) -> {'met' if slowest < TARGET_MS else 'NOT met'}")


if __name__ == "__main__":
    main()
