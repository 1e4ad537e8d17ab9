"""The fused bank: the parameters and states of all built-in modules in padded stacks, stepped by `kernel`.

Module i occupies row i of a zero-padded (M × d_max) state matrix; its parameters sit in the top-left of
padded stacks (the snapshot format), and the compiled kernels loop over the real entries only. This
computes the same update as `BuiltinModule.step` (equal up to floating-point summation order).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from omnimind.engine.modules import F64, BuiltinModule

_ARRAYS = ("W", "R", "M", "S", "surprise", "sigma", "keep", "leak", "gain", "kappa")


class FusedBank:
    """Stacked parameters and states of M built-in modules, with preallocated work buffers."""

    def __init__(self, modules: list[BuiltinModule], ws_dim: int, stim_dim: int) -> None:
        m = len(modules)
        dmax = max(mod.dim for mod in modules)
        self.names = [mod.name for mod in modules]
        self.kinds = [mod.kind for mod in modules]
        self.dims = np.array([mod.dim for mod in modules], dtype=np.int64)
        self.dmax, self.ws_dim, self.stim_dim = dmax, ws_dim, stim_dim
        width = dmax + ws_dim + stim_dim
        # Z = [S | b | u] per row; S is a view of Z so the state never needs copying into the input.
        self.Z = np.zeros((m, width))
        self.S = self.Z[:, :dmax]
        self.W = np.zeros((m, dmax, width))
        self.R = np.zeros((m, ws_dim, dmax))
        self.M = np.zeros((m, ws_dim, dmax))
        self.sigma = np.zeros((m, dmax))
        self.leak = np.zeros((m, 1))
        self.keep = np.zeros((m, 1))
        self.gain = np.zeros(m)
        self.kappa = np.zeros(m)
        self.surprise = np.zeros(m)
        self.linear = np.zeros((m, dmax), dtype=bool)
        self.eta = np.zeros(m)
        for i, mod in enumerate(modules):
            d = mod.dim
            self.S[i, :d] = mod.state
            self.W[i, :d, :d] = mod.W[:, :d]
            self.W[i, :d, dmax : dmax + ws_dim] = mod.W[:, d : d + ws_dim]
            self.W[i, :d, dmax + ws_dim :] = mod.W[:, d + ws_dim :]
            self.R[i, :, :d] = mod.R
            self.M[i, :, :d] = mod.M
            self.sigma[i, :d] = mod.noise
            self.leak[i, 0] = mod.leak
            self.keep[i, 0] = 1.0 - mod.leak
            self.gain[i] = mod.gain / np.sqrt(ws_dim)
            self.kappa[i] = mod.surprise_gain
            self.surprise[i] = mod.surprise
            self.linear[i, :] = not mod.nonlinear
            self.eta[i] = mod.learning_rate
        self.nonlin = ~self.linear[:, 0] if m else np.zeros(0, dtype=bool)
        self.pred = [i for i, k in enumerate(self.kinds) if k == "predictor"]
        self.pred_idx = np.array(self.pred, dtype=np.int64)
        # Flat positions in Z of the real (unpadded) state entries, in module order.
        self.gather = np.concatenate([np.arange(d) + i * width for i, d in enumerate(self.dims)])
        self._zflat = self.Z.reshape(-1)
        self.state_dim = int(self.dims.sum())
        # Work buffers and 1-D views for the compiled kernels, made once: nothing is allocated per cycle.
        self._keep1 = self.keep[:, 0]
        self._leak1 = self.leak[:, 0]
        self._pre = np.zeros(dmax)
        self._err = np.zeros(ws_dim)
        # Contents carry a trailing column of ones (kept for callers that want Σw·c and Σw in one product).
        self._content_ext = np.ones((m, ws_dim + 1))
        from omnimind.engine import kernel  # imported on first use: numba costs ~0.4 s to import

        self._k_step, self._k_salience, self._k_observe = kernel.bank_step, kernel.salience, kernel.observe

    def step(self, broadcast: F64, stimulus: F64, noise: F64, row: F64) -> None:
        """Advance every module one cycle in place (`noise`: this cycle's σ-scaled draw, M × d_max; `stimulus`
        empty without stimuli); the new concatenated states go into `row`."""
        self._k_step(self.Z, self.W, noise, self.nonlin, self._keep1, self._leak1, self.dims, broadcast,
                     stimulus, self._pre, row)

    def salience(self, out: F64) -> F64:
        """Candidate contents (kept for `contents`) and saliences written into `out`."""
        self._k_salience(self.Z, self.R, self.dims, self.gain, self.kappa, self.surprise, self.pred_idx,
                         self._content_ext, out)
        return out

    @property
    def contents(self) -> F64:
        """Candidate contents of the last `salience` call, with a trailing ones column (M × (d_b + 1))."""
        return self._content_ext

    def observe(self, broadcast: F64) -> None:
        """Predictors' NLMS update towards the broadcast that won this cycle; sets their surprise."""
        self._k_observe(self.Z, self.M, self.dims, self.eta, self.surprise, self.pred_idx, broadcast, self._err)

    def read_states(self, out: F64) -> F64:
        """The concatenated unpadded states (module order) into `out` (length state_dim)."""
        np.take(self._zflat, self.gather, out=out)
        return out

    def module_slice(self, i: int) -> slice:
        """Columns of module i in the concatenated state."""
        start = int(self.dims[:i].sum())
        return slice(start, start + int(self.dims[i]))

    def get_arrays(self) -> dict[str, NDArray[Any]]:
        """Copies of every array that defines the bank's state and parameters."""
        out = {name: np.array(getattr(self, name), copy=True) for name in _ARRAYS}
        out["S"] = np.ascontiguousarray(self.S)
        return out

    def set_arrays(self, arrays: dict[str, NDArray[Any]]) -> None:
        """Restore what `get_arrays` returned (shapes must match this bank)."""
        for name in _ARRAYS:
            target = getattr(self, name)
            src = arrays[name]
            if target.shape != src.shape:
                raise ValueError(f"bank array {name}: shape {src.shape} does not match {target.shape}")
            target[...] = src
