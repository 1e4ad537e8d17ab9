"""Table definitions (SQLAlchemy Core) shared by every room; migrations in `migrations/versions` create them.

Each room owns a section; a change here needs a new Alembic revision that performs it.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# --- lab / runs (revision 0001) ---------------------------------------------------------------------

lab_info = sa.Table(
    "lab_info",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("tenant", sa.String(64), nullable=False, server_default="default"),
    sa.Column("spec_json", sa.Text, nullable=False),
    sa.Column("spec_digest", sa.String(64), nullable=False),
    sa.Column("seed", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("started_at", sa.String(32)),
    sa.Column("ended_at", sa.String(32)),
    sa.Column("cycles_target", sa.BigInteger, nullable=False),
    sa.Column("cycles_done", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("final_digest", sa.String(64)),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("versions_json", sa.Text, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("resumed_from", sa.String(32)),
)

# Recorded arrays (module states, attention, ignition, surprise, inputs) in row blocks, never one row per
# float. `data` is the block's raw little-endian bytes, zstd-compressed when `codec` says so.
run_chunks = sa.Table(
    "run_chunks",
    metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("array", sa.String(64), primary_key=True),
    sa.Column("start", sa.BigInteger, primary_key=True),
    sa.Column("n_rows", sa.Integer, nullable=False),
    sa.Column("n_cols", sa.Integer, nullable=False),
    sa.Column("dtype", sa.String(16), nullable=False),
    sa.Column("codec", sa.String(16), nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
)

run_events = sa.Table(
    "run_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("time", sa.String(32), nullable=False),
    sa.Column("cycle", sa.BigInteger),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("data_json", sa.Text),
)
sa.Index("ix_run_events_run", run_events.c.run_id, run_events.c.id)

# --- ledger (revision 0002) -------------------------------------------------------------------------
# The audit ledger (omnimind.ledger, docs/ledger.md). Append-only: rows are inserted, never updated or
# deleted (except the single head row, rewritten in the same transaction as every append).
# `idx` is INTEGER on SQLite so it is the rowid (no second index); BIGINT elsewhere.

_LEDGER_INDEX = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

ledger_entries = sa.Table(
    "ledger_entries",
    metadata,
    sa.Column("idx", _LEDGER_INDEX, primary_key=True, autoincrement=False),
    sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("envelope", sa.LargeBinary, nullable=False),  # RFC 8785 canonical bytes = the Merkle leaf
    # Copies of envelope fields for queries; `verify(full=True)` checks they match the envelope.
    sa.Column("time", sa.String(32), nullable=False),
    sa.Column("category", sa.String(32), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("subject", sa.String(128)),
    sa.Column("run", sa.String(64)),
    sa.Column("cycle", sa.BigInteger),
)
sa.Index("ix_ledger_entries_run_cycle", ledger_entries.c.run, ledger_entries.c.cycle)
sa.Index("ix_ledger_entries_category", ledger_entries.c.category, ledger_entries.c.action)
sa.Index("ix_ledger_entries_actor", ledger_entries.c.actor)
sa.Index("ix_ledger_entries_time", ledger_entries.c.time)
sa.Index("ix_ledger_entries_subject", ledger_entries.c.subject)

ledger_checkpoints = sa.Table(
    "ledger_checkpoints",
    metadata,
    sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("root", sa.LargeBinary(32), nullable=False),
    sa.Column("note", sa.Text, nullable=False),  # the signed note, byte for byte
    sa.Column("time", sa.String(32), nullable=False),
)

ledger_cosignatures = sa.Table(
    "ledger_cosignatures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("key_id", sa.String(8), nullable=False),
    sa.Column("line", sa.Text, nullable=False),  # "— name base64(...)\n", a C2SP tlog-cosignature line
    sa.Column("time", sa.String(32), nullable=False),
    sa.UniqueConstraint("size", "name", "key_id", name="uq_ledger_cosignatures"),
)

# One row (id = 1): the tree size and its compact range, updated in every append transaction. Locking it
# (BEGIN IMMEDIATE on SQLite, SELECT ... FOR UPDATE on PostgreSQL) serialises appenders.
ledger_head = sa.Table(
    "ledger_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("compact", sa.LargeBinary, nullable=False),  # perfect-subtree roots of [0, size), 32 B each
    sa.Column("root", sa.LargeBinary(32), nullable=False),
    sa.Column("time", sa.String(32), nullable=False),
)

# --- governance (revision 0003) ---------------------------------------------------------------------
# The policy gate (omnimind.governance, docs/governance/). Every row here is an index of a record that is
# in the audit ledger first (category "governance"); `ledger_index` points at it. Policy versions and
# decisions are never updated; review requests change status (pending -> approved -> consumed, or
# rejected) under a row lock; reviews are inserted once per (request, reviewer).

governance_policies = sa.Table(
    "governance_policies",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),  # the newest is in force
    sa.Column("digest", sa.String(64), nullable=False),  # SHA-256 of `text` (UTF-8)
    sa.Column("text", sa.Text, nullable=False),  # the Cedar policy set, byte for byte
    sa.Column("author", sa.String(200), nullable=False),
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("decision_id", sa.String(40)),  # the policy.update decision (None for the installed defaults)
    sa.Column("ledger_index", sa.BigInteger),
)

governance_decisions = sa.Table(
    "governance_decisions",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("time", sa.String(32), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("principal", sa.String(200), nullable=False),
    sa.Column("principal_tenant", sa.String(64), nullable=False),
    sa.Column("tenant", sa.String(64), nullable=False),  # the resource's tenant
    sa.Column("resource_type", sa.String(32), nullable=False),
    sa.Column("resource_id", sa.String(200), nullable=False),
    sa.Column("decision", sa.String(16), nullable=False),  # allow | deny | escalate
    sa.Column("policies", sa.Text, nullable=False),  # deciding policy @ids, space-separated
    sa.Column("request_id", sa.String(40)),
    sa.Column("policy_version", sa.Integer, nullable=False),
    sa.Column("ledger_index", sa.BigInteger, nullable=False),
    sa.Column("record", sa.Text, nullable=False),  # the decision record (canonical JSON)
)
sa.Index("ix_governance_decisions_time", governance_decisions.c.time)
sa.Index("ix_governance_decisions_action", governance_decisions.c.action, governance_decisions.c.decision)
sa.Index("ix_governance_decisions_principal", governance_decisions.c.principal)
sa.Index("ix_governance_decisions_tenant", governance_decisions.c.tenant)
sa.Index("ix_governance_decisions_request", governance_decisions.c.request_id)

governance_requests = sa.Table(
    "governance_requests",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("expires_at", sa.String(32), nullable=False),
    sa.Column("updated_at", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending | approved | rejected | consumed
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("principal", sa.String(200), nullable=False),
    sa.Column("tenant", sa.String(64), nullable=False),  # the resource's tenant
    sa.Column("resource_type", sa.String(32), nullable=False),
    sa.Column("resource_id", sa.String(200), nullable=False),
    sa.Column("request_digest", sa.String(64), nullable=False),  # binds the approval to the exact request
    sa.Column("request", sa.Text, nullable=False),  # {action, principal, resource, context} JSON
    sa.Column("required", sa.Integer, nullable=False),
    sa.Column("policies", sa.Text, nullable=False),  # escalating policy @ids, space-separated
    sa.Column("policy_version", sa.Integer, nullable=False),
    sa.Column("decision_id", sa.String(40), nullable=False),  # the escalate decision that created it
    sa.Column("resolved_at", sa.String(32)),  # approved or rejected
    sa.Column("consumed_at", sa.String(32)),
    sa.Column("consumed_decision_id", sa.String(40)),  # the allow decision that used the approval
)
sa.Index("ix_governance_requests_status", governance_requests.c.status, governance_requests.c.expires_at)
sa.Index("ix_governance_requests_digest", governance_requests.c.request_digest)

governance_reviews = sa.Table(
    "governance_reviews",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "request_id", sa.String(40), sa.ForeignKey("governance_requests.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("reviewer", sa.String(200), nullable=False),
    sa.Column("verdict", sa.String(8), nullable=False),  # approve | reject
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("time", sa.String(32), nullable=False),
    sa.Column("ledger_index", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("request_id", "reviewer", name="uq_governance_reviews"),  # distinct reviewers
)

# --- privacy (revision 0005) ------------------------------------------------------------------------
# Consent, erasure and retention records (omnimind.lab.privacy, docs/privacy.md). Each row is mirrored by a
# ledger entry (`ledger_index`). Consent rows are inserted, never updated: the newest row for a
# (subject, purpose) is the current state. Erasure rows hold a digest of the subject, not the pseudonym.

privacy_consents = sa.Table(
    "privacy_consents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("subject", sa.String(128), nullable=False),
    sa.Column("purpose", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # granted | withdrawn
    sa.Column("scope", sa.Text, nullable=False),
    sa.Column("time", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("ledger_index", sa.BigInteger, nullable=False),
    sa.Index("ix_privacy_consents_subject", "subject", "purpose"),
)

privacy_erasures = sa.Table(
    "privacy_erasures",
    metadata,
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

privacy_retention = sa.Table(
    "privacy_retention",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("time", sa.String(32), nullable=False),
    sa.Column("category", sa.String(32), nullable=False),
    sa.Column("days", sa.Integer, nullable=False),
    sa.Column("cutoff", sa.String(32), nullable=False),
    sa.Column("keys_shredded", sa.Integer, nullable=False),
    sa.Column("entries_purged", sa.Integer, nullable=False),
    sa.Column("ledger_index", sa.BigInteger, nullable=False),
)

privacy_archives = sa.Table(
    "privacy_archives",
    metadata,
    sa.Column("first_idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("end_idx", sa.BigInteger, nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("checkpoint_size", sa.BigInteger, nullable=False),
    sa.Column("time", sa.String(32), nullable=False),
)

# --- metrics (revision 0004) ------------------------------------------------------------------------
# Windowed integration measures of a run (omnimind.lab.analysis, docs/report.md): one row per
# (window end cycle, measure). `source` is `run` (computed by the run's after-cycle hook) or `analyze`
# (computed afterwards from the recorded states). `details_json` holds the estimator, units, partition,
# PCA, window bounds, surrogate null statistics (mean, std, CI, corrected value, p-value) and any error.

metrics = sa.Table(
    "metrics",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("cycle", sa.BigInteger, nullable=False),  # last cycle of the window
    sa.Column("window", sa.Integer, nullable=False),  # samples in the window
    sa.Column("measure", sa.String(64), nullable=False),
    sa.Column("value", sa.Float(precision=53)),  # NULL when the measure failed on this window
    sa.Column("details_json", sa.Text, nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("computed_at", sa.String(32), nullable=False),
)
sa.Index("ix_metrics_run_measure_cycle", metrics.c.run_id, metrics.c.measure, metrics.c.cycle)
