"""`omnimind audit …`: verify, checkpoint, prove, consistency, export, log, witness."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from omnimind.cli.common import console, open_lab, print_json
from omnimind.errors import LedgerError
from omnimind.lab.audit import current_actor, export_bundle, log
from omnimind.ledger import Witness, verify_bundle

audit_app = typer.Typer(no_args_is_help=True, help="The tamper-evident audit ledger.")
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]


def _print_report(rep: Any, json_out: bool) -> None:
    if json_out:
        print_json(rep.to_json())
    elif rep.ok:
        console.print(f"[green]ok[/]: {rep.mode} verification of {rep.size:,} entries, "
                      f"{rep.checkpoints_checked} signed checkpoint(s); root {rep.root}")
    rep.raise_for_problem()


@audit_app.command("verify")
def verify(bundle: Annotated[Path | None, typer.Argument(help="an exported bundle to verify offline "
                                                           "(no lab needed)")] = None,
           full: Annotated[bool, typer.Option("--full", help="re-hash and parse every entry")] = False,
           json_out: JsonOpt = False) -> None:
    """Recompute the tree, check every signed checkpoint; report the first bad index. Never repairs."""
    if bundle is not None:
        _print_report(verify_bundle(bundle), json_out)
        return
    with open_lab() as lab:
        rep = lab.ledger.verify(full=full)
        log(lab, "system", "audit.verify", {"mode": rep.mode, "ok": rep.ok, "size": rep.size,
                                            "first_bad_index": rep.first_bad_index})
    _print_report(rep, json_out)


@audit_app.command("checkpoint")
def checkpoint(json_out: JsonOpt = False) -> None:
    """Sign the current tree head and print the signed note."""
    with open_lab() as lab:
        cp = lab.ledger.checkpoint()
    if json_out:
        print_json({"size": cp.size, "root": cp.root.hex(), "note": cp.note})
    else:
        typer.echo(cp.note, nl=False)


@audit_app.command("prove")
def prove(entry: Annotated[int | None, typer.Argument(help="entry index")] = None,
          run: Annotated[str | None, typer.Option(help="with --cycle: the run")] = None,
          cycle: Annotated[int | None, typer.Option(help="with --run: the cycle")] = None,
          output: Annotated[Path | None, typer.Option("--output", "-o", help="write the bundle here")] = None) -> None:
    """Inclusion proof bundle (entry, audit path, the signed checkpoint it was computed against)."""
    with open_lab() as lab:
        if entry is None:
            if run is None or cycle is None:
                raise LedgerError("say which entry to prove", "give an ENTRY index, or --run R --cycle N")
            entry = lab.ledger.find_cycle(lab.get_run(run).id, cycle)
        lab.ledger.checkpoint()
        proof = lab.ledger.prove_inclusion(entry)
        data = proof.to_json() | {"log_key": lab.ledger.vkey, "envelope": proof.entry.to_dict()}
    if output:
        import json

        from omnimind.fsutil import atomic_write_bytes

        atomic_write_bytes(output, json.dumps(data, indent=2).encode())
        console.print(f"wrote {output}")
    else:
        print_json(data)


@audit_app.command("consistency")
def consistency(old: Annotated[int, typer.Argument(help="older tree size")],
                new: Annotated[int | None, typer.Argument(help="newer tree size (default: current)")] = None) -> None:
    """Consistency proof between two tree sizes (RFC 9162 §2.1.4)."""
    with open_lab() as lab:
        if new is None:
            new = lab.ledger.checkpoint().size
        proof = lab.ledger.prove_consistency(old, new)
        proof.verify()
    print_json(proof.to_json())


@audit_app.command("export")
def export(run: Annotated[str | None, typer.Option(help="only this run's entries (with inclusion proofs)")] = None,
           output: Annotated[Path | None, typer.Option("--output", "-o", help="bundle file")] = None,
           json_out: JsonOpt = False) -> None:
    """Write a bundle a third party verifies offline with `omnimind audit verify BUNDLE`."""
    with open_lab() as lab:
        run_id = lab.get_run(run).id if run else None
        dest = export_bundle(lab, run_id, output or lab.path / "data" / "exports" / f"audit-{run_id or 'all'}.json")
    if json_out:
        print_json({"path": str(dest), "run": run_id})
    else:
        console.print(f"wrote {dest}; verify anywhere with: omnimind audit verify {dest}")


@audit_app.command("log")
def log_cmd(category: Annotated[str | None, typer.Option(help="run, cycle, config, snapshot, governance, "
                                                         "security, system")] = None,
            action: Annotated[str | None, typer.Option()] = None,
            actor: Annotated[str | None, typer.Option()] = None,
            run: Annotated[str | None, typer.Option(help="run id or prefix")] = None,
            since: Annotated[str | None, typer.Option(help="ISO time, inclusive")] = None,
            until: Annotated[str | None, typer.Option(help="ISO time, exclusive")] = None,
            limit: Annotated[int, typer.Option(help="at most this many")] = 50,
            newest_first: Annotated[bool, typer.Option("--newest-first")] = False,
            json_out: JsonOpt = False) -> None:
    """Query the log."""
    with open_lab() as lab:
        run_id = lab.get_run(run).id if run else None
        entries = lab.ledger.query(category=category, action=action, actor=actor, run=run_id, since=since,
                                   until=until, limit=limit, newest_first=newest_first)
    if json_out:
        print_json([e.to_dict() for e in entries])
        return
    table = Table("index", "time", "category", "action", "actor", "run", "cycle", "payload")
    for e in entries:
        table.add_row(str(e.index), e.time, e.category, e.action, e.actor, e.run or "",
                      "" if e.cycle is None else str(e.cycle), str(e.payload)[:80])
    console.print(table)


@audit_app.command("witness")
def witness(directory: Annotated[Path, typer.Option("--dir", help="the witness's own directory (its key and "
                                                    "last-seen checkpoints)")],
            name: Annotated[str, typer.Option(help="witness key name")] = "omnimind-witness",
            trust: Annotated[bool, typer.Option("--trust", help="start watching this lab's log (first time)")]
            = False,
            json_out: JsonOpt = False) -> None:
    """Co-sign the lab's newest checkpoint if it is consistent with what this witness saw before."""
    directory.mkdir(parents=True, exist_ok=True)
    w = Witness.open(directory, name)
    with open_lab() as lab:
        ledger = lab.ledger
        cp = ledger.checkpoint()
        origin = cp.checkpoint.origin
        if trust:
            w.trust_log(origin, ledger.vkey)
        try:
            old = w.size(origin)
        except LedgerError as exc:
            raise LedgerError(f"the witness in {directory} does not watch this lab's log",
                              "run once with --trust to start watching it") from exc
        proof = ledger.prove_consistency(old, cp.size).hashes if 0 < old < cp.size else ()
        line = w.add_checkpoint(cp.note, old, proof)
        ledger.add_cosignature(cp.size, line, w.vkey)
        log(lab, "system", "audit.witness", {"witness": w.vkey, "size": cp.size}, actor=current_actor())
    if json_out:
        print_json({"size": cp.size, "witness": w.vkey, "cosignature": line})
    else:
        console.print(f"witness {name} co-signed size {cp.size:,} (consistent with size {old:,})")


def register(app: typer.Typer) -> None:
    """Add `audit` to the root app."""
    app.add_typer(audit_app, name="audit")
