"""Log entries: an RFC 8785 (JCS) canonical JSON envelope; the Merkle leaf is exactly its bytes.

Envelope (every key always present; keys in JCS order):

    action            str   what happened, e.g. "start", "step", "export"
    actor             str   who did it (user id, "engine", "system", ...)
    category          str   one of CATEGORIES
    cycle             int | null   engine cycle number (category "cycle"), else null
    index             int   position in the log, 0-based; equals the leaf index
    payload           object   the details; its form depends on payload_encoding
    payload_encoding  str   "json" (plain object); reserved: "aes-256-gcm" (ciphertext fields), "erased"
    run               str | null   run id
    subject           str | null   pseudonym of the data subject (never a real identity)
    tenant            str   tenant id
    time              str   UTC, "YYYY-MM-DDTHH:MM:SS.ffffffZ"
    v                 int   envelope version, 1

Canonicalisation: `canonical_bytes` gives RFC 8785 bytes. The pure-Python `rfc8785` package is slow, so
values built only from str / int (|n| <= 2^53-1) / bool / None / dict / list take a fast path through the C
`json` encoder, which produces identical bytes for those types (same escapes, no whitespace, UTF-8; key
order is equal because Python's code-point order equals JCS's UTF-16 order for BMP-only keys). Anything
else (floats, non-BMP keys, subclasses) goes through `rfc8785`. A hypothesis test proves the equality.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from hashlib import sha256
from json.encoder import encode_basestring as _c_encode_str
from typing import Any

import rfc8785

from omnimind.errors import LedgerError, VerificationError

ENVELOPE_VERSION = 1
CATEGORIES = frozenset({"run", "cycle", "config", "snapshot", "governance", "security", "system", "audit", "privacy"})
PAYLOAD_ENCODINGS = frozenset({"json", "aes-256-gcm", "erased"})
ENVELOPE_KEYS = (
    "action",
    "actor",
    "category",
    "cycle",
    "index",
    "payload",
    "payload_encoding",
    "run",
    "subject",
    "tenant",
    "time",
    "v",
)
_MAX_SAFE = 2**53 - 1
_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, check_circular=False
)
_LIMITS = {"category": 32, "action": 64, "actor": 200, "tenant": 64, "subject": 128, "run": 64}
# The C encoder `_ENCODER.encode` builds on every call, built once (same arguments as `JSONEncoder.iterencode`).
_c_make_encoder: Callable[..., Callable[[Any, int], Sequence[str]]] | None = getattr(
    json.encoder, "c_make_encoder", None
)
_C_ITER = (
    _c_make_encoder(None, _ENCODER.default, _c_encode_str, None, ":", ",", True, False, False)
    if _c_make_encoder is not None
    else None
)


def json_text(obj: Any) -> str:
    """`_ENCODER.encode(obj)` without rebuilding the C encoder per call (sorted keys, no whitespace, no NaN)."""
    if _C_ITER is None or type(obj) is str:
        return _ENCODER.encode(obj)
    return "".join(_C_ITER(obj, 0))


def _fast_ok(obj: Any) -> bool:
    """True if `obj` holds only values whose C-`json` encoding equals their RFC 8785 encoding."""
    t = type(obj)
    if t is dict:
        for k, v in obj.items():
            if type(k) is not str or (not k.isascii() and max(k) > "\uffff"):
                return False
            tv = type(v)
            if tv is str or tv is bool or v is None:
                continue
            if tv is int:
                if not -_MAX_SAFE <= v <= _MAX_SAFE:
                    return False
                continue
            if not _fast_ok(v):
                return False
        return True
    if t is str or t is bool or obj is None:
        return True
    if t is int:
        return bool(-_MAX_SAFE <= obj <= _MAX_SAFE)
    if t is list or t is tuple:
        return all(_fast_ok(v) for v in obj)
    return False


def canonical_bytes(obj: Any) -> bytes:
    """RFC 8785 canonical JSON bytes of `obj` (fast path when possible, else the `rfc8785` package)."""
    if _fast_ok(obj):
        try:
            return json_text(obj).encode("utf-8")
        except UnicodeEncodeError:
            pass  # lone surrogates: let rfc8785 raise its error
    try:
        return bytes(rfc8785.dumps(obj))
    except rfc8785.CanonicalizationError as exc:
        raise LedgerError(f"value cannot be canonicalised as RFC 8785 JSON: {exc}") from exc


@dataclass(frozen=True)
class NewEntry:
    """An entry to append; the log assigns `index` (and `time`, when None)."""

    category: str
    action: str
    payload: Mapping[str, Any]
    actor: str
    tenant: str = "default"
    subject: str | None = None
    run: str | None = None
    cycle: int | None = None
    time: str | None = None


def _check_str(name: str, value: object, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if type(value) is not str or not value:
        raise LedgerError(f"entry field {name!r} must be a non-empty string, got {value!r}")
    if len(value) > _LIMITS[name]:
        raise LedgerError(f"entry field {name!r} is longer than {_LIMITS[name]} characters")


def validate(new: NewEntry) -> None:
    """Raise LedgerError if `new` cannot be logged (the common, valid case is one inline check)."""
    action, actor, tenant, subject, run, cycle, time = (
        new.action,
        new.actor,
        new.tenant,
        new.subject,
        new.run,
        new.cycle,
        new.time,
    )
    if (
        new.category in CATEGORIES
        and type(action) is str
        and 0 < len(action) <= 64
        and type(actor) is str
        and 0 < len(actor) <= 200
        and type(tenant) is str
        and 0 < len(tenant) <= 64
        and (subject is None or (type(subject) is str and 0 < len(subject) <= 128))
        and (run is None or (type(run) is str and 0 < len(run) <= 64))
        and (cycle is None or (type(cycle) is int and 0 <= cycle <= _MAX_SAFE))
        and (time is None or (type(time) is str and len(time) <= 32))
        and (type(new.payload) is dict or isinstance(new.payload, Mapping))
    ):
        return
    _validate_slow(new)


def _validate_slow(new: NewEntry) -> None:
    if new.category not in CATEGORIES:
        raise LedgerError(f"unknown ledger category {new.category!r}", f"use one of {', '.join(sorted(CATEGORIES))}")
    _check_str("action", new.action)
    _check_str("actor", new.actor)
    _check_str("tenant", new.tenant)
    _check_str("subject", new.subject, optional=True)
    _check_str("run", new.run, optional=True)
    if new.cycle is not None and (type(new.cycle) is not int or not 0 <= new.cycle <= _MAX_SAFE):
        raise LedgerError(f"entry field 'cycle' must be a non-negative integer, got {new.cycle!r}")
    if new.time is not None and (type(new.time) is not str or len(new.time) > 32):
        raise LedgerError(f"entry field 'time' must be an ISO 8601 string, got {new.time!r}")
    if not isinstance(new.payload, Mapping):
        raise LedgerError(f"entry payload must be a JSON object, got {type(new.payload).__name__}")


def envelope(
    index: int,
    time: str,
    new: NewEntry,
    *,
    payload: Mapping[str, Any] | None = None,
    payload_encoding: str = "json",
) -> dict[str, Any]:
    """The envelope object of `new` at `index` (payload/encoding overridable for encrypted payloads)."""
    return {
        "action": new.action,
        "actor": new.actor,
        "category": new.category,
        "cycle": new.cycle,
        "index": index,
        "payload": dict(new.payload if payload is None else payload),
        "payload_encoding": payload_encoding,
        "run": new.run,
        "subject": new.subject,
        "tenant": new.tenant,
        "time": time,
        "v": ENVELOPE_VERSION,
    }


def envelope_bytes(env: dict[str, Any]) -> bytes:
    """Canonical bytes of an envelope built by `envelope` from a validated entry (only the payload needs the
    fast-path check: the other fields are already known to be str / int / None)."""
    if _fast_ok(env["payload"]):
        try:
            return json_text(env).encode()
        except UnicodeEncodeError:
            pass
    return canonical_bytes(env)


def envelope_text(index: int, time: str, new: NewEntry, payload_text: str, payload_encoding: str) -> str:
    """The canonical envelope of a validated `new` as text, given its payload's canonical JSON text: what
    `envelope_bytes(envelope(...)).decode()` gives, built without the dict and the key sort (the hot path).
    `.encode()` raises UnicodeEncodeError on lone surrogates: then take `envelope_bytes`, which refuses them."""
    cycle, run, subject = new.cycle, new.run, new.subject
    return (
        f'{{"action":{_c_encode_str(new.action)},"actor":{_c_encode_str(new.actor)},'
        f'"category":{_c_encode_str(new.category)},"cycle":{"null" if cycle is None else int.__repr__(cycle)},'
        f'"index":{int.__repr__(index)},"payload":{payload_text},'
        f'"payload_encoding":{_c_encode_str(payload_encoding)},'
        f'"run":{"null" if run is None else _c_encode_str(run)},'
        f'"subject":{"null" if subject is None else _c_encode_str(subject)},'
        f'"tenant":{_c_encode_str(new.tenant)},"time":{_c_encode_str(time)},"v":{ENVELOPE_VERSION}}}'
    )


def entry_bytes(index: int, time: str, new: NewEntry) -> bytes:
    """`envelope_bytes(envelope(index, time, new))` of a validated `new` with its plain payload, through
    `envelope_text` when the payload is a dict of fast-path values (the hot path)."""
    payload = new.payload
    if type(payload) is dict and _fast_ok(payload):
        try:
            return envelope_text(index, time, new, json_text(payload), "json").encode()
        except UnicodeEncodeError:
            pass
    return envelope_bytes(envelope(index, time, new))


class CycleEncoder:
    """Byte-identical canonical envelopes for per-cycle entries, from a template (the hot path).

    Payload: {"cycle": n, "inputs_digest": str, "state_digest": str}. Equality with the generic path is
    a test (`test_entry.py`).
    """

    __slots__ = ("_mid", "_tail")

    def __init__(self, *, run: str, actor: str, tenant: str, time: str, action: str = "step") -> None:
        validate(NewEntry("cycle", action, {}, actor, tenant, None, run, 0))
        head = f'{{"action":{_c_encode_str(action)},"actor":{_c_encode_str(actor)},"category":"cycle","cycle":'
        self._mid = (head, ',"index":', ',"payload":{"cycle":', ',"inputs_digest":', ',"state_digest":')
        self._tail = (
            f'}},"payload_encoding":"json","run":{_c_encode_str(run)},"subject":null,'
            f'"tenant":{_c_encode_str(tenant)},"time":{_c_encode_str(time)},"v":{ENVELOPE_VERSION}}}'
        )

    def encode(self, index: int, cycle: int, state_digest: str, inputs_digest: str) -> bytes:
        if type(cycle) is not int or not 0 <= cycle <= _MAX_SAFE or type(state_digest) is not str:
            raise LedgerError(f"bad cycle record ({cycle!r}, {state_digest!r}, {inputs_digest!r})")
        if type(inputs_digest) is not str:
            raise LedgerError(f"bad cycle record ({cycle!r}, {state_digest!r}, {inputs_digest!r})")
        a, b, c, d, e = self._mid
        c_ = str(cycle)
        try:
            return (
                f"{a}{c_}{b}{index}{c}{c_}{d}{_c_encode_str(inputs_digest)}{e}{_c_encode_str(state_digest)}{self._tail}"
            ).encode()
        except UnicodeEncodeError as exc:
            raise LedgerError(f"cycle record digest is not valid text: {exc}") from exc


@dataclass(frozen=True)
class Entry:
    """A logged entry, parsed from its canonical bytes (`raw`, the Merkle leaf)."""

    index: int
    time: str
    category: str
    action: str
    actor: str
    tenant: str
    subject: str | None
    run: str | None
    cycle: int | None
    payload: dict[str, Any]
    payload_encoding: str
    raw: bytes = field(repr=False)

    @property
    def leaf_hash(self) -> bytes:
        return sha256(b"\x00" + self.raw).digest()

    def to_dict(self) -> dict[str, Any]:
        """The envelope as a JSON-ready dict."""
        return {k: getattr(self, k) for k in ENVELOPE_KEYS if k != "v"} | {"v": ENVELOPE_VERSION}

    @classmethod
    def from_bytes(cls, raw: bytes, *, check_canonical: bool = False) -> Entry:
        """Parse and validate envelope bytes; raise VerificationError if they are not a valid envelope."""
        try:
            obj = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise VerificationError(f"entry bytes are not JSON: {exc}") from exc
        if not isinstance(obj, dict) or tuple(sorted(obj)) != ENVELOPE_KEYS:
            keys = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
            raise VerificationError(f"entry envelope has the wrong fields: {keys}")
        if obj["v"] != ENVELOPE_VERSION or type(obj["v"]) is not int:
            raise VerificationError(f"entry envelope version {obj['v']!r} is not {ENVELOPE_VERSION}")
        index = obj["index"]
        if type(index) is not int or index < 0:
            raise VerificationError(f"entry envelope index {index!r} is not a non-negative integer")
        strs = ("time", "category", "action", "actor", "tenant", "payload_encoding")
        if any(type(obj[k]) is not str for k in strs) or any(
            obj[k] is not None and type(obj[k]) is not str for k in ("subject", "run")
        ):
            raise VerificationError(f"entry {index}: envelope field of the wrong type")
        if obj["cycle"] is not None and type(obj["cycle"]) is not int:
            raise VerificationError(f"entry {index}: envelope cycle {obj['cycle']!r} is not an integer")
        if not isinstance(obj["payload"], dict):
            raise VerificationError(f"entry {index}: payload is not an object")
        if obj["payload_encoding"] not in PAYLOAD_ENCODINGS:
            raise VerificationError(f"entry {index}: unknown payload encoding {obj['payload_encoding']!r}")
        if check_canonical and canonical_bytes(obj) != raw:
            raise VerificationError(f"entry {index}: envelope bytes are not RFC 8785 canonical JSON")
        return cls(
            index=index,
            time=obj["time"],
            category=obj["category"],
            action=obj["action"],
            actor=obj["actor"],
            tenant=obj["tenant"],
            subject=obj["subject"],
            run=obj["run"],
            cycle=obj["cycle"],
            payload=obj["payload"],
            payload_encoding=obj["payload_encoding"],
            raw=bytes(raw),
        )


def encode_entries(start: int, time: str, entries: Sequence[NewEntry]) -> list[bytes]:
    """Canonical envelope bytes for `entries` at indices start, start+1, ... (validates each; the generic
    path, the reference the fast encoders are tested against)."""
    out = []
    for i, new in enumerate(entries):
        validate(new)
        out.append(envelope_bytes(envelope(start + i, new.time or time, new)))
    return out
