"""Benchmark: the console's map of cases over a million tickets, over HTTP with the real app.

Seeds the database at URL with bench/console_seed.py (or reuses it when it already holds
tickets), starts `satupintu serve` on it with the scheduler off (so nothing else runs), signs in
as the seeded admin and as a district supervisor, and times GET /console/map.json for the whole
area at city zoom (open cases, then every status), a filtered one (one category, every status),
a supervisor zoomed in to a few streets (single cases), and the map page itself (its case count
and list). Each: --runs requests one after another after two warm-ups, median and p95, next to
a bare aiohttp handler answering a small JSON, measured in the same run; then the PPKS
register's first page and a name search, for the record. Traffic goes to
127.0.0.1 only. Target: every map.json median under 300 ms.

    python bench/console_map.py sqlite:////tmp/console.db [--tickets 1000000] [--runs 30] [--explain]
    python bench/console_map.py postgresql+psycopg://postgres@127.0.0.1/bench_console

--explain prints each map query's time and plan (EXPLAIN QUERY PLAN on SQLite, EXPLAIN ANALYZE
on PostgreSQL); the map's and register's indexes are migration 0008's. Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aiohttp import ClientSession, CookieJar  # noqa: E402
from sqlalchemy import inspect, select  # noqa: E402

from bench.console_seed import CENTRE, PASSWORD, seed, seeded  # noqa: E402
from bench.digest import explain  # noqa: E402
from bench.webhook_load import free_port, percentile, serve, stop, wait_listening  # noqa: E402
from bot.console.map_pages import bbox_of  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import Staff  # noqa: E402
from workflows.console import mapview, register  # noqa: E402
from workflows.flowbook import load_flowbook  # noqa: E402

SUPERVISOR = "supervisor-34.71.04"
# The views the target is for: the map as it opens, filtered, and close in. Every status over the
# whole area is the worst case (all million rows counted), printed for the record.
TARGETED = (
    "whole area, zoom 12, open",
    "one category, zoom 13, every status",
    "supervisor, zoom 16, open",
)  # Umbulharjo
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
BARE_SERVER = """
import sys
from aiohttp import web
SPOTS = [{"lat": -7.8 + i / 1000, "lon": 110.37, "count": i + 2} for i in range(40)]
async def handler(request):
    return web.json_response({"zoom": int(request.query["zoom"]), "points": False, "truncated": False, "spots": SPOTS})
app = web.Application()
app.router.add_get("/map.json", handler)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def around(half: float, lat: float = CENTRE[0], lon: float = CENTRE[1]) -> str:
    return f"{lat - half:.6f},{lon - half:.6f},{lat + half:.6f},{lon + half:.6f}"


# (name, who, path, query)
CASES: list[tuple[str, str, str, dict[str, str]]] = [
    ("whole area, zoom 12, open", "admin", "/console/map.json", {"zoom": "12", "bbox": around(0.12)}),
    (
        "whole area, zoom 12, every status",
        "admin",
        "/console/map.json",
        {"zoom": "12", "bbox": around(0.12), "status": "all"},
    ),
    (
        "one category, zoom 13, every status",
        "admin",
        "/console/map.json",
        {"zoom": "13", "bbox": around(0.06), "category": "lansia_telantar", "status": "all"},
    ),
    ("supervisor, zoom 16, open", SUPERVISOR, "/console/map.json", {"zoom": "16", "bbox": around(0.004)}),
    ("map page (count and list), open", "admin", "/console/map", {}),
    ("register, first page", "admin", "/console/register", {}),
    ("register, a name", SUPERVISOR, "/console/register", {"q": "sri rah"}),
]


async def signed_in(base: str, username: str) -> ClientSession:
    session = ClientSession(cookie_jar=CookieJar(unsafe=True))  # unsafe: cookies from 127.0.0.1
    async with session.get(f"{base}/console/signin") as page:
        token = CSRF.search(await page.text()).group(1)  # type: ignore[union-attr]
    async with session.post(
        f"{base}/console/signin",
        allow_redirects=False,
        data={"csrf": token, "username": username, "password": PASSWORD, "next": "/console/"},
    ) as answer:
        if answer.status != 303:
            raise RuntimeError(f"could not sign in as {username}: HTTP {answer.status}")
    return session


