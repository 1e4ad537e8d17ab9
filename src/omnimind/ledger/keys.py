"""The keyring: per-subject AES-256-GCM data keys wrapped by a rotating key-encryption key (KEK).

File `keys/keyring.json` (mode 0600, written atomically under an flock on `keys/keyring.lock`):

    {"version": 1,
     "kek": {"id", "created", "material": {"raw": b64} | {"scrypt": {salt, n, r, p}, "nonce", "ct"}},
     "data_keys": {kid: {"subject", "category", "epoch", "created", "kek", "nonce", "wrapped"}},
     "shredded": {kid: {"time", "reason"}},
     "rotations": [{"kek", "time", "reason", "rewrapped"}]}

A data key is scoped to (subject, category, UTC day): erasure destroys every key of a subject, retention
destroys the keys of a category whose day is past its retention period. Destroying a key (crypto-shredding)
makes every payload encrypted under it unreadable forever; the log's leaves are untouched.

Rotation makes a new KEK and re-wraps every data key under it (`wrapped` = AES-GCM(KEK, data key, AAD = kid));
payloads are never re-encrypted. It happens on demand and lazily when the KEK is older than `rotate_after`.
With `OMNIMIND_KEY_PASSPHRASE` set at creation, the KEK itself is stored sealed by scrypt(passphrase).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from omnimind import clock
from omnimind.errors import LedgerError
from omnimind.fsutil import atomic_write_bytes
from omnimind.ledger._util import b64decode_strict, b64encode

KEYRING_FILE = "keyring.json"
PASSPHRASE_ENV = "OMNIMIND_KEY_PASSPHRASE"
DEFAULT_ROTATE_AFTER = timedelta(hours=24)
_SCRYPT = {"n": 2**15, "r": 8, "p": 1}
_BUNDLE_MAGIC = "omnimind-keys-backup/1"


def _scrypt_key(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def seal_with_passphrase(data: bytes, passphrase: str, aad: bytes) -> dict[str, Any]:
    """AES-256-GCM under scrypt(passphrase): a JSON-ready object."""
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    key = _scrypt_key(passphrase, salt, **_SCRYPT)
    return {"scrypt": {"salt": b64encode(salt), **_SCRYPT}, "nonce": b64encode(nonce),
            "ct": b64encode(AESGCM(key).encrypt(nonce, data, aad))}


def open_with_passphrase(obj: dict[str, Any], passphrase: str, aad: bytes) -> bytes:
    """Inverse of `seal_with_passphrase`; LedgerError on a wrong passphrase or damaged data."""
    try:
        s = obj["scrypt"]
        key = _scrypt_key(passphrase, b64decode_strict(s["salt"]), int(s["n"]), int(s["r"]), int(s["p"]))
        return AESGCM(key).decrypt(b64decode_strict(obj["nonce"]), b64decode_strict(obj["ct"]), aad)
    except InvalidTag as exc:
        raise LedgerError("wrong passphrase, or the sealed key material is damaged",
                          f"set {PASSPHRASE_ENV} to the passphrase used when it was written") from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise LedgerError(f"sealed key material is malformed: {exc}") from exc


@dataclass(frozen=True)
class DataKey:
    """An unwrapped data key and its scope."""

    kid: str
    subject: str | None
    category: str
    epoch: str  # UTC day, YYYY-MM-DD
    created: str
    key: bytes


class Keyring:
    """The lab's keyring in `directory` (normally `<lab>/keys`). Thread-safe; processes coordinate by flock."""

    def __init__(self, directory: Path, *, rotate_after: timedelta = DEFAULT_ROTATE_AFTER) -> None:
        self.directory = Path(directory)
        self.path = self.directory / KEYRING_FILE
        self.rotate_after = rotate_after
        self._lock = threading.RLock()
        self._doc: dict[str, Any] = {}
        self._keys: dict[str, DataKey] = {}  # unwrapped cache, by kid
        self._by_scope: dict[tuple[str | None, str, str], str] = {}
        self.generation = 0  # bumped whenever keys are destroyed or replaced (caches must drop theirs)
        self._listeners: list[weakref.WeakMethod[Callable[[], None]]] = []
        with self._file_lock():
            if self.path.exists():
                self._load()
            else:
                self._doc = {"version": 1, "kek": self._new_kek(), "data_keys": {}, "shredded": {},
                             "rotations": []}
                self._doc["rotations"].append({"kek": self._doc["kek"]["id"], "time": self._doc["kek"]["created"],
                                               "reason": "created", "rewrapped": 0})
                self._save()
        self.rotate_if_due()

    # ------------------------------------------------------------ file handling

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._lock:
            fd = os.open(self.directory / "keyring.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)

    def _load(self) -> None:
        st = self.path.stat()
        if os.name == "posix" and st.st_mode & 0o077:
            raise LedgerError(f"keyring {self.path} is accessible by other users", f"chmod 600 {self.path}")
        try:
            doc = json.loads(self.path.read_bytes())
        except ValueError as exc:
            raise LedgerError(f"keyring {self.path} is damaged", "restore it with `omnimind keys restore`") from exc
        if self._doc.get("kek", {}).get("id") != doc["kek"]["id"]:
            self._keys.clear()
            self._by_scope.clear()
            self._dropped()  # e.g. restored elsewhere with keys left out: derived caches must reload too
        self._doc = doc
        for kid in list(self._keys):
            if kid not in doc["data_keys"]:
                self._forget(kid)

    def _save(self) -> None:
        atomic_write_bytes(self.path, json.dumps(self._doc, indent=1, sort_keys=True).encode(), mode=0o600)

    def _forget(self, kid: str) -> None:
        dk = self._keys.pop(kid, None)
        if dk is not None:
            self._by_scope.pop((dk.subject, dk.category, dk.epoch), None)
        self._dropped()

    def on_keys_dropped(self, callback: Callable[[], None]) -> None:
        """Call the bound method `callback` (held weakly) whenever keys are destroyed or replaced, so caches of
        objects built from keys (the codec's AES-GCM ciphers) drop them at once, not at their next use."""
        self._listeners.append(weakref.WeakMethod(callback))

    def _dropped(self) -> None:
        self.generation += 1
        alive = []
        for ref in self._listeners:
            callback = ref()
            if callback is not None:
                callback()
                alive.append(ref)
        self._listeners = alive

    # ------------------------------------------------------------ KEK

    def _new_kek(self) -> dict[str, Any]:
        kek_id, kek = secrets.token_hex(8), secrets.token_bytes(32)
        passphrase = os.environ.get(PASSPHRASE_ENV)
        material: dict[str, Any] = (seal_with_passphrase(kek, passphrase, kek_id.encode()) if passphrase
                                    else {"raw": b64encode(kek)})
        self._kek_cache = (kek_id, kek)
        return {"id": kek_id, "created": clock.iso(), "material": material}

    def _kek(self) -> tuple[str, bytes]:
        k = self._doc["kek"]
        cached = getattr(self, "_kek_cache", None)
        if cached is not None and cached[0] == k["id"]:
            return cached  # type: ignore[no-any-return]
        m = k["material"]
        if "raw" in m:
            kek = b64decode_strict(m["raw"])
        else:
            passphrase = os.environ.get(PASSPHRASE_ENV)
            if not passphrase:
                raise LedgerError("the keyring is protected by a passphrase", f"set {PASSPHRASE_ENV}")
            kek = open_with_passphrase(m, passphrase, k["id"].encode())
        self._kek_cache = (k["id"], kek)
        return k["id"], kek

    @property
    def protected(self) -> bool:
        return "raw" not in self._doc["kek"]["material"]

    def kek_id(self) -> str:
        return str(self._doc["kek"]["id"])

    def rotate_if_due(self) -> bool:
        """Rotate when the KEK is older than `rotate_after` (checked lazily on use)."""
        created = clock.parse_iso(self._doc["kek"]["created"])
        if clock.now() - created >= self.rotate_after:
            self.rotate("schedule")
            return True
        return False

    def rotate(self, reason: str = "on demand") -> str:
        """New KEK; every data key re-wrapped under it; the old KEK is forgotten. Returns the new KEK id."""
        with self._file_lock():
            self._load()
            keys = {kid: self._unwrap(kid) for kid in self._doc["data_keys"]}
            old = self._kek()
            try:
                self._doc["kek"] = self._new_kek()
                for kid, dk in keys.items():
                    self._doc["data_keys"][kid].update(self._wrap(kid, dk.key))
            except BaseException:
                self._kek_cache = old
                raise
            self._doc["rotations"].append({"kek": self._doc["kek"]["id"], "time": self._doc["kek"]["created"],
                                           "reason": reason, "rewrapped": len(keys)})
            self._save()
            return self.kek_id()

    def rotations(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._doc["rotations"]]

    # ------------------------------------------------------------ data keys

    def _wrap(self, kid: str, key: bytes) -> dict[str, Any]:
        kek_id, kek = self._kek()
        nonce = secrets.token_bytes(12)
        return {"kek": kek_id, "nonce": b64encode(nonce), "wrapped": b64encode(AESGCM(kek).encrypt(nonce, key,
                                                                                                  kid.encode()))}

    def _unwrap(self, kid: str) -> DataKey:
        dk = self._keys.get(kid)
        if dk is not None:
            return dk
        rec = self._doc["data_keys"][kid]
        kek_id, kek = self._kek()
        if rec["kek"] != kek_id:
            raise LedgerError(f"data key {kid} is wrapped by KEK {rec['kek']}, not the current {kek_id}",
                              "the keyring is inconsistent; restore it from a backup")
        try:
            key = AESGCM(kek).decrypt(b64decode_strict(rec["nonce"]), b64decode_strict(rec["wrapped"]),
                                      kid.encode())
        except InvalidTag as exc:
            raise LedgerError(f"data key {kid} does not unwrap (keyring damaged)") from exc
        dk = DataKey(kid, rec["subject"], rec["category"], rec["epoch"], rec["created"], key)
        self._keys[kid] = dk
        self._by_scope[(dk.subject, dk.category, dk.epoch)] = kid
        return dk

    def key_for(self, subject: str | None, category: str, epoch: str) -> DataKey:
        """The data key for (subject, category, day), created (and durably saved) if it does not exist."""
        scope = (subject, category, epoch)
        with self._lock:
            kid = self._by_scope.get(scope)
            if kid is not None and kid in self._keys:
                return self._keys[kid]
            with self._file_lock():
                self._load()
                for k, rec in self._doc["data_keys"].items():
                    if (rec["subject"], rec["category"], rec["epoch"]) == scope:
                        return self._unwrap(k)
                kid = secrets.token_hex(8)
                key = AESGCM.generate_key(256)
                now = clock.iso()
                self._doc["data_keys"][kid] = {"subject": subject, "category": category, "epoch": epoch,
                                               "created": now, **self._wrap(kid, key)}
                self._save()
                dk = DataKey(kid, subject, category, epoch, now, key)
                self._keys[kid] = dk
                self._by_scope[scope] = kid
                return dk

    def get(self, kid: str) -> DataKey | None:
        """The data key `kid`, or None if it was shredded (or never existed here)."""
        with self._lock:
            if kid in self._keys:
                return self._keys[kid]
            if kid not in self._doc["data_keys"] and kid not in self._doc["shredded"]:
                with self._file_lock():
                    self._load()  # created by another process?
            if kid not in self._doc["data_keys"]:
                return None
            return self._unwrap(kid)

    def is_shredded(self, kid: str) -> bool:
        return kid in self._doc["shredded"]

    def data_keys(self) -> list[dict[str, Any]]:
        """Metadata of live data keys (no key material)."""
        return [{"kid": k, "subject": r["subject"], "category": r["category"], "epoch": r["epoch"],
                 "created": r["created"]} for k, r in sorted(self._doc["data_keys"].items())]

    def shredded(self) -> dict[str, dict[str, Any]]:
        return {k: dict(v) for k, v in self._doc["shredded"].items()}

    def shred(self, kids: list[str], reason: str) -> list[str]:
        """Destroy data keys (crypto-shredding). Returns the kids actually destroyed."""
        with self._file_lock():
            self._load()
            done = []
            now = clock.iso()
            for kid in kids:
                if kid in self._doc["data_keys"]:
                    del self._doc["data_keys"][kid]
                    self._doc["shredded"][kid] = {"time": now, "reason": reason}
                    self._forget(kid)
                    done.append(kid)
            if done:
                self._save()
            return done

    def keys_of_subject(self, subject: str) -> list[str]:
        with self._file_lock():
            self._load()
        return sorted(k for k, r in self._doc["data_keys"].items() if r["subject"] == subject)

    # ------------------------------------------------------------ backup

    def backup(self, dest: Path, passphrase: str, extra_files: dict[str, bytes] | None = None) -> None:
        """Write an encrypted bundle of the keyring (plus `extra_files`, e.g. the log key) to `dest`."""
        if not passphrase:
            raise LedgerError("a key backup needs a passphrase", f"set {PASSPHRASE_ENV}")
        with self._file_lock():
            self._load()
            _, kek = self._kek()
            content = {"keyring": self._doc, "kek": b64encode(kek),
                       "files": {n: b64encode(b) for n, b in (extra_files or {}).items()}}
        sealed = seal_with_passphrase(json.dumps(content).encode(), passphrase, _BUNDLE_MAGIC.encode())
        atomic_write_bytes(Path(dest), json.dumps({"format": _BUNDLE_MAGIC, **sealed}).encode(), mode=0o600)

    @staticmethod
    def read_backup(src: Path, passphrase: str) -> dict[str, Any]:
        """Decrypt a backup bundle: {"keyring", "kek", "files"}."""
        if not passphrase:
            raise LedgerError("restoring a key backup needs its passphrase", f"set {PASSPHRASE_ENV}")
        try:
            obj = json.loads(Path(src).read_bytes())
        except (OSError, ValueError) as exc:
            raise LedgerError(f"{src} is not a readable key backup: {exc}") from exc
        if not isinstance(obj, dict) or obj.get("format") != _BUNDLE_MAGIC:
            raise LedgerError(f"{src} is not an OmniMind key backup")
        content: dict[str, Any] = json.loads(open_with_passphrase(obj, passphrase, _BUNDLE_MAGIC.encode()))
        return content

    def restore(self, content: dict[str, Any], never_restore: set[str]) -> dict[str, int]:
        """Replace the keyring with a backup's, under a fresh KEK; keys in `never_restore` (erased since the
        backup was taken) and keys shredded here stay destroyed. Returns counts."""
        with self._file_lock():
            current_shredded = dict(self._doc.get("shredded", {}))
            doc = content["keyring"]
            old_kek = b64decode_strict(content["kek"])
            keys: dict[str, bytes] = {}
            for kid, rec in doc["data_keys"].items():
                keys[kid] = AESGCM(old_kek).decrypt(b64decode_strict(rec["nonce"]), b64decode_strict(rec["wrapped"]),
                                                    kid.encode())
            dropped = {k for k in keys if k in never_restore or k in current_shredded}
            shredded = {**doc.get("shredded", {}), **current_shredded}
            now = clock.iso()
            for kid in dropped:
                shredded.setdefault(kid, {"time": now, "reason": "erased after backup"})
            self._doc = {"version": 1, "kek": self._new_kek(), "data_keys": {}, "shredded": shredded,
                         "rotations": [*self._doc.get("rotations", []), {"kek": "", "time": now,
                                                                         "reason": "restore", "rewrapped": 0}]}
            self._keys.clear()
            self._by_scope.clear()
            self._dropped()
            for kid, key in keys.items():
                if kid in dropped:
                    continue
                self._doc["data_keys"][kid] = {k: v for k, v in doc["data_keys"][kid].items()
                                               if k in ("subject", "category", "epoch", "created")}
                self._doc["data_keys"][kid].update(self._wrap(kid, key))
            self._doc["rotations"][-1].update(kek=self.kek_id(), rewrapped=len(self._doc["data_keys"]))
            self._save()
            return {"restored": len(self._doc["data_keys"]), "kept_destroyed": len(dropped)}
