"""`omnimind snapshot …` and `omnimind restore`: thin faces over the lab's snapshot and recovery use cases."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from omnimind import clock
from omnimind.cli.common import console, open_lab, print_json
from omnimind.errors import SnapshotError, VerificationError
from omnimind.lab.snapshotting import forget, open_store, prune, restore_to_dir
from omnimind.snapshots import ForgetPolicy, Snapshot

snapshot_app = typer.Typer(no_args_is_help=True, help="Snapshots of whole experiment states.")
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]


def _row(s: Snapshot) -> dict[str, Any]:
    return {"id": s.id, "time": clock.iso(s.time), "run": s.run, "cycle": s.meta.get("cycle"),
            "kind": s.meta.get("kind"), "tags": list(s.tags), "parent": s.parent,
            "state_digest": s.meta.get("state_digest")}


def _when(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return clock.parse_iso(text)
    except ValueError as exc:
        raise SnapshotError(f"{text!r} is not a date/time", "use ISO 8601, e.g. 2026-11-26 or 2026-11-26T10:00Z") \
            from exc


def _metric_ok(s: Snapshot, ranges: list[str]) -> bool:
    """`name:lo:hi` filters on the newest value of a metric recorded in the snapshot (empty bound = open)."""
    latest: dict[str, float] = {}
    for m in s.meta.get("metrics") or []:
        if isinstance(m, dict) and isinstance(m.get("value"), int | float):
            latest[str(m.get("measure"))] = float(m["value"])
    for spec in ranges:
        parts = spec.split(":")
        if len(parts) != 3:
            raise SnapshotError(f"metric range {spec!r} is not NAME:LOW:HIGH",
                                "e.g. --metric phi:0.1: (no upper bound)")
        name, lo, hi = parts
        if name not in latest:
            return False
        v = latest[name]
        if (lo and v < float(lo)) or (hi and v > float(hi)):
            return False
    return True


@snapshot_app.command("list")
def snapshot_list(run: Annotated[str | None, typer.Option(help="only this run (id or prefix)")] = None,
                  tag: Annotated[list[str] | None, typer.Option(help="must carry this tag (repeatable)")] = None,
                  since: Annotated[str | None, typer.Option(help="taken at or after (ISO 8601)")] = None,
                  until: Annotated[str | None, typer.Option(help="taken at or before (ISO 8601)")] = None,
                  metric: Annotated[list[str] | None, typer.Option(help="NAME:LOW:HIGH on recorded metrics")] = None,
                  json_out: JsonOpt = False) -> None:
    """List snapshots (oldest first), filtered by run, tags, time and metric ranges."""
    with open_lab() as lab:
        run_id = lab.get_run(run).id if run else None
        snaps = open_store(lab).list(run=run_id, tags=tag, since=_when(since), until=_when(until))
        rows = [_row(s) for s in snaps if _metric_ok(s, metric or [])]
    if json_out:
        print_json(rows)
        return
    table = Table("id", "time", "run", "cycle", "kind", "tags")
    for r in rows:
        table.add_row(r["id"][:12], r["time"], r["run"] or "", str(r["cycle"]), r["kind"] or "", ",".join(r["tags"]))
    console.print(table)


snapshot_app.command("search", help="Same as list: search by run, tag, time and metric ranges.")(snapshot_list)


@snapshot_app.command("show")
def snapshot_show(snapshot: Annotated[str, typer.Argument(help="snapshot id, unique prefix or 'latest'")],
                  json_out: JsonOpt = False) -> None:
    """One snapshot's manifest: arrays, meta, tags, parent."""
    with open_lab() as lab:
        s = open_store(lab).get(snapshot)
        data = {**_row(s), "arrays": {k: {"dtype": a.dtype, "shape": list(a.shape), "bytes": a.nbytes,
                                           "chunks": len(a.chunks)} for k, a in s.arrays.items()},
                "meta": {k: v for k, v in s.meta.items() if k not in ("engine", "spec")}}
    if json_out:
        print_json(data)
        return
    for key in ("id", "time", "run", "cycle", "kind", "tags", "parent", "state_digest"):
        console.print(f"[bold]{key:>13}[/] {data[key]}")
    for name, a in data["arrays"].items():
        console.print(f"[bold]{'array':>13}[/] {name} {a['dtype']} {tuple(a['shape'])} ({a['bytes']:,} bytes)")


