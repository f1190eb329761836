"""Benchmark: 1,000 open web chat streams held by one `satupintu serve`, next to a bare aiohttp
Server-Sent Events handler measured in the same run.

For each server: its resident memory (VmRSS from /proc) before and after --streams streams are
open, then the delay from queueing a message to its arrival on its stream, for --samples
messages one after another, each to a different open stream. On ours, a message is queued the
app's own way: the citizen of that stream types "status" on the chat API (the unit of work queues
the reply and commits; the stream is woken in-process), timed from the request leaving the
client, so the figure is an upper bound that includes handling the message. Then once a row
queued by another process (this one, through storage) to show the slower periodic check. The
bare handler gets a push request that wakes one stream. Target (issue 16): < 100 MB extra for
1,000 streams, a message on the stream < 1 s after it is queued.

    python bench/webchat_live.py [--streams 1000] [--samples 50] [--database URL]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.cookies import SimpleCookie
from pathlib import Path

from aiohttp import ClientResponse, ClientSession, ClientTimeout, DummyCookieJar, TCPConnector

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.webhook_load import free_port, percentile, serve, stop, wait_listening
from bot.channels.webchat import COOKIE, chat_id_of
from bot.settings import normalise_database_url
from storage import outbox
from storage.db import Database

BARE_SERVER = """
import asyncio, sys
from aiohttp import web
waiting = {}
async def stream(request):
    chat = request.query["chat"]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    await response.write(b"retry: 2000\\n\\n")
    event, number = waiting.setdefault(chat, asyncio.Event()), 0
    while True:
        try:
            await asyncio.wait_for(event.wait(), 15)
        except TimeoutError:
            await response.write(b": keep-alive\\n\\n")
            continue
        event.clear()
        number += 1
        await response.write(f"id: {number}\\nevent: message\\ndata: {{}}\\n\\n".encode())
async def push(request):
    waiting[request.query["chat"]].set()
    return web.Response()
app = web.Application()
app.router.add_get("/stream", stream)
app.router.add_post("/push", push)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


@dataclass
class Streams:
    """Open SSE responses, each read by a task that notes when each event arrived."""

    responses: list[ClientResponse] = field(default_factory=list)
    arrivals: list[asyncio.Queue[float]] = field(default_factory=list)
    readers: list[asyncio.Task[None]] = field(default_factory=list)

    async def open(self, session: ClientSession, url: str, headers: dict[str, str]) -> None:
        response = await session.get(url, headers=headers)
        if response.status != 200:
            raise RuntimeError(f"stream: HTTP {response.status}")
        first = await response.content.readline()  # "retry: ..." once the server holds the stream
        if not first.startswith(b"retry:"):
            raise RuntimeError(f"stream: unexpected {first!r}")
        queue: asyncio.Queue[float] = asyncio.Queue()
        self.responses.append(response)
        self.arrivals.append(queue)
        self.readers.append(asyncio.create_task(self._read(response, queue)))

    @staticmethod
    async def _read(response: ClientResponse, queue: asyncio.Queue[float]) -> None:
        async for line in response.content:
            if line.startswith(b"id:"):
                queue.put_nowait(time.perf_counter())

    async def close(self) -> None:
        for reader in self.readers:
            reader.cancel()
        await asyncio.gather(*self.readers, return_exceptions=True)
        for response in self.responses:
            response.close()


async def hold(pid: int, count: int, opener: Callable[[int], Awaitable[None]], settle: float = 1.0) -> tuple[int, int]:
    """RSS before and after opening `count` streams (100 at a time), in kB."""
    await asyncio.sleep(settle)
    before = rss_kb(pid)
    for start in range(0, count, 100):
        await asyncio.gather(*(opener(i) for i in range(start, min(count, start + 100))))
    await asyncio.sleep(settle)
    return before, rss_kb(pid)


