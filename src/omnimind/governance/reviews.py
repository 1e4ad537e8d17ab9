"""The review queue: escalated requests waiting for N distinct reviewers, with expiry and one-shot use.

Life of a request:  pending --(N approvals)--> approved --(the action runs)--> consumed
                    pending --(one reject)--> rejected
                    pending / approved --(expires_at passes)--> expired (computed; never approvable/usable)

Rules enforced here (not configurable by policy, so a policy edit cannot weaken them):
  * a reviewer holds role reviewer or admin, belongs to the request's tenant, and is not the requester;
  * each reviewer counts once (a unique key on (request, reviewer));
  * an expired, rejected, approved or consumed request cannot be reviewed;
  * an approval is used at most once: consumption is one conditional UPDATE
    (status approved -> consumed, not expired, same request digest), atomic on SQLite and PostgreSQL.

Every verdict is recorded to the DecisionSink (the ledger) before it is stored.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from omnimind import clock
from omnimind.errors import NotFoundError
from omnimind.governance.errors import ReviewError
from omnimind.governance.model import REVIEWER_ROLES, Principal
from omnimind.governance.records import new_id, review_record
from omnimind.governance.sink import DecisionSink
from omnimind.storage.schema import governance_requests as _rq
from omnimind.storage.schema import governance_reviews as _rv

STATUSES = ("pending", "approved", "rejected", "consumed", "expired")


@dataclass(frozen=True)
class Review:
    """One reviewer's verdict."""

    reviewer: str
    verdict: str
    reason: str
    time: str
    ledger_index: int

    def to_json(self) -> dict[str, Any]:
        return {
            "reviewer": self.reviewer,
            "verdict": self.verdict,
            "reason": self.reason,
            "time": self.time,
            "ledger_index": self.ledger_index,
        }


@dataclass(frozen=True)
class ReviewRequest:
    """An escalated action waiting for (or having had) review. `status` accounts for expiry."""

    id: str
    status: str
    action: str
    principal: str
    tenant: str
    resource_type: str
    resource_id: str
    request: dict[str, Any]
    request_digest: str
    required: int
    policies: tuple[str, ...]
    policy_version: int
    created_at: str
    expires_at: str
    decision_id: str
    resolved_at: str | None
    consumed_at: str | None
    consumed_decision_id: str | None
    reviews: tuple[Review, ...]

    @property
    def approvals(self) -> tuple[Review, ...]:
        return tuple(r for r in self.reviews if r.verdict == "approve")

    @property
    def approvers(self) -> tuple[str, ...]:
        return tuple(r.reviewer for r in self.approvals)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "action": self.action,
            "principal": self.principal,
            "tenant": self.tenant,
            "resource": f"{self.resource_type}::{self.resource_id}",
            "request": self.request,
            "request_digest": self.request_digest,
            "required": self.required,
            "approvals": len(self.approvals),
            "policies": list(self.policies),
            "policy_version": self.policy_version,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "decision_id": self.decision_id,
            "resolved_at": self.resolved_at,
            "consumed_at": self.consumed_at,
            "consumed_decision_id": self.consumed_decision_id,
            "reviews": [r.to_json() for r in self.reviews],
        }


def _status(stored: str, expires_at: str, now: str) -> str:
    if stored in ("pending", "approved") and expires_at <= now:
        return "expired"
    return stored


