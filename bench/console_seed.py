"""Seed a console-sized office: N tickets (default a million) with the personal data the queue
and its exports show, and the staff who work them.

The schema is the real one (`storage.migrate.upgrade`). Tickets go in by batches of 10,000, one
transaction each (COPY on PostgreSQL, Core executemany on SQLite: `bench.digest.load`), in
creation order over the last three years, spread unevenly over the office's districts and
villages, its categories, channels and statuses: about 15% still open, most of them recent,
some long overdue. Locations fall around Yogyakarta (-7.80, 110.37 ± 0.05). Staff: an admin,
and per district a supervisor and two officers; the admin and every supervisor can sign in with
the password `PASSWORD` (usernames `admin`, `supervisor-<district code>`).

    python bench/console_seed.py sqlite:////tmp/console.db [--tickets 1000000]
    python bench/console_seed.py postgresql+psycopg://postgres@127.0.0.1/bench_console
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, text  # noqa: E402

from bench.digest import load  # noqa: E402
from bot.app import build_services  # noqa: E402
from bot.settings import Settings  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import Contact, Staff, Ticket, TicketCounter  # noqa: E402
from workflows import audit, signin  # noqa: E402
from workflows.flowbook import FlowBook  # noqa: E402
from workflows.validation.ticket_number import format_ticket_number  # noqa: E402

BATCH = 10_000
PASSWORD = "bench-console-password"
YEARS = 3
CENTRE = (-7.80, 110.37)
OPEN_MIX = (("new", "assigned", "in_progress", "waiting_citizen", "referred", "reopened"), (12, 32, 70, 82, 95, 100))
DONE_MIX = (("closed", "resolved", "rejected"), (80, 88, 100))
CHANNELS = (("telegram", "whatsapp", "web", "desk"), (45, 80, 92, 100))
FIRST = (
    "Sri",
    "Budi",
    "Siti",
    "Agus",
    "Dewi",
    "Joko",
    "Wahyu",
    "Sarinah",
    "Tri",
    "Eko",
    "Rina",
    "Bambang",
    "Ani",
    "Hadi",
    "Lestari",
    "Sutrisno",
    "Yuni",
    "Slamet",
    "Endang",
    "Purwanto",
)
LAST = (
    "Rahayu",
    "Santoso",
    "Wulandari",
    "Prasetyo",
    "Hartono",
    "Susanti",
    "Nugroho",
    "Widodo",
    "Kurniawati",
    "Setiawan",
    "Handayani",
    "Saputra",
    "Lestari",
    "Suryani",
    "Wibowo",
)
STREETS = (
    "Kenanga",
    "Mawar",
    "Melati",
    "Kaliurang",
    "Parangtritis",
    "Sisingamangaraja",
    "Kusumanegara",
    "Veteran",
    "Imogiri",
    "Gedongkuning",
)
STORIES = (
    "Lansia tinggal sendiri, belum makan dua hari.",
    "Anak tidak sekolah dan sering di jalan.",
    "Rumah rusak berat setelah hujan angin.",
    "Belum menerima bantuan sosial bulan ini.",
    "Mohon surat keterangan tidak mampu untuk berobat.",
    "Warga dengan gangguan jiwa dipasung keluarga.",
)


class ConsoleSeeder:
    """Rows for one office, generated batch by batch (never a million dicts at once)."""

    def __init__(self, book: FlowBook, now: datetime, rng: random.Random) -> None:
        self.book, self.now, self.rng = book, now, rng
        self.span = timedelta(days=365 * YEARS)
        self.districts = [(d.code, [v.code for v in d.villages]) for d in book.areas.districts]
        self.weights = list(itertools.accumulate(rng.uniform(0.5, 1.5) for _ in self.districts))
        self.categories = {
            kind: [t.key for g in book.categories.groups(kind) for t in g.types] for kind in ("complaint", "service")
        }
        self.officers: dict[str, list[int]] = {}
        self.sequences: dict[int, int] = {}

    def staff(self, session: Any) -> None:
        """The admin, and a supervisor and two officers per district."""

        def hire(name: str, role: str, districts: list[str], username: str | None = None) -> int:
            row = Staff(name=name, role=role, districts=districts, created_at=self.now - self.span)
            session.add(row)
            session.flush()
            if username:
                signin.set_password(
                    session, staff=row, username=username, password=PASSWORD, by=audit.CLI, now=self.now
                )
            return row.id  # type: ignore[return-value]

        hire("Admin Dinas", "admin", [], "admin")
        for district in self.book.areas.districts:
            hire(f"Supervisor {district.name}", "supervisor", [district.code], f"supervisor-{district.code}")
            self.officers[district.code] = [
                hire(f"Petugas {district.name} {n}", "officer", [district.code]) for n in (1, 2)
            ]
        session.add(
            Contact(channel="web", external_id="bench-console", chat_id="bench", created_at=self.now - self.span)
        )

    def tickets(self, first_id: int, count: int, total: int) -> list[dict[str, Any]]:
        """Tickets `first_id`… in creation order, evenly over the span."""
        rows = []
        for ticket_id in range(first_id, first_id + count):
            created = self.now - self.span + self.span * ((ticket_id - 0.5) / total)
            rows.append(self.ticket(ticket_id, min(created, self.now - timedelta(minutes=1))))
        return rows

    def ticket(self, ticket_id: int, created: datetime) -> dict[str, Any]:
        rng = self.rng
        code, villages = rng.choices(self.districts, cum_weights=self.weights)[0]
        kind = "complaint" if rng.random() < 0.65 else "service"
        recent = self.now - created < timedelta(days=90)
        is_open = rng.random() < (0.6 if recent else 0.11)
        statuses, weights = OPEN_MIX if is_open else DONE_MIX
        status = rng.choices(statuses, cum_weights=weights)[0]
        due = created + timedelta(days=rng.choice((1, 3, 5, 14)), hours=rng.uniform(0, 10))
        resolved = None if is_open else min(created + timedelta(days=rng.uniform(0.5, 20)), self.now)
        assignee = None if status == "new" else rng.choice(self.officers[code])
        self.sequences[created.year] = sequence = self.sequences.get(created.year, 0) + 1
        first, last = rng.choice(FIRST), rng.choice(LAST)
        return {
            "id": ticket_id,
            "number": format_ticket_number(self.book.settings.ticket_prefix, created.year, sequence),
            "kind": kind,
            "category_group": None,
            "category": rng.choice(self.categories[kind]),
            "reporter_contact_id": 1,
            "reporter_phone": f"+62812{rng.randrange(10**7, 10**8)}",
            "subject": "other",
            "person_name": f"{first} {last}",
            "person_nik": f"3471{rng.randrange(10**11, 10**12)}",
            "person_age": rng.randrange(1, 95),
            "person_sex": rng.choice("LP"),
            "address": f"Jl. {rng.choice(STREETS)} No. {rng.randrange(1, 200)} RT {rng.randrange(1, 20):02d}",
            "district_code": code,
            "village_code": rng.choice(villages),
            "latitude": CENTRE[0] + rng.uniform(-0.05, 0.05),
            "longitude": CENTRE[1] + rng.uniform(-0.05, 0.05),
            "description": rng.choice(STORIES),
            "details": {},
            "status": status,
            "team": None,
            "assignee_staff_id": assignee,
            "unassigned": False,
            "version": 3,
            "sla": {"resolution": {"due": due.isoformat(), "met": resolved.isoformat() if resolved else None}},
            "due_at": None if resolved else due,
            "sla_stage": None if resolved else "resolution",
            "citizen_updated_at": created,
            "resolved_at": resolved if status in ("resolved", "closed") else None,
            "channel": rng.choices(CHANNELS[0], cum_weights=CHANNELS[1])[0],
            "language": "id",
            "created_at": created,
            "updated_at": resolved or created + timedelta(hours=rng.uniform(0, 48)),
        }

    def counters(self) -> list[dict[str, Any]]:
        prefix = self.book.settings.ticket_prefix
        return [{"scope": f"{prefix}-{year}", "value": value} for year, value in self.sequences.items()]


def seeded(db: Database) -> int:
    """How many tickets the database already holds (0: a new one to seed)."""
    return db.run_sync(lambda session: session.execute(select(func.count()).select_from(Ticket)).scalar_one())


def seed(url: str, *, tickets: int, data_dir: Path, quiet: bool = False) -> float:
    """Migrate the database at `url` and fill it; returns the seconds it took."""
    upgrade(url)
    db = Database(url)
    try:
        book = build_services(Settings(data_dir=data_dir, database_url=url)).book
        seeder = ConsoleSeeder(book, datetime.now(UTC), random.Random(20261124))
        started = time.perf_counter()
        db.run_sync(seeder.staff)
        for first in range(1, tickets + 1, BATCH):
            rows = seeder.tickets(first, min(BATCH, tickets - first + 1), tickets)
            with db.engine.begin() as connection:
                load(connection, Ticket.__table__, rows)
            if not quiet:
                print(f"\rseeding: {first + len(rows) - 1:,} tickets", end="", flush=True)
        with db.engine.begin() as connection:
            load(connection, TicketCounter.__table__, seeder.counters())
            if not db.is_sqlite:  # explicit ids: move the sequence past them
                connection.execute(text("SELECT setval(pg_get_serial_sequence('ticket', 'id'), :n)"), {"n": tickets})
        if not db.is_sqlite:  # what autovacuum does in time: statistics and a visibility map
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.exec_driver_sql("VACUUM ANALYZE ticket")
        if not quiet:
            print()
        return time.perf_counter() - started
    finally:
        db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="database URL: sqlite:////path/file.db or postgresql+psycopg://…")
    parser.add_argument("--tickets", type=int, default=1_000_000)
    args = parser.parse_args()
    data_dir = Path(args.url.split("///", 1)[1]).parent if args.url.startswith("sqlite") else Path("/tmp")
    seconds = seed(args.url, tickets=args.tickets, data_dir=data_dir)
    print(f"seeded {args.tickets:,} tickets in {seconds:.0f} s")


if __name__ == "__main__":
    main()
