"""Alembic, driven from code: `satupintu migrate` and `serve` call `upgrade`.

Several `serve` processes started together on one PostgreSQL database (a restart of every
instance behind a load balancer, a systemd template) would each run the same migration at
once, and all but one fail on "relation already exists". So on PostgreSQL an upgrade holds an
advisory lock for its duration: the others wait, then find the schema at head and do nothing.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 0x5A7F_0002  # "satupintu migrations"; keyed by schema too, as the scheduler's lock is


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision`; safe to call on every start, from any number
    of processes at once."""
    if make_url(url).get_backend_name() != "postgresql":
        command.upgrade(alembic_config(url), revision)
        return
    engine = create_engine(url, poolclass=NullPool)
    try:
        # A transaction's lock, held by a transaction left open on a connection of its own while
        # Alembic works on another: it ends with that transaction, on the server connection that
        # took it, even through PgBouncer in transaction pooling (a session lock would not).
        with engine.connect() as lock, lock.begin():
            lock.execute(
                text("SELECT pg_advisory_xact_lock(:key, hashtext(current_schema()))"), {"key": MIGRATION_LOCK}
            )
            command.upgrade(alembic_config(url), revision)
    finally:
        engine.dispose()


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)
