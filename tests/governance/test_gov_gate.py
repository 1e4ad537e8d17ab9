"""The gate itself: every gated action is refused by a denying policy set (nothing happens), and the
default policy set decides the documented cases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from gov_helpers import (
    ADMIN,
    AUDITOR,
    OTHER_TENANT_ADMIN,
    RESEARCHER,
    REVIEWER,
    Env,
)
from mini_jsonschema import validate

from omnimind.errors import PolicyError
from omnimind.governance import (
    ACTIONS,
    PolicyDenied,
    PolicyDocument,
    Principal,
    Resource,
    ReviewRequired,
)
from omnimind.governance.store import PolicyStore

VETO_ALL = """
@id("allow-everything") @rationale("test: every action is permitted")
permit (principal, action, resource);
@id("freeze") @rationale("test: the lab is frozen") @reason("the lab is frozen for the audit")
forbid (principal, action, resource);
"""
PERMIT_NOTHING_RELEVANT = """
@id("only-auditor-export") @rationale("test: only auditors may export")
permit (principal in Role::"auditor", action == Action::"audit.export", resource);
"""
ALL_ROLES = Principal.of("root", "admin", "researcher", "reviewer", tenant="t1")


def _install(env: Env, text: str) -> None:
    """Make `text` the policy set in force (bypassing the gate: a test fixture, like init)."""
    PolicyStore(env.engine).add(PolicyDocument.parse(text), author="test", sink=env.sink, tenant="default")


def _resource_for(action: str) -> Resource:
    return {
        "audit.erase": Resource("Subject", "subj-1", "t1"),
        "keys.rotate": Resource("Key", "kek", "t1"),
        "backup.restore": Resource("Backup", "b1", "t1"),
        "policy.update": Resource("Policy", "active", "t1"),
        "module.self_modify": Resource("Module", "predictor", "t1"),
        "snapshot.forget": Resource("Snapshot", "s1", "t1"),
        "snapshot.prune": Resource("Lab", "lab", "t1"),
        "retention.apply": Resource("Lab", "lab", "t1"),
    }.get(action, Resource("Run", "run-1", "t1"))


def _guarded(env: Env, probe: Path, action: str, who: Principal, ctx: dict[str, Any] | None = None) -> None:
    """What every consequential operation looks like: the gate first, then the side effect."""
    env.gate.require(action, who, _resource_for(action), ctx or {})
    probe.write_text(f"{action} happened")


@pytest.mark.parametrize("policy_text", [VETO_ALL, PERMIT_NOTHING_RELEVANT], ids=["veto", "default-deny"])
@pytest.mark.parametrize("action", ACTIONS)
def test_every_gated_action_is_refused_by_a_denying_policy_set(
    env: Env, tmp_path: Path, action: str, policy_text: str
) -> None:
    _install(env, policy_text)
    probe = tmp_path / "side-effect"
    before = env.counts()
    ctx = {"sandboxed": True, "declared": True}
    with pytest.raises(PolicyDenied) as info:
        _guarded(env, probe, action, ALL_ROLES, ctx)
    assert not probe.exists(), "the action ran although the gate denied it"
    after = env.counts()
    # exactly one decision (recorded and indexed), nothing else: no review request, no policy change
    assert after["governance_decisions"] == before["governance_decisions"] + 1
    assert after["ledger"] == before["ledger"] + 1
    assert after["governance_requests"] == before["governance_requests"]
    assert after["governance_policies"] == before["governance_policies"]
    d = info.value.decision
    assert d.outcome == "deny" and d.id is not None
    if policy_text is VETO_ALL:
        assert d.policy_ids == ("freeze",)
        assert "freeze" in info.value.message and "frozen for the audit" in info.value.message
    else:
        assert d.policy_ids == ()
        assert "default deny" in info.value.message
    validate(dict(d.record or {}))


@pytest.mark.parametrize("action", ACTIONS)
def test_the_same_actions_pass_when_permitted(env: Env, tmp_path: Path, action: str) -> None:
    """Control for the test above: the probe does fire when the gate allows (so the probe can fail)."""
    _install(env, '@id("all") @rationale("test") permit (principal, action, resource);')
    probe = tmp_path / "side-effect"
    _guarded(env, probe, action, ALL_ROLES)
    assert probe.read_text() == f"{action} happened"


def test_no_policy_set_installed_refuses_everything(tmp_path: Path) -> None:
    from gov_helpers import make_env

    from omnimind.storage import sqlite_url

    e = make_env(sqlite_url(tmp_path / "bare.db"), tmp_path, install=False)
    try:
        with pytest.raises(PolicyError, match="no policy set is installed"):
            e.gate.require("run", RESEARCHER, Resource("Run", "r", "t1"))
        assert e.counts()["governance_decisions"] == 0
    finally:
        e.close()


def test_unknown_action_and_bad_identities_are_programming_errors(env: Env) -> None:
    with pytest.raises(PolicyError, match="unknown gated action"):
        env.gate.require("delete_everything", ADMIN, Resource("Lab", "lab", "t1"))
    with pytest.raises(PolicyError, match="unknown role"):
        Principal.of("x", "superuser")
    with pytest.raises(PolicyError, match="unknown resource type"):
        Resource("Database", "x", "t1")


def test_sink_failure_refuses_the_action(env: Env, tmp_path: Path) -> None:
    """Fail closed: an allow that cannot be recorded is not an allow."""
    env.sink.fail = True
    probe = tmp_path / "side-effect"
    with pytest.raises(PolicyError, match="could not be recorded"):
        _guarded(env, probe, "run", RESEARCHER)
    assert not probe.exists()
    env.sink.fail = False
    with env.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM governance_decisions")).scalar_one() == 0


def test_request_not_matching_the_schema_is_denied_fail_closed(env: Env) -> None:
    run = Resource("Run", "r1", "t1")
    for ctx in ({"unknown_fact": 1}, {"cycles": "many"}, {"human_participants": "yes"}):
        d = env.gate.explain("run", RESEARCHER, run, ctx)
        assert d.outcome == "deny" and d.errors, ctx
        assert "fails closed" in " ".join(d.reasons)
    d = env.gate.explain("run", RESEARCHER, Resource("Run", "r1", "t1", {"owner": 7}), {})
    assert d.outcome == "deny" and d.errors


# ------------------------------------------------------------------ the default policy set

RUN = Resource("Run", "r1", "t1")
LIVE = {"live_run": True}
HUMAN_OK = {"human_participants": True, "protocol_id": "IRB-7", "approved_protocols": ["IRB-7", "IRB-9"]}

CASES: list[tuple[str, Principal, Resource, dict[str, Any], str, tuple[str, ...]]] = [
    # researchers run within their tenant
    ("run", RESEARCHER, RUN, {}, "allow", ("researcher-experiments",)),
    ("resume", RESEARCHER, RUN, {"cycles": 10_000}, "allow", ("researcher-experiments",)),
    # cross-tenant is forbidden, for admins too
    ("run", RESEARCHER, Resource("Run", "r9", "t2"), {}, "deny", ("tenant-isolation",)),
    ("keys.rotate", OTHER_TENANT_ADMIN, Resource("Key", "kek", "t1"), {}, "deny", ("tenant-isolation",)),
    # auditors read but never change
    ("audit.export", AUDITOR, RUN, {}, "allow", ("auditor-export",)),
    ("run", AUDITOR, RUN, {}, "deny", ("auditor-read-only",)),
    ("policy.update", AUDITOR, Resource("Policy", "active", "t1"), {}, "deny", ("auditor-read-only",)),
    (
        "run",
        Principal.of("x", "auditor", "admin", tenant="t1"),
        RUN,
        {},
        "deny",
        ("auditor-read-only",),
    ),
    # human participants need an approved protocol
    ("run", RESEARCHER, RUN, {"human_participants": True}, "deny", ("human-participants-need-protocol",)),
    (
        "run",
        RESEARCHER,
        RUN,
        {**HUMAN_OK, "protocol_id": "IRB-0"},
        "deny",
        ("human-participants-need-protocol",),
    ),
    ("run", RESEARCHER, RUN, HUMAN_OK, "allow", ("researcher-experiments",)),
    ("run", RESEARCHER, RUN, {"human_participants": False}, "allow", ("researcher-experiments",)),
    # restoring over a live run needs admin
    ("restore", RESEARCHER, RUN, LIVE, "deny", ("live-run-restore-admin-only",)),
    ("restore", RESEARCHER, RUN, {"live_run": False}, "allow", ("researcher-experiments",)),
    ("restore", ADMIN, RUN, LIVE, "allow", ("admin-operations",)),
    ("backup.restore", RESEARCHER, Resource("Backup", "b", "t1"), {}, "deny", ()),
    # user code only sandboxed; self-modification only when declared
    ("sandbox.exec", RESEARCHER, RUN, {}, "deny", ("user-code-sandboxed",)),
    ("sandbox.exec", RESEARCHER, RUN, {"sandboxed": True}, "allow", ("researcher-experiments",)),
    ("module.self_modify", RESEARCHER, RUN, {}, "deny", ("self-modification-declared",)),
    ("module.self_modify", RESEARCHER, RUN, {"declared": True}, "allow", ("researcher-experiments",)),
    # erasure needs two reviewers; policy changes one; sensitive exports one
    ("audit.erase", ADMIN, Resource("Subject", "s", "t1"), {}, "escalate", ("erasure-two-reviewers",)),
    ("audit.erase", RESEARCHER, Resource("Subject", "s", "t1"), {}, "deny", ()),
    ("policy.update", ADMIN, Resource("Policy", "active", "t1"), {}, "escalate", ("policy-change-review",)),
    ("policy.update", RESEARCHER, Resource("Policy", "active", "t1"), {}, "deny", ()),
    ("audit.export", RESEARCHER, RUN, {"data_sensitivity": "low"}, "allow", ("researcher-export",)),
    ("audit.export", RESEARCHER, RUN, {"data_sensitivity": "high"}, "escalate", ("sensitive-export-review",)),
    # admin-only operations
    ("snapshot.prune", RESEARCHER, Resource("Lab", "lab", "t1"), {}, "deny", ()),
    ("snapshot.prune", ADMIN, Resource("Lab", "lab", "t1"), {}, "allow", ("admin-operations",)),
    ("retention.apply", ADMIN, Resource("Lab", "lab", "t1"), {}, "allow", ("admin-operations",)),
    ("keys.rotate", ADMIN, Resource("Key", "kek", "t1"), {}, "allow", ("admin-operations",)),
    # reviewers review; they do not act
    ("run", REVIEWER, RUN, {}, "deny", ()),
]


@pytest.mark.parametrize(
    ("action", "who", "res", "ctx", "outcome", "policies"),
    CASES,
    ids=[f"{c[0]}-{c[1].id}-{c[4]}-{i}" for i, c in enumerate(CASES)],
)
def test_default_policy_set(
    env: Env,
    action: str,
    who: Principal,
    res: Resource,
    ctx: dict[str, Any],
    outcome: str,
    policies: tuple[str, ...],
) -> None:
    d = env.gate.explain(action, who, res, ctx)
    assert d.outcome == outcome, d.explain()
    assert d.policy_ids == policies, d.explain()
    assert not d.errors


def test_escalation_takes_the_largest_n_of_the_matching_permits(env: Env) -> None:
    _install(
        env,
        """
        @id("one") @escalate("1") @rationale("t") permit (principal in Role::"admin", action, resource);
        @id("three") @escalate("3") @rationale("t") permit (principal, action == Action::"audit.erase", resource);
        @id("plain") @rationale("t") permit (principal, action, resource);
        """,
    )
    d = env.gate.explain("audit.erase", ADMIN, Resource("Subject", "s", "t1"))
    assert (d.outcome, d.required_reviewers) == ("escalate", 3)
    assert set(d.policy_ids) == {"one", "three", "plain"}
    d = env.gate.explain("run", RESEARCHER, RUN)
    assert (d.outcome, d.required_reviewers) == ("allow", 0)


def test_explain_is_a_dry_run_without_side_effects(env: Env) -> None:
    before = env.counts()
    for action, who, res, ctx, *_ in CASES:
        env.gate.explain(action, who, res, ctx)
    assert env.counts() == before
    text = env.gate.explain("audit.erase", ADMIN, Resource("Subject", "s", "t1")).explain()
    assert "ESCALATE" in text and "erasure-two-reviewers" in text and "2 distinct reviewer" in text


def test_require_raises_review_required_with_the_request_id(env: Env, tmp_path: Path) -> None:
    probe = tmp_path / "side-effect"
    with pytest.raises(ReviewRequired) as info:
        _guarded(env, probe, "audit.erase", ADMIN)
    assert not probe.exists()
    rid = info.value.request_id
    assert rid.startswith("rq_") and f"omnimind review approve {rid}" in info.value.hint
    assert env.gate.reviews.show(rid).status == "pending"
