"""Metric registry and `analyze_window`: the one entry point a run loop calls on a window of states."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from omnimind.errors import MetricError
from omnimind.metrics._linalg import FloatArray, as_float_matrix, validate_partition
from omnimind.metrics.complexity import lempel_ziv_complexity, metastability, o_information
from omnimind.metrics.covariance import LaggedCovariance
from omnimind.metrics.decoding import phi_star_details
from omnimind.metrics.geometric import phi_g_details
from omnimind.metrics.integration import causal_density, phi_r, phi_tilde, phi_wms, psi, tdmi
from omnimind.metrics.mib import mib
from omnimind.metrics.reduce import reduce_modules
from omnimind.metrics.surrogates import SURROGATE_KINDS, SurrogateStats, make_surrogate, null_stats


def _window_metastability(w: WindowData) -> float:
    if not w.pc_first:
        return metastability(w.X, w.groups)
    return metastability(w.X[:, [g[0] for g in w.groups]], [[m] for m in range(len(w.groups))])


@dataclass(eq=False)
class WindowData:
    """What a registered measure sees: the (reduced, standardised) window, modules and chosen partition."""

    X: FloatArray
    groups: list[list[int]]
    partition: list[list[int]]  # columns of each part
    lag: int = 1
    seed: int = 0
    _cov: LaggedCovariance | None = None
    # Each module's first column is its PC1 score (per-module PCA ran before z-scoring). Whitened PC scores
    # have an identity covariance, so "PC1 of the standardised block" would be arbitrary: measures that need
    # a module's dominant signal must take this column instead.
    pc_first: bool = False

    @property
    def cov(self) -> LaggedCovariance:
        """Sample lagged covariance of the window (computed once, shared by the Gaussian measures)."""
        if self._cov is None:
            self._cov = LaggedCovariance.from_samples(self.X, self.lag)
        return self._cov


MeasureFn = Callable[[WindowData], float]
_GAUSS = "gaussian/linear: biased sample lagged covariance, z-scored columns"


@dataclass(frozen=True)
class MeasureSpec:
    """A registered measure: how to compute it and how to describe it in a report."""

    name: str
    fn: MeasureFn
    description: str
    units: str = "nats"
    estimator: str = _GAUSS
    symbol: str | None = None


@dataclass
class MetricRegistry:
    """Name → measure. Add your own with `register`; the defaults are published measures only."""

    _specs: dict[str, MeasureSpec] = field(default_factory=dict)

    def register(
        self,
        name: str,
        fn: MeasureFn,
        *,
        description: str,
        units: str = "nats",
        estimator: str = _GAUSS,
        symbol: str | None = None,
        replace: bool = False,
    ) -> None:
        """Register `fn(window) -> float` under `name` (MetricError if taken, unless replace=True)."""
        if not name or not name.replace("_", "").isalnum():
            raise MetricError(f"invalid measure name {name!r}", "use letters, digits and underscores")
        if name in self._specs and not replace:
            raise MetricError(f"measure {name!r} is already registered", "pick another name or replace=True")
        self._specs[name] = MeasureSpec(name, fn, description, units, estimator, symbol)

    def get(self, name: str) -> MeasureSpec:
        """The spec for `name` or MetricError listing the known names."""
        try:
            return self._specs[name]
        except KeyError:
            raise MetricError(f"unknown measure {name!r}", f"known measures: {sorted(self._specs)}") from None

    def names(self) -> list[str]:
        """All registered names, sorted."""
        return sorted(self._specs)


def _phi_star(w: WindowData) -> float:
    r = phi_star_details(w.cov, w.partition)
    if not r.converged:
        raise MetricError(f"Φ* did not converge (gap {r.gap_bound:.3g})", "reduce dimensions with pca_k")
    return r.value


def _phi_g(w: WindowData) -> float:
    r = phi_g_details(w.cov, w.partition)
    if not r.converged:
        raise MetricError(f"Φ_G did not converge after {r.iterations} iterations", "reduce dimensions")
    return r.value


def default_registry() -> MetricRegistry:
    """A fresh registry with every built-in measure; defaults Φ = phi, Ψ = lz_complexity, σ = metastability"""
    reg = MetricRegistry()
    reg.register(
        "phi",
        lambda w: phi_wms(w.cov, w.partition),
        symbol="Φ",
        description="integration: whole-minus-sum Φ_WMS at the window partition (MIB by default)",
    )
    reg.register("tdmi", lambda w: tdmi(w.cov), description="time-delayed mutual information I(X_{t-τ};X_t)")
    reg.register("phi_wms", lambda w: phi_wms(w.cov, w.partition), description="whole-minus-sum Φ (Φ_E/Φ_AR)")
    reg.register("phi_tilde", lambda w: phi_tilde(w.cov, w.partition), description="stochastic interaction Φ̃")
    reg.register("phi_star", _phi_star, description="decoding-based Φ* (Oizumi et al. 2016)")
    reg.register("phi_g", _phi_g, description="geometric Φ_G (Oizumi, Tsuchiya & Amari 2016)")
    reg.register(
        "causal_density",
        lambda w: causal_density(w.cov, w.partition),
        description="causal density between the parts (mean conditional transfer entropy)",
    )
    reg.register("phi_r", lambda w: phi_r(w.cov, w.partition), description="ΦID-revised Φ_R (MMI redundancy)")
    reg.register(
        "psi",
        lambda w: psi(w.cov, w.partition),
        description="integrated synergy ψ (flawed: positive for disconnected autocorrelated parts)",
    )
    reg.register(
        "o_information",
        lambda w: o_information(w.cov, w.groups),
        description="O-information over modules (Rosas et al. 2019); >0 redundancy, <0 synergy",
    )
    reg.register(
        "lz_complexity",
        lambda w: lempel_ziv_complexity(w.X),
        symbol="Ψ",
        units="dimensionless",
        estimator="LZ76 of median-binarised data read time-major, normalised by n/log2(n)",
        description="differentiation: Lempel–Ziv complexity (Schartner et al. 2015)",
    )
    reg.register(
        "metastability",
        _window_metastability,
        symbol="σ",
        units="dimensionless",
        estimator="var over time of the Kuramoto order parameter of module PC1 Hilbert phases",
        description="metastability (Shanahan 2010)",
    )
    return reg


REGISTRY = default_registry()
DEFAULT_MEASURES: tuple[str, ...] = ("phi", "lz_complexity", "metastability")


def register_measure(name: str, fn: MeasureFn, **kwargs: object) -> None:
    """Register a measure in the process-wide default registry (see `MetricRegistry.register`)."""
    REGISTRY.register(name, fn, **kwargs)  # type: ignore[arg-type]


@dataclass(frozen=True)
class MeasureResult:
    """One reported value with everything needed to interpret it."""

    name: str
    value: float | None
    units: str
    estimator: str
    symbol: str | None
    surrogate: SurrogateStats | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-serialisable form."""
        return {
            "name": self.name,
            "value": self.value,
            "units": self.units,
            "estimator": self.estimator,
            "symbol": self.symbol,
            "surrogate": None if self.surrogate is None else self.surrogate.to_dict(),
            "error": self.error,
        }


