"""The snapshot store: a directory of content-addressed, deduplicated, optionally encrypted array state.

Layout (see docs/snapshots.md for the byte-level format)::

    config.json            format name/version, chunk and pack sizes, encryption parameters
    data/<2 hex>/<pack>    pack files: stored blobs, then the (sealed) pack header, then a 12-byte trailer
    index/<id>             index files: which blob lives where (canonical JSON, sealed if encrypted)
    snapshots/<id>         manifests: canonical JSON naming every array's chunks, plus meta/tags/parent
    locks/lock             flock(2) target: save = shared, forget/prune/tag = exclusive
    tmp/                   temp files; anything left here is a torn write and is never read

Crash contract: packs -> index -> manifest, each written to tmp/ + fsync + rename + fsync(dir).
A manifest appears only after everything it references is durable, so a reader never sees half a
snapshot; a torn or edited manifest fails its own hash and is skipped by `list` and flagged by `verify`.
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import json
import math
import os
import secrets
import socket
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import numpy as np
from cryptography.exceptions import InvalidTag

from omnimind import clock
from omnimind.canonical import canonical_json
from omnimind.errors import NotFoundError, SnapshotError, VerificationError
from omnimind.fsutil import fsync_dir
from omnimind.snapshots import _format as fmt
from omnimind.snapshots.policy import Decision, ForgetPolicy, apply_policy

DEFAULT_CHUNK_SIZE = 1 << 20
DEFAULT_PACK_SIZE = 16 << 20
DEFAULT_ZSTD_LEVEL = 1
DEFAULT_MIN_SAVING = 0.2
_SAMPLE_BYTES = 64 * 1024
_SAMPLES = 4

U8Array = np.ndarray[Any, np.dtype[np.uint8]]


# ------------------------------------------------------------------------------------------ public types
@dataclass(frozen=True)
class ArrayInfo:
    """One array of a snapshot: dtype (numpy `dtype.str`), shape, byte size and its chunk ids in order."""

    dtype: str
    shape: tuple[int, ...]
    nbytes: int
    chunk_size: int
    chunks: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "dtype": self.dtype,
            "shape": list(self.shape),
            "nbytes": self.nbytes,
            "chunk_size": self.chunk_size,
            "chunks": list(self.chunks),
        }


@dataclass(frozen=True)
class Snapshot:
    """A parsed, hash-checked manifest. `id` is the BLAKE3 of its canonical JSON bytes."""

    id: str
    time: datetime
    host: str
    run: str | None
    tags: tuple[str, ...]
    parent: str | None
    original: str | None
    arrays: Mapping[str, ArrayInfo]
    meta: Mapping[str, Any]

    @property
    def short_id(self) -> str:
        return self.id[:8]

    def manifest(self) -> dict[str, Any]:
        """The manifest document (without the id, which is the hash of its canonical bytes)."""
        return {
            "version": fmt.FORMAT_VERSION,
            "time": clock.iso(self.time),
            "host": self.host,
            "run": self.run,
            "tags": list(self.tags),
            "parent": self.parent,
            "original": self.original,
            "arrays": {name: a.to_json() for name, a in self.arrays.items()},
            "meta": dict(self.meta),
        }

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, **self.manifest()}


@dataclass(frozen=True)
class Problem:
    """One finding of `verify`: what is wrong (`kind`, `message`) and exactly where."""

    kind: str
    message: str
    snapshot: str | None = None
    array: str | None = None
    blob: str | None = None
    pack: str | None = None
    file: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class VerifyReport:
    """Result of `verify`: errors (damage), warnings (harmless leftovers), and damaged snapshot ids."""

    read_data: bool
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    snapshots_checked: int = 0
    packs_checked: int = 0
    blobs_checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def damaged_snapshots(self) -> list[str]:
        return sorted({p.snapshot for p in self.errors if p.snapshot})

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "read_data": self.read_data,
            "snapshots_checked": self.snapshots_checked,
            "packs_checked": self.packs_checked,
            "blobs_checked": self.blobs_checked,
            "damaged_snapshots": self.damaged_snapshots,
            "errors": [p.to_json() for p in self.errors],
            "warnings": [p.to_json() for p in self.warnings],
        }


@dataclass(frozen=True)
class ForgetGroup:
    key: Mapping[str, Any]
    keep: tuple[Decision, ...]
    remove: tuple[Decision, ...]


@dataclass(frozen=True)
class ForgetResult:
    policy: ForgetPolicy
    dry_run: bool
    groups: tuple[ForgetGroup, ...]

    @property
    def keep_ids(self) -> list[str]:
        return [d.item.id for g in self.groups for d in g.keep]

    @property
    def remove_ids(self) -> list[str]:
        return [d.item.id for g in self.groups for d in g.remove]

    def to_json(self) -> dict[str, Any]:
        def dec(d: Decision) -> dict[str, Any]:
            return {
                "id": d.item.id,
                "time": clock.iso(d.item.time),
                "tags": list(d.item.tags),
                "reasons": list(d.reasons),
            }

        return {
            "policy": self.policy.to_json(),
            "dry_run": self.dry_run,
            "groups": [
                {"key": dict(g.key), "keep": [dec(d) for d in g.keep], "remove": [dec(d) for d in g.remove]}
                for g in self.groups
            ],
        }


@dataclass(frozen=True)
class PruneResult:
    packs_deleted: int
    packs_repacked: int
    packs_written: int
    blobs_removed: int
    bytes_freed: int
    index_files_replaced: int
    temp_files_removed: int
    lost_blobs: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["lost_blobs"] = list(self.lost_blobs)
        return d


@dataclass(frozen=True)
class CopyResult:
    copied: tuple[str, ...]
    skipped: tuple[str, ...]
    blobs_copied: int
    bytes_copied: int

    def to_json(self) -> dict[str, Any]:
        return {
            "copied": list(self.copied),
            "skipped": list(self.skipped),
            "blobs_copied": self.blobs_copied,
            "bytes_copied": self.bytes_copied,
        }


@dataclass(frozen=True)
class StoreStats:
    snapshots: int
    packs: int
    blobs: int
    stored_bytes: int
    raw_bytes: int

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class _Damaged(Exception):
    """Internal: a blob could not be read back intact."""


# ------------------------------------------------------------------------------------------ the store
class SnapshotStore:
    """A file-based, content-addressed snapshot store. Not thread-safe; processes coordinate by flock."""

    def __init__(self, path: str, config: Mapping[str, Any], crypto: fmt.Crypto | None) -> None:
        self.path = os.path.abspath(path)
        self.config = dict(config)
        self._crypto = crypto
        self._ids = fmt.IdHasher(crypto.id_key if crypto else None)
        self.chunk_size = int(config["chunk_size"])
        self.pack_size = int(config["pack_size"])
        self.zstd_level = int(config.get("zstd_level", DEFAULT_ZSTD_LEVEL))
        self.min_saving = float(config.get("min_saving", DEFAULT_MIN_SAVING))
        self._index: dict[str, fmt.BlobLoc] = {}
        self._index_files: set[str] = set()
        self._pack_index_file: dict[str, str] = {}
        self._manifests: dict[str, Snapshot] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._load_index()

    # -- creation / opening -------------------------------------------------------------------------
    @classmethod
    def init(
        cls,
        path: str | os.PathLike[str],
        *,
        encryption_key: bytes | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        pack_size: int = DEFAULT_PACK_SIZE,
        zstd_level: int = DEFAULT_ZSTD_LEVEL,
        min_saving: float = DEFAULT_MIN_SAVING,
        like: SnapshotStore | None = None,
    ) -> SnapshotStore:
        """Create a new store at `path` (an empty or missing directory).

        `like`: copy the chunk size and the key-derivation salt of an existing store (restic's
        `--copy-chunker-params`), so that with the same key both stores give equal data equal ids and
        `copy_to` between them sends only missing blobs. Required for encrypted backup copies.
        """
        salt = secrets.token_bytes(32)
        if like is not None:
            chunk_size = like.chunk_size
            enc = like.config.get("encryption")
            if enc:
                salt = bytes.fromhex(enc["salt"])
        root = os.fspath(path)
        if os.path.exists(os.path.join(root, "config.json")):
            raise SnapshotError(f"{root} already holds a snapshot store", "open it with SnapshotStore.open")
        if os.path.isdir(root) and os.listdir(root):
            raise SnapshotError(f"{root} is not empty", "create the store in a new or empty directory")
        if chunk_size <= 0 or chunk_size % 64 or pack_size < chunk_size:
            raise SnapshotError(
                "invalid chunk/pack size", "chunk_size: a positive multiple of 64; pack_size >= chunk_size"
            )
        if not 0.0 <= min_saving < 1.0:
            raise SnapshotError("min_saving must be in [0, 1)", "e.g. 0.2 = compress only when it saves 20 %")
        encryption: dict[str, Any] | None = None
        crypto: fmt.Crypto | None = None
        if encryption_key is not None:
            crypto = fmt.Crypto(encryption_key, salt)
            check = crypto.seal(fmt.KEY_CHECK_PLAINTEXT, fmt.AAD_PREFIX + b"key-check")
            encryption = {
                "cipher": "AES-256-GCM",
                "kdf": "HKDF-SHA256",
                "salt": salt.hex(),
                "key_check": check.hex(),
            }
        config = {
            "format": fmt.FORMAT_NAME,
            "version": fmt.FORMAT_VERSION,
            "id": secrets.token_hex(16),
            "hash": "BLAKE3-256",
            "chunk_size": chunk_size,
            "pack_size": pack_size,
            "compression": "zstd",
            "zstd_level": zstd_level,
            "min_saving": min_saving,
            "encryption": encryption,
        }
        os.makedirs(root, exist_ok=True)
        for sub in ("index", "snapshots", "locks", "tmp"):
            os.makedirs(os.path.join(root, sub), exist_ok=True)
        for i in range(256):
            os.makedirs(os.path.join(root, "data", f"{i:02x}"), exist_ok=True)
        for d in ("data", root):
            fsync_dir(os.path.join(root, d) if d != root else root)
        # config last: a directory without config.json is not a store, so a crash here is harmless
        fmt.atomic_write(
            os.path.join(root, "tmp"), os.path.join(root, "config.json"), [canonical_json(config)], "config"
        )
        fsync_dir(root)
        return cls(root, config, crypto)

    @classmethod
    def open(cls, path: str | os.PathLike[str], key: bytes | None = None) -> SnapshotStore:
        """Open an existing store; `key` is required iff the store is encrypted."""
        root = os.fspath(path)
        cfg_path = os.path.join(root, "config.json")
        if not os.path.isfile(cfg_path):
            raise SnapshotError(
                f"{root} is not a snapshot store (no config.json)", "create one with SnapshotStore.init(path)"
            )
        try:
            config = json.loads(fmt.read_file(cfg_path))
        except (ValueError, OSError) as e:
            raise SnapshotError(
                f"{cfg_path} is unreadable: {e}", "restore config.json from a backup copy"
            ) from None
        if not isinstance(config, dict) or config.get("format") != fmt.FORMAT_NAME:
            raise SnapshotError(f"{root} is not a snapshot store (unknown config format)", "check the path")
        if config.get("version") != fmt.FORMAT_VERSION:
            raise SnapshotError(
                f"store format version {config.get('version')} is not supported "
                f"(this code reads {fmt.FORMAT_VERSION})",
                "upgrade omnimind",
            )
        enc = config.get("encryption")
        crypto: fmt.Crypto | None = None
        if enc:
            if key is None:
                raise SnapshotError(
                    "this snapshot store is encrypted and no key was given", "pass the store's 32-byte key"
                )
            crypto = fmt.Crypto(key, bytes.fromhex(enc["salt"]))
            try:
                if (
                    crypto.open(bytes.fromhex(enc["key_check"]), fmt.AAD_PREFIX + b"key-check")
                    != fmt.KEY_CHECK_PLAINTEXT
                ):
                    raise InvalidTag()
            except InvalidTag:
                raise SnapshotError(
                    "wrong encryption key for this snapshot store", "use the key the store was created with"
                ) from None
        elif key is not None:
            raise SnapshotError(
                "this snapshot store is not encrypted but a key was given", "open it without a key"
            )
        return cls(root, config, crypto)

    @property
    def encrypted(self) -> bool:
        return self._crypto is not None

    @property
    def id_scheme(self) -> str:
        return self._ids.scheme

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __enter__(self) -> SnapshotStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- paths / locks -------------------------------------------------------------------------------
    def _p(self, *parts: str) -> str:
        return os.path.join(self.path, *parts)

    def _pack_path(self, pack_id: str) -> str:
        return self._p("data", pack_id[:2], pack_id)

    @contextlib.contextmanager
    def _lock(self, exclusive: bool) -> Iterator[None]:
        lock_path = self._p("locks", "lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
            except BlockingIOError:
                raise SnapshotError(
                    "the snapshot store is locked by another process",
                    "wait for the running save/prune to finish and retry",
                ) from None
            yield
        finally:
            os.close(fd)

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=max(2, min(8, (os.cpu_count() or 2) * 2)))
        return self._pool

    # -- index -------------------------------------------------------------------------------------
    def _load_index(self) -> list[Problem]:
        """(Re)read every index file not yet loaded. Unreadable ones are reported, never half-used."""
        problems: list[Problem] = []
        for name in sorted(os.listdir(self._p("index"))):
            if not fmt.is_hex_id(name) or name in self._index_files:
                continue
            try:
                entries = self._parse_index_file(name)
            except (VerificationError, ValueError, KeyError, TypeError, OSError) as e:
                problems.append(
                    Problem("index-unreadable", f"index file {name} is unreadable: {e}", file=f"index/{name}")
                )
                continue
            self._index_files.add(name)
            for pack_id, blobs in entries:
                self._pack_index_file.setdefault(pack_id, name)
                for bid, loc in blobs:
                    self._index.setdefault(bid, loc)
        return problems

    def _parse_index_file(self, name: str) -> list[tuple[str, list[tuple[str, fmt.BlobLoc]]]]:
        data = fmt.read_file(self._p("index", name))
        if fmt.file_hash([data]) != name:
            raise ValueError("content does not match its name (torn or edited)")
        doc = json.loads(fmt.decode_stored_json(data, self._crypto, b"index", f"index file {name}"))
        if doc.get("version") != fmt.FORMAT_VERSION:
            raise ValueError(f"unsupported index version {doc.get('version')}")
        out = []
        for p in doc["packs"]:
            pid = p["id"]
            blobs = [
                (
                    b["id"],
                    fmt.BlobLoc(
                        pid,
                        int(b["offset"]),
                        int(b["length"]),
                        int(b["raw_length"]),
                        fmt.CODEC_BY_NAME[b["codec"]],
                        int(b["shuffle"]),
                    ),
                )
                for b in p["blobs"]
            ]
            out.append((pid, blobs))
        return out

    def _pack_sizes(self) -> dict[str, int]:
        sizes: dict[str, int] = {}
        for _bid, loc in self._index.items():
            end = loc.offset + loc.length
            sizes[loc.pack] = max(sizes.get(loc.pack, 0), end)
        return sizes

    def _write_index(self, packs: Sequence[tuple[str, int, Sequence[tuple[str, fmt.BlobLoc]]]]) -> str:
        doc = {
            "version": fmt.FORMAT_VERSION,
            "packs": [
                {"id": pid, "size": size, "blobs": [loc.to_json(bid) for bid, loc in blobs]}
                for pid, size, blobs in packs
            ],
        }
        data = canonical_json(doc)
        if self._crypto is not None:
            data = self._crypto.seal(data, fmt.AAD_PREFIX + b"index")
        name = fmt.file_hash([data])
        fmt.atomic_write(self._p("tmp"), self._p("index", name), [data], "index")
        fsync_dir(self._p("index"))
        self._index_files.add(name)
        for pid, _size, blobs in packs:
            self._pack_index_file[pid] = name
            for bid, loc in blobs:
                self._index.setdefault(bid, loc)
        return name

    # -- packs ---------------------------------------------------------------------------------------
    def _write_pack(
        self, items: Sequence[tuple[str, fmt.Buffer, int, int, int]]
    ) -> tuple[str, int, list[tuple[str, fmt.BlobLoc]]]:
        """items: (blob id, stored bytes, raw length, codec, shuffle). Returns (pack id, size, entries)."""
        offset = 0
        entries: list[tuple[str, fmt.BlobLoc]] = []
        parts: list[fmt.Buffer] = []
        for bid, stored, raw_len, codec, shuf in items:
            n = len(stored)
            entries.append((bid, fmt.BlobLoc("", offset, n, raw_len, codec, shuf)))
            parts.append(stored)
            offset += n
        header = fmt.encode_header(entries)
        if self._crypto is not None:
            header = self._crypto.seal(header, fmt.AAD_PREFIX + b"pack-header")
        parts.append(header)
        parts.append(fmt.PACK_TRAILER.pack(len(header), fmt.PACK_MAGIC))
        pack_id = fmt.file_hash(parts)
        size = fmt.atomic_write(self._p("tmp"), self._pack_path(pack_id), parts, "pack")
        fixed = [
            (bid, fmt.BlobLoc(pack_id, loc.offset, loc.length, loc.raw_length, loc.codec, loc.shuffle))
            for bid, loc in entries
        ]
        return pack_id, size, fixed

    def _write_packs(
        self, items: Iterable[tuple[str, fmt.Buffer, int, int, int]]
    ) -> list[tuple[str, int, list[tuple[str, fmt.BlobLoc]]]]:
        """Group blobs into packs of ~pack_size, write them in parallel, fsync their directories."""
        pool = self._executor()
        futures: list[Future[tuple[str, int, list[tuple[str, fmt.BlobLoc]]]]] = []
        batch: list[tuple[str, fmt.Buffer, int, int, int]] = []
        size = 0
        for it in items:
            batch.append(it)
            size += len(it[1])
            if size >= self.pack_size:
                futures.append(pool.submit(self._write_pack, batch))
                batch, size = [], 0
        if batch:
            futures.append(pool.submit(self._write_pack, batch))
        results = [f.result() for f in futures]
        dirs = {self._p("data", pid[:2]) for pid, _s, _e in results}
        list(pool.map(fsync_dir, sorted(dirs)))
        return results

    def _read_stored(self, loc: fmt.BlobLoc, fd: int | None = None) -> bytes:
        if fd is None:
            with open(self._pack_path(loc.pack), "rb") as f:
                data = os.pread(f.fileno(), loc.length, loc.offset)
        else:
            data = os.pread(fd, loc.length, loc.offset)
        if len(data) != loc.length:
            raise _Damaged(f"pack {loc.pack[:12]} is shorter than the index says (truncated)")
        return data

    def _payload(self, stored: fmt.Buffer, blob_id: str) -> fmt.Buffer:
        if self._crypto is None:
            return stored
        try:
            return self._crypto.open(stored, fmt.blob_aad(bytes.fromhex(blob_id)))
        except InvalidTag:
            raise _Damaged("blob fails authentication (ciphertext damaged or swapped)") from None

    def _decode_into(self, stored: fmt.Buffer, blob_id: str, loc: fmt.BlobLoc, out: U8Array) -> None:
        payload = self._payload(stored, blob_id)
        try:
            fmt.decode_payload(payload, loc.codec, loc.shuffle, loc.raw_length, out)
        except Exception as e:  # zstd raises its own error type
            raise _Damaged(f"blob does not decode: {e}") from None
        if self._ids.hexdigest(_mv(out)) != blob_id:
            raise _Damaged("blob content does not match its id (bit rot or tampering)")

    def _read_blob(self, blob_id: str) -> bytes:
        loc = self._index[blob_id]
        out = np.empty(loc.raw_length, dtype=np.uint8)
        self._decode_into(self._read_stored(loc), blob_id, loc, out)
        return out.tobytes()

    # -- save ----------------------------------------------------------------------------------------
    def save(
        self,
        arrays: Mapping[str, Any],
        meta: Mapping[str, Any] | None = None,
        *,
        run: str | None = None,
        tags: Iterable[str] = (),
        parent: str | None = None,
        host: str | None = None,
        time: datetime | None = None,
    ) -> Snapshot:
        """Store `arrays` (name -> numpy array) and JSON-able `meta` as one new snapshot.

        `run` defaults to `meta["run"]` when that is a string; it is what `list(run=)` and `forget`
        group by. Returns the snapshot; nothing is visible to readers until its manifest is renamed in.
        """
        meta = dict(meta or {})
        if run is None and isinstance(meta.get("run"), str):
            run = meta["run"]
        tag_list = sorted(set(tags))
        for t in tag_list:
            if not isinstance(t, str) or not t:
                raise SnapshotError(f"invalid tag {t!r}", "tags are non-empty strings")
        try:
            canonical_json(meta)
        except Exception as e:
            raise SnapshotError(
                f"snapshot meta is not canonical-JSON serialisable: {e}",
                "use str keys, finite numbers (no NaN/inf), lists, dicts, str, bool, None",
            ) from None
        if parent is not None:
            parent = self.get(parent).id
        prepared = [(name, *_as_bytes(name, a)) for name, a in sorted(arrays.items())]
        chunk = self.chunk_size
        with self._lock(exclusive=False):
            self._load_index()  # pick up blobs other processes wrote since we opened
            infos: dict[str, ArrayInfo] = {}
            new: dict[str, tuple[memoryview, int]] = {}  # id -> (plaintext view, shuffle itemsize)
            new_order: list[str] = []
            for name, arr, view in prepared:
                ids: list[str] = []
                fresh: list[tuple[str, memoryview]] = []
                for off in range(0, len(view), chunk):
                    piece = view[off : off + chunk]
                    bid = self._ids.hexdigest(piece)
                    ids.append(bid)
                    if bid not in self._index and bid not in new:
                        fresh.append((bid, piece))
                        new[bid] = (piece, 0)
                        new_order.append(bid)
                if fresh:
                    shuf = _shuffle_size(arr.dtype)
                    if self._worth_compressing(view, shuf):
                        for bid, piece in fresh:
                            new[bid] = (piece, shuf if len(piece) % max(shuf, 1) == 0 else 0)
                    else:
                        for bid, piece in fresh:
                            new[bid] = (piece, -1)  # -1: store raw without trying
                infos[name] = ArrayInfo(
                    arr.dtype.str, tuple(int(s) for s in arr.shape), len(view), chunk, tuple(ids)
                )

            encoded = self._encode_blobs([(bid, *new[bid]) for bid in new_order])
            if encoded:
                results = self._write_packs(encoded)
                self._write_index([(pid, size, entries) for pid, size, entries in results])
            snap = Snapshot(
                id="",
                time=_utc(time or clock.now()),
                host=host or socket.gethostname(),
                run=run,
                tags=tuple(tag_list),
                parent=parent,
                original=None,
                arrays=infos,
                meta=meta,
            )
            snap = self._write_manifest(snap)
            del prepared, new, encoded
        return snap

    def _worth_compressing(self, view: memoryview, shuf: int) -> bool:
        """Sample-test compressibility: compress a few spread slices; compress the array iff it pays."""
        n = len(view)
        if n == 0:
            return False
        if n <= _SAMPLE_BYTES * _SAMPLES:
            sample = bytes(view)
        else:
            step = max(shuf, 1)
            size = _SAMPLE_BYTES - _SAMPLE_BYTES % step
            starts = [((n - size) * i // (_SAMPLES - 1)) // step * step for i in range(_SAMPLES)]
            sample = b"".join(bytes(view[s : s + size]) for s in starts)
        use = shuf if shuf > 1 and len(sample) % shuf == 0 else 0
        c = fmt.compress(sample, self.zstd_level, use)
        return len(c) <= len(sample) * (1.0 - self.min_saving)

    def _encode_blobs(
        self, items: Sequence[tuple[str, memoryview, int]]
    ) -> list[tuple[str, fmt.Buffer, int, int, int]]:
        level, keep = self.zstd_level, 1.0 - self.min_saving

        def encode(item: tuple[str, memoryview, int]) -> tuple[str, fmt.Buffer, int, int, int]:
            bid, piece, shuf = item
            n = len(piece)
            stored: fmt.Buffer = piece
            codec, used = fmt.CODEC_RAW, 0
            if shuf >= 0 and n:
                c = fmt.compress(piece, level, shuf)
                if len(c) <= n * keep:
                    stored, codec, used = c, fmt.CODEC_ZSTD, shuf
            return bid, stored, n, codec, used

        if any(s >= 0 for _b, _p, s in items):
            out = list(self._executor().map(encode, items))
        else:
            out = [encode(it) for it in items]
        if self._crypto is not None:
            seal = self._crypto.seal
            out = [(bid, seal(st, fmt.blob_aad(bytes.fromhex(bid))), n, c, s) for bid, st, n, c, s in out]
        return out

    # -- manifests -----------------------------------------------------------------------------------
    def _write_manifest(self, snap: Snapshot) -> Snapshot:
        body = canonical_json(snap.manifest())
        sid = self._ids.hexdigest(body)
        data = body if self._crypto is None else self._crypto.seal(body, fmt.AAD_PREFIX + b"manifest")
        fmt.atomic_write(self._p("tmp"), self._p("snapshots", sid), [data], "manifest")
        fsync_dir(self._p("snapshots"))
        out = Snapshot(
            sid, snap.time, snap.host, snap.run, snap.tags, snap.parent, snap.original, snap.arrays, snap.meta
        )
        self._manifests[sid] = out
        return out

    def _read_manifest(self, sid: str) -> Snapshot:
        """Read, authenticate, hash-check and parse one manifest. Raises VerificationError if damaged."""
        if sid in self._manifests:
            return self._manifests[sid]
        path = self._p("snapshots", sid)
        try:
            data = fmt.read_file(path)
        except FileNotFoundError:
            raise NotFoundError(
                f"snapshot {sid[:12]} does not exist", "list snapshots with `snapshot list`"
            ) from None
        body = fmt.decode_stored_json(data, self._crypto, b"manifest", f"manifest {sid[:12]}")
        if self._ids.hexdigest(body) != sid:
            raise VerificationError(
                f"manifest {sid[:12]} does not match its id (torn write or edited)",
                "this snapshot cannot be used; restore an earlier one, or run `verify` for details",
            )
        try:
            doc = json.loads(body)
            snap = _snapshot_from_doc(sid, doc)
        except (ValueError, KeyError, TypeError) as e:
            raise VerificationError(
                f"manifest {sid[:12]} is malformed: {e}", "run `verify` for details"
            ) from None
        self._manifests[sid] = snap
        return snap

    def _manifest_ids(self) -> list[str]:
        return sorted(n for n in os.listdir(self._p("snapshots")) if fmt.is_hex_id(n))

    def _all(self) -> tuple[list[Snapshot], list[tuple[str, Exception]]]:
        good: list[Snapshot] = []
        bad: list[tuple[str, Exception]] = []
        for sid in self._manifest_ids():
            try:
                good.append(self._read_manifest(sid))
            except (VerificationError, NotFoundError) as e:
                bad.append((sid, e))
        good.sort(key=lambda s: (s.time, s.id))
        return good, bad

    # -- queries -------------------------------------------------------------------------------------
    def list(
        self,
        run: str | None = None,
        tags: Iterable[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        host: str | None = None,
    ) -> builtins.list[Snapshot]:
        """Intact snapshots, oldest first; `tags` must all be present; `since`/`until` are inclusive.

        Damaged (torn, edited) manifests are skipped here; `verify` names them.
        """
        want = set(tags or ())
        out = []
        for s in self._all()[0]:
            if run is not None and s.run != run:
                continue
            if host is not None and s.host != host:
                continue
            if want and not want.issubset(s.tags):
                continue
            if since is not None and s.time < since:
                continue
            if until is not None and s.time > until:
                continue
            out.append(s)
        return out

    def get(self, id_or_prefix: str, *, run: str | None = None) -> Snapshot:
        """A snapshot by full id, unique id prefix, or `latest` (newest, optionally within `run`)."""
        if id_or_prefix == "latest":
            snaps = self.list(run=run)
            if not snaps:
                raise NotFoundError(
                    "no snapshots" + (f" for run {run}" if run else ""), "save a snapshot first"
                )
            return snaps[-1]
        key = id_or_prefix.lower()
        if not key or any(c not in "0123456789abcdef" for c in key):
            raise NotFoundError(
                f"{id_or_prefix!r} is not a snapshot id", "use a hex id or prefix from `snapshot list`"
            )
        matches = [sid for sid in self._manifest_ids() if sid.startswith(key)]
        if not matches:
            raise NotFoundError(
                f"no snapshot matches {id_or_prefix!r}", "list snapshots with `snapshot list`"
            )
        if len(matches) > 1:
            raise NotFoundError(
                f"snapshot prefix {id_or_prefix!r} is ambiguous ({len(matches)} matches)",
                "give more characters of the id",
            )
        return self._read_manifest(matches[0])

    def load(
        self, snapshot_id: str, names: Iterable[str] | None = None
    ) -> tuple[dict[str, np.ndarray[Any, Any]], dict[str, Any]]:
        """Restore a snapshot bit-exactly (dtype, shape, bytes), verifying every chunk's hash as it reads.

        Raises VerificationError naming the snapshot, array, chunk and pack if anything is damaged.
        """
        snap = self.get(snapshot_id)
        wanted = list(snap.arrays) if names is None else list(names)
        missing = [n for n in wanted if n not in snap.arrays]
        if missing:
            raise NotFoundError(
                f"snapshot {snap.short_id} has no array(s) {missing}", f"arrays: {sorted(snap.arrays)}"
            )
        if any(c not in self._index for n in wanted for c in snap.arrays[n].chunks):
            self._load_index()
        out: dict[str, np.ndarray[Any, Any]] = {}
        fds: dict[str, int] = {}
        raw_direct = self._crypto is None
        try:
            for name in wanted:
                info = snap.arrays[name]
                arr = np.empty(info.shape, dtype=np.dtype(info.dtype))
                if arr.nbytes != info.nbytes:
                    raise VerificationError(
                        f"snapshot {snap.short_id}: array {name} size does not match its dtype/shape",
                        "the manifest is inconsistent; use another snapshot",
                    )
                flat: U8Array = arr.reshape(-1).view(np.uint8) if arr.nbytes else np.empty(0, np.uint8)
                for i, bid in enumerate(info.chunks):
                    start = i * info.chunk_size
                    dest = flat[start : start + info.chunk_size]
                    loc = self._index.get(bid)
                    try:
                        if loc is None:
                            raise _Damaged("chunk is not in any index (index file lost or damaged)")
                        if loc.raw_length != len(dest):
                            raise _Damaged("chunk length in the index does not match the manifest")
                        fd = fds.get(loc.pack)
                        if fd is None:
                            try:
                                fd = os.open(self._pack_path(loc.pack), os.O_RDONLY)
                            except FileNotFoundError:
                                raise _Damaged(f"pack {loc.pack[:12]} is missing") from None
                            fds[loc.pack] = fd
                        if raw_direct and loc.codec == fmt.CODEC_RAW:
                            n = os.preadv(fd, [_mv(dest)], loc.offset)
                            if n != loc.length or loc.length != len(dest):
                                raise _Damaged(f"pack {loc.pack[:12]} is truncated")
                            if self._ids.hexdigest(_mv(dest)) != bid:
                                raise _Damaged("chunk content does not match its id (bit rot or tampering)")
                        else:
                            self._decode_into(self._read_stored(loc, fd), bid, loc, dest)
                    except _Damaged as e:
                        where = f" in pack {loc.pack}" if loc is not None else ""
                        raise VerificationError(
                            f"snapshot {snap.id}: array {name!r} chunk {i} (blob {bid}){where} "
                            f"is damaged: {e}",
                            "restore another snapshot (the newest that passes verify_snapshot) "
                            "or a backup copy",
                        ) from None
                out[name] = arr
        finally:
            for fd in fds.values():
                os.close(fd)
        return out, json.loads(json.dumps(snap.meta))

    def stats(self) -> StoreStats:
        packs = {loc.pack for loc in self._index.values()}
        return StoreStats(
            snapshots=len(self._manifest_ids()),
            packs=len(packs),
            blobs=len(self._index),
            stored_bytes=sum(loc.length for loc in self._index.values()),
            raw_bytes=sum(loc.raw_length for loc in self._index.values()),
        )

    def disk_usage(self) -> int:
        """Bytes used on disk by packs, index files and manifests."""
        total = 0
        for d, _dirs, files in os.walk(self.path):
            for f in files:
                with contextlib.suppress(OSError):
                    total += os.path.getsize(os.path.join(d, f))
        return total

    # -- tags ----------------------------------------------------------------------------------------
    def tag(
        self,
        snapshot_id: str,
        *,
        add: Iterable[str] = (),
        remove: Iterable[str] = (),
        set_to: Iterable[str] | None = None,
    ) -> Snapshot:
        """Change tags like restic: write a new manifest (new id) recording `original`, delete the old one.

        `original` keeps the id the snapshot had when it was first saved, across any number of re-tags.
        """
        with self._lock(exclusive=True):
            snap = self.get(snapshot_id)
            tags = set(snap.tags) if set_to is None else set(set_to)
            tags |= set(add)
            tags -= set(remove)
            for t in tags:
                if not isinstance(t, str) or not t:
                    raise SnapshotError(f"invalid tag {t!r}", "tags are non-empty strings")
            if tuple(sorted(tags)) == snap.tags:
                return snap
            new = Snapshot(
                "",
                snap.time,
                snap.host,
                snap.run,
                tuple(sorted(tags)),
                snap.parent,
                snap.original or snap.id,
                snap.arrays,
                snap.meta,
            )
            new = self._write_manifest(new)
            os.unlink(self._p("snapshots", snap.id))
            fsync_dir(self._p("snapshots"))
            self._manifests.pop(snap.id, None)
            return new

    # -- diff ----------------------------------------------------------------------------------------
    def diff(self, a: str, b: str) -> dict[str, Any]:
        """Per-array and meta differences from snapshot `a` to snapshot `b` (JSON-able)."""
        sa, sb = self.get(a), self.get(b)
        changed: dict[str, Any] = {}
        unchanged: builtins.list[str] = []
        common = sorted(set(sa.arrays) & set(sb.arrays))
        need = [
            n
            for n in common
            if sa.arrays[n].chunks != sb.arrays[n].chunks
            or sa.arrays[n].dtype != sb.arrays[n].dtype
            or sa.arrays[n].shape != sb.arrays[n].shape
        ]
        la = self.load(sa.id, need)[0] if need else {}
        lb = self.load(sb.id, need)[0] if need else {}
        for n in common:
            ia, ib = sa.arrays[n], sb.arrays[n]
            if n not in need:
                unchanged.append(n)
                continue
            changed[n] = _array_change(ia, ib, la[n], lb[n])
        return {
            "a": sa.id,
            "b": sb.id,
            "arrays": {
                "added": sorted(set(sb.arrays) - set(sa.arrays)),
                "removed": sorted(set(sa.arrays) - set(sb.arrays)),
                "changed": changed,
                "unchanged": unchanged,
            },
            "meta": _meta_diff(dict(sa.meta), dict(sb.meta)),
            "tags": {
                "added": sorted(set(sb.tags) - set(sa.tags)),
                "removed": sorted(set(sa.tags) - set(sb.tags)),
            },
            "seconds_between": (sb.time - sa.time).total_seconds(),
        }

    # -- verify --------------------------------------------------------------------------------------
    def verify(self, read_data: bool = False) -> VerifyReport:
        """Check the whole store. Structure: manifests parse and match their ids, every referenced blob is
        indexed, every indexed pack exists with a matching header. `read_data`: also re-hash every blob."""
        rep = VerifyReport(read_data=read_data)
        fresh = SnapshotStore(self.path, self.config, self._crypto)  # re-read index from disk, no caches
        try:
            rep.errors.extend(fresh._index_problems())
            snaps, bad = [], []
            for sid in fresh._manifest_ids():
                try:
                    snaps.append(fresh._read_manifest(sid))
                except VerificationError as e:
                    bad.append(Problem("manifest-damaged", e.message, snapshot=sid, file=f"snapshots/{sid}"))
            rep.errors.extend(bad)
            rep.snapshots_checked = len(snaps) + len(bad)
            blob_users: dict[str, builtins.list[tuple[str, str]]] = {}
            for s in snaps:
                for name, info in s.arrays.items():
                    for bid in info.chunks:
                        blob_users.setdefault(bid, []).append((s.id, name))
            pack_problems = fresh._check_packs(rep, read_data, set(blob_users))
            for s in snaps:
                rep.errors.extend(fresh._snapshot_problems(s, pack_problems))
            # leftovers that are harmless but worth knowing
            for name in sorted(os.listdir(fresh._p("tmp"))):
                rep.warnings.append(
                    Problem(
                        "torn-temp-file",
                        f"tmp/{name} is a leftover of an interrupted write; prune removes it",
                        file=f"tmp/{name}",
                    )
                )
            for name in sorted(os.listdir(fresh._p("snapshots"))):
                if not fmt.is_hex_id(name):
                    rep.warnings.append(
                        Problem(
                            "stray-file", f"snapshots/{name} is not a manifest name", file=f"snapshots/{name}"
                        )
                    )
            indexed = {loc.pack for loc in fresh._index.values()}
            for pid in fresh._packs_on_disk():
                if pid not in indexed:
                    rep.warnings.append(
                        Problem(
                            "unindexed-pack",
                            f"pack {pid} is in no index (interrupted save or prune); prune removes it",
                            pack=pid,
                            file=f"data/{pid[:2]}/{pid}",
                        )
                    )
        finally:
            fresh.close()
        return rep

    def verify_snapshot(self, snapshot_id: str, read_data: bool = True) -> VerifyReport:
        """Check one snapshot (manifest, index entries, packs, and with `read_data` every chunk's hash)."""
        rep = VerifyReport(read_data=read_data)
        fresh = SnapshotStore(self.path, self.config, self._crypto)
        try:
            rep.errors.extend(fresh._index_problems())
            try:
                snap = fresh.get(snapshot_id)
            except VerificationError as e:
                sid = snapshot_id if fmt.is_hex_id(snapshot_id) else None
                rep.errors.append(
                    Problem(
                        "manifest-damaged", e.message, snapshot=sid, file=f"snapshots/{sid}" if sid else None
                    )
                )
                rep.snapshots_checked = 1
                return rep
            rep.snapshots_checked = 1
            used = {bid for info in snap.arrays.values() for bid in info.chunks}
            pack_problems = fresh._check_packs(
                rep, read_data, used, only_packs={fresh._index[b].pack for b in used if b in fresh._index}
            )
            rep.errors.extend(fresh._snapshot_problems(snap, pack_problems))
            # index-file problems are only errors for this snapshot if it lost blobs; keep them as warnings
            keep_errors = [p for p in rep.errors if p.snapshot is not None]
            rep.warnings.extend(p for p in rep.errors if p.snapshot is None)
            rep.errors = keep_errors
        finally:
            fresh.close()
        return rep

    def latest_verified(self, run: str | None = None, read_data: bool = True) -> Snapshot | None:
        """The newest snapshot (optionally of `run`) that passes `verify_snapshot` — what resume uses."""
        for snap in reversed(self.list(run=run)):
            if self.verify_snapshot(snap.id, read_data=read_data).ok:
                return snap
        return None

    def _index_problems(self) -> builtins.list[Problem]:
        self._index.clear()
        self._index_files.clear()
        self._pack_index_file.clear()
        return self._load_index()

    def _packs_on_disk(self) -> builtins.list[str]:
        out: builtins.list[str] = []
        data = self._p("data")
        for sub in sorted(os.listdir(data)):
            d = os.path.join(data, sub)
            if os.path.isdir(d):
                out.extend(n for n in sorted(os.listdir(d)) if fmt.is_hex_id(n))
        return out

    def _check_packs(
        self, rep: VerifyReport, read_data: bool, used: set[str], only_packs: set[str] | None = None
    ) -> dict[str, str]:
        """Check packs named by the index; returns {blob id: problem text} for every unusable blob."""
        by_pack: dict[str, builtins.list[tuple[str, fmt.BlobLoc]]] = {}
        for bid, loc in self._index.items():
            if only_packs is None or loc.pack in only_packs:
                by_pack.setdefault(loc.pack, []).append((bid, loc))
        bad_blobs: dict[str, str] = {}
        for pid, blobs in sorted(by_pack.items()):
            rep.packs_checked += 1
            path = self._pack_path(pid)
            rel = f"data/{pid[:2]}/{pid}"
            if not os.path.exists(path):
                for bid, _loc in blobs:
                    bad_blobs[bid] = f"pack {pid} is missing"
                if only_packs is None:
                    rep.errors.append(
                        Problem(
                            "pack-missing",
                            f"pack {pid} named by the index does not exist",
                            pack=pid,
                            file=rel,
                        )
                    )
                continue
            try:
                _size, header = fmt.read_pack_header(path, pid, self._crypto)
            except (ValueError, OSError) as e:
                for bid, _loc in blobs:
                    bad_blobs[bid] = f"pack {pid} header is damaged: {e}"
                rep.errors.append(Problem("pack-damaged", f"pack {pid}: {e}", pack=pid, file=rel))
                continue
            in_header = dict(header)
            mismatched = [bid for bid, loc in blobs if in_header.get(bid) != loc]
            for bid in mismatched:
                bad_blobs[bid] = f"pack {pid} header does not list the blob where the index says"
                rep.errors.append(
                    Problem(
                        "index-mismatch",
                        f"blob {bid} in pack {pid}: header and index disagree",
                        blob=bid,
                        pack=pid,
                        file=rel,
                    )
                )
            if read_data:
                whole_ok = True
                with open(path, "rb") as f:
                    content = f.read()
                if fmt.file_hash([content]) != pid:
                    whole_ok = False
                for bid, loc in blobs:
                    if bid in mismatched:
                        continue
                    rep.blobs_checked += 1
                    try:
                        stored = content[loc.offset : loc.offset + loc.length]
                        if len(stored) != loc.length:
                            raise _Damaged("pack is truncated")
                        self._decode_into(stored, bid, loc, np.empty(loc.raw_length, np.uint8))
                    except _Damaged as e:
                        bad_blobs[bid] = f"blob {bid} in pack {pid}: {e}"
                        rep.errors.append(
                            Problem(
                                "blob-damaged", f"blob {bid} in pack {pid}: {e}", blob=bid, pack=pid, file=rel
                            )
                        )
                if not whole_ok and not any(p.pack == pid for p in rep.errors):
                    rep.errors.append(
                        Problem(
                            "pack-damaged",
                            f"pack {pid} content does not match its name (damage outside blob data)",
                            pack=pid,
                            file=rel,
                        )
                    )
        return bad_blobs

    def _snapshot_problems(self, snap: Snapshot, bad_blobs: Mapping[str, str]) -> builtins.list[Problem]:
        out = []
        for name, info in sorted(snap.arrays.items()):
            for i, bid in enumerate(info.chunks):
                loc = self._index.get(bid)
                if loc is None:
                    out.append(
                        Problem(
                            "blob-missing",
                            f"snapshot {snap.id}: array {name!r} chunk {i} (blob {bid}) is in no index",
                            snapshot=snap.id,
                            array=name,
                            blob=bid,
                        )
                    )
                elif bid in bad_blobs:
                    out.append(
                        Problem(
                            "blob-damaged",
                            f"snapshot {snap.id}: array {name!r} chunk {i}: {bad_blobs[bid]}",
                            snapshot=snap.id,
                            array=name,
                            blob=bid,
                            pack=loc.pack,
                            file=f"data/{loc.pack[:2]}/{loc.pack}",
                        )
                    )
        return out

    # -- retention -----------------------------------------------------------------------------------
    def forget(
        self,
        policy: ForgetPolicy,
        *,
        dry_run: bool = False,
        group_by: Sequence[str] = ("run",),
        now: datetime | None = None,
        run: str | None = None,
    ) -> ForgetResult:
        """Apply a restic retention policy per group (default: per run), to one `run`'s snapshots only when
        given. Deletes manifests unless dry_run; blobs are freed by a later `prune`."""
        if policy.empty():
            raise SnapshotError(
                "no retention policy given; refusing to remove every snapshot",
                "set at least one of last/hourly/daily/weekly/monthly/yearly/within*/tags",
            )
        for g in group_by:
            if g not in ("run", "host", "tags"):
                raise SnapshotError(f"cannot group by {g!r}", "group by any of: run, host, tags")
        with self._lock(exclusive=True) if not dry_run else contextlib.nullcontext():
            groups: dict[tuple[Any, ...], builtins.list[Snapshot]] = {}
            for s in self.list(run=run):
                key = tuple(s.run if g == "run" else s.host if g == "host" else s.tags for g in group_by)
                groups.setdefault(key, []).append(s)
            out = []
            for key, members in sorted(groups.items(), key=lambda kv: repr(kv[0])):
                decisions = apply_policy(members, policy, now=now)
                out.append(
                    ForgetGroup(
                        {
                            g: (list(v) if isinstance(v, tuple) else v)
                            for g, v in zip(group_by, key, strict=True)
                        },
                        tuple(d for d in decisions if d.keep),
                        tuple(d for d in decisions if not d.keep),
                    )
                )
            result = ForgetResult(policy, dry_run, tuple(out))
            if not dry_run:
                for sid in result.remove_ids:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(self._p("snapshots", sid))
                    self._manifests.pop(sid, None)
                fsync_dir(self._p("snapshots"))
        return result

    def prune(self) -> PruneResult:
        """Remove blobs no snapshot references: delete unused packs, repack partly used ones, rewrite the
        index atomically (new index first, then old index files, then old packs), clear tmp/."""
        with self._lock(exclusive=True):
            snaps, bad = self._all()
            if bad:
                raise SnapshotError(
                    f"{len(bad)} manifest(s) are damaged (e.g. {bad[0][0][:12]}); "
                    "prune would lose their data",
                    "run `verify`, then delete or restore the damaged manifests before pruning",
                )
            self._index_problems()
            used = {bid for s in snaps for info in s.arrays.values() for bid in info.chunks}
            by_pack: dict[str, builtins.list[tuple[str, fmt.BlobLoc]]] = {}
            for bid, loc in self._index.items():
                by_pack.setdefault(loc.pack, []).append((bid, loc))
            keep_packs: dict[str, builtins.list[tuple[str, fmt.BlobLoc]]] = {}
            delete: builtins.list[str] = []
            repack: builtins.list[str] = []
            lost: builtins.list[str] = []
            for pid, blobs in by_pack.items():
                live = [(b, loc) for b, loc in blobs if b in used]
                if not os.path.exists(self._pack_path(pid)):
                    lost.extend(b for b, _ in live)
                    delete.append(pid)
                elif not live:
                    delete.append(pid)
                elif len(live) < len(blobs):
                    repack.append(pid)
                else:
                    keep_packs[pid] = blobs
            moved: builtins.list[tuple[str, fmt.Buffer, int, int, int]] = []
            freed = 0
            for pid in repack:
                for bid, loc in sorted(by_pack[pid], key=lambda x: x[1].offset):
                    if bid not in used:
                        freed += loc.length
                        continue
                    stored = self._read_stored(loc)
                    try:
                        self._decode_into(stored, bid, loc, np.empty(loc.raw_length, np.uint8))
                    except _Damaged:
                        lost.append(bid)  # never copy damage into a new pack
                        continue
                    moved.append((bid, stored, loc.raw_length, loc.codec, loc.shuffle))
            for pid in delete:
                freed += sum(loc.length for _b, loc in by_pack[pid])
            written = self._write_packs(moved) if moved else []
            old_index_files = sorted(self._index_files)
            new_packs = [
                (pid, os.path.getsize(self._pack_path(pid)), sorted(blobs, key=lambda x: x[1].offset))
                for pid, blobs in sorted(keep_packs.items())
            ]
            new_packs += [(pid, size, entries) for pid, size, entries in written]
            changed = bool(delete or repack)
            removed_blobs = sum(1 for b in self._index if b not in used)
            if changed:
                self._index.clear()
                self._index_files.clear()
                self._pack_index_file.clear()
                new_name = self._write_index(new_packs)
                for name in old_index_files:
                    if name != new_name:
                        os.unlink(self._p("index", name))
                fsync_dir(self._p("index"))
                for pid in delete + repack:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(self._pack_path(pid))
            # packs that no index names (interrupted saves) are garbage too
            indexed = set(self._pack_index_file)
            for pid in self._packs_on_disk():
                if pid not in indexed:
                    freed += os.path.getsize(self._pack_path(pid))
                    os.unlink(self._pack_path(pid))
                    delete.append(pid)
            temps = os.listdir(self._p("tmp"))
            for name in temps:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self._p("tmp", name))
            return PruneResult(
                packs_deleted=len(delete),
                packs_repacked=len(repack),
                packs_written=len(written),
                blobs_removed=removed_blobs,
                bytes_freed=freed,
                index_files_replaced=len(old_index_files) if changed else 0,
                temp_files_removed=len(temps),
                lost_blobs=tuple(sorted(set(lost))),
            )

    # -- copy ----------------------------------------------------------------------------------------
    def copy_to(self, other: SnapshotStore, snapshot_ids: Iterable[str] | None = None) -> CopyResult:
        """Copy snapshots (default: all) into `other`, sending only blobs it lacks. Every blob is verified
        on the way; the destination writes packs -> index -> manifests like a save."""
        if other.id_scheme != self.id_scheme:
            raise SnapshotError(
                "the two stores use different object-id keys, so blobs cannot be shared",
                "open both with the same encryption key, or both without encryption",
            )
        snaps = self.list() if snapshot_ids is None else [self.get(s) for s in snapshot_ids]
        copied: builtins.list[str] = []
        skipped: builtins.list[str] = []
        blobs = 0
        nbytes = 0
        with other._lock(exclusive=False):
            other._load_index()
            existing = set(other._manifest_ids())
            for snap in snaps:
                if snap.id in existing:
                    skipped.append(snap.id)
                    continue
                items: builtins.list[tuple[str, fmt.Buffer, int, int, int]] = []
                seen: set[str] = set()
                for name, info in snap.arrays.items():
                    for i, bid in enumerate(info.chunks):
                        if bid in other._index or bid in seen:
                            continue
                        loc = self._index.get(bid)
                        try:
                            if loc is None:
                                raise _Damaged("chunk is not in any index")
                            stored = self._read_stored(loc)
                            payload = self._payload(stored, bid)
                            self._decode_into(stored, bid, loc, np.empty(loc.raw_length, np.uint8))
                        except (_Damaged, FileNotFoundError) as e:
                            raise VerificationError(
                                f"snapshot {snap.id}: array {name!r} chunk {i} (blob {bid}) is damaged: {e}",
                                "copy the other snapshots by id, then repair or forget this one",
                            ) from None
                        out: fmt.Buffer = (
                            payload
                            if other._crypto is None
                            else other._crypto.seal(payload, fmt.blob_aad(bytes.fromhex(bid)))
                        )
                        items.append((bid, out, loc.raw_length, loc.codec, loc.shuffle))
                        seen.add(bid)
                        nbytes += len(out)
                if items:
                    results = other._write_packs(items)
                    other._write_index(results)
                    blobs += len(items)
                other._write_manifest(snap)
                copied.append(snap.id)
        return CopyResult(tuple(copied), tuple(skipped), blobs, nbytes)


