"""The tamper-evident audit ledger: RFC 6962 Merkle tree, C2SP signed checkpoints, proofs, witnesses.

Formats and the verification algorithm: docs/ledger.md. Small modules, one idea each:
`rfc6962` hashing · `compact` compact ranges · `tree` in-memory proof tree · `proof` RFC 9162 proofs ·
`note` signed notes · `checkpoint` tlog checkpoints · `cosignature` tlog cosignatures · `witness` ·
`entry` canonical envelopes · `signer` key files · `log` the store · `bundle` offline verification.
"""

from omnimind.ledger.bundle import bundle_bytes, verify_bundle, write_bundle
from omnimind.ledger.checkpoint import Checkpoint, SignedCheckpoint, open_checkpoint
from omnimind.ledger.cosignature import CosignatureV1Signer, CosignatureV1Verifier, verifier_from_vkey
from omnimind.ledger.entry import CATEGORIES, Entry, NewEntry, canonical_bytes
from omnimind.ledger.log import ConsistencyProof, InclusionProof, Ledger, PayloadCodec
from omnimind.ledger.note import Ed25519Signer, Ed25519Verifier, open_note, sign_note
from omnimind.ledger.proof import verify_consistency, verify_inclusion
from omnimind.ledger.report import VerifyReport
from omnimind.ledger.signer import load_or_create_cosigner, load_or_create_signer, load_signer
from omnimind.ledger.witness import Witness

__all__ = [
    "CATEGORIES",
    "Checkpoint",
    "ConsistencyProof",
    "CosignatureV1Signer",
    "CosignatureV1Verifier",
    "Ed25519Signer",
    "Ed25519Verifier",
    "Entry",
    "InclusionProof",
    "Ledger",
    "NewEntry",
    "PayloadCodec",
    "SignedCheckpoint",
    "VerifyReport",
    "Witness",
    "bundle_bytes",
    "canonical_bytes",
    "load_or_create_cosigner",
    "load_or_create_signer",
    "load_signer",
    "open_checkpoint",
    "open_note",
    "sign_note",
    "verifier_from_vkey",
    "verify_bundle",
    "verify_consistency",
    "verify_inclusion",
    "write_bundle",
]
