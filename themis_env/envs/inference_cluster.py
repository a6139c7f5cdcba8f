"""InferenceClusterEnv: the Gymnasium shell around the serving-cluster simulator."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from themis_env.config import ScenarioConfig, load_pipeline, load_scenario, to_plain
from themis_env.config.loader import Pipeline
from themis_env.envs.actions import ACTION_MODES, ActionCodec, StageLimits, make_codec
from themis_env.envs.observations import OBS_MODES, ObservationLayout
from themis_env.errors import ConfigError, DependencyNotInstalled
from themis_env.sim.simulator import Simulator, StageDecision, StepStats
from themis_env.workload import Workload, episode_rates

__all__ = ["InferenceClusterEnv", "DEFAULT_SCENARIO"]

DEFAULT_SCENARIO = "video-arxiv-bursty"
_RESET_OPTIONS = ("start_s", "episode_s", "random_window")


class InferenceClusterEnv(gym.Env):
    """Autoscale a multi-stage ML inference pipeline served on a CPU cluster.

    ## Description

    Requests arrive from a workload trace (Poisson within each second) and flow through a chain
    of model stages (video: detector → classifier; sentiment: speech-to-text → sentiment; nlp:
    language id → translation → summariser). Each stage has a FIFO dispatcher that forms
    batches and sends each to the next free replica. A batch of b requests on a replica with c
    cores takes l(b, c) = α·b/c + β·b + γ/c + ζ ms, the latency model profiled by Themis
    (arXiv 2407.14843). Every decision interval the agent sets, per stage, the number of
    replicas (horizontal scaling: a new replica pays a cold start of several seconds), the cores
    of each replica (in-place vertical scaling: effective after a short resize delay, but only if
    the node has free cores), and the batch size. The goal is to meet the end-to-end latency SLO
    at the lowest resource cost. The scenario (a YAML file in ``configs/scenarios``) fixes the
    pipeline, trace window, SLO, cluster, delays and reward weights.

    ## Action Space

    ``action_mode="target"`` (default): ``MultiDiscrete`` with three entries per stage s,
    ``[replicas − min_replicas, cores − 1, batch − 1]``, in stage order.
    ``action_mode="delta"``: ``MultiDiscrete([3] * 3S)``, per stage and knob 0 = −1, 1 = keep,
    2 = +1; a step past a limit is held at the limit and counted in ``info["clamped"]``.
    ``action_mode="continuous"``: ``Box(−1, 1, (3S,), float32)`` mapped linearly onto each
    knob's range and rounded. An action outside the space raises ``InvalidActionError``
    (``themis_env.envs.wrappers.ClipAction`` clips explicitly). A valid target the cluster
    cannot place is applied as far as it goes: a resize with no room on the node is deferred
    (``info["failed_resizes"]``), a replica with no room stays pending
    (``info["pending_replicas"]``), and both are retried while the target stands.
    ``action_masks()`` gives, for sb3-contrib ``MaskablePPO``, the values that fit.

    ## Observation Space

    A ``Dict`` of float32 arrays (``obs_mode="dict"``), or their concatenation in this order as a
    ``Box`` (``obs_mode="flat"``). S stages, N nodes, H = ``history_s``:

    | key | shape | meaning | unit | min | max |
    |---|---|---|---|---|---|
    | replicas | (S,) | replicas that exist and are not being removed | replicas | 0 | max_replicas |
    | replicas_ready | (S,) | replicas past their cold start | replicas | 0 | max_replicas |
    | replicas_starting | (S,) | replicas in cold start | replicas | 0 | max_replicas |
    | replicas_pending | (S,) | asked for, not placed (no node room) | replicas | 0 | max_replicas |
    | cores | (S,) | cores per replica (the stage's target) | cores | 0 | max_cores |
    | batch | (S,) | batch size | requests | 0 | max_batch |
    | queue_len | (S,) | requests waiting in the stage queue | requests | 0 | 1e5 |
    | utilisation | (S,) | busy fraction of ready replicas (= CPU usage / request) | 1 | 0 | 1 |
    | arrival_rate | (H,) | observed arrivals per second, oldest first | req/s | 0 | 1e5 |
    | latency_ms | (3,) | p50, p95, p99 end-to-end latency, last interval (0 if none) | ms | 0 | 1e5 |
    | violation | (1,) | SLO violation of the last interval | 1 | 0 | 1 |
    | free_cores | (N,) | free cores per node | cores | 0 | cores_per_node |

    ## Rewards

    ``−(w_slo · violation + w_cost · cost_rate / cost_scale)`` per step, where violation is the
    Themis per-interval violation min(1, late/completed + dropped/arrived) and cost_rate the
    mean allocated cores (or memory-equivalent GB) over the interval; ``cost_scale`` defaults to
    the whole cluster's. Every raw figure is in ``info``, with the two terms in
    ``info["reward_terms"]``.

    ## Starting State

    The scenario's ``initial`` configuration with warm replicas and empty queues, at the start
    of the trace window (or a random window, see Arguments).

    ## Episode End

    The episode is truncated (never terminated: autoscaling is a continuing task) when the
    trace window ends. The last step's ``info["episode_kpis"]`` holds the episode's KPIs: the
    Themis SLO violation rate (mean per-second violation over seconds with traffic), request
    fractions, cost, latency percentiles and scaling-action counts.

    ## Arguments

    ``gym.make("themis_env/InferenceCluster-v0", scenario="video-arxiv-bursty",
    action_mode="target", obs_mode="dict", render_mode=None, trace_dir=None, **overrides)``.
    ``scenario`` is a shipped name or a YAML path; ``overrides`` are deep-merged into the
    scenario (``cluster={"nodes": 1}``, ``reward={"w_cost": 0.5}``, ``episode_s=120``), all
    JSON-serialisable so ``env.spec.to_json()`` round-trips. ``reset(options=...)`` accepts
    ``start_s`` (window start), ``episode_s`` (length) and ``random_window`` (draw the start
    with the env's generator, e.g. for training on many windows).

    ## Version History

    * v0: Initial version.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(
        self,
        scenario: str = DEFAULT_SCENARIO,
        *,
        action_mode: str = "target",
        obs_mode: str = "dict",
        render_mode: str | None = None,
        trace_dir: str | None = None,
        **overrides: Any,
    ) -> None:
        if action_mode not in ACTION_MODES:
            raise ConfigError(f"action_mode = {action_mode!r} is not allowed; choose one of {list(ACTION_MODES)}")
        if obs_mode not in OBS_MODES:
            raise ConfigError(f"obs_mode = {obs_mode!r} is not allowed; choose one of {list(OBS_MODES)}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ConfigError(
                f"render_mode = {render_mode!r} is not allowed; choose one of {self.metadata['render_modes']}"
            )
        self.scenario: ScenarioConfig = load_scenario(scenario, overrides or None)
        self.scenario_ref = str(scenario)
        self.pipeline: Pipeline = load_pipeline(self.scenario.pipeline)
        self.cluster = self.scenario.cluster
        self.slo_ms = float(self.scenario.slo_ms or self.pipeline.config.slo_ms)
        self.decision_interval_s = float(self.scenario.decision_interval_s)
        self.n_stages = self.pipeline.n_stages
        self.action_mode = action_mode
        self.obs_mode = obs_mode
        self.render_mode = render_mode
        self.trace_dir = trace_dir
        self.stage_limits = [
            StageLimits(s.name, s.min_replicas, s.max_replicas, s.max_cores, s.max_batch)
            for s in self.pipeline.config.stages
        ]
        self._initial = self._initial_decision()
        self.codec: ActionCodec = make_codec(action_mode, self.stage_limits)
        self.action_space = self.codec.space
        self.layout = ObservationLayout(
            [s.max_replicas for s in self.stage_limits],
            [s.max_cores for s in self.stage_limits],
            [s.max_batch for s in self.stage_limits],
            self.scenario.history_s,
            self.cluster.nodes,
            self.cluster.cores_per_node,
        )
        self.observation_space = self.layout.space(obs_mode)
        self.sim = Simulator(
            self.pipeline,
            self.cluster,
            slo_ms=self.slo_ms,
            bucket_s=min(1.0, self.decision_interval_s),
            arrival_process=self.scenario.arrival_process,
        )
        memory_equivalent = self.scenario.cost == "memory-equivalent"
        cluster_cores = self.cluster.nodes * self.cluster.cores_per_node
        if self.scenario.reward.cost_scale is not None:
            self._cost_scale = self.scenario.reward.cost_scale
        elif memory_equivalent:
            self._cost_scale = cluster_cores * self.cluster.core_memory_gb
        else:
            self._cost_scale = float(cluster_cores)
        self._memory_equivalent = memory_equivalent
        self.workload: Workload | None = None
        self._history: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ helpers
    def _initial_decision(self) -> list[StageDecision]:
        init = self.scenario.initial
        if len(init) not in (1, self.n_stages):
            raise ConfigError(
                f"scenario {self.scenario.name!r}: 'initial' has {len(init)} entries; give 1 (for every "
                f"stage) or {self.n_stages} (one per stage)"
            )
        per_stage = list(init) * self.n_stages if len(init) == 1 else list(init)
        decision = [StageDecision(i.replicas, i.cores, i.batch) for i in per_stage]
        for s, (d, lim) in enumerate(zip(decision, self.stage_limits)):
            for value, lo, hi, what in zip(d, lim.lows, lim.highs, ("replicas", "cores", "batch")):
                if not lo <= value <= hi:
                    raise ConfigError(
                        f"scenario {self.scenario.name!r}: initial[{s}].{what} = {value} is outside "
                        f"the stage's limits [{lo}, {hi}]"
                    )
        return decision

    @property
    def current_targets(self) -> list[StageDecision]:
        """The stage targets now in force."""
        return list(self._targets)

    def encode_targets(self, targets: Sequence[Sequence[int]]) -> np.ndarray:
        """The action (in this env's action mode) asking for one (replicas, cores, batch) per stage."""
        return self.codec.encode(targets, self._targets if hasattr(self, "_targets") else self._initial)

    def obs_as_dict(self, obs: Any) -> dict[str, np.ndarray]:
        """The dict form of an observation of this env (flat or dict)."""
        return self.layout.as_dict(obs)

    @property
    def episode_rates(self) -> np.ndarray:
        """Privileged: the episode's true arrival rates [req/s] (for oracle and static policies)."""
        if self.workload is None:
            raise RuntimeError("call reset() first")
        return self.workload.rates

    def future_rates(self, horizon_s: int) -> np.ndarray:
        """Privileged: the trace's rates for the next ``horizon_s`` seconds (zeros past its end)."""
        rates = self.episode_rates
        start = int(math.floor(self.sim.time + 1e-9))
        window = rates[start : start + horizon_s]
        return np.pad(window, (0, horizon_s - len(window)))

    def action_masks(self) -> np.ndarray:
        """Flat boolean mask over the MultiDiscrete values that fit the cluster now.

        For the target form: replica counts whose cores (at the stage's current cores) fit in the
        cores the stage holds plus the free cores, and core counts that fit the same way at the
        current replicas; batch sizes are always allowed. For the delta form: steps that stay
        within the limits. The current value is always allowed.
        """
        masks = []
        if self.action_mode == "delta":
            for d, lim in zip(self._targets, self.stage_limits):
                for value, lo, hi in zip(d, lim.lows, lim.highs):
                    masks.append(np.array([value > lo, True, value < hi]))
            return np.concatenate(masks)
        if self.action_mode != "target":
            raise NotImplementedError("action masks exist for the MultiDiscrete action modes")
        free = float(self.sim.free_cores().sum())
        for d, lim in zip(self._targets, self.stage_limits):
            budget = free + d.replicas * d.cores
            replicas = np.arange(lim.min_replicas, lim.max_replicas + 1)
            cores = np.arange(1, lim.max_cores + 1)
            masks.append((replicas * d.cores <= budget) | (replicas == d.replicas))
            masks.append((cores * d.replicas <= budget) | (cores == d.cores))
            masks.append(np.ones(lim.max_batch, dtype=bool))
        return np.concatenate(masks)

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: Mapping[str, Any] | None = None):  # noqa: D102
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = sorted(set(options) - set(_RESET_OPTIONS))
        if unknown:
            raise ConfigError(f"reset option(s) {unknown} not allowed; allowed: {list(_RESET_OPTIONS)}")
        self.workload = episode_rates(
            self.scenario.trace,
            duration_s=options.get("episode_s", self.scenario.episode_s),
            rng=self.np_random,
            start_s=options.get("start_s"),
            random_window=bool(options.get("random_window", False)),
            trace_dir=self.trace_dir,
        )
        self._episode_s = len(self.workload.rates)
        self._targets = list(self._initial)
        self.sim.reset(self.np_random, self.workload.rates, self._targets)
        self._rate_history = np.zeros(self.scenario.history_s, dtype=np.float32)
        self._last_stats: StepStats | None = None
        self._actions = {"horizontal": 0, "vertical": 0, "failed_resizes": 0}
        self._history = []
        self._steps = 0
        return self._observation(), self._info(None, None, 0)

    def step(self, action: Any):  # noqa: D102
        if self.workload is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        targets, clamped = self.codec.decode(action, self._targets)
        report = self.sim.apply(targets)
        self._targets = targets
        stats = self.sim.advance(self.decision_interval_s)
        self._last_stats = stats
        self._steps += 1
        n_sec = len(stats.seconds)
        if n_sec:
            rates = stats.seconds[:, 1].astype(np.float32)
            history = self._rate_history
            if n_sec >= len(history):
                history[:] = rates[-len(history) :]
            else:
                history[:-n_sec] = history[n_sec:]
                history[-n_sec:] = rates
        self._actions["horizontal"] += report.horizontal_actions
        self._actions["vertical"] += report.vertical_actions
        self._actions["failed_resizes"] += int(report.failed_resizes.sum())
        span = stats.t1 - stats.t0
        cost = stats.memory_cost if self._memory_equivalent else stats.core_seconds
        cost_term = cost / span / self._cost_scale
        w = self.scenario.reward
        reward = -(w.w_slo * stats.violation + w.w_cost * cost_term)
        truncated = self.sim.time >= self._episode_s - 1e-9
        info = self._info(stats, report, clamped)
        info["reward_terms"] = {"slo": -w.w_slo * stats.violation, "cost": -w.w_cost * cost_term}
        if self.render_mode == "rgb_array":
            self._history.append(self._timeline_point(stats))
        if truncated:
            info["episode_kpis"] = self.episode_kpis()
        return self._observation(), float(reward), False, bool(truncated), info

    def episode_kpis(self) -> dict[str, Any]:
        """The episode's KPIs so far (complete at truncation)."""
        kpis = self.sim.episode_kpis()
        kpis["cost"] = kpis["cost_memory_equivalent"] if self._memory_equivalent else kpis["cost_core_seconds"]
        kpis["horizontal_actions"] = self._actions["horizontal"]
        kpis["vertical_actions"] = self._actions["vertical"]
        kpis["failed_resizes"] = self._actions["failed_resizes"]
        kpis["trace_fallback"] = bool(self.workload.fallback) if self.workload else False
        return kpis

    # ------------------------------------------------------------------ obs / info
    def _observation(self):
        state = self.sim.state
        stats = self._last_stats
        if stats is None or stats.completed == 0:
            latency = np.zeros(3, dtype=np.float32)
        else:
            latency = np.array([stats.latency_p50_ms, stats.latency_p95_ms, stats.latency_p99_ms])
        values = {
            "replicas": state.replicas,
            "replicas_ready": state.ready,
            "replicas_starting": state.starting,
            "replicas_pending": state.pending,
            "cores": state.cores,
            "batch": state.batch,
            "queue_len": state.queue_len if stats is None else stats.queue_len,
            "utilisation": np.zeros(self.n_stages) if stats is None else stats.utilisation,
            "arrival_rate": self._rate_history,
            "latency_ms": latency,
            "violation": np.array([0.0 if stats is None else stats.violation]),
            "free_cores": state.free_cores,
        }
        return self.layout.build(values, self.obs_mode)

    def _info(self, stats: StepStats | None, report: Any, clamped: int) -> dict[str, Any]:
        info: dict[str, Any] = {
            "sim_time_s": float(self.sim.time),
            "trace_uri": self.workload.uri if self.workload else "",
            "trace_fallback": bool(self.workload.fallback) if self.workload else False,
            "replicas": [d.replicas for d in self._targets],
            "cores": [d.cores for d in self._targets],
            "batch": [d.batch for d in self._targets],
        }
        if stats is None:
            return info
        info.update(
            arrivals=stats.arrived,
            completions=stats.completed,
            late=stats.late,
            dropped=stats.dropped,
            violation=stats.violation,
            latency_p50_ms=stats.latency_p50_ms,
            latency_p95_ms=stats.latency_p95_ms,
            latency_p99_ms=stats.latency_p99_ms,
            cores_allocated=stats.cores_allocated,
            cost=stats.memory_cost if self._memory_equivalent else stats.core_seconds,
            queue_len=stats.queue_len.tolist(),
            horizontal_actions=report.horizontal_actions,
            vertical_actions=report.vertical_actions,
            failed_resizes=int(report.failed_resizes.sum()),
            pending_replicas=int(report.pending.sum()),
            clamped=clamped,
        )
        return info

    # ------------------------------------------------------------------ rendering
    def _capacity_rps(self) -> float:
        state = self.sim.state
        caps = []
        for s, model in enumerate(self.pipeline.models):
            b, c = int(state.batch[s]), int(state.cores[s])
            caps.append(state.ready[s] * model.latency.throughput_rps(b, c))
        return float(min(caps))

    def _timeline_point(self, stats: StepStats) -> dict[str, Any]:
        return {
            "t": stats.t1,
            "load": stats.arrived / (stats.t1 - stats.t0),
            "capacity": self._capacity_rps(),
            "cores": [d.cores * d.replicas for d in self._targets],
            "replicas": [d.replicas for d in self._targets],
            "p99": stats.latency_p99_ms,
            "violation": stats.violation,
        }

    def render(self):  # noqa: D102
        if self.render_mode == "ansi":
            stats = self._last_stats
            stages = " ".join(f"{lim.name}={d.replicas}x{d.cores}c/b{d.batch}" for lim, d in zip(self.stage_limits, self._targets))
            if stats is None:
                return f"t={self.sim.time:.1f}s {stages}"
            return (
                f"t={stats.t1:.1f}s load={stats.arrived / (stats.t1 - stats.t0):.1f}rps {stages} "
                f"p99={stats.latency_p99_ms:.0f}ms viol={stats.violation:.2f} cores={stats.cores_allocated:.1f}"
            )
        if self.render_mode == "rgb_array":
            return self._render_timeline()
        return None

    def _render_timeline(self) -> np.ndarray:
        try:
            import matplotlib

            matplotlib.use("Agg", force=False)
            from matplotlib.figure import Figure
            from matplotlib.backends.backend_agg import FigureCanvasAgg
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise DependencyNotInstalled('rgb_array rendering needs matplotlib: pip install "themis-env[plots]"') from exc
        fig = Figure(figsize=(6, 4.5), dpi=80)
        canvas = FigureCanvasAgg(fig)
        axes = fig.subplots(3, 1, sharex=True)
        h = self._history
        t = [p["t"] for p in h]
        axes[0].plot(t, [p["load"] for p in h], label="load [req/s]")
        axes[0].plot(t, [p["capacity"] for p in h], label="capacity [req/s]")
        axes[0].legend(loc="upper left", fontsize=7)
        for s, lim in enumerate(self.stage_limits):
            axes[1].step(t, [p["cores"][s] for p in h], where="post", label=f"{lim.name} cores")
            axes[1].step(t, [p["replicas"][s] for p in h], where="post", linestyle=":", label=f"{lim.name} replicas")
        axes[1].legend(loc="upper left", fontsize=7)
        axes[2].plot(t, [p["p99"] for p in h], label="p99 [ms]")
        axes[2].axhline(self.slo_ms, color="red", linestyle="--", label="SLO")
        axes[2].legend(loc="upper left", fontsize=7)
        axes[2].set_xlabel("time [s]")
        fig.tight_layout()
        canvas.draw()
        image = np.asarray(canvas.buffer_rgba())[:, :, :3]
        return image.copy()

    def describe(self) -> dict[str, Any]:
        """The scenario as plain data (for records)."""
        return to_plain(self.scenario)
