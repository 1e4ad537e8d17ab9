"""`omnimind analyze RUN` and `omnimind report RUN`: thin faces over `omnimind.lab.analysis` / `lab.report`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from omnimind.cli.common import console, open_lab, print_json
from omnimind.errors import MetricError

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


def _num(v: Any, digits: int = 4) -> str:
    return "—" if v is None else f"{v:.{digits}g}"


def metrics_table(rows: list[dict[str, Any]]) -> Table:
    """A rich table of metric rows: cycle, measure, value, null mean, CI, corrected, p, error."""
    table = Table("cycle", "window", "measure", "value", "null mean", "null CI", "corrected", "p", "note")
    for r in rows:
        d = r["details"]
        s = d.get("surrogate") or {}
        ci = s.get("ci")
        table.add_row(f"{r['cycle']:,}", str(r["window"]), r["measure"], _num(r["value"]), _num(s.get("null_mean")),
                      f"[{_num(ci[0])}, {_num(ci[1])}]" if ci else "—", _num(s.get("corrected")),
                      _num(s.get("p_value"), 3), d.get("error") or "")
    return table


def analyze(
    run_id: Annotated[str, typer.Argument(help="run id or unique prefix")],
    measure: Annotated[list[str] | None, typer.Option("--measure", "-m", help="measure name (repeat for more; "
                                                      "default: the spec's metrics.measures)")] = None,
    window: Annotated[int | None, typer.Option(help="samples per window (default: the spec's)")] = None,
    every: Annotated[int | None, typer.Option(help="one window every K cycles (default: the spec's)")] = None,
    pca_k: Annotated[int | None, typer.Option("--pca-k", help="PCA components per module; 0 = no PCA")] = None,
    surrogates: Annotated[int | None, typer.Option(help="surrogates per window (0 or >= 2)")] = None,
    surrogate_kind: Annotated[str | None, typer.Option("--surrogate-kind", help="circular or shuffle")] = None,
    seed: Annotated[int | None, typer.Option(help="base surrogate seed (default: the run's seed)")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Compute windowed integration measures from a run's recorded states and store them in the lab."""
    from omnimind.lab.analysis import analyze_run

    with open_lab() as lab:
        rows = analyze_run(lab, run_id, measures=measure or None, window=window, every=every, pca_k=pca_k,
                           surrogates=surrogates, surrogate_kind=surrogate_kind, seed=seed)
    if json_out:
        print_json(rows)
        return
    console.print(metrics_table(rows))
    failed = sum(1 for r in rows if r["value"] is None)
    windows = len({r["cycle"] for r in rows})
    console.print(f"{len(rows)} values over {windows} windows stored (source analyze)"
                  + (f"; {failed} failed (see note)" if failed else ""))


def report(
    run_id: Annotated[str, typer.Argument(help="run id or unique prefix")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="output directory (default: "
                                             "<lab>/data/reports/<run id>/)")] = None,
    source: Annotated[str | None, typer.Option(help="metrics to show: run or analyze (default: analyze if "
                                               "present, else run; computed if neither)")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Write a self-contained HTML report of a run (plots, surrogate bands, provenance) and its JSON twin."""
    from omnimind.lab.analysis import SOURCES
    from omnimind.lab.report import build_report
    from omnimind.lab.runs import get_run

    if source is not None and source not in SOURCES:
        raise MetricError(f"unknown metrics source {source!r}", f"use one of: {', '.join(SOURCES)}")
    with open_lab() as lab:
        run = get_run(lab, run_id)
        dest = out or lab.path / "data" / "reports" / run.id
        html_path, json_path = build_report(lab, run.id, dest, source=source)
    if json_out:
        print_json({"run": run.id, "html": str(html_path), "json": str(json_path)})
    else:
        console.print(f"wrote {html_path}\nwrote {json_path}")


def register(app: typer.Typer) -> None:
    """Add `analyze` and `report` to the `omnimind` command."""
    app.command("analyze")(analyze)
    app.command("report")(report)


__all__ = ["analyze", "metrics_table", "register", "report"]
