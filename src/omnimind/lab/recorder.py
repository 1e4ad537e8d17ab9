"""Records a run's arrays in row chunks: an after-cycle hook fills preallocated buffers, `flush` stores them.

A chunk is one row of `run_chunks`: raw little-endian bytes, byte-shuffled and zstd-compressed when that
saves at least 10 %. Flushing and advancing `runs.cycles_done` happen in one transaction, so the table
never claims cycles whose data is missing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sqlalchemy as sa
import zstandard
from numpy.typing import NDArray
from sqlalchemy.engine import Engine

from omnimind.engine import CycleResult, IntegrationLoop
from omnimind.storage.schema import run_chunks, runs

_ZSTD_LEVEL = 3


def encode_block(block: NDArray[Any]) -> tuple[str, bytes]:
    """(codec, bytes) for a 2-D block: `shuffle-zstd` when it saves ≥ 10 %, else `raw`."""
    raw = np.ascontiguousarray(block).astype(block.dtype.newbyteorder("<"), copy=False).tobytes()
    size = block.dtype.itemsize
    shuffled = np.frombuffer(raw, dtype=np.uint8).reshape(-1, size).T.tobytes() if size > 1 else raw
    packed = zstandard.ZstdCompressor(level=_ZSTD_LEVEL).compress(shuffled)
    if len(packed) <= 0.9 * len(raw):
        return "shuffle-zstd", packed
    return "raw", raw


def decode_block(codec: str, data: bytes, dtype: str, n_rows: int, n_cols: int) -> NDArray[Any]:
    """Inverse of `encode_block`."""
    dt = np.dtype(dtype).newbyteorder("<")
    if codec == "raw":
        flat = np.frombuffer(data, dtype=dt)
    elif codec == "shuffle-zstd":
        shuffled = zstandard.ZstdDecompressor().decompress(data, max_output_size=n_rows * n_cols * dt.itemsize)
        size = dt.itemsize
        raw = np.frombuffer(shuffled, dtype=np.uint8).reshape(size, -1).T.tobytes() if size > 1 else shuffled
        flat = np.frombuffer(raw, dtype=dt)
    else:
        raise ValueError(f"unknown chunk codec {codec!r}")
    return flat.reshape(n_rows, n_cols).astype(dt.newbyteorder("="))


class Recorder:
    """Buffers the arrays a run records and writes them to `run_chunks` a chunk at a time."""

    def __init__(self, engine: Engine, run_id: str, loop: IntegrationLoop, arrays: list[str], every: int,
                 chunk_rows: int, start_row: int = 0) -> None:
        self.db, self.run_id, self.loop = engine, run_id, loop
        self.every, self.chunk_rows = every, chunk_rows
        n_mod = len(loop.workspace.names)
        npred = len(loop.bank.pred)
        shapes: dict[str, tuple[int, str]] = {
            "states": (loop.workspace.state_dim, "float64"),
            "attention": (n_mod, "float64"),
            "ignition": (1, "uint8"),
            "winner": (1, "int32"),
            "surprise": (npred, "float64"),
        }
        self.buffers = {name: np.zeros((chunk_rows, shapes[name][0]), dtype=shapes[name][1])
                        for name in arrays if shapes[name][0] > 0}
        self._states = self.buffers.get("states")
        self._attention = self.buffers.get("attention")
        self._ignition = self.buffers.get("ignition")
        self._winner = self.buffers.get("winner")
        self._surprise = self.buffers.get("surprise")
        self._pred = loop.bank.pred
        self.n = 0  # rows buffered, not yet flushed
        self.start = start_row  # row index (in recorded rows) of the first buffered row

    def __call__(self, r: CycleResult) -> None:
        """After-cycle hook."""
        if r.cycle % self.every:
            return
        n = self.n
        if self._states is not None:
            self._states[n] = self.loop.workspace.current
        if self._attention is not None:
            self._attention[n] = r.attention
        if self._ignition is not None:
            self._ignition[n, 0] = r.ignition
        if self._winner is not None:
            self._winner[n, 0] = r.winner
        if self._surprise is not None:
            self._surprise[n] = self.loop.bank.surprise[self._pred]
        self.n = n + 1
        if self.n == self.chunk_rows:
            self.flush(self.loop.cycle)

    def flush(self, cycles_done: int, extra: dict[str, Any] | None = None) -> None:
        """Store buffered rows and set `cycles_done` (and any `extra` run columns) in one transaction."""
        rows = []
        for name, buf in self.buffers.items():
            if self.n == 0:
                break
            codec, data = encode_block(buf[: self.n])
            rows.append({"run_id": self.run_id, "array": name, "start": self.start, "n_rows": self.n,
                         "n_cols": buf.shape[1], "dtype": buf.dtype.name, "codec": codec, "data": data})
        with self.db.begin() as conn:
            if rows:
                conn.execute(sa.insert(run_chunks), rows)
            conn.execute(sa.update(runs).where(runs.c.id == self.run_id).values(
                cycles_done=cycles_done, **(extra or {})))
        self.start += self.n
        self.n = 0
