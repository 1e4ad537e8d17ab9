"""On-disk primitives of the snapshot store: ids, blob codec, encryption framing, pack header, atomic files.

Everything here is specified byte for byte in `docs/snapshots.md`; change the doc with the code.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import blake3
import numpy as np
import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from omnimind.errors import SnapshotError, VerificationError

FORMAT_NAME = "omnimind-snapshots"
FORMAT_VERSION = 1

PACK_MAGIC = b"OMSPACK\x01"
PACK_TRAILER = struct.Struct("<I8s")  # header length, magic
HEADER_COUNT = struct.Struct("<I")
HEADER_ENTRY = struct.Struct("<32sQQQBB")  # id, offset, length, raw length, codec, shuffle

CODEC_RAW = 0
CODEC_ZSTD = 1
CODEC_NAMES = {CODEC_RAW: "raw", CODEC_ZSTD: "zstd"}
CODEC_BY_NAME = {v: k for k, v in CODEC_NAMES.items()}

NONCE_SIZE = 12
TAG_SIZE = 16
AAD_PREFIX = b"omnimind-snapshots/v1/"
KEY_CHECK_PLAINTEXT = b"omnimind-snapshots key check v1"

_PARALLEL_HASH_MIN = 256 * 1024

Buffer = bytes | bytearray | memoryview


def is_hex_id(name: str) -> bool:
    """True for a 64-character lower-case hex name (every object id in the store)."""
    if len(name) != 64:
        return False
    try:
        int(name, 16)
    except ValueError:
        return False
    return name == name.lower()


def file_hash(parts: Sequence[Buffer]) -> str:
    """Unkeyed BLAKE3-256 over the concatenation of `parts` (pack and index file names)."""
    h = blake3.blake3(max_threads=blake3.blake3.AUTO)
    for p in parts:
        h.update(p)
    return str(h.hexdigest())


# --------------------------------------------------------------------------------------------- crypto
class Crypto:
    """AES-256-GCM sealing and the keyed-BLAKE3 id key, both derived from the 32-byte master key by HKDF."""

    def __init__(self, master_key: bytes, salt: bytes) -> None:
        if not isinstance(master_key, bytes | bytearray) or len(master_key) != 32:
            raise SnapshotError(
                "the encryption key must be exactly 32 bytes",
                "generate one with os.urandom(32) and keep it in the lab's keyring (mode 0600)",
            )
        self.aead = AESGCM(_hkdf(bytes(master_key), salt, b"encryption"))
        self.id_key = _hkdf(bytes(master_key), salt, b"id")

    def seal(self, data: Buffer, aad: bytes) -> bytes:
        nonce = secrets.token_bytes(NONCE_SIZE)
        return nonce + self.aead.encrypt(nonce, data, aad)

    def open(self, data: Buffer, aad: bytes) -> bytes:
        mv = memoryview(data)
        if len(mv) < NONCE_SIZE + TAG_SIZE:
            raise InvalidTag()
        return self.aead.decrypt(mv[:NONCE_SIZE], mv[NONCE_SIZE:], aad)


def _hkdf(master: bytes, salt: bytes, purpose: bytes) -> bytes:
    kdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=AAD_PREFIX + purpose)
    return kdf.derive(master)


def blob_aad(blob_id: bytes) -> bytes:
    return AAD_PREFIX + b"blob" + blob_id


class IdHasher:
    """Object ids: BLAKE3-256 of the plaintext, keyed with the derived id key in encrypted stores."""

    def __init__(self, id_key: bytes | None) -> None:
        self.key = id_key

    def digest(self, data: Buffer) -> bytes:
        threads = blake3.blake3.AUTO if len(data) >= _PARALLEL_HASH_MIN else 1
        if self.key is None:
            return bytes(blake3.blake3(data, max_threads=threads).digest())
        return bytes(blake3.blake3(data, key=self.key, max_threads=threads).digest())

    def hexdigest(self, data: Buffer) -> str:
        return self.digest(data).hex()

    @property
    def scheme(self) -> str:
        """A fingerprint of the id function: two stores can share blobs iff their schemes are equal."""
        if self.key is None:
            return "blake3"
        return "blake3-keyed:" + str(blake3.blake3(AAD_PREFIX + b"scheme", key=self.key).hexdigest())


# ----------------------------------------------------------------------------------------- blob codec
_tls = threading.local()


def _cctx(level: int) -> Any:
    cache: dict[int, Any] | None = getattr(_tls, "cctx", None)
    if cache is None:
        cache = {}
        _tls.cctx = cache
    if level not in cache:
        cache[level] = zstandard.ZstdCompressor(level=level)
    return cache[level]


def _dctx() -> Any:
    d = getattr(_tls, "dctx", None)
    if d is None:
        d = zstandard.ZstdDecompressor()
        _tls.dctx = d
    return d


def shuffle_bytes(data: Buffer, itemsize: int) -> bytes:
    """Byte-shuffle: all first bytes of each element, then all second bytes, ... (HDF5/Blosc `shuffle`)."""
    a = np.frombuffer(data, dtype=np.uint8)
    return a.reshape(-1, itemsize).T.tobytes()


def unshuffle_into(data: Buffer, itemsize: int, out: np.ndarray[Any, np.dtype[np.uint8]]) -> None:
    a = np.frombuffer(data, dtype=np.uint8)
    out.reshape(-1, itemsize)[...] = a.reshape(itemsize, -1).T


def compress(data: Buffer, level: int, shuffle: int) -> bytes:
    src: Buffer = shuffle_bytes(data, shuffle) if shuffle > 1 else data
    return bytes(_cctx(level).compress(src))


def decode_payload(
    payload: Buffer, codec: int, shuffle: int, raw_length: int, out: np.ndarray[Any, np.dtype[np.uint8]]
) -> None:
    """Decode a (decrypted) blob payload into `out` (uint8, length raw_length); raises on malformed data."""
    if out.shape[0] != raw_length:
        raise ValueError("output size does not match the blob's raw length")
    if codec == CODEC_RAW:
        if len(payload) != raw_length:
            raise ValueError("raw blob has the wrong length")
        out[...] = np.frombuffer(payload, dtype=np.uint8)
        return
    if codec != CODEC_ZSTD:
        raise ValueError(f"unknown codec {codec}")
    plain = _dctx().decompress(payload, max_output_size=max(raw_length, 1))
    if len(plain) != raw_length:
        raise ValueError("decompressed blob has the wrong length")
    if shuffle > 1:
        unshuffle_into(plain, shuffle, out)
    else:
        out[...] = np.frombuffer(plain, dtype=np.uint8)


# ---------------------------------------------------------------------------------------- pack header
@dataclass(frozen=True, slots=True)
class BlobLoc:
    """Where a blob lives: pack, byte range of its stored form, plaintext length and codec."""

    pack: str
    offset: int
    length: int
    raw_length: int
    codec: int
    shuffle: int

    def to_json(self, blob_id: str) -> dict[str, Any]:
        return {
            "id": blob_id,
            "offset": self.offset,
            "length": self.length,
            "raw_length": self.raw_length,
            "codec": CODEC_NAMES[self.codec],
            "shuffle": self.shuffle,
        }


def encode_header(entries: Sequence[tuple[str, BlobLoc]]) -> bytes:
    out = bytearray(HEADER_COUNT.pack(len(entries)))
    for blob_id, loc in entries:
        out += HEADER_ENTRY.pack(
            bytes.fromhex(blob_id), loc.offset, loc.length, loc.raw_length, loc.codec, loc.shuffle
        )
    return bytes(out)


def decode_header(header: bytes, pack_id: str) -> list[tuple[str, BlobLoc]]:
    if len(header) < HEADER_COUNT.size:
        raise ValueError("pack header too short")
    (count,) = HEADER_COUNT.unpack_from(header, 0)
    if len(header) != HEADER_COUNT.size + count * HEADER_ENTRY.size:
        raise ValueError("pack header length does not match its entry count")
    entries = []
    for i in range(count):
        bid, off, length, raw, codec, shuf = HEADER_ENTRY.unpack_from(
            header, HEADER_COUNT.size + i * HEADER_ENTRY.size
        )
        if codec not in CODEC_NAMES:
            raise ValueError(f"unknown codec {codec} in pack header")
        entries.append((bytes(bid).hex(), BlobLoc(pack_id, off, length, raw, codec, shuf)))
    return entries


def read_pack_header(path: str, pack_id: str, crypto: Crypto | None) -> tuple[int, list[tuple[str, BlobLoc]]]:
    """Read and check a pack's trailer and header; returns (file size, entries). Raises ValueError."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < PACK_TRAILER.size:
            raise ValueError("pack is shorter than its trailer (torn write?)")
        f.seek(size - PACK_TRAILER.size)
        hlen, magic = PACK_TRAILER.unpack(f.read(PACK_TRAILER.size))
        if magic != PACK_MAGIC:
            raise ValueError("pack trailer magic is missing (torn or foreign file)")
        if hlen > size - PACK_TRAILER.size:
            raise ValueError("pack header length points before the start of the file")
        f.seek(size - PACK_TRAILER.size - hlen)
        stored = f.read(hlen)
    if crypto is not None:
        try:
            header = crypto.open(stored, AAD_PREFIX + b"pack-header")
        except InvalidTag:
            raise ValueError("pack header fails authentication") from None
    else:
        header = stored
    entries = decode_header(header, pack_id)
    data_end = size - PACK_TRAILER.size - hlen
    for bid, loc in entries:
        if loc.offset + loc.length > data_end:
            raise ValueError(f"blob {bid[:12]} extends past the pack's data section")
    return size, entries


