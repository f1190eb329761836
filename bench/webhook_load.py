"""What the webhook benchmarks share: simulated citizens typing a whole complaint into a
webhook, two baselines measured in the same run, and the report against issue 17's targets.

Baselines, each a separate process on the same machine: a bare aiohttp handler that only parses
the JSON, and the same handler plus one INSERT and COMMIT on the database under test (SQLite in
WAL mode inline, or PostgreSQL through psycopg's async mode and a pool of 8 connections): what
the machine allows for a webhook that writes. Then `satupintu serve` itself. With several
--database options (e.g. `--database sqlite --database postgresql://...`) every database is
measured in the one run and PostgreSQL's throughput is set against SQLite's.

Each citizen sends the script's messages one after another, each waiting for the previous
answer, as a real chat does. Throughput: all citizens at once (at most --concurrency requests
in flight). Latency: an open-loop schedule of --rate messages/s for --seconds, p50 and p99.
Traffic goes to 127.0.0.1 only, and every loop is bounded. A PostgreSQL run works in a schema
of its own, dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from aiohttp import ClientSession, TCPConnector
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot.settings import normalise_database_url

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = [
    "/start",
    "1",
    "setuju",
    "1",
    "1",
    "1",
    "Budi Santoso",
    "3471014507850001",
    "45",
    "1",
    "1",
    "1",
    "Jl. Mawar No. 5 RT 01 RW 02",
    "lewati",
    "lewati",
    "Tetangga saya lansia hidup sendiri dan butuh bantuan makan.",
    "lewati",
    "kirim",
]


Encode = Callable[[int, int, str], tuple[bytes, dict[str, str]]]  # (message no., user, text) -> body, headers


@dataclass
class Target:
    """Where the load goes, and how one typed message is put on the wire there."""

    name: str
    url: str
    encode: Encode


class Load:
    def __init__(self, target: Target, session: ClientSession, first_user: int) -> None:
        self.target = target
        self.session = session
        self.first_user = first_user
        self.update_id = first_user * 100

    async def post(self, user_id: int, text: str) -> float:
        self.update_id += 1
        body, headers = self.target.encode(self.update_id, user_id, text)
        started = time.perf_counter()
        async with self.session.post(self.target.url, data=body, headers=headers) as response:
            await response.read()
            if response.status != 200:
                raise RuntimeError(f"{self.target.name}: HTTP {response.status}")
        return time.perf_counter() - started

    async def throughput(self, citizens: int, concurrency: int) -> float:
        """Updates per second with every citizen typing at once."""
        gate = asyncio.Semaphore(concurrency)

        async def one(user_id: int) -> None:
            for typed in SCRIPT:
                async with gate:
                    await self.post(user_id, typed)

        started = time.perf_counter()
        await asyncio.gather(*(one(self.first_user + i) for i in range(citizens)))
        return citizens * len(SCRIPT) / (time.perf_counter() - started)

    async def latency(self, rate: float, seconds: float, first_user: int) -> list[float]:
        """Open loop: an update every 1/rate s, spread over citizens so each chat waits for its
        previous answer; returns the latencies."""
        total = int(rate * seconds)
        citizens = max(1, total // len(SCRIPT) + 1)
        progress = [0] * citizens
        locks = [asyncio.Lock() for _ in range(citizens)]
        latencies: list[float] = []

        async def one(index: int) -> None:
            citizen = index % citizens
            async with locks[citizen]:
                text = SCRIPT[progress[citizen] % len(SCRIPT)]
                progress[citizen] += 1
                latencies.append(await self.post(first_user + citizen, text))

        tasks = []
        started = time.perf_counter()
        for index in range(total):
            delay = started + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(index)))
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=seconds * 10 + 30)
        return latencies


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


BARE_SERVER = """
import sys
from aiohttp import web
async def handler(request):
    await request.json()
    return web.Response(status=200)
app = web.Application()
app.router.add_post("/webhook", handler)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""

