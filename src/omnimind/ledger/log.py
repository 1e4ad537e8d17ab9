"""The ledger store: append-only tables in the lab database (SQLite or PostgreSQL, SQLAlchemy Core).

Write path (`append_batch`, `append_cycles`): one transaction per batch that
  1. locks the head row (SQLite: BEGIN IMMEDIATE; PostgreSQL: SELECT ... FOR UPDATE),
  2. reads the tree size and compact range,
  3. inserts the entries at indices size, size+1, ... (plain DBAPI executemany, precompiled SQL),
  4. writes the new size, compact range and root into the head row,
  5. commits (durable: SQLite synchronous=FULL).
So concurrent appenders (threads or processes) serialise on the head row, a crash loses at most the
uncommitted batch, and the next append continues at the right index without reading the entries.

Read path: proofs come from an in-memory `MerkleTree` over the leaf-hash column, loaded once per process
and extended incrementally; every proof is checked against its signed checkpoint before it is returned.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from hashlib import sha256
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from omnimind import clock
from omnimind.errors import LedgerError, NotFoundError, VerificationError
from omnimind.ledger import proof as _proof
from omnimind.ledger._util import b64encode
from omnimind.ledger.checkpoint import Checkpoint, SignedCheckpoint, open_checkpoint
from omnimind.ledger.compact import CompactRange
from omnimind.ledger.cosignature import verifier_from_vkey
from omnimind.ledger.entry import (
    ENVELOPE_KEYS,
    ENVELOPE_VERSION,
    PAYLOAD_ENCODINGS,
    CycleEncoder,
    Entry,
    NewEntry,
    entry_bytes,
    envelope,
    envelope_bytes,
    envelope_text,
    validate,
)
from omnimind.ledger.note import Ed25519Signer, Ed25519Verifier, Note, parse_note, sign_note
from omnimind.ledger.report import VerifyReport
from omnimind.ledger.rfc6962 import EMPTY_ROOT
from omnimind.ledger.tree import MerkleTree
from omnimind.storage.schema import ledger_cosignatures, ledger_entries

PayloadCodec = Callable[[int, NewEntry], tuple[str, Mapping[str, Any]]]
"""Hook for encrypted payloads: (index, entry) -> (payload_encoding, payload object to commit). A codec may
also have `encode_text(index, entry) -> (payload_encoding, canonical payload JSON text) | None` (None: use the
call), which the append path prefers: it saves building and sorting the payload object."""

_COLUMNS = (
    "idx",
    "leaf_hash",
    "envelope",
    "time",
    "category",
    "action",
    "actor",
    "tenant",
    "subject",
    "run",
    "cycle",
)
_FIELD_COLUMNS = ("time", "category", "action", "actor", "tenant", "subject", "run", "cycle")
_FETCH = 20_000
# Rows per multi-row INSERT on SQLite: within the 999-variable limit of SQLite builds older than 3.32.
_SQLITE_ROWS = (999 if sqlite3.sqlite_version_info < (3, 32, 0) else 32766) // len(_COLUMNS) // 2


def _bytes(value: Any) -> bytes:
    """A BLOB column value as bytes (an attacker may have turned it into TEXT: same bytes, still checked)."""
    if type(value) is bytes:
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    return bytes(value)


@dataclass(frozen=True)
class InclusionProof:
    """Entry `index` is leaf `index` of the tree in `checkpoint`; `hashes` is the RFC 9162 audit path."""

    entry: Entry
    hashes: tuple[bytes, ...]
    checkpoint: SignedCheckpoint

    @property
    def index(self) -> int:
        return self.entry.index

    def verify(self, log_vkey: str) -> None:
        """Check signature, leaf and path; raise VerificationError on any problem."""
        cp, _ = open_checkpoint(self.checkpoint.note, [Ed25519Verifier.from_vkey(log_vkey)])
        _proof.verify_inclusion(self.index, cp.size, self.entry.leaf_hash, self.hashes, cp.root)

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "entry": b64encode(self.entry.raw),
            "leaf_hash": self.entry.leaf_hash.hex(),
            "proof": [b64encode(h) for h in self.hashes],
            "tree_size": self.checkpoint.size,
            "checkpoint": self.checkpoint.note,
        }


@dataclass(frozen=True)
class ConsistencyProof:
    """The tree of `new_size` extends the tree of `old_size`; checkpoints attached when stored."""

    old_size: int
    new_size: int
    old_root: bytes
    new_root: bytes
    hashes: tuple[bytes, ...]
    old_checkpoint: SignedCheckpoint | None
    new_checkpoint: SignedCheckpoint | None

    def verify(self) -> None:
        _proof.verify_consistency(self.old_size, self.new_size, self.old_root, self.new_root, self.hashes)

    def to_json(self) -> dict[str, Any]:
        return {
            "old_size": self.old_size,
            "new_size": self.new_size,
            "old_root": b64encode(self.old_root),
            "new_root": b64encode(self.new_root),
            "proof": [b64encode(h) for h in self.hashes],
            "old_checkpoint": self.old_checkpoint.note if self.old_checkpoint else None,
            "new_checkpoint": self.new_checkpoint.note if self.new_checkpoint else None,
        }


class Ledger:
    """A tamper-evident, append-only log of every action, in the lab database.

    `signer` signs checkpoints (its name is the key name in the signature line); `origin` is the log's
    identity in checkpoints (default: the signer's name). `payload_codec` lets the encryption layer commit
    ciphertext instead of the plain payload (it sees the final index, for associated data).
    """

    def __init__(
        self,
        engine: Engine,
        signer: Ed25519Signer,
        origin: str | None = None,
        *,
        payload_codec: PayloadCodec | None = None,
    ) -> None:
        self.engine = engine
        self.signer = signer
        self.origin = origin or signer.name
        if not self.origin or "\n" in self.origin:
            raise LedgerError(f"invalid log origin {self.origin!r}")
        self.verifier = signer.verifier()
        self._codec = payload_codec
        self._codec_text: Callable[[int, NewEntry], tuple[str, str] | None] | None = getattr(
            payload_codec, "encode_text", None
        )
        self._pg = engine.dialect.name == "postgresql"
        if engine.dialect.name not in ("sqlite", "postgresql"):
            raise LedgerError(f"the ledger does not support {engine.dialect.name}")
        p = "%s" if self._pg else "?"
        self._sql_insert = (
            f"INSERT INTO ledger_entries ({', '.join(_COLUMNS)}) VALUES ({', '.join([p] * len(_COLUMNS))})"
        )
        self._multi_sql: dict[int, str] = {}  # SQLite: multi-row INSERT statements by row count
        self._sql_head = "SELECT size, compact FROM ledger_head WHERE id = 1" + (" FOR UPDATE" if self._pg else "")
        self._sql_set_head = f"UPDATE ledger_head SET size = {p}, compact = {p}, root = {p}, time = {p} WHERE id = 1"
        self._p = p
        self._tree = MerkleTree()
        self._tree_lock = threading.Lock()
        self._checked_roots: set[tuple[int, bytes]] = set()
        self._cp_cache: dict[int, SignedCheckpoint] = {}  # checkpoints are immutable once stored
        self._ensure_head()

    # ---------------------------------------------------------------- identity

    @property
    def vkey(self) -> str:
        """The public verifier key string (C2SP signed-note vkey) third parties use to verify."""
        return self.verifier.vkey

    # ---------------------------------------------------------------- transactions

    def _ensure_head(self) -> None:
        try:
            with self.engine.begin() as conn:
                have = conn.exec_driver_sql("SELECT count(*) FROM ledger_head WHERE id = 1").scalar_one()
                if not have:
                    conn.exec_driver_sql(
                        f"INSERT INTO ledger_head (id, size, compact, root, time) VALUES (1, 0, {self._p}, "
                        f"{self._p}, '')",
                        (b"", EMPTY_ROOT),
                    )
        except sa.exc.IntegrityError:
            pass  # created concurrently
        except sa.exc.SQLAlchemyError as exc:
            raise LedgerError(
                f"the ledger tables are missing or unreadable: {exc.__class__.__name__}",
                "run the lab's migrations (omnimind.storage.upgrade)",
            ) from exc

    @contextmanager
    def _locked(self) -> Iterator[tuple[Any, int, CompactRange]]:
        """A DBAPI cursor inside a write transaction holding the head lock; commits on success."""
        conn = self.engine.raw_connection()
        try:
            cur = conn.cursor()
            try:
                if not self._pg:
                    cur.execute("BEGIN IMMEDIATE")
                cur.execute(self._sql_head)
                row = cur.fetchone()
                if row is None:
                    raise LedgerError("the ledger head row is missing", "run `omnimind audit verify --full`")
                size, compact = int(row[0]), bytes(row[1])
                yield cur, size, CompactRange.from_bytes(size, compact)
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
            finally:
                cur.close()
        finally:
            conn.close()

    @contextmanager
    def _reader(self) -> Iterator[Any]:
        conn = self.engine.raw_connection()
        try:
            cur = conn.cursor()
            try:
                yield cur
            finally:
                cur.close()
                conn.rollback()
        finally:
            conn.close()

    def _insert_sqlite(self, cur: Any, rows: list[tuple[Any, ...]]) -> None:
        """Rows as multi-row INSERTs: one statement step per _SQLITE_ROWS rows instead of one per row, which
        also means one GIL release per step rather than per row when a run's engine thread is busy."""
        for k in range(0, len(rows), _SQLITE_ROWS):
            part = rows[k : k + _SQLITE_ROWS]
            sql = self._multi_sql.get(len(part))
            if sql is None:
                one = "(" + ", ".join(["?"] * len(_COLUMNS)) + ")"
                sql = f"INSERT INTO ledger_entries ({', '.join(_COLUMNS)}) VALUES " + ", ".join([one] * len(part))
                self._multi_sql[len(part)] = sql
            cur.execute(sql, [v for row in part for v in row])

    def _write(self, cur: Any, start: int, rng: CompactRange, rows: list[tuple[Any, ...]], time: str) -> None:
        try:
            if self._pg:
                cur.executemany(self._sql_insert, rows)
            else:
                self._insert_sqlite(cur, rows)
        except Exception as exc:  # IntegrityError from either driver
            if "unique" in str(exc).lower() or "duplicate" in str(exc).lower():
                raise LedgerError(
                    f"the ledger head says {start} entries but entry rows at or after index {start} exist",
                    "the log was modified; run `omnimind audit verify --full` (it never repairs)",
                ) from exc
            raise
        rng.extend([r[1] for r in rows])
        cur.execute(self._sql_set_head, (rng.size, rng.to_bytes(), rng.root(), time))

    # ---------------------------------------------------------------- appends

    def append(
        self,
        category: str,
        action: str,
        payload: Mapping[str, Any],
        *,
        actor: str,
        tenant: str = "default",
        subject: str | None = None,
        run: str | None = None,
        cycle: int | None = None,
    ) -> int:
        """Append one entry in its own durable transaction; returns its index."""
        return self.append_batch([NewEntry(category, action, payload, actor, tenant, subject, run, cycle)])[0]

    def append_batch(self, entries: Sequence[NewEntry]) -> list[int]:
        """Append entries in one durable transaction; returns their indices (consecutive)."""
        if not entries:
            return []
        for new in entries:
            validate(new)
        codec, codec_text = self._codec, self._codec_text
        with self._locked() as (cur, start, rng):
            now = clock.iso()
            rows = []
            index = start
            for new in entries:
                time = new.time or now
                if codec is None:
                    raw = entry_bytes(index, time, new)
                else:
                    raw = self._codec_bytes(codec, codec_text, index, time, new)
                rows.append(
                    (
                        index,
                        sha256(b"\x00" + raw).digest(),
                        raw,
                        time,
                        new.category,
                        new.action,
                        new.actor,
                        new.tenant,
                        new.subject,
                        new.run,
                        new.cycle,
                    )
                )
                index += 1
            self._write(cur, start, rng, rows, now)
        return list(range(start, start + len(entries)))

    @staticmethod
    def _codec_bytes(
        codec: PayloadCodec,
        codec_text: Callable[[int, NewEntry], tuple[str, str] | None] | None,
        index: int,
        time: str,
        new: NewEntry,
    ) -> bytes:
        """Envelope bytes of `new` with the payload the codec commits (its text fast path when it has one)."""
        got = codec_text(index, new) if codec_text is not None else None
        if got is not None:
            try:
                return envelope_text(index, time, new, got[1], got[0]).encode()
            except UnicodeEncodeError:
                pass  # lone surrogates in a field: the generic path refuses them with its error
        encoding, payload = codec(index, new)
        return envelope_bytes(envelope(index, time, new, payload=payload, payload_encoding=encoding))

    def append_cycles(
        self,
        run: str,
        records: Sequence[tuple[int, str, str]],
        *,
        actor: str = "engine",
        tenant: str = "default",
        action: str = "step",
    ) -> range:
        """Append per-cycle entries (category "cycle", payload {cycle, state_digest, inputs_digest}) in one
        durable transaction: the engine's hot path. Byte-identical to `append_batch` of the same entries."""
        if not records:
            return range(0)
        # Cycle payloads carry no `_sensitive` fields, so a payload codec passes them through unchanged:
        # the fast encoder is byte-identical with or without one (tests/ledger checks both).
        with self._locked() as (cur, start, rng):
            now = clock.iso()
            enc = CycleEncoder(run=run, actor=actor, tenant=tenant, time=now, action=action).encode
            rows = []
            index = start
            for c, s, d in records:
                raw = enc(index, c, s, d)
                rows.append(
                    (
                        index,
                        sha256(b"\x00" + raw).digest(),
                        raw,
                        now,
                        "cycle",
                        action,
                        actor,
                        tenant,
                        None,
                        run,
                        c,
                    )
                )
                index += 1
            self._write(cur, start, rng, rows, now)
        return range(start, start + len(records))

    # ---------------------------------------------------------------- checkpoints

    def size(self) -> int:
        """Committed entries (the head's tree size)."""
        with self._reader() as cur:
            cur.execute("SELECT size FROM ledger_head WHERE id = 1")
            row = cur.fetchone()
        return int(row[0]) if row else 0

    def checkpoint(self) -> SignedCheckpoint:
        """Sign and store the current tree head (returns the stored one if the size has not changed)."""
        with self._locked() as (cur, size, rng):
            p = self._p
            cur.execute(f"SELECT size, root, note, time FROM ledger_checkpoints WHERE size = {p}", (size,))
            row = cur.fetchone()
            if row is not None:
                return self._signed(row)
            cp = Checkpoint(self.origin, size, rng.root())
            note = sign_note(cp.body(), [self.signer])
            now = clock.iso()
            cur.execute(
                f"INSERT INTO ledger_checkpoints (size, root, note, time) VALUES ({p}, {p}, {p}, {p})",
                (size, cp.root, note, now),
            )
        return SignedCheckpoint(cp, note, now)

    @staticmethod
    def _signed(row: Sequence[Any]) -> SignedCheckpoint:
        note = str(row[2])
        cp = Checkpoint.parse(parse_note(note).text)
        return SignedCheckpoint(cp, note, str(row[3]))

    def latest_checkpoint(self) -> SignedCheckpoint | None:
        """The newest stored checkpoint (signature not re-verified here; `verify` does that)."""
        with self._reader() as cur:
            cur.execute("SELECT size, root, note, time FROM ledger_checkpoints ORDER BY size DESC LIMIT 1")
            row = cur.fetchone()
        return None if row is None else self._signed(row)

    def checkpoint_at(self, size: int) -> SignedCheckpoint:
        cached = self._cp_cache.get(size)
        if cached is not None:
            return cached
        with self._reader() as cur:
            cur.execute(f"SELECT size, root, note, time FROM ledger_checkpoints WHERE size = {self._p}", (size,))
            row = cur.fetchone()
        if row is None:
            raise NotFoundError(f"no checkpoint at tree size {size}", "list them with `omnimind audit checkpoint`")
        return self._signed(row)

    def checkpoints(self) -> list[SignedCheckpoint]:
        with self._reader() as cur:
            cur.execute("SELECT size, root, note, time FROM ledger_checkpoints ORDER BY size")
            return [self._signed(r) for r in cur.fetchall()]

    def add_cosignature(self, size: int, line: str, witness_vkey: str) -> None:
        """Store a witness cosignature line for the checkpoint at `size` after verifying it."""
        cp = self.checkpoint_at(size)
        verifier = verifier_from_vkey(witness_vkey)
        sigs = parse_note(cp.checkpoint.body() + "\n" + line).signatures
        if len(sigs) != 1 or (sigs[0].name, sigs[0].key_id) != (verifier.name, verifier.key_id):
            raise LedgerError("cosignature line is not one signature by the given witness key")
        if not verifier.verify(cp.checkpoint.body().encode("utf-8"), sigs[0].signature):
            raise VerificationError(f"cosignature by {verifier.name} does not verify for the checkpoint at {size}")
        stmt = sa.insert(ledger_cosignatures).values(
            size=size,
            name=verifier.name,
            key_id=f"{verifier.key_id:08x}",
            line=sigs[0].line(),
            time=clock.iso(),
        )
        with self.engine.begin() as conn:
            exists = conn.execute(
                sa.select(ledger_cosignatures.c.id).where(
                    ledger_cosignatures.c.size == size,
                    ledger_cosignatures.c.name == verifier.name,
                    ledger_cosignatures.c.key_id == f"{verifier.key_id:08x}",
                )
            ).first()
            if exists is None:
                conn.execute(stmt)

    def cosigned_note(self, size: int, witness_vkeys: Sequence[str] = ()) -> str:
        """The checkpoint note at `size` with the stored cosignatures of the given witnesses appended."""
        cp = self.checkpoint_at(size)
        note = parse_note(cp.note)
        wanted = {(v.name, f"{v.key_id:08x}") for v in map(verifier_from_vkey, witness_vkeys)}
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(ledger_cosignatures.c.name, ledger_cosignatures.c.key_id, ledger_cosignatures.c.line)
                .where(ledger_cosignatures.c.size == size)
                .order_by(ledger_cosignatures.c.id)
            ).all()
        extra = [parse_note(note.text + "\n" + r.line).signatures[0] for r in rows if (r.name, r.key_id) in wanted]
        return Note(note.text, note.signatures + tuple(extra)).encode()

    # ---------------------------------------------------------------- reads

    def entry(self, index: int) -> Entry:
        with self._reader() as cur:
            cur.execute(f"SELECT envelope FROM ledger_entries WHERE idx = {self._p}", (index,))
            row = cur.fetchone()
        if row is None:
            raise NotFoundError(f"no ledger entry {index}", "see `omnimind audit log` for the indices")
        entry = Entry.from_bytes(_bytes(row[0]))
        if entry.index != index:
            raise VerificationError(f"entry {index}: its envelope says index {entry.index}")
        return entry

    def find_cycle(self, run: str, cycle: int) -> int:
        """Index of the (first) entry for `cycle` of `run`."""
        stmt = sa.select(sa.func.min(ledger_entries.c.idx)).where(
            ledger_entries.c.run == run, ledger_entries.c.cycle == cycle
        )
        with self.engine.connect() as conn:
            idx = conn.execute(stmt).scalar()
        if idx is None:
            raise NotFoundError(f"no ledger entry for cycle {cycle} of run {run}")
        return int(idx)

    def cycle_digests(self, run: str, first: int, last: int) -> dict[int, str]:
        """{cycle: state digest} logged for `run`'s cycles first..last (the first entry when logged twice)."""
        t = ledger_entries.c
        stmt = (sa.select(t.envelope).where(t.run == run, t.category == "cycle", t.cycle >= first, t.cycle <= last)
                .order_by(t.idx))
        out: dict[int, str] = {}
        with self.engine.connect() as conn:
            for (raw,) in conn.execute(stmt):
                entry = Entry.from_bytes(_bytes(raw))
                payload = entry.payload
                if entry.payload_encoding == "json" and isinstance(payload, dict):
                    out.setdefault(int(payload["cycle"]), str(payload["state_digest"]))
        return out

    def last_cycle(self, run: str) -> int:
        """The highest cycle of `run` in the log (0 if none)."""
        t = ledger_entries.c
        stmt = sa.select(sa.func.max(t.cycle)).where(t.run == run, t.category == "cycle")
        with self.engine.connect() as conn:
            value = conn.execute(stmt).scalar()
        return int(value or 0)

    def query(
        self,
        *,
        category: str | None = None,
        action: str | None = None,
        actor: str | None = None,
        tenant: str | None = None,
        run: str | None = None,
        subject: str | None = None,
        since: str | None = None,
        until: str | None = None,
        after_index: int | None = None,
        limit: int = 100,
        newest_first: bool = False,
    ) -> list[Entry]:
        """Entries matching every given filter, by index (times are ISO strings, `until` exclusive)."""
        t = ledger_entries.c
        stmt = sa.select(t.envelope)
        for col, value in (
            (t.category, category),
            (t.action, action),
            (t.actor, actor),
            (t.tenant, tenant),
            (t.run, run),
            (t.subject, subject),
        ):
            if value is not None:
                stmt = stmt.where(col == value)
        if since is not None:
            stmt = stmt.where(t.time >= since)
        if until is not None:
            stmt = stmt.where(t.time < until)
        if after_index is not None:
            stmt = stmt.where(t.idx > after_index)
        stmt = stmt.order_by(t.idx.desc() if newest_first else t.idx).limit(limit)
        with self.engine.connect() as conn:
            return [Entry.from_bytes(_bytes(r[0])) for r in conn.execute(stmt)]

    # ---------------------------------------------------------------- proofs

    def _tree_at_least(self, size: int) -> MerkleTree:
        """The in-memory tree, extended from the leaf-hash column to at least `size` leaves."""
        with self._tree_lock:
            tree = self._tree
            if tree.size >= size:
                return tree
            with self._reader() as cur:
                cur.execute(
                    f"SELECT idx, leaf_hash FROM ledger_entries WHERE idx >= {self._p} ORDER BY idx",
                    (tree.size,),
                )
                expected = tree.size
                while True:
                    rows = cur.fetchmany(_FETCH)
                    if not rows:
                        break
                    for idx, _ in rows:
                        if idx != expected:
                            raise VerificationError(
                                f"ledger entry {expected} is missing (next row is {idx})",
                                "run `omnimind audit verify --full`",
                            )
                        expected += 1
                    tree.extend([_bytes(r[1]) for r in rows])
            if tree.size < size:
                raise VerificationError(
                    f"the ledger has {tree.size} entries but a tree of size {size} was asked for: "
                    f"truncated at index {tree.size}",
                    "run `omnimind audit verify --full`",
                )
            return tree

    def _checked_tree(self, cp: SignedCheckpoint) -> MerkleTree:
        tree = self._tree_at_least(cp.size)
        key = (cp.size, cp.root)
        if key not in self._checked_roots:
            open_checkpoint(cp.note, [self.verifier], origin=self.origin)
            if tree.root(cp.size) != cp.root:
                raise VerificationError(
                    f"the stored leaf hashes do not match the signed checkpoint at size {cp.size}",
                    "the log was modified; run `omnimind audit verify --full`",
                )
            self._checked_roots.add(key)
        return tree

    def prove_inclusion(self, index: int, at_size: int | None = None) -> InclusionProof:
        """Inclusion proof of entry `index` with the exact checkpoint it was computed against: the checkpoint
        at `at_size`, or the latest one (a new one is signed if none covers `index` yet)."""
        if at_size is None:
            cp = self.latest_checkpoint()
            if cp is None or cp.size <= index:
                cp = self.checkpoint()
        else:
            cp = self.checkpoint_at(at_size)
        if not 0 <= index < cp.size:
            raise NotFoundError(f"no ledger entry {index} in the tree of size {cp.size}")
        tree = self._checked_tree(cp)
        entry = self.entry(index)
        if entry.leaf_hash != tree.leaf_hash(index):
            raise VerificationError(
                f"entry {index}: its envelope bytes do not match its leaf hash (payload edited?)",
                "run `omnimind audit verify --full`",
            )
        hashes = tuple(tree.inclusion_proof(index, cp.size))
        _proof.verify_inclusion(index, cp.size, entry.leaf_hash, hashes, cp.root)
        return InclusionProof(entry, hashes, cp)

    def prove_consistency(self, old_size: int, new_size: int | None = None) -> ConsistencyProof:
        """Consistency proof between two tree sizes (default new size: the latest checkpoint)."""
        if new_size is None:
            latest = self.latest_checkpoint() or self.checkpoint()
            new_size = latest.size
        if not 0 <= old_size <= new_size:
            raise LedgerError(f"no consistency proof from size {old_size} to {new_size}")
        cps = {cp.size: cp for cp in self.checkpoints() if cp.size in (old_size, new_size)}
        tree = self._tree_at_least(new_size)
        for cp in cps.values():
            self._checked_tree(cp)
        hashes = tuple(tree.consistency_proof(old_size, new_size))
        return ConsistencyProof(
            old_size,
            new_size,
            tree.root(old_size),
            tree.root(new_size),
            hashes,
            cps.get(old_size),
            cps.get(new_size),
        )

    # ---------------------------------------------------------------- verification

    def verify(self, full: bool = False) -> VerifyReport:
        """Recompute the tree and check it against every stored signed checkpoint and the head row.

        Quick: the tree from the leaf-hash column; contiguous indices; every checkpoint's signature (log
        key) and root; the head's size and root. Full: also re-hash every envelope, parse it, and check its
        index and fields against the row. Reports the FIRST bad index and why; never changes anything.
        """
        problems: list[tuple[int, str]] = []
        cps: list[tuple[int, bytes | None]] = []  # (size, root or None if its signature is bad)
        prev_good = 0
        with self._reader() as cur:
            cur.execute("SELECT size, root, note FROM ledger_checkpoints ORDER BY size")
            for size, root, note in cur.fetchall():
                size = int(size)
                try:
                    cp, _ = open_checkpoint(str(note), [self.verifier], origin=self.origin)
                    if cp.size != size or cp.root != bytes(root):
                        raise VerificationError(f"the row says size {size} but the signed note says {cp.size}")
                    cps.append((size, cp.root))
                    prev_good = size
                except (VerificationError, LedgerError) as exc:
                    problems.append(
                        (
                            prev_good,
                            f"checkpoint at size {size} is not validly signed by the log "
                            f"key {self.verifier.name}+{self.verifier.key_id:08x}: "
                            f"{exc.message}",
                        )
                    )
                    cps.append((size, None))
            cur.execute("SELECT size, compact, root FROM ledger_head WHERE id = 1")
            head = cur.fetchone()
            cols = _COLUMNS if full else ("idx", "leaf_hash")
            cur.execute(f"SELECT {', '.join(cols)} FROM ledger_entries ORDER BY idx")
            rng = CompactRange()
            cp_iter = iter(cps)
            next_cp = next(cp_iter, None)
            expected = 0
            stop = False

            def feed(leaves: list[bytes]) -> bool:
                """Extend the range, comparing roots at each checkpoint size; True if one mismatched."""
                nonlocal next_cp
                pos = 0
                while next_cp is not None and next_cp[0] <= rng.size + len(leaves) - pos:
                    take = next_cp[0] - rng.size
                    rng.extend(leaves[pos : pos + take])
                    pos += take
                    size, root = next_cp
                    if root is not None and rng.root() != root:
                        start = max((s for s, r in cps if s < size and r is not None), default=0)
                        problems.append(
                            (
                                start,
                                f"the entries do not match the signed checkpoint at size {size}: "
                                f"an entry with index in [{start}, {size}) was changed",
                            )
                        )
                        return True
                    next_cp = next(cp_iter, None)
                rng.extend(leaves[pos:])
                return False

            while not stop:
                rows = cur.fetchmany(_FETCH)
                if not rows:
                    break
                leaves: list[bytes] = []
                for row in rows:
                    idx = row[0]
                    if idx != expected:
                        problems.append((expected, f"entry {expected} is missing (the next row is {idx})"))
                        stop = True
                        break
                    if full:
                        bad = _check_row(row)
                        if bad is not None:
                            problems.append((expected, bad))
                            stop = True
                            break
                        leaves.append(sha256(b"\x00" + _bytes(row[2])).digest())
                    else:
                        leaves.append(_bytes(row[1]))
                    expected += 1
                if feed(leaves):
                    stop = True
            if not stop and feed([]):
                stop = True
        count = expected
        if not stop:
            if next_cp is not None:
                problems.append(
                    (
                        count,
                        f"the log ends at {count} entries but a signed checkpoint covers "
                        f"{max(s for s, _ in cps)}: truncated at index {count}",
                    )
                )
            if head is None:
                problems.append((count, "the ledger head row is missing"))
            else:
                hsize = int(head[0])
                if hsize > count:
                    problems.append(
                        (
                            count,
                            f"the head records {hsize} entries but the log ends at {count}: truncated at index {count}",
                        )
                    )
                elif hsize < count:
                    problems.append(
                        (
                            hsize,
                            f"entries {hsize}..{count - 1} are beyond the head (size {hsize}): "
                            "rows were inserted outside the ledger",
                        )
                    )
                elif bytes(head[2]) != rng.root() or bytes(head[1]) != rng.to_bytes():
                    start = max((s for s, r in cps if r is not None), default=0)
                    problems.append(
                        (
                            start,
                            "the head's root does not match the entries: an entry with index "
                            f"in [{start}, {count}) was changed",
                        )
                    )
        first = min(problems, key=lambda p: p[0]) if problems else None
        return VerifyReport(
            ok=first is None,
            mode="full" if full else "quick",
            size=count,
            entries_checked=count,
            checkpoints_checked=len(cps),
            first_bad_index=first[0] if first else None,
            problem=first[1] if first else None,
            root=rng.root().hex() if first is None else None,
            details={"origin": self.origin, "log_key": self.vkey, "problems": len(problems)},
        )

    # ---------------------------------------------------------------- export

    def export(self, run: str | None = None, *, witness_vkeys: Sequence[str] = ()) -> dict[str, Any]:
        """A bundle a third party verifies offline (`verify_bundle`): the whole log (`run=None`, checked by
        recomputing the root) or the entries of one run with inclusion proofs, against a fresh checkpoint."""
        from omnimind.ledger.bundle import make_bundle

        cp = self.checkpoint()
        tree = self._checked_tree(cp)
        t = ledger_entries.c
        stmt = sa.select(t.idx, t.envelope).where(t.idx < cp.size).order_by(t.idx)
        if run is not None:
            stmt = stmt.where(t.run == run)
        with self.engine.connect() as conn:
            rows = [(int(i), _bytes(e)) for i, e in conn.execute(stmt)]
        if run is not None and not rows:
            raise NotFoundError(f"no ledger entries for run {run}")
        proofs = None if run is None else [tree.inclusion_proof(i, cp.size) for i, _ in rows]
        note = self.cosigned_note(cp.size, witness_vkeys) if witness_vkeys else cp.note
        return make_bundle(self.vkey, note, rows, proofs, witness_vkeys=witness_vkeys)


