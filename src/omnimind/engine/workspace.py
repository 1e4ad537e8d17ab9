"""The SharedWorkspace: current module states, a bounded history ring buffer, and the competition.

Global-workspace competition (Baars; Dehaene & Changeux): each module bids with a salience; attention
weights are softmax(salience / T); the broadcast is the attention-weighted sum of candidate contents
(or the winner's content); *ignition* is the cycle's maximum weight reaching the threshold. Salience is
reduced by each module's *fatigue*, a leaky average of its recent attention weight (adaptation), so one
module cannot hold the workspace forever.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from omnimind.engine.spec import WorkspaceSpec

F64 = NDArray[np.float64]


class SharedWorkspace:
    """History (H × D ring buffer, float64), last broadcast, last attention weights."""

    def __init__(self, spec: WorkspaceSpec, module_names: list[str], module_dims: list[int]) -> None:
        self.spec = spec
        self.names = list(module_names)
        self.dims = list(module_dims)
        self.state_dim = sum(module_dims)
        offsets = np.cumsum([0, *module_dims])
        self._slices = {n: slice(int(offsets[i]), int(offsets[i + 1])) for i, n in enumerate(self.names)}
        self.history = np.zeros((spec.history, self.state_dim))
        self.count = 0  # rows ever written; the newest row is at (count - 1) % H
        self.broadcast = np.zeros(spec.dim)
        self.attention = np.full(len(module_names), 1.0 / len(module_names))
        self.ignition = False
        # Adaptation (fatigue): a module that keeps winning loses salience, so access can move on.
        self.fatigue = np.zeros(len(module_names))
        # The competition's constants as the compiled kernel takes them (see `kernel.compete`).
        self.params = np.array([spec.adaptation, 1.0 / spec.temperature, 1.0 - 1.0 / spec.adaptation_time,
                                1.0 / spec.adaptation_time, spec.ignition_threshold,
                                1.0 if spec.broadcast == "winner" else 0.0])
        from omnimind.engine import kernel  # imported on first use: numba costs ~0.4 s to import

        self._k_compete = kernel.compete

    def next_row(self) -> F64:
        """The history row the next state is written into (advances the ring)."""
        row: F64 = self.history[self.count % self.history.shape[0]]
        self.count += 1
        return row

    @property
    def current(self) -> F64:
        """The newest concatenated state (a view into the history)."""
        row: F64 = self.history[(self.count - 1) % self.history.shape[0]]
        return row

    def module_state(self, name: str) -> F64:
        """Newest state of one module (a copy)."""
        return self.current[self._slices[name]].copy()

    def recent(self, n: int) -> F64:
        """The newest `n` rows in time order (a copy; n ≤ min(count, H))."""
        h = self.history.shape[0]
        if n > min(self.count, h):
            raise ValueError(f"only {min(self.count, h)} rows of history are held, asked for {n}")
        end = self.count % h
        start = end - n
        if start >= 0:
            return self.history[start:end].copy()
        return np.concatenate([self.history[start:], self.history[:end]])

    def compete(self, salience: F64, contents: F64) -> int:
        """Softmax(adapted salience / T) into `attention`, then broadcast, ignition and fatigue; returns the winner.

        `salience` is overwritten (fatigue subtracted); `contents` is M × ≥d_b (extra columns are ignored).
        """
        winner, self.ignition = self._k_compete(salience, contents, self.fatigue, self.attention, self.broadcast,
                                                self.params)
        return winner

    def get_arrays(self) -> dict[str, NDArray[Any]]:
        """Copies of history, broadcast and attention."""
        return {"history": self.history.copy(), "broadcast": self.broadcast.copy(),
                "attention": self.attention.copy(), "fatigue": self.fatigue.copy()}

    def set_arrays(self, arrays: dict[str, NDArray[Any]], count: int, ignition: bool) -> None:
        """Restore what `get_arrays` returned, plus the row counter and ignition flag."""
        for name in ("history", "broadcast", "attention", "fatigue"):
            target = getattr(self, name)
            if target.shape != arrays[name].shape:
                raise ValueError(f"workspace {name}: shape {arrays[name].shape} does not match {target.shape}")
            target[...] = arrays[name]
        self.count = int(count)
        self.ignition = bool(ignition)
