"""Several processes starting at once on one empty PostgreSQL database each run the
migrations: every one must come up (none fails on a table another just created)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

ROOT = Path(__file__).resolve().parents[2]


def test_four_processes_migrating_one_empty_database_at_once_all_succeed(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite is one file per server: several processes share PostgreSQL")
    code = "import sys; from storage.migrate import upgrade; upgrade(sys.argv[1])"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    processes = [
        subprocess.Popen([sys.executable, "-c", code, database_url], cwd=ROOT, env=env, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    failures = [p.stderr.read().decode() for p in processes if p.wait(timeout=120) != 0]  # type: ignore[union-attr]
    assert failures == []
    engine = create_engine(database_url)
    try:
        assert {"ticket", "outbox_message", "alembic_version"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
