"""A witness: remembers the last checkpoint it saw for each log and co-signs only append-only growth.

It accepts a new checkpoint only if it is validly signed by the log key it trusts for that origin and a
consistency proof leads from its last-seen tree to the new one; then it co-signs (C2SP tlog-cosignature
v1). A checkpoint of the same size with a different root, a smaller size (rollback/truncation) or a failing
proof is refused with a VerificationError naming it. State is one JSON file, written atomically
(temp + fsync + rename) BEFORE the cosignature is returned, under an exclusive file lock.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omnimind.errors import LedgerError, VerificationError
from omnimind.fsutil import atomic_write_bytes
from omnimind.ledger import proof as _proof
from omnimind.ledger._util import b64decode_strict, b64encode
from omnimind.ledger.checkpoint import Checkpoint, open_checkpoint
from omnimind.ledger.cosignature import CosignatureV1Signer
from omnimind.ledger.note import Ed25519Verifier, Signature, parse_note
from omnimind.ledger.rfc6962 import EMPTY_ROOT
from omnimind.ledger.signer import load_or_create_cosigner

_STATE_VERSION = 1


class Witness:
    """One witness identity (its own Ed25519 key) and its view of the logs it watches."""

    def __init__(self, state_path: Path, cosigner: CosignatureV1Signer) -> None:
        self.state_path = Path(state_path)
        self.cosigner = cosigner

    @classmethod
    def open(cls, directory: Path, name: str) -> Witness:
        """The witness in `directory` (key `witness.key`, state `witness.json`), created if needed."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        return cls(directory / "witness.json", load_or_create_cosigner(directory / "witness.key", name))

    @property
    def vkey(self) -> str:
        """The witness's cosignature verifier key (type 0x04)."""
        return self.cosigner.verifier().vkey

    # ------------------------------------------------------------ state

    def _read(self) -> dict[str, Any]:
        try:
            state = json.loads(self.state_path.read_bytes())
        except FileNotFoundError:
            return {"version": _STATE_VERSION, "logs": {}}
        except ValueError as exc:
            raise LedgerError(f"witness state {self.state_path} is not valid JSON") from exc
        if state.get("version") != _STATE_VERSION or not isinstance(state.get("logs"), dict):
            raise LedgerError(f"witness state {self.state_path} has an unknown format")
        return dict(state)

    def _write(self, state: dict[str, Any]) -> None:
        atomic_write_bytes(self.state_path, json.dumps(state, sort_keys=True, indent=1).encode() + b"\n", mode=0o600)

    @contextmanager
    def _lock(self) -> Iterator[None]:
        lock = self.state_path.with_name(self.state_path.name + ".lock")
        with open(lock, "a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def trust_log(self, origin: str, log_vkey: str) -> None:
        """Watch the log `origin`, whose checkpoints are signed by `log_vkey`."""
        Ed25519Verifier.from_vkey(log_vkey)  # validate
        with self._lock():
            state = self._read()
            known = state["logs"].get(origin)
            if known is not None:
                if known["log_key"] != log_vkey:
                    raise LedgerError(
                        f"the witness already trusts a different key for log {origin!r}",
                        "a log key change needs a new origin, or remove the log from the witness state",
                    )
                return
            state["logs"][origin] = {
                "log_key": log_vkey,
                "size": 0,
                "root": b64encode(EMPTY_ROOT),
                "checkpoint": None,
            }
            self._write(state)

    def last_seen(self, origin: str) -> Checkpoint:
        """The largest checkpoint the witness accepted for `origin` (size 0 before the first)."""
        log = self._read()["logs"].get(origin)
        if log is None:
            raise LedgerError(f"the witness does not watch log {origin!r}", "call trust_log first")
        return Checkpoint(origin, int(log["size"]), b64decode_strict(log["root"]))

    def size(self, origin: str) -> int:
        return self.last_seen(origin).size

    # ------------------------------------------------------------ the one operation

    def add_checkpoint(self, note: str, old_size: int, proof: Sequence[bytes]) -> str:
        """Accept `note` if it is consistent with the last-seen checkpoint (`old_size` must be its size);
        return the cosignature line ("— name base64\\n") to append to the note."""
        with self._lock():
            state = self._read()
            try:
                origin = Checkpoint.parse(parse_note(note).text).origin
            except VerificationError as exc:
                raise VerificationError(f"witness refused a malformed checkpoint: {exc.message}") from exc
            log = state["logs"].get(origin)
            if log is None:
                raise LedgerError(f"the witness does not watch log {origin!r}", "call trust_log first")
            try:
                cp, opened = open_checkpoint(note, [Ed25519Verifier.from_vkey(log["log_key"])], origin=origin)
            except VerificationError as exc:
                raise VerificationError(
                    f"witness refused checkpoint for {origin!r}: not signed by the trusted log key "
                    f"({exc.message}); a log replaced under another key is a fork",
                ) from exc
            last_size, last_root = int(log["size"]), b64decode_strict(log["root"])
            if cp.size < last_size:
                raise VerificationError(
                    f"witness refused checkpoint for {origin!r}: size {cp.size} is smaller than the size "
                    f"{last_size} it already saw (rollback: entries from index {cp.size} were removed)"
                )
            if cp.size == last_size and cp.root != last_root:
                raise VerificationError(
                    f"fork detected for {origin!r}: a checkpoint of size {cp.size} with a different root "
                    f"than the one the witness saw (some entry with index below {cp.size} was rewritten)"
                )
            if old_size != last_size:
                raise LedgerError(
                    f"the witness last saw size {last_size} for {origin!r}, not {old_size}",
                    f"send a consistency proof from size {last_size}",
                )
            try:
                _proof.verify_consistency(last_size, cp.size, last_root, cp.root, proof)
            except VerificationError as exc:
                raise VerificationError(
                    f"fork detected for {origin!r}: {exc.message}; the log is not an extension of the one "
                    f"the witness saw at size {last_size} (an entry with index below {last_size} was changed)"
                ) from exc
            log.update(size=cp.size, root=b64encode(cp.root), checkpoint=note)
            self._write(state)  # durable BEFORE cosigning: a crash can never let us sign a fork later
            text = opened.text.encode("utf-8")
            sig = Signature(self.cosigner.name, self.cosigner.key_id, self.cosigner.sign(text))
            return sig.line()
