"""Governance errors: subclasses of `PolicyError`, each carrying the decision that caused it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from omnimind.errors import PolicyError

if TYPE_CHECKING:
    from omnimind.governance.model import Decision


class PolicyDenied(PolicyError):
    """The gate vetoed the action (a forbid matched, no permit matched, or the request could not be
    evaluated). `decision` names the deciding policies and their reasons."""

    def __init__(self, decision: Decision) -> None:
        self.decision = decision
        why = "; ".join(decision.reasons) or "no policy permits it"
        super().__init__(
            f"{decision.action} denied for {decision.principal.id} on "
            f"{decision.resource.type}::{decision.resource.id} ({why})",
            f"decision {decision.id}; see `omnimind policy check {decision.action} --as {decision.principal.id}`"
            if decision.id
            else f"see `omnimind policy check {decision.action} --as {decision.principal.id}`",
        )


class ReviewRequired(PolicyError):
    """The action needs human review first: a review request exists (`request_id`) and waits for
    `decision.required_reviewers` approvals. Re-run the same action after approval (it runs once)."""

    def __init__(self, decision: Decision, *, existing: bool = False) -> None:
        self.decision = decision
        self.request_id = decision.request_id or ""
        state = "is still waiting for" if existing else "needs"
        super().__init__(
            f"{decision.action} by {decision.principal.id} {state} review: request {self.request_id} "
            f"needs {decision.required_reviewers} approval(s) by distinct reviewers other than the requester "
            f"(policies: {', '.join(decision.policy_ids)}; expires {decision.expires_at})",
            f"a reviewer runs `omnimind review approve {self.request_id} --reason TEXT`; then run the same "
            "command again (the approval is used exactly once)",
        )


class ReviewError(PolicyError):
    """A review operation is not allowed (own request, not a reviewer, expired, already decided, ...)."""
