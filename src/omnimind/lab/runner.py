"""Running experiments: start a run, resume one, and the session that drives the loop with its hooks.

A session owns the run's lock file (one writer per run), records arrays, takes snapshots, and ends the run
`completed`, `interrupted` (Ctrl-C: taken between cycles, never mid-cycle) or `failed`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import platform
import secrets
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa

import omnimind
from omnimind import clock
from omnimind.engine import IntegrationLoop
from omnimind.errors import LabError
from omnimind.lab.analysis import MetricsHook, drop_metrics_after
from omnimind.lab.audit import CycleLogger, log
from omnimind.lab.governance import lab_resource, require, run_context
from omnimind.lab.privacy import check_run_consent, log_run_stimuli
from omnimind.lab.recorder import Recorder, decode_block, encode_block
from omnimind.lab.snapshotting import SnapshotHook, capture, engine_state, newest_verified, open_store, policy_of
from omnimind.snapshots import Snapshot
from omnimind.spec import ExperimentSpec, load_stimuli
from omnimind.storage.schema import run_chunks, run_events, runs

if TYPE_CHECKING:
    from omnimind.lab.lab import Lab
    from omnimind.lab.runs import Run

BLOCK = 256  # cycles between checks for Ctrl-C, progress reports and time-based snapshots
STIMULI = "stimuli"  # run_chunks array holding the run's stimulus rows (kept for resume and replay)


def versions() -> dict[str, str]:
    """Software versions that can change a run's numbers."""
    import llvmlite
    import numba
    import scipy

    return {"omnimind": omnimind.__version__, "python": sys.version.split()[0], "numpy": np.__version__,
            "scipy": scipy.__version__, "numba": numba.__version__, "llvmlite": llvmlite.__version__,
            "platform": platform.platform(), "libc": "-".join(platform.libc_ver())}


def new_run_id() -> str:
    """12 hex characters; runs are also addressable by any unique prefix."""
    return secrets.token_hex(6)


def add_event(lab: Lab, run_id: str, kind: str, message: str, cycle: int | None = None,
              data: dict[str, Any] | None = None) -> None:
    """Append a run event (its own short transaction)."""
    with lab.db.begin() as conn:
        conn.execute(sa.insert(run_events).values(
            run_id=run_id, time=clock.iso(), cycle=cycle, kind=kind, message=message,
            data_json=json.dumps(data) if data is not None else None))


@contextlib.contextmanager
def run_lock(lab: Lab, run_id: str) -> Iterator[None]:
    """Hold `locks/run-ID.lock` (flock) while a process drives the run; a second driver is refused."""
    locks = lab.path / "locks"
    locks.mkdir(exist_ok=True)
    fd = os.open(locks / f"run-{run_id}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise LabError(f"run {run_id} is being driven by another process",
                           "wait for it to finish, or stop that process first") from exc
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        os.close(fd)


class _StopFlag:
    """SIGINT sets a flag; the session stops between cycles, so a snapshot never sees half a cycle."""

    def __init__(self) -> None:
        self.raised = False
        self._old: Any = None

    def __enter__(self) -> _StopFlag:
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, _sig: int, _frame: FrameType | None) -> None:
        if self.raised:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.raised = True

    def __exit__(self, *exc: object) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def execute(lab: Lab, spec: ExperimentSpec, *, spec_dir: Path | None = None,
            progress: Callable[[int, int], None] | None = None) -> Run:
    """Run `spec` in `lab` from cycle 0."""
    check_run_consent(lab, spec)  # refuses before anything is written
    stimuli = load_stimuli(spec.stimuli, spec_dir)  # fails before anything is written
    loop = IntegrationLoop(spec.engine, spec.seed, stimuli, hold=spec.stimuli.hold)
    require(lab, "run", context=run_context(lab, spec.human_participants, spec.protocol_id, spec.cycles))
    run_id = new_run_id()
    now = clock.iso()
    log(lab, "run", "start", {"name": spec.name, "spec_digest": spec.digest(), "seed": spec.seed,
                              "cycles": spec.cycles, "stimuli": stimuli is not None}, run=run_id, cycle=0)
    log_run_stimuli(lab, spec, spec_dir, run_id)  # text stimuli: a sensitive entry bound to their subject
    with lab.db.begin() as conn:
        conn.execute(sa.insert(runs).values(
            id=run_id, name=spec.name, spec_json=json.dumps(spec.to_json()), spec_digest=spec.digest(),
            seed=spec.seed, status="running", created_at=now, started_at=now, cycles_target=spec.cycles,
            cycles_done=0, host=lab.host, versions_json=json.dumps(versions())))
        if stimuli is not None:
            codec, data = encode_block(stimuli)
            conn.execute(sa.insert(run_chunks).values(
                run_id=run_id, array=STIMULI, start=0, n_rows=stimuli.shape[0], n_cols=stimuli.shape[1],
                dtype="float64", codec=codec, data=data))
        conn.execute(sa.insert(run_events).values(
            run_id=run_id, time=now, cycle=0, kind="started", message=f"run started: {spec.cycles} cycles",
            data_json=json.dumps({"spec_digest": spec.digest(), "seed": spec.seed})))
    return session(lab, run_id, spec, loop, start_row=0, progress=progress)


