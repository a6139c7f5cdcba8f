"""A layout that does not depend on the pipeline: one agent for every scenario.

The env's own observation and action sizes grow with the number of stages, nodes and
variants, so an agent trained on the two-stage video pipeline cannot even be fed the
three-stage nlp one. The two wrappers here give every scenario the same shapes:

* :class:`StageFeatures` turns the observation into ``MAX_STAGES`` rows of per-stage
  features (zeros and a 0 "present" bit for the stages a pipeline lacks) plus a few global
  ones. Every feature is a ratio that means the same on every pipeline: replicas over the
  stage's limit, load over the stage's capacity (from the latency profile l(b, c) the
  operator profiled, as Themis's controller reads it), latency over the SLO. With
  ``forecast`` set, the max rate of the next 10 s predicted by Themis's own load predictor
  (:mod:`themis_env.baselines.themis.predictors`) enters the same ratios: the load the
  stage will have to carry, not only the load it carries now.
* :class:`PadStageActions` pads the inner action wrapper's ``MultiDiscrete`` (e.g.
  :class:`~themis_env.agents.wrappers.FitScaleAction`) to ``MAX_STAGES`` stages; the entries
  of missing stages are ignored.

An agent trained through both records ``layout: padded-stages`` as its interface, and
:func:`padded_mismatches` is what the evaluator checks instead of the exact pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from themis_env.envs.wrappers import cluster_env
from themis_env.errors import ConfigError

__all__ = [
    "MAX_STAGES",
    "FORECASTS",
    "PADDED_LAYOUT",
    "StageFeatures",
    "PadStageActions",
    "padded_interface",
    "padded_mismatches",
]

MAX_STAGES = 3  # the most stages of any shipped pipeline (nlp)
FORECASTS = ("none", "heuristic", "learned")
PADDED_LAYOUT = "padded-stages"
_RATIO_CAP = 10.0  # load/capacity and latency/SLO ratios are clipped here (overload is overload)
_RECENT_S = 5  # seconds averaged for "the load now" (one-second counts are Poisson-noisy)
_HORIZON_S = 10  # Themis forecasts the max of the next 10 s (Adapter.adapt)
_STAGE_NAMES = (
    "present",
    "replicas",
    "ready",
    "starting_or_pending",
    "cores",
    "batch",
    "queue",
    "utilisation",
    "load_over_ready_capacity",
    "load_over_stage_range",
    "batch_latency_over_slo",
    "forecast_over_target_capacity",
)
_GLOBAL_NAMES = (
    "p50_over_slo",
    "p95_over_slo",
    "p99_over_slo",
    "violation",
    "free_cores",
    "largest_node_free",
    "allocated_cores",
    "load_trend",
    "forecast_over_load",
    "decision_interval_s",
)


class StageFeatures(gym.ObservationWrapper):
    """The observation as ``MAX_STAGES`` × 12 per-stage features and 10 global ones.

    Per stage (a row of zeros for a stage the pipeline lacks; its ``present`` bit is the
    mask): present; replicas, ready replicas and starting-or-pending replicas over
    ``max_replicas``; cores over ``max_cores``; batch over ``max_batch``; log1p(queue)/10;
    utilisation; the load now (mean arrivals of the last 5 s) over the ready replicas'
    throughput; the load now over the stage's largest throughput (every replica at the most
    cores and batch: how much of its range the stage needs); the batch service time
    l(b, c) over the SLO; and the forecast over the throughput of the replicas asked for.
    Global: p50, p95, p99 over the SLO; the violation; free cores over the cluster's, the
    largest node's free cores over a node's; allocated cores over the cluster's; the load
    now over the mean of the history; the forecast over the load now; the decision
    interval [s]. Ratios are clipped to [0, 10]. Without a forecast (``forecast="none"``)
    the two forecast features are 0.

    Throughputs come from the stage's model profile (its first variant's), the static
    knowledge every policy may read; nothing is read from the future.

    Args:
        env: A (possibly wrapped) :class:`~themis_env.envs.InferenceClusterEnv` with at most
            ``MAX_STAGES`` stages.
        forecast: ``none``, ``heuristic`` or ``learned`` (Themis's predictors).

    Raises:
        ConfigError: for an unknown forecast or a pipeline with more than ``MAX_STAGES`` stages.
    """

    def __init__(self, env: gym.Env, forecast: str = "heuristic") -> None:
        super().__init__(env)
        if forecast not in FORECASTS:
            raise ConfigError(f"StageFeatures forecast = {forecast!r}; allowed: {list(FORECASTS)}")
        base = cluster_env(env, "StageFeatures")
        if base.n_stages > MAX_STAGES:
            raise ConfigError(
                f"StageFeatures pads to {MAX_STAGES} stages; scenario {base.scenario.name!r} "
                f"has {base.n_stages}"
            )
        self._base = base
        self.forecast = forecast
        self._predictor = None
        if forecast != "none":
            from themis_env.baselines.themis.predictors import make_predictor

            self._predictor = make_predictor(forecast)
        n = base.n_stages
        lim = base.stage_limits
        self._max_rep = np.array([s.max_replicas for s in lim], dtype=np.float64)
        self._max_cores = np.array([s.max_cores for s in lim], dtype=np.float64)
        self._max_batch = np.array([s.max_batch for s in lim], dtype=np.float64)
        # Throughput [req/s] and batch service time [ms] of one replica, per (batch, cores).
        self._thr = []
        self._service = []
        for s, models in enumerate(base.pipeline.stage_models):
            latency = models[0].latency
            nb, nc = lim[s].max_batch, lim[s].max_cores
            self._thr.append(
                np.array(
                    [
                        [latency.throughput_rps(b, c) for c in range(1, nc + 1)]
                        for b in range(1, nb + 1)
                    ]
                )
            )
            self._service.append(latency.service_table(nb, nc)[1:, 1:])
        self._range_thr = np.array(
            [self._max_rep[s] * self._thr[s].max() for s in range(n)], dtype=np.float64
        )
        cl = base.cluster
        self._cluster_cores = float(cl.nodes * cl.cores_per_node)
        self._node_cores = float(cl.cores_per_node)
        self._slo = float(base.slo_ms)
        self._interval = float(base.decision_interval_s)
        size = MAX_STAGES * len(_STAGE_NAMES) + len(_GLOBAL_NAMES)
        self.observation_space = spaces.Box(
            np.zeros(size, dtype=np.float32),
            np.full(size, _RATIO_CAP, dtype=np.float32),
            dtype=np.float32,
        )

    @staticmethod
    def feature_names() -> list[str]:
        """Names of the entries, in order (``stage<i>.<feature>``, then the global ones)."""
        rows = [f"stage{i}.{name}" for i in range(MAX_STAGES) for name in _STAGE_NAMES]
        return rows + list(_GLOBAL_NAMES)

    def observation(self, observation: Any) -> np.ndarray:
        """The padded features of one raw observation of the env (flat or dict)."""
        o = self._base.obs_as_dict(observation)
        history = np.asarray(o["arrival_rate"], dtype=np.float64)
        now = float(history[-_RECENT_S:].mean()) if history.size else 0.0
        mean = float(history.mean()) if history.size else 0.0
        predicted = 0.0
        if self._predictor is not None:
            predicted = float(self._predictor.predict_max(history, _HORIZON_S))
        n = self._base.n_stages
        rows = np.zeros((MAX_STAGES, len(_STAGE_NAMES)), dtype=np.float64)
        replicas = np.asarray(o["replicas"], dtype=np.float64)
        ready = np.asarray(o["replicas_ready"], dtype=np.float64)
        cores = np.clip(np.asarray(o["cores"], dtype=np.int64), 1, None)
        batch = np.clip(np.asarray(o["batch"], dtype=np.int64), 1, None)
        for s in range(n):
            b = min(int(batch[s]), self._thr[s].shape[0]) - 1
            c = min(int(cores[s]), self._thr[s].shape[1]) - 1
            one = self._thr[s][b, c]
            rows[s, 0] = 1.0
            rows[s, 1] = replicas[s] / self._max_rep[s]
            rows[s, 2] = ready[s] / self._max_rep[s]
            rows[s, 3] = (o["replicas_starting"][s] + o["replicas_pending"][s]) / self._max_rep[s]
            rows[s, 4] = cores[s] / self._max_cores[s]
            rows[s, 5] = batch[s] / self._max_batch[s]
            rows[s, 6] = np.log1p(float(o["queue_len"][s])) / 10.0
            rows[s, 7] = o["utilisation"][s]
            rows[s, 8] = _ratio(now, ready[s] * one)
            rows[s, 9] = _ratio(now, self._range_thr[s])
            rows[s, 10] = self._service[s][b, c] / self._slo
            if self._predictor is not None:
                rows[s, 11] = _ratio(predicted, replicas[s] * one)
        lat = np.asarray(o["latency_ms"], dtype=np.float64) / self._slo
        free = np.asarray(o["free_cores"], dtype=np.float64)
        allocated = float((replicas[:n] * cores[:n]).sum())
        glob = [
            *lat,
            float(o["violation"][0]),
            free.sum() / self._cluster_cores,
            free.max(initial=0.0) / self._node_cores,
            allocated / self._cluster_cores,
            _ratio(now, mean),
            _ratio(predicted, now) if self._predictor is not None else 0.0,
            self._interval,
        ]
        out = np.concatenate([rows.reshape(-1), np.asarray(glob, dtype=np.float64)])
        return np.clip(out, 0.0, _RATIO_CAP).astype(np.float32)


def _ratio(num: float, den: float) -> float:
    """The ratio num / den, capped (a load with no capacity to carry it is at the cap)."""
    if den <= 0:
        return _RATIO_CAP if num > 0 else 0.0
    return min(num / den, _RATIO_CAP)


class PadStageActions(gym.ActionWrapper):
    """Pads the inner ``MultiDiscrete`` to ``MAX_STAGES`` stages; extra stages are ignored.

    The inner space must give every stage ``width`` entries with the same number of values
    (:class:`~themis_env.agents.wrappers.FitScaleAction`: 3 knobs × 5 moves;
    :class:`~themis_env.agents.wrappers.FitDeltaAction`: 3 × 3). The outer space is
    ``MultiDiscrete([n] * width * MAX_STAGES)``; the entries of a stage the pipeline lacks
    are dropped before the inner wrapper sees the action, so any value there acts as "keep".

    Args:
        env: The env with the inner action wrapper on top.
        width: Entries per stage (3: replicas, cores, batch).

    Raises:
        ConfigError: when the inner space is not such a ``MultiDiscrete``.
    """

    def __init__(self, env: gym.Env, width: int = 3) -> None:
        super().__init__(env)
        inner = env.action_space
        base = cluster_env(env, "PadStageActions")
        if (
            not isinstance(inner, spaces.MultiDiscrete)
            or inner.nvec.size != width * base.n_stages
            or len(set(inner.nvec.tolist())) != 1
        ):
            raise ConfigError(
                f"PadStageActions needs a MultiDiscrete of {width} equal entries per stage "
                f"below it ({base.n_stages} stages), got {inner}; put FitScaleAction or "
                "FitDeltaAction under it (a scenario with model variants has more entries)"
            )
        if base.n_stages > MAX_STAGES:
            raise ConfigError(
                f"PadStageActions pads to {MAX_STAGES} stages; scenario {base.scenario.name!r} "
                f"has {base.n_stages}"
            )
        self._used = width * base.n_stages
        self.action_space = spaces.MultiDiscrete(
            np.full(width * MAX_STAGES, int(inner.nvec[0])), dtype=inner.dtype
        )

    def action(self, action: Any) -> np.ndarray:
        """The inner wrapper's action: the entries of the pipeline's own stages."""
        flat = np.asarray(action).reshape(-1)
        if flat.size != self.action_space.nvec.size:
            raise ConfigError(
                f"PadStageActions: action of {flat.size} entries, expected "
                f"{self.action_space.nvec.size}"
            )
        return flat[: self._used].copy()


def _paths(wrappers: Sequence[Any]) -> list[str]:
    from themis_env.agents.envs import wrapper_path

    return [wrapper_path(w) for w in wrappers if isinstance(w, (str, dict))]


def padded_interface(env: gym.Env, wrappers: Sequence[Any]) -> dict[str, Any] | None:
    """The interface record of an agent acting through :class:`PadStageActions` (else None).

    It names what the agent still depends on: at most ``MAX_STAGES`` stages of one model
    each, and the observation history the features are computed from.
    """
    paths = _paths(wrappers)
    if f"{__name__}.PadStageActions" not in paths:
        return None
    base = cluster_env(env, "padded_interface")
    return {
        "layout": PADDED_LAYOUT,
        "max_stages": MAX_STAGES,
        "slots": 1,
        "trained_on_pipeline": base.pipeline.config.name,
        "history_s": int(base.scenario.history_s),
    }


def padded_mismatches(trained: dict[str, Any], env: gym.Env) -> list[str]:
    """Why ``env`` cannot be acted on by a padded-layout agent (empty: it can)."""
    base = cluster_env(env, "padded_mismatches")
    problems = []
    if base.n_stages > int(trained.get("max_stages", MAX_STAGES)):
        problems.append(
            f"stages: the agent pads to {trained.get('max_stages')}, env has {base.n_stages}"
        )
    slots = max(s.slots for s in base.stage_limits)
    if slots != int(trained.get("slots", 1)):
        problems.append(
            f"model variants: the agent acts on stages with {trained.get('slots', 1)} replica "
            f"slot(s), env has {slots}"
        )
    if int(base.scenario.history_s) < _RECENT_S:
        problems.append(f"history_s = {base.scenario.history_s} < {_RECENT_S}")
    return problems
