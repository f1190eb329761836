"""Benchmark: the retention purge's rate, next to bare batched updates of the same tickets.

Seeds --tickets closed tickets long past their period, each as the chat leaves one: a reporter
of its own with a photo file, its history (filed, accepted, resolved), messages in the reporter's
chat and a card in the one officer's chat, so the officer's chat holds --tickets cards (years
of them), plus --noise other rows in that chat after each ticket. Then times, in the same run,
on the same data, batch by batch (--batch tickets, each batch committed):

- baseline: `UPDATE ticket SET updated_at = updated_at` over each batch's ids (the cheapest write
  that touches the same rows);
- purge: `workflows.privacy.retention.purge_batch` until nothing is left, then the files removed.

Prints tickets a second for each and the ratio. Timings are printed, never asserted.

    python bench/retention.py [--tickets 5000] [--batch 100] [--noise 5] [--database sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select, update  # noqa: E402

from bench.sender_rate import database  # noqa: E402  (a new SQLite file or PostgreSQL schema)
from bot.app import build_services  # noqa: E402
from bot.settings import Settings  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import Attachment, Contact, OutboxMessage, Staff, Ticket, TicketEvent, table_of  # noqa: E402
from workflows.privacy import erasure, retention  # noqa: E402

LONG_AGO = datetime(2015, 6, 1, 3, 0, tzinfo=UTC)
OFFICER_CHAT = "7001"


def seed(db: Database, root: Path, tickets: int, noise: int) -> None:
    with db.session() as session:
        session.execute(
            insert(table_of(Staff)).values(
                name="Budi",
                role="officer",
                districts=[],
                categories=[],
                telegram_user_id=OFFICER_CHAT,
                created_at=LONG_AGO,
            )
        )
        session.execute(
            insert(table_of(Contact)),
            [
                {
                    "channel": "web",
                    "external_id": f"w-{i}",
                    "chat_id": f"w-{i}",
                    "language": "id",
                    "display_name": "Bu Warsi",
                    "phone": "+6281234567890",
                    "created_at": LONG_AGO,
                }
                for i in range(tickets)
            ],
        )
        contacts = dict(session.execute(select(Contact.external_id, Contact.id)).all())
        rows, outbox, moment = [], [], LONG_AGO
        for i in range(tickets):
            number = f"SP-2015-{i + 1:06d}"
            moment += timedelta(minutes=10)
            rows.append(
                {
                    "number": number,
                    "kind": "complaint",
                    "category_group": "lansia",
                    "category": "lansia_telantar",
                    "reporter_contact_id": contacts[f"w-{i}"],
                    "reporter_phone": "+6281234567890",
                    "subject": "other",
                    "person_name": "Mbah Sarinah",
                    "person_nik": "3471045507450001",
                    "address": "Jl. Kenanga 3",
                    "district_code": "34.71.04",
                    "village_code": "34.71.04.1001",
                    "latitude": -7.83,
                    "longitude": 110.39,
                    "description": "Nenek tinggal sendiri.",
                    "details": {},
                    "sla": {},
                    "status": "closed",
                    "urgent": False,
                    "unassigned": False,
                    "version": 4,
                    "channel": "web",
                    "language": "id",
                    "assignee_staff_id": 1,
                    "created_at": moment,
                    "updated_at": moment + timedelta(days=3),
                }
            )
            said = {"text": f"Laporan {number} atas nama Mbah Sarinah", "params": {"number": number}}
            outbox.append(
                {"channel": "web", "chat_id": f"w-{i}", "payload": said, "status": "sent", "created_at": moment}
            )
            outbox.append(
                {
                    "channel": "telegram",
                    "chat_id": OFFICER_CHAT,
                    "payload": said,
                    "status": "sent",
                    "created_at": moment,
                }
            )
            outbox += [
                {
                    "channel": "telegram",
                    "chat_id": OFFICER_CHAT,
                    "payload": {"text": "Ringkasan harian"},
                    "status": "sent",
                    "created_at": moment + timedelta(minutes=1),
                }
                for _ in range(noise)
            ]
        session.execute(insert(table_of(Ticket)), rows)
        session.execute(insert(table_of(OutboxMessage)), outbox)
        ids = dict(session.execute(select(Ticket.number, Ticket.id)).all())
        events, photos = [], []
        for number, ticket_id in ids.items():
            for kind, actor in (("created", "citizen:1"), ("accept", "staff:1"), ("resolve", "staff:1")):
                events.append(
                    {
                        "ticket_id": ticket_id,
                        "at": LONG_AGO,
                        "actor": actor,
                        "kind": kind,
                        "data": {"resolution": "Sudah dibantu."} if kind == "resolve" else {},
                    }
                )
            relative = f"{number[-2:]}/{number}.png"
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            (root / relative).write_bytes(b"photo")
            photos.append(
                {
                    "contact_id": 1,
                    "ticket_id": ticket_id,
                    "sha256": number.ljust(64, "0"),
                    "path": relative,
                    "content_type": "image/png",
                    "size": 5,
                    "width": 1,
                    "height": 1,
                    "created_at": LONG_AGO,
                }
            )
        session.execute(insert(table_of(TicketEvent)), events)
        session.execute(insert(table_of(Attachment)), photos)
        session.commit()


def baseline(db: Database, batch: int) -> float:
    with db.session() as session:
        ids = list(session.execute(select(Ticket.id).order_by(Ticket.id)).scalars())
    started = time.perf_counter()
    for start in range(0, len(ids), batch):
        with db.session() as session:
            table = table_of(Ticket)
            session.execute(
                update(table).where(table.c.id.in_(ids[start : start + batch])).values(updated_at=table.c.updated_at)
            )
            session.commit()
    return time.perf_counter() - started


def purge(db: Database, book: Any, root: Path, batch: int) -> tuple[float, int]:
    done = 0
    started = time.perf_counter()
    while True:
        with db.session() as session:
            numbers = retention.purge_batch(session, book=book, now=datetime.now(UTC), limit=batch)
            released = erasure.take_released_files(session)
            session.commit()
        erasure.remove_files(root, released)
        if not numbers:
            return time.perf_counter() - started, done
        done += len(numbers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=retention.BATCH)
    parser.add_argument("--noise", type=int, default=5, help="other rows in the officer's chat per ticket")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, database(args.database, Path(folder)) as url:
        settings = Settings(data_dir=Path(folder) / "data", database_url=url)
        upgrade(url)
        db = Database(url)
        try:
            seed(db, settings.attachments_dir, args.tickets, args.noise)
            book = build_services(settings).book
            bare = baseline(db, args.batch)
            took, done = purge(db, book, settings.attachments_dir, args.batch)
        finally:
            db.close()
    print(
        f"database {args.database}, {args.tickets} tickets, batches of {args.batch}, "
        f"{args.tickets * (args.noise + 1)} rows in the officer's chat"
    )
    print(f"baseline (bare batched update): {args.tickets / bare:10.0f} tickets/s")
    print(f"purge (erase, audit, files):    {done / took:10.0f} tickets/s  ({took / bare:.1f}x the baseline's time)")
    assert done == args.tickets, f"purged {done} of {args.tickets}"


if __name__ == "__main__":
    main()
