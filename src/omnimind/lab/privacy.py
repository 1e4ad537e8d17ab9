"""Sensitive data in a lab: keyring and encrypted ledger payloads, consent, right to erasure, retention and the
compliance report (docs/privacy.md).

Entry points the CLI mirrors: `keyring`, `log_sensitive`, `read_entry`, `grant_consent` / `withdraw_consent`
/ `consents`, `check_run_consent`, `erase_subject`, `retention_plan` / `retention_apply`, `verify_archive`,
`compliance_report`.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import tomllib
import weakref
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import zstandard

from omnimind import clock
from omnimind.errors import LabError, LedgerError, OmniMindError, VerificationError
from omnimind.fsutil import atomic_write_bytes
from omnimind.ledger._util import b64decode_strict, b64encode
from omnimind.ledger.checkpoint import open_checkpoint
from omnimind.ledger.crypto import ENCODING, ENCRYPTED, SENSITIVE, Decoded, EncryptingCodec, decode_payload
from omnimind.ledger.entry import CATEGORIES, Entry
from omnimind.ledger.keys import Keyring
from omnimind.ledger.note import Ed25519Verifier
from omnimind.ledger.tree import MerkleTree
from omnimind.storage.schema import (
    ledger_entries,
    privacy_archives,
    privacy_consents,
    privacy_erasures,
    privacy_retention,
    run_chunks,
    runs,
)

if TYPE_CHECKING:
    from omnimind.lab.lab import Lab
    from omnimind.spec import ExperimentSpec

DEBUG_ENV = "OMNIMIND_DEBUG_UNENCRYPTED"
RETENTION_FILE = "retention.toml"
ARCHIVE_DIR = "data/archive"
EXPORTS_DIR = "data/exports"
_ARCHIVE_FORMAT = "omnimind-ledger-segment/1"
_keyrings: weakref.WeakKeyDictionary[Lab, Keyring] = weakref.WeakKeyDictionary()


# ---------------------------------------------------------------------------------------------- keys


def keyring(lab: Lab) -> Keyring:
    """The lab's keyring (`<lab>/keys/keyring.json`), created on first use; rotated lazily when due."""
    kr = _keyrings.get(lab)
    if kr is None:
        kr = _keyrings[lab] = Keyring(lab.path / "keys")
    else:
        kr.rotate_if_due()
    return kr


def payload_codec(lab: Lab) -> EncryptingCodec:
    """The ledger payload codec of `lab`; `$OMNIMIND_DEBUG_UNENCRYPTED=1` (refused in a production lab) writes
    sensitive fields in clear for local debugging."""
    debug = os.environ.get(DEBUG_ENV, "") not in ("", "0")
    if debug and lab.config.production:
        raise LabError(f"{DEBUG_ENV} is set but this lab has production = true in lab.toml",
                       f"unset {DEBUG_ENV}: unencrypted payloads are for local debugging only")
    return EncryptingCodec(keyring(lab), debug_unencrypted=debug)


def note_debug_mode(lab: Lab, codec: EncryptingCodec, ledger: Any, actor: str) -> None:
    """Log that debug-unencrypted mode is on (called once when the ledger is opened with it)."""
    if codec.debug_unencrypted:
        ledger.append("security", "debug_unencrypted.on", {"lab": lab.config.id, "env": DEBUG_ENV}, actor=actor)


def log_sensitive(lab: Lab, category: str, action: str, payload: dict[str, Any], sensitive: list[str], *,
                  subject: str | None, run: str | None = None, actor: str | None = None) -> int:
    """Append an entry whose `sensitive` fields are encrypted under `subject`'s data key."""
    from omnimind.lab.audit import log

    return log(lab, category, action, {**payload, SENSITIVE: list(sensitive)}, run=run, actor=actor,
               subject=subject)


def read_entry(lab: Lab, index: int) -> Decoded:
    """Entry `index` with its sensitive fields decrypted (status "decrypted"), or "erased" if shredded."""
    return decode_payload(lab.ledger.entry(index), keyring(lab))


def _entries(lab: Lab, where: Any = None) -> list[Entry]:
    t = ledger_entries.c
    stmt = sa.select(t.envelope).order_by(t.idx)
    if where is not None:
        stmt = stmt.where(where)
    with lab.db.connect() as conn:
        return [Entry.from_bytes(bytes(r[0])) for r in conn.execute(stmt)]


