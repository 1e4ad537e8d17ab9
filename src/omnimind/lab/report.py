"""`build_report`: one run as a self-contained HTML page (plots inline as base64 PNG) plus the same numbers
as JSON (schema `omnimind-report/1`, docs/report.md).

Sections follow docs/governance/experiment-report-template.md: a header table, 1. Question and hypothesis,
2. Setup, 3. Results, 4. Interpretation, 5. Provenance and integrity, 6. Deviations. Nothing is loaded from
the network; every number shown comes from the run's rows in the lab (the `metrics` table and the recorded
arrays).
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import math
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

import omnimind
from omnimind import clock
from omnimind.errors import MetricError
from omnimind.fsutil import atomic_write_bytes
from omnimind.lab.analysis import MIN_WINDOW, analyze_run, metrics_for
from omnimind.metrics import REGISTRY

if TYPE_CHECKING:
    from omnimind.lab.lab import Lab
    from omnimind.lab.runs import Run

FORMAT = "omnimind-report/1"
MAX_BINS = 500  # time bins of the workspace plots (long runs are averaged into bins)
RASTER_CYCLES = 600  # recorded cycles shown at full resolution in the winner raster
DOCS = "docs/metrics.md"
_DOC_SECTION = {"lz_complexity": "§3 Other measures", "metastability": "§3 Other measures",
                "o_information": "§3 Other measures"}
_NOTES = {
    "phi": "Can be negative when the parts share (redundant) predictive information; reported as is.",
    "phi_wms": "Can be negative when the parts share (redundant) predictive information.",
    "psi": "Flawed: positive even for disconnected autocorrelated parts; compare with its surrogate null.",
    "phi_tilde": "≥ 0; counts instantaneous (noise) correlation between parts as integration.",
    "tdmi": "Predictive information of the whole system; not a measure of integration.",
    "lz_complexity": "≈ 1 for noise, ≈ 0 for constant or periodic activity (normalised LZ76).",
    "metastability": "Variance over time of the Kuramoto order parameter of module phases; 0 = phase-locked.",
    "phi_star": "0 ≤ Φ* ≤ TDMI; not additive over independent subsystems.",
    "phi_g": "0 ≤ Φ_G ≤ min(TDMI, Φ̃); the slow measure.",
    "causal_density": "Mean conditional transfer entropy between the parts; 0 for noise correlation alone.",
    "phi_r": "Φ_WMS plus the double redundancy (MMI); the K > 2 extension is ours.",
    "o_information": "> 0: redundancy dominates; < 0: synergy dominates.",
}


# --- small helpers ------------------------------------------------------------------------------------

def _esc(x: object) -> str:
    return html.escape(str(x), quote=True)


def _fmt(v: object, digits: int = 4) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.{digits}g}"
    return str(v)


def _fmt_ci(ci: object) -> str:
    if not isinstance(ci, list | tuple) or len(ci) != 2:
        return "—"
    return f"[{_fmt(ci[0])}, {_fmt(ci[1])}]"


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _img(b64: str, alt: str) -> str:
    return f'<img alt="{_esc(alt)}" src="data:image/png;base64,{b64}">'


def array_digest(arr: NDArray[Any]) -> str:
    """SHA-256 of an array's little-endian, C-order bytes (how docs/report.md defines a data digest)."""
    le = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
    return hashlib.sha256(le.tobytes()).hexdigest()


def _bins(n: int, max_bins: int = MAX_BINS) -> NDArray[np.intp]:
    """Start indices of at most `max_bins` contiguous bins covering n rows."""
    k = max(1, min(n, max_bins))
    return np.unique(np.linspace(0, n, k + 1).astype(np.intp)[:-1])


def _binned_mean(a: NDArray[Any], starts: NDArray[np.intp]) -> NDArray[np.float64]:
    a2 = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    sums = np.add.reduceat(a2, starts, axis=0)
    counts = np.diff(np.append(starts, len(a2))).reshape(-1, 1)
    return np.asarray(sums / counts, dtype=np.float64)


# --- collecting the numbers ---------------------------------------------------------------------------

def _ensure_metrics(lab: Lab, run: Run, source: str | None) -> tuple[list[dict[str, Any]], str, str | None]:
    """Rows to report, the source used, and a note when they were computed for this report."""
    if source is not None:
        rows = metrics_for(lab, run.id, source)
        if not rows:
            raise MetricError(f"run {run.id} has no `{source}` metrics",
                              f"compute them with `omnimind analyze {run.id}`, or omit --source")
        return rows, source, None
    analyzed = metrics_for(lab, run.id, "analyze")
    if analyzed:
        return analyzed, "analyze", None
    in_run = metrics_for(lab, run.id, "run")
    if in_run:
        return in_run, "run", None
    try:
        rows = analyze_run(lab, run.id)
        note = "The run had no stored metrics; they were computed for this report with the spec's settings."
    except MetricError:
        n = int(run.states.shape[0]) if "states" in run.array_names() else 0
        spacing = run.spec.recording.every
        window = min(run.spec.metrics.window, n)
        if window < MIN_WINDOW:
            raise
        rows = analyze_run(lab, run.id, every=n * spacing, window=window)
        note = (f"The run had no stored metrics and is shorter than one analysis period; one window of "
                f"{window} samples ending at cycle {n * spacing} was computed for this report.")
    return rows, "analyze", note


