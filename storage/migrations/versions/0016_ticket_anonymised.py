"""tickets whose personal data was erased

Revision ID: 0016
Revises: 0011
Create Date: 2026-12-03

A ticket past its retention period (office.yaml `retention`) or whose citizen asked for erasure
keeps its counts (category, village, status, dates, scores) and loses its personal data; these
columns say when and why, so the nightly purge never takes it twice and resumes where it stopped.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0016"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ticket", sa.Column("anonymised_at", storage.types.UTCDateTime(timezone=True), nullable=True))
    op.add_column("ticket", sa.Column("anonymised_reason", sa.String(length=32), nullable=True))


def downgrade() -> None:
    # Plain ALTER TABLE … DROP COLUMN (SQLite 3.35+): a batch copy of the table would lose the
    # register's expression index.
    op.drop_column("ticket", "anonymised_reason")
    op.drop_column("ticket", "anonymised_at")
