"""Engine throughput and memory: cycles/s engine-only and with recording, peak memory over 10^6 cycles.

Run: `make bench` or `.venv/bin/python bench/bench_engine.py [--quick]`. Prints JSON; writes bench/results/engine.json.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from omnimind.engine import IntegrationLoop
from omnimind.spec import ExperimentSpec

RESULTS = Path(__file__).parent / "results"


def default_spec(cycles: int) -> ExperimentSpec:
    return ExperimentSpec.model_validate({"cycles": cycles})


def large_spec(cycles: int) -> ExperimentSpec:
    kinds = ["echo_state", "integrator", "sensory", "predictor"]
    mods = [{"name": f"m{i}", "kind": kinds[i % 4], "dim": 32} for i in range(32)]
    return ExperimentSpec.model_validate({"cycles": cycles, "modules": mods, "workspace": {"dim": 32}})


def engine_only(spec: ExperimentSpec, cycles: int) -> float:
    """Best of three timed runs of `cycles` on one warmed-up loop (no hooks)."""
    loop = IntegrationLoop(spec.engine, spec.seed)
    loop.run(1000)
    best = 0.0
    for _ in range(3):
        t = time.perf_counter()
        loop.run(cycles)
        best = max(best, cycles / (time.perf_counter() - t))
    return best


def with_recording(spec: ExperimentSpec) -> float:
    """Engine + the recorder writing every cycle's arrays to the lab's SQLite database (no ledger); the
    benchmark reports the best of three such runs and lists all three."""
    from omnimind.lab.lab import Lab
    from omnimind.lab.recorder import Recorder
    from omnimind.lab.runner import new_run_id

    with tempfile.TemporaryDirectory() as d, Lab.init(Path(d) / "lab") as lab:
        import json

        import sqlalchemy as sa

        from omnimind.storage.schema import runs

        run_id = new_run_id()
        with lab.db.begin() as conn:
            conn.execute(sa.insert(runs).values(id=run_id, name="bench", spec_json=json.dumps(spec.to_json()),
                                                spec_digest=spec.digest(), seed=spec.seed, status="running",
                                                created_at="", cycles_target=spec.cycles, host="", versions_json="{}"))
        loop = IntegrationLoop(spec.engine, spec.seed)
        rec = Recorder(lab.db, run_id, loop, list(spec.recording.arrays), 1)
        loop.after_cycle.append(rec)
        t = time.perf_counter()
        loop.run(spec.cycles)
        rec.flush(loop.cycle)
        rec.close()
        return spec.cycles / (time.perf_counter() - t)


def full_run(spec: ExperimentSpec) -> float:
    """`lab.run`: gate at start, recording, every cycle in the audit ledger, snapshots/metrics as the spec says."""
    from omnimind.lab.lab import Lab

    with tempfile.TemporaryDirectory() as d, Lab.init(Path(d) / "lab") as lab:
        t = time.perf_counter()
        lab.run(spec)
        return spec.cycles / (time.perf_counter() - t)


def lean(spec: ExperimentSpec) -> ExperimentSpec:
    """The spec with snapshots and metrics off: recording + ledger only."""
    return ExperimentSpec.model_validate({**spec.to_json(), "metrics": {"enabled": False},
                                          "snapshots": {"every_cycles": None, "on_interrupt": False,
                                                        "at_end": False}})


def peak_memory_child(which: str, cycles: int, record: bool) -> dict[str, float]:
    """Peak RSS of the run alone, in a fresh process: after imports and a warm-up (numba's kernel load and
    LLVM set-up peak higher than any run), the kernel's peak is reset (/proc/self/clear_refs) and VmHWM read."""
    code = (
        "import re, sys, tempfile, pathlib;"
        "sys.path.insert(0, 'bench');"
        "import bench_engine as b;"
        "from omnimind.engine import IntegrationLoop;"
        f"spec = b.lean(b.{which}_spec({cycles}));"
        "IntegrationLoop(spec.engine, spec.seed).run(10);"
        "kb = lambda f: int(re.search(f + r':\\s+(\\d+)', open('/proc/self/status').read()).group(1));"
        + ("from omnimind.lab.lab import Lab;"
           "d = tempfile.mkdtemp(); lab = Lab.init(pathlib.Path(d) / 'lab');"
           "before = kb('VmRSS'); open('/proc/self/clear_refs', 'w').write('5');"
           "lab.run(spec);"
           if record else
           "loop = IntegrationLoop(spec.engine, spec.seed);"
           "before = kb('VmRSS'); open('/proc/self/clear_refs', 'w').write('5');"
           "loop.run(spec.cycles);")
        + "print(before, kb('VmHWM'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parent.parent).stdout.split()
    return {"rss_before_mib": int(out[0]) / 1024, "peak_rss_mib": int(out[1]) / 1024}


def main() -> None:
    quick = "--quick" in sys.argv
    n = 20_000 if quick else 100_000
    res: dict[str, object] = {"bench": "engine", "machine": platform.machine(), "python": platform.python_version(),
                              "numpy": np.__version__, "cycles_timed": n}
    # Peak RSS at two run lengths shows whether memory grows with cycles (it must not, beyond the data).
    # The large spec records 8 KiB per cycle, so its recorded runs are kept shorter.
    mem_plan = {"default_8x16": ((10**5, 10**6), (10**5, 10**6)),
                "large_32x32": ((10**5, 10**6), (2 * 10**4, 10**5))}
    if quick:
        mem_plan = {k: ((10**4, 10**5), (10**4, 5 * 10**4)) for k in mem_plan}
    for name, make in (("default_8x16", default_spec), ("large_32x32", large_spec)):
        which = name.split("_")[0]
        res[name] = {
            "engine_only_cycles_per_s": round(engine_only(make(n), n)),
            "with_recording_cycles_per_s": round(max(rec := [with_recording(make(n)) for _ in range(3)])),
            "with_recording_runs_cycles_per_s": [round(r) for r in rec],
            "recording_and_every_cycle_logged_cycles_per_s": round(full_run(lean(make(n)))),
            "default_run_all_on_cycles_per_s": round(full_run(make(n))),
            "peak_rss_mib_engine_only": {str(c): peak_memory_child(which, c, False)
                                         for c in mem_plan[name][0]},
            "peak_rss_mib_recording_and_ledger": {str(c): peak_memory_child(which, c, True)
                                                  for c in mem_plan[name][1]},
        }
    d = res["default_8x16"]
    assert isinstance(d, dict)
    d["logged_over_unlogged"] = round(d["recording_and_every_cycle_logged_cycles_per_s"]
                                      / d["with_recording_cycles_per_s"], 3)
    res["targets"] = {"default_engine_only_cycles_per_s": 50_000, "default_with_recording_cycles_per_s": 30_000,
                      "logged_over_unlogged": 0.6}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "engine.json").write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