# The bare handler plus one INSERT and COMMIT of the update, per request. argv: port, URL.
BARE_COMMIT_SERVER = """
import asyncio, json, sqlite3, sys
from aiohttp import web
port, url = int(sys.argv[1]), sys.argv[2]
TABLE = "CREATE TABLE IF NOT EXISTS bench_update (id INTEGER PRIMARY KEY{serial}, body TEXT NOT NULL)"
async def sqlite_app():
    connection = sqlite3.connect(url, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute(TABLE.format(serial=""))
    async def handler(request):
        body = await request.json()
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("INSERT INTO bench_update (body) VALUES (?)", (json.dumps(body),))
        connection.execute("COMMIT")
        return web.Response(status=200)
    return handler
async def postgresql_app():
    import psycopg
    pool = asyncio.Queue()
    for _ in range(8):
        pool.put_nowait(await psycopg.AsyncConnection.connect(url))
    connection = await pool.get()
    await connection.execute(TABLE.replace("INTEGER PRIMARY KEY{serial}", "BIGSERIAL PRIMARY KEY"))
    await connection.commit()
    pool.put_nowait(connection)
    async def handler(request):
        body = await request.json()
        connection = await pool.get()
        try:
            await connection.execute("INSERT INTO bench_update (body) VALUES (%s)", (json.dumps(body),))
            await connection.commit()
        finally:
            pool.put_nowait(connection)
        return web.Response(status=200)
    return handler
async def make():
    app = web.Application()
    handler = await (postgresql_app() if url.startswith("postgresql") else sqlite_app())
    app.router.add_post("/webhook", handler)
    return app
web.run_app(make(), host="127.0.0.1", port=port, print=None, access_log=None)
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    """Until the server accepts connections: at most two minutes (migrations on a new
    database take over 40 s on a busy 2-core machine)."""
    for _ in range(1200):
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.stdout.read().decode() if process.stdout else ''}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError("server did not start")


def bare_server(port: int, database: str | None = None) -> subprocess.Popen[bytes]:
    """The bare handler; with `database` (a SQLite file or a libpq URL), one commit a request."""
    script, more = (BARE_SERVER, []) if database is None else (BARE_COMMIT_SERVER, [database])
    return subprocess.Popen(
        [sys.executable, "-c", script, str(port), *more], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


@contextmanager
def fresh_database(url: str | None, folder: str) -> Iterator[str]:
    """A new SQLite file in `folder` (no URL, or "sqlite"), or a new schema on the PostgreSQL
    server at `url`, dropped afterwards."""
    if url is None or url == "sqlite":
        yield f"sqlite:///{folder}/bench.db"
        return
    url = normalise_database_url(url)
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def libpq_or_path(url: str) -> str:
    """What the bare-with-commit server connects to: a SQLite file's path, or a libpq URL."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return str(parsed.database)
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


async def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    for _ in range(200):
        if process.poll() is not None:
            return
        await asyncio.sleep(0.05)
    process.kill()


async def settled(count: Callable[[], int], quiet: float = 1.0, limit: float = 120.0) -> float:
    """Wait until `count` stops growing for `quiet` seconds; returns when it last grew."""
    started = last_change = time.perf_counter()
    seen = count()
    while time.perf_counter() - last_change < quiet and time.perf_counter() - started < limit:
        await asyncio.sleep(0.05)
        if count() != seen:
            seen, last_change = count(), time.perf_counter()
    return last_change


