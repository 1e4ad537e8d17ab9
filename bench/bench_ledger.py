"""Audit ledger benchmark (SQLite, WAL, synchronous=FULL: every commit is durable).

Measures appends/s at batch sizes 1, 100 and 1000 (generic entries), per-cycle entries at batch 1000
(`append_cycles`, the engine's hot path) and the logging cost per cycle against a 50,000 cycles/s engine,
inclusion-proof generation per second at 10^6 entries (in-memory tree, and end to end with the entry
fetched from the database and the proof checked against its signed checkpoint), and verify(full=True)
of 10^6 entries. Prints JSON to stdout and writes bench/results/ledger.json.

    .venv/bin/python bench/bench_ledger.py [--entries 1000000]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from omnimind.ledger import Ledger, NewEntry, load_or_create_signer
from omnimind.storage import create_engine, sqlite_url, upgrade

ENGINE_RATE = 50_000  # cycles/s the engine may reach; logging must keep >= 60% of it


def new_ledger(directory: Path) -> Ledger:
    engine = create_engine(sqlite_url(directory / "lab.db"))
    upgrade(engine)
    with engine.connect() as conn:
        sync = conn.exec_driver_sql("PRAGMA synchronous").scalar()
        mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
    assert sync == 2 and mode == "wal", (sync, mode)  # FULL, WAL: durable commits
    return Ledger(engine, load_or_create_signer(directory / "log.key", "bench.omnimind/ledger"))


def entry(i: int) -> NewEntry:
    return NewEntry("run", "note", {"i": i, "text": "a typical audit payload", "ok": True}, "alice", run="run-1")


def appends(directory: Path, batch: int, total: int) -> float:
    led = new_ledger(directory)
    led.append("system", "warmup", {}, actor="bench")
    batches = [[entry(b * batch + i) for i in range(batch)] for b in range(total // batch)]
    t = time.perf_counter()
    for b in batches:
        led.append_batch(b)
    dt = time.perf_counter() - t
    assert led.size() == 1 + total
    led.engine.dispose()
    return total / dt


def cycle_appends(directory: Path, batch: int, total: int) -> float:
    led = new_ledger(directory)
    digest = "ab" * 32
    t = time.perf_counter()
    for b in range(total // batch):
        led.append_cycles("run-1", [(b * batch + i, digest, digest) for i in range(batch)])
    dt = time.perf_counter() - t
    assert led.verify(full=True).ok
    led.engine.dispose()
    return total / dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=1_000_000)
    args = ap.parse_args()
    n = args.entries
    out: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "sqlite": "WAL, synchronous=FULL",
        "entries": n,
    }
    with tempfile.TemporaryDirectory(dir=Path(__file__).parent) as tmp:
        root = Path(tmp)
        for batch, total in ((1, 1000), (100, 20_000), (1000, 100_000)):
            d = root / f"b{batch}"
            d.mkdir()
            out[f"appends_per_s_batch_{batch}"] = round(appends(d, batch, total))
        d = root / "cycles"
        d.mkdir()
        rate = cycle_appends(d, 1000, 100_000)
        out["cycle_appends_per_s_batch_1000"] = round(rate)
        cost = 1 / rate
        out["cycle_log_cost_us"] = round(cost * 1e6, 2)
        out["engine_rate_kept_at_50k_cycles_per_s"] = round((1 / ENGINE_RATE) / (1 / ENGINE_RATE + cost), 3)

        # A log of n entries: 1 generic entry in 10, the rest per-cycle entries, checkpoints every 100k.
        d = root / "big"
        d.mkdir()
        led = new_ledger(d)
        t = time.perf_counter()
        done = 0
        digest = "cd" * 32
        while done < n:
            k = min(10_000, n - done)
            generic = k // 10
            led.append_batch([entry(done + i) for i in range(generic)])
            led.append_cycles("run-big", [(done + i, digest, digest) for i in range(k - generic)])
            done += k
            if done % 100_000 == 0 or done == n:
                led.checkpoint()
        out["build_s"] = round(time.perf_counter() - t, 2)
        cp = led.checkpoint()
        fresh = Ledger(led.engine, led.signer)  # a new process: nothing cached
        t = time.perf_counter()
        fresh.prove_inclusion(0, at_size=cp.size)
        out["first_proof_s_tree_load"] = round(time.perf_counter() - t, 3)
        rnd = random.Random(7)
        idx = [rnd.randrange(cp.size) for _ in range(50_000)]
        tree = fresh._tree
        t = time.perf_counter()
        for i in idx:
            tree.inclusion_proof(i, cp.size)
        out["inclusion_proofs_per_s_tree"] = round(len(idx) / (time.perf_counter() - t))
        t = time.perf_counter()
        for i in idx[:5000]:
            fresh.prove_inclusion(i, at_size=cp.size)
        out["inclusion_proofs_per_s_end_to_end"] = round(5000 / (time.perf_counter() - t))
        for full in (False, True):
            t = time.perf_counter()
            report = Ledger(led.engine, led.signer).verify(full=full)
            assert report.ok, report
            out[f"verify_{'full' if full else 'quick'}_s"] = round(time.perf_counter() - t, 2)
        out["db_bytes_per_entry"] = round((d / "lab.db").stat().st_size / n, 1)
        led.engine.dispose()
    out["targets"] = {
        "appends_per_s_batch_1": ">= 2000",
        "appends_per_s_batch_1000": ">= 50000",
        "inclusion_proofs_per_s": ">= 10000 at 10^6",
        "verify_full_s": "<= 15 at 10^6",
        "engine_rate_kept": ">= 0.6",
    }
    text = json.dumps(out, indent=2)
    print(text)
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    (results / "ledger.json").write_text(text + "\n")


if __name__ == "__main__":
    main()
