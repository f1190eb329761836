"""possible duplicates and the full IKM survey

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03

Several citizens report the same person on the street, days apart and in different words: each
new ticket is compared with the open ones near it when it is filed, and the likely matches are
kept (`duplicate_suggestion`) for the officer to link; a linked ticket points at the case worked
for it (`ticket.linked_to_id`). Three indexes keep the lookup to a few rows at a million
tickets: a category group's open tickets in a village, in a band of latitude, and by NIK.

The satisfaction survey's full form (the nine elements of PermenPAN-RB 14/2017) is opened from a
per-ticket link (`survey_link`); a response that answers all nine is `complete`, and only those
make the IKM.

On PostgreSQL the lookup scores text with pg_trgm's `similarity()`: the extension is created in
`public` when this role may (a savepoint keeps a refusal from failing the migration), and the
lookup falls back to the same measure computed in Python when it is not there.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)


def _trigram_extension() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public"))
    except sa.exc.DBAPIError as error:  # not permitted, or not installed on the server
        log.warning("pg_trgm not available (%s): duplicates are scored without it", error.__class__.__name__)


# Plain ALTER TABLE on ticket, not a batch: SQLite's batch would lose the expression index
# ix_ticket_register (0008), which it cannot reflect.
def upgrade() -> None:
    _trigram_extension()
    # SQLite cannot add a constraint to a table in place (and enforces none without its pragma).
    keys = () if op.get_bind().dialect.name == "sqlite" else (sa.ForeignKey("ticket.id"),)
    op.add_column("ticket", sa.Column("linked_to_id", sa.Integer(), *keys, nullable=True))
    op.create_index("ix_ticket_linked_to", "ticket", ["linked_to_id"], unique=False)
    op.create_index("ix_ticket_nik_status", "ticket", ["person_nik", "status"], unique=False)
    op.create_index(
        "ix_ticket_group_village", "ticket", ["category_group", "village_code", "created_at", "status"], unique=False
    )
    op.create_index(
        "ix_ticket_group_place", "ticket", ["category_group", "status", "latitude", "longitude"], unique=False
    )
    op.create_table(
        "duplicate_suggestion",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("reasons", storage.types.JSONType, nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"]),
        sa.ForeignKeyConstraint(["candidate_id"], ["ticket.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ticket_id", "candidate_id", name="uq_duplicate_pair"),
    )
    op.create_index("ix_duplicate_suggestion_ticket_id", "duplicate_suggestion", ["ticket_id"], unique=False)
    op.create_index("ix_duplicate_suggestion_candidate_id", "duplicate_suggestion", ["candidate_id"], unique=False)
    op.create_table(
        "survey_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_survey_link_ticket_id", "survey_link", ["ticket_id"], unique=False)
    op.add_column("survey_response", sa.Column("complete", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.drop_column("survey_response", "complete")  # plain: a batch would reflect ticket (0008's index)
    op.drop_index("ix_survey_link_ticket_id", table_name="survey_link")
    op.drop_table("survey_link")
    op.drop_index("ix_duplicate_suggestion_candidate_id", table_name="duplicate_suggestion")
    op.drop_index("ix_duplicate_suggestion_ticket_id", table_name="duplicate_suggestion")
    op.drop_table("duplicate_suggestion")
    op.drop_index("ix_ticket_group_place", table_name="ticket")
    op.drop_index("ix_ticket_group_village", table_name="ticket")
    op.drop_index("ix_ticket_nik_status", table_name="ticket")
    op.drop_index("ix_ticket_linked_to", table_name="ticket")
    op.drop_column("ticket", "linked_to_id")