def entries_of_subject(lab: Lab, subject: str) -> list[Decoded]:
    return [decode_payload(e, keyring(lab)) for e in _entries(lab, ledger_entries.c.subject == subject)]


# ---------------------------------------------------------------------------------------------- consent


def _record_consent(lab: Lab, subject: str, purpose: str, status: str, scope: dict[str, Any],
                    actor: str | None) -> int:
    from omnimind.lab.audit import current_actor, log

    who = actor or current_actor()
    idx = log(lab, "privacy", f"consent.{status}", {"purpose": purpose, "scope": scope}, subject=subject, actor=who)
    with lab.db.begin() as conn:
        conn.execute(sa.insert(privacy_consents).values(
            subject=subject, purpose=purpose, status=status, scope=json.dumps(scope, sort_keys=True),
            time=clock.iso(), actor=who, ledger_index=idx))
    return idx


def grant_consent(lab: Lab, subject: str, purpose: str, *, scope: dict[str, Any] | None = None,
                  actor: str | None = None) -> int:
    """Record that `subject` consents to processing for `purpose`; returns the ledger index."""
    return _record_consent(lab, subject, purpose, "granted", scope or {}, actor)


def withdraw_consent(lab: Lab, subject: str, purpose: str, *, actor: str | None = None) -> int:
    """Record that `subject` withdrew consent for `purpose`."""
    return _record_consent(lab, subject, purpose, "withdrawn", {}, actor)


def consents(lab: Lab, subject: str | None = None) -> list[dict[str, Any]]:
    """Every consent record (oldest first)."""
    t = privacy_consents.c
    stmt = sa.select(privacy_consents).order_by(t.id)
    if subject is not None:
        stmt = stmt.where(t.subject == subject)
    with lab.db.connect() as conn:
        return [{"subject": r.subject, "purpose": r.purpose, "status": r.status, "scope": json.loads(r.scope),
                 "time": r.time, "actor": r.actor, "ledger_index": r.ledger_index} for r in conn.execute(stmt)]


def current_consents(lab: Lab) -> dict[tuple[str, str], dict[str, Any]]:
    """The newest record per (subject, purpose)."""
    return {(c["subject"], c["purpose"]): c for c in consents(lab)}


def has_consent(lab: Lab, subject: str, purpose: str) -> bool:
    t = privacy_consents.c
    with lab.db.connect() as conn:
        status = conn.execute(sa.select(t.status).where(t.subject == subject, t.purpose == purpose)
                              .order_by(t.id.desc()).limit(1)).scalar()
    return status == "granted"


def check_run_consent(lab: Lab, spec: ExperimentSpec) -> None:
    """Refuse a run whose stimuli belong to a subject without current consent for the spec's purpose."""
    subject, purpose = spec.stimuli.subject, spec.stimuli.purpose
    if subject is not None and not has_consent(lab, subject, purpose):
        raise OmniMindError(
            f"subject {subject!r} has not consented to processing for purpose {purpose!r} (or withdrew consent)",
            f"record consent first: omnimind consent grant {subject} --purpose {purpose}")


def log_run_stimuli(lab: Lab, spec: ExperimentSpec, spec_dir: Path | None, run_id: str) -> int | None:
    """Log a run's text stimuli as a sensitive entry bound to the stimuli's subject (None for non-text)."""
    st = spec.stimuli
    if st.source != "text" or st.path is None:
        return None
    path = Path(st.path)
    if not path.is_absolute() and spec_dir is not None:
        path = spec_dir / path
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    return log_sensitive(lab, "run", "stimuli", {"count": len(lines), "purpose": st.purpose, "lines": lines},
                         ["lines"], subject=st.subject, run=run_id)


# ---------------------------------------------------------------------------------------------- erasure


def subject_digest(subject: str) -> str:
    return hashlib.sha256(b"omnimind-subject\x00" + subject.encode()).hexdigest()


def _runs_of_subject(lab: Lab, subject: str) -> list[str]:
    with lab.db.connect() as conn:
        rows = conn.execute(sa.select(runs.c.id, runs.c.spec_json)).all()
    return [r.id for r in rows if (json.loads(r.spec_json).get("stimuli") or {}).get("subject") == subject]