def _measure_block(name: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    spec = REGISTRY.get(name) if name in REGISTRY.names() else None
    windows = []
    for r in rows:
        d = r["details"]
        s = d.get("surrogate") or {}
        w = d.get("window") or {}
        windows.append({
            "cycle": r["cycle"], "start": w.get("start"), "end": w.get("end"), "window": r["window"],
            "spacing": w.get("spacing"), "value": r["value"], "null_mean": s.get("null_mean"),
            "null_std": s.get("null_std"), "ci": s.get("ci"), "corrected": s.get("corrected"),
            "corrected_ci": s.get("corrected_ci"), "p_value": s.get("p_value"), "n_surrogates": s.get("n"),
            "error": d.get("error"),
        })
    vals = np.array([w["value"] for w in windows if w["value"] is not None], dtype=np.float64)
    corr = np.array([w["corrected"] for w in windows if w["corrected"] is not None], dtype=np.float64)
    above = sum(1 for w in windows if w["value"] is not None and w["ci"] and w["value"] > w["ci"][1])
    below = sum(1 for w in windows if w["value"] is not None and w["ci"] and w["value"] < w["ci"][0])
    signif = sum(1 for w in windows if w["p_value"] is not None and w["p_value"] < 0.05)
    first = rows[0]["details"] if rows else {}
    summary = {
        "n_windows": len(windows), "n_failed": sum(1 for w in windows if w["value"] is None),
        "mean": float(vals.mean()) if vals.size else None, "std": float(vals.std()) if vals.size else None,
        "min": float(vals.min()) if vals.size else None, "max": float(vals.max()) if vals.size else None,
        "mean_corrected": float(corr.mean()) if corr.size else None,
        "n_above_null": above, "n_below_null": below, "n_p_below_0_05": signif,
    }
    return {
        "symbol": first.get("symbol", spec.symbol if spec else None),
        "units": first.get("units", spec.units if spec else None),
        "estimator": first.get("estimator", spec.estimator if spec else None),
        "description": spec.description if spec else None,
        "docs": f"{DOCS} {_DOC_SECTION.get(name, '§2 Measures')}",
        "summary": summary, "windows": windows,
    }


def _partition_summary(rows: list[dict[str, Any]], names: list[str]) -> dict[str, Any] | None:
    seen: Counter[str] = Counter()
    cols: dict[str, list[list[int]]] = {}
    by_cycle: dict[int, dict[str, Any]] = {}
    for r in rows:
        by_cycle.setdefault(r["cycle"], r["details"])
    for d in by_cycle.values():
        p = d.get("partition") or {}
        mods = p.get("modules")
        if not mods:
            continue
        key = " | ".join("{" + ", ".join(names[m] if m < len(names) else str(m) for m in part) + "}"
                         for part in mods)
        seen[key] += 1
        cols[key] = p.get("columns") or []
    if not seen:
        return None
    modal, count = seen.most_common(1)[0]
    return {"modal": modal, "windows_with_modal": count, "n_windows": sum(seen.values()),
            "counts": dict(seen), "dims": [len(c) for c in cols.get(modal, [])],
            "method": next((d.get("partition", {}).get("method") for d in by_cycle.values()
                            if d.get("partition")), None)}


def _workspace(run: Run) -> dict[str, Any] | None:
    arrays = run.array_names()
    if "attention" not in arrays and "ignition" not in arrays:
        return None
    cycles = run.cycles()
    names = run.columns("attention")
    out: dict[str, Any] = {"modules": names, "recorded_rows": len(cycles)}
    starts = _bins(len(cycles))
    out["bins"] = {"cycle_start": [int(cycles[i]) for i in starts]}
    if "attention" in arrays:
        att = run.array("attention")
        out["mean_attention"] = dict(zip(names, (float(x) for x in att.mean(axis=0)), strict=True))
        out["bins"]["attention"] = _binned_mean(att, starts).tolist()
    if "ignition" in arrays:
        ign = run.array("ignition")[:, 0].astype(np.float64)
        out["ignition_rate"] = float(ign.mean()) if ign.size else None
        out["bins"]["ignition_rate"] = _binned_mean(ign, starts)[:, 0].tolist()
    if "winner" in arrays:
        win = run.array("winner")[:, 0]
        counts = np.bincount(win, minlength=len(names))
        out["winner_share"] = {n: float(c / max(1, win.size)) for n, c in zip(names, counts, strict=False)}
        out["winner_switches"] = int(np.count_nonzero(np.diff(win))) if win.size > 1 else 0
    return out


def _data_digests(run: Run) -> dict[str, Any]:
    out = {}
    for name in run.array_names():
        arr = run.array(name)
        out[name] = {"sha256": array_digest(arr), "shape": list(arr.shape), "dtype": arr.dtype.str}
    return out


def report_data(lab: Lab, run_id: str, *, source: str | None = None) -> dict[str, Any]:
    """Everything the report shows, as plain JSON (the `.json` file written by `build_report`)."""
    from omnimind.lab.runs import get_run

    run = get_run(lab, run_id)
    rows, used, note = _ensure_metrics(lab, run, source)
    spec = run.spec
    info = run.info()
    measure_names: list[str] = []
    for r in rows:
        if r["measure"] not in measure_names:
            measure_names.append(r["measure"])
    first = rows[0]["details"] if rows else {}
    params = {"measures": measure_names, "window": rows[0]["window"] if rows else None,
              "every": (first.get("window") or {}).get("every"), "pca_k": first.get("pca_k"),
              "surrogates": (first.get("surrogates") or {}).get("n"),
              "surrogate_kind": (first.get("surrogates") or {}).get("kind"),
              "ci_level": (first.get("surrogates") or {}).get("ci_level"),
              "spacing": (first.get("window") or {}).get("spacing"),
              "lag": first.get("lag")}
    names = [m.name for m in spec.modules]
    cmd_analyze = _analyze_command(params)
    measures = {n: _measure_block(n, [r for r in rows if r["measure"] == n]) for n in measure_names}
    return {
        "format": FORMAT,
        "generated_at": clock.iso(),
        "run": {**{k: info[k] for k in ("id", "name", "status", "seed", "cycles_done", "cycles_target",
                                        "created_at", "started_at", "ended_at", "spec_digest", "final_digest",
                                        "host", "error", "resumed_from")},
                "tenant": getattr(run._row, "tenant", None)},
        "lab": {"id": lab.config.id, "name": lab.config.name, "path": str(lab.path)},
        "versions": {"run": info["versions"],
                     "report": {"omnimind": omnimind.__version__, "numpy": np.__version__,
                                "matplotlib": _mpl_version()}},
        "spec": spec.to_json(),
        "spec_yaml": spec.to_yaml(),
        "reproduce": {"spec_file": "spec.yaml",
                      "commands": [f"omnimind run spec.yaml    # expect final state digest {info['final_digest']}",
                                   cmd_analyze.replace("RUN", "<new run id>")]},
        "data_digests": _data_digests(run),
        "analysis": {"source": used, "computed_for_report": note is not None, "note": note, "params": params,
                     "partition": _partition_summary(rows, names)},
        "measures": measures,
        "workspace": _workspace(run),
        "events": [{"time": e.time, "cycle": e.cycle, "kind": e.kind, "message": e.message} for e in run.events],
        "deviations": _deviations(run, params, measures, note),
    }


def _deviations(run: Run, params: dict[str, Any], measures: dict[str, Any], note: str | None) -> list[str]:
    """Differences from the design that the software can see (the template's section 6)."""
    out = []
    m = run.spec.metrics
    if run.status != "completed":
        out.append(f"The run is {run.status} at cycle {run.cycles_done:,} of {run.cycles_target:,}.")
    resumed = [e for e in run.events if e.kind == "resumed"]
    if resumed:
        out.append(f"The run was resumed {len(resumed)} time(s): " + "; ".join(e.message for e in resumed) + ".")
    if note:
        out.append(note)
    elif not m.enabled:
        out.append("The spec had metrics disabled; these measures were computed afterwards.")
    planned = {"measures": list(m.measures), "window": m.window, "every": m.every, "pca_k": m.pca_k,
               "surrogates": m.surrogates, "surrogate_kind": m.surrogate_kind if m.surrogates else None}
    changed = [f"{k} {params.get(k)!r} (spec: {v!r})" for k, v in planned.items()
               if params.get(k) != v and not (k == "every" and note)]
    if changed:
        out.append("Analysis settings differ from the spec's metrics section: " + ", ".join(changed) + ".")
    if (params.get("spacing") or 1) > 1:
        out.append(f"States were recorded every {params['spacing']} cycles, so window samples are "
                   f"{params['spacing']} cycles apart (in-run windows use consecutive cycles).")
    for name, blk in measures.items():
        s = blk["summary"]
        if s["n_failed"]:
            errs = sorted({w["error"] for w in blk["windows"] if w["error"]})
            out.append(f"{name}: not computed on {s['n_failed']} of {s['n_windows']} windows ("
                       + "; ".join(errs[:3]) + ").")
    return out


def _analyze_command(params: dict[str, Any]) -> str:
    parts = ["omnimind analyze RUN"]
    parts += [f"--measure {m}" for m in params["measures"]]
    for key, flag in (("window", "--window"), ("every", "--every"), ("surrogates", "--surrogates")):
        if params.get(key) is not None:
            parts.append(f"{flag} {params[key]}")
    parts.append(f"--pca-k {params['pca_k'] if params.get('pca_k') else 0}")
    return " ".join(parts)


def _mpl_version() -> str:
    import matplotlib

    return str(matplotlib.__version__)


# --- plots --------------------------------------------------------------------------------------------

def _plot_measures(data: dict[str, Any]) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measures = data["measures"]
    if not measures:
        return None
    n = len(measures)
    fig, axes = plt.subplots(n, 2, figsize=(11, 2.3 * n + 0.6), squeeze=False, sharex=True)
    for i, (name, m) in enumerate(measures.items()):
        ws = m["windows"]
        x = np.array([w["cycle"] for w in ws], dtype=np.float64)
        v = np.array([np.nan if w["value"] is None else w["value"] for w in ws])
        label = f"{m['symbol']} ({name})" if m["symbol"] else name
        ax, axc = axes[i]
        has_null = any(w["ci"] for w in ws)
        if has_null:
            lo = np.array([w["ci"][0] if w["ci"] else np.nan for w in ws])
            hi = np.array([w["ci"][1] if w["ci"] else np.nan for w in ws])
            mu = np.array([np.nan if w["null_mean"] is None else w["null_mean"] for w in ws])
            ax.fill_between(x, lo, hi, color="0.8", step=None, label="surrogate null (CI)")
            ax.plot(x, mu, color="0.45", lw=1, ls="--", label="null mean")
        ax.plot(x, v, color="C0", marker="o", ms=3, lw=1.4, label="observed")
        ax.set_ylabel(f"{label}\n[{m['units']}]", fontsize=9)
        ax.grid(alpha=0.3)
        if i == 0:
            ax.set_title("observed value and surrogate null", fontsize=10)
            ax.legend(fontsize=8, loc="best")
        if has_null:
            c = np.array([np.nan if w["corrected"] is None else w["corrected"] for w in ws])
            clo = np.array([w["corrected_ci"][0] if w["corrected_ci"] else np.nan for w in ws])
            chi = np.array([w["corrected_ci"][1] if w["corrected_ci"] else np.nan for w in ws])
            axc.fill_between(x, clo, chi, color="C1", alpha=0.2, label="corrected CI")
            axc.plot(x, c, color="C1", marker="o", ms=3, lw=1.4, label="observed − null mean")
            axc.axhline(0.0, color="k", lw=0.8)
            if i == 0:
                axc.set_title("surrogate-corrected value", fontsize=10)
                axc.legend(fontsize=8, loc="best")
            axc.grid(alpha=0.3)
        else:
            axc.text(0.5, 0.5, "no surrogates: no corrected value", ha="center", va="center",
                     transform=axc.transAxes, fontsize=9, color="0.4")
            axc.set_axis_off()
    axes[-1][0].set_xlabel("cycle (window end)")
    axes[-1][1].set_xlabel("cycle (window end)")
    fig.tight_layout()
    return _png(fig)


def _plot_workspace(run: Run, data: dict[str, Any]) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ws = data["workspace"]
    if ws is None:
        return None
    names = ws["modules"]
    colors = [plt.get_cmap("tab10")(i % 10) for i in range(len(names))]
    bins = ws["bins"]
    x = np.array(bins["cycle_start"], dtype=np.float64)
    panels = (["states"] if "states" in run.array_names() else []) + \
        [k for k in ("attention", "ignition_rate") if k in bins] + (["winner"] if "winner_share" in ws else [])
    heights = {"states": 2.6, "attention": 2.6, "ignition_rate": 1.4, "winner": 2.2}
    fig, axes = plt.subplots(len(panels), 1, figsize=(11, sum(heights[p] for p in panels) + 0.5), squeeze=False,
                             gridspec_kw={"height_ratios": [heights[p] for p in panels]})
    for ax, panel in zip(axes[:, 0], panels, strict=True):
        if panel == "states":
            st = run.array("states")
            k = min(RASTER_CYCLES, len(st))
            blk = st[-k:]
            z = (blk - blk.mean(axis=0)) / np.where(blk.std(axis=0) > 0, blk.std(axis=0), 1.0)
            cyc = run.cycles()[-k:]
            ax.imshow(z.T, aspect="auto", cmap="RdBu_r", vmin=-3, vmax=3, interpolation="nearest",
                      extent=(float(cyc[0]), float(cyc[-1]), z.shape[1] - 0.5, -0.5))
            dims = [m.dim for m in run.spec.modules]
            edges = np.cumsum([0, *dims])
            ax.set_yticks([(edges[i] + edges[i + 1] - 1) / 2 for i in range(len(dims))],
                          [m.name for m in run.spec.modules], fontsize=8)
            for e in edges[1:-1]:
                ax.axhline(e - 0.5, color="k", lw=0.4)
            ax.set_title(f"module states (z-scored per column), last {k} recorded cycles", fontsize=10)
            ax.grid(False)
            continue
        if panel == "attention":
            att = np.asarray(bins["attention"])
            ax.stackplot(x, att.T, labels=names, colors=colors, linewidth=0)
            ax.set_ylim(0, 1)
            ax.set_xlim(x[0], x[-1] if len(x) > 1 else x[0] + 1)
            ax.set_ylabel("attention\n(bin mean)", fontsize=9)
            ax.set_title(f"attention weights over cycles ({len(x)} bins of "
                         f"~{max(1, ws['recorded_rows'] // max(1, len(x)))} recorded cycles)", fontsize=10)
            ax.legend(fontsize=8, ncol=min(8, len(names)), loc="upper center", bbox_to_anchor=(0.5, -0.12),
                      frameon=False)
        elif panel == "ignition_rate":
            ax.plot(x, bins["ignition_rate"], color="C3", lw=1.2)
            ax.axhline(ws["ignition_rate"], color="k", lw=0.8, ls="--",
                       label=f"overall {ws['ignition_rate']:.3f}")
            ax.set_ylim(0, 1)
            ax.set_xlim(x[0], x[-1] if len(x) > 1 else x[0] + 1)
            ax.set_ylabel("ignition rate", fontsize=9)
            ax.legend(fontsize=8, loc="upper right")
            ax.set_xlabel("cycle", fontsize=9)
        else:
            win = run.array("winner")[:, 0]
            cyc = run.cycles()
            k = min(RASTER_CYCLES, len(win))
            ign = run.array("ignition")[-k:, 0].astype(bool) if "ignition" in run.array_names() else None
            wk, ck = win[-k:], cyc[-k:]
            ax.scatter(ck, wk, c=[colors[i % len(colors)] for i in wk], s=6, marker="s", linewidths=0)
            if ign is not None and ign.any():
                ax.scatter(ck[ign], wk[ign], facecolors="none", edgecolors="k", s=18, linewidths=0.5,
                           label="ignition")
                ax.legend(fontsize=8, loc="upper right")
            ax.set_yticks(range(len(names)), names, fontsize=8)
            ax.set_ylim(-0.5, len(names) - 0.5)
            ax.set_title(f"winner of the competition, last {k} recorded cycles", fontsize=10)
            ax.set_xlabel("cycle", fontsize=9)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)