class ReviewQueue:
    """Review requests in the lab database; verdicts recorded to `sink`."""

    def __init__(self, engine: Engine, sink: DecisionSink, *, now: Callable[[], datetime] = clock.now) -> None:
        self.engine = engine
        self.sink = sink
        self._now = now

    def _iso(self) -> str:
        return clock.iso(self._now())

    # ---------------------------------------------------------------- reads

    def _load(self, conn: Connection, rows: Sequence[Any], now: str) -> list[ReviewRequest]:
        if not rows:
            return []
        ids = [r.id for r in rows]
        reviews: dict[str, list[Review]] = {i: [] for i in ids}
        for rv in conn.execute(sa.select(_rv).where(_rv.c.request_id.in_(ids)).order_by(_rv.c.id)):
            reviews[rv.request_id].append(Review(rv.reviewer, rv.verdict, rv.reason, rv.time, int(rv.ledger_index)))
        return [
            ReviewRequest(
                id=r.id,
                status=_status(r.status, r.expires_at, now),
                action=r.action,
                principal=r.principal,
                tenant=r.tenant,
                resource_type=r.resource_type,
                resource_id=r.resource_id,
                request=json.loads(r.request),
                request_digest=r.request_digest,
                required=int(r.required),
                policies=tuple(r.policies.split()),
                policy_version=int(r.policy_version),
                created_at=r.created_at,
                expires_at=r.expires_at,
                decision_id=r.decision_id,
                resolved_at=r.resolved_at,
                consumed_at=r.consumed_at,
                consumed_decision_id=r.consumed_decision_id,
                reviews=tuple(reviews[r.id]),
            )
            for r in rows
        ]

    def show(self, request_id: str) -> ReviewRequest:
        """One request with its reviews; NotFoundError if unknown."""
        now = self._iso()
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(_rq).where(_rq.c.id == request_id)).all()
            found = self._load(conn, list(rows), now)
        if not found:
            raise NotFoundError(f"no review request {request_id}", "list them with `omnimind review list`")
        return found[0]

    def find(self, request_digest: str) -> list[ReviewRequest]:
        """Requests for exactly this request digest, newest first."""
        now = self._iso()
        stmt = sa.select(_rq).where(_rq.c.request_digest == request_digest).order_by(_rq.c.created_at.desc())
        with self.engine.connect() as conn:
            return self._load(conn, list(conn.execute(stmt).all()), now)

    def list(
        self,
        *,
        status: str | None = "pending",
        tenant: str | None = None,
        principal: str | None = None,
        action: str | None = None,
        limit: int = 100,
    ) -> list[ReviewRequest]:
        """Requests, newest first; `status` (default "pending": still waiting, not expired) or None for all."""
        if status is not None and status not in STATUSES:
            raise ReviewError(f"unknown review status {status!r}", f"use one of {', '.join(STATUSES)}")
        now = self._iso()
        stmt = sa.select(_rq)
        if status in ("pending", "approved"):
            stmt = stmt.where(_rq.c.status == status, _rq.c.expires_at > now)
        elif status == "expired":
            stmt = stmt.where(_rq.c.status.in_(("pending", "approved")), _rq.c.expires_at <= now)
        elif status is not None:
            stmt = stmt.where(_rq.c.status == status)
        for col, value in ((_rq.c.tenant, tenant), (_rq.c.principal, principal), (_rq.c.action, action)):
            if value is not None:
                stmt = stmt.where(col == value)
        stmt = stmt.order_by(_rq.c.created_at.desc(), _rq.c.id).limit(limit)
        with self.engine.connect() as conn:
            return self._load(conn, list(conn.execute(stmt).all()), now)

    # ---------------------------------------------------------------- writes (the gate's)

    def create(
        self,
        *,
        request_id: str,
        request: dict[str, Any],
        request_digest: str,
        required: int,
        policies: tuple[str, ...],
        policy_version: int,
        decision_id: str,
        created_at: str,
        expires_at: str,
    ) -> None:
        """Insert a pending request (the gate has already recorded the escalate decision)."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.insert(_rq).values(
                    id=request_id,
                    created_at=created_at,
                    expires_at=expires_at,
                    updated_at=created_at,
                    status="pending",
                    action=request["action"],
                    principal=request["principal"]["id"],
                    tenant=request["resource"]["tenant"],
                    resource_type=request["resource"]["type"],
                    resource_id=request["resource"]["id"],
                    request_digest=request_digest,
                    request=json.dumps(request, sort_keys=True, separators=(",", ":")),
                    required=required,
                    policies=" ".join(policies),
                    policy_version=policy_version,
                    decision_id=decision_id,
                )
            )

    def consume(self, request_id: str, request_digest: str, decision_id: str) -> bool:
        """Use an approval: True for exactly one caller while it is approved, unexpired, unused and for
        this exact request; False otherwise (one atomic conditional UPDATE)."""
        now = self._iso()
        stmt = (
            sa.update(_rq)
            .where(
                _rq.c.id == request_id,
                _rq.c.status == "approved",
                _rq.c.expires_at > now,
                _rq.c.request_digest == request_digest,
            )
            .values(status="consumed", consumed_at=now, updated_at=now, consumed_decision_id=decision_id)
        )
        with self.engine.begin() as conn:
            return conn.execute(stmt).rowcount == 1

    # ---------------------------------------------------------------- reviewing

    def approve(self, request_id: str, reviewer: Principal, reason: str) -> ReviewRequest:
        """Add `reviewer`'s approval; the request becomes approved at the required count."""
        return self._review(request_id, reviewer, "approve", reason)

    def reject(self, request_id: str, reviewer: Principal, reason: str) -> ReviewRequest:
        """Reject the request (final: one eligible reviewer's rejection ends it)."""
        return self._review(request_id, reviewer, "reject", reason)

    def _check(self, req: ReviewRequest, reviewer: Principal) -> None:
        if req.status != "pending":
            why = {
                "expired": f"it expired at {req.expires_at}",
                "approved": "it is already approved",
                "rejected": "it was rejected",
                "consumed": "it was approved and used",
            }[req.status]
            raise ReviewError(
                f"review request {req.id} cannot be reviewed: {why}",
                "the requester runs the action again to open a new request" if req.status == "expired" else "",
            )
        if reviewer.id == req.principal:
            raise ReviewError(
                f"{reviewer.id} requested {req.id} and cannot review their own request",
                "ask a different reviewer (role reviewer or admin)",
            )
        if not reviewer.roles & REVIEWER_ROLES:
            raise ReviewError(
                f"{reviewer.id} cannot review: reviewing needs role reviewer or admin",
                "ask a reviewer, or have an admin grant the reviewer role",
            )
        if reviewer.tenant != req.tenant:
            raise ReviewError(
                f"{reviewer.id} (tenant {reviewer.tenant}) cannot review a request of tenant {req.tenant}"
            )
        if any(r.reviewer == reviewer.id for r in req.reviews):
            raise ReviewError(
                f"{reviewer.id} has already reviewed {req.id}", "each reviewer counts once; ask another reviewer"
            )

    def _review(self, request_id: str, reviewer: Principal, verdict: str, reason: str) -> ReviewRequest:
        reason = (reason or "").strip()
        if not reason:
            raise ReviewError("a review needs a reason", "pass --reason TEXT")
        req = self.show(request_id)
        self._check(req, reviewer)  # before anything is recorded
        now = self._iso()
        index = self.sink.record(
            review_record(
                id=new_id("rev"),
                time=now,
                request_id=req.id,
                verdict=verdict,
                reviewer=reviewer,
                reason=reason,
                action=req.action,
                requester=req.principal,
                tenant=req.tenant,
                required=req.required,
                request_digest=req.request_digest,
            )
        )
        with self.engine.begin() as conn:
            # Touch the row first: takes the write lock (SQLite) / row lock (PostgreSQL), so concurrent
            # reviews of one request serialise and the approval count below is exact.
            conn.execute(sa.update(_rq).where(_rq.c.id == request_id).values(updated_at=now))
            row = conn.execute(sa.select(_rq).where(_rq.c.id == request_id)).first()
            assert row is not None
            fresh = self._load(conn, [row], now)[0]
            self._check(fresh, reviewer)  # re-check under the lock (a concurrent verdict may have landed)
            conn.execute(
                sa.insert(_rv).values(
                    request_id=request_id,
                    reviewer=reviewer.id,
                    verdict=verdict,
                    reason=reason,
                    time=now,
                    ledger_index=index,
                )
            )
            if verdict == "reject":
                new_status: str | None = "rejected"
            elif len(fresh.approvals) + 1 >= fresh.required:
                new_status = "approved"
            else:
                new_status = None
            if new_status is not None:
                conn.execute(
                    sa.update(_rq)
                    .where(_rq.c.id == request_id, _rq.c.status == "pending")
                    .values(status=new_status, resolved_at=now)
                )
        return self.show(request_id)
