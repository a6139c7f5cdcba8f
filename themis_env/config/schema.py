"""Typed configuration: models, pipelines, clusters and scenarios.

Every class is a frozen dataclass built from YAML by :func:`themis_env.config.validate.build`,
which rejects unknown keys and out-of-range values. Units are in the field names
(``_ms``, ``_s``, ``_gb``) and in the attribute docs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

from themis_env.config.validate import bounded
from themis_env.sim.latency import LatencyModel

__all__ = [
    "ENV_VERSION_DEFAULTS",
    "LATEST_ENV_VERSION",
    "AccuracyConfig",
    "check_episode_length",
    "ModelConfig",
    "StageConfig",
    "PipelineConfig",
    "ColdStartConfig",
    "ClusterConfig",
    "TraceSpec",
    "RewardConfig",
    "StageInit",
    "ScenarioConfig",
]


@dataclass(frozen=True)
class ModelConfig:
    """One profiled model: its latency model, pod memory and, for a variant, its accuracy.

    Attributes:
        name: Short model name.
        latency: The latency model (see :class:`themis_env.sim.latency.LatencyModel`).
        memory_gb: Memory request of one pod [GB], used by the memory-equivalent cost.
        accuracy: The model's published accuracy, higher is better (an error rate such as
            WER is given negated); None when the model is not used as a variant.
        accuracy_metric: The metric's name (``top-1``, ``mAP``, ``-WER``, ``ROUGE-L``, ...).
        load_time_s: Median cold start of a replica of this model [s] (its model-load
            time); None keeps the cluster's ``cold_start.median_s``. The cluster's cold-start
            distribution is kept and scaled to this median.
        description: Free text.
        source: Where the parameters come from.
    """

    name: str
    latency: LatencyModel
    memory_gb: float = bounded(1.0, gt=0)
    accuracy: float | None = bounded(None, omit_default=True)
    accuracy_metric: str = bounded("", omit_default=True)
    load_time_s: float | None = bounded(None, gt=0, omit_default=True)
    description: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        if self.accuracy is not None and not self.accuracy_metric:
            raise ValueError("'accuracy_metric' must name the metric of 'accuracy'")


@dataclass(frozen=True)
class StageConfig:
    """One stage of a pipeline as written in a pipeline file.

    A stage names either one ``model`` or several ``variants`` (IPA, InfAdapter): models
    doing the same task at different accuracy and cost, each replica running one of them.

    Attributes:
        name: Stage name.
        model: Model reference (``preset/name`` under ``configs/models`` or a YAML path).
        variants: Model references of a stage with several variants (instead of ``model``).
        max_cores: Largest core count of one replica (C_max).
        max_batch: Largest batch size (B_max).
        min_replicas: Fewest replicas a policy may ask for (of a one-model stage; each
            variant of a stage with several may be at 0).
        max_replicas: Most replicas a policy may ask for (of each variant; bounds the
            action space).
    """

    name: str
    model: str = bounded("", omit_default=True)
    variants: tuple[str, ...] = bounded((), omit_default=True)
    max_cores: int = bounded(8, ge=1, le=64)
    max_batch: int = bounded(8, ge=1, le=64)
    min_replicas: int = bounded(1, ge=1)
    max_replicas: int = bounded(32, ge=1, le=256)

    def __post_init__(self) -> None:
        if bool(self.model) == bool(self.variants):
            raise ValueError(
                f"stage {self.name!r} needs exactly one of 'model' (one model) and 'variants' "
                "(a list of models)"
            )
        if len(set(self.variants)) != len(self.variants):
            raise ValueError(f"stage {self.name!r}: 'variants' lists a model twice")

    @property
    def model_refs(self) -> tuple[str, ...]:
        """The stage's model references, its one model or its variants in order."""
        return self.variants or (self.model,)


