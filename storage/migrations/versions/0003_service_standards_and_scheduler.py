"""service standards and scheduler

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

Service-standard due times on tickets (indexed for the scheduler's scans), an idempotency
key on outbox rows queued by scheduled jobs, and the SQLite scheduler lease.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import storage.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scheduler_lease",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("holder", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("until", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dedupe_key", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True))
        batch_op.create_unique_constraint("uq_outbox_dedupe_key", ["dedupe_key"])

    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "sla",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
                nullable=False,
                server_default="{}",
            )
        )
        batch_op.add_column(sa.Column("sla_stage", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=True))
        batch_op.add_column(sa.Column("citizen_updated_at", storage.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_ticket_district_status", ["district_code", "status"], unique=False)
        batch_op.create_index("ix_ticket_due", ["due_at"], unique=False)
        batch_op.create_index("ix_ticket_citizen_updated", ["citizen_updated_at"], unique=False)
        batch_op.create_index("ix_ticket_created", ["created_at"], unique=False)
        batch_op.create_index("ix_ticket_resolved", ["resolved_at"], unique=False)

    with op.batch_alter_table("survey_response", schema=None) as batch_op:
        batch_op.create_index("ix_survey_response_created", ["created_at"], unique=False)

    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.create_index("ix_conversation_expires", ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.drop_index("ix_conversation_expires")

    with op.batch_alter_table("survey_response", schema=None) as batch_op:
        batch_op.drop_index("ix_survey_response_created")

    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_index("ix_ticket_resolved")
        batch_op.drop_index("ix_ticket_created")
        batch_op.drop_index("ix_ticket_citizen_updated")
        batch_op.drop_index("ix_ticket_due")
        batch_op.drop_index("ix_ticket_district_status")
        batch_op.drop_column("citizen_updated_at")
        batch_op.drop_column("sla_stage")
        batch_op.drop_column("sla")

    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_constraint("uq_outbox_dedupe_key", type_="unique")
        batch_op.drop_column("dedupe_key")

    op.drop_table("scheduler_lease")
