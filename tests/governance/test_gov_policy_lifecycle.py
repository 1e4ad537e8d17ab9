"""Policy lifecycle: Cedar validates every update (malformed ones are rejected with Cedar's message and the
set in force stays), updates are gated and logged, versions are kept with digest, author and time."""

from __future__ import annotations

from pathlib import Path

import pytest
from gov_helpers import ADMIN, ADMIN2, AUDITOR, RESEARCHER, REVIEWER, Env, make_env
from mini_jsonschema import validate

from omnimind.errors import PolicyError
from omnimind.governance import (
    PolicyDenied,
    PolicyDocument,
    PolicyVersion,
    Principal,
    Resource,
    ReviewRequired,
    default_policies_text,
    install_default_policies,
    policy_digest,
)
from omnimind.storage import sqlite_url

RUN = Resource("Run", "r1", "t1")
# the new set: researchers may no longer run (a visible behaviour change)
NO_RESEARCH = default_policies_text().replace(
    'permit (\n  principal in Role::"researcher",\n  action in [\n    Action::"run",\n',
    'permit (\n  principal in Role::"researcher",\n  action in [\n',
)

MALFORMED = [
    # (text, a fragment of Cedar's / the validator's message)
    ('@id("x") @rationale("r") permit (principal, action, resource) when { context.cycles > };', "unexpected token"),
    ('@id("x") @rationale("r") permit (principal, action == Action::"launch_missiles", resource);', "launch_missiles"),
    ('@id("x") @rationale("r") permit (principal, action, resource) when { context.cycles > 5 };', "cycles"),
    ('@id("x") @rationale("r") permit (principal in Group::"a", action, resource);', "Group"),
    ('@rationale("r") permit (principal, action, resource);', "no @id"),
    ('@id("x") permit (principal, action, resource);', "no @rationale"),
    (
        '@id("x") @rationale("r") permit (principal, action, resource);\n'
        '@id("x") @rationale("r") forbid (principal, action, resource);',
        "used twice",
    ),
    ('@id("x") @rationale("r") @escalate("2") forbid (principal, action, resource);', "only meaningful on a permit"),
    ('@id("x") @rationale("r") @escalate("many") permit (principal, action, resource);', "number of reviewers"),
    ('@id("x") @rationale("r") permit (principal == ?principal, action, resource);', "templates"),
    ("// nothing here\n", "empty"),
]


def _approve_update(env: Env, text: str, author: Principal = ADMIN) -> PolicyVersion:
    with pytest.raises(ReviewRequired) as info:
        env.gate.update_policies(text, author, note="tighten run permissions")
    env.gate.approve(info.value.request_id, REVIEWER, "reviewed the diff")
    return env.gate.update_policies(text, author, note="tighten run permissions")


@pytest.mark.parametrize(("text", "fragment"), MALFORMED, ids=[m[1] for m in MALFORMED])
def test_malformed_update_is_rejected_with_cedars_message_and_old_set_stays(env: Env, text: str, fragment: str) -> None:
    before = env.counts()
    active = env.gate.show_policies()
    with pytest.raises(PolicyError) as info:
        env.gate.update_policies(text, ADMIN)
    assert fragment in info.value.message
    assert env.counts() == before  # nothing recorded, no request, no version
    assert env.gate.show_policies() == active
    assert env.gate.explain("run", RESEARCHER, RUN).outcome == "allow"  # old set still decides


def test_cedar_parse_error_is_cedars_own_text(env: Env) -> None:
    bad = '@id("x") @rationale("r") permit (principal, action, resource) when { context.cycles > };'
    try:
        import cedarpy

        cedarpy.PolicySet.from_str(bad)
    except ValueError as exc:
        cedar_message = str(exc)
    with pytest.raises(PolicyError) as info:
        env.gate.update_policies(bad, ADMIN)
    assert cedar_message in info.value.message


