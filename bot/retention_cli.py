"""`satupintu retention --dry-run | --run [--batch-size N]`: what the retention periods take now.

`--dry-run` prints, without changing anything, how many closed tickets are past their period per
category and their numbers (no one's personal data). `--run` purges them now, as the nightly job
does, a batch per transaction (each committed before the next starts), then removes the
released files, forgets the chat addresses of reporters silent for the default period with
nothing left kept, and sweeps files a crash left without a row. Killed half-way, it loses nothing:
run it again and it carries on with what is left.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bot.channels.registry import load_settings
from bot.clock import utc_now
from storage.db import Database
from storage.migrate import upgrade
from workflows import config_store
from workflows.privacy import erasure, retention


def register(commands: Any) -> None:
    command = commands.add_parser("retention", help="list or purge closed tickets past their retention period")
    what = command.add_mutually_exclusive_group(required=True)
    what.add_argument("--dry-run", action="store_true", help="print what would be purged; change nothing")
    what.add_argument("--run", action="store_true", dest="purge", help="purge it now")
    command.add_argument(
        "--batch-size", type=int, default=retention.BATCH, help=f"tickets per transaction (default {retention.BATCH})"
    )
    command.set_defaults(run=_retention)


def _retention(args: argparse.Namespace) -> int:
    from bot.app import build_services  # the server's wiring, loaded only when a command runs

    if args.batch_size < 1:
        print("error: --batch-size must be at least 1", file=sys.stderr)
        return 2
    settings = load_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.effective_database_url)
    db = Database(settings.effective_database_url)
    try:
        with db.session() as session:
            services = build_services(settings, stored=config_store.stored_documents(session))
        book, root = services.book, services.attachments_dir
        if args.dry_run:
            with db.reading() as session:
                found = retention.plan(session, book=book, now=utc_now())
            print(f"{found.total} closed tickets are past their retention period.")
            for kind, category, count in retention.category_lines(found):
                print(f"  {kind}/{category}: {count}")
            for number in found.numbers:
                print(f"  {number}")
            with db.reading() as session:
                chats = retention.silent_chats(session, book=book, now=utc_now())
            print(f"{chats} chat addresses of reporters silent for the default period would be forgotten.")
            return 0
        purged = 0
        while True:
            with db.session() as session:
                numbers = retention.purge_batch(session, book=book, now=utc_now(), limit=args.batch_size)
                released = erasure.take_released_files(session)
                session.commit()
            erasure.remove_files(root, released)
            if not numbers:
                break
            purged += len(numbers)
            print(f"purged {len(numbers)}: {numbers[0]} … {numbers[-1]}", flush=True)
        forgotten = 0
        while True:
            with db.session() as session:
                done = retention.forget_silent_chats(session, book=book, now=utc_now(), limit=args.batch_size)
                session.commit()
            forgotten += done
            if not done:
                break
        with db.reading() as session:
            swept = erasure.sweep_orphan_files(session, root)
        print(f"{purged} tickets purged; {forgotten} chat addresses forgotten; {len(swept)} orphan files removed.")
        return 0
    finally:
        db.close()
