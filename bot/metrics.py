"""`/metrics`: what an office's monitoring needs to see the service is well, in Prometheus text.

Counters of this process (messages in and out by channel, failed sends by channel and code),
a histogram of how long a unit of work takes, and, read from the shared database when scraped,
the outbox rows waiting to go out and those held for the person's next message. Scrape every
`serve` process on its own address (not through the load balancer): counters are per process
and add up across them; the outbox gauges are the database's, the same in each (take the max).

Nothing personal is in a label: channel names, platform error codes, never a chat or a text.
The endpoint is open unless `SATUPINTU_METRICS_TOKEN` is set, when it wants that bearer token;
a proxy in front should not pass `/metrics` to the internet either way (README, "Running in
production").
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.process_collector import ProcessCollector

from storage import outbox_gauges
from storage.db import Database
from storage.outbox import HELD, PENDING, SENDING

METRICS_PATH = "/metrics"
# A unit of work is a few milliseconds on a quiet SQLite, up to seconds on a loaded PostgreSQL.
UNIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """One process's metrics, in a registry of their own (two apps in one test do not mix)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)  # memory, CPU, open files of this process
        self.messages_in = Counter(
            "satupintu_messages_in", "Inbound messages handled, by channel", ["channel"], registry=self.registry
        )
        self.messages_out = Counter(
            "satupintu_messages_out",
            "Messages delivered: accepted by the platform, or read by the web chat page",
            ["channel"],
            registry=self.registry,
        )
        self.send_failures = Counter(
            "satupintu_send_failures",
            "Sends the platform refused or that failed on the way, by channel and code (retried or not)",
            ["channel", "code"],
            registry=self.registry,
        )
        self.unit_seconds = Histogram(
            "satupintu_unit_of_work_seconds",
            "Time to run and commit one inbound message's unit of work",
            ["channel"],
            buckets=UNIT_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "satupintu_outbox_queue_depth",
            "Outbox rows waiting to be sent or being sent, by channel (from the database)",
            ["channel"],
            registry=self.registry,
        )
        self.held = Gauge(
            "satupintu_outbox_held",
            "Outbox rows held until the person writes again (WhatsApp's 24-hour window), by channel",
            ["channel"],
            registry=self.registry,
        )

    def received(self, channel: str) -> None:
        self.messages_in.labels(channel).inc()

    def delivered(self, channel: str, count: int = 1) -> None:
        if count:
            self.messages_out.labels(channel).inc(count)

    def failed(self, channel: str, code: str) -> None:
        self.send_failures.labels(channel, code).inc()

    def unit_took(self, channel: str, seconds: float) -> None:
        self.unit_seconds.labels(channel).observe(seconds)

    def set_outbox(self, channels: Sequence[str], waiting: dict[tuple[str, str], int]) -> None:
        for channel in channels:
            self.queue_depth.labels(channel).set(
                waiting.get((channel, PENDING), 0) + waiting.get((channel, SENDING), 0)
            )
            self.held.labels(channel).set(waiting.get((channel, HELD), 0))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def scrape_handler(
    metrics: Metrics, db: Database, channels: Callable[[], Sequence[str]], token: str | None
) -> Callable[[web.Request], Any]:
    """The `/metrics` handler: the bearer token checked when one is set (constant time), the
    outbox read on a database worker, then the text exposition."""

    async def scrape(request: web.Request) -> web.Response:
        if token:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return web.Response(status=401, headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
        names = list(channels())
        metrics.set_outbox(names, await db.read(outbox_gauges.waiting, channels=names))
        response = web.Response(body=metrics.exposition())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        response.headers["Cache-Control"] = "no-store"
        return response

    return scrape