def test_update_is_gated_escalated_logged_and_versioned(env: Env) -> None:
    assert default_policies_text() != NO_RESEARCH
    # not an admin: vetoed / default-denied, recorded, no version
    with pytest.raises(PolicyDenied):
        env.gate.update_policies(NO_RESEARCH, RESEARCHER)
    with pytest.raises(PolicyDenied, match="auditor-read-only"):
        env.gate.update_policies(NO_RESEARCH, AUDITOR)
    assert len(env.gate.policies.history()) == 1
    # an admin: needs one reviewer (policy-change-review), then applies once
    new = _approve_update(env, NO_RESEARCH)
    assert new.version == 2 and new.author == "ada" and new.digest == policy_digest(NO_RESEARCH)
    assert new.note == "tighten run permissions" and new.decision_id
    assert env.gate.show_policies().version == 2
    assert env.gate.explain("run", RESEARCHER, RUN).outcome == "deny"  # the new set is in force
    hist = env.gate.policies.history()
    assert [(v.version, v.author) for v in hist] == [(1, "init"), (2, "ada")]
    assert hist[0].digest == policy_digest(default_policies_text())
    assert all(v.created_at.endswith("Z") for v in hist)
    # logged: the allow decision for policy.update and the policy record (with the full text)
    records = [dict(e.payload) for e in env.governance_entries()]
    pol = [r for r in records if r["kind"] == "policy"]
    assert [p["version"] for p in pol] == [1, 2]
    assert pol[1]["text"] == NO_RESEARCH and pol[1]["previous_digest"] == hist[0].digest
    assert pol[1]["decision_id"] == new.decision_id
    validate(pol[1], "policyRecord")
    upd = env.gate.decisions.show(new.decision_id or "")["record"]
    assert upd["action"] == "policy.update" and upd["decision"] == "allow"
    assert upd["context"]["policy_digest"] == new.digest
    # decisions carry the version they were taken under
    d = env.gate.check("run", RESEARCHER, RUN)
    assert d.policy_version == 2 and d.record and d.record["policy_set"]["digest"] == new.digest


def test_an_update_approval_covers_exactly_that_text(env: Env) -> None:
    with pytest.raises(ReviewRequired) as info:
        env.gate.update_policies(NO_RESEARCH, ADMIN)
    env.gate.approve(info.value.request_id, REVIEWER, "ok")
    sneaky = NO_RESEARCH + '\n@id("backdoor") @rationale("x") permit (principal, action, resource);\n'
    with pytest.raises(ReviewRequired):  # a different digest is a different request
        env.gate.update_policies(sneaky, ADMIN)
    with pytest.raises(PolicyDenied, match="different request"):
        env.gate.update_policies(sneaky, ADMIN, approval=info.value.request_id)
    assert env.gate.show_policies().version == 1
    assert env.gate.update_policies(NO_RESEARCH, ADMIN).version == 2


def test_identical_update_is_refused(env: Env) -> None:
    with pytest.raises(PolicyError, match="identical"):
        env.gate.update_policies(default_policies_text(), ADMIN)


def test_other_gates_pick_up_a_new_version(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "lab.db")
    a, b = make_env(url, tmp_path), make_env(url, tmp_path)
    assert b.gate.explain("run", RESEARCHER, RUN).outcome == "allow"
    _approve_update(a, NO_RESEARCH, author=ADMIN2)
    assert b.gate.explain("run", RESEARCHER, RUN).outcome == "deny"
    assert b.gate.check("run", RESEARCHER, RUN).policy_version == 2
    a.close()
    b.close()


def test_install_default_policies_is_idempotent_and_logged(env: Env) -> None:
    first = env.gate.show_policies()
    assert first.version == 1 and first.text == default_policies_text() and first.ledger_index is not None
    again = install_default_policies(env.engine, "someone-else", sink=env.sink)
    assert again == first
    assert len(env.gate.policies.history()) == 1


def test_default_policies_are_documented() -> None:
    """Every default policy has an @id and a one-line rationale, and the principles page maps each one."""
    doc = PolicyDocument.parse(default_policies_text())
    principles = (Path(__file__).resolve().parents[2] / "docs" / "governance" / "principles.md").read_text()
    for p in doc.infos.values():
        assert p.rationale and "\n" not in p.rationale
        assert f"`{p.id}`" in principles, f"{p.id} is not mapped to a principle"
    assert {p.id for p in doc.infos.values() if p.escalate} == {
        "sensitive-export-review",
        "erasure-two-reviewers",
        "policy-change-review",
    }
