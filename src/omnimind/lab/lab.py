"""A lab: a directory with `lab.toml`, a database (embedded SQLite or PostgreSQL) and a data folder.

`Lab` is the Python API that the CLI mirrors verb for verb; the use cases live in their own modules
(`runner` for running, `runs` for reading and exporting) and `Lab` only wires them.
"""

from __future__ import annotations

import functools
import os
import secrets
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from omnimind import clock, storage
from omnimind.errors import LabError
from omnimind.lab.config import LabConfig, effective_database_url, read_config, write_config
from omnimind.spec import ExperimentSpec

if TYPE_CHECKING:
    from omnimind.governance import Gate
    from omnimind.ledger import Ledger

SUBDIRS = ("data", "data/exports", "keys", "logs")
DEFAULT_LAB = "omnimind-lab"


class Lab:
    """An open lab. Use `Lab.init(path)` to create one and `Lab.open(path)` to use it."""

    def __init__(self, path: Path, config: LabConfig, engine: Engine) -> None:
        self.path = path
        self.config = config
        self.db = engine
        self.host = socket.gethostname()

    # --- lifecycle -------------------------------------------------------------------------------
    @classmethod
    def init(cls, path: str | Path, *, name: str | None = None, database_url: str = "") -> Lab:
        """Create a lab at `path` (which must not exist or be empty); all or nothing."""
        target = Path(path).absolute()
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            if (target / "lab.toml").exists():
                raise LabError(f"{target} is already a lab", f"use it as is: omnimind --lab {target} run")
            raise LabError(f"{target} exists and is not empty", "choose a new directory for the lab")
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.parent / f".{target.name}.init-{secrets.token_hex(4)}"
        staging.mkdir()
        engine: Engine | None = None
        try:
            for sub in SUBDIRS:
                (staging / sub).mkdir(parents=True)
            os.chmod(staging / "keys", 0o700)
            from omnimind.lab.audit import current_actor

            cfg = LabConfig(id=secrets.token_hex(8), name=name or target.name, created=clock.iso(),
                            database_url=database_url, users={current_actor(): ["admin", "researcher"]})
            url = effective_database_url(cfg, staging)
            engine = storage.create_engine(url)
            _claim_database(engine, cfg)
            write_config(staging, cfg)
            engine.dispose()
            engine = None
            if target.exists():
                target.rmdir()
            os.rename(staging, target)
        except BaseException:
            if engine is not None:
                engine.dispose()
            shutil.rmtree(staging, ignore_errors=True)
            raise
        lab = cls.open(target)
        lab._emit_init()
        return lab

    @classmethod
    def open(cls, path: str | Path) -> Lab:
        """Open an existing lab; migrates its database to this version's schema if needed."""
        lab_dir = Path(path).absolute()
        if not lab_dir.is_dir():
            raise LabError(f"{lab_dir} is not a lab directory (it does not exist)",
                           f"create one with `omnimind init {lab_dir}`")
        cfg = read_config(lab_dir)
        engine = storage.create_engine(effective_database_url(cfg, lab_dir))
        try:
            _check_database(engine, cfg)
            storage.upgrade(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(lab_dir, cfg, engine)

    def close(self) -> None:
        """Release database connections."""
        self.db.dispose()

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _emit_init(self) -> None:
        from omnimind.governance import install_default_policies
        from omnimind.lab.audit import current_actor, log
        from omnimind.lab.governance import LedgerSink

        log(self, "system", "lab.init", {"lab": self.config.id, "name": self.config.name,
                                          "database": self.db.dialect.name, "users": self.config.users})
        install_default_policies(self.db, current_actor(), sink=LedgerSink(self.ledger), tenant=self.config.tenant)
        self.ledger.checkpoint()

    @functools.cached_property
    def gate(self) -> Gate:
        """The policy gate every consequential action passes (docs/governance/)."""
        from omnimind.lab.governance import open_gate

        return open_gate(self)

    @functools.cached_property
    def ledger(self) -> Ledger:
        """The lab's audit ledger."""
        from omnimind.lab.audit import open_ledger

        return open_ledger(self)

    # --- use cases -------------------------------------------------------------------------------
    def run(
        self,
        spec: ExperimentSpec | None = None,
        *,
        spec_dir: Path | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> Any:
        """Run an experiment to completion (or interruption); returns the `Run`."""
        from omnimind.lab.runner import execute

        return execute(self, spec or ExperimentSpec(), spec_dir=spec_dir, progress=progress)

    def resume(self, run_id: str, *, progress: Callable[[int, int], None] | None = None) -> Any:
        """Continue an interrupted or crashed run from its newest snapshot that verifies."""
        from omnimind.lab.runner import resume

        return resume(self, run_id, progress=progress)

    def restore_at_cycle(self, run_id: str, cycle: int) -> Any:
        """Point-in-time recovery: the exact state of a run at `cycle`, saved as a `pitr` snapshot."""
        from omnimind.lab.audit import log
        from omnimind.lab.recovery import restore_at_cycle

        pit = restore_at_cycle(self, run_id, cycle, ledger_digests=self._ledger_digests())
        log(self, "run", "restore.at_cycle", pit.to_json(), run=pit.run, cycle=cycle)
        return pit

    def restore_as_run(self, snapshot_id: str) -> str:
        """A new run continuing from a snapshot (resume it with `resume`)."""
        from omnimind.lab.audit import log
        from omnimind.lab.recovery import restore_as_run

        new = restore_as_run(self, snapshot_id)
        log(self, "snapshot", "restore.as_run", {"snapshot": snapshot_id, "run": new}, run=new)
        return new

    def _ledger_digests(self) -> Any:
        """The ledger's per-cycle digests for replay checks."""
        return self.ledger.cycle_digests

    def set_roles(self, user: str, roles: list[str]) -> None:
        """Give `user` these roles in lab.toml (empty: remove the user); logged as a security event."""
        from omnimind.governance import ROLES
        from omnimind.lab.audit import log
        from omnimind.lab.config import write_config

        bad = [r for r in roles if r not in ROLES]
        if bad:
            raise LabError(f"unknown role(s): {', '.join(bad)}", f"roles are: {', '.join(ROLES)}")
        users = dict(self.config.users)
        if roles:
            users[user] = sorted(set(roles))
        else:
            users.pop(user, None)
        self.config = self.config.model_copy(update={"users": users})
        write_config(self.path, self.config)
        log(self, "security", "users.set_roles", {"user": user, "roles": users.get(user, [])})

    def runs(self, *, status: str | None = None, limit: int | None = None) -> list[Any]:
        """Runs, newest first."""
        from omnimind.lab.runs import list_runs

        return list_runs(self, status=status, limit=limit)

    def get_run(self, run_id: str) -> Any:
        """One run by id or unique id prefix."""
        from omnimind.lab.runs import get_run

        return get_run(self, run_id)


def _claim_database(engine: Engine, cfg: LabConfig) -> None:
    """Create the schema and mark the database as this lab's; refuse a database another lab owns."""
    storage.upgrade(engine)
    with engine.begin() as conn:
        row = conn.execute(sa.select(storage.schema.lab_info.c.value).where(
            storage.schema.lab_info.c.key == "lab_id")).first()
        if row is not None and row[0] != cfg.id:
            raise LabError("the database already belongs to another lab",
                           "use an empty database (or a new PostgreSQL schema) for each lab")
        if row is None:
            conn.execute(sa.insert(storage.schema.lab_info).values(key="lab_id", value=cfg.id))


def _check_database(engine: Engine, cfg: LabConfig) -> None:
    if storage.current_revision(engine) is None:
        raise LabError("the lab's database is empty or missing", "restore it from a backup or re-create the lab")
    with engine.connect() as conn:
        row = conn.execute(sa.select(storage.schema.lab_info.c.value).where(
            storage.schema.lab_info.c.key == "lab_id")).first()
    if row is None or row[0] != cfg.id:
        raise LabError("the database does not belong to this lab (lab id mismatch)",
                       "check database_url in lab.toml and OMNIMIND_DATABASE_URL")


def find_lab(explicit: str | Path | None = None) -> Path:
    """The lab to use: --lab, then OMNIMIND_LAB, then the nearest ancestor holding lab.toml, then ./omnimind-lab."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("OMNIMIND_LAB")
    if env:
        return Path(env)
    here = Path.cwd()
    for d in (here, *here.parents):
        if (d / "lab.toml").is_file():
            return d
    return here / DEFAULT_LAB

