"""Audit ledger: entries, signed checkpoints, cosignatures and the head (tree state) row.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"

_INDEX = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# SHA-256("") : the root of the empty tree (RFC 6962).
_EMPTY_ROOT = bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")


def upgrade() -> None:
    op.create_table(
        "ledger_entries",
        sa.Column("idx", _INDEX, primary_key=True, autoincrement=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("envelope", sa.LargeBinary, nullable=False),
        sa.Column("time", sa.String(32), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(128)),
        sa.Column("run", sa.String(64)),
        sa.Column("cycle", sa.BigInteger),
    )
    op.create_index("ix_ledger_entries_run_cycle", "ledger_entries", ["run", "cycle"])
    op.create_index("ix_ledger_entries_category", "ledger_entries", ["category", "action"])
    op.create_index("ix_ledger_entries_actor", "ledger_entries", ["actor"])
    op.create_index("ix_ledger_entries_time", "ledger_entries", ["time"])
    op.create_index("ix_ledger_entries_subject", "ledger_entries", ["subject"])
    op.create_table(
        "ledger_checkpoints",
        sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("time", sa.String(32), nullable=False),
    )
    op.create_table(
        "ledger_cosignatures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("key_id", sa.String(8), nullable=False),
        sa.Column("line", sa.Text, nullable=False),
        sa.Column("time", sa.String(32), nullable=False),
        sa.UniqueConstraint("size", "name", "key_id", name="uq_ledger_cosignatures"),
    )
    head = op.create_table(
        "ledger_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("compact", sa.LargeBinary, nullable=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("time", sa.String(32), nullable=False),
    )
    op.bulk_insert(head, [{"id": 1, "size": 0, "compact": b"", "root": _EMPTY_ROOT, "time": ""}])


def downgrade() -> None:
    op.drop_table("ledger_head")
    op.drop_table("ledger_cosignatures")
    op.drop_table("ledger_checkpoints")
    for name in ("subject", "time", "actor", "category", "run_cycle"):
        op.drop_index(f"ix_ledger_entries_{name}", "ledger_entries")
    op.drop_table("ledger_entries")
