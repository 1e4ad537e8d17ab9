"""Retention decisions ported from restic's own golden tests.

Source: restic/restic `internal/data/snapshot_policy_test.go` (TestApplyPolicy: the snapshot times and the
policy list) and the golden files `internal/data/testdata/policy_keep_snapshots_<N>` (expected keep lists
and reasons), read with the search tool from the restic repository. N is the index in restic's policy list.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from omnimind.errors import SnapshotError
from omnimind.snapshots import Duration, ForgetPolicy, SnapshotStore, apply_policy


@dataclass(frozen=True)
class Item:
    time: datetime
    tags: tuple[str, ...] = ()


def t(s: str) -> datetime:
    frac = 0
    if "." in s:
        s, f = s.split(".")
        frac = int((f + "000000")[:6])
    return datetime.strptime(s, "%Y-%m-%d %H:%M:%S").replace(microsecond=frac, tzinfo=UTC)


_PLAIN = """
2014-09-01 10:20:30|2014-09-02 10:20:30|2014-09-05 10:20:30|2014-09-06 10:20:30|2014-09-08 10:20:30
2014-09-09 10:20:30|2014-09-10 10:20:30|2014-09-11 10:20:30|2014-09-20 10:20:30|2014-09-22 10:20:30
2014-08-08 10:20:30|2014-08-10 10:20:30|2014-08-12 10:20:30|2014-08-13 10:20:30|2014-08-13 10:20:30.1
2014-08-15 10:20:30|2014-08-18 10:20:30|2014-08-20 10:20:30|2014-08-21 10:20:30|2014-08-22 10:20:30
"""
_FOO = """
2014-10-01 10:20:30|2014-10-02 10:20:30|2014-10-05 10:20:30|2014-10-06 10:20:30|2014-10-08 10:20:30
2014-10-09 10:20:30|2014-10-10 10:20:30|2014-10-11 10:20:30|2014-10-20 10:20:30|2014-10-22 10:20:30
2014-11-08 10:20:30|2014-11-10 10:20:30|2014-11-12 10:20:30|2014-11-13 10:20:30
"""
_REST = """
2014-11-18 10:20:30|2014-11-20 10:20:30|2014-11-21 10:20:30|2014-11-22 10:20:30
2015-09-01 10:20:30|2015-09-02 10:20:30|2015-09-05 10:20:30|2015-09-06 10:20:30|2015-09-08 10:20:30
2015-09-09 10:20:30|2015-09-10 10:20:30|2015-09-11 10:20:30|2015-09-20 10:20:30|2015-09-22 10:20:30
2015-08-08 10:20:30|2015-08-10 10:20:30|2015-08-12 10:20:30|2015-08-13 10:20:30|2015-08-13 10:20:30.1
2015-08-15 10:20:30|2015-08-18 10:20:30|2015-08-20 10:20:30|2015-08-21 10:20:30|2015-08-22 10:20:30
2015-10-01 10:20:30|2015-10-02 10:20:30|2015-10-05 10:20:30|2015-10-06 10:20:30|2015-10-08 10:20:30
2015-10-09 10:20:30|2015-10-10 10:20:30|2015-10-11 10:20:30|2015-10-20 10:20:30|2015-10-22 10:20:30
2015-10-22 10:20:30
"""
_TAIL = """
2015-11-08 10:20:30|2015-11-10 10:20:30|2015-11-12 10:20:30|2015-11-13 10:20:30|2015-11-13 10:20:30.1
2015-11-15 10:20:30|2015-11-18 10:20:30|2015-11-20 10:20:30|2015-11-21 10:20:30|2015-11-22 10:20:30
2016-01-01 01:02:03|2016-01-01 01:03:03|2016-01-01 07:08:03|2016-01-03 07:02:03|2016-01-04 10:23:03
2016-01-04 11:23:03|2016-01-04 12:23:03|2016-01-04 12:24:03|2016-01-04 12:28:03|2016-01-04 12:30:03
2016-01-04 16:23:03|2016-01-05 09:02:03|2016-01-06 08:02:03|2016-01-07 10:02:03|2016-01-08 20:02:03
2016-01-09 21:02:03|2016-01-12 21:02:03|2016-01-12 21:08:03|2016-01-18 12:02:03
"""


def _times(block: str) -> list[str]:
    return [x.strip() for line in block.strip().splitlines() for x in line.split("|")]


def restic_items() -> list[Item]:
    """restic's testExpireSnapshots, in its order (tags as in the Go test; paths are irrelevant here)."""
    items = [Item(t(s)) for s in _times(_PLAIN)]
    items += [Item(t(s), ("foo",)) for s in _times(_FOO)]
    items += [Item(t("2014-11-13 10:20:30.1"), ("bar",)), Item(t("2014-11-15 10:20:30"), ("foo", "bar"))]
    items += [Item(t(s)) for s in _times(_REST)]
    items += [Item(t("2015-10-22 10:20:30"), ("foo", "bar"))] * 3
    items += [Item(t(s)) for s in _times(_TAIL)]
    return items


