"""The append hot path (`entry_bytes`, `EncryptingCodec.encode_text` + `envelope_text`) is byte-identical to
the generic path (`envelope` + `envelope_bytes`, codec call) and to RFC 8785; cached ciphers die with their key."""

from __future__ import annotations

import json
import types
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import rfc8785
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from ledger_helpers import ANY, CHARS, PLAIN, SAFE, TEXT, make_ledger

from omnimind.errors import LedgerError
from omnimind.ledger import Ledger, NewEntry
from omnimind.ledger import crypto as crypto_mod
from omnimind.ledger.crypto import EncryptingCodec, associated_data, decode_payload
from omnimind.ledger.entry import (
    CATEGORIES,
    _fast_ok,
    canonical_bytes,
    encode_entries,
    entry_bytes,
    envelope,
    envelope_bytes,
    envelope_text,
    json_text,
    validate,
)
from omnimind.ledger.keys import Keyring
from omnimind.storage import sqlite_url

# Keys around "_enc" in sort order (the encrypted member is spliced in there), plus arbitrary text.
KEYS = st.one_of(
    st.sampled_from(["A", "Z", "_", "_a", "_e", "_en", "_enc0", "_f", "a", "i", "text", "é", "\ue000", "\U0001f600"]),
    TEXT,
).filter(lambda k: k not in ("_enc", "_sensitive"))


SUBJECTS = st.sampled_from(["S1", "p-7f3a", "é\u2028", "\U0001f600", 'q"\\'])


def _name(limit: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=CHARS, min_size=1, max_size=limit)


@st.composite
def entries(draw: st.DrawFn, values: st.SearchStrategy[Any], sensitive: bool) -> NewEntry:
    """A valid entry with varied envelope fields; with `sensitive`, some payload fields declared sensitive."""
    clear = draw(st.dictionaries(KEYS, values, max_size=4))
    payload: dict[str, Any] = dict(clear)
    if sensitive:
        secret = draw(st.dictionaries(KEYS, values, min_size=1, max_size=3))
        assume(not set(secret) & set(clear))
        payload.update(secret)
        payload["_sensitive"] = list(reversed(list(secret)))
    return NewEntry(
        draw(st.sampled_from(sorted(CATEGORIES))),
        draw(_name(64)),
        payload,
        draw(_name(200)),
        draw(_name(64)),
        draw(st.none() | (SUBJECTS if sensitive else _name(128))),  # few subjects: few data keys to create
        draw(st.none() | _name(64)),
        draw(st.none() | st.integers(0, SAFE)),
        draw(st.none() | st.sampled_from(["2024-05-01T12:00:00.000001Z", "2031-12-31T23:59:59.999999Z"])),
    )


TIME = "2024-05-01T12:00:00.123456Z"


@settings(max_examples=250, deadline=None)
@given(entries(PLAIN, sensitive=False), st.integers(0, SAFE))
def test_plain_fast_path_equals_generic_and_rfc8785(new: NewEntry, index: int) -> None:
    validate(new)
    want = encode_entries(index, TIME, [new])[0]
    assert entry_bytes(index, new.time or TIME, new) == want
    assert want == rfc8785.dumps(json.loads(want))


@settings(max_examples=200, deadline=None)
@given(entries(ANY, sensitive=False), st.integers(0, SAFE))
def test_plain_payloads_outside_the_fast_path_still_agree(new: NewEntry, index: int) -> None:
    assert entry_bytes(index, new.time or TIME, new) == encode_entries(index, TIME, [new])[0]


def test_json_text_equals_the_stdlib_encoder() -> None:
    enc = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    for value in ({"b": [1, None, True], "a": {"z": "é\n", "y": -3}}, [], {}, "x\u2028", 7, None):
        assert json_text(value) == enc.encode(value)


@pytest.fixture(scope="module")
def codec(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EncryptingCodec]:
    yield EncryptingCodec(Keyring(tmp_path_factory.mktemp("keys")))


def _fixed_nonce(nonce: bytes) -> Any:
    """Patch only the codec module's `os.urandom`, so both paths encrypt under the same nonce."""
    return mock.patch.object(crypto_mod, "os", types.SimpleNamespace(urandom=lambda n: nonce[:n]))


def _generic(codec: EncryptingCodec, index: int, new: NewEntry) -> bytes:
    encoding, payload = codec(index, new)
    return envelope_bytes(envelope(index, new.time or TIME, new, payload=payload, payload_encoding=encoding))


