"""Backups to a second location: snapshots (incremental), the database (consistent copy), keys, lab.toml.

Layout of a backup directory (docs/backup.md):

    backup.json      which lab, when, format
    lab.toml         copy of the lab's settings
    db/omnimind.db   a consistent SQLite copy of every lab table (also for PostgreSQL labs)
    keys/            copies of the lab's key files (mode 0600)
    snapshots/       a snapshot store made `like` the lab's, filled by incremental copy
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from omnimind import clock, storage
from omnimind.errors import LabError
from omnimind.fsutil import atomic_write_bytes, fsync_dir
from omnimind.lab.snapshotting import STORE_DIR, engine_state, open_store
from omnimind.snapshots import ForgetPolicy, SnapshotStore

if TYPE_CHECKING:
    from omnimind.lab.lab import Lab

BACKUP_FORMAT = 1
_ROWS_PER_BATCH = 500


@dataclass
class BackupResult:
    """What one `backup to` did."""

    dest: str
    snapshots_copied: int
    snapshots_skipped: int
    blobs_copied: int
    db_bytes: int
    keys: int
    forgotten: int = 0
    time: str = field(default_factory=clock.iso)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON."""
        return dict(self.__dict__)


def _marker(dest: Path) -> dict[str, Any] | None:
    path = dest / "backup.json"
    return json.loads(path.read_text()) if path.is_file() else None


def copy_database(src: sa.Engine, dest_file: Path) -> int:
    """Copy every lab table from `src` (SQLite or PostgreSQL) into a new SQLite file, in one read snapshot."""
    dest_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest_file.with_name(f".{dest_file.name}.tmp")
    tmp.unlink(missing_ok=True)
    out = storage.create_engine(storage.sqlite_url(tmp))
    try:
        storage.upgrade(out)
        read = src.connect()
        if src.dialect.name == "postgresql":
            read = read.execution_options(isolation_level="REPEATABLE READ")
        with read as rconn, rconn.begin(), out.begin() as wconn:
            for table in reversed(storage.metadata.sorted_tables):
                wconn.execute(sa.delete(table))
            for table in storage.metadata.sorted_tables:
                result = rconn.execution_options(yield_per=_ROWS_PER_BATCH).execute(sa.select(table))
                for part in result.partitions():
                    wconn.execute(sa.insert(table), [dict(r._mapping) for r in part])
        with out.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        out.dispose()
    for suffix in ("-wal", "-shm"):
        Path(f"{tmp}{suffix}").unlink(missing_ok=True)
    tmp.replace(dest_file)
    fsync_dir(dest_file.parent)
    return dest_file.stat().st_size


def backup_to(lab: Lab, dest: Path, *, keep: ForgetPolicy | None = None) -> BackupResult:
    """Copy the lab to `dest` incrementally; apply `keep` to the backup's own snapshots afterwards."""
    dest = dest.absolute()
    if dest.resolve().is_relative_to(lab.path.resolve()):
        raise LabError(f"{dest} is inside the lab", "back up to another directory or volume")
    marker = _marker(dest)
    if marker is not None and marker.get("lab") != lab.config.id:
        raise LabError(f"{dest} holds a backup of another lab ({marker.get('name')})", "use an empty directory")
    if marker is None and dest.exists() and any(dest.iterdir()):
        raise LabError(f"{dest} exists, is not empty and is not a backup of this lab", "use an empty directory")
    dest.mkdir(parents=True, exist_ok=True)
    src = open_store(lab)
    dst_path = dest / "snapshots"
    dst = SnapshotStore.open(dst_path) if (dst_path / "config.json").exists() else SnapshotStore.init(dst_path,
                                                                                                      like=src)
    copied = src.copy_to(dst)
    forgotten = 0
    if keep is not None and not keep.empty():
        forgotten = len(dst.forget(keep).remove_ids)
        dst.prune()
    db_bytes = copy_database(lab.db, dest / "db" / "omnimind.db")
    keys_dir = dest / "keys"
    keys_dir.mkdir(mode=0o700, exist_ok=True)
    n_keys = 0
    for f in sorted((lab.path / "keys").iterdir()):
        if f.is_file():
            atomic_write_bytes(keys_dir / f.name, f.read_bytes(), mode=0o600)
            n_keys += 1
    atomic_write_bytes(dest / "lab.toml", (lab.path / "lab.toml").read_bytes())
    result = BackupResult(str(dest), len(copied.copied), len(copied.skipped), copied.blobs_copied, db_bytes, n_keys,
                          forgotten)
    atomic_write_bytes(dest / "backup.json", json.dumps({"format": BACKUP_FORMAT, "lab": lab.config.id,
                                                         "name": lab.config.name, "last": result.to_json()},
                                                        indent=2).encode())
    return result


