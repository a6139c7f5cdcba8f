"""Leaderboard figures (matplotlib, Agg, PNG): a timeline per run and a frontier per scenario.

* Timeline: load vs serving capacity, cores and replicas per stage, p99 latency vs the SLO, and
  the per-interval SLO violation, from the ``timeline`` a run keeps in its record.
* Frontier: cost against SLO attainment for every policy of one scenario (mean over seeds,
  with 95 % confidence bars), the cost–attainment frontier and the suite's target.

Figures are built with :class:`matplotlib.figure.Figure` and the Agg canvas directly, so no
global pyplot state or display is involved (safe in worker processes and on servers).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from themis_env.errors import DependencyNotInstalled
from themis_env.evaluation.leaderboard import Leaderboard
from themis_env.evaluation.run_record import RunRecord

__all__ = [
    "plot_timeline",
    "plot_frontier",
    "frontier_figure",
    "plot_leaderboard",
    "safe_name",
    "timeline_path",
]


def _figure(width: float, height: float) -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise DependencyNotInstalled(
            'plots need matplotlib: pip install "themis-env[plots]"'
        ) from exc
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def safe_name(text: str) -> str:
    """A file-name-safe version of a label."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "run"


def timeline_path(out_dir: str | Path, record: RunRecord) -> Path:
    """Where a run's timeline goes: ``plots/timelines/<scenario>/<policy>_seed<k>.png``."""
    name = f"{safe_name(record.policy.label)}_seed{record.seed}.png"
    return Path(out_dir) / "plots" / "timelines" / safe_name(record.scenario) / name


def plot_timeline(record: RunRecord, path: str | Path) -> Path:
    """Draw one run's timeline into ``path`` (PNG).

    Raises:
        ValueError: when the record has no timeline (a failed run, or one run without it).
    """
    tl = record.timeline
    if not tl:
        raise ValueError(f"record {record.key} has no timeline to plot")
    fig = _figure(9, 8)
    axes = fig.subplots(4, 1, sharex=True)
    t = tl["t"]
    ax = axes[0]
    ax.plot(t, tl["load_rps"], lw=0.8, label="load")
    ax.plot(t, tl["capacity_rps"], lw=1.0, label="capacity (ready replicas)")
    ax.set_ylabel("req/s")
    ax.legend(loc="upper left", fontsize=7)
    ax = axes[1]
    for s, name in enumerate(tl["stages"]):
        line = ax.step(
            t, tl["cores"][s], where="post", lw=1.0, label=f"{name} cores (all replicas)"
        )[0]
        ax.step(
            t,
            tl["replicas"][s],
            where="post",
            lw=0.8,
            ls=":",
            color=line.get_color(),
            label=f"{name} replicas",
        )
    ax.set_ylabel("cores / replicas")
    ax.legend(loc="upper left", fontsize=7, ncol=2)
    ax = axes[2]
    slo = tl["slo_ms"]
    p99 = np.array(tl["p99_ms"], dtype=float)  # None (no completion) becomes a gap
    peak = float(np.nanmax(p99)) if np.isfinite(p99).any() else 0.0
    top = max(1.2 * slo, min(peak * 1.05, 5 * slo))
    ax.plot(t, p99, lw=0.8, label="p99 latency" + (" (clipped at 5×SLO)" if peak > top else ""))
    ax.axhline(slo, color="red", ls="--", lw=0.8, label="SLO")
    ax.set_ylim(0, top)
    ax.set_ylabel("ms")
    ax.legend(loc="upper left", fontsize=7)
    ax = axes[3]
    # Each value covers the interval that ends at its time stamp.
    ax.fill_between(t, tl["violation"], step="pre", alpha=0.6, color="tab:red")
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("SLO violation")
    ax.set_xlabel("time [s]")
    kpis = record.kpis or {}
    fallback = " (synthetic fallback trace)" if record.trace_fallback else ""
    fig.suptitle(
        f"{record.scenario}{fallback} · {record.policy.label} · seed {record.seed}: "
        f"violation {kpis.get('slo_violation_rate', float('nan')):.4f}, "
        f"mean cores {kpis.get('mean_cores', float('nan')):.2f}"
        + (f", accuracy {kpis['accuracy']:.4f}" if "accuracy" in kpis else ""),
        fontsize=9,
    )
    # A fixed layout: tight_layout would measure every tick label and doubles the drawing time.
    fig.subplots_adjust(left=0.08, right=0.98, top=0.95, bottom=0.06, hspace=0.12)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def _clipped_bars(mean: float, ci: float | None, low: float, high: float) -> list[float]:
    """Lower and upper error-bar lengths of ``mean ± ci`` kept inside [low, high]."""
    ci = ci or 0.0
    return [min(ci, max(mean - low, 0.0)), min(ci, max(high - mean, 0.0))]


