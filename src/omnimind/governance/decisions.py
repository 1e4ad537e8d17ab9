"""The decision index: every recorded decision, queryable and exportable with its inclusion proof.

The ledger holds the decision records (the truth); this table indexes them by time, action, principal,
tenant, outcome and review request. Exports carry, for each record, the ledger's inclusion proof bundle
(entry envelope, audit path, signed checkpoint), so a third party can check that the exported record is
exactly the one in the tamper-evident log: decode `proof.entry`, compare its `payload` with `record`, and
verify the proof against the log's public key.

Export formats (one row per decision, oldest first):
  jsonl    {"ledger_index": n, "proof": {...}, "record": {...}} per line, keys sorted
  csv      columns EXPORT_COLUMNS; `record` and `proof` are JSON strings
  parquet  the same columns (pyarrow, imported only when used)
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from omnimind.canonical import canonical_json
from omnimind.errors import NotFoundError, PolicyError
from omnimind.governance.sink import DecisionSink
from omnimind.storage.schema import governance_decisions as _t

EXPORT_FORMATS = ("jsonl", "csv", "parquet")
EXPORT_COLUMNS = (
    "id",
    "time",
    "action",
    "principal",
    "principal_tenant",
    "tenant",
    "resource",
    "decision",
    "policies",
    "request_id",
    "policy_version",
    "ledger_index",
    "record",
    "proof",
)
OUTCOMES = ("allow", "deny", "escalate")


def _summary(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "time": r.time,
        "action": r.action,
        "principal": r.principal,
        "principal_tenant": r.principal_tenant,
        "tenant": r.tenant,
        "resource": f"{r.resource_type}::{r.resource_id}",
        "decision": r.decision,
        "policies": r.policies.split(),
        "request_id": r.request_id,
        "policy_version": int(r.policy_version),
        "ledger_index": int(r.ledger_index),
    }


class DecisionLog:
    """Query and export of recorded decisions."""

    def __init__(self, engine: Engine, sink: DecisionSink) -> None:
        self.engine = engine
        self.sink = sink

    def add(self, record: Mapping[str, Any], ledger_index: int) -> None:
        """Index a decision record that is already in the ledger at `ledger_index`."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.insert(_t).values(
                    id=record["id"],
                    time=record["time"],
                    action=record["action"],
                    principal=record["principal"]["id"],
                    principal_tenant=record["principal"]["tenant"],
                    tenant=record["resource"]["tenant"],
                    resource_type=record["resource"]["type"],
                    resource_id=record["resource"]["id"],
                    decision=record["decision"],
                    policies=" ".join(p["id"] for p in record["policies"]),
                    request_id=record["request_id"],
                    policy_version=record["policy_set"]["version"],
                    ledger_index=ledger_index,
                    record=canonical_json(record).decode("utf-8"),
                )
            )

    def _select(
        self,
        *,
        action: str | None = None,
        principal: str | None = None,
        tenant: str | None = None,
        decision: str | None = None,
        request_id: str | None = None,
        policy: str | None = None,
        resource: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> sa.Select[Any]:
        if decision is not None and decision not in OUTCOMES:
            raise PolicyError(f"unknown decision {decision!r}", f"use one of {', '.join(OUTCOMES)}")
        stmt = sa.select(_t)
        for col, value in (
            (_t.c.action, action),
            (_t.c.principal, principal),
            (_t.c.decision, decision),
            (_t.c.request_id, request_id),
        ):
            if value is not None:
                stmt = stmt.where(col == value)
        if tenant is not None:  # a tenant sees decisions about its resources and by its principals
            stmt = stmt.where(sa.or_(_t.c.tenant == tenant, _t.c.principal_tenant == tenant))
        if policy is not None:
            padded = sa.literal(" ") + _t.c.policies + sa.literal(" ")
            stmt = stmt.where(padded.contains(f" {policy} ", autoescape=True))
        if resource is not None:
            rtype, sep, rid = resource.partition("::")
            if not sep:
                raise PolicyError(f"resource filter {resource!r} must be TYPE::ID", "e.g. Run::r1")
            stmt = stmt.where(_t.c.resource_type == rtype, _t.c.resource_id == rid.strip('"'))
        if since is not None:
            stmt = stmt.where(_t.c.time >= since)
        if until is not None:
            stmt = stmt.where(_t.c.time < until)
        return stmt

    def list(self, *, limit: int = 100, newest_first: bool = True, **filters: Any) -> list[dict[str, Any]]:
        """Decision summaries matching every filter (action, principal, tenant, decision, request_id,
        policy, resource "TYPE::ID", since / until ISO times, `until` exclusive)."""
        order = (_t.c.ledger_index.desc(),) if newest_first else (_t.c.ledger_index,)
        stmt = self._select(**filters).order_by(*order).limit(limit)
        with self.engine.connect() as conn:
            return [_summary(r) for r in conn.execute(stmt)]

    def show(self, decision_id: str, *, proof: bool = False) -> dict[str, Any]:
        """One decision: its summary, the full record, and (with `proof`) its inclusion proof."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(_t).where(_t.c.id == decision_id)).first()
        if row is None:
            raise NotFoundError(f"no decision {decision_id}", "list them with `omnimind decisions list`")
        out = _summary(row)
        out["record"] = json.loads(row.record)
        if proof:
            out["proof"] = self.sink.prove(int(row.ledger_index))
        return out

    def records(self, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every matching decision, oldest first, each as {ledger_index, record, proof}."""
        stmt = self._select(**filters).order_by(_t.c.ledger_index)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        for row in rows:
            index = int(row.ledger_index)
            yield {"ledger_index": index, "record": json.loads(row.record), "proof": self.sink.prove(index)}

    def export(self, fmt: str, dest: str | Path | IO[str], **filters: Any) -> int:
        """Write matching decisions with their inclusion proofs to `dest` (a path; or a text stream for
        jsonl/csv) in `fmt` (jsonl, csv, parquet); returns the number of records written."""
        if fmt not in EXPORT_FORMATS:
            raise PolicyError(f"unknown export format {fmt!r}", f"use one of {', '.join(EXPORT_FORMATS)}")
        items = self.records(**filters)
        if fmt == "parquet":
            if not isinstance(dest, (str, Path)):
                raise PolicyError("parquet export needs a file path")
            return _write_parquet(items, Path(dest))
        if isinstance(dest, (str, Path)):
            with open(dest, "w", encoding="utf-8", newline="") as fh:
                return self._write_text(fmt, items, fh)
        return self._write_text(fmt, items, dest)

    @staticmethod
    def _write_text(fmt: str, items: Iterator[dict[str, Any]], out: IO[str]) -> int:
        n = 0
        if fmt == "jsonl":
            for item in items:
                out.write(json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n")
                n += 1
            return n
        writer = csv.writer(out)
        writer.writerow(EXPORT_COLUMNS)
        for item in items:
            writer.writerow([_flat(item)[c] for c in EXPORT_COLUMNS])
            n += 1
        return n


def _flat(item: Mapping[str, Any]) -> dict[str, Any]:
    rec = item["record"]
    res = rec["resource"]
    return {
        "id": rec["id"],
        "time": rec["time"],
        "action": rec["action"],
        "principal": rec["principal"]["id"],
        "principal_tenant": rec["principal"]["tenant"],
        "tenant": res["tenant"],
        "resource": f"{res['type']}::{res['id']}",
        "decision": rec["decision"],
        "policies": " ".join(p["id"] for p in rec["policies"]),
        "request_id": rec["request_id"],
        "policy_version": rec["policy_set"]["version"],
        "ledger_index": item["ledger_index"],
        "record": json.dumps(rec, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
        "proof": json.dumps(item["proof"], sort_keys=True, separators=(",", ":")),
    }


def _write_parquet(items: Iterator[dict[str, Any]], path: Path) -> int:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise PolicyError("Parquet export needs pyarrow", "pip install 'omnimind[parquet]'") from exc
    rows = [_flat(i) for i in items]
    types = {"policy_version": pa.int64(), "ledger_index": pa.int64()}
    schema = pa.schema([(c, types.get(c, pa.string())) for c in EXPORT_COLUMNS])
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), str(path))
    return len(rows)
