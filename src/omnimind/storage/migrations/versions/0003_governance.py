"""Governance: policy versions, decision index, review requests and reviews.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "governance_policies",
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("decision_id", sa.String(40)),
        sa.Column("ledger_index", sa.BigInteger),
    )
    op.create_table(
        "governance_decisions",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("time", sa.String(32), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("principal", sa.String(200), nullable=False),
        sa.Column("principal_tenant", sa.String(64), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("resource_type", sa.String(32), nullable=False),
        sa.Column("resource_id", sa.String(200), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("policies", sa.Text, nullable=False),
        sa.Column("request_id", sa.String(40)),
        sa.Column("policy_version", sa.Integer, nullable=False),
        sa.Column("ledger_index", sa.BigInteger, nullable=False),
        sa.Column("record", sa.Text, nullable=False),
    )
    op.create_index("ix_governance_decisions_time", "governance_decisions", ["time"])
    op.create_index("ix_governance_decisions_action", "governance_decisions", ["action", "decision"])
    op.create_index("ix_governance_decisions_principal", "governance_decisions", ["principal"])
    op.create_index("ix_governance_decisions_tenant", "governance_decisions", ["tenant"])
    op.create_index("ix_governance_decisions_request", "governance_decisions", ["request_id"])
    op.create_table(
        "governance_requests",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("expires_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("principal", sa.String(200), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("resource_type", sa.String(32), nullable=False),
        sa.Column("resource_id", sa.String(200), nullable=False),
        sa.Column("request_digest", sa.String(64), nullable=False),
        sa.Column("request", sa.Text, nullable=False),
        sa.Column("required", sa.Integer, nullable=False),
        sa.Column("policies", sa.Text, nullable=False),
        sa.Column("policy_version", sa.Integer, nullable=False),
        sa.Column("decision_id", sa.String(40), nullable=False),
        sa.Column("resolved_at", sa.String(32)),
        sa.Column("consumed_at", sa.String(32)),
        sa.Column("consumed_decision_id", sa.String(40)),
    )
    op.create_index("ix_governance_requests_status", "governance_requests", ["status", "expires_at"])
    op.create_index("ix_governance_requests_digest", "governance_requests", ["request_digest"])
    op.create_table(
        "governance_reviews",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "request_id",
            sa.String(40),
            sa.ForeignKey("governance_requests.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("reviewer", sa.String(200), nullable=False),
        sa.Column("verdict", sa.String(8), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("time", sa.String(32), nullable=False),
        sa.Column("ledger_index", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("request_id", "reviewer", name="uq_governance_reviews"),
    )


def downgrade() -> None:
    op.drop_table("governance_reviews")
    for name in ("digest", "status"):
        op.drop_index(f"ix_governance_requests_{name}", "governance_requests")
    op.drop_table("governance_requests")
    for name in ("request", "tenant", "principal", "action", "time"):
        op.drop_index(f"ix_governance_decisions_{name}", "governance_decisions")
    op.drop_table("governance_decisions")
    op.drop_table("governance_policies")
