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

With ``variants=V`` (both wrappers; :data:`MAX_VARIANTS` in the shipped configuration) the
layout also covers scenarios whose stages serve several model variants together (IPA,
arXiv 2308.12871; InfAdapter, arXiv 2304.10892): every stage gets ``V``
variant slots, each with its accuracy, its capacity from the latency profile, its replicas
and a mask bit, and the actions move each slot's replica count (a stage of one model is a
stage with one variant). Such an agent records ``layout: padded-variants``; an agent of the
first layout keeps its 46 features and 9 actions, unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from themis_env.agents.envs import wrapper_kwargs

from themis_env.envs.wrappers import cluster_env
from themis_env.errors import ConfigError

__all__ = [
    "MAX_STAGES",
    "MAX_VARIANTS",
    "FORECASTS",
    "PADDED_LAYOUT",
    "PADDED_VARIANTS_LAYOUT",
    "PADDED_LAYOUTS",
    "StageFeatures",
    "PadStageActions",
    "padded_interface",
    "padded_mismatches",
]

MAX_STAGES = 3  # the most stages of any shipped pipeline (nlp)
FORECASTS = ("none", "heuristic", "learned")
MAX_VARIANTS = 5  # the most variants of any shipped stage (ResNet 18..152, YOLOv5 n..x)
PADDED_LAYOUT = "padded-stages"  # one model per stage
PADDED_VARIANTS_LAYOUT = "padded-variants"  # variant slots per stage
PADDED_LAYOUTS = (PADDED_LAYOUT, PADDED_VARIANTS_LAYOUT)
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
# Per stage with variants=V: its served accuracy, then V slots of these.
_SERVED_NAME = "served_accuracy"
_SLOT_NAMES = (
    "present",
    "accuracy",
    "capacity_per_core",
    "load_over_slot_range",
    "replicas",
    "batch_latency_over_slo",
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

    With ``variants=V`` (at least 1) a block follows, per stage: the accuracy it served in
    the last interval over its best variant's (1 where models declare no accuracy), then
    ``V`` variant slots of 6 features (zeros for the slots a stage lacks; a stage of one
    model fills slot 0): present (the mask); accuracy over the stage's best variant's;
    capacity per core at the stage's cores and batch over the fastest variant's; the load
    now over ``max_replicas`` replicas of the variant; its replicas over ``max_replicas``;
    its batch service time over the SLO. On a stage with several variants the stage
    features above count every variant's replicas at its own throughput (the service time:
    the slowest variant running). Stages of one model get the same first 46 features with
    or without the block.

    Args:
        env: A (possibly wrapped) :class:`~themis_env.envs.InferenceClusterEnv` with at most
            ``MAX_STAGES`` stages.
        forecast: ``none``, ``heuristic`` or ``learned`` (Themis's predictors).
        variants: Variant slots per stage (0: no variant block, one model per stage).

    Raises:
        ConfigError: for an unknown forecast, a pipeline with more than ``MAX_STAGES`` stages,
            or a stage with more than ``variants`` variants.
    """

    def __init__(self, env: gym.Env, forecast: str = "heuristic", variants: int = 0) -> None:
        super().__init__(env)
        if forecast not in FORECASTS:
            raise ConfigError(f"StageFeatures forecast = {forecast!r}; allowed: {list(FORECASTS)}")
        base = cluster_env(env, "StageFeatures")
        if base.n_stages > MAX_STAGES:
            raise ConfigError(
                f"StageFeatures pads to {MAX_STAGES} stages; scenario {base.scenario.name!r} "
                f"has {base.n_stages}"
            )
        self.variants = _variant_slots(variants, base, "StageFeatures")
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
        if self.variants:
            self._init_variants(base)
        cl = base.cluster
        self._cluster_cores = float(cl.nodes * cl.cores_per_node)
        self._node_cores = float(cl.cores_per_node)
        self._slo = float(base.slo_ms)
        self._interval = float(base.decision_interval_s)
        size = len(self.feature_names(self.variants))
        self.observation_space = spaces.Box(
            np.zeros(size, dtype=np.float32),
            np.full(size, _RATIO_CAP, dtype=np.float32),
            dtype=np.float32,
        )

    def _init_variants(self, base: Any) -> None:
        """Per stage and variant: throughput and service tables, accuracy over the best."""
        lim = base.stage_limits
        self._vthr: list[np.ndarray] = []  # per stage: (variants, batch, cores) req/s
        self._vservice: list[np.ndarray] = []  # per stage: (variants, batch, cores) ms
        for s, models in enumerate(base.pipeline.stage_models):
            nb, nc = lim[s].max_batch, lim[s].max_cores
            self._vthr.append(
                np.array(
                    [
                        [
                            [m.latency.throughput_rps(b, c) for c in range(1, nc + 1)]
                            for b in range(1, nb + 1)
                        ]
                        for m in models
                    ]
                )
            )
            self._vservice.append(
                np.array([m.latency.service_table(nb, nc)[1:, 1:] for m in models])
            )
        self._has_accuracy = bool(base.pipeline.has_accuracy)
        if self._has_accuracy:
            table = base.pipeline.normalised_accuracy()
            self._best_served = [max(row) for row in table]
            raw = [[float(m.accuracy) for m in models] for models in base.pipeline.stage_models]
            self._vacc = [np.array(row) / max(row) for row in raw]
        else:
            self._vacc = [np.ones(len(models)) for models in base.pipeline.stage_models]
        self._env_slots = max(s.slots for s in lim)

    @staticmethod
    def feature_names(variants: int = 0) -> list[str]:
        """Names of the entries, in order.

        ``stage<i>.<feature>``, the global ones, then with ``variants`` the variant block:
        ``stage<i>.served_accuracy`` and ``stage<i>.variant<j>.<feature>`` per stage.
        """
        rows = [f"stage{i}.{name}" for i in range(MAX_STAGES) for name in _STAGE_NAMES]
        block = [
            name
            for i in range(MAX_STAGES)
            for name in [f"stage{i}.{_SERVED_NAME}"]
            + [f"stage{i}.variant{j}.{f}" for j in range(variants) for f in _SLOT_NAMES]
        ]
        return rows + list(_GLOBAL_NAMES) + (block if variants else [])

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
        # The variant block also rewrites the capacity features of variant stages in ``rows``.
        block = (
            [self._variant_block(o, rows, now, predicted, replicas, ready, cores, batch)]
            if self.variants
            else []
        )
        out = np.concatenate([rows.reshape(-1), np.asarray(glob, dtype=np.float64), *block])
        return np.clip(out, 0.0, _RATIO_CAP).astype(np.float32)

    def _variant_block(
        self,
        o: dict[str, Any],
        rows: np.ndarray,
        now: float,
        predicted: float,
        replicas: np.ndarray,
        ready: np.ndarray,
        cores: np.ndarray,
        batch: np.ndarray,
    ) -> np.ndarray:
        """The variant block of every stage.

        On a stage with several variants it also rewrites the capacity features in ``rows``.
        """
        width = 1 + self.variants * len(_SLOT_NAMES)
        block = np.zeros((MAX_STAGES, width), dtype=np.float64)
        counts_all = o.get("variant_replicas")
        served = o.get("accuracy")
        for s in range(self._base.n_stages):
            thr, service = self._vthr[s], self._vservice[s]
            n_var = thr.shape[0]
            b = min(int(batch[s]), thr.shape[1]) - 1
            c = min(int(cores[s]), thr.shape[2]) - 1
            one = thr[:, b, c]  # one replica of each variant [req/s]
            if n_var > 1:
                first = s * self._env_slots
                counts = np.asarray(counts_all[first : first + n_var], dtype=np.float64)
                capacity = float((counts * one).sum())
                ready_capacity = capacity * ready[s] / replicas[s] if replicas[s] > 0 else 0.0
                running = counts > 0
                slowest = service[running, b, c].max() if running.any() else service[0, b, c]
                rows[s, 8] = _ratio(now, ready_capacity)
                rows[s, 9] = _ratio(now, self._max_rep[s] * thr.max())
                rows[s, 10] = slowest / self._slo
                rows[s, 11] = _ratio(predicted, capacity) if self._predictor is not None else 0.0
            else:
                counts = np.array([replicas[s]], dtype=np.float64)
            if self._has_accuracy and served is not None:
                block[s, 0] = float(served[s]) / self._best_served[s]
            else:
                block[s, 0] = 1.0
            slots = np.zeros((self.variants, len(_SLOT_NAMES)), dtype=np.float64)
            slots[:n_var, 0] = 1.0
            slots[:n_var, 1] = self._vacc[s]
            slots[:n_var, 2] = one / one.max()
            slots[:n_var, 3] = [_ratio(now, self._max_rep[s] * x) for x in one]
            slots[:n_var, 4] = counts / self._max_rep[s]
            slots[:n_var, 5] = service[:, b, c] / self._slo
            block[s, 1:] = slots.reshape(-1)
        return block.reshape(-1)


def _ratio(num: float, den: float) -> float:
    """The ratio num / den, capped (a load with no capacity to carry it is at the cap)."""
    if den <= 0:
        return _RATIO_CAP if num > 0 else 0.0
    return min(num / den, _RATIO_CAP)


def _variant_slots(variants: int, base: Any, who: str) -> int:
    """``variants`` checked: 0 (one model per stage) or at least every stage's variants."""
    if int(variants) != variants or variants < 0:
        raise ConfigError(f"{who} variants = {variants!r}; allowed: 0 or a positive integer")
    most = max(len(models) for models in base.pipeline.stage_models)
    if variants and most > variants:
        raise ConfigError(
            f"{who} pads to {variants} variant slot(s) per stage; scenario "
            f"{base.scenario.name!r} has a stage with {most} variants"
        )
    return int(variants)


class PadStageActions(gym.ActionWrapper):
    """Pads the inner ``MultiDiscrete`` to ``MAX_STAGES`` stages; extra stages are ignored.

    The inner space must give every stage ``width`` entries with the same number of values
    (:class:`~themis_env.agents.wrappers.FitScaleAction`: 3 knobs × 5 moves;
    :class:`~themis_env.agents.wrappers.FitDeltaAction`: 3 × 3). The outer space is
    ``MultiDiscrete([n] * width * MAX_STAGES)``; the entries of a stage the pipeline lacks
    are dropped before the inner wrapper sees the action, so any value there acts as "keep".

    With ``variants=V`` a stage's entries are ``V`` replica moves (one per variant slot), then
    cores and batch: ``(V + 2) * MAX_STAGES`` entries. The inner wrapper has the env's own
    replica slots per stage (one without variants, else the most variants of any stage):
    slot ``j`` of the agent moves the env's slot ``j``, and the agent's slots past the env's
    are dropped (a slot the env fixes at 0 stays 0 whatever its move).

    Args:
        env: The env with the inner action wrapper on top.
        width: Entries per stage (3: replicas, cores, batch) without variants.
        variants: Variant slots per stage (0: one replica count per stage, ``width`` entries).

    Raises:
        ConfigError: when the inner space is not such a ``MultiDiscrete``, or a stage has more
            variants than ``variants``.
    """

    def __init__(self, env: gym.Env, width: int = 3, variants: int = 0) -> None:
        super().__init__(env)
        inner = env.action_space
        base = cluster_env(env, "PadStageActions")
        self.variants = _variant_slots(variants, base, "PadStageActions")
        slots = max(s.slots for s in base.stage_limits)
        inner_width = slots + 2 if self.variants else width
        if (
            not isinstance(inner, spaces.MultiDiscrete)
            or inner.nvec.size != inner_width * base.n_stages
            or len(set(inner.nvec.tolist())) != 1
        ):
            hint = (
                "put FitScaleAction or FitDeltaAction under it"
                if self.variants
                else "put FitScaleAction or FitDeltaAction under it (a scenario with model "
                "variants has more entries: give PadStageActions and StageFeatures variants=5)"
            )
            raise ConfigError(
                f"PadStageActions needs a MultiDiscrete of {inner_width} equal entries per stage "
                f"below it ({base.n_stages} stages), got {inner}; {hint}"
            )
        if base.n_stages > MAX_STAGES:
            raise ConfigError(
                f"PadStageActions pads to {MAX_STAGES} stages; scenario {base.scenario.name!r} "
                f"has {base.n_stages}"
            )
        outer_width = self.variants + 2 if self.variants else width
        # The outer entry of each inner entry (slots <= variants, checked above).
        index = []
        for s in range(base.n_stages):
            first = s * outer_width
            if self.variants:
                index += [first + j for j in range(slots)]
                index += [first + self.variants, first + self.variants + 1]
            else:
                index += list(range(first, first + width))
        self._index = np.array(index, dtype=np.int64)
        self.action_space = spaces.MultiDiscrete(
            np.full(outer_width * MAX_STAGES, int(inner.nvec[0])), dtype=inner.dtype
        )

    def action(self, action: Any) -> np.ndarray:
        """The inner wrapper's action: the entries of the pipeline's own stages (and slots)."""
        flat = np.asarray(action).reshape(-1)
        if flat.size != self.action_space.nvec.size:
            raise ConfigError(
                f"PadStageActions: action of {flat.size} entries, expected "
                f"{self.action_space.nvec.size}"
            )
        return flat[self._index]


def padded_interface(env: gym.Env, wrappers: Sequence[Any]) -> dict[str, Any] | None:
    """The interface record of an agent acting through :class:`PadStageActions` (else None).

    It names what the agent still depends on: at most ``MAX_STAGES`` stages, one model each
    (``layout: padded-stages``) or at most ``max_variants`` variants each
    (``layout: padded-variants``), and the observation history the features are computed from.

    Raises:
        ConfigError: when :class:`StageFeatures` and :class:`PadStageActions` are given
            different ``variants``.
    """
    actions = wrapper_kwargs(wrappers, f"{__name__}.PadStageActions")
    if actions is None:
        return None
    features = wrapper_kwargs(wrappers, f"{__name__}.StageFeatures") or {}
    variants = int(actions.get("variants", 0))
    if int(features.get("variants", 0)) != variants:
        raise ConfigError(
            f"env_wrapper: StageFeatures variants = {features.get('variants', 0)!r} but "
            f"PadStageActions variants = {variants!r}; give both the same number of slots"
        )
    base = cluster_env(env, "padded_interface")
    record: dict[str, Any] = {
        "layout": PADDED_VARIANTS_LAYOUT if variants else PADDED_LAYOUT,
        "max_stages": MAX_STAGES,
    }
    if variants:
        record["max_variants"] = variants
    else:
        record["slots"] = 1
    record["trained_on_pipeline"] = base.pipeline.config.name
    record["history_s"] = int(base.scenario.history_s)
    return record


def padded_mismatches(trained: dict[str, Any], env: gym.Env) -> list[str]:
    """Why ``env`` cannot be acted on by a padded-layout agent (empty: it can)."""
    base = cluster_env(env, "padded_mismatches")
    problems = []
    layout = trained.get("layout", PADDED_LAYOUT)
    if layout not in PADDED_LAYOUTS:
        return [f"layout {layout!r} is not one of {list(PADDED_LAYOUTS)}"]
    if base.n_stages > int(trained.get("max_stages", MAX_STAGES)):
        problems.append(
            f"stages: the agent pads to {trained.get('max_stages')}, env has {base.n_stages}"
        )
    most = max(len(models) for models in base.pipeline.stage_models)
    if layout == PADDED_LAYOUT:
        slots = max(s.slots for s in base.stage_limits)
        if slots != int(trained.get("slots", 1)):
            problems.append(
                f"model variants: the agent (layout {PADDED_LAYOUT!r}) acts on stages with "
                f"{trained.get('slots', 1)} replica slot(s), env has {slots} (a stage with {most} "
                f"variants); an agent of layout {PADDED_VARIANTS_LAYOUT!r} acts on it"
            )
    elif most > int(trained["max_variants"]):
        problems.append(
            f"model variants: the agent (layout {PADDED_VARIANTS_LAYOUT!r}) pads to "
            f"{trained['max_variants']} variant slot(s) per stage, env has a stage with {most}"
        )
    if int(base.scenario.history_s) < _RECENT_S:
        problems.append(f"history_s = {base.scenario.history_s} < {_RECENT_S}")
    return problems
