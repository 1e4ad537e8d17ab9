"""Governance records: the JSON objects that go to the ledger (schemas/decision-record.schema.json).

Three kinds, told apart by `kind`:
  decision  one gate evaluation that was acted upon (allow / deny / escalate);
  review    one reviewer's approve / reject of an escalated request;
  policy    one policy-set version coming into force.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from omnimind.canonical import json_digest
from omnimind.governance.evaluate import Verdict
from omnimind.governance.model import Principal, Resource

DECISION_FORMAT = "omnimind-governance-decision/1"
REVIEW_FORMAT = "omnimind-governance-review/1"
POLICY_FORMAT = "omnimind-governance-policy/1"


def new_id(prefix: str) -> str:
    """A random id with a readable prefix: `dec_…` decisions, `rq_…` review requests, `rev_…` reviews."""
    return f"{prefix}_{secrets.token_hex(8)}"


def request_digest(action: str, principal: Principal, resource: Resource, context: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical request: an approval is bound to exactly this action, principal (with its
    roles and tenant), resource and context; any change needs a new review."""
    return json_digest(request_object(action, principal, resource, context))


def request_object(action: str, principal: Principal, resource: Resource, context: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "action": action,
        "principal": principal.to_json(),
        "resource": resource.to_json(),
        "context": dict(context),
    }


def decision_record(
    *,
    id: str,
    time: str,
    action: str,
    principal: Principal,
    resource: Resource,
    context: Mapping[str, Any],
    verdict: Verdict,
    outcome: str,
    reasons: Sequence[str],
    policy_version: int,
    policy_digest: str,
    request_id: str | None = None,
    requested_at: str | None = None,
    expires_at: str | None = None,
    reviewers: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The decision record for one gate evaluation."""
    return {
        "kind": "decision",
        "format": DECISION_FORMAT,
        "id": id,
        "time": time,
        "action": action,
        "principal": principal.to_json(),
        "resource": resource.to_json(),
        "context": dict(context),
        "decision": outcome,
        "policies": [p.to_json() for p in verdict.policies],
        "reasons": list(reasons),
        "errors": list(verdict.errors),
        "required_reviewers": verdict.required_reviewers,
        "reviewers": [dict(r) for r in reviewers],
        "request_id": request_id,
        "requested_at": requested_at,
        "expires_at": expires_at,
        "policy_set": {"version": policy_version, "digest": policy_digest},
    }


def review_record(
    *,
    id: str,
    time: str,
    request_id: str,
    verdict: str,
    reviewer: Principal,
    reason: str,
    action: str,
    requester: str,
    tenant: str,
    required: int,
    request_digest: str,
) -> dict[str, Any]:
    """The record of one reviewer's verdict on an escalated request."""
    return {
        "kind": "review",
        "format": REVIEW_FORMAT,
        "id": id,
        "time": time,
        "request_id": request_id,
        "verdict": verdict,
        "reviewer": reviewer.to_json(),
        "reason": reason,
        "action": action,
        "requester": requester,
        "tenant": tenant,
        "required": required,
        "request_digest": request_digest,
    }


def policy_record(
    *,
    version: int,
    digest: str,
    previous_digest: str | None,
    author: str,
    time: str,
    note: str,
    text: str,
    tenant: str,
    decision_id: str | None,
) -> dict[str, Any]:
    """The record of a policy-set version coming into force (the full Cedar text is included)."""
    return {
        "kind": "policy",
        "format": POLICY_FORMAT,
        "version": version,
        "digest": digest,
        "previous_digest": previous_digest,
        "author": author,
        "time": time,
        "note": note,
        "text": text,
        "tenant": tenant,
        "decision_id": decision_id,
    }