def _check_row(row: Sequence[Any]) -> str | None:
    """Full check of one entry row; the reason it is bad, or None."""
    import json

    idx, leaf, raw = row[0], _bytes(row[1]), _bytes(row[2])
    if sha256(b"\x00" + raw).digest() != leaf:
        return f"entry {idx}: its envelope bytes do not match its stored leaf hash (payload edited?)"
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return f"entry {idx}: its envelope is not JSON"
    if type(obj) is not dict or tuple(obj) != ENVELOPE_KEYS:
        return f"entry {idx}: its envelope does not have the envelope fields in canonical order"
    if obj["index"] != idx:
        return f"entry {idx}: its envelope says index {obj['index']} (rows reordered or copied)"
    if obj["v"] != ENVELOPE_VERSION or obj["payload_encoding"] not in PAYLOAD_ENCODINGS:
        return f"entry {idx}: unknown envelope version or payload encoding"
    fields = (
        obj["time"],
        obj["category"],
        obj["action"],
        obj["actor"],
        obj["tenant"],
        obj["subject"],
        obj["run"],
        obj["cycle"],
    )
    if fields != tuple(row[3:]):
        for name, a, b in zip(_FIELD_COLUMNS, fields, row[3:], strict=True):
            if a != b:
                return f"entry {idx}: column {name!r} is {b!r} but the envelope says {a!r}"
    return None
