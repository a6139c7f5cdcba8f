"""Draw a run's training curve from its Monitor logs and evaluation KPIs.

Top: the return of every training episode (thin) and its moving mean, with the mean return of
each evaluation on the held-out scenarios. Bottom (when evaluations exist): the evaluation SLO
violation rate and mean allocated cores against training steps.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from themis_env.errors import DependencyNotInstalled

__all__ = ["read_monitor", "read_eval_kpis", "plot_training_curve"]


def read_monitor(run_dir: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Training episodes of a run as (cumulative env steps at episode end, return).

    Episodes of all envs are merged in order of wall time, as SB3 collects them. The steps of
    a continued agent (``--trained-agent``) count on from its parent's, as its evaluations do.
    """
    rows: list[tuple[float, float, int]] = []
    for path in sorted((Path(run_dir) / "monitor").glob("*.monitor.csv")):
        with path.open(encoding="utf-8") as fh:
            fh.readline()  # the JSON header line
            for row in csv.DictReader(fh):
                rows.append((float(row["t"]), float(row["r"]), int(row["l"])))
    rows.sort()
    if not rows:
        return np.zeros(0), np.zeros(0)
    steps = np.cumsum([r[2] for r in rows]).astype(np.float64) + _start_timesteps(run_dir)
    returns = np.array([r[1] for r in rows])
    return steps, returns


def _start_timesteps(run_dir: str | Path) -> int:
    path = Path(run_dir) / "run.json"
    if not path.is_file():
        return 0
    return int(json.loads(path.read_text(encoding="utf-8")).get("start_timesteps", 0))


def read_eval_kpis(run_dir: str | Path) -> list[dict[str, Any]]:
    """The run's evaluation records (``eval/kpis.jsonl``), oldest first."""
    path = Path(run_dir) / "eval" / "kpis.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _moving_mean(values: np.ndarray, window: int) -> np.ndarray:
    if len(values) < window or window <= 1:
        return values
    kernel = np.ones(window) / window
    head = np.array([values[: i + 1].mean() for i in range(window - 1)])
    return np.concatenate([head, np.convolve(values, kernel, mode="valid")])


def plot_training_curve(run_dir: str | Path, out: str | Path, title: str = "") -> Path | None:
    """Write the PNG; returns its path, or None when the run has no finished episode.

    Raises:
        DependencyNotInstalled: when matplotlib is missing.
    """
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise DependencyNotInstalled(
            'the training curve needs matplotlib: pip install "themis-env[plots]"'
        ) from exc
    steps, returns = read_monitor(run_dir)
    evals = read_eval_kpis(run_dir)
    if len(steps) == 0 and not evals:
        return None
    fig = Figure(figsize=(7, 6 if evals else 3.5), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(2 if evals else 1, 1, sharex=True, squeeze=False)[:, 0]
    ax = axes[0]
    if len(steps):
        ax.plot(steps, returns, color="tab:blue", alpha=0.25, linewidth=0.7)
        window = max(1, min(50, len(returns) // 10))
        ax.plot(
            steps,
            _moving_mean(returns, window),
            color="tab:blue",
            label=f"training episodes (mean of {window})",
        )
    if evals:
        ax.plot(
            [e["timesteps"] for e in evals],
            [e["mean_reward"] for e in evals],
            "o-",
            color="tab:red",
            label="held-out evaluation",
        )
    ax.set_ylabel("episode return")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title, fontsize=9)
    if evals:
        t = [e["timesteps"] for e in evals]
        ax2 = axes[1]
        ax2.plot(
            t,
            [e.get("slo_violation_rate", np.nan) for e in evals],
            "o-",
            color="tab:red",
            label="SLO violation rate",
        )
        ax2.set_ylabel("violation rate")
        ax2.set_ylim(bottom=0)
        ax2.grid(alpha=0.3)
        twin = ax2.twinx()
        twin.plot(
            t,
            [e.get("mean_cores", np.nan) for e in evals],
            "s--",
            color="tab:green",
            label="mean cores",
        )
        twin.set_ylabel("mean cores")
        twin.set_ylim(bottom=0)
        lines = ax2.get_lines() + twin.get_lines()
        ax2.legend(lines, [line.get_label() for line in lines], loc="upper right", fontsize=8)
    axes[-1].set_xlabel("training env steps")
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out)
    return out
