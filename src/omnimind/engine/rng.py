"""Named, seeded random streams (PCG64): one seed per run, one independent stream per purpose.

A stream's identity is (seed, name), so adding a stream never shifts the draws of another, and the full
bit-generator state of every stream is part of the engine state (snapshots, resume, replay).
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np


def _name_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")


class Streams:
    """A family of named `numpy.random.Generator`s derived from one seed."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._gens: dict[str, np.random.Generator] = {}

    def get(self, name: str) -> np.random.Generator:
        """The generator for `name`, created on first use from (seed, name)."""
        gen = self._gens.get(name)
        if gen is None:
            ss = np.random.SeedSequence(entropy=self.seed, spawn_key=(_name_key(name),))
            gen = np.random.Generator(np.random.PCG64(ss))
            self._gens[name] = gen
        return gen

    def get_state(self) -> dict[str, dict[str, Any]]:
        """Full state of every stream, JSON-safe (128-bit integers as decimal strings)."""
        out: dict[str, dict[str, Any]] = {}
        for name, gen in sorted(self._gens.items()):
            st = gen.bit_generator.state
            out[name] = {
                "bit_generator": st["bit_generator"],
                "state": str(st["state"]["state"]),
                "inc": str(st["state"]["inc"]),
                "has_uint32": int(st["has_uint32"]),
                "uinteger": int(st["uinteger"]),
            }
        return out

    def set_state(self, state: dict[str, dict[str, Any]]) -> None:
        """Restore every stream in `state` exactly (streams not named keep their state)."""
        for name, st in state.items():
            gen = self.get(name)
            gen.bit_generator.state = {
                "bit_generator": st["bit_generator"],
                "state": {"state": int(st["state"]), "inc": int(st["inc"])},
                "has_uint32": int(st["has_uint32"]),
                "uinteger": int(st["uinteger"]),
            }
