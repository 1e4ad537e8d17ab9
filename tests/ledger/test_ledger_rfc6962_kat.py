"""Known-answer tests for RFC 6962 hashing and RFC 9162 proofs.

Vectors: transparency-dev/merkle, proof/verify_test.go (`leaves`, `roots`, `inclusionProofs`,
`consistencyProofs`, and the corruption probes of `corruptInclusionProof` / `corruptConsistencyProof`),
https://github.com/transparency-dev/merkle/blob/main/proof/verify_test.go — the Certificate Transparency
test vectors for the 8 standard leaves.
"""

from __future__ import annotations

import hashlib

import pytest

from omnimind.errors import LedgerError, VerificationError
from omnimind.ledger.compact import CompactRange
from omnimind.ledger.proof import root_from_inclusion_proof, verify_consistency, verify_inclusion
from omnimind.ledger.rfc6962 import EMPTY_ROOT, hash_children, hash_leaf, root_from_leaf_hashes
from omnimind.ledger.tree import MerkleTree


def h(s: str) -> bytes:
    return bytes.fromhex(s)


LEAVES = [
    h(x) for x in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f")
]
ROOTS = [
    h(x)
    for x in (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]
# (leaf number, 1-based as in the Go test; tree size; proof)
INCLUSION = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (3, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        2,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]
SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")


@pytest.fixture(scope="module")
def tree() -> MerkleTree:
    return MerkleTree(hash_leaf(x) for x in LEAVES)


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert MerkleTree().root() == EMPTY_ROOT
    assert CompactRange().root() == EMPTY_ROOT
    assert root_from_leaf_hashes([]) == EMPTY_ROOT


def test_leaf_and_node_hash_domain_separation() -> None:
    assert hash_leaf(b"") == hashlib.sha256(b"\x00").digest() == ROOTS[0]
    assert hash_children(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_of_the_eight_standard_leaves(tree: MerkleTree, size: int) -> None:
    leaves = [hash_leaf(x) for x in LEAVES[:size]]
    assert tree.root(size) == ROOTS[size - 1]
    assert root_from_leaf_hashes(leaves) == ROOTS[size - 1]
    rng = CompactRange()
    rng.extend(leaves)
    assert rng.root() == ROOTS[size - 1]
    assert CompactRange.from_bytes(size, rng.to_bytes()).root() == ROOTS[size - 1]


@pytest.mark.parametrize(("leaf", "size", "proof"), INCLUSION)
def test_inclusion_vectors_generate_and_verify(tree: MerkleTree, leaf: int, size: int, proof: list[str]) -> None:
    want = [h(p) for p in proof]
    index = leaf - 1
    assert tree.inclusion_proof(index, size) == want
    leaf_hash = hash_leaf(LEAVES[index])
    root = ROOTS[size - 1]
    verify_inclusion(index, size, leaf_hash, want, root)
    assert root_from_inclusion_proof(index, size, leaf_hash, want) == root


@pytest.mark.parametrize(("leaf", "size", "proof"), [v for v in INCLUSION if v[2]])
def test_inclusion_corruptions_are_rejected(leaf: int, size: int, proof: list[str]) -> None:
    """The probes of corruptInclusionProof in verify_test.go."""
    p = [h(x) for x in proof]
    i, root, lh = leaf - 1, ROOTS[size - 1], hash_leaf(LEAVES[leaf - 1])
    probes = [
        (i - 1, size, root, lh, p),
        (i + 1, size, root, lh, p),
        (i ^ 2, size, root, lh, p),
        (i, size * 2, root, lh, p),
        (i, size // 2, root, lh, p),
        (i, size, root, b"WrongLeaf", p),
        (i, size, EMPTY_ROOT, lh, p),
        (i, size, SOME_HASH, lh, p),
        (i, size, root, lh, [*p, b""]),
        (i, size, root, lh, [*p, root]),
        (i, size, root, lh, [b"", *p]),
        (i, size, root, lh, [root, *p]),
        (i, size, root, lh, p[:-1]),
    ]
    if len(p) > 1:
        probes.append((i, size, root, lh, [p[0], SOME_HASH, *p[1:]]))
    for k in range(len(p)):
        bad = list(p)
        bad[k] = bytes([bad[k][0] ^ 8]) + bad[k][1:]
        probes.append((i, size, root, lh, bad))
    for idx, sz, rt, leaf_hash, pr in probes:
        if idx < 0:
            continue
        with pytest.raises(VerificationError):
            verify_inclusion(idx, sz, leaf_hash, pr, rt)


def test_inclusion_single_entry_and_invalid_sizes() -> None:
    lh = hash_leaf(b"data")
    verify_inclusion(0, 1, lh, [], lh)  # size 1: the root is the leaf hash, the proof empty
    for leaf_hash, root in ((lh, b""), (b"", lh), (b"", b"")):
        with pytest.raises(VerificationError):
            verify_inclusion(0, 1, leaf_hash, [], root)
    for index, size in ((0, 0), (1, 0), (2, 1)):
        with pytest.raises(VerificationError):
            verify_inclusion(index, size, SOME_HASH, [], EMPTY_ROOT)
    with pytest.raises(LedgerError):
        MerkleTree([lh]).inclusion_proof(1, 1)


@pytest.mark.parametrize(("size1", "size2", "proof"), CONSISTENCY)
def test_consistency_vectors_generate_and_verify(tree: MerkleTree, size1: int, size2: int, proof: list[str]) -> None:
    want = [h(p) for p in proof]
    assert tree.consistency_proof(size1, size2) == want
    verify_consistency(size1, size2, ROOTS[size1 - 1], ROOTS[size2 - 1], want)


@pytest.mark.parametrize(("size1", "size2", "proof"), [v for v in CONSISTENCY if v[2]])
def test_consistency_corruptions_are_rejected(size1: int, size2: int, proof: list[str]) -> None:
    """The probes of corruptConsistencyProof in verify_test.go."""
    p = [h(x) for x in proof]
    r1, r2 = ROOTS[size1 - 1], ROOTS[size2 - 1]
    probes = [
        (size1 - 1, size2, r1, r2, p),
        (size1 + 1, size2, r1, r2, p),
        (size1 ^ 2, size2, r1, r2, p),
        (size1, size2 * 2, r1, r2, p),
        (size1, size2 // 2, r1, r2, p),
        (size1, size2, b"WrongRoot", r2, p),
        (size1, size2, r1, b"WrongRoot", p),
        (size1, size2, r2, r1, p),
        (size1, size2, r1, r2, []),
        (size1, size2, r1, r2, [*p, b""]),
        (size1, size2, r1, r2, [*p, r1]),
        (size1, size2, r1, r2, [*p, r2]),
        (size1, size2, r1, r2, [b"", *p]),
        (size1, size2, r1, r2, [r1, *p]),
        (size1, size2, r1, r2, [r2, *p]),
        (size1, size2, r1, r2, [p[0], *p]),
        (size1, size2, r1, r2, p[:-1]),
    ]
    for k in range(len(p)):
        bad = list(p)
        bad[k] = bytes([bad[k][0] ^ 16]) + bad[k][1:]
        probes.append((size1, size2, r1, r2, bad))
    for s1, s2, a, b, pr in probes:
        with pytest.raises(VerificationError):
            verify_consistency(s1, s2, a, b, pr)


def test_consistency_edge_cases() -> None:
    """TestVerifyConsistency's fixed cases: equal sizes, the empty tree, time travel, empty proofs."""
    root1, root2 = b"don't care 1", b"don't care 2"
    ok = [(0, 0, root1, root1, []), (0, 1, root1, root2, []), (1, 1, root2, root2, [])]
    bad = [
        (0, 0, root1, root2, []),
        (1, 1, root1, root2, []),
        (1, 0, root1, root2, []),
        (2, 1, root1, root2, []),
        (1, 2, root1, root2, []),
        (0, 0, EMPTY_ROOT, root2, []),
        (1, 1, EMPTY_ROOT, root2, []),
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT]),
        (0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT]),
        (1, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT]),
    ]
    for s1, s2, a, b, p in ok:
        verify_consistency(s1, s2, a, b, p)
    for s1, s2, a, b, p in bad:
        with pytest.raises(VerificationError):
            verify_consistency(s1, s2, a, b, p)
    t = MerkleTree(hash_leaf(x) for x in LEAVES)
    assert t.consistency_proof(5, 5) == [] and t.consistency_proof(0, 5) == []


def test_wrong_length_proof_elements_are_rejected(tree: MerkleTree) -> None:
    proof = tree.inclusion_proof(5, 8)
    for bad in (proof[0][:31], proof[0] + b"\x00"):
        with pytest.raises(VerificationError, match="not 32"):
            verify_inclusion(5, 8, hash_leaf(LEAVES[5]), [bad, *proof[1:]], ROOTS[7])
    cproof = tree.consistency_proof(6, 8)
    with pytest.raises(VerificationError, match="not 32"):
        verify_consistency(6, 8, ROOTS[5], ROOTS[7], [cproof[0][:16], *cproof[1:]])
