"""One error hierarchy: every expected failure carries a user-facing message and a hint for the fix."""

from __future__ import annotations


class OmniMindError(Exception):
    """An expected, user-facing failure: `message` says what is wrong, `hint` says how to fix it."""

    exit_code = 2

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} (hint: {self.hint})" if self.hint else self.message


class SpecError(OmniMindError):
    """The experiment specification is invalid."""


class LabError(OmniMindError):
    """The lab directory or its database cannot be used."""


class NotFoundError(OmniMindError):
    """A named object (run, snapshot, entry) does not exist."""


class MetricError(OmniMindError):
    """A measure cannot be computed on the given data (singular covariance, bad partition, ...)."""


class LedgerError(OmniMindError):
    """The audit ledger cannot do what was asked (bad proof request, unknown key, ...)."""


class VerificationError(OmniMindError):
    """A verification found tampering or damage; the message names the first bad item."""

    exit_code = 1


class SnapshotError(OmniMindError):
    """The snapshot store cannot do what was asked."""


class PolicyError(OmniMindError):
    """A governance policy denied, escalated or could not evaluate an action."""