async def timed(session: ClientSession, url: str, params: dict[str, str], runs: int) -> tuple[list[float], int]:
    """Latencies of `runs` requests one after another (after two warm-ups), and the answer's size."""
    latencies, size = [], 0
    for n in range(runs + 2):
        started = time.perf_counter()
        async with session.get(url, params=params) as response:
            body = await response.read()
            if response.status != 200:
                raise RuntimeError(f"{url}: HTTP {response.status}")
        if n >= 2:
            latencies.append(time.perf_counter() - started)
        size = len(body)
    return latencies, size


async def measure(url: str, runs: int) -> dict[str, tuple[list[float], int]]:
    bare_port, ours_port = free_port(), free_port()
    bare = subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(bare_port)])
    results: dict[str, tuple[list[float], int]] = {}
    with tempfile.TemporaryDirectory() as data_dir:
        ours = serve(ours_port, {"SATUPINTU_DATA_DIR": data_dir, "SATUPINTU_SCHEDULER_TICK_SECONDS": "0"}, url)
        try:
            await wait_listening(bare_port, bare)
            await wait_listening(ours_port, ours)
            async with ClientSession() as plain:
                results["bare aiohttp"] = await timed(
                    plain, f"http://127.0.0.1:{bare_port}/map.json", {"zoom": "12"}, runs
                )
            base = f"http://127.0.0.1:{ours_port}"
            sessions = {who: await signed_in(base, who) for who in {case[1] for case in CASES}}
            try:
                for name, who, path, params in CASES:
                    results[name] = await timed(sessions[who], base + path, params, runs)
            finally:
                for session in sessions.values():
                    await session.close()
        finally:
            await stop(ours)
            await stop(bare)
    return results


def show_plans(url: str) -> None:
    db = Database(url)
    centres = load_flowbook().areas.centres()
    try:
        for name, who, path, params in CASES:
            viewer = db.run_sync(lambda s, who=who: s.execute(select(Staff).where(Staff.username == who)).scalar_one())
            filters = mapview.Filters(category=params.get("category"), status=params.get("status", "open"))
            print(f"\n== {name}")
            if path.endswith(".json"):
                bbox, zoom = bbox_of(params["bbox"]), int(params["zoom"])
                explain(
                    db,
                    lambda session, v=viewer, f=filters, b=bbox, z=zoom: mapview.clusters(
                        session, viewer=v, filters=f, bbox=b, zoom=z, centres=centres
                    ),
                )
            elif path.endswith("/map"):
                explain(
                    db,
                    lambda session, v=viewer, f=filters: (
                        mapview.extent(session, viewer=v, filters=f, centres=centres),
                        mapview.listing(session, viewer=v, filters=f, centres=centres),
                    ),
                )
            else:
                query = register.Query(name=params.get("q", ""))
                explain(db, lambda session, v=viewer, q=query: register.people(session, viewer=v, cursor=None, query=q))
    finally:
        db.close()


def report(held: int, args: argparse.Namespace, results: dict[str, tuple[list[float], int]]) -> None:
    print(
        f"Map of cases, {held:,} tickets; database {args.url.split(':', 1)[0].split('+')[0]}; "
        f"{args.runs} requests each, one at a time"
    )
    print(f"{'':<40}{'median ms':>10}{'p95 ms':>10}{'x bare':>10}{'bytes':>10}")
    bare = statistics.median(results["bare aiohttp"][0])
    for name, (latencies, size) in results.items():
        median = statistics.median(latencies)
        print(
            f"{name:<40}{median * 1000:>10.1f}{percentile(latencies, 0.95) * 1000:>10.1f}"
            f"{median / bare:>10.0f}{size:>10,}"
        )
    slowest = max(statistics.median(results[name][0]) for name in TARGETED)
    print(
        f"target: map.json median under 300 ms as it opens, filtered and close in -> "
        f"{'met' if slowest < 0.3 else 'NOT met'}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="database URL: sqlite:////path/file.db or postgresql+psycopg://…")
    parser.add_argument("--tickets", type=int, default=1_000_000, help="how many to seed into an empty database")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()

    db = Database(args.url)
    try:
        held = seeded(db) if inspect(db.engine).has_table("ticket") else 0
    finally:
        db.close()
    if not held:
        with tempfile.TemporaryDirectory() as data_dir:
            print(f"seeded in {seed(args.url, tickets=args.tickets, data_dir=Path(data_dir)):.0f} s")
        held = args.tickets
    started = time.perf_counter()
    upgrade(args.url)  # a database seeded before a newer migration: brought up to date here, not at start-up
    print(f"schema up to date in {time.perf_counter() - started:.0f} s")
    report(held, args, asyncio.run(measure(args.url, args.runs)))
    if args.explain:
        show_plans(args.url)


if __name__ == "__main__":
    main()