def _wipe_file(path: Path) -> None:
    """Overwrite with zeros, fsync, unlink (best effort against the bytes lingering in the file's blocks)."""
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.write(b"\x00" * size)
        fh.flush()
        os.fsync(fh.fileno())
    path.unlink()


def compact_database(lab: Lab) -> None:
    """Make deleted bytes go away: SQLite VACUUM + WAL checkpoint(TRUNCATE) (secure_delete is on for every
    connection); PostgreSQL VACUUM of the tables erasure deletes from."""
    if lab.db.dialect.name == "sqlite":
        raw = lab.db.raw_connection()
        try:
            dbapi: Any = raw.driver_connection
            saved = dbapi.isolation_level
            dbapi.isolation_level = None  # VACUUM cannot run inside a transaction
            try:
                dbapi.execute("VACUUM")
                busy = dbapi.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            finally:
                dbapi.isolation_level = saved
        finally:
            raw.close()
        if busy and busy[0]:
            raise LabError("the WAL could not be truncated: another connection is reading the database",
                           "retry the erasure when no other OmniMind process uses the lab")
    else:
        with lab.db.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM run_chunks")


def erase_subject(lab: Lab, subject: str, actor: str) -> dict[str, Any]:
    """Right to erasure for `subject` (the single function governance gates): destroy the subject's data keys,
    delete derived plaintext (recorded stimuli of the subject's runs, exports mentioning the subject), append an
    erasure entry without personal data, then compact the database so old bytes do not linger."""
    from omnimind.lab.audit import log
    from omnimind.lab.governance import lab_resource, require
    from omnimind.lab.runner import STIMULI

    # The decision record names the subject by digest only: it stays in the ledger after the erasure.
    require(lab, "audit.erase", lab_resource(lab, "Subject", subject_digest(subject)[:32]),
            {"data_sensitivity": "high"})
    request = secrets.token_hex(8)
    requested = clock.iso()
    digest = subject_digest(subject)
    with lab.db.begin() as conn:
        conn.execute(sa.insert(privacy_erasures).values(id=request, subject_digest=digest, requested_at=requested,
                                                        actor=actor))
    kr = keyring(lab)
    destroyed = kr.shred(kr.keys_of_subject(subject), f"erasure {request}")
    run_ids = _runs_of_subject(lab, subject)
    rows = 0
    with lab.db.begin() as conn:
        for rid in run_ids:
            rows += conn.execute(sa.delete(run_chunks).where(run_chunks.c.run_id == rid,
                                                             run_chunks.c.array == STIMULI)).rowcount
    files = 0
    needles = [subject.encode(), *(r.encode() for r in run_ids)]
    exports = lab.path / EXPORTS_DIR
    for path in sorted(exports.rglob("*")) if exports.is_dir() else []:
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            if any(n in data or n.decode() in path.name for n in needles):
                _wipe_file(path)
                files += 1
    kr.rotate(f"erasure {request}")  # an old copy of the keyring is useless without the destroyed KEK
    idx = log(lab, "privacy", "erase", {"request": request, "keys_destroyed": destroyed, "runs": len(run_ids),
                                        "stimuli_rows_removed": rows, "files_removed": files}, actor=actor)
    completed = clock.iso()
    with lab.db.begin() as conn:
        conn.execute(sa.update(privacy_erasures).where(privacy_erasures.c.id == request).values(
            completed_at=completed, keys_destroyed=len(destroyed), rows_removed=rows, files_removed=files,
            ledger_index=idx))
    compact_database(lab)
    return {"request": request, "requested_at": requested, "completed_at": completed, "keys_destroyed": destroyed,
            "runs": run_ids, "stimuli_rows_removed": rows, "files_removed": files, "ledger_index": idx}


def erased_key_ids(lab: Lab) -> set[str]:
    """Every data key id an erasure or retention entry in the ledger says was destroyed."""
    out: set[str] = set()
    t = ledger_entries.c
    for e in _entries(lab, sa.and_(t.category == "privacy", t.action.in_(("erase", "retention.apply")))):
        out.update(str(k) for k in e.payload.get("keys_destroyed", []))
    return out


# ---------------------------------------------------------------------------------------------- retention


