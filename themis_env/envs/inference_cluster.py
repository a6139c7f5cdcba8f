"""InferenceClusterEnv: the Gymnasium shell around the serving-cluster simulator."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from themis_env.config import ScenarioConfig, load_pipeline, load_scenario, to_plain
from themis_env.config.loader import Pipeline
from themis_env.config.schema import LATEST_ENV_VERSION, check_episode_length
from themis_env.envs.actions import ACTION_MODES, ActionCodec, StageLimits, make_codec
from themis_env.envs.observations import OBS_MODES, ObservationLayout
from themis_env.envs.registration import time_limit_of_make
from themis_env.envs.reward import reward_inputs, step_reward
from themis_env.errors import ConfigError, DependencyNotInstalled, PolicyError, did_you_mean
from themis_env.sim.simulator import IntervalSummary, Simulator, StageDecision
from themis_env.workload import Workload, episode_rates

__all__ = ["DEFAULT_SCENARIO", "RESET_OPTIONS", "InferenceClusterEnv"]

DEFAULT_SCENARIO = "video-arxiv-bursty"
RESET_OPTIONS = ("start_s", "episode_s", "random_window")

Obs = dict[str, np.ndarray] | np.ndarray
_INT64 = np.dtype(np.int64)  # NumPy reuses this descriptor for native int64 arrays


class InferenceClusterEnv(gym.Env[Obs, np.ndarray]):
    """Autoscale a multi-stage ML inference pipeline served on a CPU cluster.

    ## Description

    Requests arrive from a workload trace (Poisson within each second) and flow through a chain
    of model stages (video: detector → classifier; sentiment: speech-to-text → sentiment; nlp:
    language id → translation → summariser, or sentiment in the 2025 preset). Each stage has a
    FIFO dispatcher that forms batches and sends each to the next free replica. A batch of b
    requests on a replica with c cores takes l(b, c) = α·b/c + β·b + γ/c + ζ ms, the latency
    model profiled by Themis (arXiv 2407.14843). Every decision interval the agent sets, per
    stage, the number of replicas (horizontal scaling: a new replica pays a cold start of
    several seconds), the cores of each replica (in-place vertical scaling: effective after a
    short resize delay, but only if the node has free cores), and the batch size. Where a stage
    has several model variants (IPA, arXiv 2308.12871; InfAdapter, arXiv 2304.10892), the agent
    sets the replicas of each variant instead: accuracy against cost, the third axis. The goal
    is to meet the end-to-end latency SLO at the lowest resource cost (and, with variants, the
    highest accuracy the reward asks for). The scenario (a YAML file in ``configs/scenarios``)
    fixes the pipeline, trace window, SLO, cluster, delays and reward weights.

    ## Action Space

    S stages, three knobs each, in stage order; every form is stable-baselines3-compatible.

    | action_mode | space | entry 3s, 3s+1, 3s+2 of stage s |
    |---|---|---|
    | ``"target"`` (default) | ``MultiDiscrete`` | replicas − min_replicas, cores − 1, batch − 1 |
    | ``"delta"`` | ``MultiDiscrete([3] * 3S)`` | 0 = −1, 1 = keep, 2 = +1 on each knob |
    | ``"continuous"`` | ``Box(−1, 1, (3S,), float32)`` | mapped linearly onto the knob's range |

    **With variants** (V = the most variants of any stage) each stage has K = V + 2 entries:
    the replicas of each variant slot, then cores and batch (K = 3 without variants, the table
    above). A variant's replicas range over 0..max_replicas (the stage may run several at
    once, or none); a stage with fewer variants than V has its unused slots fixed at 0
    (``MultiDiscrete`` value count 1). Switching variant is scaling one in and another out:
    the new replicas pay their variant's model-load time as cold start.

    | action_mode | space | entries Ks .. Ks+K−1 of stage s |
    |---|---|---|
    | ``"target"`` | ``MultiDiscrete`` | replicas of each variant, cores − 1, batch − 1 |
    | ``"delta"`` | ``MultiDiscrete([3] * KS)`` | 0 = −1, 1 = keep, 2 = +1 on each |
    | ``"continuous"`` | ``Box(−1, 1, (KS,), float32)`` | mapped linearly onto each range |

    In the delta form a step past a limit is held at the limit and counted in
    ``info["clamped"]``; the continuous form rounds to the nearest whole value. An action
    outside the space (wrong shape, out of range, not a whole number, NaN) raises
    ``InvalidActionError`` naming the entry, its value and its bounds; wrap the env in
    ``themis_env.envs.wrappers.ClipAction`` to clip explicitly, or in
    ``DiscreteActionWrapper`` for a ``Discrete`` space of single moves (DQN). A valid target
    the cluster cannot place is applied as far as it goes, as Kubernetes would. A new replica
    goes where kube-scheduler's default scoring puts it (spreading a stage's replicas over the
    nodes; ``cluster.placement``); with no room it stays pending (``info["pending_replicas"]``,
    observation ``replicas_pending``). A resize with no room on its node is Deferred, as the
    kubelet does (``info["deferred_resizes"]``), or Infeasible when it asks for more cores
    than a node has (``info["infeasible_resizes"]``; the kubelet never does it); the replica
    keeps its cores, ``unresized_replicas()`` counts it per stage, and a scale-in of its stage
    removes it first. Pending replicas and deferred resizes are retried while the target
    stands. In v0 (``cluster.placement: first-fit``, ``cluster.resize_policy: fail``) a
    replica goes to the lowest node with room and a resize with no room fails
    (``info["failed_resizes"]``). ``action_masks()`` gives, for sb3-contrib ``MaskablePPO``,
    the MultiDiscrete values that fit the free cores.

    ## Observation Space

    A ``Dict`` of float32 arrays (``obs_mode="dict"``), or their concatenation in this order as a
    ``Box`` (``obs_mode="flat"``); ``obs_as_dict`` turns either into the dict. S stages, N nodes,
    H = ``history_s``. Values beyond a bound are clipped to it (raw figures are in ``info``).

    | key | shape | meaning | unit | min | max |
    |---|---|---|---|---|---|
    | replicas | (S,) | replicas that exist, not being removed | replicas | 0 | max_replicas |
    | replicas_ready | (S,) | replicas past their cold start | replicas | 0 | max_replicas |
    | replicas_starting | (S,) | replicas in cold start | replicas | 0 | max_replicas |
    | replicas_pending | (S,) | asked for, not placed (no node room) | replicas | 0 | max_replicas |
    | cores | (S,) | cores per replica (the stage's target) | cores | 0 | max_cores |
    | batch | (S,) | batch size | requests | 0 | max_batch |
    | queue_len | (S,) | requests waiting in the stage queue | requests | 0 | 1e5 |
    | utilisation | (S,) | busy fraction of ready replicas, last interval | 1 | 0 | 1 |
    | arrival_rate | (H,) | observed arrivals per second, oldest first | req/s | 0 | 1e5 |
    | latency_ms | (3,) | p50, p95, p99 end to end, last interval (0: none done) | ms | 0 | 1e5 |
    | violation | (1,) | SLO violation of the last interval | 1 | 0 | 1 |
    | free_cores | (N,) | free cores per node | cores | 0 | cores_per_node |
    | variant_replicas | (S·V,) | replicas per stage and variant¹ | replicas | 0 | max_replicas |
    | accuracy | (S,) | accuracy the stage served, last interval¹ ² | 1 | 0 | best variant's |

    ¹ With variants only (V > 1); these two keys follow the others, so the spaces of
    scenarios without variants are unchanged. ² The mean normalised accuracy of the variants
    that took the stage's requests in the interval (0 when none).

    ## Rewards

    ``−(w_slo · violation + w_cost · max(0, cost_rate − cost_budget) / cost_scale)`` per step,
    where violation is the Themis per-interval violation min(1, late/completed +
    dropped/arrived) and cost_rate the mean allocated cores (or memory-equivalent GB when the
    scenario's ``cost`` is ``memory-equivalent``) over the interval; ``cost_scale`` defaults to
    the whole cluster's, so both terms lie in [0, 1] with the default weights (w_slo 1, w_cost
    0.2), and ``cost_budget`` (default 0) is a cost rate left free, for training under a soft
    cost limit. Every raw figure is in ``info`` (arrivals, completions, late, dropped,
    violation, latency percentiles, cores_allocated, cost, queue_len, scaling actions), with
    the two weighted terms in ``info["reward_terms"]``. Where the models declare accuracies the
    reward adds ``w_accuracy · accuracy`` (default weight 0), accuracy being the pipeline
    accuracy of the interval's completions (request-weighted; normalised and combined as the
    pipeline declares; 0 when none completed), in ``info["accuracy"]`` and
    ``info["reward_terms"]["accuracy"]``.

    ## Starting State

    The scenario's ``initial`` configuration with warm replicas and empty queues, at the start
    of the trace window (or of a window chosen through ``reset(options=...)``).

    ## Episode End

    The episode is truncated (never terminated: autoscaling is a continuing task) when the
    trace window ends, or after ``max_episode_steps`` steps. The last step's
    ``info["episode_kpis"]`` holds the episode's KPIs: the
    Themis SLO violation rate (mean per-second violation over seconds with traffic), request
    counts and fractions, cost, latency percentiles and scaling-action counts; with accuracies
    also ``accuracy`` (request-weighted over the episode's completions) and, with variants,
    ``variant_share.<stage>.<variant>`` (the share of a stage's requests each variant took).

    ## Arguments

    ``gym.make("themis_env/InferenceCluster-v1", scenario="video-arxiv-bursty",
    action_mode="target", obs_mode="dict", render_mode=None, trace_dir=None, **overrides)``

    * ``scenario``: a shipped scenario name (``themis-env scenarios list``) or a YAML path.
    * ``action_mode``: ``"target"``, ``"delta"`` or ``"continuous"`` (see Action Space).
    * ``obs_mode``: ``"dict"`` or ``"flat"``.
    * ``render_mode``: ``"ansi"`` (one status line) or ``"rgb_array"`` (a timeline of load vs
      capacity, cores and replicas per stage, p99 vs SLO; needs matplotlib).
    * ``trace_dir``: an extra folder to look for named traces in.
    * ``env_version``: the dynamics a scenario's unstated cluster keys take (set by the id:
      ``-v0`` ids pass 0; default the latest); see Version History.
    * ``max_episode_steps``: truncate after this many steps, with the KPIs. ``gym.make(id,
      max_episode_steps=N)`` sets it (the env reads the limit of the ``make`` call that
      builds it; its ``TimeLimit`` truncates at the same step); pass it when constructing the
      class directly.
    * ``overrides``: deep-merged into the scenario (``episode_s=120``,
      ``cluster={"nodes": 1}``, ``reward={"w_cost": 0.5}``); unknown keys and bad values raise
      ``ConfigError``. All are JSON-serialisable, so ``env.spec.to_json()`` round-trips.

    ``reset(options=...)`` accepts ``start_s`` (window start in the trace [s]), ``episode_s``
    (episode length [s]) and ``random_window`` (draw the start from the trace's
    ``sample_range`` with the env's generator, e.g. to train on many windows).

    ## Vectorized environment

    ``gym.make_vec(id, num_envs=n)`` builds the native vector env
    (:class:`~themis_env.envs.vector.InferenceClusterVectorEnv`): n clusters stepped in one
    compiled call, cluster i seeded ``seed + i`` playing exactly this env's episode, episode
    KPIs in ``info["episode_kpis"]`` for the clusters whose episode ended.
    ``vectorization_mode="sync"|"async"`` and SB3's ``make_vec_env`` wrap n of these envs
    instead; the env pickles, and ``"themis_env:<id>"`` imports the package in worker
    processes.

    ## Version History

    * v1: Kubernetes placement and resizes by default: a scenario that does not set them gets
      ``cluster.placement: spread`` (kube-scheduler's default profile) and
      ``cluster.resize_policy: defer`` (the kubelet's Deferred / Infeasible, the replica
      removed first on scale-in), stated in the env's config data and records.
    * v0: Initial version: first-fit placement, failed resizes (still registered; a ``-v0``
      id keeps these where the scenario leaves them out, so v0 records replay identically).
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
        env_version: int = LATEST_ENV_VERSION,
        max_episode_steps: int | None = None,
        **overrides: Any,
    ) -> None:
        _check_choice("action_mode", action_mode, list(ACTION_MODES))
        if max_episode_steps is None:
            max_episode_steps = time_limit_of_make()
        elif (
            isinstance(max_episode_steps, bool)
            or not isinstance(max_episode_steps, int)
            or max_episode_steps < 1
        ):
            raise ConfigError(f"max_episode_steps = {max_episode_steps!r} must be None or >= 1")
        self.max_episode_steps = max_episode_steps
        _check_choice("obs_mode", obs_mode, list(OBS_MODES))
        if render_mode is not None:
            _check_choice("render_mode", render_mode, self.metadata["render_modes"])
        self.env_version = env_version
        self.scenario: ScenarioConfig = load_scenario(scenario, overrides or None, env_version)
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
        self.n_variants = self.pipeline.n_variants
        self.stage_limits = [
            StageLimits(
                s.name,
                s.min_replicas,
                s.max_replicas,
                s.max_cores,
                s.max_batch,
                tuple(m.name for m in models) if s.variants else (),
                self.n_variants,
            )
            for s, models in zip(
                self.pipeline.config.stages, self.pipeline.stage_models, strict=True
            )
        ]
        self._has_accuracy = self.pipeline.has_accuracy
        # Read once: the step path checks it every decision.
        self._defers_resizes = self.cluster.resize_policy == "defer"
        if self.scenario.reward.w_accuracy > 0 and not self._has_accuracy:
            raise ConfigError(
                f"scenario {self.scenario.name!r}: key 'reward.w_accuracy' = "
                f"{self.scenario.reward.w_accuracy} needs a pipeline whose models declare "
                f"'accuracy'; those of {self.pipeline.name!r} do not"
            )
        self._initial = self._initial_decision()
        self.codec: ActionCodec = make_codec(action_mode, self.stage_limits)
        self.action_space = self.codec.space
        # A target-mode action is the targets minus the knobs' lows (the kernel adds them).
        self._action_lows = self.codec.lows if action_mode == "target" else None
        self._action_shape = self.codec.shape
        self.layout = ObservationLayout(
            [s.max_replicas for s in self.stage_limits],
            [s.max_cores for s in self.stage_limits],
            [s.max_batch for s in self.stage_limits],
            self.scenario.history_s,
            self.cluster.nodes,
            self.cluster.cores_per_node,
            self.n_variants,
            [max(row) for row in self.pipeline.normalised_accuracy()]
            if self.n_variants > 1
            else (),
        )
        self.observation_space = self.layout.space(obs_mode)
        self._obs_size = self.layout.size
        self._obs_high = self.layout.high
        self.sim = Simulator(
            self.pipeline,
            self.cluster,
            slo_ms=self.slo_ms,
            bucket_s=min(1.0, self.decision_interval_s),
            arrival_process=self.scenario.arrival_process,
            history_s=self.scenario.history_s,
        )
        # After a step the observation is the simulator's monitoring vector, clipped.
        assert self.sim.monitor_size == self.layout.size, "observation and monitor disagree"
        self._memory_equivalent = self.scenario.cost == "memory-equivalent"
        cluster_cores = self.cluster.nodes * self.cluster.cores_per_node
        if self.scenario.reward.cost_scale is not None:
            self._cost_scale = float(self.scenario.reward.cost_scale)
        elif self._memory_equivalent:
            self._cost_scale = cluster_cores * self.cluster.core_memory_gb
        else:
            self._cost_scale = float(cluster_cores)
        self.workload: Workload | None = None
        self._episode_s = 0
        self._steps = 0  # of this episode, against max_episode_steps
        self._last_stats: IntervalSummary | None = None
        self._history: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ helpers
    def _initial_decision(self) -> list[StageDecision]:
        init = self.scenario.initial
        if len(init) not in (1, self.n_stages):
            raise ConfigError(
                f"scenario {self.scenario.name!r}: key 'initial' has {len(init)} entries; give 1 "
                f"(for every stage) or {self.n_stages} (one per stage)"
            )
        per_stage = list(init) * self.n_stages if len(init) == 1 else list(init)
        decision = []
        for s, (i, lim) in enumerate(zip(per_stage, self.stage_limits, strict=True)):
            used = max(len(lim.variants), 1)
            if i.variant >= used:
                raise ConfigError(
                    f"scenario {self.scenario.name!r}: key 'initial[{s}].variant' = {i.variant} "
                    f"is not a variant of stage {lim.name!r}, which has {used} (0..{used - 1})"
                )
            counts = [0] * lim.slots
            counts[i.variant] = i.replicas
            knobs = ["replicas"] * lim.slots + ["cores", "batch"]
            values = [*counts, i.cores, i.batch]
            for value, lo, hi, what in zip(values, lim.lows, lim.highs, knobs, strict=True):
                if not lo <= value <= hi:
                    raise ConfigError(
                        f"scenario {self.scenario.name!r}: key 'initial[{s}].{what}' = {value} is "
                        f"outside stage {lim.name!r}'s limits [{lo}, {hi}]"
                    )
            decision.append(_stage_target(values))
        return decision

    @property
    def current_targets(self) -> list[StageDecision]:
        """The stage targets now in force (the initial ones before the first step)."""
        if self.workload is None:
            return list(self._initial)
        return [_stage_target(row) for row in self.sim.targets.tolist()]

    def encode_targets(self, targets: Sequence[Sequence[int]]) -> np.ndarray:
        """The action (in this env's action mode) asking for these targets, one per stage.

        A stage's target is (replicas, cores, batch), or with variants the replicas of each
        variant slot, then cores and batch (see :class:`~themis_env.envs.actions.StageLimits`).

        Targets outside a stage's limits are clamped to them; in the delta mode the action is one
        step from the current targets toward ``targets``.

        Raises:
            PolicyError: if a target does not have the stage's number of entries (a policy
                written for stages without variants, run on a scenario with variants).
        """
        width = self.codec.width
        if any(len(t) != width for t in targets) or len(targets) != self.n_stages:
            raise PolicyError(
                f"targets {[list(t) for t in targets]!r} do not fit scenario "
                f"{self.scenario.name!r}: it needs {self.n_stages} targets of {width} values "
                f"({', '.join(self.stage_limits[0].knobs)})"
                + ("; this policy does not handle model variants" if width > 3 else "")
            )
        return self.codec.encode(targets, self.current_targets)

    def free_cores(self) -> np.ndarray:
        """Free cores per node now [cores] (the observation's ``free_cores``, unclipped)."""
        return self.sim.free_cores()

    def unresized_replicas(self) -> np.ndarray:
        """Per stage, replicas whose in-place resize to the stage's cores was not accepted.

        They keep their old cores: Deferred or Infeasible (Kubernetes's PodResizePending)
        under ``cluster.resize_policy: defer``, failed under ``fail``; a policy reads them as
        an autoscaler reads its pods' resize status.
        """
        return self.sim.unresized_replicas()

    def obs_as_dict(self, obs: Obs) -> dict[str, np.ndarray]:
        """The dict form of an observation of this env (flat or dict)."""
        return self.layout.as_dict(obs)

    @property
    def episode_rates(self) -> np.ndarray:
        """Privileged: the episode's true arrival rates [req/s] (for oracle and static policies)."""
        if self.workload is None:
            raise gym.error.ResetNeeded("call reset() before reading episode_rates")
        return self.workload.rates

    def future_rates(self, horizon_s: int) -> np.ndarray:
        """Privileged: the trace's rates for the next ``horizon_s`` seconds (zeros past its end)."""
        rates = self.episode_rates
        start = int(math.floor(self.sim.time + 1e-9))
        window = rates[start : start + horizon_s]
        return np.pad(window, (0, horizon_s - len(window)))

    def action_masks(self) -> np.ndarray:
        """Flat boolean mask over the MultiDiscrete values that fit the cluster now.

        The layout is sb3-contrib ``MaskablePPO``'s: the masks of each action entry,
        concatenated. Target form: replica counts whose extra replicas (at the stage's current
        cores) can be placed on the nodes, core counts whose growth fits the free cores, every
        batch size. Delta form: steps that stay within the limits and, for growth, fit. Each
        knob is judged alone; the current value (and "keep") is always allowed.

        Raises:
            PolicyError: for the continuous action mode, which has no masks.
            ResetNeeded: before the first ``reset()``.
        """
        if self.workload is None:
            raise gym.error.ResetNeeded("call reset() before action_masks()")
        return self.codec.masks(self.current_targets, self.free_cores())

    # ------------------------------------------------------------------ gym API
    def reset(
        self, *, seed: int | None = None, options: Mapping[str, Any] | None = None
    ) -> tuple[Obs, dict[str, Any]]:
        """Start an episode; see the class docstring for ``options``."""
        super().reset(seed=seed)
        opts = _reset_options(options)
        self.workload = episode_rates(
            self.scenario.trace,
            duration_s=opts.get("episode_s", self.scenario.episode_s),
            rng=self.np_random,
            start_s=opts.get("start_s"),
            random_window=opts.get("random_window", False),
            trace_dir=self.trace_dir,
        )
        self._episode_s = len(self.workload.rates)
        try:  # the window's length when the episode's was not given (or came from options)
            check_episode_length(self.decision_interval_s, self._episode_s)
        except ValueError as exc:
            raise ConfigError(f"scenario {self.scenario.name!r}: {exc}") from None
        self.sim.reset(self.np_random, self.workload.rates, self._initial)
        self._steps = 0
        self._last_stats = None
        self._history = []
        return self._observation(), self._info()

    def step(self, action: np.ndarray) -> tuple[Obs, float, bool, bool, dict[str, Any]]:
        """Apply ``action``, advance one decision interval, return the Gymnasium 5-tuple."""
        if self.workload is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        # The common case, an int64 target-mode action, goes to the simulator as it is (the
        # kernel adds the knobs' lows and checks the limits; the codec explains a rejection).
        lows = self._action_lows
        if (
            lows is not None
            and type(action) is np.ndarray
            and action.dtype is _INT64
            and action.shape == self._action_shape
            and action.flags.carray
        ):
            values, offset, clamped = action, lows, 0
        else:
            decoded, clamped = self.codec.decode_values(action, self.sim.targets.ravel().tolist())
            values, offset = np.array(decoded, dtype=np.int64), None
        sim = self.sim
        buf = np.empty(self._obs_size, dtype=np.float32)
        try:
            interval = sim.run_interval(
                values, self.decision_interval_s, buf, self._obs_high, offset
            )
        except ValueError:
            self.codec.decode(action, self.current_targets)  # raises InvalidActionError
            raise
        self._last_stats = interval
        duration = interval.t1 - interval.t0
        cost, cost_rate, accuracy = reward_inputs(
            self._memory_equivalent,
            self._has_accuracy,
            interval.core_seconds,
            interval.memory_cost,
            interval.accuracy_sum,
            interval.completed,
            duration,
        )
        reward, slo_term, weighted_cost, accuracy_term = step_reward(
            self.scenario.reward,
            interval.violation,
            cost_rate,
            self._cost_scale,
            accuracy if self._has_accuracy else None,
        )
        self._steps += 1
        truncated = interval.t1 >= self._episode_s - 1e-9 or (
            self.max_episode_steps is not None and self._steps >= self.max_episode_steps
        )
        done = interval.completed > 0
        # Latencies of an interval with no completion are 0 (not NaN) so infos compare equal
        # across seeded runs; "completions" tells the two cases apart.
        p50 = interval.latency_p50_ms if done else 0.0
        p95 = interval.latency_p95_ms if done else 0.0
        p99 = interval.latency_p99_ms if done else 0.0
        workload = self.workload
        info = {
            "sim_time_s": interval.t1,  # the simulator's time now
            "trace_uri": workload.uri,
            "trace_fallback": workload.fallback,
            **self._target_info(),
            "arrivals": int(interval.arrived),
            "completions": int(interval.completed),
            "late": int(interval.late),
            "dropped": int(interval.dropped),
            "violation": interval.violation,
            "latency_p50_ms": p50,
            "latency_p95_ms": p95,
            "latency_p99_ms": p99,
            "cores_allocated": interval.core_seconds / duration,
            "cost": cost,
            "queue_len": sim.queue_len.tolist(),
            "horizontal_actions": interval.horizontal_actions,
            "vertical_actions": interval.vertical_actions,
            "failed_resizes": interval.failed_resizes,
            "pending_replicas": interval.pending,
            "clamped": clamped,
            "reward_terms": {"slo": -slo_term, "cost": -weighted_cost},
        }
        if self._defers_resizes:
            info["deferred_resizes"], info["infeasible_resizes"] = sim.resize_status()
        if self._has_accuracy:
            info["accuracy"] = accuracy
            info["reward_terms"]["accuracy"] = accuracy_term
        if self.render_mode == "rgb_array":
            self._history.append(self._timeline_point(interval))
        if truncated:
            info["episode_kpis"] = self.episode_kpis()
        obs = buf if self.obs_mode == "flat" else self.layout.views(buf)
        return obs, reward, False, truncated, info

    def episode_kpis(self) -> dict[str, Any]:
        """The episode's KPIs so far (complete at truncation)."""
        kpis: dict[str, Any] = self.sim.episode_kpis()
        kpis["cost"] = (
            kpis["cost_memory_equivalent"] if self._memory_equivalent else kpis["cost_core_seconds"]
        )
        kpis["trace_fallback"] = bool(self.workload.fallback) if self.workload else False
        return kpis

    # ------------------------------------------------------------------ obs / info
    def _observation(self) -> Obs:
        """The observation at reset: the initial configuration, nothing measured yet.

        After a step the observation is the simulator's monitoring vector, which
        ``Simulator.run_interval`` writes from the same sources in its compiled call.
        """
        state = self.sim.state
        values = {
            "replicas": state.replicas,
            "replicas_ready": state.ready,
            "replicas_starting": state.starting,
            "replicas_pending": state.pending,
            "cores": state.cores,
            "batch": state.batch,
            "queue_len": state.queue_len,
            "utilisation": 0.0,
            "arrival_rate": self.sim.rate_history,
            "latency_ms": (0.0, 0.0, 0.0),
            "violation": 0.0,
            "free_cores": state.free_cores,
        }
        if self.n_variants > 1:
            values["variant_replicas"] = self.sim.variant_replicas().reshape(-1)
            values["accuracy"] = 0.0
        return self.layout.build(values, self.obs_mode)

    def _info(self) -> dict[str, Any]:
        """The ``info`` of ``reset``: time, trace and targets (``step`` adds the interval's)."""
        workload = self.workload
        assert workload is not None
        return {
            "sim_time_s": self.sim.time,
            "trace_uri": workload.uri,
            "trace_fallback": workload.fallback,
            **self._target_info(),
        }

    def _target_info(self) -> dict[str, Any]:
        """The targets in force for ``info``: replicas (per stage), cores and batch.

        With variants, ``replicas`` is each stage's total and ``variant_replicas`` the
        replicas of each variant slot.
        """
        v = self.n_variants
        targets = self.sim.targets
        if v == 1:
            replicas, cores, batch = targets.T.tolist()
            return {"replicas": replicas, "cores": cores, "batch": batch}
        return {
            "replicas": targets[:, :v].sum(axis=1).tolist(),
            "variant_replicas": targets[:, :v].tolist(),
            "cores": targets[:, v].tolist(),
            "batch": targets[:, v + 1].tolist(),
        }

    # ------------------------------------------------------------------ rendering
    def _capacity_rps(self) -> float:
        state = self.sim.state
        ready = self.sim.variant_replicas(ready=True)
        caps = []
        for s, models in enumerate(self.pipeline.stage_models):
            b, c = int(state.batch[s]), int(state.cores[s])
            caps.append(
                sum(int(ready[s, v]) * m.latency.throughput_rps(b, c) for v, m in enumerate(models))
            )
        return float(min(caps))

    def _timeline_point(self, stats: IntervalSummary) -> dict[str, Any]:
        v = self.n_variants
        replicas = [sum(d[:v]) for d in self.current_targets]
        return {
            "t": stats.t1,
            "load": stats.arrived / (stats.t1 - stats.t0),
            "capacity": self._capacity_rps(),
            "cores": [d[v] * n for d, n in zip(self.current_targets, replicas, strict=True)],
            "replicas": replicas,
            "p99": stats.latency_p99_ms if stats.completed else math.nan,
        }

    def render(self) -> str | np.ndarray | None:
        """A status line (``"ansi"``) or a timeline image (``"rgb_array"``, H×W×3 uint8)."""
        if self.render_mode == "ansi":
            return self._render_ansi()
        if self.render_mode == "rgb_array":
            return self._render_timeline()
        return None

    def _render_ansi(self) -> str:
        v = self.n_variants
        stages = " ".join(
            f"{lim.name}={'+'.join(map(str, d[: max(len(lim.variants), 1)]))}x{d[v]}c/b{d[v + 1]}"
            for lim, d in zip(self.stage_limits, self.current_targets, strict=True)
        )
        stats = self._last_stats
        if stats is None:
            return f"t={self.sim.time if self.workload else 0.0:.1f}s {stages}"
        p99 = f"{stats.latency_p99_ms:.0f}ms" if stats.completed else "-"
        return (
            f"t={stats.t1:.1f}s load={stats.arrived / (stats.t1 - stats.t0):.1f}rps {stages} "
            f"p99={p99} slo={self.slo_ms:.0f}ms viol={stats.violation:.2f} "
            f"cores={stats.cores_allocated:.1f}"
        )

    def _render_timeline(self) -> np.ndarray:
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError as exc:  # depends on the install
            raise DependencyNotInstalled(
                'rgb_array rendering needs matplotlib: pip install "themis-env[plots]"'
            ) from exc
        # A bare Figure with an Agg canvas: no pyplot, so no global backend switch.
        fig = Figure(figsize=(6, 4.5), dpi=80)
        canvas = FigureCanvasAgg(fig)
        axes = fig.subplots(3, 1, sharex=True)
        h = self._history
        t = [p["t"] for p in h]
        axes[0].plot(t, [p["load"] for p in h], label="load [req/s]")
        axes[0].plot(t, [p["capacity"] for p in h], label="capacity [req/s]")
        for s, lim in enumerate(self.stage_limits):
            axes[1].step(t, [p["cores"][s] for p in h], where="post", label=f"{lim.name} cores")
            axes[1].step(
                t,
                [p["replicas"][s] for p in h],
                where="post",
                linestyle=":",
                label=f"{lim.name} replicas",
            )
        axes[2].plot(t, [p["p99"] for p in h], label="p99 [ms]")
        axes[2].axhline(self.slo_ms, color="red", linestyle="--", label="SLO")
        axes[2].set_xlabel("time [s]")
        for ax in axes:
            ax.legend(loc="upper left", fontsize=7)
        fig.tight_layout()
        canvas.draw()
        return np.asarray(canvas.buffer_rgba())[:, :, :3].copy()

    def describe(self) -> dict[str, Any]:
        """The scenario as plain data (for records)."""
        return to_plain(self.scenario)


def _stage_target(values: Sequence[int]) -> StageDecision:
    """A stage's target: a StageDecision, or with variants the tuple of its entries."""
    if len(values) == 3:
        return StageDecision(*values)
    return tuple(values)  # type: ignore[return-value]


def _check_choice(what: str, value: object, allowed: list[str]) -> None:
    if value not in allowed:
        raise ConfigError(
            f"{what} = {value!r} is not allowed; choose one of {allowed}."
            f"{did_you_mean(str(value), allowed)}"
        )


def _reset_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validated ``reset`` options (unknown keys and bad values raise ConfigError)."""
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise ConfigError(f"reset options must be a mapping, got {options!r}")
    out: dict[str, Any] = {}
    for key, value in options.items():
        if key not in RESET_OPTIONS:
            raise ConfigError(
                f"reset option {key!r} is not allowed; allowed: {list(RESET_OPTIONS)}."
                f"{did_you_mean(str(key), RESET_OPTIONS)}"
            )
        if key == "random_window":
            if not isinstance(value, bool):
                raise ConfigError(f"reset option 'random_window' = {value!r} must be true or false")
        elif value is not None:
            ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
            lowest = 0 if key == "start_s" else 1
            if not ok or value < lowest:
                raise ConfigError(
                    f"reset option {key!r} = {value!r} must be a whole number of seconds >= "
                    f"{lowest}"
                )
            value = int(value)
        out[key] = value
    if out.get("random_window") and out.get("start_s") is not None:
        raise ConfigError("reset options 'start_s' and 'random_window' exclude each other")
    return out
