"""citizens' data-rights requests

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03

UU 27/2022 gives a citizen the rights to see, correct and have erased what is held about them,
and to withdraw consent, answered within 3×24 hours: each request made in the chat is a row,
with its due time, so the scheduler can chase it and the digest list it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "data_rights_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("ticket_ids", storage.types.JSONType, nullable=False),
        sa.Column("districts", storage.types.JSONType, nullable=False),
        sa.Column("detail", storage.types.JSONType, nullable=False),
        sa.Column("received_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("done_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["contact_id"], ["contact.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_data_rights_request_contact_id", "data_rights_request", ["contact_id"], unique=False)
    op.create_index("ix_data_rights_request_status_due", "data_rights_request", ["status", "due_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_data_rights_request_status_due", table_name="data_rights_request")
    op.drop_index("ix_data_rights_request_contact_id", table_name="data_rights_request")
    op.drop_table("data_rights_request")