# ------------------------------------------------------------------------------------------ helpers
def _as_bytes(name: str, a: Any) -> tuple[np.ndarray[Any, Any], memoryview]:
    if not isinstance(name, str) or not name:
        raise SnapshotError(f"invalid array name {name!r}", "array names are non-empty strings")
    arr = np.asarray(a)
    if arr.dtype.hasobject or arr.dtype.fields is not None or arr.dtype.subdtype is not None:
        raise SnapshotError(
            f"array {name!r} has dtype {arr.dtype}, which has no portable byte form",
            "store numeric, bool, datetime or fixed-width string arrays; put Python objects in meta",
        )
    if not arr.flags.c_contiguous:
        arr = arr.copy(order="C")
    if arr.nbytes == 0:
        return arr, memoryview(b"")
    return arr, _mv(arr.reshape(-1).view(np.uint8))


def _mv(a: np.ndarray[Any, Any]) -> memoryview:
    return memoryview(cast(Any, a))


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _shuffle_size(dtype: np.dtype[Any]) -> int:
    if dtype.kind == "f" and dtype.itemsize > 1:
        return int(dtype.itemsize)
    if dtype.kind == "c":
        return int(dtype.itemsize // 2)
    return 0


def _snapshot_from_doc(sid: str, doc: Mapping[str, Any]) -> Snapshot:
    if doc.get("version") != fmt.FORMAT_VERSION:
        raise ValueError(f"unsupported manifest version {doc.get('version')}")
    arrays = {
        name: ArrayInfo(
            dtype=str(a["dtype"]),
            shape=tuple(int(s) for s in a["shape"]),
            nbytes=int(a["nbytes"]),
            chunk_size=int(a["chunk_size"]),
            chunks=tuple(str(c) for c in a["chunks"]),
        )
        for name, a in doc["arrays"].items()
    }
    return Snapshot(
        id=sid,
        time=clock.parse_iso(doc["time"]),
        host=str(doc["host"]),
        run=doc.get("run"),
        tags=tuple(doc.get("tags", [])),
        parent=doc.get("parent"),
        original=doc.get("original"),
        arrays=arrays,
        meta=cast(dict[str, Any], doc.get("meta", {})),
    )


def _json_number(x: float) -> float | str:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def _array_change(
    ia: ArrayInfo, ib: ArrayInfo, a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]
) -> dict[str, Any]:
    n = max(len(ia.chunks), len(ib.chunks))
    differ = sum(
        1 for i in range(n) if i >= len(ia.chunks) or i >= len(ib.chunks) or ia.chunks[i] != ib.chunks[i]
    )
    out: dict[str, Any] = {
        "chunks_changed": differ,
        "chunks_total": n,
        "chunks_changed_fraction": (differ / n) if n else 0.0,
    }
    if ia.dtype != ib.dtype:
        out["dtype"] = {"a": ia.dtype, "b": ib.dtype}
    if ia.shape != ib.shape:
        out["shape"] = {"a": list(ia.shape), "b": list(ib.shape)}
        return out
    numeric = a.dtype.kind in "biufc" and b.dtype.kind in "biufc"
    if not numeric:
        out["elements_changed"] = int(np.count_nonzero(a != b))
        return out
    if a.size == 0:
        out.update(l2=0.0, max_abs=0.0, elements_changed=0)
        return out
    kind = np.complex128 if "c" in (a.dtype.kind, b.dtype.kind) else np.float64
    d = b.astype(kind) - a.astype(kind)
    absd = np.abs(d)
    with np.errstate(invalid="ignore"):
        out["l2"] = _json_number(float(np.sqrt(np.sum(absd * absd))))
        out["max_abs"] = _json_number(float(np.max(absd)))
        out["relative_l2"] = _json_number(
            float(out["l2"]) / float(np.linalg.norm(np.abs(a.astype(kind)).ravel()))
            if isinstance(out["l2"], float) and np.any(a)
            else 0.0
        )
    same_bits = (
        a.reshape(-1).view(np.uint8).reshape(a.size, -1) == b.reshape(-1).view(np.uint8).reshape(b.size, -1)
        if a.dtype == b.dtype
        else None
    )
    out["elements_changed"] = (
        int(a.size - np.count_nonzero(same_bits.all(axis=1)))
        if same_bits is not None
        else int(np.count_nonzero(d))
    )
    return out


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _meta_diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    fa, fb = _flatten(a), _flatten(b)
    changed: dict[str, Any] = {}
    for k in sorted(set(fa) & set(fb)):
        va, vb = fa[k], fb[k]
        if va == vb and type(va) is type(vb):
            continue
        entry: dict[str, Any] = {"a": va, "b": vb}
        if (
            isinstance(va, int | float)
            and isinstance(vb, int | float)
            and not isinstance(va, bool)
            and not isinstance(vb, bool)
        ):
            entry["delta"] = vb - va
        changed[k] = entry
    return {
        "added": {k: fb[k] for k in sorted(set(fb) - set(fa))},
        "removed": {k: fa[k] for k in sorted(set(fa) - set(fb))},
        "changed": changed,
    }
