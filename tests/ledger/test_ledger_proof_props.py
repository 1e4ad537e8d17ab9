"""Property tests: every generated proof verifies, and fails when any byte, the index or a size changes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnimind.errors import VerificationError
from omnimind.ledger.compact import CompactRange
from omnimind.ledger.proof import verify_consistency, verify_inclusion
from omnimind.ledger.rfc6962 import hash_leaf, root_from_leaf_hashes
from omnimind.ledger.tree import MerkleTree

MAX = 300
_TREE = MerkleTree(hash_leaf(i.to_bytes(4, "big")) for i in range(MAX))
_LEAVES = [hash_leaf(i.to_bytes(4, "big")) for i in range(MAX)]


@st.composite
def index_and_size(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(st.integers(1, MAX))
    return draw(st.integers(0, size - 1)), size


@settings(max_examples=300, deadline=None)
@given(index_and_size(), st.data())
def test_inclusion_proofs_verify_and_break(case: tuple[int, int], data: st.DataObject) -> None:
    index, size = case
    root = _TREE.root(size)
    proof = _TREE.inclusion_proof(index, size)
    verify_inclusion(index, size, _LEAVES[index], proof, root)
    if proof:  # flip one bit of one byte of one element
        k = data.draw(st.integers(0, len(proof) - 1))
        b = data.draw(st.integers(0, 31))
        bit = data.draw(st.integers(0, 7))
        bad = list(proof)
        bad[k] = bad[k][:b] + bytes([bad[k][b] ^ (1 << bit)]) + bad[k][b + 1 :]
        with pytest.raises(VerificationError):
            verify_inclusion(index, size, _LEAVES[index], bad, root)
    # A different size whose audit path has another shape must fail. (RFC 9162 paths only depend on the
    # path shape, so e.g. leaf 0 has the same path for sizes 129 and 130: the size is bound by the signed
    # checkpoint, which `test_ledger_store` covers.)
    other = data.draw(st.integers(1, MAX).filter(lambda s: s != size))
    if index >= other or len(_TREE.inclusion_proof(index, other)) != len(proof):
        with pytest.raises(VerificationError):
            verify_inclusion(index, other, _LEAVES[index], proof, root)
    with pytest.raises(VerificationError):
        verify_inclusion(index, size * 2 + 1, _LEAVES[index], proof, root)
    if size > 1:
        j = data.draw(st.integers(0, size - 1).filter(lambda j: j != index))
        with pytest.raises(VerificationError):
            verify_inclusion(j, size, _LEAVES[index], proof, root)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, MAX), st.data())
def test_consistency_proofs_verify_and_break(new: int, data: st.DataObject) -> None:
    old = data.draw(st.integers(0, new))
    proof = _TREE.consistency_proof(old, new)
    r1, r2 = _TREE.root(old), _TREE.root(new)
    verify_consistency(old, new, r1, r2, proof)
    if proof:
        k = data.draw(st.integers(0, len(proof) - 1))
        b = data.draw(st.integers(0, 31))
        bad = list(proof)
        bad[k] = bad[k][:b] + bytes([bad[k][b] ^ 0x01]) + bad[k][b + 1 :]
        with pytest.raises(VerificationError):
            verify_consistency(old, new, r1, r2, bad)
        other = data.draw(st.integers(1, MAX).filter(lambda s: s not in (old, new)))
        if other < new and len(_TREE.consistency_proof(other, new)) != len(proof):
            with pytest.raises(VerificationError):
                verify_consistency(other, new, r1, r2, proof)
        if other > old and len(_TREE.consistency_proof(old, other)) != len(proof):
            with pytest.raises(VerificationError):
                verify_consistency(old, other, r1, r2, proof)
        with pytest.raises(VerificationError):
            verify_consistency(old, new, r2, r1, proof)
    if 0 < old < new:
        with pytest.raises(VerificationError):
            verify_consistency(old, new, r1, _TREE.root(new - 1), proof)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=70), st.integers(1, 10))
def test_tree_compact_range_and_reference_agree(entries: list[bytes], chunks: int) -> None:
    leaves = [hash_leaf(e) for e in entries]
    want = root_from_leaf_hashes(leaves)
    tree, rng = MerkleTree(), CompactRange()
    step = max(1, len(leaves) // chunks)
    for i in range(0, len(leaves), step):  # incremental extension in uneven chunks
        tree.extend(leaves[i : i + step])
        rng.extend(leaves[i : i + step])
        assert tree.root() == rng.root() == root_from_leaf_hashes(leaves[: i + step])
    assert tree.root() == rng.root() == want
    for n in range(len(leaves) + 1):
        assert tree.root(n) == root_from_leaf_hashes(leaves[:n])
