"""Where governance records go: a `DecisionSink`, which the lab implements with the audit ledger.

Governance does not import the ledger (rooms never import sideways); `lab/` wires them:

    class LedgerSink:                       # in lab/, about five lines
        def __init__(self, ledger: Ledger) -> None:
            self.ledger = ledger
        def record(self, record: Mapping[str, Any]) -> int:
            return self.ledger.append("governance", payload=record, **ledger_fields(record))
        def prove(self, index: int) -> dict[str, Any]:
            return self.ledger.prove_inclusion(index).to_json()

Every decision, review and policy version is `record`ed BEFORE it takes effect in the governance tables;
the returned ledger index is stored next to it, and `prove` turns it into an inclusion proof for exports.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, TypedDict, runtime_checkable


@runtime_checkable
class DecisionSink(Protocol):
    """Append-only, provable storage for governance records (the ledger, category "governance")."""

    def record(self, record: Mapping[str, Any]) -> int:
        """Append `record` (a JSON object, see schemas/decision-record.schema.json) durably; its index."""
        ...

    def prove(self, index: int) -> dict[str, Any]:
        """An inclusion proof bundle for the record at `index` (the ledger's `InclusionProof.to_json()`)."""
        ...


class LedgerFields(TypedDict):
    """Keyword arguments for `Ledger.append(category="governance", payload=record, **fields)`."""

    action: str
    actor: str
    tenant: str


def ledger_fields(record: Mapping[str, Any]) -> LedgerFields:
    """The ledger envelope fields for a governance record: `action` ("decision.deny", "review.approve",
    "policy.version", ...), `actor` (who acted) and `tenant` (whose resource it concerns).

    The data subject field is deliberately not set: a decision to erase a subject must survive the
    erasure (crypto-shredding the subject's key would otherwise shred the record of the decision)."""
    kind = record["kind"]
    if kind == "decision":
        return {
            "action": f"decision.{record['decision']}",
            "actor": record["principal"]["id"],
            "tenant": record["resource"]["tenant"],
        }
    if kind == "review":
        return {
            "action": f"review.{record['verdict']}",
            "actor": record["reviewer"]["id"],
            "tenant": record["tenant"],
        }
    if kind == "policy":
        return {"action": "policy.version", "actor": record["author"], "tenant": record["tenant"]}
    raise ValueError(f"unknown governance record kind {kind!r}")
