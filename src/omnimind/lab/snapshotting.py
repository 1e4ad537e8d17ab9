"""Snapshots of a running experiment: what goes in one, when they are taken, and retention as the run goes."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omnimind.engine import CycleResult, EngineState, IntegrationLoop
from omnimind.errors import SnapshotError
from omnimind.snapshots import ForgetPolicy, Snapshot, SnapshotStore
from omnimind.spec import ExperimentSpec, RetentionSpec, SnapshotSpec

if TYPE_CHECKING:
    from omnimind.lab.lab import Lab

STORE_DIR = "data/snapshots"


def open_store(lab: Lab) -> SnapshotStore:
    """The lab's snapshot store, created on first use."""
    path = lab.path / STORE_DIR
    if not (path / "config.json").exists():
        try:
            return SnapshotStore.init(path)
        except SnapshotError:
            if not (path / "config.json").exists():  # lost a creation race: open what the other made
                raise
    return SnapshotStore.open(path)


def policy_of(keep: RetentionSpec) -> ForgetPolicy:
    """The store's retention policy for a spec's `keep` section."""
    return ForgetPolicy(last=keep.last, hourly=keep.hourly, daily=keep.daily, weekly=keep.weekly,
                        monthly=keep.monthly, yearly=keep.yearly, within=keep.within,
                        tags=tuple(tuple(t) for t in keep.tags))


def capture(loop: IntegrationLoop, *, run_id: str, spec: ExperimentSpec, recorded_rows: int, lab_id: str,
            kind: str, ledger_checkpoint: str | None, metrics: list[dict[str, Any]] | None = None
            ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(arrays, meta) of a snapshot: the engine's full state plus everything needed to resume and audit."""
    state = loop.get_state()
    meta = {
        "format": 1,
        "kind": kind,
        "run": run_id,
        "lab": lab_id,
        "cycle": loop.cycle,
        "state_digest": loop.state_digest(),
        "engine": state.meta,
        "spec": spec.to_json(),
        "spec_digest": spec.digest(),
        "seed": spec.seed,
        "recorded_rows": recorded_rows,
        "ledger_checkpoint": ledger_checkpoint,
        "metrics": metrics or [],
    }
    return dict(state.arrays), meta


def engine_state(arrays: dict[str, Any], meta: dict[str, Any]) -> EngineState:
    """The engine state inside a loaded snapshot."""
    return EngineState(arrays=dict(arrays), meta=meta["engine"])


class SnapshotHook:
    """After-cycle hook: snapshots every K cycles; `tick()` (called between blocks) handles every T seconds."""

    def __init__(self, store: SnapshotStore, spec: SnapshotSpec, take: Callable[[str], Snapshot]) -> None:
        self.store, self.spec, self._take = store, spec, take
        self.every = spec.every_cycles or 0
        self._last_time = time.monotonic()
        self.taken: list[Snapshot] = []

    def __call__(self, r: CycleResult) -> None:
        if self.every and r.cycle % self.every == 0:
            self.snapshot("periodic")

    def tick(self) -> None:
        """Time-based snapshots, checked at block boundaries rather than every cycle."""
        if self.spec.every_seconds and time.monotonic() - self._last_time >= self.spec.every_seconds:
            self.snapshot("periodic")

    def snapshot(self, kind: str) -> Snapshot:
        """Take one snapshot now (tags: the spec's plus `kind`)."""
        snap = self._take(kind)
        self.taken.append(snap)
        self._last_time = time.monotonic()
        return snap


def newest_verified(store: SnapshotStore, run_id: str, *, max_cycle: int | None = None,
                    on_skip: Callable[[Snapshot, str], None] | None = None) -> Snapshot | None:
    """The snapshot of `run_id` with the highest cycle (≤ max_cycle) that verifies with --read-data."""
    candidates = [s for s in store.list(run=run_id) if isinstance(s.meta.get("cycle"), int)
                  and (max_cycle is None or s.meta["cycle"] <= max_cycle)]
    candidates.sort(key=lambda s: (s.meta["cycle"], s.time), reverse=True)
    for snap in candidates:
        report = store.verify_snapshot(snap.id, read_data=True)
        if report.ok:
            return snap
        if on_skip is not None:
            on_skip(snap, "; ".join(p.message for p in report.errors[:3]))
    return None


def forget(lab: Lab, policy: ForgetPolicy, *, dry_run: bool = False, run: str | None = None) -> Any:
    """Apply a retention policy to the lab's snapshots (gated unless a dry run) and log what it removed."""
    from omnimind.lab.audit import log
    from omnimind.lab.governance import require

    if not dry_run:
        require(lab, "snapshot.forget")
    result = open_store(lab).forget(policy, dry_run=dry_run, run=run)
    if not dry_run:
        log(lab, "snapshot", "forget", {"removed": result.remove_ids, "kept": result.keep_ids, "run": run})
    return result


def prune(lab: Lab) -> Any:
    """Free data no snapshot references (gated, logged)."""
    from omnimind.lab.audit import log
    from omnimind.lab.governance import require

    require(lab, "snapshot.prune")
    result = open_store(lab).prune()
    log(lab, "snapshot", "prune", result.to_json())
    return result


def restore_to_dir(store: SnapshotStore, snapshot_id: str, dest: Path) -> Path:
    """Write a snapshot's arrays (one .npy each) and meta.json into a new directory, atomically."""
    import json
    import os
    import secrets
    import shutil

    import numpy as np

    from omnimind.fsutil import fsync_dir

    snap = store.get(snapshot_id)
    if dest.exists():
        raise SnapshotError(f"{dest} already exists", "restore into a new directory")
    staging = dest.parent / f".{dest.name}.restore-{secrets.token_hex(4)}"
    staging.mkdir(parents=True)
    try:
        arrays, meta = store.load(snap.id)
        for name, arr in arrays.items():
            np.save(staging / f"{name}.npy", arr, allow_pickle=False)
        (staging / "meta.json").write_text(json.dumps({"snapshot": snap.id, **meta}, indent=2))
        for f in staging.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        os.rename(staging, dest)
        fsync_dir(dest.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return dest
