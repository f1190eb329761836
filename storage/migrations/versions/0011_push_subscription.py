"""web push subscriptions of the web chat

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03

A citizen whose chat page is closed can be told, through their browser's push service, that
the office has written; the browser's subscription (its endpoint and keys) is kept per chat.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "push_subscription",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("endpoint", sa.String(length=1000), nullable=False),
        sa.Column("p256dh", sa.String(length=200), nullable=False),
        sa.Column("auth", sa.String(length=100), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("endpoint"),
    )
    op.create_index("ix_push_subscription_chat_id", "push_subscription", ["chat_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_push_subscription_chat_id", table_name="push_subscription")
    op.drop_table("push_subscription")
