"""Retention ("forget") with restic's policy semantics, as a pure function over (time, tags) items.

A port of restic's `ApplyPolicy` (internal/data/snapshot_policy.go, restic 0.17/0.18): newest first,
every `keep-*` bucket counts distinct hour/day/ISO-week/month/year values, the oldest snapshot is kept
when a bucket still has counts left, `-1` means unlimited, `within*` windows are measured back from the
newest snapshot that is not in the future, tag lists keep matching snapshots without counting.
Buckets are computed in UTC (restic uses each snapshot's recorded local time zone).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from omnimind import clock
from omnimind.errors import SnapshotError

_DURATION = re.compile(r"(\d+)([ymdh])")
_MIN_TIME = datetime(1, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Duration:
    """restic's calendar duration (`1y2m3d4h`): years, months, days, hours; applied like Go's AddDate."""

    years: int = 0
    months: int = 0
    days: int = 0
    hours: int = 0

    @classmethod
    def parse(cls, text: str | Duration) -> Duration:
        if isinstance(text, Duration):
            return text
        s = text.strip()
        pos = 0
        parts = {"y": 0, "m": 0, "d": 0, "h": 0}
        for m in _DURATION.finditer(s):
            if m.start() != pos:
                break
            parts[m.group(2)] += int(m.group(1))
            pos = m.end()
        if not s or pos != len(s):
            raise SnapshotError(
                f"invalid duration {text!r}", "use restic's form: a number and a unit y/m/d/h, e.g. 1y2m3d4h"
            )
        return cls(parts["y"], parts["m"], parts["d"], parts["h"])

    def zero(self) -> bool:
        return self.years == 0 and self.months == 0 and self.days == 0 and self.hours == 0

    def __str__(self) -> str:
        s = "".join(
            f"{v}{u}"
            for v, u in ((self.years, "y"), (self.months, "m"), (self.days, "d"), (self.hours, "h"))
            if v
        )
        return s or "0h"

    def before(self, t: datetime) -> datetime:
        """`t` minus this duration, normalised like Go's `t.AddDate(-y, -m, -d).Add(-h hours)`."""
        try:
            total = t.year * 12 + (t.month - 1) - self.years * 12 - self.months
            year, month0 = divmod(total, 12)
            base = t.replace(year=year, month=month0 + 1, day=1)
            return base + timedelta(days=t.day - 1 - self.days) - timedelta(hours=self.hours)
        except (ValueError, OverflowError):
            return _MIN_TIME