def _standardise(X: FloatArray) -> FloatArray:
    sd = X.std(axis=0)
    bad = np.flatnonzero(sd <= 1e-12 * max(1.0, float(np.max(np.abs(X)))))
    if bad.size:
        raise MetricError(
            f"column(s) {bad[:10].tolist()} are constant in this window",
            "drop constant columns or reduce each module with pca_k before analysis",
        )
    return np.asarray((X - X.mean(axis=0)) / sd, dtype=np.float64)


def analyze_window(
    X: object,
    groups: Sequence[Sequence[int]],
    measures: Sequence[str] | None = None,
    pca_k: int | None = None,
    surrogates: int = 0,
    surrogate_kind: str = "circular",
    seed: int = 0,
    lag: int = 1,
    partition: Sequence[Sequence[int]] | None = None,
    mib_measure: str = "phi_wms",
    window: tuple[int, int] | None = None,
    ci_level: float = 0.95,
    registry: MetricRegistry | None = None,
) -> dict[str, object]:
    """Compute the requested measures on one T x D window of recorded states; plain JSON-ready dict.

    Steps (each stated in the output): optional per-module PCA to `pca_k` components; z-scoring of columns
    (every measure is invariant to it; with PCA, metastability takes each module's PC1 column as its
    signal); the partition — `partition` (module indices per part) if given, else the MIB of `mib_measure`
    normalised by part size (`mib(..., normalise="size")`); each measure; then `surrogates`
    seeded surrogates of `surrogate_kind`, evaluated at the same partition, giving null mean, percentile
    interval, corrected value and p-value. Input errors raise MetricError; a measure that cannot be
    computed on this window is reported with value None and its error.
    """
    reg = REGISTRY if registry is None else registry
    names = list(DEFAULT_MEASURES if measures is None else measures)
    specs = [reg.get(n) for n in names]
    arr = as_float_matrix(X)
    grp = validate_partition(groups, arr.shape[1])
    if surrogates and surrogate_kind not in SURROGATE_KINDS:
        raise MetricError(f"unknown surrogate kind {surrogate_kind!r}", f"choose from {list(SURROGATE_KINDS)}")
    if surrogates < 0 or surrogates == 1:
        raise MetricError(f"surrogates must be 0 or >= 2, got {surrogates}", "use e.g. surrogates=100")
    explained: list[float] | None = None
    if pca_k is not None:
        red = reduce_modules(arr, grp, pca_k)
        arr, grp, explained = red.X, red.groups, red.explained_variance_ratio
    arr = _standardise(arr)
    pca = pca_k is not None
    n_mod = len(grp)
    part_info: dict[str, object]
    if partition is not None:
        mod_parts = validate_partition(partition, n_mod)
        col_parts = [sorted(c for m in p for c in grp[m]) for p in mod_parts]
        part_info = {"modules": mod_parts, "columns": col_parts, "method": "given"}
        base = WindowData(arr, grp, col_parts, lag, seed, pc_first=pca)
    elif n_mod >= 2:
        cov = LaggedCovariance.from_samples(arr, lag)
        res = mib(cov, grp, measure=mib_measure, normalise="size")
        col_parts = [list(p) for p in res.columns]
        base = WindowData(arr, grp, col_parts, lag, seed, cov, pc_first=pca)
        part_info = res.to_dict()
    else:
        col_parts = [list(range(arr.shape[1]))]
        part_info = {"modules": [[0]], "columns": col_parts, "method": "single module"}
        base = WindowData(arr, grp, col_parts, lag, seed, pc_first=pca)

    def run(w: WindowData) -> dict[str, float | str]:
        out: dict[str, float | str] = {}
        for spec in specs:
            try:
                out[spec.name] = float(spec.fn(w))
            except MetricError as exc:
                out[spec.name] = str(exc)
        return out

    observed = run(base)
    nulls: dict[str, list[float]] = {n: [] for n in names}
    failed: dict[str, int] = dict.fromkeys(names, 0)
    if surrogates:
        rng = np.random.default_rng(seed)
        for _ in range(surrogates):
            xs = make_surrogate(arr, grp, surrogate_kind, rng)
            try:
                vals = run(WindowData(xs, grp, col_parts, lag, seed, pc_first=pca))
            except MetricError:
                vals = {}
            for n in names:
                v = vals.get(n)
                if isinstance(v, float):
                    nulls[n].append(v)
                else:
                    failed[n] += 1
    results: dict[str, object] = {}
    for spec in specs:
        v = observed[spec.name]
        if isinstance(v, str):
            results[spec.name] = MeasureResult(
                spec.name, None, spec.units, spec.estimator, spec.symbol, error=v
            ).to_dict()
            continue
        stats = None
        if surrogates and len(nulls[spec.name]) >= 2:
            stats = null_stats(v, nulls[spec.name], surrogate_kind, seed, ci_level, failed[spec.name])
        results[spec.name] = MeasureResult(spec.name, v, spec.units, spec.estimator, spec.symbol, stats).to_dict()
    return {
        "window": {
            "n_samples": int(arr.shape[0]),
            "start": None if window is None else int(window[0]),
            "end": None if window is None else int(window[1]),
        },
        "lag": lag,
        "n_modules": n_mod,
        "n_columns": int(arr.shape[1]),
        "pca_k": pca_k,
        "explained_variance_ratio": explained,
        "standardised": True,
        "partition": part_info,
        "surrogates": {
            "n": surrogates,
            "kind": surrogate_kind if surrogates else None,
            "seed": seed,
            "partition": "fixed at the observed partition",
            "ci_level": ci_level,
        },
        "measures": results,
    }


__all__ = [
    "DEFAULT_MEASURES",
    "REGISTRY",
    "MeasureResult",
    "MeasureSpec",
    "MetricRegistry",
    "WindowData",
    "analyze_window",
    "default_registry",
    "register_measure",
]