@snapshot_app.command("tag")
def snapshot_tag(snapshot: Annotated[str, typer.Argument(help="snapshot id or prefix")],
                 add: Annotated[list[str] | None, typer.Option(help="tag to add")] = None,
                 remove: Annotated[list[str] | None, typer.Option(help="tag to remove")] = None,
                 json_out: JsonOpt = False) -> None:
    """Add or remove tags (like restic, this writes a new manifest with a new id)."""
    with open_lab() as lab:
        s = open_store(lab).tag(snapshot, add=add or (), remove=remove or ())
    if json_out:
        print_json(_row(s))
    else:
        console.print(f"snapshot {s.id[:12]} tags: {', '.join(s.tags) or '(none)'}")


@snapshot_app.command("diff")
def snapshot_diff(a: Annotated[str, typer.Argument(help="first snapshot")],
                  b: Annotated[str, typer.Argument(help="second snapshot")], json_out: JsonOpt = False) -> None:
    """Per-array change norms, metric deltas and config differences between two snapshots."""
    with open_lab() as lab:
        d = open_store(lab).diff(a, b)
    if json_out:
        print_json(d)
        return
    console.print_json(data=d)


@snapshot_app.command("verify")
def snapshot_verify(read_data: Annotated[bool, typer.Option("--read-data", help="re-hash every chunk")] = False,
                    json_out: JsonOpt = False) -> None:
    """Check the store's structure (and with --read-data every chunk); names every damaged snapshot and object."""
    with open_lab() as lab:
        rep = open_store(lab).verify(read_data=read_data)
    if json_out:
        print_json(rep.to_json())
    else:
        console.print(f"checked {rep.snapshots_checked} snapshots, {rep.packs_checked} packs, "
                      f"{rep.blobs_checked} blobs{' (data read)' if read_data else ''}")
        for p in rep.errors:
            console.print(f"[red]damaged[/] {p.message}")
        for p in rep.warnings:
            console.print(f"[yellow]warning[/] {p.message}")
    if not rep.ok:
        raise VerificationError(f"{len(rep.errors)} problem(s); damaged snapshots: "
                                f"{', '.join(x[:12] for x in rep.damaged_snapshots) or 'none'}",
                                "restore those from a backup (`omnimind backup`) or forget them")
    if not json_out:
        console.print("[green]ok[/]")


@snapshot_app.command("restore")
def snapshot_restore(snapshot: Annotated[str, typer.Argument(help="snapshot id or prefix")],
                     to: Annotated[Path | None, typer.Option("--to", help="write arrays (.npy) and meta.json into "
                                                             "this new directory")] = None,
                     as_run: Annotated[bool, typer.Option("--as-run", help="start a new run from it (continue "
                                                           "with `run --resume NEW`)")] = False,
                     json_out: JsonOpt = False) -> None:
    """Restore a snapshot into a directory or as a new run."""
    if (to is None) == (not as_run):
        raise SnapshotError("say where to restore to", "use exactly one of --to DIR or --as-run")
    with open_lab() as lab:
        if to is not None:
            out: dict[str, Any] = {"snapshot": snapshot, "path": str(restore_to_dir(open_store(lab), snapshot, to))}
        else:
            out = {"snapshot": snapshot, "run": lab.restore_as_run(snapshot)}
    if json_out:
        print_json(out)
    elif to is not None:
        console.print(f"restored into {out['path']}")
    else:
        console.print(f"new run {out['run']}; continue it with: omnimind run --resume {out['run']}")


def _policy(last: int, hourly: int, daily: int, weekly: int, monthly: int, yearly: int, within: str | None,
            keep_tag: list[str] | None) -> ForgetPolicy:
    return ForgetPolicy(last=last, hourly=hourly, daily=daily, weekly=weekly, monthly=monthly, yearly=yearly,
                        within=within, tags=tuple(tuple(t.split(",")) for t in keep_tag or ()))