def run_stimuli(lab: Lab, run_id: str) -> np.ndarray[Any, np.dtype[np.float64]] | None:
    """The stimulus rows stored with a run (None if it had none)."""
    with lab.db.connect() as conn:
        row = conn.execute(sa.select(run_chunks).where(run_chunks.c.run_id == run_id,
                                                       run_chunks.c.array == STIMULI)).first()
    return None if row is None else decode_block(row.codec, row.data, row.dtype, row.n_rows, row.n_cols)


def build_loop(lab: Lab, run_id: str, spec: ExperimentSpec) -> IntegrationLoop:
    """A fresh loop for a stored run (its spec, seed and stored stimuli), at cycle 0."""
    return IntegrationLoop(spec.engine, spec.seed, run_stimuli(lab, run_id), hold=spec.stimuli.hold)


def truncate_recorded(conn: sa.Connection, run_id: str, rows: int) -> None:
    """Drop recorded rows ≥ `rows` (a chunk straddling the cut is rewritten shorter); stimuli stay."""
    recorded = sa.and_(run_chunks.c.run_id == run_id, run_chunks.c.array != STIMULI)
    conn.execute(sa.delete(run_chunks).where(recorded, run_chunks.c.start >= rows))
    for r in conn.execute(sa.select(run_chunks).where(recorded, run_chunks.c.start < rows,
                                                      run_chunks.c.start + run_chunks.c.n_rows > rows)).all():
        keep = rows - r.start
        codec, data = encode_block(decode_block(r.codec, r.data, r.dtype, r.n_rows, r.n_cols)[:keep])
        conn.execute(sa.update(run_chunks).where(run_chunks.c.run_id == run_id, run_chunks.c.array == r.array,
                                                 run_chunks.c.start == r.start)
                     .values(n_rows=keep, codec=codec, data=data))


def resume(lab: Lab, run_id: str, *, progress: Callable[[int, int], None] | None = None) -> Run:
    """Continue a run from its newest snapshot that verifies (cycle 0 if none does)."""
    from omnimind.lab.runs import get_run

    run = get_run(lab, run_id)
    if run.status == "completed":
        raise LabError(f"run {run.id} already completed {run.cycles_done:,} cycles",
                       "start a new run, or restore a snapshot of it with --as-run")
    spec = run.spec
    with run_lock(lab, run.id):  # refuse to resume a run another process is still driving
        pass
    require(lab, "resume", lab_resource(lab, "Run", run.id),
            run_context(lab, spec.human_participants, spec.protocol_id, spec.cycles))
    loop = build_loop(lab, run.id, spec)
    store = open_store(lab)
    skipped: list[dict[str, str]] = []
    snap = newest_verified(store, run.id, on_skip=lambda s, why: skipped.append({"snapshot": s.id, "why": why}))
    rows = 0
    if snap is not None:
        arrays, meta = store.load(snap.id)
        loop.set_state(engine_state(arrays, meta))
        rows = int(meta["recorded_rows"])
    log(lab, "run", "resume", {"snapshot": snap.id if snap else None, "cycle": loop.cycle, "skipped": skipped},
        run=run.id, cycle=loop.cycle)
    with lab.db.begin() as conn:
        truncate_recorded(conn, run.id, rows)
        drop_metrics_after(conn, run.id, loop.cycle)
        conn.execute(sa.update(runs).where(runs.c.id == run.id).values(
            status="running", cycles_done=loop.cycle, ended_at=None, final_digest=None, error=None))
        conn.execute(sa.insert(run_events).values(
            run_id=run.id, time=clock.iso(), cycle=loop.cycle, kind="resumed",
            message=f"resumed at cycle {loop.cycle} from " + (f"snapshot {snap.id[:12]}" if snap else "the start"),
            data_json=json.dumps({"snapshot": snap.id if snap else None, "skipped": skipped})))
    return session(lab, run.id, spec, loop, start_row=rows, progress=progress,
                   parent=snap.id if snap else None)


