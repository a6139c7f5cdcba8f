"""The Kubernetes Horizontal Pod Autoscaler (HPA) on CPU utilisation, as a baseline policy.

The algorithm follows the upstream controller, kubernetes/kubernetes
``pkg/controller/podautoscaler/``: ``replica_calculator.go`` (v1.33-era, per-direction
tolerances), ``horizontal.go`` (v1.20-era; a newer copy keeps its ``Behavior == nil`` branch),
``metrics/utilization.go`` and ``config/v1alpha1/defaults.go``, with the object defaults of
``pkg/apis/autoscaling/v2/defaults.go``; one HPA per stage:

1. **Metrics** (metrics-server v0.8.0 manifest: ``--metric-resolution=15s``): the
   metrics-server reports each pod's CPU usage averaged over a 15 s window, and the HPA reads
   a value one window old (15–30 s stale in all).
   :class:`MetricsWindow` keeps the per-step usage and answers with that lagged average.
2. **Pod sets** (``groupPods``): Pending pods and pods not Ready are *unready*; a pod
   without a full metric window since it started is *missing*; a Ready pod inside its 5 min CPU
   initialisation period whose metric window began before it became Ready is *unready*.
3. **Replica count** (``GetResourceReplicas``): utilisation = ⌊100·Σusage/Σrequest⌋ over
   the ready pods, ratio = utilisation/target. Within the tolerance (0.1) nothing changes;
   otherwise desired = ⌈ratio·ready⌉, unless missing pods, or unready pods on a scale-up, force
   the slow path: missing pods count as 0 usage on a scale-up and max(100 %, target) on a
   scale-down, unready pods as 0 on a scale-up (on a scale-down they are left out); the ratio
   is recomputed and the proposal dropped if it falls within tolerance or flips direction.
4. **Normalisation** (``normalizeDesiredReplicasWithBehaviors``, default rules): the recommendation
   is held between the min of the scale-up window (0 s) and the max of the scale-down window
   (300 s) of past raw proposals, then rate-limited: up by max(+4 pods, +100 %) per 15 s, down
   by 100 % per 15 s, counted from the scale events of the last period; clamped to
   [minReplicas, maxReplicas]. ``legacy=True`` takes the path of an HPA without ``behavior``
   (``normalizeDesiredReplicas``: max over 300 s, then at most max(2·current, 4) per sync).

Everything is sampled at the decision steps of the env: the HPA syncs every
⌈15 s / decision_interval⌉ steps and holds its targets in between.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from themis_env.baselines.base import Policy

from themis_env.envs.views import policy_view
from themis_env.errors import PolicyError

__all__ = [
    "HPAPolicy",
    "MetricsWindow",
    "requested_targets",
    "PodRecord",
    "PodTracker",
    "ScalingPolicy",
    "ScalingRules",
    "ScaleHistory",
    "group_pods",
    "resource_replicas",
    "normalize_with_behavior",
    "normalize_legacy",
]

_EPS = 1e-9


def requested_targets(obs: dict[str, np.ndarray], n_stages: int) -> list[list[int]]:
    """The spec an autoscaler starts from: per stage [replicas asked for, cores, batch].

    Replicas asked for are the placed ones plus the pending ones, as a Deployment's spec.
    """
    replicas = np.rint(obs["replicas"] + obs["replicas_pending"]).astype(int)
    cores = np.rint(obs["cores"]).astype(int)
    batch = np.rint(obs["batch"]).astype(int)
    return [[int(replicas[s]), int(cores[s]), int(batch[s])] for s in range(n_stages)]


# ---------------------------------------------------------------------------------- metrics
class MetricsWindow:
    """Per-stage CPU usage per pod as the metrics-server reports it: windowed and lagged.

    Each env step contributes the stage's mean usage per ready pod over that step (busy
    fraction × cores, in cores). :meth:`read` at time t returns the mean over the steps ending
    in (τ − window, τ], τ = t − lag, the value a controller reading the metrics API at t gets.

    Args:
        n_stages: Stages of the pipeline.
        window_s: Averaging window [s] (metrics-server ``--metric-resolution``, 15 s).
        lag_s: Age of the newest reported window at read time [s] (one resolution, 15 s).
        dt: Decision interval of the env [s].
    """

    def __init__(self, n_stages: int, window_s: float, lag_s: float, dt: float) -> None:
        self.n_stages = n_stages
        self.window_s = float(window_s)
        self.lag_s = float(lag_s)
        self.dt = float(dt)
        keep = int(math.ceil((self.window_s + self.lag_s) / self.dt)) + 2
        self._steps: deque[tuple[float, np.ndarray]] = deque(maxlen=keep)

    def record(self, t_end: float, usage_per_pod: np.ndarray) -> None:
        """Add the usage per pod [cores] of each stage over the step ending at ``t_end``."""
        self._steps.append((float(t_end), np.asarray(usage_per_pod, dtype=np.float64).copy()))

    def sample_end(self, t: float) -> float:
        """End τ of the window reported at time ``t`` (the metric's timestamp)."""
        return t - self.lag_s

    def read(self, t: float) -> np.ndarray | None:
        """Mean usage per pod [cores] per stage in the window reported at ``t`` (None if none)."""
        end = self.sample_end(t)
        inside = [u for te, u in self._steps if end - self.window_s + _EPS < te <= end + _EPS]
        if not inside:
            # A step longer than the window: report the last whole step before τ.
            before = [u for te, u in self._steps if te <= end + _EPS]
            if not before:
                return None
            inside = before[-1:]
        return np.mean(inside, axis=0)


# ------------------------------------------------------------------------------ pod tracking
@dataclass
class PodRecord:
    """When one replica was created and became ready [s] (``ready_s`` None while starting)."""

    created_s: float
    ready_s: float | None


class PodTracker:
    """Creation and readiness times of one stage's replicas, inferred from observed counts.

    The env reports how many replicas are ready and how many are starting; the tracker keeps
    one record per replica and updates it the way the simulator changes them: a starting
    replica becomes ready (oldest first), scale-in removes starting replicas first, then the
    newest ready ones; a replica that appears was created at the previous decision.

    Args:
        n_ready: Ready replicas at the start of the episode (warm: created long before).
        n_starting: Starting replicas at the start of the episode.
    """

    def __init__(self, n_ready: int, n_starting: int = 0) -> None:
        self.pods = [PodRecord(-math.inf, -math.inf) for _ in range(n_ready)]
        self.pods += [PodRecord(-math.inf, None) for _ in range(n_starting)]

    def observe(self, t: float, dt: float, n_ready: int, n_starting: int) -> None:
        """Bring the records in line with ``n_ready`` ready and ``n_starting`` starting at ``t``."""
        ready = sorted((p for p in self.pods if p.ready_s is not None), key=lambda p: p.created_s)
        starting = sorted((p for p in self.pods if p.ready_s is None), key=lambda p: p.created_s)
        while len(ready) < n_ready and starting:
            pod = starting.pop(0)
            pod.ready_s = t
            ready.append(pod)
        del starting[n_starting:]
        ready.sort(key=lambda p: p.created_s)
        del ready[n_ready:]
        ready += [PodRecord(t - dt, t) for _ in range(n_ready - len(ready))]
        starting += [PodRecord(t - dt, None) for _ in range(n_starting - len(starting))]
        self.pods = ready + starting


def group_pods(
    pods: Sequence[PodRecord],
    n_pending: int,
    now: float,
    sample_end: float,
    window_s: float,
    cpu_initialization_s: float = 300.0,
) -> tuple[int, int, int]:
    """Split a stage's pods into (ready, unready, missing) counts as ``groupPods`` does for CPU.

    Args:
        pods: The stage's placed replicas.
        n_pending: Replicas asked for but not placed (phase Pending: unready).
        now: Time of the sync [s].
        sample_end: Timestamp τ of the metric window [s]; the window is [τ − window_s, τ].
        window_s: Metric window [s].
        cpu_initialization_s: CPU initialisation period after a pod starts [s].
    """
    ready = missing = 0
    unready = int(n_pending)
    for pod in pods:
        if pod.created_s > sample_end - window_s + _EPS:
            missing += 1  # no full metric window since the pod started
        elif pod.ready_s is None:
            unready += 1
        elif (
            now - pod.created_s < cpu_initialization_s
            and sample_end < pod.ready_s + window_s - _EPS
        ):
            unready += 1  # the metric window began before the pod became Ready
        else:
            ready += 1
    return ready, unready, missing


# ------------------------------------------------------------------------- replica calculus
def _utilisation_percent(usage_m: Sequence[int], request_m: Sequence[int]) -> int:
    # GetResourceUtilizationRatio: integer percent of the summed millicores (a ratio of sums).
    return int(100 * sum(usage_m) // sum(request_m))


def _within(ratio: float, tolerance: float) -> bool:
    # Tolerances.isWithin (v1.33+): the bounds 1 ± tolerance are computed first, so a ratio of
    # exactly 1.1 is inside (|ratio - 1| <= 0.1 would say no in floating point).
    return 1.0 - tolerance <= ratio <= 1.0 + tolerance


def resource_replicas(
    current: int,
    ready_usage_m: Sequence[int],
    ready_request_m: Sequence[int],
    unready_request_m: Sequence[int],
    missing_request_m: Sequence[int],
    target_percent: int,
    tolerance: float = 0.1,
) -> int | None:
    """Desired replicas for a CPU utilisation target (``GetResourceReplicas``).

    Args:
        current: Current replicas (the scale's ``spec.replicas``).
        ready_usage_m: CPU usage of each ready pod [millicores].
        ready_request_m: CPU request of each ready pod [millicores].
        unready_request_m: Requests of the unready pods [millicores].
        missing_request_m: Requests of the pods without a metric [millicores].
        target_percent: Target average utilisation [% of request].
        tolerance: No change while |ratio − 1| ≤ tolerance.

    Returns:
        The proposal, or None when no ready pod has a metric (the controller then skips).
    """
    if not ready_usage_m:
        return None
    usage = list(ready_usage_m)
    request = list(ready_request_m)
    ratio = _utilisation_percent(usage, request) / target_percent
    scale_up_with_unready = bool(unready_request_m) and ratio > 1.0
    if not scale_up_with_unready and not missing_request_m:
        if _within(ratio, tolerance):
            return current
        return int(math.ceil(ratio * len(usage)))
    if missing_request_m:
        if ratio < 1.0:
            fallback = max(100, target_percent)
            usage += [r * fallback // 100 for r in missing_request_m]
            request += list(missing_request_m)
        elif ratio > 1.0:
            usage += [0] * len(missing_request_m)
            request += list(missing_request_m)
    if scale_up_with_unready:
        usage += [0] * len(unready_request_m)
        request += list(unready_request_m)
    new_ratio = _utilisation_percent(usage, request) / target_percent
    if _within(new_ratio, tolerance) or (ratio < 1.0 < new_ratio) or (new_ratio < 1.0 < ratio):
        return current
    proposal = int(math.ceil(new_ratio * len(usage)))
    if (new_ratio < 1.0 and proposal > current) or (new_ratio > 1.0 and proposal < current):
        return current
    return proposal


# ---------------------------------------------------------------------------- normalisation
@dataclass(frozen=True)
class ScalingPolicy:
    """One HPA scaling policy: at most ``value`` pods or percent per ``period_s``."""

    kind: str  # "Pods" or "Percent"
    value: int
    period_s: float


@dataclass(frozen=True)
class ScalingRules:
    """One direction of an HPA ``behavior``: stabilisation window, policies and their selection."""

    stabilization_window_s: float
    policies: tuple[ScalingPolicy, ...]
    select_policy: str = "Max"  # "Max", "Min" or "Disabled"


@dataclass
class ScaleHistory:
    """What the controller remembers per HPA: raw recommendations and scale events."""

    recommendations: list[tuple[float, int]] = field(default_factory=list)
    up_events: list[tuple[float, int]] = field(default_factory=list)
    down_events: list[tuple[float, int]] = field(default_factory=list)

    def record_scale(self, now: float, before: int, after: int) -> None:
        """Store a rescale from ``before`` to ``after`` replicas at ``now``."""
        if after > before:
            self.up_events.append((now, after - before))
        elif after < before:
            self.down_events.append((now, before - after))

    def forget_before(self, cutoff: float) -> None:
        """Drop everything recorded at or before ``cutoff`` (outside every window)."""
        self.recommendations = [r for r in self.recommendations if r[0] > cutoff]
        self.up_events = [e for e in self.up_events if e[0] > cutoff]
        self.down_events = [e for e in self.down_events if e[0] > cutoff]


def _changes_in_period(events: Sequence[tuple[float, int]], now: float, period_s: float) -> int:
    return sum(change for t, change in events if t > now - period_s)


def _replicas_at_period_start(
    current: int, history: ScaleHistory, now: float, period_s: float
) -> int:
    """The replica count at the start of a policy's period: the changes since undone."""
    return (
        current
        - _changes_in_period(history.up_events, now, period_s)
        + _changes_in_period(history.down_events, now, period_s)
    )


def _scale_up_limit(current: int, history: ScaleHistory, now: float, rules: ScalingRules) -> int:
    if rules.select_policy == "Disabled":
        return current
    proposals = []
    for p in rules.policies:
        start = _replicas_at_period_start(current, history, now, p.period_s)
        if p.kind == "Pods":
            proposals.append(start + p.value)
        else:  # rounded up, or a small deployment could never grow
            proposals.append(int(math.ceil(start * (1 + p.value / 100))))
    return min(proposals) if rules.select_policy == "Min" else max(proposals)


def _scale_down_limit(current: int, history: ScaleHistory, now: float, rules: ScalingRules) -> int:
    if rules.select_policy == "Disabled":
        return current
    proposals = []
    for p in rules.policies:
        start = _replicas_at_period_start(current, history, now, p.period_s)
        if p.kind == "Pods":
            proposals.append(start - p.value)
        else:
            proposals.append(int(start * (1 - p.value / 100)))
    # "Max" selects the largest change, i.e. the lowest replica count.
    return max(proposals) if rules.select_policy == "Min" else min(proposals)


def normalize_with_behavior(
    history: ScaleHistory,
    now: float,
    current: int,
    desired: int,
    min_replicas: int,
    max_replicas: int,
    scale_up: ScalingRules,
    scale_down: ScalingRules,
) -> int:
    """Stabilise and rate-limit a raw proposal (``normalizeDesiredReplicasWithBehaviors``).

    Records ``desired`` in ``history`` as the controller does; scale events are recorded by the
    caller once the rescale happens (:meth:`ScaleHistory.record_scale`).
    """
    up, down = desired, desired
    for t, rec in history.recommendations:
        if t > now - scale_up.stabilization_window_s:
            up = min(up, rec)
        if t > now - scale_down.stabilization_window_s:
            down = max(down, rec)
    history.recommendations.append((now, desired))
    stabilized = min(max(current, up), down)
    if stabilized > current:
        limit = max(_scale_up_limit(current, history, now, scale_up), current)
        return min(stabilized, max_replicas, limit)
    if stabilized < current:
        limit = min(_scale_down_limit(current, history, now, scale_down), current)
        return max(stabilized, min_replicas, limit)
    return stabilized


def normalize_legacy(
    history: ScaleHistory,
    now: float,
    current: int,
    desired: int,
    min_replicas: int,
    max_replicas: int,
    downscale_stabilization_s: float = 300.0,
) -> int:
    """Normalise as an HPA without ``behavior`` (``normalizeDesiredReplicas``, horizontal.go)."""
    stabilized = desired
    for t, rec in history.recommendations:
        if t >= now - downscale_stabilization_s:
            stabilized = max(stabilized, rec)
    history.recommendations.append((now, desired))
    upper = min(max_replicas, max(2 * current, 4))
    return min(max(stabilized, min_replicas), upper)


DEFAULT_SCALE_UP = ScalingRules(
    0.0, (ScalingPolicy("Pods", 4, 15.0), ScalingPolicy("Percent", 100, 15.0))
)
DEFAULT_SCALE_DOWN = ScalingRules(300.0, (ScalingPolicy("Percent", 100, 15.0),))


# ---------------------------------------------------------------------------------- policy
class HPAPolicy(Policy):
    """Kubernetes HPA on CPU utilisation, one per stage; cores and batch stay as they start.

    **Observes** (per stage): ``utilisation`` (busy fraction of ready replicas = CPU usage /
    request) and ``cores`` (the request) to build the metric, and ``replicas_ready``,
    ``replicas_starting`` and ``replicas_pending`` to tell ready, unready and missing pods
    apart. No latency model, no trace.

    **Parameters** (defaults are the Kubernetes defaults):

    * ``target_utilisation`` = 0.8: target average CPU utilisation, a fraction of the request.
      0.8 is ``DefaultCPUUtilization``, what the API uses when an HPA names no metric;
      Kubernetes' own walkthrough uses 0.5 (a more conservative setting for latency SLOs).
    * ``tolerance`` = 0.1 (``--horizontal-pod-autoscaler-tolerance``).
    * ``sync_period_s`` = 15 (``--horizontal-pod-autoscaler-sync-period``).
    * ``metrics_window_s`` = 15 and ``metrics_lag_s`` = 15: metrics-server resolution, and the
      reported window is one resolution old.
    * ``downscale_stabilization_s`` = 300, ``upscale_stabilization_s`` = 0.
    * ``scale_up_pods`` = 4, ``scale_up_percent`` = 100, ``scale_down_percent`` = 100,
      ``policy_period_s`` = 15: the default ``behavior`` policies.
    * ``cpu_initialization_s`` = 300 (``--horizontal-pod-autoscaler-cpu-initialization-period``).
    * ``min_replicas`` / ``max_replicas`` = None: the stage's limits (an int applies to all
      stages, a list gives one per stage).
    * ``legacy`` = False: True normalises as an HPA without a ``behavior`` block.

    **Source:** Kubernetes HPA docs, "Algorithm details" and "Default Behavior"
    (https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/), and the
    kubernetes/kubernetes controller code named in the module docstring.
    """

    name = "hpa"
    privileged = False

    def __init__(
        self,
        env: Any,
        *,
        target_utilisation: float = 0.8,
        tolerance: float = 0.1,
        sync_period_s: float = 15.0,
        metrics_window_s: float = 15.0,
        metrics_lag_s: float = 15.0,
        downscale_stabilization_s: float = 300.0,
        upscale_stabilization_s: float = 0.0,
        scale_up_pods: int = 4,
        scale_up_percent: int = 100,
        scale_down_percent: int = 100,
        policy_period_s: float = 15.0,
        cpu_initialization_s: float = 300.0,
        min_replicas: int | Sequence[int] | None = None,
        max_replicas: int | Sequence[int] | None = None,
        legacy: bool = False,
    ) -> None:
        params = dict(locals())
        for key in ("self", "env", "__class__"):
            params.pop(key, None)
        super().__init__(env, **params)
        if not 0.01 <= target_utilisation <= 10:
            raise PolicyError(
                f"hpa: target_utilisation = {target_utilisation} must be in [0.01, 10] "
                "(a fraction of the CPU request)"
            )
        for key in (
            "tolerance",
            "metrics_lag_s",
            "downscale_stabilization_s",
            "upscale_stabilization_s",
        ):
            if params[key] < 0:
                raise PolicyError(f"hpa: {key} = {params[key]} must be >= 0")
        for key in ("sync_period_s", "metrics_window_s", "policy_period_s"):
            if params[key] <= 0:
                raise PolicyError(f"hpa: {key} = {params[key]} must be > 0")
        self.view = policy_view(env)
        self.n_stages = int(self.view.n_stages)
        self.dt = float(self.view.decision_interval_s)
        self.target_percent = int(round(100 * target_utilisation))
        self.tolerance = float(tolerance)
        self.sync_steps = max(1, int(math.ceil(sync_period_s / self.dt - _EPS)))
        self.window_s = float(metrics_window_s)
        self.lag_s = float(metrics_lag_s)
        self.cpu_initialization_s = float(cpu_initialization_s)
        self.legacy = bool(legacy)
        self.downscale_stabilization_s = float(downscale_stabilization_s)
        self.scale_up = ScalingRules(
            float(upscale_stabilization_s),
            (
                ScalingPolicy("Pods", int(scale_up_pods), policy_period_s),
                ScalingPolicy("Percent", int(scale_up_percent), policy_period_s),
            ),
        )
        self.scale_down = ScalingRules(
            float(downscale_stabilization_s),
            (ScalingPolicy("Percent", int(scale_down_percent), policy_period_s),),
        )
        limits = self.view.stage_limits
        self.min_replicas = self._per_stage(
            "min_replicas", min_replicas, [lim.min_replicas for lim in limits]
        )
        self.max_replicas = self._per_stage(
            "max_replicas", max_replicas, [lim.max_replicas for lim in limits]
        )
        for s, lim in enumerate(limits):
            if (
                not lim.min_replicas
                <= self.min_replicas[s]
                <= self.max_replicas[s]
                <= lim.max_replicas
            ):
                raise PolicyError(
                    f"hpa: stage {s} ({lim.name}) needs {lim.min_replicas} <= min_replicas "
                    f"({self.min_replicas[s]}) <= max_replicas ({self.max_replicas[s]}) "
                    f"<= {lim.max_replicas}"
                )
        self._horizon_s = max(
            self.downscale_stabilization_s, float(upscale_stabilization_s), float(policy_period_s)
        )
        self.reset()

    def _per_stage(
        self, key: str, value: int | Sequence[int] | None, default: list[int]
    ) -> list[int]:
        if value is None:
            return list(default)
        if isinstance(value, (int, np.integer)):
            return [int(value)] * self.n_stages
        values = [int(v) for v in value]
        if len(values) != self.n_stages:
            raise PolicyError(
                f"hpa: {key} has {len(values)} entries; "
                f"give one int or {self.n_stages} (one per stage)"
            )
        return values

    def reset(self) -> None:
        """Forget the episode: pods, metrics, recommendations and scale events."""
        self._calls = 0
        self._targets: list[list[int]] | None = None
        self._metrics = MetricsWindow(self.n_stages, self.window_s, self.lag_s, self.dt)
        self._pods: list[PodTracker] = []
        self._history = [ScaleHistory() for _ in range(self.n_stages)]

    def _start(self, obs: dict[str, np.ndarray]) -> None:
        self._targets = requested_targets(obs, self.n_stages)
        ready = np.rint(obs["replicas_ready"]).astype(int)
        starting = np.rint(obs["replicas_starting"]).astype(int)
        self._pods = [PodTracker(int(ready[s]), int(starting[s])) for s in range(self.n_stages)]

    def act(self, obs: Any) -> np.ndarray:
        """Targets for this step: new replica counts on sync steps, else the held ones."""
        d = self.view.obs_as_dict(obs)
        if self._targets is None:
            self._start(d)
        assert self._targets is not None
        t = self._calls * self.dt
        if self._calls > 0:
            self._metrics.record(
                t, np.asarray(d["utilisation"], float) * np.asarray(d["cores"], float)
            )
            ready = np.rint(d["replicas_ready"]).astype(int)
            starting = np.rint(d["replicas_starting"]).astype(int)
            for s in range(self.n_stages):
                self._pods[s].observe(t, self.dt, int(ready[s]), int(starting[s]))
        if self._calls % self.sync_steps == 0:
            pending = np.rint(d["replicas_pending"]).astype(int)
            usage = self._metrics.read(t)
            for s in range(self.n_stages):
                self._sync(s, t, None if usage is None else float(usage[s]), int(pending[s]))
        self._calls += 1
        return self.view.encode_targets(self._targets)

    def _sync(self, s: int, now: float, usage_cores: float | None, n_pending: int) -> None:
        assert self._targets is not None
        current = self._targets[s][0]
        lo, hi = self.min_replicas[s], self.max_replicas[s]
        if current > hi:
            desired = hi
        elif current < lo:
            desired = lo
        else:
            if usage_cores is None:
                return  # no metrics yet: the controller reports an error and does not scale
            ready, unready, missing = group_pods(
                self._pods[s].pods,
                n_pending,
                now,
                self._metrics.sample_end(now),
                self.window_s,
                self.cpu_initialization_s,
            )
            request_m = 1000 * self._targets[s][1]
            proposal = resource_replicas(
                current,
                [int(round(1000 * usage_cores))] * ready,
                [request_m] * ready,
                [request_m] * unready,
                [request_m] * missing,
                self.target_percent,
                self.tolerance,
            )
            if proposal is None:
                return
            history = self._history[s]
            history.forget_before(
                now - self._horizon_s - 1.0
            )  # a second of slack for inclusive windows
            if self.legacy:
                desired = normalize_legacy(
                    history, now, current, proposal, lo, hi, self.downscale_stabilization_s
                )
            else:
                desired = normalize_with_behavior(
                    history, now, current, proposal, lo, hi, self.scale_up, self.scale_down
                )
        if desired != current:
            self._history[s].record_scale(now, current, desired)
            self._targets[s][0] = int(desired)
