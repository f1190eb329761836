"""send slots: one rate limit for the whole bot, across processes

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03

Several `serve` processes on one bot used to split the platform's limit by hand. Each send now
claims one of a channel's slots (as many as the platform allows in its window), kept here where
every process sees them (`storage/send_slots.py`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "send_slot",
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("free_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("ticket", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("channel", "slot"),
    )


def downgrade() -> None:
    op.drop_table("send_slot")