def session(lab: Lab, run_id: str, spec: ExperimentSpec, loop: IntegrationLoop, *, start_row: int,
            progress: Callable[[int, int], None] | None, parent: str | None = None) -> Run:
    """Drive `loop` to the spec's cycle count with recording and snapshots; always ends the run row."""
    from omnimind.lab.runs import get_run

    with run_lock(lab, run_id):
        rec = Recorder(lab.db, run_id, loop, list(spec.recording.arrays), spec.recording.every,
                       spec.recording.chunk_rows, start_row=start_row)
        cycles = CycleLogger(lab.ledger, run_id, rec.submit, start_cycle=loop.cycle)
        loop.after_cycle.append(rec)
        loop.after_cycle.append(cycles)
        snaps = _snapshotter(lab, run_id, spec, loop, rec, cycles, parent)
        if snaps is not None and snaps.every:
            loop.after_cycle.append(snaps)
        metrics = MetricsHook(lab.db, run_id, loop, spec.metrics, spec.seed) if spec.metrics.enabled else None
        if metrics is not None:
            loop.after_cycle.append(metrics)
        drive(lab, run_id, loop, rec, spec.cycles, progress, snaps, cycles, metrics)
    return get_run(lab, run_id)


def _snapshotter(lab: Lab, run_id: str, spec: ExperimentSpec, loop: IntegrationLoop, rec: Recorder,
                 cycles: CycleLogger, parent: str | None) -> SnapshotHook | None:
    sspec = spec.snapshots
    if not (sspec.every_cycles or sspec.every_seconds or sspec.on_interrupt or sspec.at_end):
        return None
    store = open_store(lab)
    last = [parent]

    def take(kind: str) -> Snapshot:
        # Recorded rows and logged cycles up to here are durable before a snapshot names them.
        cycles.flush()
        rec.flush(loop.cycle)
        checkpoint = lab.ledger.checkpoint()
        arrays, meta = capture(loop, run_id=run_id, spec=spec, recorded_rows=rec.start, lab_id=lab.config.id,
                               kind=kind, ledger_checkpoint=checkpoint.note)
        snap = store.save(arrays, meta, run=run_id, tags=[*sspec.tags, kind], parent=last[0], host=lab.host)
        last[0] = snap.id
        log(lab, "snapshot", "take", {"snapshot": snap.id, "kind": kind, "state_digest": meta["state_digest"],
                                      "ledger_size": checkpoint.size}, run=run_id, cycle=loop.cycle, actor="engine")
        add_event(lab, run_id, "snapshot", f"{kind} snapshot {snap.id[:12]} at cycle {loop.cycle}",
                  cycle=loop.cycle, data={"snapshot": snap.id, "kind": kind})
        if sspec.keep.enabled():
            store.forget(policy_of(sspec.keep), run=run_id)
        return snap

    return SnapshotHook(store, sspec, take)


def drive(lab: Lab, run_id: str, loop: IntegrationLoop, rec: Recorder, target: int,
          progress: Callable[[int, int], None] | None, snaps: SnapshotHook | None = None,
          cycles: CycleLogger | None = None, metrics: MetricsHook | None = None) -> None:
    """Run `loop` until cycle `target` in blocks, finishing the run row whatever happens."""
    if progress is not None:
        progress(loop.cycle, target)
    try:
        with _StopFlag() as stop:
            while loop.cycle < target:
                loop.run(min(BLOCK, target - loop.cycle))
                if metrics is not None:
                    metrics.flush()
                if snaps is not None:
                    snaps.tick()
                if progress is not None:
                    progress(loop.cycle, target)
                if stop.raised:
                    raise KeyboardInterrupt
    except KeyboardInterrupt:
        if snaps is not None and snaps.spec.on_interrupt:
            with contextlib.suppress(Exception):
                snaps.snapshot("interrupted")
        _finish(lab, run_id, loop, rec, cycles, metrics, "interrupted",
                f"interrupted by the user at cycle {loop.cycle}")
        raise
    except Exception as exc:
        _finish(lab, run_id, loop, rec, cycles, metrics, "failed", f"failed at cycle {loop.cycle}: {exc}",
                error=repr(exc))
        raise
    if snaps is not None and snaps.spec.at_end:
        snaps.snapshot("final")
    _finish(lab, run_id, loop, rec, cycles, metrics, "completed", f"completed {loop.cycle} cycles")


def _finish(lab: Lab, run_id: str, loop: IntegrationLoop, rec: Recorder, cycles: CycleLogger | None,
            metrics: MetricsHook | None, status: str, message: str, error: str | None = None) -> None:
    digest = loop.state_digest()
    try:
        if metrics is not None:
            metrics.flush()
        if cycles is not None:
            cycles.flush()
        rec.flush(loop.cycle, {"status": status, "ended_at": clock.iso(), "final_digest": digest, "error": error})
    finally:
        rec.close()
    add_event(lab, run_id, status, message, cycle=loop.cycle, data={"final_digest": digest})
    log(lab, "run", {"completed": "end"}.get(status, status),
        {"status": status, "cycles_done": loop.cycle, "final_digest": digest, "error": error},
        run=run_id, cycle=loop.cycle)
    lab.ledger.checkpoint()
