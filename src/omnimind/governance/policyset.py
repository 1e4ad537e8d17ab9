"""Policy documents: Cedar text, validated by Cedar against the governance schema, with annotations read out.

A policy set is accepted only if
  1. Cedar parses it (`cedarpy.PolicySet.from_str`), else Cedar's parse message is the error;
  2. Cedar's validator accepts it against `schema.cedarschema` (`cedarpy.validate_policies`): unknown
     actions, entity types, attributes, and unguarded optional facts (`context.x` without `context has x`)
     are rejected with Cedar's message;
  3. every policy is static (no templates) and has a unique `@id`, a one-line `@rationale`, an optional
     one-line `@reason` (shown when a forbid vetoes) and, on permits only, an optional `@escalate("N")`
     with 1 <= N <= 9 (the number of distinct reviewers it requires).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

import cedarpy

from omnimind.errors import PolicyError

MAX_REVIEWERS = 9
_POLICY_REF = re.compile(r"`(policy\d+)`")


@cache
def schema_text() -> str:
    """The Cedar schema every policy and request is validated against (package data)."""
    return resources.files("omnimind.governance").joinpath("schema.cedarschema").read_text("utf-8")


@cache
def schema_handle() -> Any:
    """The parsed schema (`cedarpy.Schema`), parsed once per process."""
    return cedarpy.Schema.from_str(schema_text())


@cache
def default_policies_text() -> str:
    """The default policy set shipped with OmniMind (package data `default_policies.cedar`)."""
    return resources.files("omnimind.governance").joinpath("default_policies.cedar").read_text("utf-8")


def policy_digest(text: str) -> str:
    """Hex SHA-256 of the policy text's UTF-8 bytes: the version identity recorded with every decision."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class PolicyInfo:
    """One policy of a set: Cedar's positional id (`policy0`...), its @id and annotations."""

    cedar_id: str
    id: str
    effect: Literal["permit", "forbid"]
    escalate: int
    rationale: str
    reason: str

    @property
    def shown_reason(self) -> str:
        return self.reason or self.rationale


def _position(cedar_id: str) -> tuple[int, str]:
    """Sort key: Cedar's positional ids `policyN` in source order."""
    m = re.fullmatch(r"policy(\d+)", cedar_id)
    return (int(m.group(1)), "") if m else (1 << 30, cedar_id)


def _one_line(policy: str, name: str, value: str, *, required: bool) -> str:
    if required and not value.strip():
        raise PolicyError(
            f"policy {policy} has no @{name} annotation",
            f'every policy needs @id("...") and a one-line @rationale("..."); add @{name}("...")',
        )
    if "\n" in value or "\r" in value:
        raise PolicyError(f"policy {policy}: @{name} must be one line")
    return value.strip()


def _annotations(text: str) -> dict[str, PolicyInfo]:
    est = json.loads(cedarpy.policies_to_json_str(text))
    if est.get("templates"):
        raise PolicyError(
            "the policy set contains templates (?principal / ?resource slots)",
            "write static policies; templates authorize nothing until linked and are not supported here",
        )
    infos: dict[str, PolicyInfo] = {}
    seen: dict[str, str] = {}
    static: dict[str, Any] = est.get("staticPolicies", {})
    for cedar_id in sorted(static, key=_position):
        pol = static[cedar_id]
        ann: dict[str, str] = pol.get("annotations") or {}
        where = f"{cedar_id} ({ann['id']})" if ann.get("id") else cedar_id
        pid = _one_line(where, "id", ann.get("id", ""), required=True)
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}", pid):
            raise PolicyError(f"policy {where}: @id must be 1-100 of [A-Za-z0-9._:-], starting alphanumeric")
        if pid in seen:
            raise PolicyError(f"policy @id {pid!r} is used twice ({seen[pid]} and {cedar_id})", "ids must be unique")
        seen[pid] = cedar_id
        effect = pol["effect"]
        escalate = 0
        if "escalate" in ann:
            raw = ann["escalate"].strip()
            if effect != "permit":
                raise PolicyError(
                    f"policy {pid}: @escalate is only meaningful on a permit",
                    "a forbid is a veto; to require review, annotate the permit that allows the action",
                )
            if not raw.isdigit() or not 1 <= int(raw) <= MAX_REVIEWERS:
                raise PolicyError(
                    f"policy {pid}: @escalate({ann['escalate']!r}) must be a number of reviewers 1..{MAX_REVIEWERS}"
                )
            escalate = int(raw)
        infos[cedar_id] = PolicyInfo(
            cedar_id=cedar_id,
            id=pid,
            effect=effect,
            escalate=escalate,
            rationale=_one_line(pid, "rationale", ann.get("rationale", ""), required=True),
            reason=_one_line(pid, "reason", ann.get("reason", ""), required=False),
        )
    if not infos:
        raise PolicyError("the policy set is empty", "an empty set denies everything, including policy updates")
    return infos


class PolicyDocument:
    """A validated policy set: its text, digest, parsed Cedar handle and per-policy annotations."""

    def __init__(self, text: str, infos: dict[str, PolicyInfo], compiled: Any) -> None:
        self.text = text
        self.digest = policy_digest(text)
        self.infos = infos
        self.by_id = {p.id: p for p in infos.values()}
        self.compiled = compiled

    @classmethod
    def parse(cls, text: str) -> PolicyDocument:
        """Parse and validate `text`; PolicyError carrying Cedar's own message when Cedar rejects it."""
        if not isinstance(text, str):
            raise PolicyError(f"policy text must be a string, got {type(text).__name__}")
        try:
            compiled = cedarpy.PolicySet.from_str(text)
        except ValueError as exc:
            raise PolicyError(
                f"Cedar cannot parse the policy set: {exc}",
                "fix the policy file; the active policy set stays in force",
            ) from exc
        try:
            result = cedarpy.validate_policies(text, schema_handle())
        except ValueError as exc:  # pragma: no cover - parsed above, so validation can only report
            raise PolicyError(f"Cedar cannot validate the policy set: {exc}") from exc
        if not result.validation_passed:
            names = result.id_annotations_by_policy_id
            msgs = []
            for err in result.errors:
                label = f"{err.policy_id} (@id {names[err.policy_id]})" if err.policy_id in names else err.policy_id
                msgs.append(f"[{label}] {err.error}" if label else err.error)
            raise PolicyError(
                "Cedar's validator rejects the policy set against the governance schema: " + "; ".join(msgs),
                "use only the actions, entity types and context facts in omnimind/governance/schema.cedarschema, "
                "and guard optional facts with `context has ...`; the active policy set stays in force",
            )
        return cls(text, _annotations(text), compiled)

    def rename(self, message: str) -> str:
        """Replace Cedar's positional ids (`policy3`) in `message` by the policies' @ids."""

        def sub(m: re.Match[str]) -> str:
            info = self.infos.get(m.group(1))
            return f"`{info.id}`" if info else m.group(0)

        return _POLICY_REF.sub(sub, message)

    def summary(self) -> list[dict[str, Any]]:
        """One row per policy (for `policy show`): id, effect, escalate, rationale, reason."""
        return [
            {"id": p.id, "effect": p.effect, "escalate": p.escalate, "rationale": p.rationale, "reason": p.reason}
            for p in self.infos.values()
        ]


@cache
def default_document() -> PolicyDocument:
    """The default policy set, parsed and validated once."""
    return PolicyDocument.parse(default_policies_text())
