"""Content-addressed snapshot store: chunks (BLAKE3), dedup, adaptive zstd, AES-256-GCM, packs + index,
manifests in canonical JSON, diff, restic retention, verify, prune and copy. Format: docs/snapshots.md.

The store is independent of the engine: it saves and restores named numpy arrays plus JSON meta.
"""

from omnimind.snapshots.policy import Decision, Duration, ForgetPolicy, apply_policy
from omnimind.snapshots.store import (
    ArrayInfo,
    CopyResult,
    ForgetGroup,
    ForgetResult,
    Problem,
    PruneResult,
    Snapshot,
    SnapshotStore,
    StoreStats,
    VerifyReport,
)

__all__ = [
    "ArrayInfo",
    "CopyResult",
    "Decision",
    "Duration",
    "ForgetGroup",
    "ForgetPolicy",
    "ForgetResult",
    "Problem",
    "PruneResult",
    "Snapshot",
    "SnapshotStore",
    "StoreStats",
    "VerifyReport",
    "apply_policy",
]
