"""Helpers shared by the ledger tests (imported by name; conftest holds the fixtures)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from hypothesis import strategies as st

from omnimind.ledger import Ledger, NewEntry, load_or_create_signer
from omnimind.storage import create_engine, upgrade

ORIGIN = "omnimind.test/lab"


# JSON values for the canonical-encoding property tests (entry and append fast path).
SAFE = 2**53 - 1
# Characters that exercise escapes (controls, quotes, backslash), U+2028/9, BMP private-use and non-BMP.
CHARS = st.one_of(
    st.characters(codec="utf-8"),
    st.sampled_from(
        [
            '"',
            "\\",
            "\b",
            "\f",
            "\n",
            "\r",
            "\t",
            "\x00",
            "\x1f",
            "\x7f",
            "\u2028",
            "\ue000",
            "\uffff",
            "\U0001f600",
            "é",
        ]
    ),
)
TEXT = st.text(alphabet=CHARS, max_size=12)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-SAFE, SAFE), TEXT)
PLAIN = st.recursive(
    SCALARS,
    lambda kids: st.one_of(st.lists(kids, max_size=5), st.dictionaries(TEXT, kids, max_size=5)),
    max_leaves=30,
)
ANY = st.recursive(
    st.one_of(SCALARS, st.floats(allow_nan=False, allow_infinity=False)),
    lambda kids: st.one_of(st.lists(kids, max_size=5), st.dictionaries(TEXT, kids, max_size=5)),
    max_leaves=30,
)


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
