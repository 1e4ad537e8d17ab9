"""kill -9 at random moments: `run --resume` always succeeds, bit-identical to a run that never stopped."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from omnimind.lab.lab import Lab
from omnimind.lab.snapshotting import open_store
from omnimind.spec import ExperimentSpec

SPEC = {"cycles": 12000, "seed": 9, "recording": {"chunk_rows": 300},
        "snapshots": {"every_cycles": 700, "keep": {"last": 3}}, "metrics": {"enabled": False}}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray | str]:
    with Lab.init(tmp_path_factory.mktemp("ref") / "lab") as lab:
        run = lab.run(ExperimentSpec.model_validate(SPEC))
        return {"digest": str(run.final_digest), "states": run.states, "attention": run.array("attention")}


def om(lab: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "omnimind", "--lab", str(lab), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def kill_and_resume(tmp_path: Path, rng: random.Random, reference: dict[str, np.ndarray | str]) -> None:
    lab_dir = tmp_path / "lab"
    Lab.init(lab_dir).close()
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(SPEC))
    proc = om(lab_dir, "run", str(spec_file), "--json")
    # Kill it once it has committed a random number of cycles (or when it finishes first), with a deadline.
    target = rng.randrange(0, SPEC["cycles"])
    deadline = time.monotonic() + 60
    with Lab.open(lab_dir) as lab:
        while proc.poll() is None and time.monotonic() < deadline:
            runs = lab.runs()
            if runs and runs[0].cycles_done >= target:
                break
            time.sleep(0.01)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    with Lab.open(lab_dir) as lab:
        run = lab.runs()[0]
        run_id, killed_at = run.id, run.cycles_done
        store = open_store(lab)
        verified = {s.id for s in store.list(run=run_id) if store.verify_snapshot(s.id, read_data=True).ok}
    if run.status != "completed":
        res = om(lab_dir, "run", "--resume", run_id, "--json")
        out, err = res.communicate(timeout=120)
        assert res.returncode == 0, err
        assert json.loads(out)["status"] == "completed"
    with Lab.open(lab_dir) as lab:
        done = lab.get_run(run_id)
        assert done.final_digest == reference["digest"], f"killed at cycle {killed_at}"
        assert np.array_equal(done.states, reference["states"])
        assert np.array_equal(done.array("attention"), reference["attention"])
        # The audit log holds every cycle exactly once, with the right digest, and still verifies.
        import hashlib

        logged = lab.ledger.cycle_digests(run_id, 1, SPEC["cycles"])
        states = reference["states"]
        assert len(logged) == SPEC["cycles"]
        for c in (1, killed_at or 1, killed_at + 1 if killed_at < SPEC["cycles"] else 1, SPEC["cycles"]):
            assert logged[c] == hashlib.sha256(np.ascontiguousarray(states[c - 1]).data).hexdigest()
        assert len(lab.ledger.query(category="cycle", run=run_id, limit=10**6)) == SPEC["cycles"]
        assert lab.ledger.verify(full=True).ok
        resumed = [e for e in done.events if e.kind == "resumed"]
        if resumed:
            used = resumed[-1].data["snapshot"] if resumed[-1].data else None
            assert used is None or used in verified  # only a snapshot that verified after the crash


@pytest.mark.parametrize("trial", range(5))
def test_kill9_then_resume(tmp_path: Path, trial: int, reference: dict[str, np.ndarray | str]) -> None:
    kill_and_resume(tmp_path, random.Random(trial), reference)


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(50))
def test_kill9_then_resume_many(tmp_path: Path, trial: int, reference: dict[str, np.ndarray | str]) -> None:
    kill_and_resume(tmp_path, random.Random(1000 + trial), reference)
