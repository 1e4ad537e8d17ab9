"""The gate: every consequential action calls `Gate.require(...)` before it acts.

    decision = gate.require("audit.erase", principal, Resource("Subject", "s-42", "t1"), {"justification": "..."})

* allow     -> the decision is returned (recorded first).
* deny      -> PolicyDenied (a PolicyError) naming the deciding policies and their reasons (recorded first).
* escalate  -> a review request is opened (or the open one for the same request reused) and
               ReviewRequired (a PolicyError) says its id and how to approve it. Once N distinct reviewers
               approved, the SAME call (same action, principal, resource, context) succeeds exactly once:
               it consumes the approval atomically and returns an allow decision naming the reviewers.

Every decision the gate acts on is recorded to the DecisionSink (the ledger) and indexed; a recording
failure refuses the action (fail closed). `explain` is the dry run: same evaluation, no side effects.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from omnimind import clock
from omnimind.errors import OmniMindError, PolicyError
from omnimind.governance.decisions import DecisionLog
from omnimind.governance.errors import PolicyDenied, ReviewError, ReviewRequired
from omnimind.governance.evaluate import Evaluator, Verdict, normalise_context
from omnimind.governance.model import Decision, Principal, Resource, check_action
from omnimind.governance.policyset import PolicyDocument
from omnimind.governance.records import decision_record, new_id, request_digest, request_object
from omnimind.governance.reviews import ReviewQueue, ReviewRequest
from omnimind.governance.sink import DecisionSink
from omnimind.governance.store import PolicyStore, PolicyVersion

DEFAULT_REVIEW_TTL = timedelta(hours=72)


class Gate:
    """The policy gate of one lab: evaluation (Cedar), decision recording, review queue, policy versions.

    `sink` receives every record (the lab passes its ledger adapter). `lab_tenant` owns lab-wide resources
    (the policy set). `review_ttl` is how long a review request (and its approval) stays valid. `now` is
    the clock (tests pass a fake one).
    """

    def __init__(
        self,
        engine: Engine,
        sink: DecisionSink,
        *,
        lab_tenant: str = "default",
        review_ttl: timedelta = DEFAULT_REVIEW_TTL,
        now: Callable[[], datetime] = clock.now,
    ) -> None:
        if review_ttl <= timedelta(0):
            raise PolicyError("review_ttl must be positive")
        self.engine = engine
        self.sink = sink
        self.lab_tenant = lab_tenant
        self.review_ttl = review_ttl
        self._now = now
        self.policies = PolicyStore(engine)
        self.reviews = ReviewQueue(engine, sink, now=now)
        self.decisions = DecisionLog(engine, sink)
        self._lock = threading.Lock()
        self._cached: tuple[int, str, Evaluator] | None = None

    # ---------------------------------------------------------------- policy set in force

    def evaluator(self) -> tuple[int, str, Evaluator]:
        """(version, digest, evaluator) of the policy set in force; re-parsed only when the version changes
        (one indexed query per call, so an update by another process applies to the next decision)."""
        head = self.policies.head()
        if head is None:
            self.policies.active()  # raises the "no policy set installed" error
        assert head is not None
        cached = self._cached
        if cached is not None and (cached[0], cached[1]) == head:
            return cached
        with self._lock:
            active = self.policies.active()
            ev = Evaluator(PolicyDocument.parse(active.text))
            self._cached = (active.version, active.digest, ev)
            return self._cached

    # ---------------------------------------------------------------- decisions

    def explain(
        self, action: str, principal: Principal, resource: Resource, context: Mapping[str, Any] | None = None
    ) -> Decision:
        """Dry run (`omnimind policy check`): the decision the gate would take now, with the deciding
        policies and reasons; nothing is recorded, no review request is opened, no approval is used."""
        check_action(action)
        ctx = normalise_context(context)
        version, digest, ev = self.evaluator()
        verdict = ev.evaluate(action, principal, resource, ctx)
        return self._decision(verdict, action, principal, resource, ctx, version, digest, verdict.outcome)

    def check(
        self,
        action: str,
        principal: Principal,
        resource: Resource,
        context: Mapping[str, Any] | None = None,
        *,
        approval: str | None = None,
    ) -> Decision:
        """Decide and record. Returns the recorded decision (allow, deny or escalate) without raising for
        deny/escalate; an escalate decision carries the review request id. With an approved request for this
        exact request (found by its digest, or named by `approval`), the approval is consumed and the
        decision is allow."""
        check_action(action)
        ctx = normalise_context(context)
        version, digest, ev = self.evaluator()
        verdict = ev.evaluate(action, principal, resource, ctx)
        if verdict.outcome != "escalate":  # a named approval is simply not used when no review is needed
            return self._record(verdict, action, principal, resource, ctx, version, digest, verdict.outcome)
        return self._escalated(verdict, action, principal, resource, ctx, version, digest, approval)

    def require(
        self,
        action: str,
        principal: Principal,
        resource: Resource,
        context: Mapping[str, Any] | None = None,
        *,
        approval: str | None = None,
    ) -> Decision:
        """`check`, raising PolicyDenied on deny and ReviewRequired on escalate; the allow decision otherwise.
        Call it immediately before acting, and act only if it returns."""
        decision = self.check(action, principal, resource, context, approval=approval)
        if decision.outcome == "deny":
            raise PolicyDenied(decision)
        if decision.outcome == "escalate":
            raise ReviewRequired(decision, existing=not decision.new_request)
        return decision

    # ---------------------------------------------------------------- escalation

    def _escalated(
        self,
        verdict: Verdict,
        action: str,
        principal: Principal,
        resource: Resource,
        ctx: dict[str, Any],
        version: int,
        digest: str,
        approval: str | None,
    ) -> Decision:
        rdigest = request_digest(action, principal, resource, ctx)
        if approval is not None:
            try:
                named = self.reviews.show(approval)
            except OmniMindError as exc:
                return self._deny_approval(verdict, action, principal, resource, ctx, version, digest, exc.message)
            problem = _approval_problem(named, rdigest)
            if problem:
                return self._deny_approval(verdict, action, principal, resource, ctx, version, digest, problem)
            candidates = [named]
        else:
            candidates = self.reviews.find(rdigest)
        approved = next((r for r in candidates if r.status == "approved"), None)
        if approved is not None:
            if len(approved.approvers) < verdict.required_reviewers:
                # the policy set now asks for more reviewers than approved this request
                return self._deny_approval(
                    verdict,
                    action,
                    principal,
                    resource,
                    ctx,
                    version,
                    digest,
                    f"approval {approved.id} has {len(approved.approvers)} approval(s) but the policies in force "
                    f"now require {verdict.required_reviewers}",
                )
            decision_id = new_id("dec")
            if self.reviews.consume(approved.id, rdigest, decision_id):
                reviewers = [{"id": r.reviewer, "time": r.time, "reason": r.reason} for r in approved.approvals]
                return self._record(
                    verdict,
                    action,
                    principal,
                    resource,
                    ctx,
                    version,
                    digest,
                    "allow",
                    decision_id=decision_id,
                    request=approved,
                    reviewers=reviewers,
                )
            return self._deny_approval(
                verdict,
                action,
                principal,
                resource,
                ctx,
                version,
                digest,
                f"approval {approved.id} was already used, or expired, just now (an approval runs once)",
            )
        pending = next((r for r in candidates if r.status == "pending"), None)
        if pending is not None:
            return self._record(verdict, action, principal, resource, ctx, version, digest, "escalate", request=pending)
        # open a new request: record the escalate decision first, then queue it
        now = self._now()
        request_id = new_id("rq")
        decision_id = new_id("dec")
        created, expires = clock.iso(now), clock.iso(now + self.review_ttl)
        decision = self._record(
            verdict,
            action,
            principal,
            resource,
            ctx,
            version,
            digest,
            "escalate",
            decision_id=decision_id,
            request_id=request_id,
            requested_at=created,
            expires_at=expires,
            time=created,
            new_request=True,
        )
        self.reviews.create(
            request_id=request_id,
            request=request_object(action, principal, resource, ctx),
            request_digest=rdigest,
            required=verdict.required_reviewers,
            policies=tuple(p.id for p in verdict.policies if p.escalate),
            policy_version=version,
            decision_id=decision_id,
            created_at=created,
            expires_at=expires,
        )
        return decision

    def _deny_approval(
        self,
        verdict: Verdict,
        action: str,
        principal: Principal,
        resource: Resource,
        ctx: dict[str, Any],
        version: int,
        digest: str,
        problem: str,
    ) -> Decision:
        denied = Verdict("deny", verdict.policies, (problem,), verdict.errors, verdict.required_reviewers)
        return self._record(denied, action, principal, resource, ctx, version, digest, "deny")

    # ---------------------------------------------------------------- records

    def _decision(
        self,
        verdict: Verdict,
        action: str,
        principal: Principal,
        resource: Resource,
        ctx: dict[str, Any],
        version: int,
        digest: str,
        outcome: Any,
        *,
        time: str | None = None,
        reasons: tuple[str, ...] | None = None,
        **extra: Any,
    ) -> Decision:
        return Decision(
            outcome=outcome,
            action=action,
            principal=principal,
            resource=resource,
            context=ctx,
            policies=verdict.policies,
            reasons=verdict.reasons if reasons is None else reasons,
            errors=verdict.errors,
            required_reviewers=verdict.required_reviewers,
            policy_version=version,
            policy_digest=digest,
            time=time or clock.iso(self._now()),
            **extra,
        )

    def _record(
        self,
        verdict: Verdict,
        action: str,
        principal: Principal,
        resource: Resource,
        ctx: dict[str, Any],
        version: int,
        digest: str,
        outcome: str,
        *,
        decision_id: str | None = None,
        request: ReviewRequest | None = None,
        request_id: str | None = None,
        requested_at: str | None = None,
        expires_at: str | None = None,
        reviewers: list[dict[str, Any]] | None = None,
        new_request: bool = False,
        time: str | None = None,
    ) -> Decision:
        decision_id = decision_id or new_id("dec")
        time = time or clock.iso(self._now())
        if request is not None:
            request_id, requested_at, expires_at = request.id, request.created_at, request.expires_at
        reasons = verdict.reasons
        if outcome == "allow" and reviewers:
            reasons = (*reasons, f"approved by {', '.join(r['id'] for r in reviewers)} (request {request_id})")
        record = decision_record(
            id=decision_id,
            time=time,
            action=action,
            principal=principal,
            resource=resource,
            context=ctx,
            verdict=verdict,
            outcome=outcome,
            reasons=reasons,
            policy_version=version,
            policy_digest=digest,
            request_id=request_id,
            requested_at=requested_at,
            expires_at=expires_at,
            reviewers=reviewers or (),
        )
        try:
            index = self.sink.record(record)
        except Exception as exc:
            raise PolicyError(
                f"the {outcome} decision on {action} could not be recorded ({exc}); the action is refused",
                "check the audit ledger (`omnimind audit verify`) and try again",
            ) from exc
        self.decisions.add(record, index)
        return self._decision(
            verdict,
            action,
            principal,
            resource,
            ctx,
            version,
            digest,
            outcome,
            time=time,
            reasons=reasons,
            id=decision_id,
            request_id=request_id,
            reviewers=tuple(r["id"] for r in reviewers or ()),
            expires_at=expires_at,
            ledger_index=index,
            record=record,
            new_request=new_request,
        )

    # ---------------------------------------------------------------- policy lifecycle

    def show_policies(self) -> PolicyVersion:
        """The policy set in force (`omnimind policy show`)."""
        return self.policies.active()

    def update_policies(
        self, text: str, principal: Principal, *, note: str = "", approval: str | None = None
    ) -> PolicyVersion:
        """`omnimind policy update FILE`: validate `text` with Cedar (a malformed set is rejected with Cedar's
        message and the set in force stays), gate it as `policy.update` on `Policy::"active"` with the new
        digest in context (so an approval covers exactly this text), record it, and make it the new version."""
        document = PolicyDocument.parse(text)
        version, digest, _ = self.evaluator()
        if document.digest == digest:
            raise PolicyError(f"the policy set is identical to version {version} in force", "nothing to update")
        context: dict[str, Any] = {"policy_digest": document.digest}
        if note:
            context["justification"] = note
        decision = self.require(
            "policy.update", principal, Resource("Policy", "active", self.lab_tenant), context, approval=approval
        )
        return self.policies.add(
            document,
            author=principal.id,
            sink=self.sink,
            tenant=self.lab_tenant,
            note=note,
            decision_id=decision.id,
            expect_version=decision.policy_version,
        )

    # ---------------------------------------------------------------- reviews (CLI verbs)

    def approve(self, request_id: str, reviewer: Principal, reason: str) -> ReviewRequest:
        """`omnimind review approve ID --reason TEXT`."""
        return self.reviews.approve(request_id, reviewer, reason)

    def reject(self, request_id: str, reviewer: Principal, reason: str) -> ReviewRequest:
        """`omnimind review reject ID --reason TEXT`."""
        return self.reviews.reject(request_id, reviewer, reason)


def _approval_problem(req: ReviewRequest, rdigest: str) -> str | None:
    """Why the named approval cannot authorise this request, or None."""
    if req.request_digest != rdigest:
        return (
            f"approval {req.id} was granted for a different request ({req.action} by {req.principal} on "
            f"{req.resource_type}::{req.resource_id}, or other context)"
        )
    if req.status in ("approved", "pending"):
        return None
    return {
        "expired": f"approval {req.id} expired at {req.expires_at}",
        "rejected": f"request {req.id} was rejected",
        "consumed": f"approval {req.id} was already used (an approval runs once)",
    }.get(req.status, f"request {req.id} is {req.status}")


__all__ = ["DEFAULT_REVIEW_TTL", "Gate", "ReviewError"]