def retention_config(lab: Lab) -> dict[str, int]:
    """`<lab>/retention.toml` `[retention]`: category = days ({} when absent)."""
    path = lab.path / RETENTION_FILE
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8")).get("retention", {})
    except tomllib.TOMLDecodeError as exc:
        raise LabError(f"{path} is not valid TOML: {exc}", "fix it: [retention] category = days") from exc
    out: dict[str, int] = {}
    for cat, days in data.items():
        if cat not in CATEGORIES or type(days) is not int or days < 0:
            raise LabError(f"{path}: bad retention {cat!r} = {days!r}",
                           f"categories: {', '.join(sorted(CATEGORIES))}; days: a non-negative integer")
        out[cat] = days
    return out


def set_retention(lab: Lab, config: dict[str, int]) -> None:
    lines = ["# Ledger payload retention per category, in days (docs/privacy.md).", "[retention]"]
    lines += [f"{c} = {d}" for c, d in sorted(config.items())]
    atomic_write_bytes(lab.path / RETENTION_FILE, ("\n".join(lines) + "\n").encode())
    retention_config(lab)


@dataclass
class CategoryPlan:
    category: str
    days: int
    cutoff: str
    keys: list[str] = field(default_factory=list)  # data keys to shred
    entries: list[int] = field(default_factory=list)  # encrypted entries that become erased
    plaintext_past_retention: int = 0  # plain "json" entries past retention (nothing to shred)


@dataclass
class RetentionPlan:
    now: str
    categories: list[CategoryPlan]
    archive_from: int
    archive_to: int  # exclusive; equal to archive_from when there is nothing to archive

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _day_end(epoch: str) -> datetime:
    return clock.parse_iso(epoch + "T00:00:00Z") + timedelta(days=1)


def retention_plan(lab: Lab, now: datetime | None = None) -> RetentionPlan:
    """What `retention_apply` would do at `now`: per category, the data keys whose whole day is past
    retention and the encrypted entries they erase; and the ledger segment to archive."""
    now = now or clock.now()
    cfg = retention_config(lab)
    kr = keyring(lab)
    live = kr.data_keys()
    plans = []
    archive_cutoff: datetime | None = None  # the shortest retention's cutoff
    for cat, days in sorted(cfg.items()):
        cutoff = now - timedelta(days=days)
        archive_cutoff = cutoff if archive_cutoff is None else max(archive_cutoff, cutoff)
        keys = sorted(k["kid"] for k in live if k["category"] == cat and _day_end(k["epoch"]) <= cutoff)
        p = CategoryPlan(cat, days, clock.iso(cutoff), keys)
        want = set(keys)
        for e in _entries(lab, ledger_entries.c.category == cat):
            if e.payload_encoding == ENCODING and e.payload.get(ENCRYPTED, {}).get("kid") in want:
                p.entries.append(e.index)
            elif e.payload_encoding == "json" and clock.parse_iso(e.time) < cutoff:
                p.plaintext_past_retention += 1
        plans.append(p)
    with lab.db.connect() as conn:
        start = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(privacy_archives.c.end_idx), 0)))
                    .scalar_one())
        end = start
        if archive_cutoff is not None:  # through the newest entry older than the shortest retention
            t = ledger_entries.c
            last_old = conn.execute(sa.select(sa.func.max(t.idx)).where(t.idx >= start,
                                                                        t.time < clock.iso(archive_cutoff))).scalar()
            end = start if last_old is None else int(last_old) + 1
    return RetentionPlan(clock.iso(now), plans, start, max(start, end))


def _write_archive(lab: Lab, first: int, end: int) -> tuple[Path, str, int]:
    cp = lab.ledger.checkpoint()
    t = ledger_entries.c
    with lab.db.connect() as conn:
        leaves = b"".join(bytes(r[0]) for r in conn.execute(sa.select(t.leaf_hash).where(t.idx < cp.size)
                                                            .order_by(t.idx)))
        envs = [b64encode(bytes(r[0])) for r in conn.execute(
            sa.select(t.envelope).where(t.idx >= first, t.idx < end).order_by(t.idx))]
    doc = {"format": _ARCHIVE_FORMAT, "origin": lab.ledger.origin, "log_key": lab.ledger.vkey, "first": first,
           "end": end, "checkpoint": cp.note, "leaves": b64encode(leaves), "entries": envs}
    blob = zstandard.ZstdCompressor(level=10).compress(json.dumps(doc).encode())
    digest = hashlib.sha256(blob).hexdigest()
    out = lab.path / ARCHIVE_DIR
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"ledger-{first:012d}-{end:012d}.json.zst"
    atomic_write_bytes(path, blob)
    atomic_write_bytes(path.with_name(path.name + ".sha256"), f"{digest}  {path.name}\n".encode())
    return path, digest, cp.size


