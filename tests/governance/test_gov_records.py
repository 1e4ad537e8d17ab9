"""Decision records: in the ledger with valid inclusion proofs, valid against the published JSON Schema,
indexed for query, exported (JSONL, CSV, Parquet) with a proof per record."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from gov_helpers import ADMIN, AUDITOR, RESEARCHER, REVIEWER, REVIEWER2, Env, verify_proof_json
from mini_jsonschema import errors, load_schema, validate

from omnimind.errors import NotFoundError, PolicyError
from omnimind.governance import PolicyDenied, Resource, ReviewRequired
from omnimind.ledger import Entry

RUN = Resource("Run", "r1", "t1")
SUBJECT = Resource("Subject", "subj-1", "t1")


def _payloads(env: Env) -> list[tuple[Entry, dict[str, Any]]]:
    return [(e, dict(e.payload)) for e in env.governance_entries()]


def _scenario(env: Env) -> dict[str, str]:
    """allow, veto, escalate, two approvals, allow-by-approval: returns decision ids by name."""
    ids = {"allow": env.gate.require("run", RESEARCHER, RUN).id or ""}
    with pytest.raises(PolicyDenied) as veto:
        env.gate.require("run", AUDITOR, RUN)
    ids["veto"] = veto.value.decision.id or ""
    with pytest.raises(ReviewRequired) as esc:
        env.gate.require("audit.erase", ADMIN, SUBJECT)
    ids["escalate"] = esc.value.decision.id or ""
    env.gate.approve(esc.value.request_id, REVIEWER, "verified")
    env.gate.approve(esc.value.request_id, REVIEWER2, "verified too")
    ids["approved"] = env.gate.require("audit.erase", ADMIN, SUBJECT).id or ""
    return ids


def test_vetoed_and_escalated_decisions_are_in_the_ledger_with_valid_proofs(any_env: Env) -> None:
    env = any_env
    ids = _scenario(env)
    by_id = {p["id"]: (e, p) for e, p in _payloads(env) if p["kind"] == "decision"}
    assert set(ids.values()) <= set(by_id)
    for name in ("veto", "escalate", "approved"):
        entry, record = by_id[ids[name]]
        assert entry.category == "governance"
        assert entry.action == f"decision.{record['decision']}"
        proof = env.ledger.prove_inclusion(entry.index)
        proof.verify(env.ledger.vkey)  # the ledger's own verifier
        verify_proof_json(proof.to_json(), env.ledger.vkey)  # and an independent re-check
    veto = by_id[ids["veto"]][1]
    assert veto["decision"] == "deny" and [p["id"] for p in veto["policies"]] == ["auditor-read-only"]
    assert veto["reasons"] == ["auditor-read-only: auditors are read-only and this action changes the lab"]
    esc = by_id[ids["escalate"]][1]
    assert esc["decision"] == "escalate" and esc["required_reviewers"] == 2 and esc["request_id"]
    ok = by_id[ids["approved"]][1]
    assert ok["decision"] == "allow" and [r["id"] for r in ok["reviewers"]] == ["rita", "rob"]
    assert ok["request_id"] == esc["request_id"]
    assert env.ledger.verify(full=True).ok


def test_every_governance_record_matches_the_schema(env: Env) -> None:
    _scenario(env)
    kinds: dict[str, int] = {}
    for _entry, record in _payloads(env):
        kinds[record["kind"]] = kinds.get(record["kind"], 0) + 1
        definition = {"decision": None, "review": "reviewRecord", "policy": "policyRecord"}[record["kind"]]
        validate(record, definition)
        if record["kind"] == "decision":
            assert record["policy_set"]["version"] == 1
    assert kinds == {"policy": 1, "decision": 4, "review": 2}


def test_the_structural_validator_rejects_bad_records(env: Env) -> None:
    """The schema check can fail: mutate a real record in ways the schema forbids."""
    record = dict(env.gate.require("run", RESEARCHER, RUN).record or {})
    root = load_schema()
    assert errors(record, root, root) == []
    mutations: list[Callable[[dict[str, Any]], Any]] = [
        lambda r: r.pop("policy_set"),
        lambda r: r.update(decision="maybe"),
        lambda r: r.update(extra=1),
        lambda r: r.update(time="yesterday"),
        lambda r: r["policies"].append({"id": "x", "effect": "allow", "escalate": 0, "reason": ""}),
        lambda r: r.update(request_id=5),
        lambda r: r["principal"].update(roles=["root"]),
    ]
    for mutate in mutations:
        bad = json.loads(json.dumps(record))
        mutate(bad)
        assert errors(bad, root, root), bad


def test_decisions_list_filters_and_show(any_env: Env) -> None:
    env = any_env
    ids = _scenario(env)
    gl = env.gate.decisions
    assert len(gl.list()) == 4
    assert [d["id"] for d in gl.list(decision="deny")] == [ids["veto"]]
    assert {d["id"] for d in gl.list(action="audit.erase")} == {ids["escalate"], ids["approved"]}
    assert [d["id"] for d in gl.list(principal="otto")] == [ids["veto"]]
    assert [d["id"] for d in gl.list(policy="auditor-read-only")] == [ids["veto"]]
    assert gl.list(policy="auditor") == []  # whole ids only
    assert {d["id"] for d in gl.list(resource="Subject::subj-1")} == {ids["escalate"], ids["approved"]}
    assert len(gl.list(tenant="t1")) == 4 and gl.list(tenant="t2") == []
    req = gl.show(ids["escalate"])["record"]["request_id"]
    assert [d["id"] for d in gl.list(request_id=req, newest_first=False)] == [ids["escalate"], ids["approved"]]
    assert gl.list(since="2031-01-01T00:00:00.000000Z") == []
    assert len(gl.list(limit=2)) == 2
    shown = gl.show(ids["approved"], proof=True)
    assert shown["record"]["decision"] == "allow" and shown["decision"] == "allow"
    env_json = verify_proof_json(shown["proof"], env.ledger.vkey)
    assert env_json["payload"] == shown["record"]
    with pytest.raises(NotFoundError):
        gl.show("dec_0000000000000000")
    with pytest.raises(PolicyError):
        gl.list(decision="perhaps")


def _check_exported(env: Env, items: list[tuple[dict[str, Any], dict[str, Any], int]]) -> None:
    for record, proof, index in items:
        envelope = verify_proof_json(proof, env.ledger.vkey)
        assert envelope["index"] == index
        assert envelope["payload"] == record  # the exported record IS the logged one
        validate(record)


def test_export_jsonl_csv_parquet_with_proofs(env: Env, tmp_path: Path) -> None:
    _scenario(env)
    gl = env.gate.decisions
    n = gl.export("jsonl", tmp_path / "d.jsonl")
    lines = [json.loads(x) for x in (tmp_path / "d.jsonl").read_text().splitlines()]
    assert n == len(lines) == 4
    _check_exported(env, [(x["record"], x["proof"], x["ledger_index"]) for x in lines])
    assert [x["ledger_index"] for x in lines] == sorted(x["ledger_index"] for x in lines)

    buf = io.StringIO()
    assert gl.export("csv", buf, decision="escalate") == 1
    rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert len(rows) == 1 and rows[0]["decision"] == "escalate"
    _check_exported(env, [(json.loads(r["record"]), json.loads(r["proof"]), int(r["ledger_index"])) for r in rows])

    import pyarrow.parquet as pq

    assert gl.export("parquet", tmp_path / "d.parquet", tenant="t1") == 4
    table = pq.read_table(tmp_path / "d.parquet").to_pylist()
    assert [r["decision"] for r in table] == ["allow", "deny", "escalate", "allow"]
    _check_exported(env, [(json.loads(r["record"]), json.loads(r["proof"]), r["ledger_index"]) for r in table])
    with pytest.raises(PolicyError, match="unknown export format"):
        gl.export("xml", tmp_path / "d.xml")


def test_a_tampered_export_fails_verification(env: Env, tmp_path: Path) -> None:
    _scenario(env)
    env.gate.decisions.export("jsonl", tmp_path / "d.jsonl", decision="deny")
    item = json.loads((tmp_path / "d.jsonl").read_text())
    import base64
    import hashlib

    from omnimind.errors import VerificationError

    raw = base64.b64decode(item["proof"]["entry"]).replace(b"auditor-read-only", b"auditor-read-0nly")
    item["proof"]["entry"] = base64.b64encode(raw).decode()
    with pytest.raises(AssertionError):  # the leaf hash no longer matches the entry
        verify_proof_json(item["proof"], env.ledger.vkey)
    item["proof"]["leaf_hash"] = hashlib.sha256(b"\x00" + raw).hexdigest()
    with pytest.raises(VerificationError):  # a consistent forgery does not reach the signed root
        verify_proof_json(item["proof"], env.ledger.vkey)
