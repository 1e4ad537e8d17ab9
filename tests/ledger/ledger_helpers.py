"""Helpers shared by the ledger tests (imported by name; conftest holds the fixtures)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from omnimind.ledger import Ledger, NewEntry, load_or_create_signer
from omnimind.storage import create_engine, upgrade

ORIGIN = "omnimind.test/lab"


def make_ledger(url: str, key: Path, origin: str = ORIGIN) -> Ledger:
    engine = create_engine(url)
    upgrade(engine)
    return Ledger(engine, load_or_create_signer(key, origin), origin)


def fill(ledger: Ledger, n: int, *, run: str = "run1", checkpoint_every: int = 0) -> None:
    """n entries: a mix of run, config and cycle entries (checkpoints every `checkpoint_every`)."""
    done = 0
    while done < n:
        k = min(n - done, checkpoint_every or n)
        batch = []
        for i in range(done, done + k):
            if i % 3 == 0:
                batch.append(NewEntry("run", "note", {"i": i, "text": f"entry {i} ✓"}, "alice", run=run))
            elif i % 3 == 1:
                batch.append(NewEntry("config", "set", {"key": f"k{i}", "value": [i, None, True]}, "bob"))
            else:
                batch.append(
                    NewEntry(
                        "cycle",
                        "step",
                        {"cycle": i, "state_digest": "ab" * 32, "inputs_digest": "cd" * 32},
                        "engine",
                        run=run,
                        cycle=i,
                    )
                )
        ledger.append_batch(batch)
        done += k
        if checkpoint_every:
            ledger.checkpoint()


def sql(ledger: Ledger, statement: str, **params: object) -> None:
    """Run raw SQL as an attacker with database access would."""
    with ledger.engine.begin() as conn:
        conn.execute(sa.text(statement), params)
