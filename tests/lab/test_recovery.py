"""Resume and point-in-time recovery are bit-exact; damaged snapshots are never used."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from omnimind.engine import IntegrationLoop
from omnimind.errors import LabError, VerificationError
from omnimind.lab.lab import Lab
from omnimind.lab.recovery import restore_as_run, restore_at_cycle
from omnimind.lab.snapshotting import open_store, restore_to_dir
from omnimind.spec import ExperimentSpec

CYCLES = 3000


def spec(**snap: Any) -> ExperimentSpec:
    return ExperimentSpec.model_validate({
        "cycles": CYCLES, "seed": 5, "recording": {"chunk_rows": 256},
        "stimuli": {"source": "array", "path": "stim.npy", "hold": 7},
        "snapshots": {"every_cycles": 400, "on_interrupt": False, **snap},
        "metrics": {"enabled": False},
    })


@pytest.fixture()
def lab(tmp_path: Path) -> Any:
    np.save(tmp_path / "stim.npy", np.random.default_rng(3).standard_normal((11, 5)))
    with Lab.init(tmp_path / "lab") as lab:
        yield lab


@pytest.fixture()
def reference(lab: Lab, tmp_path: Path) -> Any:
    run = lab.run(spec(), spec_dir=tmp_path)
    return run


def crash_at(lab: Lab, tmp_path: Path, k: int, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run until cycle k, then fail the way a crash would look from inside (no final snapshot)."""
    original = IntegrationLoop.step

    def step(self: IntegrationLoop) -> Any:
        if self.cycle == k:
            raise RuntimeError("simulated crash")
        return original(self)

    monkeypatch.setattr(IntegrationLoop, "step", step)
    with pytest.raises(RuntimeError, match="simulated crash"):
        lab.run(spec(), spec_dir=tmp_path)
    monkeypatch.setattr(IntegrationLoop, "step", original)
    return str(lab.runs()[0].id)


@pytest.mark.parametrize("k", [*random.Random(1).sample(range(1, CYCLES), 4), 400, 401])
def test_resume_equals_uninterrupted(lab: Lab, tmp_path: Path, reference: Any, k: int,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = crash_at(lab, tmp_path, k, monkeypatch)
    assert lab.get_run(run_id).status == "failed"
    resumed = lab.resume(run_id)
    assert resumed.status == "completed"
    assert resumed.final_digest == reference.final_digest
    for name in ("states", "attention", "ignition", "winner", "surprise"):
        assert np.array_equal(resumed.array(name), reference.array(name)), name
    kinds = [e.kind for e in resumed.events]
    assert "resumed" in kinds


def test_resume_skips_damaged_snapshot(lab: Lab, tmp_path: Path, reference: Any,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = crash_at(lab, tmp_path, 1000, monkeypatch)
    store = open_store(lab)
    newest = max(store.list(run=run_id), key=lambda s: s.meta["cycle"])
    assert newest.meta["cycle"] == 800
    # Damage one byte of the newest snapshot's module states (a blob no earlier snapshot shares).
    loc = store._index[newest.arrays["bank.S"].chunks[0]]
    victim = lab.path / "data/snapshots/data" / loc.pack[:2] / loc.pack
    raw = bytearray(victim.read_bytes())
    raw[loc.offset + 8] ^= 0xFF
    victim.write_bytes(bytes(raw))
    assert not store.verify_snapshot(newest.id, read_data=True).ok
    resumed = lab.resume(run_id)
    event = next(e for e in resumed.events if e.kind == "resumed")
    assert event.data is not None and event.data["snapshot"] != newest.id and event.data["skipped"]
    assert event.cycle is not None and event.cycle < 800
    assert resumed.final_digest == reference.final_digest
    assert np.array_equal(resumed.states, reference.states)


def test_resume_refuses_completed_run(lab: Lab, reference: Any) -> None:
    with pytest.raises(LabError, match="already completed"):
        lab.resume(reference.id)


@pytest.mark.parametrize("cycle", [0, 1, 399, 400, 401, *random.Random(2).sample(range(2, CYCLES), 3), CYCLES])
def test_point_in_time_matches_recorded_digest(lab: Lab, reference: Any, cycle: int) -> None:
    pit = lab.restore_at_cycle(reference.id, cycle)
    assert pit.cycle == cycle
    assert pit.checked.get("ledger", 0) == pit.replayed  # every replayed cycle matched the audit log
    if cycle:
        row = np.ascontiguousarray(reference.states[cycle - 1])
        assert pit.state_digest == hashlib.sha256(row.data).hexdigest()
    assert pit.from_cycle <= cycle and (pit.from_cycle % 400 == 0 or pit.from_cycle == CYCLES)
    assert pit.checked.get("recorded", 0) == pit.replayed
    store = open_store(lab)
    snap = store.get(pit.snapshot)
    assert "pitr" in snap.tags and snap.meta["cycle"] == cycle


def test_point_in_time_detects_a_doctored_record(lab: Lab, reference: Any) -> None:
    import sqlalchemy as sa

    from omnimind.lab.recorder import decode_block, encode_block
    from omnimind.storage.schema import run_chunks

    with lab.db.begin() as conn:
        target_row = 522  # cycle 523
        row = conn.execute(sa.select(run_chunks).where(
            run_chunks.c.run_id == reference.id, run_chunks.c.array == "states",
            run_chunks.c.start <= target_row, run_chunks.c.start + run_chunks.c.n_rows > target_row)).one()
        block = decode_block(row.codec, row.data, row.dtype, row.n_rows, row.n_cols)
        block[target_row - row.start, 3] += 1e-9
        codec, data = encode_block(block)
        conn.execute(sa.update(run_chunks).where(run_chunks.c.run_id == reference.id,
                                                 run_chunks.c.array == "states", run_chunks.c.start == row.start)
                     .values(codec=codec, data=data))
    with pytest.raises(VerificationError, match="diverged at cycle 523"):
        restore_at_cycle(lab, reference.id, 700)


def test_restore_to_dir_and_as_run(lab: Lab, tmp_path: Path, reference: Any) -> None:
    store = open_store(lab)
    snap = next(s for s in store.list(run=reference.id) if s.meta["cycle"] == 1200)
    out = restore_to_dir(store, snap.id, tmp_path / "restored")
    hist = np.load(out / "workspace.history.npy")
    assert hist.shape[1] == 128
    new_id = restore_as_run(lab, snap.id)
    new = lab.get_run(new_id)
    assert new.status == "interrupted" and new.cycles_done == 1200
    assert np.array_equal(new.states, reference.states[:1200])
    done = lab.resume(new_id)
    assert done.final_digest == reference.final_digest
    assert np.array_equal(done.states, reference.states)
