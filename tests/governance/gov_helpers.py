"""Helpers for the governance tests: the ledger-backed DecisionSink, a fake clock, users, probes."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from omnimind.governance import Gate, Principal, install_default_policies, ledger_fields
from omnimind.ledger import Ledger, load_or_create_signer, verify_inclusion
from omnimind.ledger.checkpoint import open_checkpoint
from omnimind.ledger.note import Ed25519Verifier
from omnimind.storage import create_engine, upgrade

ORIGIN = "omnimind.test/governance"


class LedgerSink:
    """The DecisionSink the lab implements: the real audit ledger, category "governance"."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.fail = False  # tests flip this to simulate an unavailable ledger

    def record(self, record: Mapping[str, Any]) -> int:
        if self.fail:
            raise RuntimeError("ledger unavailable")
        return self.ledger.append("governance", payload=record, **ledger_fields(record))

    def prove(self, index: int) -> dict[str, Any]:
        return self.ledger.prove_inclusion(index).to_json()


@dataclass
class Clock:
    """A controllable clock (UTC, aware)."""

    t: datetime = field(default_factory=lambda: datetime(2030, 1, 1, 12, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.t

    def advance(self, **kw: float) -> None:
        self.t = self.t + timedelta(**kw)


@dataclass
class Env:
    engine: sa.Engine
    ledger: Ledger
    sink: LedgerSink
    gate: Gate
    clock: Clock

    def close(self) -> None:
        self.engine.dispose()

    def governance_entries(self) -> list[Any]:
        return self.ledger.query(category="governance", limit=100_000)

    def counts(self) -> dict[str, int]:
        """Rows in every governance table plus the ledger size: the side-effect probe."""
        with self.engine.connect() as conn:
            out = {
                t: int(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one())
                for t in ("governance_decisions", "governance_requests", "governance_reviews", "governance_policies")
            }
        out["ledger"] = self.ledger.size()
        return out


def make_env(url: str, tmp_path: Path, *, install: bool = True) -> Env:
    engine = create_engine(url)
    upgrade(engine)
    ledger = Ledger(engine, load_or_create_signer(tmp_path / "log.key", ORIGIN), ORIGIN)
    sink = LedgerSink(ledger)
    clock = Clock()
    if install:
        install_default_policies(engine, "init", sink=sink, tenant="t1")
    gate = Gate(engine, sink, lab_tenant="t1", now=clock)
    return Env(engine, ledger, sink, gate, clock)


def verify_proof_json(proof: Mapping[str, Any], log_vkey: str) -> dict[str, Any]:
    """Verify an exported inclusion proof bundle independently (signature, leaf hash, audit path) and
    return the entry envelope it proves."""
    import hashlib

    raw = base64.b64decode(proof["entry"])
    leaf = hashlib.sha256(b"\x00" + raw).digest()
    assert leaf.hex() == proof["leaf_hash"]
    cp, _ = open_checkpoint(proof["checkpoint"], [Ed25519Verifier.from_vkey(log_vkey)])
    assert cp.size == proof["tree_size"]
    hashes = [base64.b64decode(h) for h in proof["proof"]]
    verify_inclusion(proof["index"], cp.size, leaf, hashes, cp.root)
    env = json.loads(raw)
    assert env["index"] == proof["index"]
    return dict(env)


# users
ADMIN = Principal.of("ada", "admin", tenant="t1")
ADMIN2 = Principal.of("alan", "admin", tenant="t1")
RESEARCHER = Principal.of("rosalind", "researcher", tenant="t1")
REVIEWER = Principal.of("rita", "reviewer", tenant="t1")
REVIEWER2 = Principal.of("rob", "reviewer", tenant="t1")
REVIEWER3 = Principal.of("ruth", "reviewer", tenant="t1")
AUDITOR = Principal.of("otto", "auditor", tenant="t1")
OTHER_TENANT_ADMIN = Principal.of("eve", "admin", tenant="t2")
OTHER_TENANT_REVIEWER = Principal.of("rex", "reviewer", tenant="t2")