def verify_archive(path: Path, log_vkey: str | None = None) -> dict[str, Any]:
    """Check an archived segment offline: checksum file, signed checkpoint, root over the archived leaf hashes,
    and every archived entry hashing to its leaf. Raises VerificationError on any problem."""
    path = Path(path)
    blob = path.read_bytes()
    want = path.with_name(path.name + ".sha256").read_text().split()[0]
    if hashlib.sha256(blob).hexdigest() != want:
        raise VerificationError(f"{path.name}: checksum mismatch")
    try:
        doc = json.loads(zstandard.ZstdDecompressor().decompress(blob))
    except (zstandard.ZstdError, ValueError) as exc:
        raise VerificationError(f"{path.name}: not a readable archive: {exc}") from exc
    if doc.get("format") != _ARCHIVE_FORMAT:
        raise VerificationError(f"{path.name}: unknown archive format")
    vkey = log_vkey or doc["log_key"]
    cp, _ = open_checkpoint(doc["checkpoint"], [Ed25519Verifier.from_vkey(vkey)])
    leaves = b64decode_strict(doc["leaves"])
    tree = MerkleTree()
    tree.extend_packed(leaves)
    if tree.size != cp.size or tree.root() != cp.root:
        raise VerificationError(f"{path.name}: archived leaf hashes do not match the signed checkpoint")
    first = int(doc["first"])
    for i, env in enumerate(doc["entries"]):
        raw = b64decode_strict(env)
        if hashlib.sha256(b"\x00" + raw).digest() != tree.leaf_hash(first + i):
            raise VerificationError(f"{path.name}: entry {first + i} does not match its leaf hash")
        if Entry.from_bytes(raw).index != first + i:
            raise VerificationError(f"{path.name}: entry {first + i} has the wrong index")
    return {"first": first, "end": int(doc["end"]), "checkpoint_size": cp.size, "entries": len(doc["entries"])}


def retention_apply(lab: Lab, now: datetime | None = None, *, actor: str | None = None) -> RetentionPlan:
    """Do what `retention_plan(now)` says: archive the segment, shred the keys, log it. Returns what was done
    (computed from the effects: keys actually destroyed, entries that now read as erased)."""
    from omnimind.lab.audit import current_actor, log
    from omnimind.lab.governance import require

    require(lab, "retention.apply")
    plan = retention_plan(lab, now)
    who = actor or current_actor()
    kr = keyring(lab)
    done = RetentionPlan(plan.now, [], plan.archive_from, plan.archive_from)
    if plan.archive_to > plan.archive_from:
        path, digest, size = _write_archive(lab, plan.archive_from, plan.archive_to)
        verify_archive(path, lab.ledger.vkey)
        with lab.db.begin() as conn:
            conn.execute(sa.insert(privacy_archives).values(
                first_idx=plan.archive_from, end_idx=plan.archive_to, path=str(path.relative_to(lab.path)),
                sha256=digest, checkpoint_size=size, time=clock.iso()))
        done.archive_to = plan.archive_to
    for p in plan.categories:
        shredded = kr.shred(p.keys, f"retention {p.category} {p.days}d")
        erased = [i for i in p.entries if read_entry(lab, i).status == "erased"]
        idx = log(lab, "privacy", "retention.apply", {"category": p.category, "days": p.days, "cutoff": p.cutoff,
                                                      "keys_destroyed": shredded, "entries_purged": len(erased)},
                  actor=who)
        with lab.db.begin() as conn:
            conn.execute(sa.insert(privacy_retention).values(
                time=clock.iso(), category=p.category, days=p.days, cutoff=p.cutoff, keys_shredded=len(shredded),
                entries_purged=len(erased), ledger_index=idx))
        done.categories.append(CategoryPlan(p.category, p.days, p.cutoff, sorted(shredded), erased,
                                            p.plaintext_past_retention))
    return done


