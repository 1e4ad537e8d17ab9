"""Escalation: N distinct reviewers, never the requester, expiry, and an approval that runs exactly once
(on SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from gov_helpers import (
    ADMIN,
    ADMIN2,
    AUDITOR,
    OTHER_TENANT_REVIEWER,
    RESEARCHER,
    REVIEWER,
    REVIEWER2,
    REVIEWER3,
    Env,
    make_env,
)
from mini_jsonschema import validate

from omnimind.errors import NotFoundError
from omnimind.governance import Decision, PolicyDenied, Resource, ReviewError, ReviewRequired
from omnimind.storage import sqlite_url

SUBJECT = Resource("Subject", "subj-42", "t1")
ERASE_CTX = {"justification": "data subject request #42"}


def _request_erasure(env: Env) -> str:
    with pytest.raises(ReviewRequired) as info:
        env.gate.require("audit.erase", ADMIN, SUBJECT, ERASE_CTX)
    return info.value.request_id


def _erase(env: Env, erased: list[str]) -> Decision:
    d = env.gate.require("audit.erase", ADMIN, SUBJECT, ERASE_CTX)
    erased.append(SUBJECT.id)
    return d


def test_approved_escalation_runs_exactly_once(any_env: Env) -> None:
    env = any_env
    rid = _request_erasure(env)
    env.gate.approve(rid, REVIEWER, "subject identity verified")
    assert env.gate.reviews.show(rid).status == "pending"  # 1 of 2
    env.gate.approve(rid, REVIEWER2, "legal basis checked")
    assert env.gate.reviews.show(rid).status == "approved"
    erased: list[str] = []
    d = _erase(env, erased)
    assert d.outcome == "allow" and d.request_id == rid
    assert set(d.reviewers) == {"rita", "rob"}
    validate(dict(d.record or {}))
    req = env.gate.reviews.show(rid)
    assert req.status == "consumed" and req.consumed_decision_id == d.id
    # the second attempt does not reuse the approval: it opens a new review request
    with pytest.raises(ReviewRequired) as info:
        _erase(env, erased)
    assert info.value.request_id != rid
    assert erased == ["subj-42"]
    # naming the used approval explicitly is a veto, recorded
    with pytest.raises(PolicyDenied, match="already used"):
        env.gate.require("audit.erase", ADMIN, SUBJECT, ERASE_CTX, approval=rid)
    assert erased == ["subj-42"]


def test_concurrent_attempts_consume_the_approval_once(any_env: Env) -> None:
    env = any_env
    rid = _request_erasure(env)
    env.gate.approve(rid, REVIEWER, "ok")
    env.gate.approve(rid, REVIEWER2, "ok")
    erased: list[str] = []
    outcomes: list[str] = []
    barrier = threading.Barrier(6)
    lock = threading.Lock()

    def attempt() -> None:
        barrier.wait()
        try:
            env.gate.require("audit.erase", ADMIN, SUBJECT, ERASE_CTX, approval=rid)
            with lock:
                erased.append("x")
                outcomes.append("allow")
        except PolicyDenied:
            with lock:
                outcomes.append("deny")

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert erased == ["x"]
    assert sorted(outcomes) == ["allow"] + ["deny"] * 5


def test_requester_cannot_approve_own_request(env: Env) -> None:
    # ADMIN (requester) holds a reviewer-eligible role, and still cannot approve
    rid = _request_erasure(env)
    before = env.counts()
    with pytest.raises(ReviewError, match="cannot review their own request"):
        env.gate.approve(rid, ADMIN, "looks fine to me")
    assert env.counts() == before  # nothing recorded, nothing stored
    assert env.gate.reviews.show(rid).approvals == ()


def test_n_distinct_reviewers_are_needed(env: Env) -> None:
    rid = _request_erasure(env)
    env.gate.approve(rid, REVIEWER, "first")
    with pytest.raises(ReviewError, match="already reviewed"):
        env.gate.approve(rid, REVIEWER, "again, to make two")
    assert len(env.gate.reviews.show(rid).approvals) == 1
    # one approval of two: the action still waits (and reuses the open request)
    with pytest.raises(ReviewRequired, match="still waiting") as info:
        env.gate.require("audit.erase", ADMIN, SUBJECT, ERASE_CTX)
    assert info.value.request_id == rid
    env.gate.approve(rid, ADMIN2, "second, an admin")
    assert env.gate.require("audit.erase", ADMIN, SUBJECT, ERASE_CTX).outcome == "allow"


def test_only_reviewers_of_the_same_tenant_can_review(env: Env) -> None:
    rid = _request_erasure(env)
    for who, msg in (
        (RESEARCHER, "needs role reviewer or admin"),
        (AUDITOR, "needs role reviewer or admin"),
        (OTHER_TENANT_REVIEWER, "cannot review a request of tenant t1"),
    ):
        with pytest.raises(ReviewError, match=msg):
            env.gate.approve(rid, who, "why not")
    with pytest.raises(ReviewError, match="needs a reason"):
        env.gate.approve(rid, REVIEWER, "  ")
    with pytest.raises(NotFoundError):
        env.gate.approve("rq_0000000000000000", REVIEWER, "x")
    assert env.gate.reviews.show(rid).reviews == ()


def test_expired_requests_cannot_be_approved_or_used(env: Env) -> None:
    rid = _request_erasure(env)
    env.gate.approve(rid, REVIEWER, "ok")
    env.clock.advance(hours=72, seconds=1)
    assert env.gate.reviews.show(rid).status == "expired"
    with pytest.raises(ReviewError, match="expired"):
        env.gate.approve(rid, REVIEWER2, "late")
    assert [r.id for r in env.gate.reviews.list(status="expired")] == [rid]
    assert env.gate.reviews.list() == []  # nothing pending any more
    # a new attempt opens a new request
    with pytest.raises(ReviewRequired) as info:
        env.gate.require("audit.erase", ADMIN, SUBJECT, ERASE_CTX)
    assert info.value.request_id != rid


def test_an_approval_expires_if_not_used_in_time(env: Env) -> None:
    rid = _request_erasure(env)
    env.gate.approve(rid, REVIEWER, "ok")
    env.gate.approve(rid, REVIEWER2, "ok")
    env.clock.advance(hours=73)
    erased: list[str] = []
    with pytest.raises(PolicyDenied, match="expired"):
        env.gate.require("audit.erase", ADMIN, SUBJECT, ERASE_CTX, approval=rid)
    with pytest.raises(ReviewRequired):
        _erase(env, erased)
    assert erased == []
    assert env.gate.reviews.show(rid).consumed_at is None


def test_one_rejection_ends_the_request(env: Env) -> None:
    rid = _request_erasure(env)
    env.gate.approve(rid, REVIEWER, "ok")
    env.gate.reject(rid, REVIEWER2, "no legal basis")
    assert env.gate.reviews.show(rid).status == "rejected"
    with pytest.raises(ReviewError, match="rejected"):
        env.gate.approve(rid, REVIEWER3, "overrule")
    with pytest.raises(PolicyDenied, match="was rejected"):
        env.gate.require("audit.erase", ADMIN, SUBJECT, ERASE_CTX, approval=rid)


def test_an_approval_covers_exactly_the_reviewed_request(env: Env) -> None:
    rid = _request_erasure(env)
    env.gate.approve(rid, REVIEWER, "ok")
    env.gate.approve(rid, REVIEWER2, "ok")
    other = Resource("Subject", "subj-43", "t1")
    # another subject, another context, another requester: not covered
    with pytest.raises(PolicyDenied, match="different request"):
        env.gate.require("audit.erase", ADMIN, other, ERASE_CTX, approval=rid)
    with pytest.raises(ReviewRequired):
        env.gate.require("audit.erase", ADMIN, SUBJECT, {"justification": "something else"})
    with pytest.raises(PolicyDenied, match="different request"):
        env.gate.require("audit.erase", ADMIN2, SUBJECT, ERASE_CTX, approval=rid)
    assert env.gate.reviews.show(rid).status == "approved"
    assert env.gate.require("audit.erase", ADMIN, SUBJECT, ERASE_CTX, approval=rid).outcome == "allow"


def test_a_veto_still_wins_over_an_approval(env: Env) -> None:
    """Approvals never bypass Cedar: the request is re-evaluated when it runs."""
    rid = _request_erasure(env)
    env.gate.approve(rid, REVIEWER, "ok")
    env.gate.approve(rid, REVIEWER2, "ok")
    from omnimind.governance import PolicyDocument, default_policies_text
    from omnimind.governance.store import PolicyStore

    frozen = default_policies_text() + (
        '\n@id("erasure-freeze") @rationale("t") @reason("legal hold on all erasures")\n'
        'forbid (principal, action == Action::"audit.erase", resource);\n'
    )
    PolicyStore(env.engine).add(PolicyDocument.parse(frozen), author="test", sink=env.sink, tenant="default")
    with pytest.raises(PolicyDenied, match="legal hold"):
        env.gate.require("audit.erase", ADMIN, SUBJECT, ERASE_CTX)
    assert env.gate.reviews.show(rid).status == "approved"  # not consumed by a vetoed attempt


def test_review_list_and_show(any_env: Env) -> None:
    env = any_env
    rid = _request_erasure(env)
    pending = env.gate.reviews.list(tenant="t1")
    assert [r.id for r in pending] == [rid]
    assert env.gate.reviews.list(tenant="t2") == []
    req = env.gate.reviews.show(rid)
    assert (req.action, req.principal, req.required, req.policies) == (
        "audit.erase",
        "ada",
        2,
        ("erasure-two-reviewers",),
    )
    assert req.request["context"] == ERASE_CTX
    env.gate.approve(rid, REVIEWER, "ok")
    js = env.gate.reviews.show(rid).to_json()
    assert js["approvals"] == 1 and js["reviews"][0]["reviewer"] == "rita"


def test_queue_survives_a_new_gate_instance(tmp_path: Path) -> None:
    """The queue is in the database: another process (a new Gate) sees and consumes the approval."""
    url = sqlite_url(tmp_path / "lab.db")
    a = make_env(url, tmp_path)
    rid = _request_erasure(a)
    a.gate.approve(rid, REVIEWER, "ok")
    b = make_env(url, tmp_path)
    b.gate.approve(rid, REVIEWER2, "ok")
    assert a.gate.require("audit.erase", ADMIN, SUBJECT, ERASE_CTX).outcome == "allow"
    with pytest.raises(ReviewRequired):
        b.gate.require("audit.erase", ADMIN, SUBJECT, ERASE_CTX)
    a.close()
    b.close()
