"""Recovery use cases: point-in-time recovery to any cycle, and restoring a snapshot as a new run.

Point-in-time recovery restores the newest verified snapshot at or before the target cycle and replays the
recorded inputs through the deterministic loop, checking every replayed cycle's state digest against the
audit ledger (when the ledger holds the run's cycles) and the recorded states; any mismatch stops it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa

from omnimind import clock
from omnimind.errors import LabError, VerificationError
from omnimind.lab.governance import lab_resource, require, run_context
from omnimind.lab.runner import STIMULI, build_loop, new_run_id, truncate_recorded
from omnimind.lab.snapshotting import capture, engine_state, newest_verified, open_store
from omnimind.storage.schema import run_chunks, run_events, runs

if TYPE_CHECKING:
    from omnimind.lab.lab import Lab

DigestSource = Callable[[str, int, int], dict[int, str]]
"""(run id, first cycle, last cycle) -> {cycle: hex state digest} from an independent record."""


@dataclass
class PointInTime:
    """Outcome of a point-in-time recovery."""

    run: str
    cycle: int
    state_digest: str
    snapshot: str
    from_snapshot: str | None
    from_cycle: int
    replayed: int
    checked: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON."""
        return dict(self.__dict__)


def recorded_digests(lab: Lab, run_id: str, first: int, last: int) -> dict[int, str]:
    """State digests recomputed from the run's recorded `states` rows (cycles first..last that were recorded)."""
    from omnimind.lab.runs import get_run

    run = get_run(lab, run_id)
    if "states" not in run.array_names():
        return {}
    every = run.spec.recording.every
    states = run.states
    out = {}
    for cycle in range(max(first, every), last + 1):
        if cycle % every == 0 and cycle // every - 1 < len(states):
            out[cycle] = hashlib.sha256(np.ascontiguousarray(states[cycle // every - 1]).data).hexdigest()
    return out


def restore_at_cycle(lab: Lab, run_id: str, cycle: int, *, ledger_digests: DigestSource | None = None
                     ) -> PointInTime:
    """Rebuild the exact state of `run_id` at `cycle` and save it as a snapshot tagged `pitr`."""
    from omnimind.lab.runs import get_run

    run = get_run(lab, run_id)
    if not 0 <= cycle <= run.cycles_done:
        raise LabError(f"run {run.id} has cycles 0..{run.cycles_done:,}; cycle {cycle:,} is outside",
                       "pick a cycle the run reached (`omnimind runs show RUN`)")
    spec = run.spec
    require(lab, "restore", lab_resource(lab, "Run", run.id),
            run_context(lab, spec.human_participants, spec.protocol_id, spec.cycles) | {"live_run": False})
    store = open_store(lab)
    loop = build_loop(lab, run.id, spec)
    snap = newest_verified(store, run.id, max_cycle=cycle)
    if snap is not None:
        arrays, meta = store.load(snap.id)
        loop.set_state(engine_state(arrays, meta))
    start = loop.cycle
    sources: dict[str, dict[int, str]] = {}
    if ledger_digests is not None and cycle > start:
        sources["ledger"] = ledger_digests(run.id, start + 1, cycle)
    if cycle > start:
        sources["recorded"] = recorded_digests(lab, run.id, start + 1, cycle)
    checked = {name: 0 for name in sources}
    while loop.cycle < cycle:
        r = loop.step()
        got = r.state_digest.hex()
        for name, table in sources.items():
            want = table.get(r.cycle)
            if want is None:
                continue
            if want != got:
                raise VerificationError(
                    f"replay of run {run.id} diverged at cycle {r.cycle}: state digest {got[:16]}… but the "
                    f"{name} record says {want[:16]}…",
                    "the recorded inputs, the code version or the record differ; check `omnimind audit verify` "
                    "and the run's versions")
            checked[name] += 1
    arrays2, meta2 = capture(loop, run_id=run.id, spec=spec, recorded_rows=cycle // spec.recording.every,
                             lab_id=lab.config.id, kind="pitr", ledger_checkpoint=None)
    saved = store.save(arrays2, meta2, run=run.id, tags=["pitr", f"cycle-{cycle}"],
                       parent=snap.id if snap else None, host=lab.host)
    return PointInTime(run=run.id, cycle=cycle, state_digest=loop.state_digest(), snapshot=saved.id,
                       from_snapshot=snap.id if snap else None, from_cycle=start, replayed=cycle - start,
                       checked=checked)


def restore_as_run(lab: Lab, snapshot_id: str) -> str:
    """A new run that starts from a snapshot: recorded data up to it is copied, status `interrupted`.

    `omnimind run --resume NEW` then continues it to the spec's cycle count.
    """
    store = open_store(lab)
    snap = store.get(snapshot_id)
    require(lab, "restore", lab_resource(lab, "Snapshot", snap.id[:64]), {"live_run": False})
    report = store.verify_snapshot(snap.id, read_data=True)
    if not report.ok:
        raise VerificationError(f"snapshot {snap.id[:12]} is damaged: {report.errors[0].message}",
                                "pick another snapshot (`omnimind snapshot list`)")
    meta = snap.meta
    src_run = str(meta.get("run") or "")
    if not src_run:
        raise LabError(f"snapshot {snap.id[:12]} does not belong to a run", "restore it with --to DIR instead")
    arrays, full_meta = store.load(snap.id)
    new_id = new_run_id()
    rows = int(meta["recorded_rows"])
    now = clock.iso()
    with lab.db.begin() as conn:
        src = conn.execute(sa.select(runs).where(runs.c.id == src_run)).first()
        if src is None:
            raise LabError(f"run {src_run} of snapshot {snap.id[:12]} is not in this lab",
                           "restore it with --to DIR instead")
        conn.execute(sa.insert(runs).values(
            id=new_id, name=src.name, tenant=src.tenant, spec_json=src.spec_json, spec_digest=src.spec_digest,
            seed=src.seed, status="interrupted", created_at=now, started_at=now, ended_at=now,
            cycles_target=src.cycles_target, cycles_done=int(meta["cycle"]), host=lab.host,
            versions_json=src.versions_json, resumed_from=src_run))
        chunks = conn.execute(sa.select(run_chunks).where(run_chunks.c.run_id == src_run,
                                                          run_chunks.c.start < sa.case(
                                                              (run_chunks.c.array == STIMULI, 1), else_=rows))).all()
        if chunks:
            conn.execute(sa.insert(run_chunks), [{**c._mapping, "run_id": new_id} for c in chunks])
        truncate_recorded(conn, new_id, rows)
        conn.execute(sa.insert(run_events).values(
            run_id=new_id, time=now, cycle=int(meta["cycle"]), kind="restored",
            message=f"restored from snapshot {snap.id[:12]} of run {src_run} at cycle {meta['cycle']}",
            data_json=json.dumps({"snapshot": snap.id, "run": src_run})))
    own = dict(full_meta)
    own.update({"run": new_id, "kind": "restored", "restored_from": snap.id})
    store.save(arrays, own, run=new_id, tags=["restored"], parent=snap.id, host=lab.host)
    return new_id