def test_restic_fixture_has_103_snapshots() -> None:
    assert len(restic_items()) == 103


NOW = datetime(2024, 1, 1, tzinfo=UTC)

# (restic golden file index, policy, expected kept times newest first)
GOLDEN = [
    (
        1,
        ForgetPolicy(last=10),
        [
            "2016-01-18 12:02:03",
            "2016-01-12 21:08:03",
            "2016-01-12 21:02:03",
            "2016-01-09 21:02:03",
            "2016-01-08 20:02:03",
            "2016-01-07 10:02:03",
            "2016-01-06 08:02:03",
            "2016-01-05 09:02:03",
            "2016-01-04 16:23:03",
            "2016-01-04 12:30:03",
        ],
    ),
    (
        5,
        ForgetPolicy(hourly=20),
        [
            "2016-01-18 12:02:03",
            "2016-01-12 21:08:03",
            "2016-01-09 21:02:03",
            "2016-01-08 20:02:03",
            "2016-01-07 10:02:03",
            "2016-01-06 08:02:03",
            "2016-01-05 09:02:03",
            "2016-01-04 16:23:03",
            "2016-01-04 12:30:03",
            "2016-01-04 11:23:03",
            "2016-01-04 10:23:03",
            "2016-01-03 07:02:03",
            "2016-01-01 07:08:03",
            "2016-01-01 01:03:03",
            "2015-11-22 10:20:30",
            "2015-11-21 10:20:30",
            "2015-11-20 10:20:30",
            "2015-11-18 10:20:30",
            "2015-11-15 10:20:30",
            "2015-11-13 10:20:30.1",
        ],
    ),
    (
        7,
        ForgetPolicy(daily=10),
        [
            "2016-01-18 12:02:03",
            "2016-01-12 21:08:03",
            "2016-01-09 21:02:03",
            "2016-01-08 20:02:03",
            "2016-01-07 10:02:03",
            "2016-01-06 08:02:03",
            "2016-01-05 09:02:03",
            "2016-01-04 16:23:03",
            "2016-01-03 07:02:03",
            "2016-01-01 07:08:03",
        ],
    ),
    (
        14,
        ForgetPolicy(monthly=6),
        [
            "2016-01-18 12:02:03",
            "2015-11-22 10:20:30",
            "2015-10-22 10:20:30",
            "2015-09-22 10:20:30",
            "2015-08-22 10:20:30",
            "2014-11-22 10:20:30",
        ],
    ),
    (
        15,
        ForgetPolicy(daily=2, weekly=2, monthly=6),
        [
            "2016-01-18 12:02:03",
            "2016-01-12 21:08:03",
            "2015-11-22 10:20:30",
            "2015-10-22 10:20:30",
            "2015-09-22 10:20:30",
            "2015-08-22 10:20:30",
            "2014-11-22 10:20:30",
        ],
    ),
    (
        16,
        ForgetPolicy(yearly=10),
        ["2016-01-18 12:02:03", "2015-11-22 10:20:30", "2014-11-22 10:20:30", "2014-08-08 10:20:30"],
    ),
    (
        19,
        ForgetPolicy(tags=[["foo", "bar"]]),
        ["2015-10-22 10:20:30", "2015-10-22 10:20:30", "2015-10-22 10:20:30", "2014-11-15 10:20:30"],
    ),
    (
        20,
        ForgetPolicy(tags=[["foo"], ["bar"]]),
        [
            "2015-10-22 10:20:30",
            "2015-10-22 10:20:30",
            "2015-10-22 10:20:30",
            "2014-11-15 10:20:30",
            "2014-11-13 10:20:30.1",
            "2014-11-13 10:20:30",
            "2014-11-12 10:20:30",
            "2014-11-10 10:20:30",
            "2014-11-08 10:20:30",
            "2014-10-22 10:20:30",
            "2014-10-20 10:20:30",
            "2014-10-11 10:20:30",
            "2014-10-10 10:20:30",
            "2014-10-09 10:20:30",
            "2014-10-08 10:20:30",
            "2014-10-06 10:20:30",
            "2014-10-05 10:20:30",
            "2014-10-02 10:20:30",
            "2014-10-01 10:20:30",
        ],
    ),
    (21, ForgetPolicy(within="1d"), ["2016-01-18 12:02:03"]),
    (22, ForgetPolicy(within="2d"), ["2016-01-18 12:02:03"]),
    (
        27,
        ForgetPolicy(within="13d23h"),
        [
            "2016-01-18 12:02:03",
            "2016-01-12 21:08:03",
            "2016-01-12 21:02:03",
            "2016-01-09 21:02:03",
            "2016-01-08 20:02:03",
            "2016-01-07 10:02:03",
            "2016-01-06 08:02:03",
            "2016-01-05 09:02:03",
            "2016-01-04 16:23:03",
        ],
    ),
    (
        33,
        ForgetPolicy(within_monthly="1y2m3d3h"),
        [
            "2016-01-18 12:02:03",
            "2015-11-22 10:20:30",
            "2015-10-22 10:20:30",
            "2015-09-22 10:20:30",
            "2015-08-22 10:20:30",
            "2014-11-22 10:20:30",
        ],
    ),
    (
        39,
        ForgetPolicy(daily=3, weekly=2, monthly=-1, yearly=-1),
        [
            "2016-01-18 12:02:03",
            "2016-01-12 21:08:03",
            "2016-01-09 21:02:03",
            "2015-11-22 10:20:30",
            "2015-10-22 10:20:30",
            "2015-09-22 10:20:30",
            "2015-08-22 10:20:30",
            "2014-11-22 10:20:30",
            "2014-10-22 10:20:30",
            "2014-09-22 10:20:30",
            "2014-08-22 10:20:30",
            "2014-08-08 10:20:30",
        ],
    ),
]


