"""`omnimind keys|consent|retention|compliance …` and `omnimind audit erase`: sensitive data (docs/privacy.md)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from omnimind.cli.audit import audit_app
from omnimind.cli.common import console, open_lab, print_json
from omnimind.errors import LedgerError
from omnimind.lab import privacy
from omnimind.lab.audit import current_actor, log
from omnimind.ledger.keys import PASSPHRASE_ENV

keys_app = typer.Typer(no_args_is_help=True, help="The keyring: data keys, key-encryption key, backups.")
consent_app = typer.Typer(no_args_is_help=True, help="Consent records per subject and purpose.")
retention_app = typer.Typer(no_args_is_help=True, help="Ledger payload retention (retention.toml).")
compliance_app = typer.Typer(no_args_is_help=True, help="Compliance reports computed from the lab's records.")
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]


def _passphrase() -> str:
    value = os.environ.get(PASSPHRASE_ENV, "")
    if not value:
        raise LedgerError("key backups are encrypted with a passphrase", f"set {PASSPHRASE_ENV}")
    return value


@keys_app.command("rotate")
def keys_rotate(json_out: JsonOpt = False) -> None:
    """Make a new key-encryption key and re-wrap every data key (logged payloads are not re-encrypted)."""
    with open_lab() as lab:
        kek = privacy.rotate_keys(lab)
    print_json({"kek": kek}) if json_out else console.print(f"rotated: key-encryption key is now {kek}")


@keys_app.command("list")
def keys_list(json_out: JsonOpt = False) -> None:
    """Data keys (no key material), destroyed keys and the rotation history."""
    with open_lab() as lab:
        kr = privacy.keyring(lab)
        data: dict[str, Any] = {"kek": kr.kek_id(), "protected": kr.protected, "data_keys": kr.data_keys(),
                "destroyed": kr.shredded(), "rotations": kr.rotations()}
    if json_out:
        print_json(data)
        return
    table = Table("kid", "subject", "category", "day", "created")
    for k in data["data_keys"]:
        table.add_row(k["kid"], k["subject"] or "-", k["category"], k["epoch"], k["created"])
    console.print(table)
    console.print(f"KEK {data['kek']} (passphrase-protected: {data['protected']}), "
                  f"{len(data['destroyed'])} destroyed key(s), {len(data['rotations'])} rotation(s)")


@keys_app.command("backup")
def keys_backup(dest: Annotated[Path, typer.Argument(help="bundle file to write (encrypted)")]) -> None:
    """Write an encrypted bundle of the keyring and the log key (passphrase from $OMNIMIND_KEY_PASSPHRASE)."""
    with open_lab() as lab:
        privacy.backup_keys(lab, dest, _passphrase())
        log(lab, "security", "keys.backup", {"file": dest.name})
    console.print(f"wrote {dest}")


@keys_app.command("restore")
def keys_restore(src: Annotated[Path, typer.Argument(help="bundle written by `keys backup`")],
                 json_out: JsonOpt = False) -> None:
    """Restore keys from a bundle; keys erased since the backup stay destroyed."""
    with open_lab() as lab:
        counts = privacy.restore_keys(lab, src, _passphrase())
        log(lab, "security", "keys.restore", {"file": src.name, **counts})
    print_json(counts) if json_out else console.print(
        f"restored {counts['restored']} data key(s); {counts['kept_destroyed']} erased key(s) stay destroyed")


@audit_app.command("erase")
def audit_erase(subject: Annotated[str, typer.Option("--subject", help="pseudonym of the data subject")],
                json_out: JsonOpt = False) -> None:
    """Right to erasure: destroy the subject's keys, delete derived plaintext, log it (no personal data)."""
    with open_lab() as lab:
        out = privacy.erase_subject(lab, subject, current_actor())
    if json_out:
        print_json(out)
    else:
        console.print(f"erased: request {out['request']}, {len(out['keys_destroyed'])} key(s) destroyed, "
                      f"{out['stimuli_rows_removed']} stimuli row(s) and {out['files_removed']} file(s) removed; "
                      f"ledger entry {out['ledger_index']}")


