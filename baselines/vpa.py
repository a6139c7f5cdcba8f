"""The Kubernetes Vertical Pod Autoscaler (VPA) on CPU, as a baseline policy.

One VPA per stage, after the VPA recommender and updater of ``kubernetes/autoscaler@55c37cd``
(VPA 1.8.0), ``vertical-pod-autoscaler/pkg/``: ``recommender/logic/{recommender,estimator}.go``,
``recommender/util/{histogram,histogram_options,decaying_histogram}.go``,
``recommender/model/aggregations_config.go``, ``recommender/config/config.go`` and
``updater/{config,priority,restriction}/``:

* **Recommender**, every minute: adds one CPU usage sample per ready pod (the env
  measures usage on ready replicas; the value is the metrics-server window, see
  :class:`themis_env.baselines.hpa.MetricsWindow`) to a decaying histogram
  (:class:`DecayingHistogram`: exponential buckets from 0.01 core growing 5 %, weight 0.1 ×
  2^(age/half-life)), then target = P90 × 1.15, lower bound = P50 × 1.15 × (1 + 0.001/conf)⁻²,
  upper bound = P95 × 1.15 × (1 + 1/conf), with conf = min(history span, samples/1440 per
  day) in units of the confidence interval (one day); each at least 25 millicores. The env's
  cores are whole numbers, so target and bounds are rounded up to whole cores (the VPA's
  ``integerCPU`` post-processor) and capped to [1, the stage's max cores] (``minAllowed`` /
  ``maxAllowed`` of the VPA's resource policy).
* **Updater**, every minute: a stage is updated only when its request lies outside
  [lower, upper] (or, for pods older than 12 h, differs from the target by ≥ 10 %), and only
  if it runs at least ``min_replicas`` (2) pods, within the eviction budget
  (tolerance ⌊0.5 · replicas⌋, at least one pod when all run).

How an update reaches the env, per mode:

* ``InPlaceOrRecreate``: an in-place resize through the env's cores knob (KEP-1287). The env
  resizes every replica of a stage together; the real updater does the same when run with
  ``--in-place-skip-disruption-budget`` (and CPU ``resizePolicy: NotRequired``), which the
  ``fast`` preset sets. Without it (``faithful``), the budget and the two-replica minimum gate
  the update, and once one pod may be resized the env resizes them all (the real updater would
  spread them over ⌈replicas / budget⌉ one-minute loops). A resize the node cannot fit stays
  deferred in the env and is retried while the target stands; the updater's fallback to
  eviction after 5 min deferred is not modelled (the deferral is not observable, and a
  replacement pod would need the same free cores).
* ``Recreate``: eviction. The updater evicts as many pods as the budget allows (``k``); the
  ReplicaSet recreates them at once and the admission controller gives them the target, so
  they pay a cold start. In the env a wave is two decisions: replicas R − k (the evicted pods
  leave; they finish the batch in service), then, one decision interval later, replicas R with
  the new cores — k new replicas cold-start. The env has one core count per stage, so the
  surviving replicas take the new size in place at the first wave (an approximation of a
  rollout that mixes sizes); the next updater loops evict the remaining old pods in further
  waves of k, each paying its cold start, until all R were replaced. Eviction never takes a
  stage below its ``min_replicas`` limit in the env (a single-replica stage is skipped anyway
  by the updater's two-replica minimum).

Replicas (apart from the eviction waves) and batch sizes stay at their initial values. On a
stage with model variants the VPA scales one variant (it has no notion of variants): the one the
initial configuration runs (its most replicated), or the ``variant`` parameter's (name or index);
the first decision moves the replicas there if it differs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any, NamedTuple

import numpy as np
from themis_env.baselines.base import Policy
from themis_env.baselines.hpa import MetricsWindow, requested_targets
from themis_env.baselines.variants import variant_index, variant_target

from themis_env.envs.views import policy_view
from themis_env.errors import PolicyError, did_you_mean

__all__ = [
    "VPAPolicy",
    "VPAPreset",
    "PRESETS",
    "MODES",
    "DecayingHistogram",
    "CpuAggregate",
    "Recommendation",
    "recommend",
    "whole_core_recommendation",
    "eviction_budget",
]

_EPS = 1e-9
MODES = ("Recreate", "InPlaceOrRecreate")
DAY_S = 86400.0


# ------------------------------------------------------------------------------- histogram
class DecayingHistogram:
    """The VPA's CPU histogram: exponential buckets, exponentially decaying sample weights.

    Bucket i starts at ``first · (ratio^i − 1)/(ratio − 1)``; a percentile returns the end of
    the bucket where the cumulative weight reaches the fraction (the start of the last bucket
    for the last one). A sample at time t weighs ``w · 2^((t − t_ref)/half_life)``: newer
    samples weigh more, which is the same as older ones decaying. The reference time is moved
    (and the weights rescaled) when the exponent would exceed 100, as upstream.

    Args:
        half_life_s: Half-life of a sample's weight [s] (24 h upstream).
        first_bucket: Size of the first bucket [cores] (0.01).
        ratio: Growth of each bucket over the previous one (1.05).
        max_value: Largest value the buckets cover [cores] (1000).
        epsilon: Weight below which a bucket counts as empty (1e-4).
    """

    MAX_DECAY_EXPONENT = 100

    def __init__(
        self,
        half_life_s: float,
        first_bucket: float = 0.01,
        ratio: float = 1.05,
        max_value: float = 1000.0,
        epsilon: float = 1e-4,
    ) -> None:
        self.half_life_s = float(half_life_s)
        self.first_bucket = float(first_bucket)
        self.ratio = float(ratio)
        self.epsilon = float(epsilon)
        self.n_buckets = (
            int(math.ceil(math.log(max_value * (ratio - 1) / first_bucket + 1) / math.log(ratio)))
            + 1
        )
        self.weights = np.zeros(self.n_buckets)
        self.total_weight = 0.0
        self.reference_s: float | None = None

    def bucket(self, value: float) -> int:
        """Index of the bucket holding ``value`` [cores]."""
        if value < self.first_bucket:
            return 0
        index = int(
            math.log(value * (self.ratio - 1) / self.first_bucket + 1) / math.log(self.ratio)
        )
        return min(index, self.n_buckets - 1)

    def bucket_start(self, index: int) -> float:
        """Lower edge of bucket ``index`` [cores]."""
        if index == 0:
            return 0.0
        return self.first_bucket * (self.ratio**index - 1) / (self.ratio - 1)

    def _decay_factor(self, t: float) -> float:
        if (
            self.reference_s is None
            or t > self.reference_s + self.half_life_s * self.MAX_DECAY_EXPONENT
        ):
            new_reference = round(t / self.half_life_s) * self.half_life_s
            if self.reference_s is not None:
                exponent = round((self.reference_s - new_reference) / self.half_life_s)
                self.weights *= 2.0**exponent
                self.total_weight *= 2.0**exponent
            self.reference_s = new_reference
        return 2.0 ** ((t - self.reference_s) / self.half_life_s)

    def add_sample(self, value: float, weight: float, t: float) -> None:
        """Add ``value`` [cores] measured at ``t`` [s] with base ``weight``."""
        if weight < 0:
            raise ValueError(f"sample weight {weight} must be >= 0")
        w = weight * self._decay_factor(t)
        self.weights[self.bucket(value)] += w
        self.total_weight += w

    def is_empty(self) -> bool:
        """True when no bucket holds at least ``epsilon`` weight."""
        return not bool(np.any(self.weights >= self.epsilon))

    def percentile(self, fraction: float) -> float:
        """Smallest bucket end with at least ``fraction`` of the weight at or below it [cores]."""
        if self.is_empty():
            return 0.0
        nonempty = np.flatnonzero(self.weights >= self.epsilon)
        lo, hi = int(nonempty[0]), int(nonempty[-1])
        threshold = fraction * self.total_weight
        partial = 0.0
        index = lo
        while index < hi:
            partial += self.weights[index]
            if partial >= threshold:
                break
            index += 1
        if index < self.n_buckets - 1:
            return self.bucket_start(index + 1)
        return self.bucket_start(index)


class CpuAggregate:
    """CPU history of one stage's containers (``AggregateContainerState``, CPU part).

    Args:
        half_life_s: Histogram half-life [s].
    """

    def __init__(self, half_life_s: float) -> None:
        self.histogram = DecayingHistogram(half_life_s)
        self.first_sample_s: float | None = None
        self.last_sample_s: float | None = None
        self.total_samples = 0

    def add_sample(self, usage_cores: float, t: float, weight: float = 0.1) -> None:
        """One container's usage [cores] over a window starting at ``t`` [s]."""
        self.histogram.add_sample(usage_cores, weight, t)
        if self.first_sample_s is None or t < self.first_sample_s:
            self.first_sample_s = t
        if self.last_sample_s is None or t > self.last_sample_s:
            self.last_sample_s = t
        self.total_samples += 1

    def confidence(self, interval_s: float = DAY_S, sample_period_s: float = 60.0) -> float:
        """min(history span, sample count × sample period) in units of ``interval_s``.

        Upstream: min(days between first and last sample, samples / 1440) — one sample a minute
        for a day gives 1.
        """
        if self.first_sample_s is None or self.last_sample_s is None:
            return 0.0
        span = (self.last_sample_s - self.first_sample_s) / interval_s
        amount = self.total_samples * sample_period_s / interval_s
        return min(span, amount)


