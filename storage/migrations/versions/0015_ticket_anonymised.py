"""tickets whose personal data was erased; the audit viewer's indexes

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03

A ticket past its retention period (office.yaml `retention`) or whose citizen asked for erasure
keeps its counts (category, village, status, dates, scores) and loses its personal data; these
columns say when and why, so the nightly purge never takes it twice and resumes where it stopped.
The console's audit viewer reads one staff member's work (views in audit_entry, changes in
ticket_event) over a time window, or a ticket's: each from an index.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ticket", sa.Column("anonymised_at", storage.types.UTCDateTime(timezone=True), nullable=True))
    op.add_column("ticket", sa.Column("anonymised_reason", sa.String(length=32), nullable=True))
    op.create_index("ix_ticket_event_actor_at", "ticket_event", ["actor", "at"])
    op.create_index("ix_ticket_event_at", "ticket_event", ["at"])
    op.create_index("ix_audit_entry_staff_at", "audit_entry", ["staff_id", "at"])
    op.create_index("ix_audit_entry_subject_at", "audit_entry", ["subject", "at"])


def downgrade() -> None:
    op.drop_index("ix_audit_entry_subject_at", table_name="audit_entry")
    op.drop_index("ix_audit_entry_staff_at", table_name="audit_entry")
    op.drop_index("ix_ticket_event_at", table_name="ticket_event")
    op.drop_index("ix_ticket_event_actor_at", table_name="ticket_event")
    # Plain ALTER TABLE … DROP COLUMN (SQLite 3.35+): a batch copy of the table would lose the
    # register's expression index.
    op.drop_column("ticket", "anonymised_reason")
    op.drop_column("ticket", "anonymised_at")
