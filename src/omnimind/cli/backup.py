"""`omnimind backup …`: copy the lab to a second location, verify it, test-restore it, schedule it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from omnimind.cli.common import console, open_lab, print_json
from omnimind.errors import VerificationError
from omnimind.fsutil import atomic_write_bytes
from omnimind.lab.audit import log
from omnimind.lab.backup import backup_to, restore_test, schedule_units, verify_backup
from omnimind.snapshots import ForgetPolicy

backup_app = typer.Typer(no_args_is_help=True, help="Backups of the whole lab to a second location.")
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]


@backup_app.command("to")
def to(dest: Annotated[Path, typer.Argument(help="backup directory (another disk or a mounted volume)")],
       keep_last: Annotated[int, typer.Option("--keep-last", help="snapshots per run the backup keeps (0: all)")]
       = 0,
       keep_daily: Annotated[int, typer.Option("--keep-daily")] = 0,
       keep_weekly: Annotated[int, typer.Option("--keep-weekly")] = 0,
       json_out: JsonOpt = False) -> None:
    """Copy snapshots (incrementally), the database, keys and settings to DEST."""
    keep = ForgetPolicy(last=keep_last, daily=keep_daily, weekly=keep_weekly)
    with open_lab() as lab:
        res = backup_to(lab, dest, keep=None if keep.empty() else keep)
        log(lab, "system", "backup.to", res.to_json())
    if json_out:
        print_json(res.to_json())
    else:
        console.print(f"backed up to {res.dest}: {res.snapshots_copied} new snapshot(s), {res.blobs_copied} new "
                      f"blob(s), database {res.db_bytes:,} bytes, {res.keys} key file(s)")


@backup_app.command("verify")
def verify(dest: Annotated[Path, typer.Argument(help="backup directory")], json_out: JsonOpt = False) -> None:
    """Re-hash every chunk, check the database copy and its audit ledger."""
    rep = verify_backup(dest)
    if json_out:
        print_json(rep)
    else:
        console.print(f"checked {rep['snapshots_checked']} snapshots, {rep['blobs_checked']} blobs, "
                      f"ledger of {rep['ledger_size']:,} entries")
    if not rep["ok"]:
        raise VerificationError(f"backup {dest} is damaged: {rep['problems'][0]}", "make a fresh backup")
    if not json_out:
        console.print("[green]ok[/]")


@backup_app.command("test-restore")
def test_restore_cmd(dest: Annotated[Path, typer.Argument(help="backup directory")], json_out: JsonOpt = False
                     ) -> None:
    """Restore into a scratch lab and check every run's newest snapshot reproduces its recorded digest."""
    rep = restore_test(dest)
    if json_out:
        print_json(rep)
    else:
        for c in rep["runs"]:
            mark = "[green]ok[/]" if c["ok"] else "[red]MISMATCH[/]"
            console.print(f"{mark} run {c['run']} " + (f"cycle {c['cycle']} digest {c['digest'][:16]}…"
                                                         if "digest" in c else c.get("note", "")))
    if not rep["ok"]:
        raise VerificationError(f"test restore of {dest} failed", "see the runs marked MISMATCH; make a fresh backup")


@backup_app.command("schedule")
def schedule(dest: Annotated[Path, typer.Argument(help="backup directory")],
             every: Annotated[str, typer.Option(help="interval: 6h, 1d, ...")] = "1d",
             keep_last: Annotated[int, typer.Option("--keep-last")] = 7,
             systemd_dir: Annotated[Path | None, typer.Option("--systemd-dir", help="write the service and timer "
                                                              "units here")] = None,
             json_out: JsonOpt = False) -> None:
    """Write a systemd timer (or print a crontab line) that runs `backup to` on a schedule."""
    with open_lab() as lab:
        units = schedule_units(lab, dest, every, keep_last, sys.executable)
    if systemd_dir is not None:
        systemd_dir.mkdir(parents=True, exist_ok=True)
        for name in ("omnimind-backup.service", "omnimind-backup.timer"):
            atomic_write_bytes(systemd_dir / name, units[name].encode())
    if json_out:
        print_json(units | {"written_to": str(systemd_dir) if systemd_dir else None})
        return
    if systemd_dir is not None:
        console.print(f"wrote {systemd_dir}/omnimind-backup.service and .timer; enable with: "
                      "systemctl --user enable --now omnimind-backup.timer")
    console.print(f"crontab line: {units['crontab'].strip()}", soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add `backup` to the root app."""
    app.add_typer(backup_app, name="backup")
