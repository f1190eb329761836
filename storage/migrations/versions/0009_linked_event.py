"""a citizen linking their chat to a walk-in ticket is the event "linked"

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03

"Claim" named three things (a redelivery's de-duplication, the outbox's lease and the receipt's
code); the receipt's code is now a link code, and the timeline event it writes says "linked".
Events written before are renamed so one timeline reads one word.
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE ticket_event SET kind = 'linked' WHERE kind = 'claimed'")


def downgrade() -> None:
    op.execute("UPDATE ticket_event SET kind = 'claimed' WHERE kind = 'linked'")