def _fast(codec: EncryptingCodec, index: int, new: NewEntry) -> bytes | None:
    got = codec.encode_text(index, new)
    if got is None:
        return None
    return envelope_text(index, new.time or TIME, new, got[1], got[0]).encode()


def _check_encrypted(codec: EncryptingCodec, new: NewEntry, index: int, nonce: bytes) -> bytes | None:
    validate(new)
    with _fixed_nonce(nonce):
        want = _generic(codec, index, new)
        got = _fast(codec, index, new)
    if got is None:
        return None
    assert got == want == rfc8785.dumps(json.loads(got))  # fast-path values (no floats) survive the round trip
    # The ciphertext is exactly the generic one: the canonical secret under the canonical associated data.
    env = json.loads(got)
    enc = env["payload"]["_enc"]
    key = codec.keyring.get(enc["kid"])
    assert key is not None
    secret = {k: new.payload[k] for k in new.payload["_sensitive"]}
    pt = AESGCM(key.key).decrypt(
        nonce, crypto_mod.b64decode_strict(enc["ct"]), associated_data(index, new.category, new.subject, enc["kid"])
    )
    assert pt == canonical_bytes(secret) == rfc8785.dumps(secret)
    return got


@settings(max_examples=200, deadline=None)
@given(entries(PLAIN, sensitive=True), st.integers(0, SAFE), st.binary(min_size=12, max_size=12))
def test_encrypted_fast_path_is_byte_identical(codec: EncryptingCodec, new: NewEntry, index: int, nonce: bytes) -> None:
    clear = {k: v for k, v in new.payload.items() if k not in new.payload["_sensitive"] and k != "_sensitive"}
    secret = {k: new.payload[k] for k in new.payload["_sensitive"]}
    got = _check_encrypted(codec, new, index, nonce)
    # The fast path is taken unless a key outside the BMP forces the generic one.
    assert (got is not None) == (_fast_ok(clear) and _fast_ok(secret))


@settings(max_examples=150, deadline=None)
@given(entries(ANY, sensitive=True), st.integers(0, SAFE), st.binary(min_size=12, max_size=12))
def test_encrypted_payloads_outside_the_fast_path_still_agree(
    codec: EncryptingCodec, new: NewEntry, index: int, nonce: bytes
) -> None:
    _check_encrypted(codec, new, index, nonce)


@settings(max_examples=100, deadline=None)
@given(entries(PLAIN, sensitive=False), st.integers(0, SAFE))
def test_codec_plain_payloads_take_the_same_path(codec: EncryptingCodec, new: NewEntry, index: int) -> None:
    validate(new)
    got = _fast(codec, index, new)
    assert got is None or got == _generic(codec, index, new) == encode_entries(index, TIME, [new])[0]


def test_fast_path_refuses_what_the_generic_path_refuses(codec: EncryptingCodec) -> None:
    lone = NewEntry("run", "x", {"t": "\ud800", "_sensitive": ["t"]}, "a", subject="s")
    assert codec.encode_text(0, lone) is None
    with pytest.raises(LedgerError):
        _generic(codec, 0, lone)
    for bad in ({"t": 1, "_sensitive": ["u"]}, {"t": 1, "_sensitive": "t"}, {"_enc": 1, "_sensitive": []}):
        new = NewEntry("run", "x", bad, "a", subject="s")
        with pytest.raises(LedgerError):
            codec.encode_text(0, new)
        with pytest.raises(LedgerError):
            codec(0, new)
    assert codec.encode_text(0, NewEntry("run", "x", {"_enc": 1}, "a")) is None  # generic path raises
    with pytest.raises(LedgerError):
        codec(0, NewEntry("run", "x", {"_enc": 1}, "a"))


def test_nonces_are_fresh(codec: EncryptingCodec) -> None:
    new = NewEntry("run", "x", {"t": "same", "_sensitive": ["t"]}, "a", subject="s")
    nonces = set()
    for _ in range(50):
        got = codec.encode_text(3, new)
        assert got is not None
        nonces.add(json.loads(got[1])["_enc"]["nonce"])
    assert len(nonces) == 50


class _MappingPayload(Mapping[str, Any]):
    def __init__(self, data: dict[str, Any]) -> None:
        self._d = data

    def __getitem__(self, k: str) -> Any:
        return self._d[k]

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)