# --- HTML ---------------------------------------------------------------------------------------------

_CSS = """
body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;max-width:1160px;margin:24px auto;
padding:0 20px;color:#1d2329;line-height:1.45;font-size:15px}
h1{font-size:24px;margin-bottom:2px}h2{border-bottom:1px solid #d0d7de;padding-bottom:4px;margin-top:34px}
h3{font-size:16px;margin-top:22px}.sub{color:#57606a;margin-top:0}
table{border-collapse:collapse;margin:8px 0;font-size:13.5px}td,th{border:1px solid #d0d7de;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
pre{background:#f6f8fa;padding:10px;overflow-x:auto;border-radius:6px}img{max-width:100%}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:10px 0}.card{border:1px solid #d0d7de;border-radius:8px;
padding:8px 14px;min-width:150px}.card .k{color:#57606a;font-size:12px}.card .v{font-size:20px;font-weight:600}
.note{background:#fff8c5;border:1px solid #d4a72c66;border-radius:6px;padding:8px 12px}
.bad{color:#cf222e}details{margin:8px 0}nav a{margin-right:12px}
"""


def _table(head: list[str] | None, rows: list[list[str]], num: set[int] | None = None) -> str:
    num = num or set()
    if head is None:
        return "<table>" + "".join("<tr><th>" + r[0] + "</th>" + "".join(f"<td>{c}</td>" for c in r[1:]) + "</tr>"
                                   for r in rows) + "</table>"
    h = "".join(f"<th>{_esc(c)}</th>" for c in head)
    body = "".join("<tr>" + "".join(f'<td class="num">{c}</td>' if j in num else f"<td>{c}</td>"
                                    for j, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><tr>{h}</tr>{body}</table>"


def _label(name: str, m: dict[str, Any]) -> str:
    return f"{_esc(m['symbol'])} <code>{_esc(name)}</code>" if m["symbol"] else f"<code>{_esc(name)}</code>"


def _summary_sentences(data: dict[str, Any]) -> list[str]:
    out = []
    a = data["analysis"]["params"]
    kind = a.get("surrogate_kind")
    level = a.get("ci_level")
    for name, m in data["measures"].items():
        s = m["summary"]
        sym = m["symbol"] or name
        if s["mean"] is None:
            out.append(f"<b>{_esc(sym)}</b> (<code>{_esc(name)}</code>) could not be computed on any of "
                       f"{s['n_windows']} windows (see Integration measures).")
            continue
        txt = (f"<b>{_esc(sym)}</b> (<code>{_esc(name)}</code>): mean {_fmt(s['mean'])} {_esc(m['units'])} "
               f"(range {_fmt(s['min'])} to {_fmt(s['max'])}) over {s['n_windows'] - s['n_failed']} windows")
        if kind and level:
            txt += (f"; above the {kind}-shift surrogate null's {level * 100:.0f}% interval in "
                    f"{s['n_above_null']}, below it in {s['n_below_null']}; mean surrogate-corrected value "
                    f"{_fmt(s['mean_corrected'])}")
        if s["n_failed"]:
            txt += f"; <span class=bad>failed on {s['n_failed']} windows</span>"
        out.append(txt + ".")
    ws = data["workspace"]
    if ws and ws.get("ignition_rate") is not None:
        share = ws.get("winner_share") or {}
        top = max(share, key=lambda k: share[k]) if share else None
        txt = f"The workspace ignited on {ws['ignition_rate'] * 100:.1f}% of recorded cycles"
        if top is not None:
            txt += (f"; <code>{_esc(top)}</code> won most often ({share[top] * 100:.1f}% of cycles) and the "
                    f"winner changed {ws.get('winner_switches', 0):,} times")
        out.append(txt + ".")
    return out


def _bias_note(data: dict[str, Any]) -> str:
    p = data["analysis"]["partition"]
    T = data["analysis"]["params"].get("window")
    if not p or not p.get("dims") or len(p["dims"]) != 2 or not T:
        return ""
    d1, d2 = p["dims"]
    return (f" For this analysis (parts of {d1} and {d2} columns, T = {T}) that is ≈ d₁d₂/(2T) = "
            f"{d1 * d2 / (2 * T):.3g} nats per mutual-information term.")


def render_html(data: dict[str, Any], measures_png: str | None, workspace_png: str | None) -> str:
    """The report page (structure of docs/governance/experiment-report-template.md) for `report_data` output
    and the two plots (base64 PNG)."""
    run, spec, an = data["run"], data["spec"], data["analysis"]
    p = an["params"]
    vers = data["versions"]["run"]
    ws = data["workspace"]
    part = an["partition"]
    title = f"Experiment report: {run['name']}"
    head = [
        ["Run", f"<code>{_esc(run['id'])}</code> (resumed from: {_esc(run.get('resumed_from') or '—')})"],
        ["Spec", f"<code>spec.yaml</code> (next to this report), digest <code>{_esc(run['spec_digest'])}</code>"],
        ["Seed", _esc(run["seed"])],
        ["Cycles", f"{run['cycles_done']:,} / {run['cycles_target']:,}"],
        ["Status, times", f"{_esc(run['status'])}, started {_esc(run['started_at'])}, ended "
                          f"{_esc(run['ended_at'] or '—')}"],
        ["Code", _esc(", ".join(f"{k} {v}" for k, v in vers.items()))],
        ["Tenant, host", f"{_esc(run.get('tenant') or 'default')}, {_esc(run['host'])}"],
        ["Final state digest", f"<code>{_esc(run['final_digest'] or '—')}</code>"],
        ["Governance, ledger", f"not part of this report: <code>omnimind decisions list --resource "
                               f"Run::{_esc(run['id'])}</code>, <code>omnimind audit verify</code>"],
    ]
    cards = [("status", run["status"]), ("cycles", f"{run['cycles_done']:,}"), ("seed", run["seed"]),
             ("modules", len(spec["modules"]))]
    for name, m in data["measures"].items():
        cards.append((f"{m['symbol'] or name} mean ({m['units']})", _fmt(m["summary"]["mean"], 3)))
    if ws and ws.get("ignition_rate") is not None:
        cards.append(("ignition rate", f"{ws['ignition_rate']:.3f}"))
    parts: list[str] = [
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        f"<title>{_esc(title)} ({_esc(run['id'])})</title><style>{_CSS}</style></head><body>",
        f"<h1>{_esc(title)}</h1>",
        f"<p class=sub>OmniMind run <code>{_esc(run['id'])}</code> · report generated {_esc(data['generated_at'])}"
        " · structure: docs/governance/experiment-report-template.md</p>",
        _table(None, head),
        "<div class=cards>",
        *[f'<div class=card><div class=k>{_esc(k)}</div><div class=v>{_esc(v)}</div></div>' for k, v in cards],
        "</div>",
        '<nav><a href="#question">1. Question</a><a href="#setup">2. Setup</a><a href="#results">3. Results</a>'
        '<a href="#interpretation">4. Interpretation</a><a href="#provenance">5. Provenance</a>'
        '<a href="#deviations">6. Deviations</a></nav>',
    ]
    if an["note"]:
        parts.append(f"<p class=note>{_esc(an['note'])}</p>")
    if run.get("error"):
        parts.append(f"<p class=note>The run ended with an error: <code>{_esc(run['error'])}</code></p>")

    # 1. Question and hypothesis
    parts += ['<h2 id="question">1. Question and hypothesis</h2>',
              "<p>Not part of the run record: add the question and hypothesis as reviewed "
              "(docs/governance/scientific-review-template.md).</p>"]

    # 2. Setup
    wsp = spec["workspace"]
    parts += [
        '<h2 id="setup">2. Setup</h2>',
        f"<p>{len(spec['modules'])} modules, {spec['cycles']:,} cycles, seed {spec['seed']}. Workspace: softmax "
        f"competition at temperature {_esc(wsp['temperature'])}, {_esc(wsp['broadcast'])} broadcast, ignition "
        f"when the top attention weight ≥ {_esc(wsp['ignition_threshold'])}, adaptation "
        f"{_esc(wsp['adaptation'])} (time constant {_esc(wsp['adaptation_time'])} cycles). Stimuli: "
        f"{_esc(spec['stimuli']['source'])}. Human participants: "
        f"{'yes' if spec.get('human_participants') else 'no'}. Recorded every {spec['recording']['every']} "
        f"cycle(s): {_esc(', '.join(spec['recording']['arrays']))}.</p>",
        _table(["module", *[m["name"] for m in spec["modules"]]],
               [["kind", *[_esc(m["kind"]) for m in spec["modules"]]],
                ["dim", *[_esc(m["dim"]) for m in spec["modules"]]]]),
        f"<p><b>Analysis.</b> Measures {', '.join(f'<code>{_esc(n)}</code>' for n in p['measures'])} on windows "
        f"of {_esc(p['window'])} samples" + (f" ({_esc(p['spacing'])} cycles apart)" if p.get("spacing", 1) != 1
                                            else "")
        + (f", one window every {_esc(p['every'])} cycles" if p.get("every") else "") + f", lag {_esc(p.get('lag'))}; "
        + (f"each module reduced to its first {_esc(p['pca_k'])} principal components; " if p.get("pca_k")
           else "no PCA; ")
        + "columns z-scored; partition: minimum information bipartition (MIB) of the modules; "
        + (f"{_esc(p['surrogates'])} {_esc(p['surrogate_kind'])}-shift surrogates per window, "
           f"{(p.get('ci_level') or 0) * 100:.0f}% intervals. " if p.get("surrogates") else "no surrogates. ")
        + f"Numbers from source <code>{_esc(an['source'])}</code> "
        + ("(computed by the run as it went)." if an["source"] == "run" else "(computed afterwards from the "
           "recorded states).") + "</p>",
    ]

    # 3. Results
    rrows = []
    for name, m in data["measures"].items():
        s = m["summary"]
        ok = [w for w in m["windows"] if w["ci"]]
        base = "—"
        if ok:
            lo = float(np.mean([w["ci"][0] for w in ok]))
            hi = float(np.mean([w["ci"][1] for w in ok]))
            mu = float(np.mean([w["null_mean"] for w in ok]))
            base = f"{p.get('surrogates')} × {_esc(p.get('surrogate_kind'))}: mean {_fmt(mu)}, [{_fmt(lo)}, {_fmt(hi)}]"
        value = f"{_fmt(s['mean'])} ± {_fmt(s['std'], 2)}" if s["mean"] is not None else "—"
        est = (f"{_esc(m['estimator'])}; window {_esc(p['window'])}"
               + (f"; MIB <code>{_esc(part['modal'])}</code>" if part else "")
               + (f"; PCA k = {_esc(p['pca_k'])}" if p.get("pca_k") else ""))
        exceeds = (f"{s['n_above_null']} of {s['n_windows']} windows above, {s['n_below_null']} below"
                   if ok else "no baseline")
        if s["n_failed"]:
            exceeds += f"; <span class=bad>{s['n_failed']} failed</span>"
        rrows.append([_label(name, m), f"{value} {_esc(m['units'])}", est, base, exceeds])
    parts += ['<h2 id="results">3. Results</h2>',
              "<p>Values are the mean ± sd over windows; per-window values, intervals and p-values are below "
              "and in <code>report.json</code>. “Above” = the value exceeds the upper end of that window's "
              "surrogate interval.</p>",
              _table(["Measure", "Value", "Estimator / window / partition",
                      f"Surrogate baseline ({(p.get('ci_level') or 0.95) * 100:.0f} % CI)", "Exceeds?"], rrows)]
    if measures_png:
        parts.append("<h3>Measures over time, with their surrogate baseline</h3>")
        parts.append(_img(measures_png, "integration measures over cycles with surrogate bands"))
    if part and len(part["counts"]) > 1:
        others = ", ".join(f"{k} ({v})" for k, v in part["counts"].items() if k != part["modal"])
        parts.append(f"<p>MIB ({_esc(part['method'])}): <code>{_esc(part['modal'])}</code> in "
                     f"{part['windows_with_modal']} of {part['n_windows']} windows; others: {_esc(others)}.</p>")
    for name, m in data["measures"].items():
        wrows = [[str(w["cycle"]), f"{_esc(w['start'])}–{_esc(w['end'])}", _fmt(w["value"]), _fmt(w["null_mean"]),
                  _fmt_ci(w["ci"]), _fmt(w["corrected"]), _fmt_ci(w["corrected_ci"]), _fmt(w["p_value"], 3),
                  f"<span class=bad>{_esc(w['error'])}</span>" if w["error"] else ""] for w in m["windows"]]
        parts.append(f"<details><summary>{_label(name, m)}: every window</summary>"
                     + _table(["cycle", "window (cycles)", "value", "null mean", "null CI", "corrected",
                               "corrected CI", "p", "error"], wrows, {0, 2, 3, 5, 7}) + "</details>")
    parts.append("<h3>Module states, attention and ignition</h3>")
    if workspace_png:
        parts.append(_img(workspace_png, "module states, attention weights, ignition rate and winner over cycles"))
        share = ws.get("winner_share") if ws else None
        if ws and ws.get("mean_attention"):
            rows = [["mean attention", *[_fmt(ws["mean_attention"][n], 3) for n in ws["modules"]]],
                    ["share of wins", *[_fmt((share or {}).get(n), 3) for n in ws["modules"]]]]
            parts.append(_table(["", *ws["modules"]], rows, set(range(1, len(ws["modules"]) + 1))))
    else:
        parts.append("<p>Attention, ignition and winner were not recorded for this run.</p>")

    # 4. Interpretation
    how = [f"<li>{_label(name, m)}: {_esc(m['description'] or '')}. {_esc(_NOTES.get(name, ''))} "
           f"Definition: <code>{_esc(m['docs'])}</code>.</li>" for name, m in data["measures"].items()]
    parts += [
        '<h2 id="interpretation">4. Interpretation</h2><p>What the numbers say, and no more:</p><ul>',
        *[f"<li>{s}</li>" for s in _summary_sentences(data)], "</ul>",
        "<h3>How to read each measure</h3><ul>", *how, "</ul>",
        "<h3>Known limitations</h3><ul>",
        "<li>All information quantities are in <b>nats</b>, from Gaussian (linear) estimators of lagged "
        "covariances over each window. They assume stationarity within a window and see only linear "
        f"dependence (<code>{DOCS} §1</code>).</li>",
        "<li><b>Φ_WMS can be negative</b>: whole-minus-sum counts information shared by the parts once per "
        "part. A negative Φ means redundancy between the parts dominates; it is not an error and is not "
        "clipped.</li>",
        "<li><b>ψ (integrated synergy) is flawed</b>: it is positive even for disconnected, autocorrelated "
        "parts. Read it only against its surrogate null.</li>",
        "<li><b>Finite-sample bias</b> grows with dimension: plug-in estimates are biased upwards by about "
        f"d₁d₂/(2T) nats per mutual information between d₁ and d₂ dimensions.{_esc(_bias_note(data))} "
        "Compare values only at equal window length and dimension, and prefer the surrogate-corrected "
        "value.</li>",
        "<li>The surrogate band is the <b>null distribution</b> (modules made independent by "
        f"{_esc(p.get('surrogate_kind') or 'no')} shifts, partition fixed at the observed MIB), not a "
        f"confidence interval of the observed value (<code>{DOCS} §5</code>). With N surrogates the smallest "
        "possible p-value is 1/(N+1).</li>",
        f"<li>The partition is the MIB normalised by min(H(S), H(C)) (<code>{DOCS} §4</code>). With PCA the "
        "measures describe the reduced system; the explained variance is in the JSON report.</li>",
        "<li>Ψ (Lempel–Ziv complexity) measures differentiation and σ metastability. Neither is a measure "
        "of consciousness; what they mean for this system is for the reader to argue.</li>",
        "</ul>",
    ]

    # 5. Provenance and integrity
    vers_r = data["versions"]["report"]
    snaps = [e for e in data["events"] if e["kind"] in ("snapshot", "resumed", "restored")]
    srows = [[_esc(e["time"]), _esc(e["cycle"]), _esc(e["kind"]), _esc(e["message"])] for e in snaps[:30]]
    drows = [[f"<code>{_esc(n)}</code>", _esc(" × ".join(str(s) for s in d["shape"])), _esc(d["dtype"]),
              f"<code>{_esc(d['sha256'])}</code>"] for n, d in data["data_digests"].items()]
    erows = [[_esc(e["time"]), _esc(e["cycle"]), _esc(e["kind"]), _esc(e["message"])] for e in data["events"][:50]]
    parts += [
        '<h2 id="provenance">5. Provenance and integrity</h2>',
        _table(None, [["Lab", f"{_esc(data['lab']['name'])} (id <code>{_esc(data['lab']['id'])}</code>), "
                              f"{_esc(data['lab']['path'])}"],
                      ["Created", _esc(run["created_at"])],
                      ["Report software", _esc(", ".join(f"{k} {v}" for k, v in vers_r.items()))]]),
        "<h3>Reproduce</h3><p>With <code>spec.yaml</code> (written next to this report):</p>",
        f"<pre>{_esc(chr(10).join(data['reproduce']['commands']))}</pre>",
        "<p>The same spec, seed and software on the same platform give a bit-identical run. Check the final "
        "state digest and the data digests.</p>",
        "<h3>Data digests</h3><p>SHA-256 of each recorded array's little-endian, row-major bytes.</p>",
        _table(["array", "shape", "dtype", "sha256"], drows),
        "<h3>Snapshots, resumes and restores</h3>",
        _table(["time", "cycle", "kind", "message"], srows) if srows else "<p>None recorded.</p>",
        f"<details><summary>Spec (YAML, digest <code>{_esc(run['spec_digest'][:16])}…</code>)</summary>"
        f"<pre>{_esc(data['spec_yaml'])}</pre></details>",
        "<details><summary>All run events</summary>" + _table(["time", "cycle", "kind", "message"], erows)
        + (f"<p>… {len(data['events']) - 50} more in the JSON report.</p>" if len(data["events"]) > 50 else "")
        + "</details>",
    ]

    # 6. Deviations
    devs = [f"<li>{_esc(d)}</li>" for d in data["deviations"]]
    parts += ['<h2 id="deviations">6. Deviations</h2>',
              ("<ul>" + "".join(devs) + "</ul>") if devs else "<p>None detected by the software.</p>",
              f"<p class=sub>All numbers: <code>report.json</code> (format <code>{FORMAT}</code>, "
              "docs/report.md).</p>", "</body></html>"]
    return "\n".join(parts)


def build_report(lab: Lab, run_id: str, out_dir: str | Path, *, source: str | None = None) -> tuple[Path, Path]:
    """Write `report.html`, `report.json` and `spec.yaml` for a run into `out_dir` (atomically, each file).

    Uses the run's stored metrics (`analyze` rows if any, else `run` rows, or `source`); computes them
    with `analyze_run` first when there are none, and says so in the report.
    """
    from omnimind.lab.runs import get_run

    data = report_data(lab, run_id, source=source)
    run = get_run(lab, data["run"]["id"])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    page = render_html(data, _plot_measures(data), _plot_workspace(run, data))
    html_path, json_path = out / "report.html", out / "report.json"
    atomic_write_bytes(out / "spec.yaml", data["spec_yaml"].encode("utf-8"))
    atomic_write_bytes(json_path, json.dumps(data, indent=1, allow_nan=False).encode("utf-8"))
    atomic_write_bytes(html_path, page.encode("utf-8"))
    return html_path, json_path


__all__ = ["FORMAT", "array_digest", "build_report", "render_html", "report_data"]
