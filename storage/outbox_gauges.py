"""How many outbox rows wait, by channel: what `/metrics` reports as queue depth and held rows.

Read when the metrics are scraped, from the database every process shares, so each process
reports the same numbers (a dashboard takes their max, not their sum). One query, on the
`(channel, status, id)` index: it reads only the rows that wait, never the sent history.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select, tuple_
from sqlmodel import Session

from storage.models import OutboxMessage, table_of
from storage.outbox import HELD, PENDING, SENDING

TABLE = table_of(OutboxMessage)
WAITING = (PENDING, SENDING, HELD)


def waiting(session: Session, *, channels: Sequence[str]) -> dict[tuple[str, str], int]:
    """(channel, status) → rows, for `channels` and the waiting statuses (absent means none)."""
    if not channels:
        return {}
    keys = [(channel, status) for channel in channels for status in WAITING]
    rows = session.execute(
        select(TABLE.c.channel, TABLE.c.status, func.count())
        .where(tuple_(TABLE.c.channel, TABLE.c.status).in_(keys))
        .group_by(TABLE.c.channel, TABLE.c.status)
    ).all()
    return {(row[0], row[1]): int(row[2]) for row in rows}
