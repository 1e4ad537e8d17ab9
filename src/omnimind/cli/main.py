"""The `omnimind` command: thin faces over the `Lab` API (parse, call, print)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from omnimind.cli import analysis as analysis_cli
from omnimind.cli import audit as audit_cli
from omnimind.cli import backup as backup_cli
from omnimind.cli import governance as governance_cli
from omnimind.cli import privacy as privacy_cli
from omnimind.cli import snapshots as snapshots_cli
from omnimind.cli.common import State, console, err_console, open_lab, print_json
from omnimind.errors import OmniMindError
from omnimind.lab.lab import Lab, find_lab
from omnimind.spec import ExperimentSpec, load_spec

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="OmniMind: run machine-consciousness experiments you can publish from.")
spec_app = typer.Typer(no_args_is_help=True, help="Experiment specs.")
runs_app = typer.Typer(no_args_is_help=True, help="Runs recorded in the lab.")
app.add_typer(spec_app, name="spec")
app.add_typer(runs_app, name="runs")
snapshots_cli.register(app)
audit_cli.register(app)
privacy_cli.register(app)
backup_cli.register(app)
governance_cli.register(app)
analysis_cli.register(app)

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


@app.callback()
def _root(lab: Annotated[Path | None, typer.Option("--lab", help="lab directory (default: $OMNIMIND_LAB, "
                                                     "the nearest lab.toml upwards, or ./omnimind-lab)")] = None
          ) -> None:
    State.lab = lab


@app.command()
def init(path: Annotated[Path | None, typer.Argument(help="directory to create (default ./omnimind-lab)")] = None,
         name: Annotated[str | None, typer.Option(help="lab name (default: directory name)")] = None,
         database_url: Annotated[str, typer.Option("--database-url", help="PostgreSQL URL; empty = embedded "
                                                   "SQLite")] = "",
         json_out: JsonOpt = False) -> None:
    """Create a lab: a directory with lab.toml, a database and a data folder."""
    target = path or State.lab or Path("omnimind-lab")
    lab = Lab.init(target, name=name, database_url=database_url)
    info = {"path": str(lab.path), "id": lab.config.id, "database": lab.db.url.render_as_string(hide_password=True)}
    lab.close()
    if json_out:
        print_json(info)
    else:
        console.print(f"created lab [bold]{info['path']}[/] (id {info['id']}, database {info['database']})")


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} cycles/s" if speed else "… cycles/s", style="progress.data.speed")


@app.command()
def run(spec_file: Annotated[Path | None, typer.Argument(help="experiment YAML (default: the built-in spec)")] = None,
        cycles: Annotated[int | None, typer.Option(help="override the spec's cycle count")] = None,
        seed: Annotated[int | None, typer.Option(help="override the spec's seed")] = None,
        resume: Annotated[str | None, typer.Option("--resume", help="continue this run from its newest snapshot "
                                                   "that verifies")] = None,
        json_out: JsonOpt = False) -> None:
    """Run an experiment and record it in the lab (or --resume an interrupted or crashed run)."""
    if resume is not None:
        if spec_file or cycles is not None or seed is not None:
            raise OmniMindError("--resume continues a run with its own spec", "drop SPEC/--cycles/--seed")
        with open_lab() as lab:
            target = lab.get_run(resume)
            _drive_cli(lambda prog: lab.resume(target.id, progress=prog), target.spec, lab, json_out, target.id)
        return
    spec = load_spec(spec_file) if spec_file else ExperimentSpec()
    overrides = {k: v for k, v in (("cycles", cycles), ("seed", seed)) if v is not None}
    if overrides:
        spec = ExperimentSpec.model_validate({**spec.to_json(), **overrides})
    with open_lab() as lab:
        _drive_cli(lambda prog: lab.run(spec, spec_dir=spec_file.parent if spec_file else None, progress=prog),
                   spec, lab, json_out)


def _drive_cli(start: Callable[[Callable[[int, int], None]], Any], spec: ExperimentSpec, lab: Lab,
               json_out: bool, run_id: str | None = None) -> None:
    """Show a progress bar while `start(progress)` runs; print the outcome; Ctrl-C exits 130."""
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), TaskProgressColumn(),
                        TextColumn("{task.completed:,.0f}/{task.total:,.0f}"), _RateColumn(),
                        TimeRemainingColumn(), console=err_console, disable=json_out, transient=False)
    task = progress.add_task(f"run {spec.name}", total=spec.cycles)
    started = time.perf_counter()
    first: list[int] = []

    def report(done: int, _total: int) -> None:
        if not first:  # a resumed run starts past 0: rate and ETA count from there
            first.append(done)
            progress.reset(task, total=spec.cycles, completed=done)
        progress.update(task, completed=done)

    try:
        with progress:
            result = start(report)
    except KeyboardInterrupt:
        r = lab.get_run(run_id) if run_id else next(iter(lab.runs(limit=1)), None)
        if r is not None:
            err_console.print(f"interrupted: run {r.id} stopped at cycle {r.cycles_done:,}; its recorded data is "
                              f"kept; continue with: omnimind run --resume {r.id}")
        raise typer.Exit(130) from None
    elapsed = time.perf_counter() - started
    info = result.info()
    info["elapsed_s"] = round(elapsed, 3)
    if json_out:
        print_json(info)
        return
    ran = info["cycles_done"] - (first[0] if first else 0)
    console.print(f"run [bold]{info['id']}[/] {info['status']}: {info['cycles_done']:,} cycles "
                  f"({ran:,} in this session, {elapsed:.2f} s, {ran / elapsed:,.0f} cycles/s)")
    console.print(f"final state digest {info['final_digest']}")
    console.print(f"recorded: {', '.join(f'{n} {tuple(result.array(n).shape)}' for n in info['arrays'])}")
    _print_metrics(lab, info["id"])
    console.print(f"next: omnimind --lab {lab.path} report {info['id']}   (or: runs show, audit verify, "
                  "restore --at-cycle N)")


def _print_metrics(lab: Lab, run_id: str) -> None:
    """The newest window of each in-run measure, against its surrogate null."""
    from omnimind.lab.analysis import metrics_for

    latest: dict[str, dict[str, Any]] = {}
    for m in metrics_for(lab, run_id):
        latest[m["measure"]] = m
    for name, m in latest.items():
        d = m["details"]
        sym, units, sur = d.get("symbol", name), d.get("units", ""), d.get("surrogate") or {}
        value = "n/a" if m["value"] is None else f"{m['value']:.4g}"
        null = (f"; {sur['kind']} surrogate null {sur['null_mean']:.4g} "
                f"[{sur['ci'][0]:.4g}, {sur['ci'][1]:.4g}], p = {sur['p_value']:.3g}") if sur.get("ci") else ""
        console.print(f"{sym} ({name}) at cycle {m['cycle']:,}, window {m['window']:,}: {value} {units}{null}")


@spec_app.command("show")
def spec_show(spec_file: Annotated[Path | None, typer.Argument(help="spec to validate and print (default: "
                                                                  "the built-in one)")] = None,
              json_out: JsonOpt = False) -> None:
    """Print a spec (the default one unless a file is given), fully expanded."""
    spec = load_spec(spec_file) if spec_file else ExperimentSpec()
    if json_out:
        print_json(spec.to_json())
    else:
        typer.echo(spec.to_yaml(), nl=False)


@runs_app.command("list")
def runs_list(status: Annotated[str | None, typer.Option(help="only runs with this status")] = None,
              limit: Annotated[int | None, typer.Option(help="at most this many")] = None,
              json_out: JsonOpt = False) -> None:
    """Runs in the lab, newest first."""
    with open_lab() as lab:
        rows = [r.info() for r in lab.runs(status=status, limit=limit)]
    if json_out:
        print_json(rows)
        return
    table = Table("id", "name", "status", "seed", "cycles", "started", "final digest")
    for r in rows:
        table.add_row(r["id"], r["name"], r["status"], str(r["seed"]),
                      f"{r['cycles_done']:,}/{r['cycles_target']:,}", r["started_at"] or "",
                      (r["final_digest"] or "")[:16])
    console.print(table)


@runs_app.command("show")
def runs_show(run_id: Annotated[str, typer.Argument(help="run id or unique prefix")], json_out: JsonOpt = False
              ) -> None:
    """One run: status, digests, versions, recorded arrays, events."""
    with open_lab() as lab:
        r = lab.get_run(run_id)
        info = r.info()
        info["shapes"] = {n: list(r.array(n).shape) for n in info["arrays"]}
        info["events"] = [e.__dict__ for e in r.events]
    if json_out:
        print_json(info)
        return
    for key in ("id", "name", "status", "seed", "cycles_done", "cycles_target", "started_at", "ended_at",
                "spec_digest", "final_digest", "host", "resumed_from", "error"):
        if info.get(key) is not None:
            console.print(f"[bold]{key:>14}[/] {info[key]}")
    console.print(f"[bold]{'versions':>14}[/] " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()))
    for n, shape in info["shapes"].items():
        console.print(f"[bold]{'array':>14}[/] {n} {tuple(shape)}")
    for e in info["events"]:
        console.print(f"[bold]{'event':>14}[/] {e['time']} cycle {e['cycle']} {e['kind']}: {e['message']}")


@runs_app.command("export")
def runs_export(run_id: Annotated[str, typer.Argument(help="run id or unique prefix")],
                fmt: Annotated[str, typer.Option("--format", help="npz, csv or parquet")] = "npz",
                output: Annotated[Path | None, typer.Option("--output", "-o", help="file to write")] = None,
                json_out: JsonOpt = False) -> None:
    """Export a run's recorded arrays."""
    with open_lab() as lab:
        r = lab.get_run(run_id)
        dest = output or Path(f"{r.id}.{fmt}")
        r.export(fmt, dest)
    if json_out:
        print_json({"run": r.id, "format": fmt, "path": str(dest)})
    else:
        console.print(f"wrote {dest}")


def main() -> None:
    """Entry point: expected failures print `error:` and `hint:` and exit 2, never a traceback."""
    try:
        app()
    except OmniMindError as exc:
        err_console.print(f"[red]error:[/] {exc.message}", highlight=False, soft_wrap=True)
        if exc.hint:
            err_console.print(f"[yellow]hint:[/] {exc.hint}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)


__all__ = ["app", "find_lab", "main"]
