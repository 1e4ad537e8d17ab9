"""Crash contract: packs -> index -> manifest. A reader never sees half a snapshot."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from omnimind.snapshots import SnapshotStore

WRITER = r"""
import sys, numpy as np
from omnimind.snapshots import SnapshotStore
s = SnapshotStore.open(sys.argv[1])
rng = np.random.default_rng(int(sys.argv[2]))
i = 0
print("ready", flush=True)
while True:
    s.save({"a": rng.standard_normal(1_000_000).astype(np.float32), "b": rng.standard_normal(300_000)},
           {"run": "crash", "i": i})
    i += 1
"""


def kill_during_saves(path: Path, trials: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for trial in range(trials):
        p = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(trial)], stdout=subprocess.PIPE)
        assert p.stdout is not None and p.stdout.readline().strip() == b"ready"
        time.sleep(float(rng.uniform(0.0, 0.25)))
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        store = SnapshotStore.open(path)
        for snap in store.list():  # every listed snapshot is complete and verifies
            assert store.verify_snapshot(snap.id, read_data=True).ok, snap.id
        rep = store.verify(read_data=True)
        assert rep.ok, rep.to_json()  # torn leftovers are warnings, never errors
        assert {w.kind for w in rep.warnings} <= {"torn-temp-file", "unindexed-pack"}
        latest = store.latest_verified(run="crash")
        if latest is not None:
            store.load(latest.id)


def test_kill9_during_saves(tmp_path: Path) -> None:
    SnapshotStore.init(tmp_path / "s", chunk_size=256 * 1024, pack_size=1 << 20)
    kill_during_saves(tmp_path / "s", trials=5, seed=0)
    store = SnapshotStore.open(tmp_path / "s")
    store.prune()
    assert store.verify(read_data=True).ok and not store.verify().warnings


@pytest.mark.slow
def test_kill9_during_saves_many(tmp_path: Path) -> None:
    SnapshotStore.init(tmp_path / "s", chunk_size=256 * 1024, pack_size=1 << 20)
    kill_during_saves(tmp_path / "s", trials=50, seed=1)


def test_torn_leftovers_are_skipped_and_flagged(store: SnapshotStore) -> None:
    good = store.save({"x": np.arange(5000.0)}, {"i": 0})
    # 1) a temp file left by a write that never reached its rename
    Path(store.path, "tmp", "manifest-0123456789abcdef.tmp").write_bytes(b'{"version":1,"ti')
    # 2) a manifest that was renamed in but lost its tail (no fsync before power loss)
    body = Path(store.path, "snapshots", good.id).read_bytes()
    torn_id = "ab" * 32
    Path(store.path, "snapshots", torn_id).write_bytes(body[: len(body) // 2])
    # 3) a pack whose index and manifest were never written (crash after the pack step)
    orphan = store._write_pack([("cd" * 32, b"orphaned bytes", 14, 0, 0)])[0]
    # 4) a truncated pack file in place (torn pack)
    fresh = SnapshotStore.open(store.path)
    assert [s.id for s in fresh.list()] == [good.id]
    rep = fresh.verify(read_data=True)
    assert rep.damaged_snapshots == [torn_id]
    kinds = {(w.kind, w.file or w.pack) for w in rep.warnings}
    assert ("torn-temp-file", "tmp/manifest-0123456789abcdef.tmp") in kinds
    assert ("unindexed-pack", f"data/{orphan[:2]}/{orphan}") in kinds
    assert fresh.get("latest").id == good.id
    assert fresh.latest_verified() == good
    assert np.array_equal(fresh.load(good.id)[0]["x"], np.arange(5000.0))


def test_truncated_pack_is_detected(store: SnapshotStore) -> None:
    snap = store.save({"x": np.random.default_rng(0).standard_normal(30_000)}, {})
    loc = store._index[snap.arrays["x"].chunks[-1]]
    pack = Path(store.path, "data", loc.pack[:2], loc.pack)
    pack.write_bytes(pack.read_bytes()[: loc.offset + 10])
    rep = SnapshotStore.open(store.path).verify()
    assert rep.damaged_snapshots == [snap.id]
    assert any(p.kind == "pack-damaged" and p.pack == loc.pack for p in rep.errors)
