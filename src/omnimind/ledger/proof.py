"""Inclusion and consistency proofs: generation (RFC 9162 §2.1.3.1, §2.1.4.1) and verification
(RFC 9162 §2.1.3.2, §2.1.4.2).

Generation takes `mth(start, end)`, a function returning MTH(D[start:end]) for the subtrees the
algorithms ask for (perfect aligned subtrees and right-edge subtrees); `tree.MerkleTree.subtree_hash`
is the fast one. Proof hashes are ordered from the leaf level up, as in RFC 9162.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from hashlib import sha256

from omnimind.errors import LedgerError, VerificationError
from omnimind.ledger.rfc6962 import HASH_SIZE, largest_power_of_two_below

SubtreeHash = Callable[[int, int], bytes]
_NODE = b"\x01"


def inclusion_proof(index: int, size: int, mth: SubtreeHash) -> list[bytes]:
    """PATH(index, D[0:size]): the audit path of leaf `index` in the tree of `size` leaves."""
    if not 0 <= index < size:
        raise LedgerError(f"no leaf {index} in a tree of size {size}", "the index must be below the size")
    path: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = largest_power_of_two_below(hi - lo)
        if index < lo + k:
            path.append(mth(lo + k, hi))
            hi = lo + k
        else:
            path.append(mth(lo, lo + k))
            lo += k
    path.reverse()
    return path


def consistency_proof(old_size: int, new_size: int, mth: SubtreeHash) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]); empty when old_size is 0 or equal to new_size."""
    if not 0 <= old_size <= new_size:
        raise LedgerError(
            f"no consistency proof from size {old_size} to size {new_size}",
            "the old size must be between 0 and the new size",
        )
    if old_size in (0, new_size):
        return []
    path: list[bytes] = []
    lo, hi, m, complete = 0, new_size, old_size, True
    while True:
        n = hi - lo
        if m == n:
            if not complete:
                path.append(mth(lo, hi))
            break
        k = largest_power_of_two_below(n)
        if m <= k:
            path.append(mth(lo + k, hi))
            hi = lo + k
        else:
            path.append(mth(lo, lo + k))
            lo += k
            m -= k
            complete = False
    path.reverse()
    return path


def _check_hashes(what: str, hashes: Sequence[bytes]) -> None:
    for i, h in enumerate(hashes):
        if len(h) != HASH_SIZE:
            raise VerificationError(f"{what}: element {i} is {len(h)} bytes, not {HASH_SIZE}")


def root_from_inclusion_proof(index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]) -> bytes:
    """The root implied by an inclusion proof (RFC 9162 §2.1.3.2 steps 1-4); raises if malformed."""
    if not 0 <= index < size:
        raise VerificationError(f"inclusion proof: leaf index {index} is not below tree size {size}")
    if len(leaf_hash) != HASH_SIZE:
        raise VerificationError(f"inclusion proof: leaf hash is {len(leaf_hash)} bytes, not {HASH_SIZE}")
    _check_hashes("inclusion proof", proof)
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            raise VerificationError(f"inclusion proof for leaf {index} at size {size} is too long")
        if fn & 1 or fn == sn:
            r = sha256(_NODE + p + r).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = sha256(_NODE + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError(f"inclusion proof for leaf {index} at size {size} is too short")
    return r


def verify_inclusion(index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Raise VerificationError unless `proof` shows leaf `index` with `leaf_hash` is in the tree `root`."""
    got = root_from_inclusion_proof(index, size, leaf_hash, proof)
    if got != root:
        raise VerificationError(
            f"inclusion proof for leaf {index} at size {size} does not lead to the root "
            f"(computed {got.hex()[:16]}…, expected {root.hex()[:16]}…)"
        )


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    """Raise VerificationError unless `proof` shows the tree `new_root` extends the tree `old_root`."""
    what = f"consistency proof from size {old_size} to {new_size}"
    if not 0 <= old_size <= new_size:
        raise VerificationError(f"{what}: the old size is larger than the new size (a rollback)")
    if old_size == new_size:
        if proof:
            raise VerificationError(f"{what}: must be empty for equal sizes")
        if old_root != new_root:
            raise VerificationError(f"{what}: different roots for the same size (a fork)")
        return
    if old_size == 0:
        if proof:
            raise VerificationError(f"{what}: must be empty from the empty tree")
        return
    if not proof:
        raise VerificationError(f"{what}: empty proof")
    _check_hashes(what, proof)
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # old tree is a perfect subtree: its root is the first node
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise VerificationError(f"{what}: too long")
        if fn & 1 or fn == sn:
            fr = sha256(_NODE + c + fr).digest()
            sr = sha256(_NODE + c + sr).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = sha256(_NODE + sr + c).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError(f"{what}: too short")
    if fr != old_root:
        raise VerificationError(f"{what}: does not lead to the old root")
    if sr != new_root:
        raise VerificationError(f"{what}: does not lead to the new root")
