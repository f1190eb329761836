"""A channel's send slots in PostgreSQL: the bot's rate limit, shared by every process that
sends for it (the scheme is `bot/ratelimit.py`'s; this is its storage).

One row per slot and channel. A claim is one short statement: take the row that frees first,
if it is free or its window ends within `ahead` seconds (the claimer waits that out on a
timer), skipping a row another process is claiming that instant, and mark it in flight; when
every row is in flight, the same statement says how long until one frees. The answer is one more. No
lock is held across a send, and every time is the database server's `now()`, the one clock
all the processes share. The claim's `now()` is taken when its statement starts, before it
runs; the answer's time is that plus the time the sender measured from asking to the answer,
so later than the platform's count, and not delayed by the answer's own write. Both err on
the slow side.

PostgreSQL only: a SQLite deployment is one process and keeps its slots in memory.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine, create_engine, event, text

# The connection's statements give up after this, so an overloaded or unreachable server
# makes the sender fall back to its own share of the limit rather than wait.
STATEMENT_TIMEOUT_MS = 2000

_ENSURE = text(
    """
    INSERT INTO send_slot (channel, slot, free_at, holder, ticket)
    SELECT :channel, n, now() - interval '1 day', '', 0 FROM generate_series(0, :count - 1) AS n
    ON CONFLICT (channel, slot) DO NOTHING
    """
)

_CLAIM = text(
    """
    WITH free AS (
        SELECT slot, greatest(free_at, now()) AS start FROM send_slot
        WHERE channel = :channel AND slot < :count AND free_at <= now() + make_interval(secs => :ahead)
        ORDER BY free_at
        LIMIT 1
        FOR UPDATE SKIP LOCKED
    ), taken AS (
        UPDATE send_slot AS s
        SET free_at = free.start + make_interval(secs => :hold), holder = :holder, ticket = s.ticket + 1
        FROM free
        WHERE s.channel = :channel AND s.slot = free.slot
        RETURNING s.slot, s.ticket, EXTRACT(EPOCH FROM free.start - now()) AS delay
    )
    SELECT taken.slot, taken.ticket, taken.delay, EXTRACT(EPOCH FROM now()) AS at,
        (SELECT EXTRACT(EPOCH FROM min(free_at) - now()) FROM send_slot
         WHERE channel = :channel AND slot < :count) AS wait,
        (SELECT count(DISTINCT holder) FROM send_slot
         WHERE channel = :channel AND slot < :count AND holder <> ''
           AND free_at > now() - make_interval(secs => :recent)) AS peers
    FROM (SELECT 1) AS one LEFT JOIN taken ON true
    """
)

_ANSWERED = text(
    """
    UPDATE send_slot SET free_at = to_timestamp(:free_at)
    WHERE channel = :channel AND slot = :slot AND ticket = :ticket
    """
)


@dataclass(frozen=True)
class Claimed:
    """A claim's outcome: the slot, its ticket and the seconds until its window ends, or None
    and the seconds until one frees;
    the server's time of the claim (seconds since the epoch); and how many processes claimed
    a slot of the channel lately (with this one)."""

    slot: int | None
    ticket: int
    delay: float
    wait: float
    at: float
    peers: int


def slot_engine(url: str) -> Engine:
    """A small engine of its own, in autocommit: a claim never queues behind a unit of work on
    the app's pool, and each statement is its own short transaction."""
    engine = create_engine(
        url,
        pool_size=2,
        max_overflow=0,
        pool_pre_ping=True,
        isolation_level="AUTOCOMMIT",
        connect_args={"connect_timeout": max(1, STATEMENT_TIMEOUT_MS // 1000)},
    )

    @event.listens_for(engine, "connect")
    def _timeout(dbapi_connection: object, _record: object) -> None:
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        cursor.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
        cursor.close()

    return engine


def ensure(connection: Connection, *, channel: str, count: int) -> None:
    """The channel's slots exist (a larger limit adds rows; a smaller one ignores the rest)."""
    connection.execute(_ENSURE, {"channel": channel, "count": count})


def claim(
    connection: Connection, *, channel: str, count: int, ahead: float, hold: float, holder: str, recent: float
) -> Claimed:
    """Claim a slot free now or within `ahead` seconds, for `hold` seconds from then (until it
    is answered); `recent`: how far back a process's last claim counts it among the peers."""
    row = connection.execute(
        _CLAIM, {"channel": channel, "count": count, "ahead": ahead, "hold": hold, "holder": holder, "recent": recent}
    ).one()
    return Claimed(
        row.slot,
        int(row.ticket or 0),
        float(row.delay or 0.0),
        float(row.wait or 0.0),
        float(row.at),
        int(row.peers or 0),
    )


def answered(connection: Connection, *, channel: str, slot: int, ticket: int, free_at: float) -> None:
    """The send was answered: the slot frees at `free_at` (the server's clock, seconds since
    the epoch: the answer's time plus a window), if it is still this claim's."""
    connection.execute(_ANSWERED, {"channel": channel, "slot": slot, "ticket": ticket, "free_at": free_at})
