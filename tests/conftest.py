"""Shared fixtures: the database under test, chosen by SATUPINTU_TEST_DB (sqlite | postgresql).

SQLite tests use a real file per test. PostgreSQL tests use a fresh schema per test on the
server named by SATUPINTU_TEST_POSTGRES_URL (default: trust auth on 127.0.0.1:5432, database
`test`); when it cannot be reached they skip with the reason — except under CI, where that is
a failure, since CI must prove both databases.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bot.settings import Settings

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _kind() -> str:
    kind = os.environ.get("SATUPINTU_TEST_DB", "sqlite").lower()
    if kind not in ("sqlite", "postgresql"):
        raise pytest.UsageError("SATUPINTU_TEST_DB must be sqlite or postgresql")
    return kind


def pytest_report_header(config: pytest.Config) -> str:
    return f"satupintu database under test: {_kind()}"


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    if _kind() == "sqlite":
        yield f"sqlite:///{tmp_path / 'satupintu.db'}"
        return
    server = os.environ.get("SATUPINTU_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as error:
        admin.dispose()
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {server} is required in CI: {error}")
        pytest.skip(f"PostgreSQL not reachable at {server}: {error.__class__.__name__}")
    separator = "&" if "?" in server else "?"
    yield f"{server}{separator}options=-csearch_path%3D{schema}"
    with admin.connect() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """The app's settings under test. The scheduler and the configuration check are off: their
    tests run ticks and checks themselves, and a background one would make other tests depend
    on timing."""
    return Settings(
        data_dir=tmp_path / "data", database_url=database_url, scheduler_tick_seconds=0, config_check_seconds=0
    )