class PolicyItem(Protocol):
    @property
    def time(self) -> datetime: ...

    @property
    def tags(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class ForgetPolicy:
    """Which snapshots to keep (everything else is removed). Counts: 0 = off, -1 = unlimited.

    `tags` is a list of tag lists; a snapshot is kept when it carries every tag of at least one list
    (restic `--keep-tag a,b --keep-tag c`); the empty tag `""` matches untagged snapshots.
    """

    last: int = 0
    hourly: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    yearly: int = 0
    within: Duration | str | None = None
    within_hourly: Duration | str | None = None
    within_daily: Duration | str | None = None
    within_weekly: Duration | str | None = None
    within_monthly: Duration | str | None = None
    within_yearly: Duration | str | None = None
    tags: Sequence[Sequence[str]] = field(default_factory=tuple)

    def empty(self) -> bool:
        counts = (self.last, self.hourly, self.daily, self.weekly, self.monthly, self.yearly)
        withins = [self.within, self.within_hourly, self.within_daily, self.within_weekly]
        withins += [self.within_monthly, self.within_yearly]
        return (
            all(c == 0 for c in counts)
            and all(w is None or Duration.parse(w).zero() for w in withins)
            and len(self.tags) == 0
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in ("last", "hourly", "daily", "weekly", "monthly", "yearly"):
            v = getattr(self, name)
            if v:
                out[name] = v
        for name in (
            "within",
            "within_hourly",
            "within_daily",
            "within_weekly",
            "within_monthly",
            "within_yearly",
        ):
            v = getattr(self, name)
            if v is not None:
                out[name] = str(Duration.parse(v))
        if self.tags:
            out["tags"] = [list(t) for t in self.tags]
        return out


@dataclass(frozen=True)
class Decision:
    """The verdict for one item, with restic's reason strings ("daily snapshot", "within 2d", ...)."""

    item: Any
    keep: bool
    reasons: tuple[str, ...]


def _ymdh(t: datetime, _: int) -> int:
    return t.year * 1000000 + t.month * 10000 + t.day * 100 + t.hour


def _ymd(t: datetime, _: int) -> int:
    return t.year * 10000 + t.month * 100 + t.day


def _yw(t: datetime, _: int) -> int:
    year, week, _wd = t.isocalendar()
    return year * 100 + week


def _ym(t: datetime, _: int) -> int:
    return t.year * 100 + t.month


def _y(t: datetime, _: int) -> int:
    return t.year


def _always(_: datetime, nr: int) -> int:
    return nr


def has_tags(item_tags: Iterable[str], wanted: Sequence[str]) -> bool:
    """restic `HasTags`: every tag of `wanted` is present; `""` matches a snapshot without tags."""
    have = set(item_tags)
    for tag in wanted:
        if tag == "" and not have:
            return True
        if tag not in have:
            return False
    return True


def _tag_label(tags: Sequence[str]) -> str:
    return "[" + ", ".join(tags) + "]"


def apply_policy(
    items: Sequence[PolicyItem], policy: ForgetPolicy, *, now: datetime | None = None
) -> list[Decision]:
    """Decide keep/remove for every item; returns decisions newest first (stable for equal times)."""
    ordered = sorted(items, key=lambda it: it.time, reverse=True)  # sorted() is stable, like sort.Stable
    if not ordered:
        return []
    now = now or clock.now()
    future_free = [it.time for it in ordered if it.time < now]
    latest = max(future_free) if future_free else _MIN_TIME

    Bucket = list[Any]  # [count, bucketer, last value, reason]
    buckets: list[Bucket] = [
        [policy.last, _always, None, "last snapshot"],
        [policy.hourly, _ymdh, None, "hourly snapshot"],
        [policy.daily, _ymd, None, "daily snapshot"],
        [policy.weekly, _yw, None, "weekly snapshot"],
        [policy.monthly, _ym, None, "monthly snapshot"],
        [policy.yearly, _y, None, "yearly snapshot"],
    ]
    within_specs: list[tuple[Duration | str | None, Callable[[datetime, int], int], str]] = [
        (policy.within_hourly, _ymdh, "hourly within"),
        (policy.within_daily, _ymd, "daily within"),
        (policy.within_weekly, _yw, "weekly within"),
        (policy.within_monthly, _ym, "monthly within"),
        (policy.within_yearly, _y, "yearly within"),
    ]
    withins: list[list[Any]] = []
    for spec, fn, reason in within_specs:
        d = Duration.parse(spec) if spec is not None else Duration()
        withins.append([d, fn, None, reason])
    within = Duration.parse(policy.within) if policy.within is not None else Duration()

    last_nr = len(ordered) - 1
    decisions: list[Decision] = []
    for nr, cur in enumerate(ordered):
        keep = False
        reasons: list[str] = []
        t = cur.time.astimezone(UTC)
        for tl in policy.tags:
            if has_tags(cur.tags, tl):
                keep = True
                reasons.append(f"has tags {_tag_label(tl)}")
        if not within.zero() and cur.time > within.before(latest):
            keep = True
            reasons.append(f"within {within}")
        for b in buckets:
            count, fn, last, reason = b
            if count > 0 or count == -1:
                val = fn(t, nr)
                if val != last or nr == last_nr:
                    keep = True
                    if val == last and nr == last_nr:
                        reason = f"oldest {reason}"
                    b[2] = val
                    if count > 0:
                        b[0] = count - 1
                    reasons.append(reason)
        for w in withins:
            d, fn, last, reason = w
            if not d.zero() and cur.time > d.before(latest):
                val = fn(t, nr)
                if val != last or nr == last_nr:
                    keep = True
                    if val == last and nr == last_nr:
                        reason = f"oldest {reason}"
                    w[2] = val
                    reasons.append(f"{reason} {d}")
        decisions.append(Decision(cur, keep, tuple(reasons)))
    return decisions