@consent_app.command("grant")
def consent_grant(subject: Annotated[str, typer.Argument(help="subject pseudonym")],
                  purpose: Annotated[str, typer.Option("--purpose", help="processing purpose")] = "research",
                  scope: Annotated[str, typer.Option("--scope", help="JSON object describing the scope")] = "{}"
                  ) -> None:
    """Record consent of SUBJECT for a purpose."""
    try:
        scope_obj = json.loads(scope)
    except ValueError as exc:
        raise LedgerError(f"--scope is not JSON: {exc}", 'e.g. --scope \'{"stimuli": "text"}\'') from exc
    if not isinstance(scope_obj, dict):
        raise LedgerError("--scope must be a JSON object")
    with open_lab() as lab:
        idx = privacy.grant_consent(lab, subject, purpose, scope=scope_obj)
    console.print(f"consent granted: {subject} / {purpose} (ledger entry {idx})")


@consent_app.command("withdraw")
def consent_withdraw(subject: Annotated[str, typer.Argument(help="subject pseudonym")],
                     purpose: Annotated[str, typer.Option("--purpose", help="processing purpose")] = "research"
                     ) -> None:
    """Record that SUBJECT withdrew consent for a purpose (later runs using their data are refused)."""
    with open_lab() as lab:
        idx = privacy.withdraw_consent(lab, subject, purpose)
    console.print(f"consent withdrawn: {subject} / {purpose} (ledger entry {idx})")


@consent_app.command("list")
def consent_list(subject: Annotated[str | None, typer.Option("--subject")] = None, json_out: JsonOpt = False
                 ) -> None:
    """Every consent record, oldest first."""
    with open_lab() as lab:
        rows = privacy.consents(lab, subject)
    if json_out:
        print_json(rows)
        return
    table = Table("time", "subject", "purpose", "status", "actor", "scope")
    for r in rows:
        table.add_row(r["time"], r["subject"], r["purpose"], r["status"], r["actor"], json.dumps(r["scope"]))
    console.print(table)


def _print_plan(plan: privacy.RetentionPlan, verb: str, json_out: bool) -> None:
    if json_out:
        print_json(plan.to_json())
        return
    for p in plan.categories:
        console.print(f"{p.category}: {p.days} days (cutoff {p.cutoff}): {verb} {len(p.keys)} key(s), "
                      f"{len(p.entries)} payload(s); {p.plaintext_past_retention} plain entr(ies) past retention")
    if plan.archive_to > plan.archive_from:
        console.print(f"archive: entries {plan.archive_from}–{plan.archive_to - 1}")
    else:
        console.print("archive: nothing new")


@retention_app.command("plan")
def retention_plan(json_out: JsonOpt = False) -> None:
    """What `retention apply` would do now."""
    with open_lab() as lab:
        plan = privacy.retention_plan(lab)
    _print_plan(plan, "would shred", json_out)


@retention_app.command("apply")
def retention_apply(json_out: JsonOpt = False) -> None:
    """Archive old ledger segments, shred payloads past retention, log it."""
    with open_lab() as lab:
        done = privacy.retention_apply(lab)
    _print_plan(done, "shredded", json_out)


@compliance_app.command("report")
def compliance_report(fmt: Annotated[str, typer.Option("--format", help="md or json")] = "md",
                      output: Annotated[Path | None, typer.Option("--output", "-o")] = None) -> None:
    """Records of processing, consents, erasures, retention, key rotations, ledger verification."""
    if fmt not in ("md", "json"):
        raise LedgerError(f"unknown report format {fmt!r}", "use --format md or --format json")
    with open_lab() as lab:
        rep = privacy.compliance_report(lab)
        log(lab, "audit", "compliance.report", {"format": fmt, "ledger_ok": rep["ledger"]["ok"]})
    text = json.dumps(rep, indent=2, default=str) + "\n" if fmt == "json" else privacy.report_markdown(rep)
    if output:
        from omnimind.fsutil import atomic_write_bytes

        atomic_write_bytes(output, text.encode())
        console.print(f"wrote {output}")
    else:
        typer.echo(text, nl=False)


def register(app: typer.Typer) -> None:
    """Add `keys`, `consent`, `retention`, `compliance` (and `audit erase`, on the audit app)."""
    app.add_typer(keys_app, name="keys")
    app.add_typer(consent_app, name="consent")
    app.add_typer(retention_app, name="retention")
    app.add_typer(compliance_app, name="compliance")
