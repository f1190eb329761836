"""Benchmark: the Telegram webhook with N simulated citizens, next to a bare aiohttp handler.

Each citizen types a whole complaint (18 updates, each waiting for the previous answer, as a
real chat does). Our server is a real `satupintu serve` process in webhook mode, its outbox
sender delivering every reply to the local fake Bot API; the baseline is a separate process
running an aiohttp handler that only parses the JSON. The fake API and the load generator live
in this process, as Telegram would live on another machine. Both servers are measured in the
same run, on the same machine, and the ratio is the figure to watch.

    python bench/telegram_webhook.py [--citizens 300] [--rate 100] [--seconds 10] [--database URL]

Throughput: all citizens at once (at most --concurrency requests in flight).
Latency: an open-loop schedule of --rate updates/s for --seconds, p50 and p99.
Traffic goes to 127.0.0.1 only, and every loop is bounded. With BENCH_PROFILE=file the server
runs under cProfile and writes its profile there on exit.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from aiohttp import ClientSession, TCPConnector

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.telegram_api import FakeTelegramAPI  # noqa: E402

TOKEN = "123456:BENCH-TOKEN"
SECRET = "bench_secret"
SCRIPT = [
    "/start", "1", "setuju", "1", "1", "1", "Budi Santoso", "3471014507850001", "45", "1", "1", "1",
    "Jl. Mawar No. 5 RT 01 RW 02", "lewati", "lewati",
    "Tetangga saya lansia hidup sendiri dan butuh bantuan makan.", "lewati", "kirim",
]


@dataclass
class Target:
    name: str
    url: str
    headers: dict[str, str]


def update(update_id: int, user_id: int, text: str) -> dict[str, Any]:
    sender = {"id": user_id, "is_bot": False, "first_name": f"Warga{user_id}", "language_code": "id"}
    message: dict[str, Any] = {"message_id": update_id, "date": int(time.time()), "text": text,
                               "chat": {"id": user_id, "type": "private", "first_name": sender["first_name"]},
                               "from": sender}
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"update_id": update_id, "message": message}


class Load:
    def __init__(self, target: Target, session: ClientSession, first_user: int) -> None:
        self.target = target
        self.session = session
        self.first_user = first_user
        self.update_id = first_user * 100

    async def post(self, user_id: int, text: str) -> float:
        self.update_id += 1
        body = json.dumps(update(self.update_id, user_id, text))
        started = time.perf_counter()
        async with self.session.post(self.target.url, data=body, headers=self.target.headers) as response:
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
    return subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def our_server(fake: FakeTelegramAPI, port: int, data_dir: Path, database_url: str | None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SATUPINTU_DATA_DIR": str(data_dir), "TELEGRAM_BOT_TOKEN": TOKEN,
           "TELEGRAM_API_BASE_URL": fake.base_url, "TELEGRAM_FILE_BASE_URL": fake.base_file_url,
           "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram/webhook", "TELEGRAM_WEBHOOK_SECRET": SECRET,
           # Measures the pipeline, not Telegram's flood limits (bench/sender_rate.py does those).
           "TELEGRAM_RATE_PER_CHAT": "0", "TELEGRAM_RATE_GLOBAL": "0"}
    if database_url:
        env["DATABASE_URL"] = database_url
    command = [sys.executable, *(["-m", "cProfile", "-o", os.environ["BENCH_PROFILE"]] if os.environ.get("BENCH_PROFILE") else []), "-m", "bot.cli", "--log-level", "WARNING", "serve", "--port", str(port)]
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


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


async def measure(target: Target, args: argparse.Namespace, first_user: int, prepare: Callable[[int], None],
                  replies: Callable[[], int]) -> dict[str, float]:
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
    return {"updates/s": rate, "replies/s": reply_rate,
            "p50 ms": percentile(latencies, 0.50) * 1000, "p99 ms": percentile(latencies, 0.99) * 1000}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--citizens", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--database", default=None, help="DATABASE_URL (default: a new SQLite file)")
    args = parser.parse_args()

    fake = FakeTelegramAPI(TOKEN)
    await fake.start()
    bare_port, ours_port = free_port(), free_port()
    bare = bare_server(bare_port)
    with tempfile.TemporaryDirectory() as data_dir:
        ours = our_server(fake, ours_port, Path(data_dir), args.database)
        try:
            await wait_listening(bare_port, bare)
            await wait_listening(ours_port, ours)
            baseline = await measure(Target("bare aiohttp", f"http://127.0.0.1:{bare_port}/webhook",
                                            {"Content-Type": "application/json"}), args, 1_000_000, lambda u: None, lambda: 0)
            measured = await measure(
                Target("satupintu", f"http://127.0.0.1:{ours_port}/telegram/webhook",
                       {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}),
                args, 2_000_000, fake.add_chat, lambda: fake.count_sent,
            )
            await asyncio.sleep(1.0)
            replies, refused = fake.count_sent, sum(1 for e in fake.errors if e[2] != 429)
        finally:
            await stop(ours)
            await stop(bare)
    await fake.close()
    ours = measured

    database = "SQLite" if not args.database else args.database.split("://")[0]
    print(f"Telegram webhook, {args.citizens} citizens x {len(SCRIPT)} updates; latency at {args.rate:.0f} updates/s "
          f"for {args.seconds:.0f} s; database {database}")
    print(f"{'':<14}{'updates/s':>12}{'p50 ms':>10}{'p99 ms':>10}")
    for name, row in (("bare aiohttp", baseline), ("satupintu", ours)):
        print(f"{name:<14}{row['updates/s']:>12.0f}{row['p50 ms']:>10.1f}{row['p99 ms']:>10.1f}")
    print(f"satupintu burst: every reply delivered at {ours['replies/s']:.0f} replies/s (from first update to last reply)")
    print(f"{'ratio':<14}{ours['updates/s'] / baseline['updates/s']:>12.2f}"
          f"{ours['p50 ms'] / baseline['p50 ms']:>10.1f}{ours['p99 ms'] / baseline['p99 ms']:>10.1f}")
    print(f"replies delivered to the fake Bot API: {replies}; refused: {refused}")
    print(f"target: >= 300 updates/s and p99 < 100 ms at 100 updates/s -> "
          f"{'met' if ours['updates/s'] >= 300 and ours['p99 ms'] < 100 else 'NOT met'}")


if __name__ == "__main__":
    asyncio.run(main())
