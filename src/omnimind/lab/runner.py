"""The run use case: validate, register the run, drive the loop in blocks, record, finish or mark interrupted."""

from __future__ import annotations

import json
import platform
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa

import omnimind
from omnimind import clock
from omnimind.engine import IntegrationLoop
from omnimind.lab.recorder import Recorder
from omnimind.spec import ExperimentSpec, load_stimuli
from omnimind.storage.schema import run_events, runs

if TYPE_CHECKING:
    from omnimind.lab.lab import Lab
    from omnimind.lab.runs import Run

BLOCK = 1024  # cycles between progress reports / interrupt checks of the outer loop


def versions() -> dict[str, str]:
    """Software versions that can change a run's numbers."""
    import scipy

    return {"omnimind": omnimind.__version__, "python": sys.version.split()[0], "numpy": np.__version__,
            "scipy": scipy.__version__, "platform": platform.platform()}


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


def execute(lab: Lab, spec: ExperimentSpec, *, spec_dir: Path | None = None,
            progress: Callable[[int, int], None] | None = None) -> Run:
    """Run `spec` in `lab`. Ctrl-C ends the run as `interrupted` with every recorded row kept."""
    from omnimind.lab.runs import get_run

    stimuli = load_stimuli(spec.stimuli, spec_dir)  # fails before anything is written
    loop = IntegrationLoop(spec.engine, spec.seed, stimuli, hold=spec.stimuli.hold)
    run_id = new_run_id()
    now = clock.iso()
    with lab.db.begin() as conn:
        conn.execute(sa.insert(runs).values(
            id=run_id, name=spec.name, spec_json=json.dumps(spec.to_json()), spec_digest=spec.digest(),
            seed=spec.seed, status="running", created_at=now, started_at=now, cycles_target=spec.cycles,
            cycles_done=0, host=lab.host, versions_json=json.dumps(versions())))
        conn.execute(sa.insert(run_events).values(
            run_id=run_id, time=now, cycle=0, kind="started", message=f"run started: {spec.cycles} cycles",
            data_json=json.dumps({"spec_digest": spec.digest(), "seed": spec.seed})))
    rec = Recorder(lab.db, run_id, loop, list(spec.recording.arrays), spec.recording.every,
                   spec.recording.chunk_rows)
    loop.after_cycle.append(rec)
    drive(lab, run_id, loop, rec, spec.cycles, progress)
    return get_run(lab, run_id)


def drive(lab: Lab, run_id: str, loop: IntegrationLoop, rec: Recorder, target: int,
          progress: Callable[[int, int], None] | None) -> None:
    """Run `loop` until cycle `target`, finishing the run row whatever happens."""
    try:
        while loop.cycle < target:
            loop.run(min(BLOCK, target - loop.cycle))
            if progress is not None:
                progress(loop.cycle, target)
    except KeyboardInterrupt:
        _finish(lab, run_id, loop, rec, "interrupted", f"interrupted by the user at cycle {loop.cycle}")
        raise
    except Exception as exc:
        _finish(lab, run_id, loop, rec, "failed", f"failed at cycle {loop.cycle}: {exc}", error=repr(exc))
        raise
    _finish(lab, run_id, loop, rec, "completed", f"completed {loop.cycle} cycles")


def _finish(lab: Lab, run_id: str, loop: IntegrationLoop, rec: Recorder, status: str, message: str,
            error: str | None = None) -> None:
    digest = loop.state_digest()
    try:
        rec.flush(loop.cycle, {"status": status, "ended_at": clock.iso(), "final_digest": digest, "error": error})
    finally:
        rec.close()
    add_event(lab, run_id, status, message, cycle=loop.cycle, data={"final_digest": digest})
