"""One episode of a policy on an env: the only episode loop of the evaluation and agent tools.

The leaderboard runner, record validation (which replays recorded actions through a policy
that returns them), ``themis_env.agents.evaluate`` and ``themis_env.agents.select`` all run
their episodes through :func:`rollout`, so the KPIs they report are computed one way and a
mismatch in ``themis-env validate`` can only come from the env, never from a difference
between loops.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

__all__ = ["Episode", "Predictor", "rollout"]

# Fields of ``info["episode_kpis"]`` that are not KPIs to compare (the trace flag is kept apart).
_NOT_KPIS = ("trace_fallback",)


class Predictor(Protocol):
    """What :func:`rollout` needs of a policy: the stable-baselines3 ``predict`` signature."""

    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[Any, Any]:
        """The action for ``observation`` and the policy's next state."""
        ...


@dataclass
class Episode:
    """What one episode did; filled step by step, so a caller keeps the part done before a raise.

    Attributes:
        seed: Seed of ``env.reset``.
        started: True once the env was reset (the trace fields are then known).
        actions: The policy's action of each step, as nested lists.
        rewards: The reward of each step.
        decision_s: Wall time of each ``predict`` call [s].
        trace_uri: Where the env's trace came from.
        trace_fallback: True when the env ran its synthetic fallback trace.
        kpis: ``info["episode_kpis"]`` of the last step (without the trace flag) plus
            ``mean_reward``, ``return`` (sum of rewards) and ``steps``; None until the end.
        timeline: Per-step figures for the timeline plot (when asked for).
        wall_s: Wall time of the episode after the reset [s].
    """

    seed: int
    started: bool = False
    actions: list[Any] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    decision_s: list[float] = field(default_factory=list)
    trace_uri: str | None = None
    trace_fallback: bool = False
    kpis: dict[str, Any] | None = None
    timeline: dict[str, Any] | None = None
    wall_s: float = 0.0

    @property
    def steps(self) -> int:
        """Steps taken."""
        return len(self.rewards)

    def decision_ms(self) -> dict[str, float]:
        """Mean, 99th percentile and maximum ``predict`` time [ms] (0 with no step)."""
        if not self.decision_s:
            return {"decision_ms_mean": 0.0, "decision_ms_p99": 0.0, "decision_ms_max": 0.0}
        d = np.asarray(self.decision_s)
        return {
            "decision_ms_mean": float(d.mean() * 1e3),
            "decision_ms_p99": float(np.percentile(d, 99) * 1e3),
            "decision_ms_max": float(d.max() * 1e3),
        }


def rollout(
    env: Any,
    policy: Predictor,
    seed: int,
    *,
    timeline: bool = False,
    episode: Episode | None = None,
) -> Episode:
    """Reset ``env`` with ``seed``, reset the policy, and step until the episode ends.

    Actions are deterministic (``predict(..., deterministic=True)``) and the policy's state is
    passed back to it each step, as stable-baselines3's ``evaluate_policy`` does.

    Args:
        env: A ``themis_env`` env (through ``gym.make``; wrappers are fine).
        policy: Anything with the stable-baselines3 ``predict``; its ``reset()``, if any, is
            called after the env's reset.
        seed: Seed of ``env.reset``.
        timeline: Keep the per-step figures of the timeline plot.
        episode: Fill this episode (the caller then sees the steps done if the policy or the
            env raises); a new one by default.

    Returns:
        The episode, with its KPIs.
    """
    core = env.unwrapped
    episode = episode if episode is not None else Episode(seed=seed)
    obs, info = env.reset(seed=seed)
    episode.trace_uri = info.get("trace_uri")
    episode.trace_fallback = bool(info.get("trace_fallback"))
    episode.started = True
    reset = getattr(policy, "reset", None)
    if callable(reset):
        reset()
    rows = _Timeline(core) if timeline else None
    dt = core.decision_interval_s
    state = None
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        action, state = policy.predict(obs, state=state, episode_start=None, deterministic=True)
        episode.decision_s.append(time.perf_counter() - t0)
        episode.actions.append(np.asarray(action).tolist())
        obs, reward, terminated, truncated, info = env.step(action)
        episode.rewards.append(float(reward))
        if rows is not None:
            rows.add(obs, info, dt)
        if terminated or truncated:
            break
    episode.wall_s = time.perf_counter() - start
    kpis = dict(info.get("episode_kpis") or core.episode_kpis())
    episode.trace_fallback = bool(kpis.get("trace_fallback", episode.trace_fallback))
    kpis = {k: v for k, v in kpis.items() if k not in _NOT_KPIS}
    kpis["mean_reward"] = float(np.mean(episode.rewards))
    kpis["return"] = float(np.sum(episode.rewards))
    kpis["steps"] = episode.steps
    episode.kpis = kpis
    episode.timeline = rows.to_dict() if rows is not None else None
    return episode


class _Timeline:
    """Per-step figures for the timeline plot: load vs capacity, cores, replicas, p99, violation."""

    def __init__(self, env: Any) -> None:
        self.env = env
        self.models = env.pipeline.models
        self.rows: list[tuple[float, ...]] = []
        self._throughput: dict[tuple[int, int, int], float] = {}

    def capacity(self, ready: np.ndarray, batch: np.ndarray, cores: np.ndarray) -> float:
        caps = []
        for s, model in enumerate(self.models):
            b, c = max(1, int(batch[s])), max(1, int(cores[s]))
            key = (s, b, c)
            if key not in self._throughput:
                self._throughput[key] = model.latency.throughput_rps(b, c)
            caps.append(float(ready[s]) * self._throughput[key])
        return min(caps)

    def add(self, obs: Any, info: Mapping[str, Any], dt: float) -> None:
        o = self.env.obs_as_dict(obs)
        replicas, cores = o["replicas"], o["cores"]
        row = (
            float(info["sim_time_s"]),
            float(info["arrivals"]) / dt,
            self.capacity(o["replicas_ready"], o["batch"], cores),
            # No completion in the interval: no latency (the env reports 0, which reads as good).
            float(info["latency_p99_ms"]) if info["completions"] else math.nan,
            float(info["violation"]),
            *(float(v) for v in replicas),
            *(float(r * c) for r, c in zip(replicas, cores, strict=True)),
        )
        self.rows.append(row)

    def to_dict(self) -> dict[str, Any]:
        n = self.env.n_stages
        data = np.asarray(self.rows, dtype=np.float64).reshape(-1, 5 + 2 * n)
        data = np.round(data, 3)
        return {
            "stages": [lim.name for lim in self.env.stage_limits],
            "slo_ms": float(self.env.slo_ms),
            "t": data[:, 0].tolist(),
            "load_rps": data[:, 1].tolist(),
            "capacity_rps": data[:, 2].tolist(),
            "p99_ms": data[:, 3].tolist(),
            "violation": data[:, 4].tolist(),
            "replicas": data[:, 5 : 5 + n].T.tolist(),
            "cores": data[:, 5 + n :].T.tolist(),
        }
