"""Governance fixtures: a real lab database (SQLite in tmp_path, or a fresh PostgreSQL schema), the real
audit ledger behind the DecisionSink, the real Cedar engine, and a controllable clock."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:  # make gov_helpers importable under any pytest import mode
    sys.path.insert(0, _HERE)

from gov_helpers import Env, make_env  # noqa: E402

from omnimind.storage import sqlite_url  # noqa: E402


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    """SQLite lab database with migrations, ledger, default policies installed, and a gate."""
    e = make_env(sqlite_url(tmp_path / "lab.db"), tmp_path)
    yield e
    e.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    """The same on SQLite and on PostgreSQL."""
    url = sqlite_url(tmp_path / "lab.db") if request.param == "sqlite" else str(request.getfixturevalue("pg_url"))
    e = make_env(url, tmp_path)
    yield e
    e.close()