# ---------------------------------------------------------------------------------------------- compliance


def compliance_report(lab: Lab) -> dict[str, Any]:
    """Records of processing, consents, erasures, retention, key rotations and the ledger's verification,
    all computed from the lab's records now."""
    t = ledger_entries.c
    kr = keyring(lab)
    with lab.db.connect() as conn:
        cats = {r[0]: int(r[1]) for r in conn.execute(sa.select(t.category, sa.func.count()).group_by(t.category))}
        subjects = int(conn.execute(sa.select(sa.func.count(sa.distinct(t.subject)))
                                    .where(t.subject.is_not(None))).scalar_one())
        enc_rows = [raw for raw in (bytes(r[0]) for r in conn.execute(sa.select(t.envelope)))
                    if b'"payload_encoding":"aes-256-gcm"' in raw]
        run_specs = [json.loads(r[0]) for r in conn.execute(sa.select(runs.c.spec_json))]
        erasures = [dict(r._mapping) for r in conn.execute(sa.select(privacy_erasures)
                                                           .order_by(privacy_erasures.c.requested_at))]
        applied = [dict(r._mapping) for r in conn.execute(sa.select(privacy_retention)
                                                          .order_by(privacy_retention.c.id))]
        archives = [dict(r._mapping) for r in conn.execute(sa.select(privacy_archives)
                                                           .order_by(privacy_archives.c.first_idx))]
    encrypted = erased = 0
    by_kid_live = {k["kid"] for k in kr.data_keys()}
    for raw in enc_rows:
        e = Entry.from_bytes(raw)
        encrypted += 1
        if e.payload.get(ENCRYPTED, {}).get("kid") not in by_kid_live:
            erased += 1
    purposes: dict[str, int] = {}
    for s in run_specs:
        st = s.get("stimuli") or {}
        if st.get("subject"):
            purposes[st.get("purpose", "research")] = purposes.get(st.get("purpose", "research"), 0) + 1
    cons = current_consents(lab)
    for er in erasures:
        if er["completed_at"]:
            er["duration_s"] = round((clock.parse_iso(er["completed_at"]) -
                                     clock.parse_iso(er["requested_at"])).total_seconds(), 6)
    cfg = retention_config(lab)
    retention = {c: {"days": d, "last_applied": next((a["time"] for a in reversed(applied) if a["category"] == c),
                                                      None),
                     "keys_shredded": sum(a["keys_shredded"] for a in applied if a["category"] == c),
                     "entries_purged": sum(a["entries_purged"] for a in applied if a["category"] == c)}
                 for c, d in sorted(cfg.items())}
    rep = lab.ledger.verify(full=True)
    rotations = kr.rotations()
    return {
        "lab": lab.config.id, "generated": clock.iso(),
        "processing": {"categories": dict(sorted(cats.items())), "entries": sum(cats.values()),
                       "subjects": subjects, "runs_with_subject_data_by_purpose": purposes,
                       "encrypted_entries": encrypted, "erased_entries": erased},
        "consents": {"records": len(consents(lab)),
                     "granted": sorted(f"{s}/{p}" for (s, p), c in cons.items() if c["status"] == "granted"),
                     "withdrawn": sorted(f"{s}/{p}" for (s, p), c in cons.items() if c["status"] == "withdrawn")},
        "erasures": erasures,
        "retention": {"categories": retention, "archives": archives},
        "keys": {"kek": kr.kek_id(), "kek_age_s": round((clock.now() - clock.parse_iso(rotations[-1]["time"]))
                                                      .total_seconds(), 3),
                 "rotate_after_h": kr.rotate_after.total_seconds() / 3600, "passphrase_protected": kr.protected,
                 "data_keys": len(by_kid_live), "destroyed_keys": len(kr.shredded()), "rotations": rotations},
        "ledger": {"ok": rep.ok, "mode": rep.mode, "size": rep.size, "root": rep.root,
                   "first_bad_index": rep.first_bad_index},
    }


