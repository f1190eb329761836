"""outbox rows know when they were handed over and which conversation step they answer

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03

After a crash, a message that was handed to the platform but not yet marked sent has an
unknown fate. It is sent again only while the conversation it answers is still where it was
(`conversation.version`, grown by every save, against the row's `conversation_version`);
otherwise it is dropped. `handed_at` records the hand-over, committed before the call.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("handed_at", storage.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("conversation_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("conversation_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_column("conversation_version")
        batch_op.drop_column("conversation_id")
        batch_op.drop_column("handed_at")
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.drop_column("version")