@dataclass(frozen=True)
class AccuracyConfig:
    """How stage accuracies make one pipeline accuracy (IPA's accuracy objective).

    Metrics differ per task (mAP, top-1, −WER, ROUGE-L), so each is first normalised over its
    stage's variants, then the stages are combined.

    Attributes:
        normalise: ``none`` keeps the metric; ``max`` divides by the stage's best variant
            (the best is 1); ``range`` maps the stage's worst..best variants to 0..1 (a stage
            with one variant gives 1).
        combine: ``sum``, ``average`` or ``multiply`` of the stages' normalised accuracies.
    """

    normalise: Literal["none", "max", "range"] = "max"
    combine: Literal["sum", "average", "multiply"] = "sum"


@dataclass(frozen=True)
class PipelineConfig:
    """A chain of model stages with an end-to-end SLO and a dispatcher policy.

    Attributes:
        name: Pipeline name (video, sentiment, nlp, ...).
        slo_ms: End-to-end latency SLO [ms].
        stages: The stages, in request order.
        preset: The Themis parameter preset this file belongs to.
        batch_timeout_ms: Send a partial batch this long after its first request; None waits
            for a full batch.
        drop_after_slo: Drop a request taken from a queue at age ≥ this × SLO; None never drops.
        accuracy: How the stages' accuracies combine, when the models declare them.
        description: Free text.
    """

    name: str
    slo_ms: float = bounded(gt=0)
    stages: tuple[StageConfig, ...] = ()
    preset: str = ""
    batch_timeout_ms: float | None = bounded(None, gt=0)
    drop_after_slo: float | None = bounded(None, gt=0)
    accuracy: AccuracyConfig = bounded(AccuracyConfig(), omit_default=True)
    description: str = ""

    def __post_init__(self) -> None:
        if not self.stages:
            raise ValueError("'stages' must list at least one stage")
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ValueError(f"stage names must be unique, got {names}")


@dataclass(frozen=True)
class ColdStartConfig:
    """Time from creating a replica until it serves (model load, warm-up, readiness).

    Defaults: CPU CNN/BERT with the image pre-pulled, 8 s median, lognormal σ 0.3, clipped to
    5–20 s; our estimate from the Kubernetes pod-startup SLO (p99 ≤ 5 s without the image pull,
    kubernetes/community ``sig-scalability/slos/pod_startup_latency.md``) plus a model load
    (TF-Serving ResNets load in 6.4–8.5 s: ``load_times`` in
    ``reconfigurable-ml-pipeline/InfAdapter@398b18f:auto_tuner/starter.py``).

    Attributes:
        distribution: ``lognormal`` (median_s, sigma), ``uniform`` (min_s..max_s) or ``constant``.
        median_s: Median [s] (also the constant value).
        sigma: Lognormal shape.
        min_s: Lower clip [s].
        max_s: Upper clip [s].
    """

    distribution: Literal["lognormal", "uniform", "constant"] = "lognormal"
    median_s: float = bounded(8.0, ge=0)
    sigma: float = bounded(0.3, ge=0)
    min_s: float = bounded(5.0, ge=0)
    max_s: float = bounded(20.0, ge=0)

    def __post_init__(self) -> None:
        if self.min_s > self.max_s:
            raise ValueError(f"min_s ({self.min_s}) must be <= max_s ({self.max_s})")


