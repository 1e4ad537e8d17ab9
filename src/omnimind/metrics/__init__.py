"""Integration measures over recorded time series: the Φ family, complexity, MIB, surrogates (numpy/scipy).

All information quantities are in nats and computed from (lagged) covariances under a stationary Gaussian
(linear) assumption; see docs/metrics.md for every formula, its paper, assumptions and known flaws.
"""

from omnimind.metrics.analysis import (
    DEFAULT_MEASURES,
    REGISTRY,
    MeasureResult,
    MeasureSpec,
    MetricRegistry,
    WindowData,
    analyze_window,
    default_registry,
    register_measure,
)
from omnimind.metrics.complexity import (
    binarise,
    kuramoto_order,
    lempel_ziv_complexity,
    lz76,
    metastability,
    module_phases,
    o_information,
)
from omnimind.metrics.covariance import LaggedCovariance
from omnimind.metrics.decoding import PhiStarResult, phi_star, phi_star_details
from omnimind.metrics.geometric import PhiGResult, phi_g, phi_g_details
from omnimind.metrics.granger import GrangerResult, granger_causality
from omnimind.metrics.integration import (
    MEASURE_NAMES,
    causal_density,
    conditional_transfer_entropy,
    double_redundancy_mmi,
    measures,
    mi_past_present,
    phi_r,
    phi_tilde,
    phi_wms,
    psi,
    tdmi,
)
from omnimind.metrics.mib import FAST_MEASURES, MIBResult, bipartition_values, mib, module_bipartitions
from omnimind.metrics.reduce import ReducedModules, reduce_modules
from omnimind.metrics.surrogates import (
    SURROGATE_KINDS,
    SurrogateStats,
    make_surrogate,
    null_stats,
    surrogate_test,
)

__all__ = [
    "DEFAULT_MEASURES",
    "FAST_MEASURES",
    "MEASURE_NAMES",
    "REGISTRY",
    "SURROGATE_KINDS",
    "GrangerResult",
    "LaggedCovariance",
    "MIBResult",
    "MeasureResult",
    "MeasureSpec",
    "MetricRegistry",
    "PhiGResult",
    "PhiStarResult",
    "ReducedModules",
    "SurrogateStats",
    "WindowData",
    "analyze_window",
    "binarise",
    "bipartition_values",
    "causal_density",
    "conditional_transfer_entropy",
    "default_registry",
    "double_redundancy_mmi",
    "granger_causality",
    "kuramoto_order",
    "lempel_ziv_complexity",
    "lz76",
    "make_surrogate",
    "measures",
    "metastability",
    "mi_past_present",
    "mib",
    "module_bipartitions",
    "module_phases",
    "null_stats",
    "o_information",
    "phi_g",
    "phi_g_details",
    "phi_r",
    "phi_star",
    "phi_star_details",
    "phi_tilde",
    "phi_wms",
    "psi",
    "reduce_modules",
    "register_measure",
    "surrogate_test",
    "tdmi",
]
