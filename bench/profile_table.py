"""Group a py-spy profile by where the time went: the table in bench/README.md.

Reads py-spy's raw output (`py-spy record --format raw`: one stack a line, frames separated
by ";", then the number of samples). Only samples taken while a message was being handled
count: their stack passes through the runner or a unit of work (bot/runner.py, storage/db.py,
on the event loop or a worker thread), so start-up and migrations are left out. Each is
counted at its innermost frame, by the first place in PLACES whose text that frame contains.
Prints each place's share of those samples (threads that were not idle).

    py-spy record --format raw -o /tmp/unit.txt -- python bench/message_profile.py
    python bench/profile_table.py /tmp/unit.txt [--ms-per-message 3.3]
"""

from __future__ import annotations

import argparse
from collections import Counter

HANDLING = ("bot/runner.py", "storage/db.py")  # a stack through these was handling a message

# (text found in the innermost frame, place); the first match wins, else "other".
PLACES = (
    ("psycopg", "driver: psycopg (libpq calls, adapting rows)"),
    ("sqlite3", "driver: sqlite3"),
    ("workflows/engine", "engine (deciding the next step)"),
    ("jinja2", "templates (rendering replies)"),
    ("workflows/texts", "templates (rendering replies)"),
    ("sqlalchemy/orm", "ORM (objects, identity map, flush)"),
    ("sqlmodel", "ORM (objects, identity map, flush)"),
    ("sqlalchemy/sql", "SQLAlchemy: compiling, statement cache"),
    ("sqlalchemy/engine", "SQLAlchemy: executing, results"),
    ("sqlalchemy/pool", "SQLAlchemy: connection pool"),
    ("sqlalchemy", "SQLAlchemy: other"),
    ("concurrent/futures", "threads: handing units over"),
    ("threading.py", "threads: handing units over"),
    ("asyncio", "event loop"),
    ("selectors.py", "event loop"),
    ("json/", "JSON (state, outbox payloads)"),
    ("workflows/", "our workflows (effects, casework)"),
    ("storage/", "our storage (repos, outbox)"),
    ("bot/", "our runner and lanes"),
)


def place_of(frame: str) -> str:
    for text, place in PLACES:
        if text in frame:
            return place
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("raw", help="py-spy's --format raw output")
    parser.add_argument("--ms-per-message", type=float, help="CPU ms a message (message_profile.py): adds a column")
    args = parser.parse_args()
    places = Counter[str]()
    with open(args.raw) as lines:
        for line in lines:
            stack, _, count = line.rstrip().rpartition(" ")
            if any(part in stack for part in HANDLING):
                places[place_of(stack.split(";")[-1])] += int(count)
    total = sum(places.values())
    for place, samples in places.most_common():
        share = samples / total
        ms = f"{share * args.ms_per_message:>8.2f} ms" if args.ms_per_message else ""
        print(f"| {place:<46} | {share:>5.0%} |{ms}")


if __name__ == "__main__":
    main()
