"""Migrations: the cheap head lookup agrees with Alembic; upgrade is idempotent on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory

from omnimind.storage import create_engine, current_revision, head_revision, sqlite_url, upgrade
from omnimind.storage.migrate import _MIGRATIONS


def test_head_revision_is_alembics_head() -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    assert head_revision() == ScriptDirectory.from_config(cfg).get_current_head()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_upgrade_from_empty_then_noop(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = sqlite_url(tmp_path / "x.db") if backend == "sqlite" else request.getfixturevalue("pg_url")
    engine = create_engine(url)
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
    assert {"runs", "ledger_entries", "governance_decisions", "metrics"} <= tables
    upgrade(engine)  # already current: one query, no error, nothing changes
    assert current_revision(engine) == head_revision()
    engine.dispose()
