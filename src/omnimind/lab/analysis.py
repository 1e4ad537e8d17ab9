"""Windowed integration measures of a run: during the run (`MetricsHook`) and afterwards (`analyze_run`).

Both paths call `omnimind.metrics.analyze_window` through one helper, on the same rows and with the same
surrogate seed, so an in-run value and its post-hoc recomputation are bit-for-bit equal (tested):

- a window ending at cycle c holds the `window` most recent states up to and including cycle c
  (in a run: `loop.workspace.recent(window)`; afterwards: the same rows of the recorded `states` array);
- windows end at cycles `every`, 2·`every`, … once at least `window` states exist;
- the surrogate seed of a window is `window_seed(run seed, c)`: SeedSequence([seed, c]), so it never
  touches (or depends on) the run's own random streams.

Rows go to the `metrics` table (docs/report.md), one per (window, measure), with `source` `run` or
`analyze`. A window on which the analysis fails (e.g. a singular covariance) is stored with value NULL
and the error in `details`, so a long run is never stopped by its analysis.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from omnimind import clock
from omnimind.engine import CycleResult, IntegrationLoop
from omnimind.errors import MetricError, NotFoundError
from omnimind.metrics import REGISTRY, SURROGATE_KINDS, analyze_window
from omnimind.spec import MetricsSpec
from omnimind.storage.schema import metrics

if TYPE_CHECKING:
    from omnimind.lab.lab import Lab

SOURCES = ("run", "analyze")
MIN_WINDOW = 16
# Failures of one window that are recorded (value NULL + error) instead of stopping the run or the analysis.
_WINDOW_ERRORS = (MetricError, np.linalg.LinAlgError, ValueError, FloatingPointError, ZeroDivisionError)


@dataclass(frozen=True)
class AnalysisParams:
    """What to compute on each window (the spec's `metrics` section, possibly overridden)."""

    measures: tuple[str, ...]
    window: int
    every: int
    pca_k: int | None
    surrogates: int
    surrogate_kind: str

    @classmethod
    def from_spec(cls, spec: MetricsSpec) -> AnalysisParams:
        """The parameters a spec's `metrics` section asks for."""
        return cls(tuple(spec.measures), spec.window, spec.every, spec.pca_k, spec.surrogates, spec.surrogate_kind)

    def validate(self) -> AnalysisParams:
        """Check every parameter up front (MetricError with a hint), so no window fails for a typo."""
        if not self.measures:
            raise MetricError("no measures requested", f"name at least one of: {', '.join(REGISTRY.names())}")
        for name in self.measures:
            REGISTRY.get(name)  # MetricError listing the known names
        if len(set(self.measures)) != len(self.measures):
            raise MetricError(f"measure listed twice in {list(self.measures)}", "name each measure once")
        if self.window < MIN_WINDOW:
            raise MetricError(f"window {self.window} is too short", f"use a window of at least {MIN_WINDOW} samples")
        if self.every < 1:
            raise MetricError(f"every must be >= 1, got {self.every}", "compute e.g. every 1000 cycles")
        if self.pca_k is not None and self.pca_k < 1:
            raise MetricError(f"pca_k must be >= 1, got {self.pca_k}", "use e.g. 4, or no PCA")
        if self.surrogates < 0 or self.surrogates == 1:
            raise MetricError(f"surrogates must be 0 or >= 2, got {self.surrogates}", "use e.g. 19 or 99")
        if self.surrogate_kind not in SURROGATE_KINDS:
            raise MetricError(f"unknown surrogate kind {self.surrogate_kind!r}",
                              f"choose from: {', '.join(SURROGATE_KINDS)}")
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {"measures": list(self.measures), "window": self.window, "every": self.every, "pca_k": self.pca_k,
                "surrogates": self.surrogates, "surrogate_kind": self.surrogate_kind}


def module_groups(dims: Sequence[int]) -> list[list[int]]:
    """Column indices of each module in the concatenated state (module order)."""
    groups, off = [], 0
    for d in dims:
        groups.append(list(range(off, off + int(d))))
        off += int(d)
    return groups


def window_seed(run_seed: int, cycle: int) -> int:
    """Surrogate seed of the window ending at `cycle`: a function of (run seed, cycle) only."""
    return int(np.random.SeedSequence([int(run_seed), int(cycle)]).generate_state(1, np.uint64)[0])


def _finite(obj: Any) -> Any:
    """JSON-safe copy: non-finite floats become None (strict JSON has no NaN/inf)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def analyze_one(X: Any, groups: list[list[int]], cycle: int, spacing: int, params: AnalysisParams,
                seed: int) -> dict[str, Any]:
    """`analyze_window` on one window ending at `cycle` (samples `spacing` cycles apart); never raises for
    a property of the data: a failed window comes back as {"error": ..., "hint": ...}."""
    n = int(np.shape(X)[0])
    start = cycle - (n - 1) * spacing
    out: dict[str, Any]
    try:
        out = analyze_window(X, groups, measures=list(params.measures), pca_k=params.pca_k,
                             surrogates=params.surrogates, surrogate_kind=params.surrogate_kind, seed=seed,
                             window=(start, cycle))
    except _WINDOW_ERRORS as exc:
        msg = exc.message if isinstance(exc, MetricError) else f"{type(exc).__name__}: {exc}"
        hint = exc.hint if isinstance(exc, MetricError) else ""
        out = {"window": {"n_samples": n, "start": start, "end": cycle}, "error": msg, "hint": hint,
               "pca_k": params.pca_k, "surrogates": {"n": params.surrogates, "kind": params.surrogate_kind,
                                                     "seed": seed}}
    window: dict[str, Any] = dict(cast(dict[str, Any], out["window"]))
    window["spacing"] = spacing
    window["every"] = params.every
    out["window"] = window
    return out


def rows_of(run_id: str, cycle: int, result: dict[str, Any], params: AnalysisParams, source: str,
            computed_at: str) -> list[dict[str, Any]]:
    """The metrics-table rows (one per measure) of one `analyze_one` result."""
    common = {k: result.get(k) for k in ("window", "lag", "n_modules", "n_columns", "pca_k",
                                         "explained_variance_ratio", "partition", "surrogates")}
    rows = []
    for name in params.measures:
        if "error" in result:
            m: dict[str, Any] = {"name": name, "value": None, "surrogate": None,
                                 "error": result["error"], "hint": result.get("hint", "")}
            spec = REGISTRY.get(name)
            m.update(units=spec.units, estimator=spec.estimator, symbol=spec.symbol)
        else:
            m = dict(result["measures"][name])
        details = _finite({**common, **{k: v for k, v in m.items() if k not in ("name", "value")}})
        value = m["value"]
        if value is not None and not math.isfinite(value):
            details["error"] = f"non-finite value {value!r}"
            value = None
        rows.append({"run_id": run_id, "cycle": int(cycle), "window": int(result["window"]["n_samples"]),
                     "measure": name, "value": value, "details_json": json.dumps(details, allow_nan=False),
                     "source": source, "computed_at": computed_at})
    return rows


def _public(row: Any) -> dict[str, Any]:
    return {"cycle": int(row.cycle), "window": int(row.window), "measure": row.measure,
            "value": None if row.value is None else float(row.value), "source": row.source,
            "computed_at": row.computed_at, "details": json.loads(row.details_json)}


def _public_dict(row: dict[str, Any]) -> dict[str, Any]:
    return {"cycle": row["cycle"], "window": row["window"], "measure": row["measure"], "value": row["value"],
            "source": row["source"], "computed_at": row["computed_at"], "details": json.loads(row["details_json"])}


class MetricsHook:
    """After-cycle hook computing the spec's measures every `every` cycles on the last `window` states.

    Costs one modulo on the other cycles. Rows are buffered and written in one transaction by `flush()`
    (call it at block boundaries and when the run ends). Reads the workspace history (a copy) only: the
    run's state and random streams are never touched, so the trajectory is the same with or without it.
    """

    def __init__(self, engine: Engine, run_id: str, loop: IntegrationLoop, spec: MetricsSpec, seed: int,
                 *, source: str = "run") -> None:
        self.db, self.run_id, self.loop, self.seed, self.source = engine, run_id, loop, int(seed), source
        self.params = AnalysisParams.from_spec(spec).validate()
        if self.params.window > loop.workspace.history.shape[0]:
            raise MetricError(f"metrics.window ({self.params.window}) is longer than the workspace history "
                              f"({loop.workspace.history.shape[0]})", "raise workspace.history or shorten the window")
        self.every = self.params.every
        self.window = self.params.window
        self.groups = module_groups(loop.workspace.dims)
        self.pending: list[dict[str, Any]] = []
        self.windows = 0  # windows analysed by this hook
        self.seconds = 0.0  # time spent analysing

    def __call__(self, r: CycleResult) -> None:
        """After-cycle hook."""
        if r.cycle % self.every:
            return
        self.compute(r.cycle)

    def compute(self, cycle: int) -> None:
        """Analyse the window ending at `cycle` (the loop's current cycle), if enough history exists."""
        ws = self.loop.workspace
        if min(ws.count, ws.history.shape[0]) < self.window:
            return
        t0 = time.perf_counter()
        result = analyze_one(ws.recent(self.window), self.groups, cycle, 1, self.params,
                             window_seed(self.seed, cycle))
        self.pending.extend(rows_of(self.run_id, cycle, result, self.params, self.source, clock.iso()))
        self.windows += 1
        self.seconds += time.perf_counter() - t0

    def flush(self) -> None:
        """Write the buffered rows in one transaction (no-op when nothing is buffered)."""
        if not self.pending:
            return
        rows, self.pending = self.pending, []
        with self.db.begin() as conn:
            conn.execute(sa.insert(metrics), rows)


def drop_metrics_after(conn: sa.Connection, run_id: str, cycle: int, source: str = "run") -> None:
    """Delete `source` rows of windows ending after `cycle` (for resume: the hook recomputes them)."""
    conn.execute(sa.delete(metrics).where(metrics.c.run_id == run_id, metrics.c.source == source,
                                          metrics.c.cycle > cycle))


def analysis_cycles(n_rows: int, spacing: int, params: AnalysisParams) -> list[int]:
    """End cycles of the windows over `n_rows` recorded states taken every `spacing` cycles."""
    if params.every % spacing:
        raise MetricError(f"every ({params.every}) is not a multiple of recording.every ({spacing})",
                          f"use --every {max(spacing, params.every // spacing * spacing)} (windows must end on "
                          "recorded cycles)")
    last = n_rows * spacing
    first = params.every * max(1, math.ceil(params.window * spacing / params.every))
    return list(range(first, last + 1, params.every))


def analyze_run(lab: Lab, run_id: str, *, measures: Sequence[str] | None = None, window: int | None = None,
                every: int | None = None, pca_k: int | None = None, surrogates: int | None = None,
                surrogate_kind: str | None = None, seed: int | None = None) -> list[dict[str, Any]]:
    """Compute windowed measures from a run's recorded `states` (source `analyze`) and store them.

    Parameters default to the run's spec (`metrics` section); `seed` defaults to the run's seed, which makes
    the result equal to what the in-run hook computes. With `recording.every = k > 1`, a window holds
    `window` recorded states k cycles apart (stated as `details.window.spacing`). Earlier `analyze` rows of
    the run are replaced in one transaction. Returns the rows (as `metrics_for` does).
    """
    from omnimind.lab.runs import get_run

    run = get_run(lab, run_id)
    spec = run.spec
    base = AnalysisParams.from_spec(spec.metrics)
    params = AnalysisParams(
        measures=base.measures if measures is None else tuple(measures),
        window=base.window if window is None else window,
        every=base.every if every is None else every,
        pca_k=base.pca_k if pca_k is None else (None if pca_k == 0 else pca_k),
        surrogates=base.surrogates if surrogates is None else surrogates,
        surrogate_kind=base.surrogate_kind if surrogate_kind is None else surrogate_kind)
    params.validate()
    if "states" not in run.array_names():
        raise NotFoundError(f"run {run.id} recorded no module states",
                            "analysis needs `states` in recording.arrays; re-run with it recorded")
    states = run.states
    spacing = spec.recording.every
    n_rows = int(states.shape[0])
    if params.window > n_rows:
        raise MetricError(f"window {params.window} is longer than the {n_rows} recorded states of run {run.id}",
                          f"use --window {n_rows} or less (or run more cycles)")
    ends = analysis_cycles(n_rows, spacing, params)
    if not ends:
        raise MetricError(f"no window fits: run {run.id} recorded {n_rows * spacing} cycles, every "
                          f"{params.every}, window {params.window}",
                          f"use --every {n_rows * spacing} (or less) for at least one window")
    groups = module_groups([m.dim for m in spec.modules])
    if groups[-1][-1] + 1 != states.shape[1]:
        raise MetricError(f"recorded states have {states.shape[1]} columns, the spec's modules "
                          f"{groups[-1][-1] + 1}", "the run has user modules; analyze their states directly")
    base_seed = run.seed if seed is None else int(seed)
    now = clock.iso()
    rows: list[dict[str, Any]] = []
    for c in ends:
        end = c // spacing
        result = analyze_one(states[end - params.window:end], groups, c, spacing, params, window_seed(base_seed, c))
        rows.extend(rows_of(run.id, c, result, params, "analyze", now))
    with lab.db.begin() as conn:
        conn.execute(sa.delete(metrics).where(metrics.c.run_id == run.id, metrics.c.source == "analyze"))
        conn.execute(sa.insert(metrics), rows)
    return [_public_dict(r) for r in rows]


def metrics_for(lab: Lab, run_id: str, source: str | None = None) -> list[dict[str, Any]]:
    """A run's stored metric rows (both sources unless `source` is given), by source, cycle, measure order."""
    from omnimind.lab.runs import get_run

    if source is not None and source not in SOURCES:
        raise MetricError(f"unknown metrics source {source!r}", f"use one of: {', '.join(SOURCES)}")
    rid = get_run(lab, run_id).id
    q = sa.select(metrics).where(metrics.c.run_id == rid)
    if source is not None:
        q = q.where(metrics.c.source == source)
    with lab.db.connect() as conn:
        rows = conn.execute(q.order_by(metrics.c.source, metrics.c.cycle, metrics.c.id)).all()
    return [_public(r) for r in rows]


__all__ = ["SOURCES", "AnalysisParams", "MetricsHook", "analysis_cycles", "analyze_one", "analyze_run",
           "drop_metrics_after", "metrics_for", "module_groups", "rows_of", "window_seed"]
