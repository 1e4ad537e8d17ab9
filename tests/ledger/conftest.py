"""Ledger fixtures: real SQLite databases in tmp_path; real PostgreSQL schemas via the shared `pg_url`."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:  # make ledger_helpers importable under any pytest import mode
    sys.path.insert(0, _HERE)

from ledger_helpers import make_ledger  # noqa: E402

from omnimind.ledger import Ledger  # noqa: E402
from omnimind.storage import sqlite_url  # noqa: E402


@pytest.fixture
def sqlite_db_url(tmp_path: Path) -> str:
    return sqlite_url(tmp_path / "lab.db")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "lab.db")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def ledger(db_url: str, tmp_path: Path) -> Iterator[Ledger]:
    led = make_ledger(db_url, tmp_path / "log.key")
    yield led
    led.engine.dispose()


@pytest.fixture
def sqlite_ledger(sqlite_db_url: str, tmp_path: Path) -> Iterator[Ledger]:
    led = make_ledger(sqlite_db_url, tmp_path / "log.key")
    yield led
    led.engine.dispose()
