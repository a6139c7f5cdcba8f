"""Leaderboard figures (matplotlib, Agg, PNG): a timeline per run and a scatter per scenario.

* Timeline: load vs serving capacity, cores and replicas per stage, p99 latency vs the SLO, and
  the per-interval SLO violation, from the ``timeline`` a run keeps in its record.
* Scatter: cost against SLO violation rate for every policy of one scenario (mean over seeds,
  with 95 % confidence bars), the trade-off the score summarises.

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

__all__ = ["plot_timeline", "plot_scatter", "plot_leaderboard", "safe_name"]


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


def plot_scatter(board: Leaderboard, scenario: str, path: str | Path) -> Path:
    """Cost vs SLO violation of every policy of one scenario into ``path`` (PNG)."""
    rows = board.scenarios[scenario]
    cost_key = board.reference.cost
    fig = _figure(6.5, 4.8)
    ax = fig.subplots()
    for row in rows:
        x, y = row.kpis[cost_key], row.kpis["slo_violation_rate"]
        if x.mean is None or y.mean is None:
            continue
        ax.errorbar(
            x.mean,
            y.mean,
            xerr=x.ci95 or 0.0,
            yerr=y.ci95 or 0.0,
            fmt="o",
            ms=6,
            capsize=3,
            mfc="none" if row.privileged else None,
        )
        # With model variants the accuracy is the third axis: shown beside the policy's name.
        acc = row.kpis.get("accuracy")
        ax.annotate(
            row.policy
            + (" †" if row.privileged else "")
            + (f" (acc {acc.mean:.3f})" if acc is not None and acc.mean is not None else ""),
            (x.mean, y.mean),
            textcoords="offset points",
            xytext=(5, 4),
            fontsize=8,
        )
    ax.set_xlabel(f"{cost_key} (mean over seeds, 95 % CI)")
    ax.set_ylabel("SLO violation rate")
    low, high = ax.get_ylim()
    ax.set_ylim(max(low, -0.02), min(high, 1.02))  # a rate: the CI bars may reach past [0, 1]
    fallback = " ‡ synthetic fallback trace" if scenario in board.fallback_scenarios else ""
    ax.set_title(f"{scenario}: cost vs SLO violation{fallback}", fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


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
        board: The leaderboard (for the scatters).
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
        plot_scatter(board, sc, plots / f"scatter_{safe_name(sc)}.png") for sc in board.scenarios
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
    for (sc, pol), runs in sorted(chosen.items()):
        runs = sorted(runs, key=lambda r: r.seed)
        for r in runs if timelines == "all" else runs[:1]:
            name = f"{safe_name(pol)}_seed{r.seed}.png"
            tasks.append((r, plots / "timelines" / safe_name(sc) / name))
    if jobs > 1 and len(tasks) > 2:
        from concurrent.futures import ProcessPoolExecutor

        from themis_env.evaluation.parallel import mp_context

        with ProcessPoolExecutor(max_workers=jobs, mp_context=mp_context()) as pool:
            paths += list(pool.map(plot_timeline, *zip(*tasks, strict=True)))
    else:
        paths += [plot_timeline(r, p) for r, p in tasks]
    return paths
