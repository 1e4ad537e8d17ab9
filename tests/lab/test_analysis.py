"""Windowed measures of runs: post-hoc equals analyze_window on the recorded slice, in-run equals post-hoc
exactly, the hook never changes a trajectory, bad input is a clear error — on real SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from omnimind.engine import IntegrationLoop
from omnimind.errors import MetricError, NotFoundError, OmniMindError
from omnimind.lab.analysis import (
    AnalysisParams,
    MetricsHook,
    analysis_cycles,
    analyze_one,
    analyze_run,
    drop_metrics_after,
    metrics_for,
    module_groups,
    rows_of,
    window_seed,
)
from omnimind.lab.lab import Lab
from omnimind.metrics import analyze_window
from omnimind.spec import ExperimentSpec
from omnimind.storage.schema import metrics

# every_cycles: null is dropped by ExperimentSpec.to_json (exclude_none), so "off" is spelled 10**9 here.
NO_SNAPSHOTS = {"every_cycles": 10**9, "at_end": False, "on_interrupt": False}
# Seed 1: every window of this short run has a well-defined MIB (see docs/report.md on window failures).
BASE: dict[str, Any] = {"seed": 1, "cycles": 4000, "snapshots": NO_SNAPSHOTS,
                        "metrics": {"window": 1000, "every": 1000, "surrogates": 3}}


def spec_of(**over: Any) -> ExperimentSpec:
    data = json.loads(json.dumps(BASE))
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(data.get(k), dict):
            data[k].update(v)
        else:
            data[k] = v
    return ExperimentSpec.model_validate(data)


def comparable(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Everything but source and time: cycle, window, measure, value, details (estimator, partition, null...)."""
    return [(r["cycle"], r["window"], r["measure"], r["value"], r["details"]) for r in rows]


@pytest.fixture(scope="module")
def lab_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lab, Any]]:
    lab = Lab.init(tmp_path_factory.mktemp("analysis") / "lab")
    run = lab.run(spec_of())
    yield lab, run
    lab.close()


def test_analyze_run_equals_analyze_window_on_recorded_slice(lab_run: tuple[Lab, Any]) -> None:
    lab, run = lab_run
    rows = analyze_run(lab, run.id)
    spec = run.spec
    assert sorted({r["cycle"] for r in rows}) == [1000, 2000, 3000, 4000]
    assert [r["measure"] for r in rows[:3]] == ["phi", "lz_complexity", "metastability"]
    groups = [list(range(16 * i, 16 * i + 16)) for i in range(8)]
    states = run.states
    for c in (1000, 4000):
        direct = analyze_window(states[c - 1000:c], groups, measures=list(spec.metrics.measures), pca_k=4,
                                surrogates=3, surrogate_kind="circular", seed=window_seed(run.seed, c),
                                window=(c - 999, c))
        for r in (r for r in rows if r["cycle"] == c):
            m = direct["measures"][r["measure"]]
            assert r["value"] == m["value"]  # exact, not approximate
            assert r["details"]["surrogate"] == m["surrogate"]
            assert r["details"]["partition"] == direct["partition"]
            assert r["details"]["window"] == {"n_samples": 1000, "start": c - 999, "end": c, "spacing": 1,
                                              "every": 1000}
    assert comparable(metrics_for(lab, run.id, "analyze")) == comparable(rows)


