"""Test helper: get an escalated lab action approved by reviewers, the way people would."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from omnimind.governance import ReviewRequired
from omnimind.lab.governance import principal
from omnimind.lab.lab import Lab

T = TypeVar("T")


def with_reviews(lab: Lab, action: Callable[[], T], reviewers: tuple[str, ...] = ("rev-a", "rev-b")) -> T:
    """Run `action`; if it escalates, have `reviewers` (made reviewers if needed) approve, then run it again."""
    for name in reviewers:
        if "reviewer" not in lab.config.users.get(name, []):
            lab.set_roles(name, ["reviewer"])
    try:
        return action()
    except ReviewRequired as exc:
        needed = exc.decision.required_reviewers
        assert needed <= len(reviewers), f"{needed} reviewers needed"
        for name in reviewers[:needed]:
            lab.gate.approve(exc.request_id, principal(lab, name), "approved in test")
    return action()


def expect_review(action: Callable[[], Any]) -> str:
    """The request id of an action that must escalate."""
    with pytest.raises(ReviewRequired) as info:
        action()
    return str(info.value.request_id)
