"""Records a run's arrays in row chunks: an after-cycle hook fills buffers, a writer thread stores them.

A chunk is one row of `run_chunks`: raw little-endian bytes, byte-shuffled and zstd-compressed when that
saves at least 10 %. Storing a chunk and advancing `runs.cycles_done` happen in one transaction, so the
table never claims cycles whose data is missing. Two buffer sets alternate: while the writer thread
encodes and commits one, the loop fills the other (zstd and SQLite release the GIL, so this overlaps).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import sqlalchemy as sa
import zstandard
from numpy.typing import NDArray
from sqlalchemy.engine import Engine

from omnimind.engine import CycleResult, IntegrationLoop
from omnimind.storage.schema import run_chunks, runs

_ZSTD_LEVEL = 1
CHUNK_BYTES = 8 << 20  # target size of one chunk of the widest array
_NONE_F = np.zeros((0, 0))
_NONE_I = np.zeros((0, 0), dtype=np.int32)
_NONE_U = np.zeros((0, 0), dtype=np.uint8)


def encode_block(block: NDArray[Any]) -> tuple[str, bytes]:
    """(codec, bytes) for a 2-D block: `shuffle-zstd` when it saves ≥ 10 %, else `raw`."""
    le = np.ascontiguousarray(block, dtype=block.dtype.newbyteorder("<"))
    size = le.dtype.itemsize
    raw = le.data.cast("B")
    shuffled = np.ascontiguousarray(le.view(np.uint8).reshape(-1, size).T) if size > 1 else le.view(np.uint8)
    packed = zstandard.ZstdCompressor(level=_ZSTD_LEVEL).compress(shuffled.data.cast("B"))
    if len(packed) <= 0.9 * raw.nbytes:
        return "shuffle-zstd", packed
    return "raw", raw.tobytes()


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


def auto_chunk_rows(state_dim: int) -> int:
    """Rows per chunk so the states chunk is about CHUNK_BYTES (at least 256 rows)."""
    return max(256, CHUNK_BYTES // (8 * max(state_dim, 1)))


class Recorder:
    """Buffers the arrays a run records and writes them to `run_chunks` a chunk at a time."""

    def __init__(self, engine: Engine, run_id: str, loop: IntegrationLoop, arrays: list[str], every: int,
                 chunk_rows: int | None = None, start_row: int = 0) -> None:
        self.db, self.run_id, self.loop = engine, run_id, loop
        self.every = every
        self.chunk_rows = chunk_rows or auto_chunk_rows(loop.workspace.state_dim)
        npred = len(loop.bank.pred)
        shapes: dict[str, tuple[int, str]] = {
            "states": (loop.workspace.state_dim, "float64"),
            "attention": (len(loop.workspace.names), "float64"),
            "ignition": (1, "uint8"),
            "winner": (1, "int32"),
            "surprise": (npred, "float64"),
        }
        self.names = [n for n in arrays if shapes[n][0] > 0]
        self._sets = [{n: np.zeros((self.chunk_rows, shapes[n][0]), dtype=shapes[n][1]) for n in self.names}
                      for _ in range(2)]
        self._pred = loop.bank.pred_idx
        from omnimind.engine import kernel  # imported on first use: numba costs ~0.4 s to import

        self._k_record = kernel.record
        self._surprise_src = loop.bank.surprise
        self._use(0)
        self.n = 0  # rows buffered, not yet handed to the writer
        self.start = start_row  # recorded-row index of the first buffered row
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="omnimind-recorder")
        self._pending: list[Future[Any]] = []

    def _use(self, k: int) -> None:
        self._active = k
        bufs = self._sets[k]
        self.buffers = bufs
        # Arrays not recorded get an empty stand-in: the record kernel skips buffers with no rows.
        self._targets = (bufs.get("states", _NONE_F), bufs.get("attention", _NONE_F), bufs.get("winner", _NONE_I),
                         bufs.get("ignition", _NONE_U), bufs.get("surprise", _NONE_F))

    def __call__(self, r: CycleResult) -> None:
        """After-cycle hook."""
        if r.cycle % self.every:
            return
        n = self.n
        states, att, win, ign, sur = self._targets
        self._k_record(n, r.state, r.attention, r.winner, r.ignition, self._surprise_src, self._pred,
                      states, att, win, ign, sur)
        self.n = n + 1
        if self.n == self.chunk_rows:
            self.flush(r.cycle, wait=False)

    def flush(self, cycles_done: int, extra: dict[str, Any] | None = None, *, wait: bool = True) -> None:
        """Hand the buffered rows to the writer (with `cycles_done` and `extra` run columns); `wait` for it."""
        # The writer may still hold the other buffer set: wait for it before that set is reused.
        self._drain(keep=0)
        bufs, n, start = self.buffers, self.n, self.start
        self._pending.append(self._pool.submit(self._write, bufs, n, start, cycles_done, dict(extra or {})))
        self.start += n
        self.n = 0
        self._use(1 - self._active)
        if wait:
            self._drain(keep=0)

    def submit(self, work: Any) -> None:
        """Run `work()` on the writer thread, in order with the chunk writes (e.g. ledger batches)."""
        self._pending.append(self._pool.submit(work))

    def _drain(self, keep: int) -> None:
        while len(self._pending) > keep:
            self._pending.pop(0).result()  # re-raises a writer failure here, in the run's thread

    def close(self) -> None:
        """Wait for the writer and stop it."""
        try:
            self._drain(keep=0)
        finally:
            self._pool.shutdown(wait=True)

    def _write(self, bufs: dict[str, NDArray[Any]], n: int, start: int, cycles_done: int,
               extra: dict[str, Any]) -> None:
        rows = []
        for name, buf in bufs.items():
            if n == 0:
                break
            codec, data = encode_block(buf[:n])
            rows.append({"run_id": self.run_id, "array": name, "start": start, "n_rows": n,
                         "n_cols": buf.shape[1], "dtype": buf.dtype.name, "codec": codec, "data": data})
        with self.db.begin() as conn:
            if rows:
                conn.execute(sa.insert(run_chunks), rows)
            conn.execute(sa.update(runs).where(runs.c.id == self.run_id).values(cycles_done=cycles_done, **extra))
