"""queue indexes

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24

The console's queue filters a million tickets by category, district and holder and counts them
per status on every page; these indexes make each of those an index range (covering for the
counts) instead of a scan of the table. Measured with bench/console_queue.py.
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_ticket_category_created": ["category", "created_at", "id", "status"],
    "ix_ticket_district_category": ["district_code", "category", "created_at", "id", "status"],
    "ix_ticket_district_status_created": ["district_code", "status", "created_at", "id"],
    "ix_ticket_district_status_due": ["district_code", "status", "due_at"],
    "ix_ticket_district_due": ["district_code", "due_at"],
    "ix_ticket_status_due": ["status", "due_at"],
    "ix_ticket_village_status": ["district_code", "village_code", "status"],
    "ix_ticket_assignee_queue": ["assignee_staff_id", "status", "due_at", "district_code"],
    "ix_ticket_updated": ["updated_at"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "ticket", columns, unique=False)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="ticket")
