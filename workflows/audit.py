"""The audit trail of what staff did outside a ticket: sign-ins, exports, configuration, staff.

Ticket work has its own trail (`ticket_event`); this one answers "who changed the routing,
who exported the register, who signed in" — what UU 27/2022 expects an office to be able to
show about personal data it holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from storage.models import AuditEntry

CLI = "cli"
Actor = int | str
"""Who did it: a staff member's id, or the name of a tool the deployment ran (`CLI`), which
has no staff row and is kept in the entry's data as `actor`."""


def record(
    session: Session,
    *,
    staff_id: int | None,
    action: str,
    now: datetime,
    subject: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> None:
    session.add(
        AuditEntry(
            at=now,
            staff_id=staff_id,
            action=action[:48],
            subject=(subject or None) and subject[:128],
            data=dict(data or {}),
        )
    )


def record_by(
    session: Session,
    *,
    actor: Actor,
    action: str,
    now: datetime,
    subject: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> None:
    """`record` for an action a staff member or a tool may take (the staff admin's, from the
    console or the CLI)."""
    if isinstance(actor, str):
        record(session, staff_id=None, action=action, now=now, subject=subject, data={**(data or {}), "actor": actor})
    else:
        record(session, staff_id=actor, action=action, now=now, subject=subject, data=data)


def recent(session: Session, *, limit: int = 200, before_id: int | None = None) -> Sequence[AuditEntry]:
    """Newest first, a page at a time."""
    query = select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(limit)
    if before_id is not None:
        query = query.where(col(AuditEntry.id) < before_id)
    return session.execute(query).scalars().all()
