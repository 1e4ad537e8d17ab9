"""Windowed integration measures of runs (in-run hook and post-hoc analysis).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "metrics",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("cycle", sa.BigInteger, nullable=False),
        sa.Column("window", sa.Integer, nullable=False),
        sa.Column("measure", sa.String(64), nullable=False),
        sa.Column("value", sa.Float(precision=53)),
        sa.Column("details_json", sa.Text, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("computed_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_metrics_run_measure_cycle", "metrics", ["run_id", "measure", "cycle"])


def downgrade() -> None:
    op.drop_index("ix_metrics_run_measure_cycle", "metrics")
    op.drop_table("metrics")
