"""Encrypted payload fields for the ledger (`Ledger(..., payload_codec=EncryptingCodec(keyring))`).

An entry declares sensitive fields by listing their names under the reserved payload key `_sensitive`:

    {"text": "...", "n": 3, "_sensitive": ["text"]}

The codec, called under the append lock with the entry's final index, moves those fields into one
AES-256-GCM ciphertext under the data key of (subject, category, UTC day) and commits instead

    {"n": 3, "_enc": {"ct": b64, "fields": ["text"], "kid": "…", "nonce": b64}}   payload_encoding "aes-256-gcm"

Associated data = canonical JSON {"category", "index", "kid", "subject"}: a ciphertext moved to another
index, category or subject does not decrypt. The leaf commits to the ciphertext, so shredding the key later
never changes a leaf hash. Entries without `_sensitive` stay plain "json" payloads.
"""

from __future__ import annotations

import binascii
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from json.encoder import encode_basestring as _encode_str
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from omnimind import clock
from omnimind.errors import LedgerError, VerificationError
from omnimind.ledger._util import b64decode_strict, b64encode
from omnimind.ledger.entry import Entry, NewEntry, _fast_ok, canonical_bytes, json_text
from omnimind.ledger.keys import Keyring

SENSITIVE = "_sensitive"
ENCRYPTED = "_enc"
ENCODING = "aes-256-gcm"
_dumps = json.JSONEncoder(ensure_ascii=False).encode


def associated_data(index: int, category: str, subject: str | None, kid: str) -> bytes:
    """What a ciphertext is bound to (RFC 8785 canonical JSON; keys already in order)."""
    return (f'{{"category":{_dumps(category)},"index":{index},"kid":{_dumps(kid)},'
            f'"subject":{_dumps(subject)}}}').encode()