def cpu_seconds(pid: int) -> float:
    """The CPU time (user + system) a process has used: unlike its throughput, a cost per
    message that other work on a shared machine hardly changes."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(
    target: Target,
    args: argparse.Namespace,
    first_user: int,
    prepare: Callable[[int], None],
    replies: Callable[[], int],
    pid: int,
) -> dict[str, float]:
    """Burst throughput and the server's CPU time a message (its replies sent), then (once
    every reply of the burst is out) latency at a steady rate."""
    users = args.citizens + int(args.rate * args.seconds) + 10
    for offset in range(users):
        prepare(first_user + offset)
    async with ClientSession(connector=TCPConnector(limit=args.concurrency)) as session:
        load = Load(target, session, first_user)
        before, started, cpu = replies(), time.perf_counter(), cpu_seconds(pid)
        rate = await load.throughput(args.citizens, args.concurrency)
        last_reply = await settled(replies)
        cpu = cpu_seconds(pid) - cpu
        reply_rate = (replies() - before) / (last_reply - started) if replies() > before else 0.0
        latencies = await load.latency(args.rate, args.seconds, first_user + args.citizens + 1)
    return {
        "updates/s": rate,
        "replies/s": reply_rate,
        "cpu ms": cpu * 1000 / (args.citizens * len(SCRIPT)),
        "p50 ms": percentile(latencies, 0.50) * 1000,
        "p99 ms": percentile(latencies, 0.99) * 1000,
    }


def bare_target(port: int) -> Target:
    return Target(
        "bare aiohttp",
        f"http://127.0.0.1:{port}/webhook",
        lambda n, user, text: (
            json.dumps({"n": n, "user": user, "text": text}).encode(),
            {"Content-Type": "application/json"},
        ),
    )


def serve(port: int, env: dict[str, str], database_url: str | None) -> subprocess.Popen[bytes]:
    """`satupintu serve` in its own process with `env` added. With BENCH_PROFILE=file it runs
    under cProfile and writes its profile there on exit."""
    env = {**os.environ, **env}
    if database_url:
        env["DATABASE_URL"] = database_url
    profile = ["-m", "cProfile", "-o", os.environ["BENCH_PROFILE"]] if os.environ.get("BENCH_PROFILE") else []
    command = [sys.executable, *profile, "-m", "bot.cli", "--log-level", "WARNING", "serve", "--port", str(port)]
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def arguments(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--citizens", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--database",
        action="append",
        help="sqlite (a new file) or a PostgreSQL URL; repeat to measure several in one run (default: sqlite)",
    )
    return parser.parse_args()


async def compare(
    title: str,
    args: argparse.Namespace,
    env: Callable[[int], dict[str, str]],
    target: Callable[[int], Target],
    prepare: Callable[[int], None],
    delivered: Callable[[], int],
    refused: Callable[[], int],
) -> None:
    """For each database: the bare handler, the bare handler with one commit, then our server
    (`env` for its port; its data in a new folder); print each with the ratios to the targets,
    and PostgreSQL's throughput against SQLite's when both were measured."""
    throughput: dict[str, float] = {}
    first_user = 1_000_000
    for database in args.database or ["sqlite"]:
        with tempfile.TemporaryDirectory() as data_dir, fresh_database(database, data_dir) as url:
            rows: dict[str, dict[str, float]] = {}
            for name, start in (
                ("bare aiohttp", lambda port: bare_server(port)),
                ("bare + commit", lambda port, url=url: bare_server(port, libpq_or_path(url))),
            ):
                port = free_port()
                process = start(port)
                try:
                    await wait_listening(port, process)
                    rows[name] = await measure(
                        bare_target(port), args, first_user, lambda u: None, lambda: 0, process.pid
                    )
                finally:
                    await stop(process)
                first_user += 1_000_000
            port = free_port()
            before = delivered(), refused()
            ours = serve(port, {"SATUPINTU_DATA_DIR": data_dir, **env(port)}, url)
            try:
                await wait_listening(port, ours)
                rows["satupintu"] = await measure(target(port), args, first_user, prepare, delivered, ours.pid)
                await asyncio.sleep(1.0)
            finally:
                await stop(ours)
            first_user += 1_000_000
        kind = make_url(url).get_backend_name()
        throughput[kind] = rows["satupintu"]["updates/s"]
        report(title, args, kind, rows, delivered() - before[0], refused() - before[1])
    if {"sqlite", "postgresql"} <= throughput.keys():
        ratio = throughput["postgresql"] / throughput["sqlite"]
        verdict = "met" if ratio >= 1 else "NOT met"
        print(f"PostgreSQL / SQLite throughput: {ratio:.2f} (target >= 1.00: {verdict})")


THROUGHPUT_SHARE = 0.15  # of "bare aiohttp + one commit" on the same database
P99_MS = 100.0  # at --rate messages/s


def report(
    title: str,
    args: argparse.Namespace,
    database: str,
    rows: dict[str, dict[str, float]],
    delivered: int,
    refused: int,
) -> None:
    print(
        f"{title}, {args.citizens} citizens x {len(SCRIPT)} messages; latency at {args.rate:.0f} messages/s "
        f"for {args.seconds:.0f} s; database {database}"
    )
    print(f"{'':<16}{'messages/s':>12}{'CPU ms/msg':>12}{'p50 ms':>10}{'p99 ms':>10}")
    for name, row in rows.items():
        print(f"{name:<16}{row['updates/s']:>12.0f}{row['cpu ms']:>12.2f}{row['p50 ms']:>10.1f}{row['p99 ms']:>10.1f}")
    ours, bare, commit = rows["satupintu"], rows["bare aiohttp"], rows["bare + commit"]
    print(
        f"satupintu burst: every reply delivered at {ours['replies/s']:.0f} replies/s (from first message to last reply)"
    )
    print(f"satupintu / bare aiohttp: {ours['updates/s'] / bare['updates/s']:.3f} of its throughput")
    share = ours["updates/s"] / commit["updates/s"]
    print(
        f"satupintu / bare + commit: {share:.3f} of its throughput "
        f"(target >= {THROUGHPUT_SHARE:.2f}: {'met' if share >= THROUGHPUT_SHARE else 'NOT met'})"
    )
    print(
        f"satupintu p99 at {args.rate:.0f} messages/s: {ours['p99 ms']:.1f} ms "
        f"(target <= {P99_MS:.0f} ms: {'met' if ours['p99 ms'] <= P99_MS else 'NOT met'})"
    )
    print(f"replies delivered to the fake API: {delivered}; refused: {refused}")