def report_markdown(rep: dict[str, Any]) -> str:
    """The compliance report as Markdown."""
    p, k, led = rep["processing"], rep["keys"], rep["ledger"]
    out = [f"# Compliance report — lab {rep['lab']}", "", f"Generated {rep['generated']}.", "",
           "## Records of processing", "",
           f"- ledger entries: {p['entries']} ({p['encrypted_entries']} with encrypted fields, "
           f"{p['erased_entries']} erased)", f"- data subjects (pseudonyms): {p['subjects']}",
           "- categories: " + ", ".join(f"{c} {n}" for c, n in p["categories"].items()),
           "- runs with subject data by purpose: "
           + (", ".join(f"{c} {n}" for c, n in p["runs_with_subject_data_by_purpose"].items()) or "none"),
           "", "## Consents", "", f"- records: {rep['consents']['records']}",
           f"- current grants: {', '.join(rep['consents']['granted']) or 'none'}",
           f"- withdrawn: {', '.join(rep['consents']['withdrawn']) or 'none'}", "", "## Erasure requests", ""]
    out += [f"- {e['id']}: requested {e['requested_at']}, completed {e['completed_at'] or 'PENDING'}, "
            f"{e['keys_destroyed']} key(s) destroyed, {e['rows_removed']} row(s), {e['files_removed']} file(s)"
            for e in rep["erasures"]] or ["- none"]
    out += ["", "## Retention", ""]
    out += [f"- {c}: {r['days']} days, last applied {r['last_applied'] or 'never'}, {r['keys_shredded']} key(s) "
            f"shredded, {r['entries_purged']} payload(s) purged" for c, r in rep["retention"]["categories"].items()
            ] or ["- no retention configured"]
    out += [f"- archive: entries {a['first_idx']}–{a['end_idx'] - 1} in {a['path']} (sha256 {a['sha256'][:16]}…)"
            for a in rep["retention"]["archives"]]
    out += ["", "## Keys", "", f"- KEK {k['kek']}, age {k['kek_age_s']:.0f} s, rotates every "
            f"{k['rotate_after_h']:g} h, passphrase-protected: {k['passphrase_protected']}",
            f"- live data keys {k['data_keys']}, destroyed {k['destroyed_keys']}", "- rotations:"]
    out += [f"  - {r['time']} {r['kek']} ({r['reason']}, {r['rewrapped']} re-wrapped)" for r in k["rotations"]]
    out += ["", "## Ledger verification", "",
            f"- {'OK' if led['ok'] else 'FAILED'}: {led['mode']} verification of {led['size']} entries, "
            f"root {led['root']}" + ("" if led["ok"] else f", first bad index {led['first_bad_index']}"), ""]
    return "\n".join(out)


def backup_keys(lab: Lab, dest: Path, passphrase: str) -> None:
    """Encrypted bundle of the keyring and the log's signing key."""
    from omnimind.lab.audit import LOG_KEY

    keyring(lab).backup(dest, passphrase, {"ledger.key": (lab.path / LOG_KEY).read_bytes()})


def rotate_keys(lab: Lab, reason: str = "on demand") -> str:
    """Rotate the key-encryption key now (gated, logged); returns the new key id."""
    from omnimind.lab.audit import log
    from omnimind.lab.governance import lab_resource, require

    require(lab, "keys.rotate", lab_resource(lab, "Key", "kek"))
    kr = keyring(lab)
    kek = kr.rotate(reason)
    log(lab, "security", "keys.rotate", {"kek": kek, "data_keys": len(kr.data_keys())})
    return kek


def restore_keys(lab: Lab, src: Path, passphrase: str) -> dict[str, int]:
    """Restore a key backup; keys destroyed since (erasure, retention, as the ledger records) stay destroyed."""
    from omnimind.lab.audit import LOG_KEY
    from omnimind.lab.governance import lab_resource, require

    require(lab, "backup.restore", lab_resource(lab, "Key", "keyring"))

    content = Keyring.read_backup(src, passphrase)
    log_key = b64decode_strict(content["files"]["ledger.key"]) if "ledger.key" in content["files"] else None
    key_path = lab.path / LOG_KEY
    if log_key is not None:
        if key_path.exists() and key_path.read_bytes() != log_key:
            raise LedgerError("the backup's log key differs from this lab's", "restore into the lab it came from")
        if not key_path.exists():
            from omnimind.fsutil import atomic_write_bytes

            atomic_write_bytes(key_path, log_key, mode=0o600)
    return keyring(lab).restore(content, erased_key_ids(lab))