async def delays(streams: Streams, samples: int, queue_one: Callable[[int], Awaitable[float]]) -> list[float]:
    """Queue a message for stream i (i spread over all of them) and time its first event."""
    found = []
    step = max(1, len(streams.responses) // samples)
    for index in range(0, step * samples, step):
        arrivals = streams.arrivals[index % len(streams.responses)]
        while not arrivals.empty():
            arrivals.get_nowait()
        started = await queue_one(index % len(streams.responses))
        found.append(await asyncio.wait_for(arrivals.get(), 30) - started)
        await asyncio.sleep(0.05)  # let the rest of that reply's events arrive before the next
    return found


async def bare(args: argparse.Namespace, session: ClientSession) -> dict[str, float]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(port)])
    streams = Streams()
    try:
        await wait_listening(port, process)
        base = f"http://127.0.0.1:{port}"
        before, after = await hold(
            process.pid, args.streams, lambda i: streams.open(session, f"{base}/stream?chat={i}", {})
        )

        async def push(index: int) -> float:
            started = time.perf_counter()
            async with session.post(f"{base}/push?chat={index}") as response:
                await response.read()
            return started

        found = await delays(streams, args.samples, push)
    finally:
        await streams.close()
        await stop(process)
    return figures(before, after, found)


def figures(before_kb: int, after_kb: int, found: list[float]) -> dict[str, float]:
    return {
        "extra MB": (after_kb - before_kb) / 1024,
        "p50 ms": percentile(found, 0.5) * 1000,
        "p99 ms": percentile(found, 0.99) * 1000,
    }


async def issued_session(session: ClientSession, base: str) -> str:
    """A session the server issued, as a browser gets one by opening the page (invented ones are refused)."""
    async with session.get(f"{base}/", headers={"Cookie": ""}) as page:
        await page.read()
        return SimpleCookie(page.headers["Set-Cookie"])[COOKIE].value


async def ours(args: argparse.Namespace, session: ClientSession) -> dict[str, float]:

    port = free_port()
    streams = Streams()
    with tempfile.TemporaryDirectory() as data_dir:
        process = serve(port, {"SATUPINTU_DATA_DIR": data_dir}, args.database)
        try:
            await wait_listening(port, process)
            base = f"http://127.0.0.1:{port}"
            tokens = [await issued_session(session, base) for _ in range(args.streams)]  # warms templates too
            cookie = [{"Cookie": f"{COOKIE}={token}"} for token in tokens]
            before, after = await hold(
                process.pid,
                args.streams,
                lambda i: streams.open(session, f"{base}/api/chat/stream?after=0", cookie[i]),
            )

            async def ask_status(index: int) -> float:
                started = time.perf_counter()
                body = {"client_id": uuid.uuid4().hex, "text": "status", "after": 0}
                headers = {**cookie[index], "X-Satupintu-Chat": "1"}
                async with session.post(f"{base}/api/chat/send", json=body, headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"send: HTTP {response.status}")
                return started

            found = await delays(streams, args.samples, ask_status)

            db = Database(
                normalise_database_url(args.database) if args.database else f"sqlite:///{data_dir}/satupintu.db"
            )
            chat_id = chat_id_of(tokens[-1])

            async def from_another_process(index: int) -> float:
                started = time.perf_counter()
                row = {"text": "bench"}
                db.run_sync(
                    outbox.enqueue_many,
                    channel="web",
                    chat_id=chat_id,
                    contact_id=None,
                    payloads=[row],
                    now=datetime.now(UTC),
                )
                return started

            [elsewhere] = await delays(Streams(streams.responses[-1:], streams.arrivals[-1:]), 1, from_another_process)
            db.close()
        finally:
            await streams.close()
            await stop(process)
    return {**figures(before, after, found), "elsewhere ms": elsewhere * 1000}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--database", default=None, help="DATABASE_URL (default: a new SQLite file)")
    args = parser.parse_args()
    timeout = ClientTimeout(total=None, sock_read=None)
    async with ClientSession(connector=TCPConnector(limit=0), cookie_jar=DummyCookieJar(), timeout=timeout) as session:
        baseline = await bare(args, session)
        measured = await ours(args, session)
    database = "SQLite" if not args.database else args.database.split("://")[0]
    print(f"web chat streams: {args.streams} open, {args.samples} messages timed; database {database}")
    print(f"{'':<14}{'extra MB':>10}{'p50 ms':>10}{'p99 ms':>10}")
    for name, row in (("bare aiohttp", baseline), ("satupintu", measured)):
        print(f"{name:<14}{row['extra MB']:>10.1f}{row['p50 ms']:>10.1f}{row['p99 ms']:>10.1f}")
    print(f"satupintu, a row queued by another process: {measured['elsewhere ms']:.0f} ms (the periodic check)")
    met = measured["extra MB"] < 100 and measured["p99 ms"] < 1000
    print(f"target: < 100 MB extra for the streams and p99 < 1 s -> {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    asyncio.run(main())