# -------------------------------------------------------------------------- recommendation
class Recommendation(NamedTuple):
    """CPU recommendation of one container [cores]."""

    lower: float
    target: float
    upper: float


def recommend(
    aggregate: CpuAggregate,
    *,
    confidence_interval_s: float = DAY_S,
    sample_period_s: float = 60.0,
    margin: float = 0.15,
    target_percentile: float = 0.9,
    lower_percentile: float = 0.5,
    upper_percentile: float = 0.95,
    min_cpu: float = 0.025,
) -> Recommendation | None:
    """The recommender's CPU estimate: percentile → margin → confidence → minimum.

    Returns:
        None while the histogram is empty (no recommendation yet).
    """
    hist = aggregate.histogram
    if hist.is_empty():
        return None
    conf = aggregate.confidence(confidence_interval_s, sample_period_s)
    scale = 1.0 + margin
    target = hist.percentile(target_percentile) * scale
    if conf > 0:
        lower = hist.percentile(lower_percentile) * scale * (1.0 + 0.001 / conf) ** -2.0
        upper = hist.percentile(upper_percentile) * scale * (1.0 + 1.0 / conf)
    else:
        lower, upper = 0.0, math.inf
    return Recommendation(max(lower, min_cpu), max(target, min_cpu), max(upper, min_cpu))


