"""Training callbacks: checkpoints with their manifest, and evaluation that records KPIs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback, EvalCallback
from themis_env.agents.artifacts import save_agent

__all__ = [
    "SaveAgentCallback",
    "CheckpointAgentCallback",
    "TimeBudgetCallback",
    "kpi_eval_callback",
]

# KPIs kept from each evaluation episode's ``info["episode_kpis"]``.
KPI_KEYS = ("slo_violation_rate", "late_or_dropped_fraction", "mean_cores", "cost", "requests")


class SaveAgentCallback(BaseCallback):
    """Save the agent (zip, VecNormalize statistics, manifest) as ``path`` when called.

    Used as ``callback_on_new_best`` of the evaluation callback; the manifest then carries the
    evaluation that made it the best.
    """

    def __init__(self, path: str | Path, manifest: dict[str, Any], verbose: int = 0) -> None:
        super().__init__(verbose)
        self.path = Path(path)
        self.manifest = manifest

    def _on_step(self) -> bool:
        record = dict(self.manifest)
        parent = getattr(self, "parent", None)
        kpis = parent.current_kpis() if hasattr(parent, "current_kpis") else None
        if kpis is not None:
            record["selected_by"] = {
                "timesteps": int(self.num_timesteps),
                "mean_reward": float(parent.last_mean_reward),
                **kpis,
            }
        save_agent(self.model, self.path, record)
        if self.verbose:
            print(f"saved best agent to {self.path}")
        return True


class CheckpointAgentCallback(BaseCallback):
    """Save the agent every ``save_freq`` env steps as ``DIR/ckpt_<steps>.zip`` (+ files).

    The schedule is counted in vector steps, ``save_freq // n_envs`` of them, as SB3's
    ``EvalCallback`` counts its own: with the same frequency, every evaluation logged in
    ``eval/kpis.jsonl`` has a checkpoint of the very model it evaluated, whatever ``n_envs`` is.
    """

    def __init__(
        self, save_freq: int, directory: str | Path, manifest: dict[str, Any], n_envs: int = 1
    ) -> None:
        super().__init__(0)
        self.every = max(int(save_freq) // max(int(n_envs), 1), 1)
        self.directory = Path(directory)
        self.manifest = manifest
        self._started = time.perf_counter()

    def _on_training_start(self) -> None:
        self._started = time.perf_counter()

    def _on_step(self) -> bool:
        if self.n_calls % self.every == 0:
            # The training time so far, so a checkpoint shipped as an agent states its cost.
            manifest = {
                **self.manifest,
                "wall_time_s": round(time.perf_counter() - self._started, 1),
            }
            save_agent(self.model, self.directory / f"ckpt_{self.num_timesteps}", manifest)
        return True


class TimeBudgetCallback(BaseCallback):
    """Stop training once ``minutes`` of wall time have passed since training started."""

    def __init__(self, minutes: float) -> None:
        super().__init__(0)
        self.budget_s = float(minutes) * 60.0
        self.started = 0.0
        self.stopped = False

    def _on_training_start(self) -> None:
        self.started = time.perf_counter()

    def _on_step(self) -> bool:
        if time.perf_counter() - self.started > self.budget_s:
            self.stopped = True
            return False
        return True


class _KpiMixin:
    """Collects ``info["episode_kpis"]`` of evaluation episodes and logs their means."""

    kpi_log: Path | None
    eval_seed: int | None
    last_kpis: dict[str, Any] | None
    _kpi_buffer: list[dict[str, Any]]

    def _init_kpis(self, kpi_log: str | Path | None, seed: int | None) -> None:
        self.kpi_log = Path(kpi_log) if kpi_log is not None else None
        self.eval_seed = seed
        self.last_kpis = None
        self._kpi_buffer = []

    def _log_success_callback(self, locals_: dict[str, Any], globals_: dict[str, Any]) -> None:
        super()._log_success_callback(locals_, globals_)  # type: ignore[misc]
        info = locals_["info"]
        if locals_["done"] and "episode_kpis" in info:
            kpis = {k: info["episode_kpis"].get(k) for k in KPI_KEYS}
            kpis["trace_uri"] = info.get("trace_uri", "")
            self._kpi_buffer.append(kpis)

    def _on_step(self) -> bool:
        evaluating = self.eval_freq > 0 and self.n_calls % self.eval_freq == 0  # type: ignore[attr-defined]
        if evaluating:
            self._kpi_buffer = []
            if self.eval_seed is not None:
                # The same episodes at every evaluation, so evaluations compare like for like.
                self.eval_env.seed(self.eval_seed)  # type: ignore[attr-defined]
        result = super()._on_step()  # type: ignore[misc]
        if evaluating:
            self._log_kpis()
        return result

    def current_kpis(self) -> dict[str, float] | None:
        """Mean KPIs of the evaluation episodes gathered so far (the best-model hook reads it)."""
        episodes = self._kpi_buffer
        if not episodes:
            return None
        return {
            k: float(np.mean([e[k] for e in episodes if e[k] is not None]))
            for k in KPI_KEYS
            if any(e[k] is not None for e in episodes)
        }

    def _log_kpis(self) -> None:
        summary = self.current_kpis()
        if summary is None:
            return
        self.last_kpis = summary
        for key in ("slo_violation_rate", "mean_cores"):
            if key in summary:
                self.logger.record(f"eval/{key}", summary[key])  # type: ignore[attr-defined]
        if self.kpi_log is not None:
            record = {
                "timesteps": int(self.num_timesteps),  # type: ignore[attr-defined]
                "mean_reward": float(self.last_mean_reward),  # type: ignore[attr-defined]
                **summary,
                "episodes": self._kpi_buffer,
            }
            with self.kpi_log.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")


def kpi_eval_callback(
    maskable: bool, kpi_log: str | Path | None, seed: int | None = None, **kwargs: Any
) -> EvalCallback:
    """An ``EvalCallback`` (``MaskableEvalCallback`` for masked agents) that also records KPIs.

    Args:
        maskable: Evaluate with action masks (sb3-contrib).
        kpi_log: JSONL file receiving one line per evaluation (means and per-episode KPIs).
        seed: Seed the evaluation envs get before every evaluation (None: not reseeded).
        **kwargs: Arguments of ``EvalCallback``.
    """
    if maskable:
        from sb3_contrib.common.maskable.callbacks import MaskableEvalCallback

        base: type = MaskableEvalCallback
    else:
        base = EvalCallback
    cls = type(f"Kpi{base.__name__}", (_KpiMixin, base), {})
    callback = cls(**kwargs)
    callback._init_kpis(kpi_log, seed)
    return callback
