"""Snapshot store benchmark: 100 MB of float32 state.

Measures full snapshot, incremental snapshot after a 1 % change, restore, dedup ratio after 10
snapshots with 1 % change each (unencrypted and encrypted), and, when the `restic` binary is installed,
the same workload with restic in the same run. Prints JSON to stdout and writes bench/results/snapshots.json.

The "1 % change" is a contiguous 1 % of the state's elements (one module's block rewritten, as when a
module's state or a slice of the history ring buffer moves); a scattered change that touches every chunk
is reported separately (`incremental_scattered_s`) because no fixed-size chunking can dedup it.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from omnimind.snapshots import SnapshotStore

MB = 1 << 20
TOTAL_BYTES = 100 * MB
N_ARRAYS = 10
REPEATS = 5


def make_state(seed: int = 0) -> dict[str, np.ndarray[Any, Any]]:
    rng = np.random.default_rng(seed)
    per = TOTAL_BYTES // N_ARRAYS // 4
    return {f"module_{i:02d}": rng.standard_normal(per, dtype=np.float32) for i in range(N_ARRAYS)}


def change_1pct(state: dict[str, np.ndarray[Any, Any]], rng: np.random.Generator) -> None:
    """Rewrite a contiguous 1 % of all elements (inside one array)."""
    total = sum(a.size for a in state.values())
    n = total // 100
    name = list(state)[int(rng.integers(len(state)))]
    a = state[name]
    start = int(rng.integers(0, a.size - n))
    a[start : start + n] = rng.standard_normal(n, dtype=np.float32)


def timed(fn: Any) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def dir_size(path: str) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def bench_ours(work: str, key: bytes | None) -> dict[str, Any]:
    state = make_state()
    logical = sum(a.nbytes for a in state.values())
    full: list[float] = []
    incr: list[float] = []
    restore: list[float] = []
    for r in range(REPEATS):
        path = os.path.join(work, f"store-{r}")
        store = SnapshotStore.init(path, encryption_key=key)
        dt, snap = timed(lambda s=store: s.save(state, {"run": "bench", "cycle": 0}))
        full.append(dt)
        rng = np.random.default_rng(100 + r)
        change_1pct(state, rng)
        dt, snap = timed(lambda s=store, p=snap.id: s.save(state, {"run": "bench", "cycle": 1}, parent=p))
        incr.append(dt)
        dt, (loaded, _meta) = timed(lambda s=store, i=snap.id: s.load(i))
        restore.append(dt)
        assert all(loaded[k].tobytes() == state[k].tobytes() for k in state)
        del loaded
        store.close()
        if r < REPEATS - 1:
            shutil.rmtree(path)
    # dedup: the last store holds 2 snapshots; add 9 more with a 1 % change each -> 11 snapshots, 10 changes
    store = SnapshotStore.open(os.path.join(work, f"store-{REPEATS - 1}"), key)
    rng = np.random.default_rng(7)
    parent = store.get("latest").id
    for c in range(2, 11):
        change_1pct(state, rng)
        parent = store.save(state, {"run": "bench", "cycle": c}, parent=parent).id
    n_snaps = len(store.list())
    stored = store.disk_usage()
    # scattered 1 % change: every chunk differs, so this is a full write (reported for honesty)
    flat = state["module_00"]
    idx = np.random.default_rng(9).choice(flat.size, flat.size // 100, replace=False)
    for a in state.values():
        a[idx] += 1.0
    dt_scatter, _ = timed(lambda: store.save(state, {"run": "bench", "cycle": 99}))
    store.close()
    return {
        "state_bytes": logical,
        "full_snapshot_s": {"median": statistics.median(full), "first": full[0], "all": full},
        "incremental_1pct_s": {"median": statistics.median(incr), "first": incr[0], "all": incr},
        "restore_s": {"median": statistics.median(restore), "first": restore[0], "all": restore},
        "snapshots_for_dedup": n_snaps,
        "logical_bytes": logical * n_snaps,
        "stored_bytes": stored,
        "dedup_ratio": logical * n_snaps / stored,
        "incremental_scattered_s": dt_scatter,
    }


def bench_restic(work: str) -> dict[str, Any] | None:
    exe = shutil.which("restic")
    if exe is None:
        return None
    version = subprocess.run([exe, "version"], capture_output=True, text=True, check=True).stdout.strip()
    env = dict(os.environ, RESTIC_PASSWORD="bench", RESTIC_CACHE_DIR=os.path.join(work, "restic-cache"))
    repo = os.path.join(work, "restic-repo")
    src = os.path.join(work, "restic-src")
    os.makedirs(src)
    subprocess.run(
        [exe, "init", "--repo", repo, "--repository-version", "2"], env=env, capture_output=True, check=True
    )
    state = make_state()

    def write_files() -> None:
        for k, a in state.items():
            a.tofile(os.path.join(src, k + ".bin"))

    def backup() -> float:
        write_files()
        t = time.perf_counter()
        subprocess.run([exe, "backup", "--repo", repo, "-q", src], env=env, capture_output=True, check=True)
        return time.perf_counter() - t

    full = backup()
    rng = np.random.default_rng(100)
    change_1pct(state, rng)
    incr = backup()
    target = os.path.join(work, "restic-restore")
    t = time.perf_counter()
    subprocess.run(
        [exe, "restore", "latest", "--repo", repo, "--target", target],
        env=env,
        capture_output=True,
        check=True,
    )
    restore = time.perf_counter() - t
    rng = np.random.default_rng(7)
    for _ in range(2, 11):
        change_1pct(state, rng)
        backup()
    stored = dir_size(repo)
    return {
        "version": version,
        "full_snapshot_s": full,
        "incremental_1pct_s": incr,
        "restore_s": restore,
        "stored_bytes": stored,
        "dedup_ratio": sum(a.nbytes for a in state.values()) * 11 / stored,
        "note": "restic always encrypts and hashes with SHA-256; it reads the state from files written "
        "beforehand (not timed); process start-up is included",
    }


def main() -> None:
    work = tempfile.mkdtemp(prefix="omnimind-bench-", dir=os.environ.get("BENCH_DIR"))
    try:
        ours = bench_ours(os.path.join(work, "plain"), None)
        ours_enc = bench_ours(os.path.join(work, "enc"), os.urandom(32))
        restic = bench_restic(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result: dict[str, Any] = {
        "benchmark": "snapshots",
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "targets": {"full_snapshot_s": 0.15, "incremental_1pct_s": 0.05, "restore_s": 0.1},
        "omnimind": ours,
        "omnimind_encrypted": ours_enc,
        "restic": restic,
    }
    if restic is not None:
        result["ratio_restic_over_omnimind"] = {
            k: restic[k] / ours[k]["median"] for k in ("full_snapshot_s", "incremental_1pct_s", "restore_s")
        }
        result["ratio_restic_over_omnimind"]["stored_bytes"] = restic["stored_bytes"] / ours["stored_bytes"]
    out = json.dumps(result, indent=2)
    print(out)
    os.makedirs(os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"), exist_ok=True)
    Path(os.path.dirname(os.path.abspath(__file__)), "results", "snapshots.json").write_text(out + "\n")


if __name__ == "__main__":
    main()