@dataclass(frozen=True)
class ClusterConfig:
    """Nodes and actuation behaviour.

    Attributes:
        nodes: Number of worker nodes.
        cores_per_node: Allocatable cores of each node.
        resize_delay_s: Time for an in-place resize to take effect [s] (~0.5 s: the runtime
            update lands within 50 ms, kubernetes/kubernetes#112264, after the API write, watch
            and kubelet sync).
        cold_start: Cold-start distribution of a new replica.
        service_noise_cv: Coefficient of variation of a multiplicative lognormal noise
            (mean 1) on every batch service time; 0 is deterministic service.
        service_distribution: ``lognormal`` (the noise above) or ``exponential`` (service time
            ~ Exp with the latency model as mean; for validation against queueing theory).
        core_memory_gb: Memory-equivalent price of one core [GB] (18 in the 2025 code).
        placement: The node a new replica goes to: ``first-fit`` (the lowest node with room),
            ``spread`` (scored as kube-scheduler's default profile scores it, which spreads a
            stage's replicas over the nodes) or ``most-allocated`` (bin packing: the fullest
            node with room). See ``themis_env.sim.kernel._place`` for the plugins modelled.
        resize_policy: An in-place resize the node has no room for: ``fail`` (counted failed
            at every decision that asks for it again) or ``defer`` (as the kubelet does: it is
            Deferred, retried at every decision until the node has room, counted in
            ``info["deferred_resizes"]``, and a scale-in removes such a replica first; one
            asking for more cores than a node has is Infeasible, never done, counted in
            ``info["infeasible_resizes"]``). See ``themis_env.sim.kernel.reconcile``.

    The dataclass defaults of ``placement`` and ``resize_policy`` are the v0 dynamics (first
    fit, failed resizes), so configs written before they existed keep their meaning and hash.
    A scenario loaded for the current env version takes Kubernetes's behaviour where it leaves
    them out: ``spread`` and ``defer`` (:data:`ENV_VERSION_DEFAULTS`).
    """

    nodes: int = bounded(2, ge=1, le=1024)
    cores_per_node: int = bounded(32, ge=1)
    resize_delay_s: float = bounded(0.5, ge=0)
    cold_start: ColdStartConfig = ColdStartConfig()
    service_noise_cv: float = bounded(0.0, ge=0, le=2)
    service_distribution: Literal["lognormal", "exponential"] = "lognormal"
    core_memory_gb: float = bounded(18.0, ge=0)
    placement: Literal["first-fit", "spread", "most-allocated"] = bounded(
        "first-fit", omit_default=True
    )
    resize_policy: Literal["fail", "defer"] = bounded("fail", omit_default=True)


# The env's dynamics version → the scenario keys it sets where a scenario leaves them out
# (beneath the scenario file and keyword overrides). v0 is the dataclass defaults: first-fit
# placement and failed resizes. v1 places replicas as kube-scheduler's default profile does and
# defers resizes as the kubelet does. Plain config data (records, hashes) states the v1 values,
# so a record replays the same under any version.
ENV_VERSION_DEFAULTS: dict[int, dict[str, dict[str, str]]] = {
    0: {},
    1: {"cluster": {"placement": "spread", "resize_policy": "defer"}},
}
LATEST_ENV_VERSION = max(ENV_VERSION_DEFAULTS)


@dataclass(frozen=True)
class TraceSpec:
    """Where the load comes from.

    Attributes:
        uri: A trace URI or name (``twitter-2021-08``, ``synthetic:bursty?seed=0``, ``file:x.csv``).
        start_s: First second of the window.
        duration_s: Window length [s]; None takes the rest of the trace.
        divisor: Themis scaling, each value becomes round(max(1, x / divisor)); None keeps it.
        fallback_uri: Used, and said so in ``info``, when ``uri`` names a trace that is absent.
        sample_range: [first, last) seconds of the trace that random windows are drawn from
            (``reset(options={"random_window": True})``); None allows the whole trace.

    A plain string in place of the mapping is the ``uri`` alone (``trace: path.csv``).
    """

    STRING_KEY: ClassVar[str] = "uri"

    uri: str
    start_s: int = bounded(0, ge=0)
    duration_s: int | None = bounded(None, gt=0)
    divisor: float | None = bounded(None, gt=0)
    fallback_uri: str | None = None
    sample_range: tuple[int, int] | None = None


@dataclass(frozen=True)
class RewardConfig:
    """Reward = w_accuracy · accuracy − (w_slo · violation + w_cost · cost).

    cost = max(0, cores − cost_budget) / cost_scale.

    Attributes:
        w_slo: Weight of the interval's SLO violation (Themis definition, in [0, 1]).
        w_cost: Weight of the normalised cost.
        cost_scale: Cost per second that counts as 1 (cores, or GB for the memory-equivalent
            cost); None uses the whole cluster's, so the cost term lies in [0, 1].
        cost_budget: Cost per second that is free (same unit): only the cost above it is
            charged, which turns the cost term into a soft limit. 0 charges all of it.
        w_accuracy: Weight of the interval's pipeline accuracy (request-weighted over the
            requests completed in it, normalised as the pipeline declares; 0 when none
            completed). Needs a pipeline whose models declare accuracies; 0 leaves the
            reward as it was.
    """

    w_slo: float = bounded(1.0, ge=0)
    w_cost: float = bounded(0.2, ge=0)
    cost_scale: float | None = bounded(None, gt=0)
    cost_budget: float = bounded(0.0, ge=0)
    w_accuracy: float = bounded(0.0, ge=0, omit_default=True)