@pytest.mark.parametrize(("golden", "policy", "expected"), GOLDEN, ids=[f"restic-{g[0]}" for g in GOLDEN])
def test_restic_golden_keep_lists(golden: int, policy: ForgetPolicy, expected: list[str]) -> None:
    decisions = apply_policy(restic_items(), policy, now=NOW)
    kept = [d.item.time for d in decisions if d.keep]
    assert kept == [t(s) for s in expected]
    assert len(decisions) == 103
    assert all(d.reasons for d in decisions if d.keep)
    assert not any(d.reasons for d in decisions if not d.keep)


def test_restic_golden_within_1y1m1d_keeps_everything_after_cutoff() -> None:
    # golden 26: Within "1y1d1m" -> cutoff 2016-01-18 12:02:03 - 1y1m1d = 2014-12-17 12:02:03
    decisions = apply_policy(restic_items(), ForgetPolicy(within="1y1d1m"), now=NOW)
    kept = [d.item.time for d in decisions if d.keep]
    assert len(kept) == 63
    assert kept[-1] == t("2015-08-08 10:20:30")
    assert {d.reasons for d in decisions if d.keep} == {("within 1y1m1d",)}


def test_restic_reason_strings() -> None:
    # golden 16 and 39: the oldest snapshot is kept "oldest yearly/monthly snapshot" while counts remain
    d16 = [d for d in apply_policy(restic_items(), ForgetPolicy(yearly=10), now=NOW) if d.keep]
    assert d16[-1].reasons == ("oldest yearly snapshot",)
    d39 = [
        d
        for d in apply_policy(restic_items(), ForgetPolicy(daily=3, weekly=2, monthly=-1, yearly=-1), now=NOW)
        if d.keep
    ]
    assert d39[0].reasons == ("daily snapshot", "weekly snapshot", "monthly snapshot", "yearly snapshot")
    assert d39[-1].reasons == ("oldest monthly snapshot", "oldest yearly snapshot")
    d15 = [
        d for d in apply_policy(restic_items(), ForgetPolicy(daily=2, weekly=2, monthly=6), now=NOW) if d.keep
    ]
    assert d15[1].reasons == ("daily snapshot", "weekly snapshot")
    d20 = [d for d in apply_policy(restic_items(), ForgetPolicy(tags=[["foo"], ["bar"]]), now=NOW) if d.keep]
    assert d20[0].reasons == ("has tags [foo]", "has tags [bar]")
    d33 = [
        d for d in apply_policy(restic_items(), ForgetPolicy(within_monthly="1y2m3d3h"), now=NOW) if d.keep
    ]
    assert d33[0].reasons == ("monthly within 1y2m3d3h",)