def _require_backup(dest: Path) -> dict[str, Any]:
    marker = _marker(dest)
    if marker is None:
        raise LabError(f"{dest} is not an OmniMind backup (no backup.json)", "make one with `omnimind backup to DIR`")
    return marker


def verify_backup(dest: Path) -> dict[str, Any]:
    """Re-hash every snapshot chunk, check the database copy's integrity and its audit ledger."""
    from omnimind.ledger import Ledger, load_signer

    marker = _require_backup(dest)
    store = SnapshotStore.open(dest / "snapshots")
    rep = store.verify(read_data=True)
    problems = [p.message for p in rep.errors]
    db_file = dest / "db" / "omnimind.db"
    with sqlite3.connect(db_file) as conn:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    if integrity != "ok":
        problems.append(f"database copy: {integrity}")
    engine = storage.create_engine(storage.sqlite_url(db_file))
    try:
        origin = f"omnimind.lab/{marker['lab']}"
        ledger = Ledger(engine, load_signer(dest / "keys" / "ledger.key", origin), origin)
        lrep = ledger.verify(full=True)
        if not lrep.ok:
            problems.append(f"ledger: first bad index {lrep.first_bad_index}: {lrep.problem}")
    finally:
        engine.dispose()
    return {"dest": str(dest), "ok": not problems, "snapshots_checked": rep.snapshots_checked,
            "blobs_checked": rep.blobs_checked, "ledger_size": lrep.size, "problems": problems}


def restore_test(dest: Path) -> dict[str, Any]:
    """Restore the backup into a scratch lab and check every run's newest snapshot rebuilds its digest."""
    from omnimind.lab.lab import Lab
    from omnimind.lab.runner import build_loop

    _require_backup(dest)
    with tempfile.TemporaryDirectory(prefix="omnimind-test-restore-") as tmp:
        scratch = Path(tmp) / "lab"
        scratch.mkdir()
        toml = (dest / "lab.toml").read_text()
        toml = "\n".join(line for line in toml.splitlines() if not line.startswith("database_url")) + "\n"
        (scratch / "lab.toml").write_text(toml)
        shutil.copy2(dest / "db" / "omnimind.db", scratch / "omnimind.db")
        shutil.copytree(dest / "keys", scratch / "keys")
        shutil.copytree(dest / "snapshots", scratch / STORE_DIR)
        for sub in ("data/exports", "logs"):
            (scratch / sub).mkdir(parents=True, exist_ok=True)
        checks: list[dict[str, Any]] = []
        with Lab.open(scratch) as lab:
            store = open_store(lab)
            ledger_ok = lab.ledger.verify(full=True).ok
            for run in lab.runs():
                snaps = [s for s in store.list(run=run.id) if isinstance(s.meta.get("cycle"), int)]
                if not snaps:
                    checks.append({"run": run.id, "ok": True, "note": "no snapshot"})
                    continue
                snap = max(snaps, key=lambda s: (s.meta["cycle"], s.time))
                arrays, meta = store.load(snap.id)
                loop = build_loop(lab, run.id, run.spec)
                loop.set_state(engine_state(arrays, meta))
                digest = loop.state_digest()
                ok = digest == meta["state_digest"]
                if meta.get("kind") == "final":
                    ok = ok and digest == run.final_digest
                checks.append({"run": run.id, "snapshot": snap.id, "cycle": meta["cycle"], "digest": digest,
                               "ok": ok})
    return {"dest": str(dest), "ok": ledger_ok and all(c["ok"] for c in checks), "ledger_ok": ledger_ok,
            "runs": checks}


def schedule_units(lab: Lab, dest: Path, every: str, keep_last: int, python: str) -> dict[str, str]:
    """systemd service + timer (and the equivalent crontab line) that run `backup to` every `every`."""
    from omnimind.snapshots import Duration

    period = Duration.parse(every) if isinstance(every, str) else every
    hours = period.hours + 24 * (period.days + 30 * period.months + 365 * period.years)
    if hours <= 0:
        raise LabError(f"backup interval {every!r} is shorter than an hour", "use e.g. 6h, 1d or 7d")
    cmd = f"{python} -m omnimind --lab {lab.path} backup to {dest.absolute()} --keep-last {keep_last}"
    service = ("[Unit]\nDescription=OmniMind backup of lab " + lab.config.name + "\n\n[Service]\nType=oneshot\n"
               f"ExecStart={cmd}\n")
    timer = ("[Unit]\nDescription=OmniMind backup timer\n\n[Timer]\n"
             f"OnBootSec=15min\nOnUnitActiveSec={hours}h\nPersistent=true\n\n[Install]\nWantedBy=timers.target\n")
    cron_hours = min(hours, 24)
    cron = f"0 */{cron_hours} * * * {cmd}\n" if cron_hours < 24 else f"0 3 * * * {cmd}\n"
    return {"omnimind-backup.service": service, "omnimind-backup.timer": timer, "crontab": cron}
