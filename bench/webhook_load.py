"""What the webhook benchmarks share: simulated citizens typing a whole complaint into a
webhook, a bare aiohttp handler as the baseline measured in the same run, and the report.

Each citizen sends the script's messages one after another, each waiting for the previous
answer, as a real chat does. Throughput: all citizens at once (at most --concurrency requests
in flight). Latency: an open-loop schedule of --rate messages/s for --seconds, p50 and p99.
Traffic goes to 127.0.0.1 only, and every loop is bounded.
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import ClientSession, TCPConnector

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
            for text in SCRIPT:
                async with gate:
                    await self.post(user_id, text)

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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.stdout.read().decode() if process.stdout else ''}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError("server did not start")


def bare_server(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", BARE_SERVER, str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


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


async def measure(
    target: Target,
    args: argparse.Namespace,
    first_user: int,
    prepare: Callable[[int], None],
    replies: Callable[[], int],
) -> dict[str, float]:
    """Burst throughput, then (once every reply of the burst is out) latency at a steady rate."""
    users = args.citizens + int(args.rate * args.seconds) + 10
    for offset in range(users):
        prepare(first_user + offset)
    async with ClientSession(connector=TCPConnector(limit=args.concurrency)) as session:
        load = Load(target, session, first_user)
        before, started = replies(), time.perf_counter()
        rate = await load.throughput(args.citizens, args.concurrency)
        last_reply = await settled(replies)
        reply_rate = (replies() - before) / (last_reply - started) if replies() > before else 0.0
        latencies = await load.latency(args.rate, args.seconds, first_user + args.citizens + 1)
    return {
        "updates/s": rate,
        "replies/s": reply_rate,
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
    parser.add_argument("--database", default=None, help="DATABASE_URL (default: a new SQLite file)")
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
    """Measure the bare handler, then our server (`env` for its port; its data in a new
    folder), and print both with their ratio."""
    bare_port, ours_port = free_port(), free_port()
    bare = bare_server(bare_port)
    with tempfile.TemporaryDirectory() as data_dir:
        ours = serve(ours_port, {"SATUPINTU_DATA_DIR": data_dir, **env(ours_port)}, args.database)
        try:
            await wait_listening(bare_port, bare)
            await wait_listening(ours_port, ours)
            baseline = await measure(bare_target(bare_port), args, 1_000_000, lambda u: None, lambda: 0)
            measured = await measure(target(ours_port), args, 2_000_000, prepare, delivered)
            await asyncio.sleep(1.0)
        finally:
            await stop(ours)
            await stop(bare)
    report(title, args, baseline, measured, delivered(), refused())


def report(
    title: str,
    args: argparse.Namespace,
    baseline: dict[str, float],
    ours: dict[str, float],
    delivered: int,
    refused: int,
) -> None:
    database = "SQLite" if not args.database else args.database.split("://")[0]
    print(
        f"{title}, {args.citizens} citizens x {len(SCRIPT)} messages; latency at {args.rate:.0f} messages/s "
        f"for {args.seconds:.0f} s; database {database}"
    )
    print(f"{'':<14}{'messages/s':>12}{'p50 ms':>10}{'p99 ms':>10}")
    for name, row in (("bare aiohttp", baseline), ("satupintu", ours)):
        print(f"{name:<14}{row['updates/s']:>12.0f}{row['p50 ms']:>10.1f}{row['p99 ms']:>10.1f}")
    print(
        f"satupintu burst: every reply delivered at {ours['replies/s']:.0f} replies/s (from first message to last reply)"
    )
    print(
        f"{'ratio':<14}{ours['updates/s'] / baseline['updates/s']:>12.2f}"
        f"{ours['p50 ms'] / baseline['p50 ms']:>10.1f}{ours['p99 ms'] / baseline['p99 ms']:>10.1f}"
    )
    print(f"replies delivered to the fake API: {delivered}; refused: {refused}")
    print(
        f"target: >= 300 messages/s and p99 < 100 ms at 100 messages/s -> "
        f"{'met' if ours['updates/s'] >= 300 and ours['p99 ms'] < 100 else 'NOT met'}"
    )
