"""Privacy: consent, erasure, retention and archive records.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "privacy_consents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("time", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("ledger_index", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_privacy_consents_subject", "privacy_consents", ["subject", "purpose"])
    op.create_table(
        "privacy_erasures",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("subject_digest", sa.String(64), nullable=False),
        sa.Column("requested_at", sa.String(32), nullable=False),
        sa.Column("completed_at", sa.String(32)),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("keys_destroyed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("rows_removed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("files_removed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("ledger_index", sa.BigInteger),
    )
    op.create_table(
        "privacy_retention",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("time", sa.String(32), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("days", sa.Integer, nullable=False),
        sa.Column("cutoff", sa.String(32), nullable=False),
        sa.Column("keys_shredded", sa.Integer, nullable=False),
        sa.Column("entries_purged", sa.Integer, nullable=False),
        sa.Column("ledger_index", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "privacy_archives",
        sa.Column("first_idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("end_idx", sa.BigInteger, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("checkpoint_size", sa.BigInteger, nullable=False),
        sa.Column("time", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("privacy_archives")
    op.drop_table("privacy_retention")
    op.drop_table("privacy_erasures")
    op.drop_index("ix_privacy_consents_subject", "privacy_consents")
    op.drop_table("privacy_consents")