def whole_core_recommendation(
    rec: Recommendation, min_allowed: int, max_allowed: int
) -> tuple[int, int, int]:
    """(lower, target, upper) rounded up to whole cores and capped to [min_allowed, max_allowed]."""

    def whole(value: float) -> int:
        # Capping at a whole number commutes with rounding up, and keeps an infinite bound finite.
        capped = min(max(value, float(min_allowed)), float(max_allowed))
        return int(math.ceil(capped - 1e-9))

    return whole(rec.lower), whole(rec.target), whole(rec.upper)


def eviction_budget(configured: int, running: int, tolerance_fraction: float = 0.5) -> int:
    """Pods of one controller the updater may disrupt in one loop (``isPodDisruptable``).

    Args:
        configured: The controller's ``spec.replicas``.
        running: Its pods not Pending.
        tolerance_fraction: ``--eviction-tolerance``.
    """
    tolerance = int(configured * tolerance_fraction)
    evicted = 0
    while (running - evicted > configured - tolerance) or (
        configured == running and tolerance == 0 and evicted == 0
    ):
        evicted += 1
        if evicted >= running:
            break
    return evicted


# --------------------------------------------------------------------------------- presets
@dataclass(frozen=True)
class VPAPreset:
    """Timing and gating of the recommender and updater.

    Attributes:
        half_life_s: Histogram half-life [s].
        confidence_interval_s: History that gives confidence 1 [s] (one day upstream).
        recommender_interval_s: Recommender loop [s].
        updater_interval_s: Updater loop [s].
        pod_lifetime_threshold_s: Pods older than this are updated on a ≥ 10 % change even
            inside the bounds [s].
        update_threshold: That relative change (``--pod-update-threshold``).
        min_replicas: Controllers with fewer live pods are never updated (``--min-replicas``).
        eviction_tolerance: Fraction of pods that may be disrupted at once.
        in_place_skip_disruption_budget: In-place resizes ignore the budget and the minimum.
    """

    half_life_s: float
    confidence_interval_s: float
    recommender_interval_s: float = 60.0
    updater_interval_s: float = 60.0
    pod_lifetime_threshold_s: float = 12 * 3600.0
    update_threshold: float = 0.1
    min_replicas: int = 2
    eviction_tolerance: float = 0.5
    in_place_skip_disruption_budget: bool = False


