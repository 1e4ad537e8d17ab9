"""OmniMind: a research platform for machine-consciousness experiments.

The public API mirrors the `omnimind` command: `Lab.init(path)`, `Lab.open(path)`, `lab.run(spec)`,
`lab.resume(run_id)`, `lab.restore_at_cycle(run_id, cycle)`, `lab.ledger`, `lab.gate`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from omnimind.lab.lab import Lab
    from omnimind.spec import ExperimentSpec

__all__ = ["ExperimentSpec", "Lab", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy, so `import omnimind.engine` stays light and free of the application layer.
    if name == "Lab":
        from omnimind.lab.lab import Lab

        return Lab
    if name == "ExperimentSpec":
        from omnimind.spec import ExperimentSpec

        return ExperimentSpec
    raise AttributeError(f"module 'omnimind' has no attribute {name!r}")
