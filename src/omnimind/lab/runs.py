"""Reading runs back: list, show, recorded arrays as numpy, events, and export (npz, csv, parquet)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray

from omnimind.errors import LabError, NotFoundError
from omnimind.fsutil import atomic_writer
from omnimind.lab.recorder import decode_block
from omnimind.spec import ExperimentSpec, spec_from_json
from omnimind.storage.schema import run_chunks, run_events, runs

if TYPE_CHECKING:
    from omnimind.lab.lab import Lab

EXPORT_FORMATS = ("npz", "csv", "parquet")


@dataclass(frozen=True)
class RunEvent:
    """One entry of a run's event log."""

    time: str
    cycle: int | None
    kind: str
    message: str
    data: dict[str, Any] | None


class Run:
    """A run as stored in the lab; arrays are loaded on first access."""

    def __init__(self, lab: Lab, row: sa.Row[Any]) -> None:
        self.lab = lab
        self._row = row
        self._cache: dict[str, NDArray[Any]] = {}

    id = property(lambda self: str(self._row.id))
    name = property(lambda self: str(self._row.name))
    status = property(lambda self: str(self._row.status))
    seed = property(lambda self: int(self._row.seed))
    cycles_done = property(lambda self: int(self._row.cycles_done))
    cycles_target = property(lambda self: int(self._row.cycles_target))
    final_digest = property(lambda self: self._row.final_digest)

    @property
    def spec(self) -> ExperimentSpec:
        """The spec the run was started with."""
        return spec_from_json(json.loads(self._row.spec_json))

    def info(self) -> dict[str, Any]:
        """Everything in the run's row, JSON-ready."""
        r = self._row
        return {"id": r.id, "name": r.name, "status": r.status, "seed": r.seed, "cycles_done": r.cycles_done,
                "cycles_target": r.cycles_target, "created_at": r.created_at, "started_at": r.started_at,
                "ended_at": r.ended_at, "spec_digest": r.spec_digest, "final_digest": r.final_digest,
                "host": r.host, "versions": json.loads(r.versions_json), "error": r.error,
                "resumed_from": r.resumed_from, "arrays": self.array_names()}

    def array_names(self) -> list[str]:
        """Names of the recorded arrays."""
        with self.lab.db.connect() as conn:
            rows = conn.execute(sa.select(run_chunks.c.array).where(run_chunks.c.run_id == self.id,
                                                                   run_chunks.c.array != "stimuli")
                                .distinct().order_by(run_chunks.c.array)).all()
        return [r[0] for r in rows]

    def array(self, name: str) -> NDArray[Any]:
        """A recorded array, rows in cycle order (rows × columns)."""
        if name not in self._cache:
            with self.lab.db.connect() as conn:
                rows = conn.execute(sa.select(run_chunks).where(
                    run_chunks.c.run_id == self.id, run_chunks.c.array == name).order_by(run_chunks.c.start)).all()
            if not rows:
                raise NotFoundError(f"run {self.id} has no recorded array {name!r}",
                                    f"recorded arrays: {', '.join(self.array_names()) or 'none'}")
            blocks = [decode_block(r.codec, r.data, r.dtype, r.n_rows, r.n_cols) for r in rows]
            self._cache[name] = np.concatenate(blocks)
        return self._cache[name]

    @property
    def states(self) -> NDArray[np.float64]:
        """Recorded module states, T × D (columns in module order)."""
        return self.array("states")

    @property
    def events(self) -> list[RunEvent]:
        """The run's event log, oldest first."""
        with self.lab.db.connect() as conn:
            rows = conn.execute(sa.select(run_events).where(run_events.c.run_id == self.id)
                                .order_by(run_events.c.id)).all()
        return [RunEvent(r.time, r.cycle, r.kind, r.message, json.loads(r.data_json) if r.data_json else None)
                for r in rows]

    def columns(self, name: str) -> list[str]:
        """Column labels of a recorded array."""
        spec = self.spec
        if name == "states":
            return [f"{m.name}[{i}]" for m in spec.modules for i in range(m.dim)]
        if name == "attention":
            return [m.name for m in spec.modules]
        if name == "surprise":
            return [m.name for m in spec.modules if m.kind == "predictor"]
        return [name]

    def cycles(self) -> NDArray[np.int64]:
        """Cycle number of each recorded row."""
        every = self.spec.recording.every
        n = len(self.array(self.array_names()[0])) if self.array_names() else 0
        return (np.arange(n, dtype=np.int64) + 1) * every

    def export(self, fmt: str, dest: Path) -> Path:
        """Write the recorded arrays to `dest` (npz: all arrays; csv/parquet: one table, cycle + columns)."""
        from omnimind.lab.audit import log
        from omnimind.lab.governance import lab_resource, require

        if fmt not in EXPORT_FORMATS:
            raise LabError(f"unknown export format {fmt!r}", f"use one of: {', '.join(EXPORT_FORMATS)}")
        require(self.lab, "audit.export", lab_resource(self.lab, "Run", self.id),
                {"human_participants": self.spec.human_participants})
        out = self._export(fmt, Path(dest))
        log(self.lab, "run", "export", {"format": fmt, "path": str(out)}, run=self.id)
        return out

    def _export(self, fmt: str, dest: Path) -> Path:
        names = self.array_names()
        if not names:
            raise NotFoundError(f"run {self.id} recorded no data", "run it with recording enabled")
        cycles = self.cycles()
        if fmt == "npz":
            with atomic_writer(dest) as fh:
                arrays: dict[str, Any] = {n: self.array(n) for n in names}
                np.savez_compressed(fh, cycle=cycles, **arrays)
            return dest
        table: dict[str, NDArray[Any]] = {"cycle": cycles}
        for n in names:
            arr = self.array(n)
            for j, col in enumerate(self.columns(n)):
                table[f"{n}.{col}" if n in ("states", "attention", "surprise") else col] = arr[:, j]
        if fmt == "csv":
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            w.writerow(list(table))
            cols = list(table.values())
            for i in range(len(cycles)):
                w.writerow([repr(float(c[i])) if c.dtype.kind == "f" else int(c[i]) for c in cols])
            with atomic_writer(dest) as fh:
                fh.write(buf.getvalue().encode())
            return dest
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise LabError("parquet export needs pyarrow", "pip install 'omnimind[parquet]'") from exc
        with atomic_writer(dest) as fh:
            pq.write_table(pa.table(table), fh)
        return dest


def _resolve(lab: Lab, run_id: str) -> sa.Row[Any]:
    with lab.db.connect() as conn:
        rows = conn.execute(sa.select(runs).where(runs.c.id.startswith(run_id, autoescape=True)).limit(2)).all()
    if not rows:
        raise NotFoundError(f"no run {run_id!r} in this lab", "`omnimind runs list` shows the runs")
    if len(rows) > 1:
        raise NotFoundError(f"run id prefix {run_id!r} is ambiguous", "type more characters of the id")
    return rows[0]


def get_run(lab: Lab, run_id: str) -> Run:
    """A run by id or unique prefix."""
    return Run(lab, _resolve(lab, run_id))


def list_runs(lab: Lab, *, status: str | None = None, limit: int | None = None) -> list[Run]:
    """Runs, newest first, optionally by status."""
    q = sa.select(runs).order_by(runs.c.created_at.desc(), runs.c.id)
    if status:
        q = q.where(runs.c.status == status)
    if limit:
        q = q.limit(limit)
    with lab.db.connect() as conn:
        return [Run(lab, r) for r in conn.execute(q).all()]