PRESETS: dict[str, VPAPreset] = {
    # Upstream defaults: reacts to sustained changes over hours.
    "faithful": VPAPreset(half_life_s=DAY_S, confidence_interval_s=DAY_S),
    # Minutes instead of the recommender's one-day half-life and confidence interval, so the
    # VPA acts within an episode (with the defaults it follows changes sustained over hours).
    "fast": VPAPreset(
        half_life_s=300.0, confidence_interval_s=600.0, in_place_skip_disruption_budget=True
    ),
}


def _check_preset(p: VPAPreset) -> None:
    for key in (
        "half_life_s",
        "confidence_interval_s",
        "recommender_interval_s",
        "updater_interval_s",
    ):
        if getattr(p, key) <= 0:
            raise PolicyError(f"vpa: {key} = {getattr(p, key)} must be > 0")
    if p.pod_lifetime_threshold_s < 0 or p.update_threshold < 0:
        raise PolicyError("vpa: pod_lifetime_threshold_s and update_threshold must be >= 0")
    if not 0 <= p.eviction_tolerance <= 1:
        raise PolicyError(f"vpa: eviction_tolerance = {p.eviction_tolerance} must be in [0, 1]")
    if p.min_replicas < 1:
        raise PolicyError(f"vpa: min_replicas = {p.min_replicas} must be >= 1")


