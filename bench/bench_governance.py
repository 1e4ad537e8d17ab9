"""Governance gate benchmark: decisions per second with the default policy set.

Measures, on one core:
  * cedar_raw_str_per_s       cedarpy.is_authorized with policy text and entity JSON re-parsed per call
  * cedar_raw_handles_per_s   cedarpy.is_authorized with the parsed PolicySet / Entities / Schema reused
  * evaluate_per_s            Evaluator.evaluate: the gate's pure evaluation path (request + entity delta
                              built per call, schema-validated, verdict with annotations) - the target path
  * evaluate_cold_per_s       the same with a new resource id every call (entity-handle cache always misses)
  * evaluate_batch_per_s      Evaluator.evaluate_batch (one is_authorized_batch call for all requests)
  * explain_per_s             Gate.explain: evaluation plus the per-call "which policy version is in force"
                              query (SQLite), no recording
  * check_recorded_per_s      Gate.check: evaluation + decision record appended to the real audit ledger
                              (one durable SQLite transaction, synchronous=FULL) + the decision index row
Prints JSON to stdout and writes bench/results/governance.json. Target: evaluate_per_s >= 5000.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cedarpy

from omnimind.governance import (
    Evaluator,
    Gate,
    Principal,
    Resource,
    default_policies_text,
    install_default_policies,
    ledger_fields,
)
from omnimind.governance.policyset import default_document, schema_text
from omnimind.ledger import Ledger, load_or_create_signer
from omnimind.storage import create_engine, sqlite_url, upgrade

TARGET = 5000

PRINCIPALS = [
    Principal.of("rosalind", "researcher", tenant="t1"),
    Principal.of("ada", "admin", tenant="t1"),
    Principal.of("otto", "auditor", tenant="t1"),
    Principal.of("eve", "researcher", tenant="t2"),
]
# A mix of allow / deny (veto and default) / escalate requests.
REQUESTS: list[tuple[str, Principal, Resource, dict[str, Any]]] = [
    ("run", PRINCIPALS[0], Resource("Run", "r1", "t1"), {"cycles": 100_000}),
    ("run", PRINCIPALS[0], Resource("Run", "r2", "t1"), {"human_participants": True}),
    ("restore", PRINCIPALS[0], Resource("Run", "r1", "t1"), {"live_run": True}),
    ("audit.export", PRINCIPALS[2], Resource("Lab", "lab", "t1"), {"data_sensitivity": "low"}),
    ("run", PRINCIPALS[2], Resource("Run", "r1", "t1"), {}),
    ("keys.rotate", PRINCIPALS[1], Resource("Key", "kek", "t1"), {}),
    ("run", PRINCIPALS[3], Resource("Run", "r1", "t1"), {}),
    ("audit.erase", PRINCIPALS[1], Resource("Subject", "s1", "t1"), {}),
]


def rate(n: int, seconds: float) -> float:
    return round(n / seconds, 1)


def bench_raw(n: int) -> dict[str, float]:
    text = default_policies_text()
    researcher = [{"type": "Role", "id": "researcher"}]
    ents: list[dict[str, Any]] = [
        {"uid": {"type": "Role", "id": r}, "attrs": {}, "parents": []}
        for r in ("admin", "researcher", "reviewer", "auditor")
    ]
    ents += [
        {"uid": {"type": "User", "id": "rosalind"}, "attrs": {"tenant": "t1"}, "parents": researcher},
        {"uid": {"type": "Run", "id": "r1"}, "attrs": {"tenant": "t1"}, "parents": []},
    ]
    req = {
        "principal": {"type": "User", "id": "rosalind"},
        "action": {"type": "Action", "id": "run"},
        "resource": {"type": "Run", "id": "r1"},
        "context": {"cycles": 5},
    }
    schema = cedarpy.Schema.from_str(schema_text())
    ents_json = json.dumps(ents)
    t = time.perf_counter()
    for _ in range(n // 4):
        r = cedarpy.is_authorized(req, text, ents_json, schema_text())
    s_str = time.perf_counter() - t
    assert r.allowed
    ps = cedarpy.PolicySet.from_str(text)
    handle = cedarpy.Entities.from_json_str(ents_json, schema)
    t = time.perf_counter()
    for _ in range(n):
        r = cedarpy.is_authorized(req, ps, handle, schema)
    s_handles = time.perf_counter() - t
    assert r.allowed
    return {"cedar_raw_str_per_s": rate(n // 4, s_str), "cedar_raw_handles_per_s": rate(n, s_handles)}


def bench_evaluate(n: int) -> dict[str, Any]:
    ev = Evaluator(default_document())
    outcomes: dict[str, int] = {}
    for item in REQUESTS:  # warm up, and show the mix
        o = ev.evaluate(*item).outcome
        outcomes[o] = outcomes.get(o, 0) + 1
    k = len(REQUESTS)
    t = time.perf_counter()
    for i in range(n):
        ev.evaluate(*REQUESTS[i % k])
    s_one = time.perf_counter() - t
    cold = [(a, p, Resource(r.type, f"{r.id}-{i}", r.tenant), c) for i, (a, p, r, c) in enumerate(REQUESTS * (n // k))]
    t = time.perf_counter()
    for item in cold:
        ev.evaluate(*item)
    s_cold = time.perf_counter() - t
    batch = [REQUESTS[i % k] for i in range(n)]
    t = time.perf_counter()
    verdicts = ev.evaluate_batch(batch)
    s_batch = time.perf_counter() - t
    assert [v.outcome for v in verdicts[:k]] == [ev.evaluate(*r).outcome for r in REQUESTS]
    return {
        "evaluate_per_s": rate(n, s_one),
        "evaluate_cold_per_s": rate(len(cold), s_cold),
        "evaluate_batch_per_s": rate(n, s_batch),
        "request_mix": outcomes,
    }


class _Sink:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def record(self, record: Any) -> int:
        return self.ledger.append("governance", payload=record, **ledger_fields(record))

    def prove(self, index: int) -> dict[str, Any]:
        return self.ledger.prove_inclusion(index).to_json()


def bench_gate(n_explain: int, n_check: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d:
        engine = create_engine(sqlite_url(Path(d) / "lab.db"))
        upgrade(engine)
        ledger = Ledger(engine, load_or_create_signer(Path(d) / "log.key", "bench"), "bench")
        sink = _Sink(ledger)
        install_default_policies(engine, "bench", sink=sink, tenant="t1")
        gate = Gate(engine, sink, lab_tenant="t1")
        # allow / deny requests only (escalations open review requests: a different workload)
        items = [r for r in REQUESTS if gate.explain(*r).outcome != "escalate"]
        k = len(items)
        t = time.perf_counter()
        for i in range(n_explain):
            gate.explain(*items[i % k])
        s_explain = time.perf_counter() - t
        t = time.perf_counter()
        for i in range(n_check):
            gate.check(*items[i % k])
        s_check = time.perf_counter() - t
        assert len(gate.decisions.list(limit=n_check + 1)) == n_check
        engine.dispose()
    return {"explain_per_s": rate(n_explain, s_explain), "check_recorded_per_s": rate(n_check, s_check)}


def main() -> None:
    quick = "--quick" in sys.argv
    n = 2_000 if quick else 20_000
    result: dict[str, Any] = {"benchmark": "governance", "target_decisions_per_s": TARGET}
    result.update(bench_raw(n))
    result.update(bench_evaluate(n))
    result.update(bench_gate(n // 4, 200 if quick else 1_000))
    result["meets_target"] = min(result["evaluate_per_s"], result["evaluate_cold_per_s"]) >= TARGET
    result["env"] = {
        "python": platform.python_version(),
        "cedarpy": getattr(cedarpy, "__version__", None) or _version("cedarpy"),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "n": n,
    }
    out = json.dumps(result, indent=2)
    print(out)
    path = Path(__file__).resolve().parent / "results" / "governance.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(out + "\n")


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


if __name__ == "__main__":
    main()
