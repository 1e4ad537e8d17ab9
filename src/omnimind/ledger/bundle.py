"""Offline verification bundles: everything a third party needs, in one canonical JSON file.

    {
      "checkpoint":   signed note (log signature, plus cosignatures of the listed witnesses),
      "entries":      [{"envelope": base64(canonical envelope bytes), "index": n, "proof": [base64 hash...]}],
      "format":       "omnimind-ledger-bundle/1",
      "log_key":      the log's verifier key (C2SP vkey, type 0x01),
      "mode":         "full" (entries are the whole tree 0..size-1, no "proof") or
                      "inclusion" (any entries, each with its RFC 9162 inclusion proof),
      "witness_keys": [cosigner vkeys, type 0x04]
    }

The file is exactly the RFC 8785 canonical JSON of that object (no whitespace, no trailing newline); the
verifier re-serialises and compares, so any one-byte edit anywhere is detected (every field is either
signed, hashed, or cross-checked; base64 must be canonical).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omnimind.errors import LedgerError, VerificationError
from omnimind.ledger import proof as _proof
from omnimind.ledger._util import b64decode_strict, b64encode
from omnimind.ledger.checkpoint import open_checkpoint
from omnimind.ledger.compact import CompactRange
from omnimind.ledger.cosignature import CosignatureV1Verifier, verifier_from_vkey
from omnimind.ledger.entry import Entry, canonical_bytes
from omnimind.ledger.note import Ed25519Verifier, Verifier
from omnimind.ledger.report import VerifyReport
from omnimind.ledger.rfc6962 import hash_leaf

FORMAT = "omnimind-ledger-bundle/1"
_KEYS = ("checkpoint", "entries", "format", "log_key", "mode", "witness_keys")


def make_bundle(
    log_vkey: str,
    note: str,
    entries: Sequence[tuple[int, bytes]],
    proofs: Sequence[Sequence[bytes]] | None,
    *,
    witness_vkeys: Sequence[str] = (),
) -> dict[str, Any]:
    """Assemble a bundle: `proofs` None means mode "full" (entries must be the whole tree)."""
    items: list[dict[str, Any]] = []
    for i, (index, raw) in enumerate(entries):
        item: dict[str, Any] = {"envelope": b64encode(raw), "index": index}
        if proofs is not None:
            item["proof"] = [b64encode(h) for h in proofs[i]]
        items.append(item)
    return {
        "checkpoint": note,
        "entries": items,
        "format": FORMAT,
        "log_key": log_vkey,
        "mode": "full" if proofs is None else "inclusion",
        "witness_keys": list(witness_vkeys),
    }


def bundle_bytes(bundle: Mapping[str, Any]) -> bytes:
    """The exact file content of a bundle."""
    return canonical_bytes(dict(bundle))


def write_bundle(bundle: Mapping[str, Any], path: Path) -> None:
    from omnimind.fsutil import atomic_write_bytes

    atomic_write_bytes(Path(path), bundle_bytes(bundle), mode=0o644)


class _Bad(Exception):
    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.index = index


def verify_bundle(
    bundle_or_path: Mapping[str, Any] | str | Path | bytes,
    *,
    log_key: str | None = None,
    witness_keys: Sequence[str] | None = None,
) -> VerifyReport:
    """Verify a bundle with no lab: signatures, entries, proofs or the full root. Never raises for a bad
    bundle; the report says why and names the first bad index.

    `log_key` (and `witness_keys`) are the keys YOU trust; without them the bundle's own keys are used and
    the report says `key_trusted: False` (integrity only, not authenticity)."""
    size = checked = 0
    details: dict[str, Any] = {"key_trusted": log_key is not None}
    try:
        obj = _load(bundle_or_path)
        size, checked, root = _verify(obj, log_key, witness_keys, details)
    except _Bad as bad:
        return VerifyReport(False, "bundle", size, checked, 1, bad.index, bad.message, details=details)
    return VerifyReport(True, "bundle", size, checked, 1, None, None, root.hex(), details=details)


def _load(src: Mapping[str, Any] | str | Path | bytes) -> Mapping[str, Any]:
    if isinstance(src, Mapping):
        return src
    if isinstance(src, (str, Path)):
        try:
            data = Path(src).read_bytes()
        except OSError as exc:
            raise _Bad(f"cannot read bundle {src}: {exc.strerror}") from exc
    else:
        data = bytes(src)
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _Bad(f"bundle is not valid JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise _Bad("bundle is not a JSON object")
    try:
        canon = canonical_bytes(obj)
    except LedgerError as exc:
        raise _Bad(f"bundle cannot be canonicalised: {exc.message}") from exc
    if canon != data:
        raise _Bad("bundle file is not in canonical form (it was edited)")
    return obj


def _verify(
    obj: Mapping[str, Any],
    trusted_log_key: str | None,
    trusted_witnesses: Sequence[str] | None,
    details: dict[str, Any],
) -> tuple[int, int, bytes]:
    if tuple(sorted(obj)) != _KEYS:
        raise _Bad(f"bundle has fields {sorted(obj)}, expected {list(_KEYS)}")
    if obj["format"] != FORMAT:
        raise _Bad(f"unknown bundle format {obj['format']!r}")
    if obj["mode"] not in ("full", "inclusion"):
        raise _Bad(f"unknown bundle mode {obj['mode']!r}")
    if not isinstance(obj["log_key"], str) or not isinstance(obj["checkpoint"], str):
        raise _Bad("bundle log_key and checkpoint must be strings")
    if trusted_log_key is not None and obj["log_key"] != trusted_log_key:
        raise _Bad("bundle is signed by a different log key than the trusted one")
    wkeys = obj["witness_keys"]
    if not isinstance(wkeys, list) or not all(isinstance(k, str) for k in wkeys):
        raise _Bad("bundle witness_keys must be a list of strings")
    if trusted_witnesses is not None and not set(trusted_witnesses) <= set(wkeys):
        raise _Bad("bundle lacks cosignatures from a required witness")
    try:
        log_verifier = Ed25519Verifier.from_vkey(obj["log_key"])
        witnesses: list[Verifier] = [verifier_from_vkey(k) for k in wkeys]
    except LedgerError as exc:
        raise _Bad(f"bundle key: {exc.message}") from exc
    if not all(isinstance(w, CosignatureV1Verifier) for w in witnesses):
        raise _Bad("bundle witness keys must be cosignature (type 0x04) keys")
    try:
        cp, opened = open_checkpoint(obj["checkpoint"], [log_verifier, *witnesses])
    except VerificationError as exc:
        raise _Bad(f"checkpoint: {exc.message}") from exc
    signers = {(s.name, s.key_id) for s in opened.verified}
    if (log_verifier.name, log_verifier.key_id) not in signers:
        raise _Bad("checkpoint is not signed by the log key")
    if opened.unverified:
        raise _Bad(f"checkpoint carries {len(opened.unverified)} signature(s) from keys not in the bundle")
    missing = [w.name for w in witnesses if (w.name, w.key_id) not in signers]
    if missing:
        raise _Bad(f"checkpoint lacks cosignatures of listed witnesses: {missing}")
    details.update(origin=cp.origin, log_key=obj["log_key"], witnesses=[w.name for w in witnesses])
    entries = obj["entries"]
    if not isinstance(entries, list):
        raise _Bad("bundle entries must be a list")
    full = obj["mode"] == "full"
    rng = CompactRange()
    last = -1
    for n, item in enumerate(entries):
        want = ("envelope", "index") if full else ("envelope", "index", "proof")
        if not isinstance(item, dict) or tuple(sorted(item)) != want:
            raise _Bad(f"bundle entry #{n} must have exactly the fields {list(want)}", last + 1)
        index = item["index"]
        if type(index) is not int or index <= last or index >= cp.size or (full and index != n):
            raise _Bad(f"bundle entry #{n} has index {index!r}: out of order or outside the tree", last + 1)
        try:
            raw = b64decode_strict(item["envelope"]) if isinstance(item["envelope"], str) else None
            if raw is None:
                raise ValueError("envelope is not a string")
            entry = Entry.from_bytes(raw, check_canonical=True)
        except (ValueError, VerificationError, LedgerError) as exc:
            raise _Bad(f"entry {index}: {getattr(exc, 'message', exc)}", index) from exc
        if entry.index != index:
            raise _Bad(f"entry {index}: its envelope says index {entry.index}", index)
        leaf = hash_leaf(raw)
        if full:
            rng.append(leaf)
        else:
            proof = item["proof"]
            try:
                if not isinstance(proof, list) or not all(isinstance(p, str) for p in proof):
                    raise ValueError("proof must be a list of base64 strings")
                hashes = [b64decode_strict(p) for p in proof]
                _proof.verify_inclusion(index, cp.size, leaf, hashes, cp.root)
            except (ValueError, VerificationError) as exc:
                raise _Bad(f"entry {index}: inclusion proof fails: {getattr(exc, 'message', exc)}", index) from exc
        last = index
    if full:
        if rng.size != cp.size:
            raise _Bad(f"full bundle has {rng.size} entries but the checkpoint size is {cp.size}", rng.size)
        if rng.root() != cp.root:
            raise _Bad("the entries do not hash to the checkpoint root", 0)
    return cp.size, len(entries), cp.root
