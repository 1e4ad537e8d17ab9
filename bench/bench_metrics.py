"""Benchmark omnimind.metrics: prints JSON to stdout and writes bench/results/metrics.json.

Budgets (issue 3): all measures for 8 modules x 4 PCA dims, window 2000, MIB over all 127 bipartitions
<= 50 ms (Φ_G and surrogates excluded); Φ_WMS MIB for 12 modules x 4 dims <= 200 ms; surrogate cost per
measure reported.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy

from omnimind.metrics import (
    LaggedCovariance,
    analyze_window,
    bipartition_values,
    causal_density,
    lempel_ziv_complexity,
    metastability,
    mib,
    module_bipartitions,
    o_information,
    phi_g,
    phi_r,
    phi_star,
    phi_tilde,
    phi_wms,
    psi,
    reduce_modules,
    tdmi,
)

REPEATS = 9
T = 2000


def _timeit(fn: Callable[[], object], repeats: int = REPEATS) -> dict[str, float]:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(1e3 * (time.perf_counter() - t0))
    return {"median_ms": round(statistics.median(times), 3), "min_ms": round(min(times), 3)}


def _system(n_modules: int, raw_dim: int, seed: int) -> tuple[np.ndarray, list[list[int]]]:
    """A coupled, stable VAR(1) of n_modules x raw_dim columns, simulated for T samples."""
    rng = np.random.default_rng(seed)
    D = n_modules * raw_dim
    A = rng.normal(size=(D, D)) / np.sqrt(D)
    A *= 0.9 / float(np.max(np.abs(np.linalg.eigvals(A))))
    X = np.zeros((T + 200, D))
    eps = rng.normal(size=(T + 200, D))
    for t in range(1, T + 200):
        X[t] = A @ X[t - 1] + eps[t]
    return X[200:], [list(range(m * raw_dim, (m + 1) * raw_dim)) for m in range(n_modules)]


def main() -> dict[str, object]:
    out: dict[str, object] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
        },
        "window": T,
        "repeats": REPEATS,
    }
    # --- 8 modules x 4 PCA dims (raw 8 dims per module reduced to 4) ---------------------------------
    X_raw, groups_raw = _system(8, 8, 1)
    red = reduce_modules(X_raw, groups_raw, 4)
    X, groups = red.X, red.groups

    def all_measures_at_mib(with_pca: bool) -> dict[str, float]:
        Xw, gw = (reduce_modules(X_raw, groups_raw, 4).X, groups) if with_pca else (X, groups)
        cov = LaggedCovariance.from_samples(Xw)
        part = [list(p) for p in mib(cov, gw, "phi_wms").columns]
        return {
            "tdmi": tdmi(cov),
            "phi_wms": phi_wms(cov, part),
            "phi_tilde": phi_tilde(cov, part),
            "phi_star": phi_star(cov, part),
            "causal_density": causal_density(cov, part),
            "phi_r": phi_r(cov, part),
            "psi": psi(cov, part),
        }

    cov = LaggedCovariance.from_samples(X)
    masks = module_bipartitions(8)
    part = [list(p) for p in mib(cov, groups).columns]
    budget_50 = _timeit(lambda: all_measures_at_mib(False))
    out["all_measures_8x4_mib127"] = {
        "what": "from_samples + exhaustive MIB (phi_wms, 127 bipartitions) + tdmi, phi_wms, phi_tilde, phi_star, "
        "causal_density, phi_r, psi at the MIB (phi_g excluded)",
        **budget_50,
        "budget_ms": 50,
        "within_budget": budget_50["median_ms"] <= 50,
    }
    out["all_measures_8x4_mib127_including_pca"] = _timeit(lambda: all_measures_at_mib(True))
    out["all_fast_measures_all_127_bipartitions_8x4"] = {
        "what": "phi_wms, phi_tilde, psi, phi_r, causal_density + normaliser for every bipartition (vectorised)",
        **_timeit(lambda: bipartition_values(cov, groups, masks)),
    }
    out["phi_g_at_mib_8x4"] = {"excluded_from_budget": True, **_timeit(lambda: phi_g(cov, part), repeats=3)}
    out["lz_complexity_8x4"] = _timeit(lambda: lempel_ziv_complexity(X))
    out["metastability_8x4"] = _timeit(lambda: metastability(X, groups))
    out["o_information_8_modules"] = _timeit(lambda: o_information(cov, groups))
    # --- 12 modules x 4 dims: phi_wms MIB over 2047 bipartitions -------------------------------------
    X12, groups12 = _system(12, 4, 2)
    mib12 = _timeit(lambda: mib(LaggedCovariance.from_samples(X12), groups12, "phi_wms"))
    out["phi_wms_mib_12x4"] = {
        "what": "from_samples + exhaustive phi_wms MIB over 2047 bipartitions, D=48",
        **mib12,
        "budget_ms": 200,
        "within_budget": mib12["median_ms"] <= 200,
    }
    # --- surrogate cost per measure: per surrogate (generate + covariance + measure at fixed partition) ----
    n_sur = 20
    per: dict[str, float] = {}
    fixed = [[0, 1, 2, 3], [4, 5, 6, 7]]
    for name in [
        "tdmi",
        "phi_wms",
        "phi_tilde",
        "phi_star",
        "phi_g",
        "causal_density",
        "phi_r",
        "psi",
        "o_information",
        "lz_complexity",
        "metastability",
    ]:
        base = _timeit(lambda n=name: analyze_window(X, groups, [n], partition=fixed), repeats=3)["median_ms"]
        withs = _timeit(
            lambda n=name: analyze_window(X, groups, [n], partition=fixed, surrogates=n_sur, seed=0), repeats=3
        )["median_ms"]
        per[name] = round((withs - base) / n_sur, 3)
    out["surrogate_cost_ms_per_surrogate_8x4"] = per
    return out


if __name__ == "__main__":
    result = main()
    text = json.dumps(result, indent=2)
    print(text)
    path = Path(__file__).resolve().parent / "results" / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")