@dataclass(frozen=True)
class StageInit:
    """The configuration a stage starts an episode in (replicas start warm).

    Attributes:
        replicas: Replicas at reset.
        cores: Cores per replica at reset.
        batch: Batch size at reset.
        variant: Index of the variant the replicas run (in the stage's ``variants``).
    """

    replicas: int = bounded(1, ge=1)
    cores: int = bounded(1, ge=1)
    batch: int = bounded(1, ge=1)
    variant: int = bounded(0, ge=0, omit_default=True)


@dataclass(frozen=True)
class ScenarioConfig:
    """Everything one episode depends on.

    Attributes:
        name: Scenario name.
        pipeline: Pipeline reference (``themis-arxiv/video``) or YAML path.
        trace: The load.
        cluster: Nodes and actuation.
        decision_interval_s: Time between decisions [s]; k or 1/k seconds for a whole k.
        episode_s: Episode length [s]; None runs to the end of the trace window.
        slo_ms: Overrides the pipeline's SLO when set.
        arrival_process: ``poisson`` (Poisson counts, uniform times within each second) or
            ``exact`` (round(rate) requests per second at uniform times).
        cost: ``cores`` (Σ cores) or ``memory-equivalent`` (Σ memory_gb + core_memory_gb · cores).
        reward: Reward weights.
        initial: Per-stage state at reset; one entry applies to every stage.
        history_s: Seconds of arrival-rate history in the observation.
        description: Free text.
        tags: Labels used by suites (``paper``, ``smoke``, ...).
    """

    name: str
    pipeline: str
    trace: TraceSpec
    cluster: ClusterConfig = ClusterConfig()
    decision_interval_s: float = bounded(1.0, gt=0, le=3600)
    episode_s: int | None = bounded(None, gt=0)
    slo_ms: float | None = bounded(None, gt=0)
    arrival_process: Literal["poisson", "exact"] = "poisson"
    cost: Literal["cores", "memory-equivalent"] = "cores"
    reward: RewardConfig = RewardConfig()
    initial: tuple[StageInit, ...] = (StageInit(),)
    history_s: int = bounded(10, ge=1, le=600)
    description: str = ""
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        dt = self.decision_interval_s
        whole = abs(dt - round(dt)) < 1e-9
        fraction = abs(1.0 / dt - round(1.0 / dt)) < 1e-9
        if not (whole or fraction):
            raise ValueError(
                f"'decision_interval_s' = {dt} is not allowed; use a whole number of seconds "
                "or 1/k of a second (0.5, 0.25, 0.2, ...)"
            )
        if self.episode_s is not None:
            check_episode_length(dt, self.episode_s)


def check_episode_length(decision_interval_s: float, episode_s: float) -> None:
    """Check that decisions tile the episode: ``episode_s`` is a whole number of intervals.

    Otherwise the last decision would run past the episode's window, billing an empty tail.

    Raises:
        ValueError: naming both values and the episode lengths allowed.
    """
    dt = decision_interval_s
    steps = episode_s / dt
    if abs(steps - round(steps)) < 1e-9 and round(steps) >= 1:
        return
    if dt > episode_s:
        raise ValueError(
            f"'decision_interval_s' = {dt:g} exceeds 'episode_s' = {episode_s:g}; an episode "
            "holds at least one decision interval"
        )
    raise ValueError(
        f"'decision_interval_s' = {dt:g} does not divide 'episode_s' = {episode_s:g}: the "
        f"last decision would run {math.ceil(steps) * dt - episode_s:g} s past the episode; "
        f"use an 'episode_s' that is a multiple of {dt:g} (e.g. {math.floor(steps) * dt:g} "
        f"or {math.ceil(steps) * dt:g})"
    )
