"""Privacy on a real SQLite lab: encrypted payloads, erasure (byte scan of the lab), consent, retention,
compliance report (docs/privacy.md)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from govhelp import with_reviews
from omnimind import clock
from omnimind.errors import LabError, OmniMindError, VerificationError
from omnimind.lab import privacy
from omnimind.lab.lab import Lab
from omnimind.ledger import NewEntry
from omnimind.ledger._util import b64decode_strict, b64encode
from omnimind.ledger.crypto import ENCRYPTED, decode_payload
from omnimind.ledger.entry import Entry
from omnimind.ledger.keys import Keyring
from omnimind.spec import ExperimentSpec
from omnimind.storage.schema import ledger_entries

TEXT_S1 = ["MARKERS1alpha walks in the park", "MARKERS1beta reads a letter"]
TEXT_S2 = ["MARKERS2gamma sees a red light"]
ARRAY_MARK = b"MKS1ab0?MKS1cd0?"  # float64 bytes (finite, ~1.0): planted in the run_chunks stimuli row


def _spec(path: Path, subject: str, source: str = "text", purpose: str = "research") -> ExperimentSpec:
    return ExperimentSpec.model_validate({"cycles": 40, "stimuli": {"source": source, "path": str(path),
                                                                    "subject": subject, "purpose": purpose}})


def _scan(root: Path, markers: list[bytes]) -> list[tuple[str, bytes]]:
    hits = []
    for p in root.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            hits += [(str(p.relative_to(root)), m) for m in markers if m in data]
    return hits


@pytest.fixture()
def lab(tmp_path: Path) -> Any:
    lab = Lab.init(tmp_path / "lab")
    yield lab
    lab.close()


def _files(tmp_path: Path) -> tuple[Path, Path, Path]:
    t1, t2, arr = tmp_path / "s1.txt", tmp_path / "s2.txt", tmp_path / "s1.npy"
    t1.write_text("\n".join(TEXT_S1))
    t2.write_text("\n".join(TEXT_S2))
    np.save(arr, np.frombuffer(ARRAY_MARK, dtype="<f8").reshape(1, 2))
    return t1, t2, arr


def test_consent_gates_runs_before_anything_is_written(lab: Lab, tmp_path: Path) -> None:
    t1, _, _ = _files(tmp_path)
    size = lab.ledger.size()
    with pytest.raises(OmniMindError, match="has not consented") as info:
        lab.run(_spec(t1, "S1"))
    assert "consent grant S1" in info.value.hint
    assert lab.ledger.size() == size and lab.runs() == []
    privacy.grant_consent(lab, "S1", "teaching")
    with pytest.raises(OmniMindError, match="purpose 'research'"):
        lab.run(_spec(t1, "S1"))
    privacy.grant_consent(lab, "S1", "research", scope={"stimuli": "text"})
    assert lab.run(_spec(t1, "S1")).status == "completed"
    privacy.withdraw_consent(lab, "S1", "research")
    with pytest.raises(OmniMindError, match="withdrew"):
        lab.run(_spec(t1, "S1"))


def test_erase_subject_leaves_no_plaintext_and_keeps_the_log_verifiable(lab: Lab, tmp_path: Path) -> None:
    t1, t2, arr = _files(tmp_path)
    for s in ("S1", "S2"):
        privacy.grant_consent(lab, s, "research")
    r1 = lab.run(_spec(t1, "S1"))
    r1b = lab.run(_spec(arr, "S1", source="array"))
    r2 = lab.run(_spec(t2, "S2"))
    exports = lab.path / "data" / "exports"
    (exports / "S1-notes.txt").write_text("subject S1 said: " + TEXT_S1[0])
    r1.export("csv", exports / f"{r1b.id}.csv")
    (exports / "other.txt").write_text("unrelated MARKERS2gamma")
    s1_markers = [b"MARKERS1alpha", b"MARKERS1beta", ARRAY_MARK[:8]]

    # before: the text never reaches the database in clear; the planted copies are there
    lab.ledger.checkpoint()
    db_hits = {m for f, m in _scan(lab.path, s1_markers) if f.startswith("omnimind.db")}
    assert db_hits == {ARRAY_MARK[:8]}, db_hits  # only the recorded stimuli row (raw float bytes)
    assert any(f.startswith("data/exports") for f, _ in _scan(lab.path, s1_markers))
    s1_entries = [d for d in privacy.entries_of_subject(lab, "S1") if d.kid]
    assert s1_entries and all(d.status == "decrypted" for d in s1_entries)
    assert any(d.payload.get("lines") == TEXT_S1 for d in s1_entries)

    out = with_reviews(lab, lambda: privacy.erase_subject(lab, "S1", "dpo"))
    assert out["keys_destroyed"] and out["stimuli_rows_removed"] == 2 and out["files_removed"] == 2

    assert _scan(lab.path, s1_markers) == []
    assert lab.ledger.verify(full=True).ok
    after = [d for d in privacy.entries_of_subject(lab, "S1") if d.kid]
    assert after and all(d.status == "erased" and "lines" not in d.payload for d in after)
    s2 = [d for d in privacy.entries_of_subject(lab, "S2") if d.kid]
    assert s2 and all(d.status == "decrypted" for d in s2) and s2[0].payload["lines"] == TEXT_S2
    assert (exports / "other.txt").exists()
    erase_entry = lab.ledger.entry(out["ledger_index"])
    assert erase_entry.subject is None and "S1" not in erase_entry.raw.decode()
    assert lab.get_run(r2.id).status == "completed"


def test_rotation_wrong_key_and_tampering(lab: Lab) -> None:
    idx = {}
    for s in ("A", "B"):
        idx[s] = privacy.log_sensitive(lab, "run", "note", {"n": 1, "text": f"secret of {s}"}, ["text"], subject=s)
    kr = privacy.keyring(lab)
    keks = {kr.kek_id()}
    for _ in range(3):
        keks.add(kr.rotate())
        idx[f"A{len(keks)}"] = privacy.log_sensitive(lab, "run", "note", {"text": "later"}, ["text"], subject="A")
    assert len(keks) == 4 and len(kr.rotations()) >= 4
    fresh = Keyring(lab.path / "keys")  # another process: reads the file, unwraps under the new KEK
    for i in idx.values():
        d = decode_payload(lab.ledger.entry(i), fresh)
        assert d.status == "decrypted" and "text" in d.payload
    assert oct((lab.path / "keys" / "keyring.json").stat().st_mode & 0o777) == "0o600"
    # wrong subject's key
    ea, eb = lab.ledger.entry(idx["A"]), lab.ledger.entry(idx["B"])
    key_b = kr.get(eb.payload[ENCRYPTED]["kid"])
    assert key_b is not None
    with pytest.raises(VerificationError, match="does not authenticate"):
        decode_payload(ea, kr, key=key_b.key)
    # ciphertext flipped
    env = json.loads(ea.raw)
    ct = bytearray(b64decode_strict(env["payload"][ENCRYPTED]["ct"]))
    ct[0] ^= 1
    env["payload"][ENCRYPTED]["ct"] = b64encode(bytes(ct))
    with pytest.raises(VerificationError):
        decode_payload(Entry.from_bytes(json.dumps(env).encode()), kr)
    # associated data: same ciphertext moved to another index / category / subject
    for change in ({"index": ea.index + 1}, {"category": "audit"}, {"subject": "B"}):
        moved = json.loads(ea.raw) | change
        with pytest.raises(VerificationError):
            decode_payload(Entry.from_bytes(json.dumps(moved).encode()), kr)
    # and the stored row edited in place is caught by the log itself
    with lab.db.begin() as conn:
        conn.execute(sa.update(ledger_entries).where(ledger_entries.c.idx == ea.index)
                     .values(envelope=json.dumps(env, separators=(",", ":"), sort_keys=True).encode()))
    assert not lab.ledger.verify(full=True).ok


def test_debug_unencrypted_refused_in_production_and_logged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    from omnimind.lab.config import write_config

    lab = Lab.init(tmp_path / "lab")
    monkeypatch.setenv(privacy.DEBUG_ENV, "1")
    again = Lab.open(lab.path)
    i = privacy.log_sensitive(again, "run", "note", {"text": "clear"}, ["text"], subject="A")
    e = again.ledger.entry(i)
    assert e.payload_encoding == "json" and e.payload["text"] == "clear" and e.payload["_debug_unencrypted"]
    assert again.ledger.entry(i - 1).action == "debug_unencrypted.on"
    again.close()
    write_config(lab.path, lab.config.model_copy(update={"production": True}))
    prod = Lab.open(lab.path)
    with pytest.raises(LabError, match="production"):
        prod.ledger  # noqa: B018
    prod.close()
    lab.close()


def _old(lab: Lab, days: int, category: str, subject: str, text: str) -> int:
    t = clock.iso(clock.now() - timedelta(days=days))
    return lab.ledger.append_batch([NewEntry(category, "note", {"text": text, "_sensitive": ["text"]}, "tester",
                                             subject=subject, time=t)])[0]


def test_retention_plan_equals_apply_and_archives_verify(lab: Lab) -> None:
    old_run = [_old(lab, 40, "run", s, "old") for s in ("A", "B")]
    mid_run = _old(lab, 10, "run", "A", "recent")
    old_audit = _old(lab, 40, "audit", "A", "kept: audit keeps 365 days")
    new_run = privacy.log_sensitive(lab, "run", "note", {"text": "now"}, ["text"], subject="A")
    privacy.set_retention(lab, {"run": 30, "audit": 365})
    plan = privacy.retention_plan(lab)
    by = {p.category: p for p in plan.categories}
    assert sorted(by["run"].entries) == old_run and len(by["run"].keys) == 2 and by["audit"].entries == []
    before = {i: privacy.read_entry(lab, i).payload for i in (mid_run, old_audit, new_run)}
    assert plan.archive_to > plan.archive_from == 0
    done = privacy.retention_apply(lab, clock.parse_iso(plan.now))
    assert done.to_json() == plan.to_json()
    assert all(privacy.read_entry(lab, i).status == "erased" for i in old_run)
    assert {i: privacy.read_entry(lab, i).payload for i in before} == before  # inside retention: untouched
    assert lab.ledger.verify(full=True).ok
    archives = sorted((lab.path / "data" / "archive").glob("*.zst"))
    assert len(archives) == 1
    info = privacy.verify_archive(archives[0], lab.ledger.vkey)
    assert info["first"] == 0 and info["end"] == plan.archive_to
    blob = bytearray(archives[0].read_bytes())
    blob[len(blob) // 2] ^= 1
    archives[0].write_bytes(bytes(blob))
    with pytest.raises(VerificationError, match="checksum"):
        privacy.verify_archive(archives[0])
    again = privacy.retention_plan(lab)
    assert all(p.keys == [] for p in again.categories) and again.archive_from == plan.archive_to


def test_compliance_report_is_computed(lab: Lab, tmp_path: Path) -> None:
    r0 = privacy.compliance_report(lab)
    assert r0["ledger"]["ok"] and r0["processing"]["subjects"] == 0 and r0["erasures"] == []
    privacy.grant_consent(lab, "S9", "research")
    privacy.log_sensitive(lab, "run", "note", {"text": "x"}, ["text"], subject="S9")
    r1 = privacy.compliance_report(lab)
    assert r1["processing"]["subjects"] == 1 and r1["consents"]["granted"] == ["S9/research"]
    assert r1["processing"]["encrypted_entries"] == 1 and r1["processing"]["erased_entries"] == 0
    privacy.keyring(lab).rotate()
    with_reviews(lab, lambda: privacy.erase_subject(lab, "S9", "dpo"))
    r2 = privacy.compliance_report(lab)
    assert len(r2["keys"]["rotations"]) == len(r1["keys"]["rotations"]) + 2
    assert r2["processing"]["erased_entries"] == 1 and len(r2["erasures"]) == 1
    assert r2["erasures"][0]["duration_s"] >= 0 and r2["erasures"][0]["keys_destroyed"] == 1
    md = privacy.report_markdown(r2)
    assert "## Erasure requests" in md and r2["erasures"][0]["id"] in md and "OK" in md


def test_key_backup_restore_keeps_erased_keys_destroyed(lab: Lab, tmp_path: Path) -> None:
    a = privacy.log_sensitive(lab, "run", "note", {"text": "a"}, ["text"], subject="A")
    b = privacy.log_sensitive(lab, "run", "note", {"text": "b"}, ["text"], subject="B")
    bundle = tmp_path / "keys.bak"
    privacy.backup_keys(lab, bundle, "pw-1")
    assert b"secret" not in bundle.read_bytes() and oct(bundle.stat().st_mode & 0o777) == "0o600"
    with_reviews(lab, lambda: privacy.erase_subject(lab, "A", "dpo"))
    (lab.path / "keys" / "keyring.json").unlink()
    privacy._keyrings.pop(lab, None)
    with pytest.raises(OmniMindError, match="passphrase"):
        privacy.restore_keys(lab, bundle, "wrong")
    counts = privacy.restore_keys(lab, bundle, "pw-1")
    assert counts == {"restored": 1, "kept_destroyed": 1}
    assert privacy.read_entry(lab, a).status == "erased"
    assert privacy.read_entry(lab, b).payload["text"] == "b"


def test_passphrase_protected_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNIMIND_KEY_PASSPHRASE", "correct horse")
    kr = Keyring(tmp_path / "keys")
    dk = kr.key_for("A", "run", "2026-01-01")
    assert kr.protected and dk.key.hex() not in (tmp_path / "keys" / "keyring.json").read_text()
    monkeypatch.delenv("OMNIMIND_KEY_PASSPHRASE")
    with pytest.raises(OmniMindError, match="passphrase"):
        Keyring(tmp_path / "keys").get(dk.kid)
    monkeypatch.setenv("OMNIMIND_KEY_PASSPHRASE", "correct horse")
    got = Keyring(tmp_path / "keys").get(dk.kid)
    assert got is not None and got.key == dk.key


def test_rotation_is_due_lazily(tmp_path: Path) -> None:
    kr = Keyring(tmp_path / "keys")
    first = kr.kek_id()
    assert not kr.rotate_if_due()
    lazy = Keyring(tmp_path / "keys", rotate_after=timedelta(0))
    assert lazy.kek_id() != first and lazy.rotations()[-1]["reason"] == "schedule"
