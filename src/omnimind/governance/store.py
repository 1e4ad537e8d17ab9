"""Policy versions: a table of Cedar policy sets with digest, author and time; the newest is in force."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from omnimind import clock
from omnimind.errors import NotFoundError, PolicyError
from omnimind.governance.policyset import PolicyDocument, default_policies_text
from omnimind.governance.records import policy_record
from omnimind.governance.sink import DecisionSink
from omnimind.storage.schema import governance_policies as _t


@dataclass(frozen=True)
class PolicyVersion:
    """One stored policy set."""

    version: int
    digest: str
    text: str
    author: str
    created_at: str
    note: str
    decision_id: str | None
    ledger_index: int | None

    def to_json(self, *, text: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "version": self.version,
            "digest": self.digest,
            "author": self.author,
            "created_at": self.created_at,
            "note": self.note,
            "decision_id": self.decision_id,
            "ledger_index": self.ledger_index,
        }
        if text:
            out["text"] = self.text
        return out


def _row(r: Any) -> PolicyVersion:
    return PolicyVersion(
        version=int(r.version),
        digest=r.digest,
        text=r.text,
        author=r.author,
        created_at=r.created_at,
        note=r.note,
        decision_id=r.decision_id,
        ledger_index=None if r.ledger_index is None else int(r.ledger_index),
    )


class PolicyStore:
    """Reads and appends policy versions (no gating here: `Gate.update_policies` gates, then calls `add`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def head(self) -> tuple[int, str] | None:
        """(version, digest) of the policy set in force, or None if none is installed."""
        stmt = sa.select(_t.c.version, _t.c.digest).order_by(_t.c.version.desc()).limit(1)
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else (int(row.version), str(row.digest))

    def active(self) -> PolicyVersion:
        """The policy set in force (the newest version)."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(_t).order_by(_t.c.version.desc()).limit(1)).first()
        if row is None:
            raise PolicyError(
                "no policy set is installed in this lab: every gated action is refused",
                "`omnimind init` installs the default policies (governance.install_default_policies)",
            )
        return _row(row)

    def get(self, version: int) -> PolicyVersion:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(_t).where(_t.c.version == version)).first()
        if row is None:
            raise NotFoundError(f"no policy version {version}", "list them with `omnimind policy history`")
        return _row(row)

    def history(self) -> list[PolicyVersion]:
        """Every version, oldest first."""
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(sa.select(_t).order_by(_t.c.version))]

    def add(
        self,
        document: PolicyDocument,
        *,
        author: str,
        sink: DecisionSink | None,
        tenant: str,
        note: str = "",
        decision_id: str | None = None,
        expect_version: int | None = None,
    ) -> PolicyVersion:
        """Store `document` as the next version, recording it to `sink` first. `expect_version` is the
        version the caller evaluated against: if another update landed in between, PolicyError."""
        head = self.head()
        current = head[0] if head else 0
        if expect_version is not None and current != expect_version:
            raise PolicyError(
                f"the policy set changed while this update was decided (now version {current})",
                "check the new version with `omnimind policy show` and submit the update again",
            )
        now = clock.iso()
        version = current + 1
        index = None
        if sink is not None:
            index = sink.record(
                policy_record(
                    version=version,
                    digest=document.digest,
                    previous_digest=head[1] if head else None,
                    author=author,
                    time=now,
                    note=note,
                    text=document.text,
                    tenant=tenant,
                    decision_id=decision_id,
                )
            )
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    sa.insert(_t).values(
                        version=version,
                        digest=document.digest,
                        text=document.text,
                        author=author,
                        created_at=now,
                        note=note,
                        decision_id=decision_id,
                        ledger_index=index,
                    )
                )
        except sa.exc.IntegrityError as exc:
            raise PolicyError(
                f"another policy update became version {version} at the same time",
                "check `omnimind policy show` and submit the update again",
            ) from exc
        return PolicyVersion(version, document.digest, document.text, author, now, note, decision_id, index)


def install_default_policies(
    engine: Engine, actor: str, *, sink: DecisionSink | None = None, tenant: str = "default"
) -> PolicyVersion:
    """Install the shipped default policy set as version 1 (the lab's `init` calls this once; the trust
    root, so it is not gated). Idempotent: if a policy set is installed already, it is returned unchanged.
    With `sink`, the installation is recorded (a `policy` record) like every later version."""
    store = PolicyStore(engine)
    if store.head() is not None:
        return store.active()
    document = PolicyDocument.parse(default_policies_text())
    return store.add(document, author=actor, sink=sink, tenant=tenant, note="default policy set", expect_version=0)