# ---------------------------------------------------------------------------------- policy
class VPAPolicy(Policy):
    """Kubernetes VPA on CPU, one per stage; replicas and batch stay at their initial values.

    **Observes** (per stage): ``utilisation`` × ``cores`` (CPU usage per ready pod, through a
    15 s metrics window one window old), ``cores`` (the request), ``replicas`` (running pods),
    ``replicas_ready`` (pods that report usage) and ``replicas_pending``. No latency model,
    no trace.

    **Parameters:**

    * ``mode`` = ``"InPlaceOrRecreate"``: or ``"Recreate"`` (the upstream default update mode;
      see the module docstring for how each reaches the env).
    * ``preset`` = ``"fast"``: ``"faithful"`` is upstream (24 h half-life and confidence
      interval, 1 min loops, 12 h lifetime threshold, ``--min-replicas`` 2, eviction tolerance
      0.5, no in-place budget skip); within a minutes-long episode it barely moves, by design.
      ``"fast"`` has a 5 min half-life and 10 min confidence interval and skips the in-place
      disruption budget; every other value as upstream.
    * Any :class:`VPAPreset` field overrides the preset (``half_life_s=600``, ...).
    * ``metrics_window_s`` = 15, ``metrics_lag_s`` = 15: the metrics-server window.
    * ``margin`` = 0.15, ``min_cpu`` = 0.025 cores: recommender safety margin and minimum.
    * ``variant`` = None: on stages with model variants, the variant scaled (name or index);
      None keeps the initial configuration's.

    **Source:** the VPA docs in ``kubernetes/autoscaler`` (``docs/quickstart.md``: update
    modes; ``docs/features.md``: in-place updates, their budget and fallbacks;
    ``docs/faq.md``: why a single-pod ReplicaSet is not updated), the Kubernetes task "Resize
    CPU and Memory Resources assigned to Containers" (in-place resize, KEP-1287), and the
    recommender and updater code of ``kubernetes/autoscaler@55c37cd`` named in the module
    docstring.
    """

    name = "vpa"
    privileged = False

    def __init__(
        self,
        env: Any,
        *,
        mode: str = "InPlaceOrRecreate",
        preset: str = "fast",
        metrics_window_s: float = 15.0,
        metrics_lag_s: float = 15.0,
        margin: float = 0.15,
        min_cpu: float = 0.025,
        variant: str | int | None = None,
        **overrides: Any,
    ) -> None:
        if mode not in MODES:
            raise PolicyError(
                f"vpa: mode = {mode!r} is not allowed.{did_you_mean(mode, MODES)} "
                f"Choose one of {list(MODES)}"
            )
        if preset not in PRESETS:
            raise PolicyError(
                f"vpa: preset = {preset!r} is not allowed.{did_you_mean(preset, PRESETS)} "
                f"Choose one of {list(PRESETS)}"
            )
        fields = set(asdict(PRESETS[preset]))
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise PolicyError(
                f"vpa: unknown parameter(s) {unknown}; preset fields are {sorted(fields)}"
            )
        self.preset = replace(PRESETS[preset], **overrides)
        _check_preset(self.preset)
        if metrics_window_s <= 0 or metrics_lag_s < 0 or margin < 0 or min_cpu < 0:
            raise PolicyError(
                "vpa: metrics_window_s must be > 0; metrics_lag_s, margin and min_cpu >= 0"
            )
        super().__init__(
            env,
            mode=mode,
            preset=preset,
            metrics_window_s=metrics_window_s,
            metrics_lag_s=metrics_lag_s,
            margin=margin,
            min_cpu=min_cpu,
            **({} if variant is None else {"variant": variant}),
            **overrides,
        )
        self.mode = mode
        self.view = policy_view(env)
        self.n_stages = int(self.view.n_stages)
        self.dt = float(self.view.decision_interval_s)
        self.window_s = float(metrics_window_s)
        self.lag_s = float(metrics_lag_s)
        self.margin = float(margin)
        self.min_cpu = float(min_cpu)
        self.recommender_steps = max(
            1, int(math.ceil(self.preset.recommender_interval_s / self.dt - _EPS))
        )
        self.updater_steps = max(1, int(math.ceil(self.preset.updater_interval_s / self.dt - _EPS)))
        limits = self.view.stage_limits
        cores_per_node = int(self.view.cluster.cores_per_node)
        self.max_allowed = [min(lim.max_cores, cores_per_node) for lim in limits]
        self.stage_min_replicas = [lim.min_replicas for lim in limits]
        initial = [list(t) for t in self.view.current_targets]
        self.width = len(initial[0])
        # The variant slot each stage scales (0 on a stage without variants).
        self.slots = [
            0
            if not lim.variants
            else variant_index(lim, variant, self.name)
            if variant is not None
            else int(np.argmax(initial[s][: len(lim.variants)]))
            for s, lim in enumerate(limits)
        ]
        self.reset()

    def reset(self) -> None:
        """Forget the episode: histograms, recommendations and rollouts."""
        self._calls = 0
        self._targets: list[list[int]] | None = None
        self._metrics = MetricsWindow(self.n_stages, self.window_s, self.lag_s, self.dt)
        self._aggregates = [CpuAggregate(self.preset.half_life_s) for _ in range(self.n_stages)]
        self.recommendations: list[tuple[int, int, int] | None] = [None] * self.n_stages
        self._replicas = [0] * self.n_stages  # the configured replicas (held)
        self._old_pods = [0] * self.n_stages  # Recreate: pods still at the old request
        self._old_request = [0] * self.n_stages
        self._recreate = [0] * self.n_stages  # Recreate: pods evicted last step, to recreate now
        self._new_cores = [0] * self.n_stages
        self._oldest_pod_s = [0.0] * self.n_stages  # start of the oldest pod (lifetime rule)
        self._rollout_start_s = [0.0] * self.n_stages

    def _start(self, obs: dict[str, np.ndarray]) -> None:
        self._targets = requested_targets(obs, self.n_stages)
        self._replicas = [t[0] for t in self._targets]

    def act(self, obs: Any) -> np.ndarray:
        """Targets for this step: resizes (or eviction waves) on updater loops, else held."""
        d = self.view.obs_as_dict(obs)
        if self._targets is None:
            self._start(d)
        assert self._targets is not None
        t = self._calls * self.dt
        for s in range(self.n_stages):
            if self._recreate[s]:
                # The ReplicaSet replaces the evicted pods; admission gives them the target.
                self._targets[s][0] = self._replicas[s]
                self._targets[s][1] = self._new_cores[s]
                self._recreate[s] = 0
        if self._calls > 0:
            self._metrics.record(
                t, np.asarray(d["utilisation"], float) * np.asarray(d["cores"], float)
            )
        if self._calls % self.recommender_steps == 0:
            self._recommender_loop(t, d)
        if self._calls % self.updater_steps == 0:
            self._updater_loop(t, d)
        self._calls += 1
        return self.view.encode_targets(
            [
                variant_target(self.width, [0] * slot + [replicas], cores, batch)
                for slot, (replicas, cores, batch) in zip(self.slots, self._targets, strict=True)
            ]
        )

    def _recommender_loop(self, t: float, d: dict[str, np.ndarray]) -> None:
        usage = self._metrics.read(t)
        if usage is None:
            return
        window_start = self._metrics.sample_end(t) - self.window_s
        ready = np.rint(d["replicas_ready"]).astype(int)
        for s in range(self.n_stages):
            for _ in range(int(ready[s])):  # one sample per pod that reports usage
                self._aggregates[s].add_sample(float(usage[s]), window_start)
            rec = recommend(
                self._aggregates[s],
                confidence_interval_s=self.preset.confidence_interval_s,
                sample_period_s=60.0,
                margin=self.margin,
                min_cpu=self.min_cpu,
            )
            self.recommendations[s] = (
                None if rec is None else whole_core_recommendation(rec, 1, self.max_allowed[s])
            )

    def _needs_update(self, s: int, t: float, request: int) -> bool:
        rec = self.recommendations[s]
        if rec is None:
            return False
        lower, target, upper = rec
        if request < lower or request > upper:
            return True
        old_enough = t - self._oldest_pod_s[s] >= self.preset.pod_lifetime_threshold_s
        return (
            old_enough
            and target != request
            and abs(request - target) / request >= self.preset.update_threshold
        )

    def _updater_loop(self, t: float, d: dict[str, np.ndarray]) -> None:
        assert self._targets is not None
        running = np.rint(d["replicas"]).astype(int)
        for s in range(self.n_stages):
            rec = self.recommendations[s]
            if rec is None or self._recreate[s]:
                continue
            configured = self._replicas[s]
            skip_budget = (
                self.mode == "InPlaceOrRecreate" and self.preset.in_place_skip_disruption_budget
            )
            if int(running[s]) < self.preset.min_replicas and not skip_budget:
                continue  # "too few replicas": the updater leaves this controller alone
            cores = self._targets[s][1]
            if self.mode == "InPlaceOrRecreate":
                if not self._needs_update(s, t, cores):
                    continue
                if (
                    skip_budget
                    or eviction_budget(configured, int(running[s]), self.preset.eviction_tolerance)
                    > 0
                ):
                    self._targets[s][1] = rec[1]
                continue
            # Recreate: continue a rollout while the old pods stay outside the bounds, or start one.
            if self._old_pods[s] > 0 and not self._needs_update(s, t, self._old_request[s]):
                self._old_pods[s] = 0  # the remaining old pods are acceptable now
            if self._needs_update(s, t, cores) and rec[1] != cores:
                self._old_pods[s] = int(running[s])
                self._old_request[s] = cores
                self._new_cores[s] = rec[1]
                self._rollout_start_s[s] = t
            elif self._old_pods[s] == 0:
                continue
            k = eviction_budget(configured, int(running[s]), self.preset.eviction_tolerance)
            k = min(k, self._old_pods[s], configured - self.stage_min_replicas[s])
            if k <= 0:
                continue
            self._targets[s][0] = configured - k
            self._recreate[s] = k
            self._old_pods[s] -= k
            if self._old_pods[s] == 0:
                self._oldest_pod_s[s] = self._rollout_start_s[s]