@snapshot_app.command("forget")
def snapshot_forget(keep_last: Annotated[int, typer.Option("--keep-last")] = 0,
                    keep_hourly: Annotated[int, typer.Option("--keep-hourly")] = 0,
                    keep_daily: Annotated[int, typer.Option("--keep-daily")] = 0,
                    keep_weekly: Annotated[int, typer.Option("--keep-weekly")] = 0,
                    keep_monthly: Annotated[int, typer.Option("--keep-monthly")] = 0,
                    keep_yearly: Annotated[int, typer.Option("--keep-yearly")] = 0,
                    keep_within: Annotated[str | None, typer.Option("--keep-within", help="e.g. 2d3h")] = None,
                    keep_tag: Annotated[list[str] | None, typer.Option("--keep-tag", help="a,b = both tags")] = None,
                    run: Annotated[str | None, typer.Option(help="only this run's snapshots")] = None,
                    dry_run: Annotated[bool, typer.Option("--dry-run", help="show, do not remove")] = False,
                    json_out: JsonOpt = False) -> None:
    """Remove snapshots a restic-style policy does not keep (per run); `prune` then frees the space."""
    policy = _policy(keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly, keep_within,
                     keep_tag)
    with open_lab() as lab:
        run_id = lab.get_run(run).id if run else None
        res = forget(lab, policy, dry_run=dry_run, run=run_id)
    if json_out:
        print_json(res.to_json())
        return
    for g in res.groups:
        console.print(f"[bold]run {g.key.get('run')}[/]: keep {len(g.keep)}, remove {len(g.remove)}")
        for d in g.keep:
            console.print(f"  keep   {d.item.id[:12]} {clock.iso(d.item.time)}  {', '.join(d.reasons)}")
        for d in g.remove:
            console.print(f"  remove {d.item.id[:12]} {clock.iso(d.item.time)}")
    if dry_run:
        console.print("(dry run: nothing removed)")


@snapshot_app.command("prune")
def snapshot_prune(json_out: JsonOpt = False) -> None:
    """Free the space of data no snapshot references any more."""
    with open_lab() as lab:
        res = prune(lab)
    if json_out:
        print_json(res.to_json())
    else:
        console.print(f"removed {res.blobs_removed} blobs, freed {res.bytes_freed:,} bytes "
                      f"({res.packs_deleted} packs deleted, {res.packs_repacked} repacked)")


def restore(run: Annotated[str, typer.Argument(help="run id or prefix")],
            at_cycle: Annotated[int, typer.Option("--at-cycle", help="the cycle whose exact state to rebuild")],
            to: Annotated[Path | None, typer.Option("--to", help="also write the state into this new directory")]
            = None,
            json_out: JsonOpt = False) -> None:
    """Point-in-time recovery: rebuild the exact state at a cycle, checked against the record at every cycle."""
    with open_lab() as lab:
        pit = lab.restore_at_cycle(run, at_cycle)
        out = pit.to_json()
        if to is not None:
            out["path"] = str(restore_to_dir(open_store(lab), pit.snapshot, to))
    if json_out:
        print_json(out)
        return
    src = f"snapshot {out['from_snapshot'][:12]} (cycle {out['from_cycle']})" if out["from_snapshot"] else "cycle 0"
    checks = ", ".join(f"{n} {c}" for n, c in out["checked"].items()) or "none"
    console.print(f"run {out['run']} at cycle {out['cycle']}: state digest {out['state_digest']}")
    console.print(f"from {src}, replayed {out['replayed']} cycles; digests checked: {checks}")
    console.print(f"saved as snapshot {out['snapshot'][:12]} (tags pitr, cycle-{out['cycle']})")


def register(app: typer.Typer) -> None:
    """Add the snapshot commands to the root app."""
    app.add_typer(snapshot_app, name="snapshot")
    app.command("restore")(restore)


__all__ = ["register"]
