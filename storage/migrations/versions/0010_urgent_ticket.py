"""urgent tickets

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03

A ticket about someone in danger now is urgent: its deadlines count in calendar hours, the
on-call officer is alerted until they accept it, and it comes first in the queue and the
digest. The index serves both the queue's "urgent first" order and the alert job's scan of
urgent tickets not yet accepted.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

INDEX = "ix_ticket_urgent_status_created"


# Plain ALTER TABLE, not a batch: SQLite's batch copies the table and would lose the
# expression index ix_ticket_register (0008), which it cannot reflect.
def upgrade() -> None:
    op.add_column("ticket", sa.Column("urgent", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index(INDEX, "ticket", ["urgent", "status", "created_at", "id"], unique=False)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="ticket")
    op.drop_column("ticket", "urgent")