def test_ledger_appends_mixed_entries_readably(tmp_path: Path) -> None:
    kr = Keyring(tmp_path / "keys")
    ledger = make_ledger(sqlite_url(tmp_path / "lab.db"), tmp_path / "log.key")
    ledger = Ledger(ledger.engine, ledger.signer, ledger.origin, payload_codec=EncryptingCodec(kr))
    batch = [
        NewEntry("run", "a", {"i": 1, "text": "é\n", "_sensitive": ["text"]}, "u", subject="S1"),
        NewEntry("run", "b", {"x": 1.5, "y": "s", "_sensitive": ["y"]}, "u", subject="S2"),  # float: generic
        NewEntry("config", "c", {"k": [1, None]}, "u"),
        NewEntry("run", "d", _MappingPayload({"z": "m", "_sensitive": ["z"]}), "u", subject="S1"),  # generic
        NewEntry("run", "e", {"A": 0, "_a": [1], "b": {"c": None}, "q": "s", "_sensitive": ["q", "b"]}, "u"),
    ]
    ix = ledger.append_batch(batch)
    for i, new in zip(ix, batch, strict=True):
        entry = ledger.entry(i)
        assert entry.raw == canonical_bytes(json.loads(entry.raw))
        decoded = decode_payload(entry, kr)
        assert decoded.payload == {k: v for k, v in new.payload.items() if k != "_sensitive"}
        assert decoded.status == ("plain" if "_sensitive" not in new.payload else "decrypted")
    assert ledger.verify(full=True).ok
    ledger.engine.dispose()


def test_destroying_a_key_drops_the_cached_cipher_at_once(tmp_path: Path) -> None:
    kr = Keyring(tmp_path / "keys")
    codec = EncryptingCodec(kr)
    new = NewEntry("run", "x", {"t": "secret", "_sensitive": ["t"]}, "a", subject="S1")
    other = NewEntry("run", "x", {"t": "kept", "_sensitive": ["t"]}, "a", subject="S2")
    got = codec.encode_text(0, new)
    codec.encode_text(1, other)
    assert got is not None
    old_kid = json.loads(got[1])["_enc"]["kid"]
    assert old_kid in {c[0] for c in codec._ciphers.values()}
    assert kr.shred(kr.keys_of_subject("S1"), "erasure") == [old_kid]
    assert codec._ciphers == {}  # dropped when the key was destroyed, not at the next append
    again = codec.encode_text(2, new)
    assert again is not None
    assert json.loads(again[1])["_enc"]["kid"] != old_kid  # a new key, never the destroyed one
    assert old_kid not in {c[0] for c in codec._ciphers.values()}


def test_restore_without_a_key_drops_the_cached_cipher(tmp_path: Path) -> None:
    kr = Keyring(tmp_path / "keys")
    codec = EncryptingCodec(kr)
    got = codec.encode_text(0, NewEntry("run", "x", {"t": "s", "_sensitive": ["t"]}, "a", subject="S1"))
    assert got is not None
    kid = json.loads(got[1])["_enc"]["kid"]
    kr.backup(tmp_path / "b.keys", "pw")
    kr.restore(Keyring.read_backup(tmp_path / "b.keys", "pw"), never_restore={kid})
    assert codec._ciphers == {} and kr.get(kid) is None


def test_cycle_entries_take_the_fast_path_with_a_codec_byte_identically(tmp_path: Path) -> None:
    """A lab ledger always has a codec; per-cycle entries (never sensitive) still use the cycle encoder, and
    commit exactly what the generic path commits for the same entries, with or without the codec."""
    kr = Keyring(tmp_path / "keys")
    base = make_ledger(sqlite_url(tmp_path / "a.db"), tmp_path / "log.key")
    coded = Ledger(base.engine, base.signer, base.origin, payload_codec=EncryptingCodec(kr))
    other = make_ledger(sqlite_url(tmp_path / "b.db"), tmp_path / "log.key")
    records = [(c, f"{c * 7919:064x}", "ab" * 32) for c in range(1, 40)]
    with mock.patch("omnimind.clock.iso", return_value="2026-11-26T00:00:00.000000Z"):
        fast = coded.append_cycles("run-1", records, tenant="t1")
        slow = other.append_batch([NewEntry("cycle", "step", {"cycle": c, "state_digest": s, "inputs_digest": d},
                                            "engine", "t1", None, "run-1", c) for c, s, d in records])
    assert list(fast) == slow
    for i in fast:
        assert coded.entry(i).raw == other.entry(i).raw
        assert coded.entry(i).payload_encoding == "json"
    assert coded.verify(full=True).ok and other.verify(full=True).ok
    base.engine.dispose()
    other.engine.dispose()