# ------------------------------------------------------------------------------------ durable files
def write_all(fd: int, parts: Sequence[Buffer]) -> int:
    """Write every part (gathered, large sequential writes), handling short writes. Returns bytes written."""
    views = [memoryview(p).cast("B") for p in parts if len(p)]
    total = 0
    i = 0
    while i < len(views):
        batch = views[i : i + 512]
        n = os.writev(fd, batch)
        total += n
        # advance past fully written views, trim a partly written one
        while n > 0 and i < len(views):
            if n >= len(views[i]):
                n -= len(views[i])
                i += 1
            else:
                views[i] = views[i][n:]
                n = 0
    return total


def atomic_write(tmp_dir: str, final_path: str, parts: Sequence[Buffer], kind: str) -> int:
    """temp file in `tmp_dir` + write + fsync + rename to `final_path`. The caller fsyncs the directory."""
    tmp = os.path.join(tmp_dir, f"{kind}-{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        n = write_all(fd, parts)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, final_path)
    return n


def read_file(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def decode_stored_json(data: bytes, crypto: Crypto | None, kind: bytes, what: str) -> bytes:
    """Undo the optional encryption of an index file or manifest; returns its canonical JSON bytes."""
    if crypto is None:
        return data
    try:
        return crypto.open(data, AAD_PREFIX + kind)
    except InvalidTag:
        raise VerificationError(
            f"{what} fails authentication (damaged, or written with another key)",
            "run `verify` to see every damaged object",
        ) from None