def split_sensitive(payload: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(clear fields, sensitive fields) of a payload that may carry `_sensitive`."""
    names = payload.get(SENSITIVE)
    if names is None:
        return dict(payload), {}
    if type(names) is not list or ENCRYPTED in payload:
        raise LedgerError(f"payload key {SENSITIVE!r} must be a list of field names ({ENCRYPTED!r} is reserved)")
    clear = dict(payload)
    del clear[SENSITIVE]
    try:
        secret = {n: clear.pop(n) for n in names}
    except (KeyError, TypeError) as exc:
        raise LedgerError(f"a field declared sensitive is not in the payload: {exc}") from exc
    return clear, secret


class EncryptingCodec:
    """The ledger's `PayloadCodec`: encrypts declared-sensitive fields; `debug_unencrypted` writes them in clear
    (marked `"_debug_unencrypted": true`) for local debugging only."""

    def __init__(self, keyring: Keyring, *, debug_unencrypted: bool = False) -> None:
        self.keyring = keyring
        self.debug_unencrypted = debug_unencrypted
        self._ciphers: dict[tuple[str | None, str, str], tuple[str, AESGCM, str, str]] = {}
        self._generation = -1
        self._day: tuple[float, str] = (0.0, "")
        keyring.on_keys_dropped(self._drop_ciphers)

    def _drop_ciphers(self) -> None:
        """Forget every cached cipher (a key was destroyed or replaced: none may outlive the keyring's copy)."""
        self._ciphers.clear()

    def _today(self) -> str:
        now = time.time()
        if now >= self._day[0]:
            day = clock.iso()[:10]
            self._day = (clock.parse_iso(day + "T00:00:00Z").timestamp() + 86_400, day)
        return self._day[1]

    def _cipher(self, subject: str | None, category: str, epoch: str) -> tuple[str, AESGCM, str, str]:
        if self._generation != self.keyring.generation:  # a key was destroyed or replaced: forget all
            self._ciphers.clear()
            self._generation = self.keyring.generation
        scope = (subject, category, epoch)
        got = self._ciphers.get(scope)
        if got is None:
            dk = self.keyring.key_for(subject, category, epoch)
            head, tail = associated_data(0, category, subject, dk.kid).decode().split('"index":0', 1)
            got = self._ciphers[scope] = (dk.kid, AESGCM(dk.key), head + '"index":', tail)
        return got

    def _encrypt(self, index: int, new: NewEntry, plaintext: bytes) -> tuple[str, bytes, bytes]:
        """(kid, nonce, ciphertext) of `plaintext` under the entry's data key; a fresh random 96-bit nonce."""
        epoch = new.time[:10] if new.time else self._today()
        kid, aes, head, tail = self._cipher(new.subject, new.category, epoch)
        nonce = os.urandom(12)
        return kid, nonce, aes.encrypt(nonce, plaintext, f"{head}{index}{tail}".encode())

    def __call__(self, index: int, new: NewEntry) -> tuple[str, Mapping[str, Any]]:
        payload = new.payload
        if SENSITIVE not in payload:
            if ENCRYPTED in payload:
                raise LedgerError(f"payload key {ENCRYPTED!r} is reserved")
            return "json", payload
        clear, secret = split_sensitive(payload)
        if self.debug_unencrypted:
            return "json", {**clear, **secret, "_debug_unencrypted": True}
        kid, nonce, ct = self._encrypt(index, new, canonical_bytes(secret))
        clear[ENCRYPTED] = {"ct": b64encode(ct), "fields": sorted(secret), "kid": kid, "nonce": b64encode(nonce)}
        return ENCODING, clear

    def encode_text(self, index: int, new: NewEntry) -> tuple[str, str] | None:
        """(payload_encoding, canonical JSON text of the payload to commit): what `__call__` commits, built as
        text (the ledger's hot path), or None when the payload needs the generic path (`__call__`): not a
        plain dict, values outside the fast canonical path (floats, non-BMP keys), debug mode, lone surrogates."""
        payload = new.payload
        if type(payload) is not dict or self.debug_unencrypted:
            return None
        if SENSITIVE not in payload:
            if ENCRYPTED in payload or not _fast_ok(payload):
                return None
            return "json", json_text(payload)
        clear, secret = split_sensitive(payload)
        if not (_fast_ok(clear) and _fast_ok(secret)):
            return None
        try:
            plaintext = json_text(secret).encode()
        except UnicodeEncodeError:
            return None
        kid, nonce, ct = self._encrypt(index, new, plaintext)
        fields = ",".join([_encode_str(n) for n in sorted(secret)])  # the C encoder's text of a str list
        enc = (f'"{ENCRYPTED}":{{"ct":"{_b64(ct)}","fields":[{fields}],"kid":{_encode_str(kid)},'
               f'"nonce":"{_b64(nonce)}"}}')
        return ENCODING, _insert_member(clear, ENCRYPTED, enc)

    def decode(self, entry: Entry) -> Decoded:
        """The entry's payload with sensitive fields decrypted, or marked erased when the key is destroyed.
        Raises VerificationError if a ciphertext or its associated data was tampered with."""
        return decode_payload(entry, self.keyring)


def _b64(data: bytes) -> str:
    """Standard padded base64 (`_util.b64encode`), without the `base64` module's wrapper."""
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def _insert_member(obj: dict[str, Any], key: str, member: str) -> str:
    """Canonical text of `obj` plus the member text `"key":value` (`key` not in `obj`): the C encoder's sorted
    text of `obj` split at `key`'s place. `obj` must pass `_fast_ok` (BMP keys: Python's order is JCS's)."""
    if not obj:
        return f"{{{member}}}"
    below = [k for k in obj if k < key]
    if not below:
        return f"{{{member},{json_text(obj)[1:]}"
    if len(below) == len(obj):
        return f"{json_text(obj)[:-1]},{member}}}"
    left = json_text({k: obj[k] for k in below})
    right = json_text({k: v for k, v in obj.items() if not k < key})
    return f"{left[:-1]},{member},{right[1:]}"


@dataclass(frozen=True)
class Decoded:
    """A readable payload: `status` is "plain", "decrypted" or "erased" (key destroyed: `erased_fields`)."""

    index: int
    status: str
    payload: dict[str, Any]
    erased_fields: tuple[str, ...] = ()
    kid: str | None = None


def decode_payload(entry: Entry, keyring: Keyring, *, key: bytes | None = None) -> Decoded:
    """Decrypt `entry`'s sensitive fields with its data key (or an explicit `key`, for tests and tools)."""
    if entry.payload_encoding == "json":
        return Decoded(entry.index, "plain", dict(entry.payload))
    if entry.payload_encoding == "erased":
        return Decoded(entry.index, "erased", dict(entry.payload))
    enc = entry.payload.get(ENCRYPTED)
    if not isinstance(enc, dict) or not {"ct", "fields", "kid", "nonce"} <= set(enc):
        raise VerificationError(f"entry {entry.index}: encrypted payload without a valid {ENCRYPTED!r} object")
    clear = {k: v for k, v in entry.payload.items() if k != ENCRYPTED}
    kid = str(enc["kid"])
    if key is None:
        dk = keyring.get(kid)
        if dk is None:
            return Decoded(entry.index, "erased", clear, tuple(enc["fields"]), kid)
        key = dk.key
    try:
        pt = AESGCM(key).decrypt(b64decode_strict(enc["nonce"]), b64decode_strict(enc["ct"]),
                                 associated_data(entry.index, entry.category, entry.subject, kid))
    except (InvalidTag, ValueError) as exc:
        raise VerificationError(
            f"entry {entry.index}: its encrypted payload does not authenticate (ciphertext, index, category "
            "or subject changed, or the wrong key)", "run `omnimind audit verify --full`") from exc
    secret = json.loads(pt)
    if sorted(secret) != list(enc["fields"]):
        raise VerificationError(f"entry {entry.index}: decrypted fields do not match the declared ones")
    return Decoded(entry.index, "decrypted", {**clear, **secret}, (), kid)
