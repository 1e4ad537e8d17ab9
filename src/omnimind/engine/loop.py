"""The IntegrationLoop: one cycle = read broadcast → step every module → compete → broadcast → record.

Cycles are numbered from 1; "the state at cycle n" is the state after n cycles (cycle 0 is the initial
state drawn from the seed). Hooks let the application layer audit, snapshot, gate or stop a run; the
engine does not know what they do.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from omnimind.engine.bank import FusedBank
from omnimind.engine.modules import F64, BuiltinModule, Inputs, Module
from omnimind.engine.rng import Streams
from omnimind.engine.spec import EngineSpec
from omnimind.engine.workspace import SharedWorkspace

ENGINE_STATE_VERSION = 1
NOISE_BLOCK = 256
_NO_INPUT_DIGEST = hashlib.sha256(b"").digest()
_EMPTY: F64 = np.zeros(0)


class CycleResult(NamedTuple):
    """What one cycle produced. `state` and `attention` are views, valid until the next cycle: copy to keep."""

    cycle: int
    state_digest: bytes
    inputs_digest: bytes
    state: F64
    attention: F64
    winner: int
    ignition: bool
    duration_ns: int


@dataclass(slots=True)
class EngineState:
    """The full state of a loop: named arrays plus JSON-safe metadata (RNG states, counters)."""

    arrays: dict[str, NDArray[Any]]
    meta: dict[str, Any] = field(default_factory=dict)


BeforeHook = Callable[[int], None]
AfterHook = Callable[[CycleResult], None]


class IntegrationLoop:
    """Runs cycles over a fused bank of built-in modules plus any user modules (the `Module` protocol)."""

    def __init__(
        self,
        spec: EngineSpec,
        seed: int,
        stimuli: F64 | None = None,
        *,
        hold: int = 1,
        user_modules: Sequence[Module] = (),
    ) -> None:
        self.spec = spec
        self.seed = int(seed)
        self.streams = Streams(seed)
        ws = spec.workspace
        if stimuli is not None:
            stimuli = np.ascontiguousarray(stimuli, dtype=np.float64)
            if stimuli.ndim != 2 or stimuli.shape[0] == 0:
                raise ValueError(f"stimuli must be a non-empty 2-D array (rows × dims), got shape {stimuli.shape}")
        self.stimuli = stimuli
        self.hold = max(1, int(hold))
        stim_dim = 0 if stimuli is None else stimuli.shape[1]
        init = self.streams.get("init")
        builtins = [BuiltinModule.create(m, ws.dim, stim_dim, init) for m in spec.modules]
        self.user_modules = list(user_modules)
        self._user_readouts = [init.standard_normal((ws.dim, m.dim)) / np.sqrt(m.dim) for m in self.user_modules]
        self.bank = FusedBank(builtins, ws.dim, stim_dim)
        names = [m.name for m in spec.modules] + [m.name for m in self.user_modules]
        if len(set(names)) != len(names):
            raise ValueError("user module names must differ from each other and from the spec's modules")
        dims = [m.dim for m in spec.modules] + [m.dim for m in self.user_modules]
        self.workspace = SharedWorkspace(ws, names, dims)
        self._nb = len(builtins)
        self._noise = self.streams.get("noise")
        self._user_noise = self.streams.get("noise.user")
        # Noise is drawn for NOISE_BLOCK cycles at once (one RNG call instead of one per cycle); a snapshot
        # records the stream state at the block start and the offset, so restore redraws the same block.
        self._block = np.zeros((NOISE_BLOCK, self._nb, self.bank.dmax))
        self._block_pos = NOISE_BLOCK
        self._block_rng_state: dict[str, Any] = {}
        self._sal = np.zeros(len(names))
        self._contents = np.ones((len(names), ws.dim + 1))
        self._input_digests = (
            [hashlib.sha256(row.tobytes()).digest() for row in stimuli] if stimuli is not None else []
        )
        self._builtin_width = self.bank.state_dim
        b = self.bank
        from omnimind.engine import kernel  # imported on first use: numba costs ~0.4 s to import

        self._k_cycle = kernel.cycle
        # The arrays the compiled cycle works on, in `kernel.cycle`'s order (all views stay valid for life).
        self._fixed = (b.Z, b.W, b.nonlin, b._keep1, b._leak1, b.dims, b.R, b.gain, b.kappa, b.surprise,
                       b.pred_idx, b.M, b.eta, b.contents, self._sal, self.workspace.fatigue,
                       self.workspace.attention, self.workspace.broadcast, self.workspace.params, b._pre, b._err)
        self.cycle = 0
        self.before_cycle: list[BeforeHook] = []
        self.after_cycle: list[AfterHook] = []
        # The initial state goes into the history so `current` is defined at cycle 0.
        self.bank.read_states(self.workspace.next_row()[: self._builtin_width])
        self._write_user_states(self.workspace.current, [m.get_state().get("state") for m in self.user_modules])
        self.workspace.count = 0

    def _write_user_states(self, row: F64, states: Sequence[Any]) -> None:
        off = self._builtin_width
        for mod, st in zip(self.user_modules, states, strict=True):
            if st is not None:
                row[off : off + mod.dim] = st
            off += mod.dim

    def stimulus_index(self, cycle: int) -> int | None:
        """Row of the stimulus array presented at `cycle` (1-based), or None without stimuli."""
        if self.stimuli is None:
            return None
        return int(((cycle - 1) // self.hold) % self.stimuli.shape[0])

    def step(self) -> CycleResult:
        """Run one cycle and return its record (hooks are the caller's business: see `run`)."""
        t0 = time.perf_counter_ns()
        n = self.cycle + 1
        ws = self.workspace
        if self.stimuli is None:
            idx, stim = None, _EMPTY
        else:
            idx = ((n - 1) // self.hold) % self.stimuli.shape[0]
            stim = self.stimuli[idx]
        if self._block_pos == NOISE_BLOCK:
            self._draw_block()
        noise = self._block[self._block_pos]
        self._block_pos += 1
        row = ws.next_row()
        if self.user_modules:
            winner = self._step_user(row, stim, noise)
        else:
            winner, ws.ignition = self._k_cycle(*self._fixed, noise, stim, row)
        self.cycle = n
        return CycleResult(
            n,
            hashlib.sha256(row.data).digest(),
            _NO_INPUT_DIGEST if idx is None else self._input_digests[idx],
            row,
            ws.attention,
            winner,
            ws.ignition,
            time.perf_counter_ns() - t0,
        )

    def _draw_block(self) -> None:
        self._block_rng_state = dict(self._noise.bit_generator.state)
        self._noise.standard_normal(out=self._block)
        self._block *= self.bank.sigma
        self._block_pos = 0

    def _step_user(self, row: F64, stim: F64, noise: F64) -> int:
        ws, nb, bank = self.workspace, self._nb, self.bank
        prev = ws.broadcast.copy()
        bank.step(prev, stim, noise, row[: self._builtin_width])
        off = self._builtin_width
        user_stim = stim if stim.size else None
        for j, mod in enumerate(self.user_modules):
            user_noise = self._user_noise.standard_normal(mod.dim)
            state = np.asarray(mod.step(prev, Inputs(stimulus=user_stim, noise=user_noise)), dtype=np.float64)
            if state.shape != (mod.dim,):
                raise ValueError(f"module {mod.name!r} returned state of shape {state.shape}, expected ({mod.dim},)")
            row[off : off + mod.dim] = state
            c = self._user_readouts[j] @ state
            self._contents[nb + j, :-1] = c
            self._sal[nb + j] = float(np.sqrt(c @ c) / np.sqrt(c.shape[0]))
            off += mod.dim
        bank.salience(self._sal[:nb])
        self._contents[:nb] = bank.contents
        winner = ws.compete(self._sal, self._contents)
        bank.observe(ws.broadcast)
        return winner

    def run(self, cycles: int) -> CycleResult | None:
        """Run `cycles` cycles, calling the before/after hooks around each; returns the last record."""
        last = None
        before, after = self.before_cycle, self.after_cycle
        for _ in range(cycles):
            for hook in before:
                hook(self.cycle + 1)
            last = self.step()
            for hook_after in after:
                hook_after(last)
        return last

    def state_digest(self) -> str:
        """Hex SHA-256 of the current concatenated module states (what cycle records commit to)."""
        return hashlib.sha256(self.workspace.current.data).hexdigest()

    def get_state(self) -> EngineState:
        """Everything needed to continue bit-for-bit: bank, workspace, user modules, RNGs, counters."""
        arrays: dict[str, NDArray[Any]] = {f"bank.{k}": v for k, v in self.bank.get_arrays().items()}
        arrays.update({f"workspace.{k}": v for k, v in self.workspace.get_arrays().items()})
        user_meta: dict[str, dict[str, Any]] = {}
        for mod, readout in zip(self.user_modules, self._user_readouts, strict=True):
            arrays[f"readout.{mod.name}"] = readout.copy()
            scalars: dict[str, Any] = {}
            for key, value in mod.get_state().items():
                if isinstance(value, np.ndarray):
                    arrays[f"user.{mod.name}.{key}"] = value.copy()
                else:
                    scalars[key] = value
            user_meta[mod.name] = scalars
        meta = {
            "version": ENGINE_STATE_VERSION,
            "cycle": self.cycle,
            "seed": self.seed,
            "history_count": self.workspace.count,
            "ignition": self.workspace.ignition,
            "rng": self.streams.get_state(),
            "noise_block": self._noise_block_meta(),
            "user_modules": user_meta,
        }
        return EngineState(arrays=arrays, meta=meta)

    def set_state(self, state: EngineState) -> None:
        """Restore a state captured by `get_state` from a loop built with the same spec."""
        meta = state.meta
        if meta.get("version") != ENGINE_STATE_VERSION:
            raise ValueError(f"engine state version {meta.get('version')} is not {ENGINE_STATE_VERSION}")
        self.bank.set_arrays({k[5:]: v for k, v in state.arrays.items() if k.startswith("bank.")})
        self.workspace.set_arrays(
            {k[10:]: v for k, v in state.arrays.items() if k.startswith("workspace.")},
            count=int(meta["history_count"]),
            ignition=bool(meta["ignition"]),
        )
        for j, mod in enumerate(self.user_modules):
            self._user_readouts[j][...] = state.arrays[f"readout.{mod.name}"]
            prefix = f"user.{mod.name}."
            st: dict[str, Any] = dict(meta["user_modules"].get(mod.name, {}))
            st.update({k[len(prefix) :]: v for k, v in state.arrays.items() if k.startswith(prefix)})
            mod.set_state(st)
        self.streams.set_state(meta["rng"])
        nb = meta["noise_block"]
        if nb["pos"] < NOISE_BLOCK:
            self.streams.set_state({"noise": nb["rng"]})
            self._draw_block()
            self._block_pos = int(nb["pos"])
            # the stream itself continues after the block, exactly as in the captured loop
            self.streams.set_state({"noise": meta["rng"]["noise"]})
        else:
            self._block_pos = NOISE_BLOCK
        self.cycle = int(meta["cycle"])

    def _noise_block_meta(self) -> dict[str, Any]:
        if self._block_pos == NOISE_BLOCK:
            return {"pos": NOISE_BLOCK, "rng": None}
        probe = Streams(0)
        gen = probe.get("noise")
        gen.bit_generator.state = self._block_rng_state
        return {"pos": self._block_pos, "rng": probe.get_state()["noise"]}
