"""`satupintu retention` in a real process: the dry run lists numbers and counts and erases
nothing; a purge killed with SIGKILL half-way loses nothing, and run again it finishes the rest,
each ticket erased exactly once (one audit row each) and every erased ticket's photo file gone."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, insert, select

from bot.settings import Settings
from storage import repo
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Attachment, AuditEntry, Ticket, table_of

ROOT = Path(__file__).resolve().parents[2]
TICKETS = 600
LONG_AGO = datetime(2015, 6, 1, 3, 0, tzinfo=UTC)  # closed eleven years ago: past any period


def _seed(settings: Settings) -> list[str]:
    """Closed tickets long past their period, each with a photo file of its own, and one open
    ticket as old (never purged)."""
    upgrade(settings.effective_database_url)
    db = Database(settings.effective_database_url)
    root = settings.attachments_dir
    try:
        with db.session() as session:
            contact = repo.get_or_create_contact(
                session,
                channel="web",
                external_id="w-old",
                chat_id="w-old",
                language="id",
                display_name="Bu Warsi",
                now=LONG_AGO,
            )
            rows = [
                {
                    "number": f"SP-2015-{i:05d}",
                    "kind": "complaint",
                    "category_group": "lansia",
                    "category": "lansia_telantar",
                    "reporter_contact_id": contact.id,
                    "reporter_phone": "+6281234567890",
                    "subject": "other",
                    "person_name": f"Mbah Sarinah {i}",
                    "person_nik": "3471045507450001",
                    "address": "Jl. Kenanga 3",
                    "district_code": "34.71.04",
                    "village_code": "34.71.04.1001",
                    "latitude": -7.83,
                    "longitude": 110.39,
                    "description": "Nenek tinggal sendiri.",
                    "details": {},
                    "sla": {},
                    "status": "new" if i == 0 else "closed",
                    "urgent": False,
                    "unassigned": False,
                    "version": 1,
                    "channel": "web",
                    "language": "id",
                    "created_at": LONG_AGO,
                    "updated_at": LONG_AGO,
                }
                for i in range(TICKETS + 1)
            ]
            session.execute(insert(table_of(Ticket)), rows)
            ids = {number: ticket_id for number, ticket_id in session.execute(select(Ticket.number, Ticket.id))}
            photos = []
            for number, ticket_id in ids.items():
                relative = f"{number[-2:]}/{number}.png"
                (root / relative).parent.mkdir(parents=True, exist_ok=True)
                (root / relative).write_bytes(b"a photo of " + number.encode())
                os.utime(root / relative, (LONG_AGO.timestamp(), LONG_AGO.timestamp()))  # taken long ago
                photos.append(
                    {
                        "contact_id": contact.id,
                        "ticket_id": ticket_id,
                        "sha256": number.ljust(64, "0")[:64],
                        "path": relative,
                        "content_type": "image/png",
                        "size": 20,
                        "width": 1,
                        "height": 1,
                        "created_at": LONG_AGO,
                    }
                )
            session.execute(insert(table_of(Attachment)), photos)
            session.commit()
        return sorted(n for n in ids if n != "SP-2015-00000")
    finally:
        db.close()


def _environment(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SATUPINTU_DATA_DIR": str(settings.data_dir),
        "DATABASE_URL": settings.effective_database_url,
    }


async def _cli(settings: Settings, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "--log-level",
        "WARNING",
        "retention",
        *args,
        cwd=ROOT,
        env=_environment(settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


def _state(settings: Settings) -> tuple[list[str], list[str]]:
    """(numbers of the tickets erased, subjects of the audit rows that say so)."""
    db = Database(settings.effective_database_url)
    try:
        with db.reading() as session:
            erased = session.execute(select(Ticket.number).where(Ticket.anonymised_at.is_not(None))).scalars().all()  # type: ignore[union-attr]
            audited = (
                session.execute(select(AuditEntry.subject).where(AuditEntry.action == "ticket.anonymised"))
                .scalars()
                .all()
            )
            names = session.execute(
                select(func.count()).where(Ticket.anonymised_at.is_not(None), Ticket.person_name.is_not(None))  # type: ignore[union-attr]
            ).scalar_one()
            assert names == 0, "an erased ticket kept its name"
        return sorted(erased), sorted(str(s) for s in audited)
    finally:
        db.close()


async def test_the_dry_run_lists_without_erasing(settings: Settings) -> None:
    numbers = _seed(settings)
    process = await _cli(settings, "--dry-run")
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    text = out.decode()
    assert process.returncode == 0, text
    assert f"{TICKETS} closed tickets are past their retention period." in text
    assert f"complaint/lansia_telantar: {TICKETS}" in text
    assert numbers[0] in text and numbers[-1] in text and "SP-2015-00000" not in text, "open tickets are kept"
    assert "Mbah Sarinah" not in text and "3471045507450001" not in text
    assert "0 chat addresses of reporters silent for the default period would be forgotten." in text, (
        "one keeps a ticket"
    )
    assert _state(settings) == ([], [])


async def test_a_purge_killed_half_way_resumes_and_erases_each_ticket_once(settings: Settings) -> None:
    numbers = _seed(settings)
    process = await _cli(settings, "--run", "--batch-size", "3")
    assert process.stdout is not None
    lines: list[bytes] = []
    while sum(line.startswith(b"purged ") for line in lines) < 5:
        lines.append(await asyncio.wait_for(process.stdout.readline(), 120))
        assert lines[-1], f"the purge ended before it could be killed: {b''.join(lines).decode()}"
    process.send_signal(signal.SIGKILL)
    await process.wait()

    erased, audited = _state(settings)
    assert 0 < len(erased) < TICKETS, len(erased)
    assert erased == audited, "every committed batch wrote its audit rows, and only those"

    again = await _cli(settings, "--run", "--batch-size", "50")
    out, _ = await asyncio.wait_for(again.communicate(), 300)
    assert again.returncode == 0, out.decode()
    erased, audited = _state(settings)
    assert erased == numbers and audited == numbers, "all purged, each exactly once"
    root = settings.attachments_dir
    left = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.png"))
    assert left == ["00/SP-2015-00000.png"], "erased tickets' photos are gone, the open ticket's stays"
