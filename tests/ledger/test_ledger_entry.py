"""The entry envelope: the fast canonicaliser is byte-identical to RFC 8785 (the `rfc8785` package)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st
from ledger_helpers import ANY, PLAIN, SAFE

from omnimind.errors import LedgerError, VerificationError
from omnimind.ledger.entry import (
    ENVELOPE_KEYS,
    CycleEncoder,
    Entry,
    NewEntry,
    _fast_ok,
    canonical_bytes,
    encode_entries,
    envelope,
)


@settings(max_examples=600, deadline=None)
@given(PLAIN)
def test_fast_path_equals_rfc8785(value: Any) -> None:
    assert canonical_bytes(value) == rfc8785.dumps(value)


@settings(max_examples=250, deadline=None)
@given(ANY)
def test_any_value_equals_rfc8785(value: Any) -> None:
    assert canonical_bytes(value) == rfc8785.dumps(value)


def test_known_divergences_take_the_slow_path() -> None:
    # JCS orders keys by UTF-16 code units: U+1F600 (surrogates D83D...) sorts before U+E000; Python's
    # code-point order says the opposite. Such objects must not take the fast path.
    obj = {"\ue000": 1, "\U0001f600": 2}
    assert not _fast_ok(obj)
    assert canonical_bytes(obj) == rfc8785.dumps(obj) == '{"\U0001f600":2,"\ue000":1}'.encode()
    assert not _fast_ok(2**53) and not _fast_ok(1.5) and not _fast_ok({1: "int key"})
    assert canonical_bytes([1.0, 1e21, 5e-7]) == b"[1,1e+21,5e-7]"
    with pytest.raises(LedgerError):
        canonical_bytes(2**53)
    with pytest.raises(LedgerError):
        canonical_bytes({"lone": "\ud800"})
    with pytest.raises(LedgerError):
        canonical_bytes(float("nan"))


@settings(max_examples=150, deadline=None)
@given(
    st.integers(0, SAFE),
    st.integers(0, SAFE),
    st.text(max_size=70),
    st.text(max_size=70),
    st.text(min_size=1, max_size=20),
    st.text(min_size=1, max_size=20),
)
def test_cycle_template_is_byte_identical(index: int, cycle: int, sd: str, idg: str, run: str, actor: str) -> None:
    t = "2024-05-01T12:00:00.000001Z"
    new = NewEntry(
        "cycle", "step", {"cycle": cycle, "state_digest": sd, "inputs_digest": idg}, actor, run=run, cycle=cycle
    )
    try:
        want = encode_entries(index, t, [new])[0]
    except LedgerError:
        return  # surrogates: both paths refuse
    got = CycleEncoder(run=run, actor=actor, tenant="default", time=t).encode(index, cycle, sd, idg)
    assert got == want == rfc8785.dumps(json.loads(want))


def test_envelope_fields_and_parse_roundtrip() -> None:
    new = NewEntry("run", "start", {"spec_digest": "00" * 32}, "alice", subject="p-7f3a", run="r1")
    raw = encode_entries(41, "2024-05-01T12:00:00.000000Z", [new])[0]
    assert tuple(json.loads(raw)) == ENVELOPE_KEYS
    e = Entry.from_bytes(raw, check_canonical=True)
    assert (e.index, e.category, e.subject, e.run, e.cycle, e.payload_encoding) == (
        41,
        "run",
        "p-7f3a",
        "r1",
        None,
        "json",
    )
    assert e.to_dict() == json.loads(raw)


@pytest.mark.parametrize(
    "bad",
    [
        NewEntry("nonsense", "x", {}, "a"),
        NewEntry("run", "", {}, "a"),
        NewEntry("run", "x", {}, ""),
        NewEntry("run", "x", [], "a"),  # type: ignore[arg-type]
        NewEntry("cycle", "x", {}, "a", cycle=-1),
        NewEntry("cycle", "x", {}, "a", cycle=True),  # type: ignore[arg-type]
        NewEntry("run", "x" * 65, {}, "a"),
    ],
)
def test_invalid_entries_are_refused(bad: NewEntry) -> None:
    with pytest.raises(LedgerError):
        encode_entries(0, "t", [bad])


def test_parse_rejects_non_envelopes() -> None:
    good = json.loads(encode_entries(0, "t", [NewEntry("run", "x", {}, "a")])[0])
    for bad in (
        b"not json",
        b"[]",
        canonical_bytes({k: v for k, v in good.items() if k != "tenant"}),
        canonical_bytes(good | {"extra": 1}),
        canonical_bytes(good | {"v": 2}),
        canonical_bytes(good | {"index": -1}),
        canonical_bytes(good | {"payload_encoding": "rot13"}),
        canonical_bytes(good | {"payload": "text"}),
    ):
        with pytest.raises(VerificationError):
            Entry.from_bytes(bad)
    with pytest.raises(VerificationError, match="canonical"):
        Entry.from_bytes(json.dumps(good).encode(), check_canonical=True)
    assert envelope(0, "t", NewEntry("run", "x", {}, "a"))["payload"] == {}
