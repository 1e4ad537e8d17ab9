"""Database engines for a lab: embedded SQLite (WAL) or PostgreSQL, one SQLAlchemy Core engine either way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from omnimind.errors import LabError


def sqlite_url(path: Path) -> str:
    """SQLAlchemy URL of an SQLite file."""
    return f"sqlite:///{path.resolve()}"


def normalise_url(url: str) -> str:
    """Map `postgres://` and `postgresql://` to the psycopg 3 driver; leave other URLs alone."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # FULL: every commit is durable (the ledger's contract); WAL keeps that cheap.
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA secure_delete=ON")
    cur.close()


def create_engine(url: str, *, check: bool = True) -> Engine:
    """Engine for `url`; with `check`, connect once so an unreachable database fails here, clearly."""
    url = normalise_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise LabError(
            f"database URL {url!r} is not a valid URL",
            "use sqlite:///PATH or postgresql://USER@HOST:PORT/DB",
        ) from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        engine = sa.create_engine(url, connect_args={"timeout": 30, "isolation_level": None})
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling is off (isolation_level=None); emit BEGIN ourselves so
        # SQLAlchemy's transactions are real SQLite transactions.
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
    elif backend == "postgresql":
        try:
            engine = sa.create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5})
        except ModuleNotFoundError as exc:
            raise LabError(
                "PostgreSQL support is not installed",
                "pip install 'omnimind[postgres]'",
            ) from exc
    else:
        raise LabError(
            f"unsupported database {backend!r} in {parsed.render_as_string(hide_password=True)}",
            "use sqlite:///PATH or postgresql://USER@HOST:PORT/DB",
        )
    if check:
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except (OperationalError, SQLAlchemyError) as exc:
            engine.dispose()
            orig = getattr(exc, "orig", None)
            first = (str(orig or exc).strip().splitlines() or ["unknown error"])[0]
            raise LabError(
                f"cannot reach database {parsed.render_as_string(hide_password=True)}: {first}",
                "check that the server is running and the URL (host, port, user, database) is right",
            ) from exc
    return engine


def is_sqlite(engine: Engine) -> bool:
    """True for the embedded backend."""
    return engine.dialect.name == "sqlite"
