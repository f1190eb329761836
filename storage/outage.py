"""Telling a database that is away (restarting, unreachable, its connection cut) from a bug.

Work that failed because the database was away is worth trying again as it is: an inbound
update kept rather than dropped, a delivery's record written once the server is back. A bug
would fail the same way forever, and is not retried.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError

from storage.db import DatabaseBusy


def database_away(error: BaseException) -> bool:
    """Whether `error` says the database could not be reached or dropped the connection
    (PostgreSQL restarting or down, a cut connection; SQLite busy beyond its timeout)."""
    if isinstance(error, (DatabaseBusy, OperationalError, InterfaceError, DisconnectionError)):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated
