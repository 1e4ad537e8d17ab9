"""The result of a verification: what was checked, and the first bad index with the reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omnimind.errors import VerificationError


@dataclass(frozen=True)
class VerifyReport:
    """`ok` is True only if every check passed; otherwise `problem` says why and `first_bad_index` names
    the first entry index that cannot be trusted (None when the problem is not about entries)."""

    ok: bool
    mode: str  # "quick", "full" or "bundle"
    size: int  # entries in the log (or tree size of the bundle's checkpoint)
    entries_checked: int
    checkpoints_checked: int
    first_bad_index: int | None = None
    problem: str | None = None
    root: str | None = None  # hex root of the verified tree, when known
    details: dict[str, Any] = field(default_factory=dict)

    def raise_for_problem(self) -> None:
        """Raise VerificationError (exit code 1) if the verification failed."""
        if not self.ok:
            where = "" if self.first_bad_index is None else f"first bad index {self.first_bad_index}: "
            raise VerificationError(
                f"ledger verification failed: {where}{self.problem}",
                "the log was modified or damaged; it is never repaired — keep this database for forensics",
            )

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "mode": self.mode,
            "size": self.size,
            "entries_checked": self.entries_checked,
            "checkpoints_checked": self.checkpoints_checked,
            "first_bad_index": self.first_bad_index,
            "problem": self.problem,
            "root": self.root,
            **({"details": self.details} if self.details else {}),
        }
