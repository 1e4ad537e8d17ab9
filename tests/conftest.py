"""Shared fixtures: real SQLite labs in tmp dirs, real PostgreSQL schemas, CI rules for services."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

PG_ADMIN_URL = os.environ.get("OMNIMIND_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI") == "true"


def _service_missing(what: str, exc: Exception) -> None:
    msg = f"{what} is not reachable ({exc}); start it with scripts/services.sh"
    if IN_CI:
        pytest.fail(f"required service missing under CI: {msg}")
    pytest.skip(msg)


@pytest.fixture(scope="session")
def pg_engine() -> Iterator[sa.Engine]:
    """An admin engine on the test PostgreSQL database (fails under CI when PostgreSQL is down)."""
    engine = sa.create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:
        _service_missing("PostgreSQL at 127.0.0.1:5432", exc)
    yield engine
    engine.dispose()


@pytest.fixture()
def pg_url(pg_engine: sa.Engine) -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL schema (dropped afterwards): one lab or ledger per test."""
    schema = f"t_{secrets.token_hex(6)}"
    with pg_engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"
    with pg_engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture()
def lab_dir(tmp_path: Path) -> Path:
    """Path for a new lab (not created yet)."""
    return tmp_path / "lab"
