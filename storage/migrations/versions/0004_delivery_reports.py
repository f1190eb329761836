"""delivery reports

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23

WhatsApp reports each message's fate later (delivered, read, failed) by its platform id, and
outside the 24-hour window a message goes out as a template: outbox rows record both (and
how many parts of a message in several requests went out before a retry), and
are found by platform id (a partial index: only WhatsApp's rows).
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sent_as", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True))
        batch_op.add_column(sa.Column("parts_sent", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("delivery", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
        batch_op.add_column(sa.Column("delivery_error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True))
        batch_op.add_column(sa.Column("delivery_at", storage.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_outbox_external",
            ["external_id"],
            unique=False,
            sqlite_where=sa.text("channel = 'whatsapp'"),
            postgresql_where=sa.text("channel = 'whatsapp'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_external")
        batch_op.drop_column("delivery_at")
        batch_op.drop_column("delivery_error")
        batch_op.drop_column("delivery")
        batch_op.drop_column("parts_sent")
        batch_op.drop_column("sent_as")