def plot_frontier(board: Leaderboard, scenario: str, path: str | Path) -> Path:
    """Draw :func:`frontier_figure` into ``path`` (PNG)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frontier_figure(board, scenario).savefig(path)
    return path


def _legend_label(rank: str, row: Any) -> str:
    """A policy's legend entry; with model variants, accuracy (the third axis) beside its name."""
    acc = row.kpis.get("accuracy")
    shown = f" (acc {acc.mean:.3f})" if acc is not None and acc.mean is not None else ""
    return f"{rank}{row.policy}" + (" †" if row.privileged else "") + shown


def frontier_figure(board: Leaderboard, scenario: str) -> Any:
    """Cost vs SLO attainment of every policy of one scenario, with the frontier (a Figure).

    Each policy is a marker of its own named in the legend (no labels over the points, which
    overlapped); the 95 % bars stop at zero cost and at attainment 0 and 1; the frontier (the
    policies no other beats on both) is joined by a line and the target is a dashed line.
    """
    rows = board.scenarios[scenario]
    cost_key = board.reference.cost
    fig = _figure(8.0, 4.8)
    ax = fig.subplots()
    markers = "osD^vP*Xhp<>"
    frontier = []
    for i, row in enumerate(rows):
        x, y = row.kpis[cost_key], row.kpis["slo_attainment"]
        if x.mean is None or y.mean is None:
            continue
        rank = f"{row.rank}. " if row.rank is not None else ""
        ax.errorbar(
            x.mean,
            y.mean,
            xerr=np.array([_clipped_bars(x.mean, x.ci95, 0.0, np.inf)]).T,
            yerr=np.array([_clipped_bars(y.mean, y.ci95, 0.0, 1.0)]).T,
            fmt=markers[i % len(markers)],
            ms=7,
            capsize=3,
            mfc="none" if row.privileged or not row.met else None,
            label=_legend_label(rank, row),
        )
        if row.frontier:
            frontier.append((x.mean, y.mean))
    if len(frontier) > 1:
        xs, ys = zip(*sorted(frontier), strict=True)
        ax.step(xs, ys, where="post", color="0.4", lw=1.0, ls="-", zorder=0, label="frontier")
    ax.axhline(board.slo_target, color="red", ls="--", lw=0.8, label=f"target {board.slo_target}")
    ax.set_xlabel(f"{cost_key} (mean over seeds, 95 % CI)")
    ax.set_ylabel("SLO attainment (fraction of requests within SLO)")
    ax.set_xlim(left=0.0)
    low, _ = ax.get_ylim()
    ax.set_ylim(max(low, -0.02), 1.02)
    fallback = " ‡ synthetic fallback trace" if scenario in board.fallback_scenarios else ""
    ax.set_title(
        f"{scenario}: cost vs SLO attainment (filled: meets the target){fallback}", fontsize=9
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, borderaxespad=0.0)
    fig.subplots_adjust(left=0.09, right=0.72, top=0.92, bottom=0.11)
    return fig


def plot_leaderboard(
    board: Leaderboard,
    records: Iterable[RunRecord],
    out_dir: str | Path,
    *,
    timelines: str = "first-seed",
    seeds: Sequence[int] | None = None,
    jobs: int = 1,
) -> list[Path]:
    """Every figure of a leaderboard into ``out_dir/plots``.

    Args:
        board: The leaderboard (for the frontier plots).
        records: The runs (for the timelines).
        out_dir: The leaderboard folder.
        timelines: ``all`` (one per run), ``first-seed`` (one per scenario and policy, the
            smallest seed) or ``none``.
        seeds: Restrict the timelines to these seeds.
        jobs: Draw the timelines in this many processes.
    """
    if timelines not in ("all", "first-seed", "none"):
        raise ValueError(f"timelines = {timelines!r}; choose one of 'all', 'first-seed', 'none'")
    plots = Path(out_dir) / "plots"
    paths = [
        plot_frontier(board, sc, plots / f"frontier_{safe_name(sc)}.png") for sc in board.scenarios
    ]
    if timelines == "none":
        return paths
    chosen: dict[tuple[str, str], list[RunRecord]] = {}
    for r in records:
        if not r.ok or not r.timeline:
            continue
        if seeds is not None and r.seed not in seeds:
            continue
        chosen.setdefault((r.scenario, r.policy.label), []).append(r)
    tasks = []
    for _, runs in sorted(chosen.items()):
        runs = sorted(runs, key=lambda r: r.seed)
        for r in runs if timelines == "all" else runs[:1]:
            tasks.append((r, timeline_path(out_dir, r)))
    if jobs > 1 and len(tasks) > 2:
        from concurrent.futures import ProcessPoolExecutor

        from themis_env.evaluation.parallel import mp_context

        with ProcessPoolExecutor(max_workers=jobs, mp_context=mp_context()) as pool:
            paths += list(pool.map(plot_timeline, *zip(*tasks, strict=True)))
    else:
        paths += [plot_timeline(r, p) for r, p in tasks]
    return paths
