"""The one clock: timezone-aware UTC, ISO 8601 with microseconds and a `Z` suffix."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """Current time, UTC, timezone-aware."""
    return datetime.now(UTC)


def iso(ts: datetime | None = None) -> str:
    """`ts` (default now) as `YYYY-MM-DDTHH:MM:SS.ffffffZ`."""
    t = (ts or now()).astimezone(UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    """Parse a timestamp written by `iso` (or any ISO 8601 form) into an aware UTC datetime."""
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return t.astimezone(UTC) if t.tzinfo else t.replace(tzinfo=UTC)