def test_unlimited_counts_keep_everything() -> None:
    # restic golden 36/37: Last -1 keeps all snapshots
    decisions = apply_policy(restic_items(), ForgetPolicy(last=-1), now=NOW)
    assert all(d.keep for d in decisions)


def test_future_snapshots_do_not_anchor_within() -> None:
    now = datetime(2016, 1, 10, tzinfo=UTC)  # snapshots after this are "in the future"
    decisions = apply_policy(restic_items(), ForgetPolicy(within="1d"), now=now)
    # latest non-future snapshot is 2016-01-09 21:02:03; everything after (now - 1d) counts as within
    kept = sorted(d.item.time for d in decisions if d.keep)
    assert kept[0] == t("2016-01-09 21:02:03")


def test_duration_parse_and_go_adddate() -> None:
    assert str(Duration.parse("1y1d1m")) == "1y1m1d"
    assert Duration.parse("13d23h") == Duration(0, 0, 13, 23)
    # Go AddDate normalises: 2016-03-31 minus 1 month = "2016-02-31" = 2016-03-02
    assert Duration.parse("1m").before(datetime(2016, 3, 31, tzinfo=UTC)) == datetime(2016, 3, 2, tzinfo=UTC)
    for bad in ("", "1w", "abc", "1d2"):
        with pytest.raises(SnapshotError):
            Duration.parse(bad)


def test_store_forget_groups_by_run_and_matches_pure_policy(tmp_path: object) -> None:
    import numpy as np

    store = SnapshotStore.init(f"{tmp_path}/s")
    items = restic_items()[-20:]
    for i, it in enumerate(items):
        for run in ("a", "b"):
            store.save({"x": np.array([i])}, {"i": i}, run=run, tags=it.tags, time=it.time)
    policy = ForgetPolicy(daily=3, weekly=2)
    res = store.forget(policy, dry_run=True, now=NOW)
    assert [g.key for g in res.groups] == [{"run": "a"}, {"run": "b"}]
    expected = [d.item.time for d in apply_policy(items, policy, now=NOW) if d.keep]
    for g in res.groups:
        assert [d.item.time for d in g.keep] == expected
    assert len(store.list()) == 40  # dry run removed nothing
    res2 = store.forget(policy, now=NOW)
    assert sorted(res2.remove_ids) == sorted(res.remove_ids)
    assert len(store.list()) == 2 * len(expected)
    with pytest.raises(SnapshotError):
        store.forget(ForgetPolicy())
