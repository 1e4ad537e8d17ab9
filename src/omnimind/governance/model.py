"""The gate's vocabulary: actions, principals, resources, outcomes and the decision a gate returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from omnimind.errors import PolicyError

ACTIONS: tuple[str, ...] = (
    "run",
    "resume",
    "restore",
    "snapshot.forget",
    "snapshot.prune",
    "backup.restore",
    "keys.rotate",
    "audit.erase",
    "audit.export",
    "retention.apply",
    "policy.update",
    "sandbox.exec",
    "module.self_modify",
)
"""Every consequential action; each is a Cedar `Action::"..."` id declared in `schema.cedarschema`."""

ROLES: tuple[str, ...] = ("admin", "researcher", "reviewer", "auditor")
"""Roles a principal can hold; each is a Cedar `Role::"..."` entity, a parent of the user."""

REVIEWER_ROLES: frozenset[str] = frozenset({"reviewer", "admin"})
"""Roles that may approve or reject an escalated request (never their own)."""

RESOURCE_TYPES: tuple[str, ...] = ("Lab", "Run", "Snapshot", "Subject", "Module", "Policy", "Key", "Backup")
"""Cedar entity types a resource can have; each has a `tenant` attribute."""

Outcome = Literal["allow", "deny", "escalate"]


def _check_id(kind: str, value: object, limit: int = 200) -> str:
    if type(value) is not str or not value or len(value) > limit or "\n" in value:
        raise PolicyError(f"{kind} must be a non-empty one-line string of at most {limit} characters, got {value!r}")
    return value


@dataclass(frozen=True)
class Principal:
    """Who asks: a user id, the roles it holds (parents `Role::"..."`) and its tenant."""

    id: str
    roles: frozenset[str] = frozenset()
    tenant: str = "default"

    def __post_init__(self) -> None:
        _check_id("principal id", self.id)
        _check_id("tenant", self.tenant, 64)
        roles = frozenset(self.roles)
        unknown = sorted(roles - set(ROLES))
        if unknown:
            raise PolicyError(f"unknown role(s) {', '.join(unknown)} for {self.id}", f"roles are {', '.join(ROLES)}")
        object.__setattr__(self, "roles", roles)

    @classmethod
    def of(cls, id: str, *roles: str, tenant: str = "default") -> Principal:
        """Shorthand: `Principal.of("alice", "researcher", tenant="t1")`."""
        return cls(id, frozenset(roles), tenant)

    def to_json(self) -> dict[str, Any]:
        return {"type": "User", "id": self.id, "roles": sorted(self.roles), "tenant": self.tenant}


@dataclass(frozen=True)
class Resource:
    """What the action is about: a Cedar entity `type::"id"` with the tenant that owns it (and optional attrs
    declared in the schema, e.g. a Run's `owner`)."""

    type: str
    id: str
    tenant: str = "default"
    attrs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.type not in RESOURCE_TYPES:
            raise PolicyError(f"unknown resource type {self.type!r}", f"resource types are {', '.join(RESOURCE_TYPES)}")
        _check_id("resource id", self.id)
        _check_id("tenant", self.tenant, 64)
        if "tenant" in self.attrs:
            raise PolicyError("resource attrs must not contain 'tenant' (use the tenant field)")
        object.__setattr__(self, "attrs", dict(self.attrs))

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "id": self.id, "tenant": self.tenant, "attrs": dict(self.attrs)}


def check_action(action: str) -> str:
    """`action` if it is a gated action, else PolicyError (a programming error in the caller)."""
    if action not in ACTIONS:
        raise PolicyError(f"unknown gated action {action!r}", f"gated actions are {', '.join(ACTIONS)}")
    return action


@dataclass(frozen=True)
class PolicyRef:
    """A policy that took part in a decision: its @id, effect, @escalate count and the text shown to users
    (@reason, else @rationale)."""

    id: str
    effect: Literal["permit", "forbid"]
    escalate: int
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "effect": self.effect, "escalate": self.escalate, "reason": self.reason}


@dataclass(frozen=True)
class Decision:
    """What the gate decided, with everything needed to explain it (`explain()`) and to record it
    (`record`, the decision record of `schemas/decision-record.schema.json`; None for a dry run)."""

    outcome: Outcome
    action: str
    principal: Principal
    resource: Resource
    context: Mapping[str, Any]
    policies: tuple[PolicyRef, ...]
    reasons: tuple[str, ...]
    errors: tuple[str, ...]
    required_reviewers: int
    policy_version: int
    policy_digest: str
    time: str
    id: str | None = None
    request_id: str | None = None
    reviewers: tuple[str, ...] = ()
    expires_at: str | None = None
    ledger_index: int | None = None
    record: Mapping[str, Any] | None = None
    new_request: bool = False

    @property
    def allowed(self) -> bool:
        return self.outcome == "allow"

    @property
    def policy_ids(self) -> tuple[str, ...]:
        return tuple(p.id for p in self.policies)

    def explain(self) -> str:
        """A few lines for a human: the outcome, the deciding policies and why."""
        who = f"{self.principal.id} ({', '.join(sorted(self.principal.roles)) or 'no roles'}, {self.principal.tenant})"
        what = f"{self.action} on {self.resource.type}::{self.resource.id} ({self.resource.tenant})"
        lines = [f"{self.outcome.upper()}: {who} → {what}"]
        lines.append(f"policy set: version {self.policy_version}, sha256 {self.policy_digest[:16]}…")
        for p in self.policies:
            esc = f", needs {p.escalate} reviewer(s)" if p.escalate else ""
            lines.append(f"  {p.effect} {p.id}{esc}: {p.reason}")
        shown = {f"{p.id}: {p.reason}" for p in self.policies}
        lines.extend(f"  reason: {r}" for r in self.reasons if r not in shown)
        for e in self.errors:
            lines.append(f"  error: {e}")
        if self.outcome == "escalate":
            lines.append(
                f"  waits for {self.required_reviewers} distinct reviewer(s) (role reviewer or admin), "
                "not the requester"
            )
        if self.request_id:
            lines.append(f"  review request: {self.request_id}")
        if self.reviewers:
            lines.append(f"  approved by: {', '.join(self.reviewers)}")
        return "\n".join(lines)
