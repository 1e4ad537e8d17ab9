"""Pure evaluation: one request (or a batch) against a validated policy set, with Cedar, no I/O.

Cedar is the single source of truth: its decision (Allow / Deny) and its diagnostics (the ids of the
policies that were satisfied, and any evaluation errors) are read; the gate's three outcomes follow from
them and from the satisfied policies' annotations only:

  * Cedar Deny with satisfied forbids   -> deny (veto); the forbids' @id and @reason are reported.
  * Cedar Deny with nothing satisfied   -> deny (default deny: no permit matches).
  * Cedar Allow, no satisfied permit annotated @escalate -> allow.
  * Cedar Allow, some satisfied permit annotated @escalate("N") -> escalate, N = the largest such N.
  * any evaluation or request error     -> deny (fail closed): an erroring forbid might have vetoed, an
    erroring escalating permit might have required review.

Requests and entities are validated against the governance schema, so an unknown context fact, a wrong
type or a missing attribute is a request error (deny), never a silently skipped policy.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cedarpy

from omnimind.errors import PolicyError
from omnimind.governance.model import ROLES, Outcome, PolicyRef, Principal, Resource, check_action
from omnimind.governance.policyset import PolicyDocument, schema_handle


@dataclass(frozen=True)
class Verdict:
    """The outcome of one evaluation, before anything is recorded."""

    outcome: Outcome
    policies: tuple[PolicyRef, ...]
    reasons: tuple[str, ...]
    errors: tuple[str, ...]
    required_reviewers: int


def _jsonable(value: Any) -> Any:
    """Context values as Cedar JSON: sets/tuples become (sorted) lists; everything else must be JSON."""
    if isinstance(value, (set, frozenset)):
        return sorted(_jsonable(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise PolicyError(f"context value {value!r} ({type(value).__name__}) is not JSON", "pass str, int, bool, list")


def normalise_context(context: Mapping[str, Any] | None) -> dict[str, Any]:
    """A plain JSON dict copy of `context` (what is evaluated, digested and recorded)."""
    if context is None:
        return {}
    if not isinstance(context, Mapping):
        raise PolicyError(f"context must be a mapping, got {type(context).__name__}")
    out = _jsonable(context)
    assert isinstance(out, dict)
    return out


def _uid(type_: str, id_: str) -> dict[str, str]:
    return {"type": type_, "id": id_}


def _entities(principal: Principal, resource: Resource) -> list[dict[str, Any]]:
    return [
        {
            "uid": _uid("User", principal.id),
            "attrs": {"tenant": principal.tenant},
            "parents": [_uid("Role", r) for r in sorted(principal.roles)],
        },
        {
            "uid": _uid(resource.type, resource.id),
            "attrs": {**_jsonable(resource.attrs), "tenant": resource.tenant},
            "parents": [],
        },
    ]


class Evaluator:
    """Evaluates requests against one validated policy set. The parsed policy set, the schema and the base
    entities (roles; action groups come from the schema) are parsed once and reused for every request."""

    def __init__(self, document: PolicyDocument) -> None:
        self.document = document
        self._schema = schema_handle()
        roles = [{"uid": _uid("Role", r), "attrs": {}, "parents": []} for r in ROLES]
        self._base = cedarpy.Entities.from_json_str(json.dumps(roles), self._schema)
        # Entity handles per (principal, resource) JSON: parsing + schema-checking the delta is half the
        # cost of a decision, and the same pairs recur (a run's resume / self-modify / snapshot checks).
        self._with = functools.lru_cache(maxsize=4096)(self._entities_handle)

    def _entities_handle(self, delta: str) -> Any:
        return self._base.with_added_json_str(delta, self._schema)

    @staticmethod
    def request(action: str, principal: Principal, resource: Resource, context: Mapping[str, Any]) -> dict[str, Any]:
        """The Cedar request for one check."""
        return {
            "principal": _uid("User", principal.id),
            "action": _uid("Action", action),
            "resource": _uid(resource.type, resource.id),
            "context": dict(context),
        }

    def evaluate(
        self, action: str, principal: Principal, resource: Resource, context: Mapping[str, Any] | None = None
    ) -> Verdict:
        """Evaluate one request (`context` already normalised or a plain JSON mapping)."""
        check_action(action)
        ctx = normalise_context(context)
        try:
            entities = self._with(json.dumps(_entities(principal, resource), sort_keys=True))
        except ValueError as exc:
            return self._request_error(str(exc))
        result = cedarpy.is_authorized(
            self.request(action, principal, resource, ctx), self.document.compiled, entities, self._schema
        )
        return self.interpret(result)

    def evaluate_batch(
        self, items: Sequence[tuple[str, Principal, Resource, Mapping[str, Any] | None]]
    ) -> list[Verdict]:
        """Evaluate many requests in one Cedar call (`is_authorized_batch`). Entities are merged: the same
        principal or resource id must carry the same tenant/roles/attrs in every item."""
        merged: dict[tuple[str, str], dict[str, Any]] = {}
        requests = []
        for action, principal, resource, context in items:
            check_action(action)
            for ent in _entities(principal, resource):
                key = (ent["uid"]["type"], ent["uid"]["id"])
                if merged.setdefault(key, ent) != ent:
                    raise PolicyError(f"entity {key[0]}::{key[1]} appears with different attributes in one batch")
            requests.append(self.request(action, principal, resource, normalise_context(context)))
        try:
            entities = self._base.with_added_json_str(json.dumps(list(merged.values())), self._schema)
        except ValueError as exc:
            return [self._request_error(str(exc))] * len(items)
        results = cedarpy.is_authorized_batch(requests, self.document.compiled, entities, self._schema)
        return [self.interpret(r) for r in results]

    def _request_error(self, message: str) -> Verdict:
        msg = f"the request does not match the governance schema: {message}"
        return Verdict("deny", (), (msg + " (the gate fails closed)",), (msg,), 0)

    def interpret(self, result: Any) -> Verdict:
        """Map a Cedar `AuthzResult` to a verdict (see the module docstring)."""
        doc = self.document
        diag = result.diagnostics
        satisfied = [doc.infos[pid] for pid in diag.reasons if pid in doc.infos]
        refs = tuple(PolicyRef(p.id, p.effect, p.escalate, p.shown_reason) for p in satisfied)
        errors = tuple(doc.rename(str(e)) for e in diag.errors)
        if errors:
            why = tuple(f"{e} (the gate fails closed)" for e in errors)
            return Verdict("deny", refs, why, errors, 0)
        if result.decision == cedarpy.Decision.Allow:
            required = max((p.escalate for p in satisfied), default=0)
            if required:
                esc = tuple(p for p in refs if p.escalate)
                return Verdict("escalate", refs, tuple(f"{p.id}: {p.reason}" for p in esc), (), required)
            return Verdict("allow", refs, tuple(f"{p.id}: {p.reason}" for p in refs), (), 0)
        forbids = tuple(p for p in refs if p.effect == "forbid")
        if forbids:
            return Verdict("deny", forbids, tuple(f"{p.id}: {p.reason}" for p in forbids), (), 0)
        return Verdict("deny", (), ("no policy permits this action (default deny)",), (), 0)
