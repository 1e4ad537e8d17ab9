"""The lab's policy gate: who is acting (principal and roles), the ledger as decision sink, `require`.

Every consequential use case calls `require(lab, action, resource, context)` immediately before acting;
a deny raises PolicyDenied, an escalation raises ReviewRequired (see docs/governance/). Identities here
are the lab's `[users]` table in lab.toml and the acting OS user or $OMNIMIND_USER; the HTTP service
(a later issue) authenticates them with tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omnimind.governance import Decision, Gate, Principal, Resource, ledger_fields
from omnimind.lab.audit import current_actor

if TYPE_CHECKING:
    from omnimind.lab.lab import Lab
    from omnimind.ledger import Ledger


class LedgerSink:
    """The governance DecisionSink backed by the lab's ledger (category `governance`)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def record(self, record: Mapping[str, Any]) -> int:
        """Append a decision/review/policy record; returns its ledger index."""
        return self.ledger.append("governance", payload=dict(record), **ledger_fields(record))

    def prove(self, index: int) -> dict[str, Any]:
        """Inclusion proof of a record, against a fresh checkpoint."""
        self.ledger.checkpoint()
        return self.ledger.prove_inclusion(index).to_json()


def open_gate(lab: Lab) -> Gate:
    """The gate over the lab's database and ledger."""
    return Gate(lab.db, LedgerSink(lab.ledger), lab_tenant=lab.config.tenant)


def principal(lab: Lab, name: str | None = None) -> Principal:
    """The acting user with the roles lab.toml gives them (none: every policy denies)."""
    who = name or current_actor()
    return Principal.of(who, *lab.config.users.get(who, []), tenant=lab.config.tenant)


def lab_resource(lab: Lab, kind: str = "Lab", ident: str | None = None, **attrs: Any) -> Resource:
    """A resource of this lab's home tenant."""
    return Resource(kind, ident or lab.config.id, lab.config.tenant, attrs=attrs)


def require(lab: Lab, action: str, resource: Resource | None = None, context: Mapping[str, Any] | None = None,
            *, approval: str | None = None) -> Decision:
    """Pass the gate or raise; the decision is on the record either way."""
    return lab.gate.require(action, principal(lab), resource or lab_resource(lab), dict(context or {}),
                            approval=approval)


def run_context(lab: Lab, human_participants: bool, protocol_id: str | None, cycles: int) -> dict[str, Any]:
    """The facts run/resume/restore policies look at (stable: an approval is bound to them)."""
    ctx: dict[str, Any] = {"human_participants": human_participants, "cycles": cycles,
                           "approved_protocols": sorted(lab.config.approved_protocols)}
    if protocol_id:
        ctx["protocol_id"] = protocol_id
    return ctx


def export_decisions(lab: Lab, fmt: str, dest: Path, **filters: Any) -> int:
    """Export decision records with their inclusion proofs (gated as `audit.export`, logged)."""
    from omnimind.lab.audit import log

    require(lab, "audit.export")
    n = lab.gate.decisions.export(fmt, dest, **filters)
    log(lab, "governance", "decisions.export", {"format": fmt, "path": str(dest), "records": n})
    return n