def test_in_run_hook_equals_post_hoc_and_keeps_the_trajectory(lab_run: tuple[Lab, Any]) -> None:
    lab, run = lab_run
    spec = run.spec
    if not metrics_for(lab, run.id, "run"):
        # The runner does not construct the hook (yet): drive an identical loop with the hook ourselves.
        loop = IntegrationLoop(spec.engine, spec.seed)
        hook = MetricsHook(lab.db, run.id, loop, spec.metrics, spec.seed)
        loop.after_cycle.append(hook)
        for _ in range(spec.cycles // 500):
            loop.run(500)
            hook.flush()
        assert hook.windows == 4 and not hook.pending
        assert loop.state_digest() == run.final_digest  # the hook did not change the trajectory
    in_run = metrics_for(lab, run.id, "run")
    assert {r["source"] for r in in_run} == {"run"}
    post = analyze_run(lab, run.id)
    assert comparable(in_run) == comparable(post)
    assert len(in_run) == 12


def test_metrics_enabled_or_disabled_gives_the_same_run(tmp_path: Path) -> None:
    with Lab.init(tmp_path / "lab") as lab:
        on = lab.run(spec_of(cycles=2000))
        off = lab.run(spec_of(cycles=2000, metrics={"enabled": False}))
        assert on.final_digest == off.final_digest
        assert np.array_equal(on.states, off.states)
    spec = spec_of(cycles=2000)
    plain = IntegrationLoop(spec.engine, spec.seed)
    plain.run(2000)
    hooked = IntegrationLoop(spec.engine, spec.seed)
    hook = MetricsHook(sa.create_engine("sqlite://"), "x", hooked, spec.metrics, spec.seed)
    hooked.after_cycle.append(hook)
    hooked.run(2000)
    assert hook.windows == 2
    assert hooked.state_digest() == plain.state_digest()
    assert hooked.streams.get_state() == plain.streams.get_state()  # the run's RNG streams are untouched


def test_hook_does_nothing_between_windows_or_before_a_full_window() -> None:
    spec = spec_of(metrics={"window": 1500, "every": 1000})
    loop = IntegrationLoop(spec.engine, spec.seed)
    hook = MetricsHook(sa.create_engine("sqlite://"), "x", loop, spec.metrics, spec.seed)
    loop.after_cycle.append(hook)
    loop.run(1999)
    assert hook.windows == 0 and hook.pending == []  # cycle 1000 had < 1500 states
    hook.flush()  # no-op: nothing buffered, no database touched
    loop.run(1)
    assert hook.windows == 1 and {r["cycle"] for r in hook.pending} == {2000}
    assert analysis_cycles(2000, 1, AnalysisParams.from_spec(spec.metrics)) == [2000]


def test_analyze_replaces_only_earlier_analyze_rows(lab_run: tuple[Lab, Any]) -> None:
    lab, run = lab_run
    analyze_run(lab, run.id)
    before_run = metrics_for(lab, run.id, "run")
    rows = analyze_run(lab, run.id, measures=["phi_tilde"], every=2000, surrogates=0, pca_k=0)
    assert [(r["cycle"], r["measure"]) for r in rows] == [(2000, "phi_tilde"), (4000, "phi_tilde")]
    assert rows[0]["details"]["pca_k"] is None and rows[0]["details"]["surrogate"] is None
    assert comparable(metrics_for(lab, run.id, "analyze")) == comparable(rows)
    assert metrics_for(lab, run.id, "run") == before_run
    analyze_run(lab, run.id)  # back to the spec's settings for the other tests


def test_recording_every_k_windows_use_k_spaced_states(tmp_path: Path) -> None:
    with Lab.init(tmp_path / "lab") as lab:
        run = lab.run(spec_of(recording={"every": 2}, metrics={"window": 500}))
        rows = analyze_run(lab, run.id, measures=["phi", "tdmi"])
        assert sorted({r["cycle"] for r in rows}) == [1000, 2000, 3000, 4000]
        r = next(r for r in rows if r["cycle"] == 3000 and r["measure"] == "tdmi")
        assert r["details"]["window"] == {"n_samples": 500, "start": 2002, "end": 3000, "spacing": 2, "every": 1000}
        groups = module_groups([16] * 8)
        direct = analyze_window(run.states[1000:1500], groups, measures=["phi", "tdmi"], pca_k=4, surrogates=3,
                                seed=window_seed(1, 3000), window=(2002, 3000))
        assert r["value"] == direct["measures"]["tdmi"]["value"]
        with pytest.raises(MetricError, match=r"not a multiple of recording\.every") as exc:
            analyze_run(lab, run.id, every=999)
        assert "--every" in exc.value.hint


def test_bad_input_is_an_error_with_a_hint(lab_run: tuple[Lab, Any]) -> None:
    lab, run = lab_run
    cases: list[tuple[type[OmniMindError], str, dict[str, Any]]] = [
        (NotFoundError, "no run", {"run_id": "ffffffffffff"}),
        (MetricError, "unknown measure 'phi_x'", {"measures": ["phi_x"]}),
        (MetricError, "longer than the 4000 recorded states", {"window": 5000}),
        (MetricError, "no window fits", {"window": 1000, "every": 5000}),
        (MetricError, "surrogates must be 0 or >= 2", {"surrogates": 1}),
        (MetricError, "unknown surrogate kind", {"surrogate_kind": "bogus"}),
        (MetricError, "too short", {"window": 4}),
    ]
    for err, text, kw in cases:
        rid = kw.pop("run_id", run.id)
        with pytest.raises(err, match=text) as exc:
            analyze_run(lab, rid, **kw)
        assert exc.value.hint, text
    with pytest.raises(MetricError, match="known measures"):
        MetricsHook(lab.db, run.id, IntegrationLoop(run.spec.engine, 1), spec_of(metrics={"measures": ["nope"]})
                    .metrics, 1)
    with pytest.raises(MetricError, match="unknown metrics source"):
        metrics_for(lab, run.id, "both")


def test_a_failed_window_is_recorded_not_raised() -> None:
    X = np.zeros((200, 8))  # constant: no measure is defined
    params = AnalysisParams(("phi", "lz_complexity"), 200, 100, None, 0, "circular")
    out = analyze_one(X, module_groups([4, 4]), 500, 1, params, 7)
    assert "constant" in out["error"] and out["hint"]
    rows = rows_of("r", 500, out, params, "run", "t")
    assert [r["value"] for r in rows] == [None, None]
    d = json.loads(rows[0]["details_json"])
    assert d["error"] == out["error"] and d["units"] == "nats" and d["window"]["end"] == 500


def test_resume_helper_drops_later_in_run_rows(tmp_path: Path) -> None:
    with Lab.init(tmp_path / "lab") as lab:
        run = lab.run(spec_of(cycles=3000))
        loop = IntegrationLoop(run.spec.engine, run.spec.seed)
        hook = MetricsHook(lab.db, run.id, loop, run.spec.metrics, run.seed, source="run")
        loop.after_cycle.append(hook)
        loop.run(3000)
        hook.flush()
        analyze_run(lab, run.id)
        with lab.db.begin() as conn:
            drop_metrics_after(conn, run.id, 2000)
        assert {r["cycle"] for r in metrics_for(lab, run.id, "run")} == {1000, 2000}
        assert {r["cycle"] for r in metrics_for(lab, run.id, "analyze")} == {1000, 2000, 3000}
        # rows go with their run (ON DELETE CASCADE)
        with lab.db.begin() as conn:
            conn.execute(sa.text("DELETE FROM runs WHERE id = :r"), {"r": run.id})
            assert conn.execute(sa.select(sa.func.count()).select_from(metrics)).scalar() == 0


def test_window_seed_is_a_function_of_run_seed_and_cycle() -> None:
    assert window_seed(1, 1000) == window_seed(1, 1000)
    assert len({window_seed(1, 1000), window_seed(1, 2000), window_seed(2, 1000)}) == 3


def test_postgresql_lab(tmp_path: Path, pg_url: str) -> None:
    with Lab.init(tmp_path / "lab", database_url=pg_url) as lab:
        run = lab.run(spec_of(cycles=2000))
        rows = analyze_run(lab, run.id)
        assert comparable(metrics_for(lab, run.id, "analyze")) == comparable(rows)  # float8 round-trips exactly
        direct = analyze_window(run.states[1000:2000], module_groups([16] * 8), pca_k=4, surrogates=3,
                                seed=window_seed(1, 2000), window=(1001, 2000))
        got = {r["measure"]: r["value"] for r in rows if r["cycle"] == 2000}
        assert got == {n: m["value"] for n, m in direct["measures"].items()}  # type: ignore[attr-defined]
