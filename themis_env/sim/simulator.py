"""The serving-cluster simulator: build from config, apply decisions, advance time.

The simulator is plain Python and NumPy around a compiled event loop
(:mod:`themis_env.sim.kernel`); it never imports gymnasium. A decision gives, per stage, the
target replicas, cores per replica and batch size. Applying it reconciles the cluster toward
the target the way Kubernetes would:

* **Batch size** changes at once (the dispatcher's setting).
* **Cores** change by in-place resize of every replica of the stage. A resize that grows a
  replica needs free cores on its node; otherwise it fails (``cluster.resize_policy: fail``)
  or, as the kubelet does, is *Deferred* until room frees up, or *Infeasible* when it asks for
  more than a node has (``defer``), reported either way, and nothing changes until it fits. An
  accepted resize takes effect ``resize_delay_s`` later; until then the node keeps max(old,
  new) cores reserved.
* **Replicas**: a new replica is placed on a node with room for its cores, the one
  ``cluster.placement`` picks (kube-scheduler's spread, bin packing, or the lowest such node;
  the :class:`~themis_env.config.ClusterConfig` default is the lowest, v0's), holds
  them from creation, and serves only after a cold start. With no room it stays *pending*
  (reported; the next decision tries again). Scale-in removes cold-starting replicas first,
  then the newest; a removed replica takes no new batch, finishes its batch in service, and
  holds its cores until then.
* **Variants**: a stage may have several model variants (IPA, InfAdapter). Each replica runs
  one; the decision gives the replicas of each variant (a stage's target is then the replicas
  of each variant slot, then cores and batch), so a stage may run several variants at once
  and switches variant by scaling one in and another out. A new replica's cold start is the
  cluster's draw scaled to its variant's model-load time (``load_time_s`` over the cluster's
  ``cold_start.median_s``): nothing switches for free. The dispatcher routes every batch to
  the replica that frees first, whatever its variant (see :mod:`~themis_env.sim.kernel`),
  and every completion records the accuracy of the variants that served it.

All randomness comes from the ``numpy.random.Generator`` given to :meth:`Simulator.reset`:
per-second Poisson arrival counts for the whole episode are drawn at reset, then blocks of
uniforms (arrival times) and normals (service noise) as the episode needs them, and cold-start
times at each scale-out. The same generator state and decisions give identical statistics.

Two ways to drive it: :meth:`Simulator.apply` and :meth:`Simulator.advance` return rich
reports (:class:`ApplyReport`, :class:`StepStats`); :meth:`Simulator.run_interval` does both
in one compiled call and returns the scalars only (:class:`IntervalSummary`), optionally
writing the monitoring vector an env observes. The fixed-size arrays live in two packed
buffers (one float64, one int64), laid out by one table (:class:`kernel.Packed`) and viewed
under the attribute names declared on :class:`Simulator`, so that call passes a handful of
arguments: each array argument costs a compiled call about 0.1 µs to unbox.
"""

from __future__ import annotations

import copy
import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np

from themis_env.config.loader import Pipeline
from themis_env.config.schema import ClusterConfig
from themis_env.sim import kernel as K

__all__ = [
    "SNAPSHOT_KEYS",
    "finish_intervals",
    "UNUSED_SLOT",
    "ApplyReport",
    "IntervalSummary",
    "SimState",
    "Simulator",
    "StageDecision",
    "StepStats",
    "target_entries",
    "request_slo_kpis",
]


def request_slo_kpis(
    arrived: float, completed: float, late: float, seconds: float
) -> dict[str, float]:
    """Request-level SLO figures of an episode, from its request counters.

    ``slo_attainment`` is the fraction of arrived requests that completed within the SLO (1 when
    none arrived): a late completion, a drop and a request still in the system at the end are
    all misses.
    ``goodput`` is the requests completed within the SLO per second of episode [req/s].

    Args:
        arrived: Requests that arrived.
        completed: Requests that completed (late ones included).
        late: Completed requests whose end-to-end latency exceeded the SLO.
        seconds: Episode length so far [s].
    """
    within = float(completed) - float(late)
    return {
        "slo_attainment": within / float(arrived) if arrived else 1.0,
        "goodput": within / float(seconds) if seconds else 0.0,
    }


_RING_BUCKETS = 512  # a power of two: the kernel wraps bucket indices with a mask
_PLACEMENTS = {  # ClusterConfig.placement → the kernel's strategy
    "first-fit": K.PLACE_FIRST_FIT,
    "spread": K.PLACE_SPREAD,
    "most-allocated": K.PLACE_MOST_ALLOCATED,
}
_RESIZE_POLICIES = {"fail": K.RESIZE_FAIL, "defer": K.RESIZE_DEFER}  # cluster.resize_policy
_COLD_DISTRIBUTIONS = {  # cluster.cold_start.distribution → the kernel's (P_COLD_DIST)
    "constant": K.COLD_CONSTANT,
    "uniform": K.COLD_UNIFORM,
    "lognormal": K.COLD_LOGNORMAL,
}
_NEED_BITS = K.NEED_QUEUE | K.NEED_UNIFORMS | K.NEED_NORMALS | K.NEED_SECONDS
_NO_VECTOR = np.zeros(0, dtype=np.float32)  # "no monitoring vector" for K.step
# The columns of Simulator.stage_snapshot (the kernel's OS_LIVE .. OS_UTILISATION, adjacent).
_SNAPSHOT_COLUMNS = {
    "replicas": K.OS_LIVE,
    "ready": K.OS_READY_N,
    "starting": K.OS_STARTING,
    "pending": K.OS_PENDING,
    "cores": K.OS_CORES,
    "batch": K.OS_BATCH,
    "queue_len": K.OS_QUEUE,
    "utilisation": K.OS_UTILISATION,
}
SNAPSHOT_KEYS = tuple(_SNAPSHOT_COLUMNS)


UNUSED_SLOT = "unused replica slot"  # the entry of a replica slot a stage does not use


def target_entries(
    min_replicas: int,
    max_replicas: int,
    max_cores: int,
    max_batch: int,
    variants: Sequence[str],
    slots: int,
) -> list[tuple[str, int, int]]:
    """A stage's target entries in their flat order, each (name, lowest, highest).

    The replicas of each of the ``slots`` replica slots: the stage's one model in
    [min_replicas, max_replicas], or each of its ``variants`` in [0, max_replicas] (a variant
    may be off), and slots the stage does not use at [0, 0]; then cores in [1, max_cores] and
    batch in [1, max_batch]. With one slot: (replicas, cores, batch).
    """
    if variants:
        replicas = [(f"replicas of {v}", 0, max_replicas) for v in variants]
    else:
        replicas = [("replicas", min_replicas, max_replicas)]
    replicas += [(UNUSED_SLOT, 0, 0)] * (slots - len(replicas))
    return [*replicas, ("cores", 1, max_cores), ("batch", 1, max_batch)]


class StageDecision(NamedTuple):
    """Target configuration of one stage."""

    replicas: int
    cores: int
    batch: int


class ApplyReport(NamedTuple):
    """What applying one decision did, per stage, and its totals (immutable).

    Attributes:
        added: Replicas created.
        removed: Replicas removed.
        resized: Replicas whose in-place resize was accepted.
        failed_resizes: Replicas whose resize was refused for lack of node cores
            (``cluster.resize_policy: fail`` only).
        pending: Replicas asked for but not placed (no node has room).
        deferred_resizes: Replicas whose resize waits for node cores (``defer`` only).
        infeasible_resizes: Replicas whose resize asks for more cores than a node has
            (``defer`` only; the node never retries it).
        horizontal_actions: Stages whose replica count changed.
        vertical_actions: Stages where at least one replica was resized.
        total_failed_resizes: Sum of ``failed_resizes``.
        total_pending: Sum of ``pending``.
    """

    added: np.ndarray
    removed: np.ndarray
    resized: np.ndarray
    failed_resizes: np.ndarray
    pending: np.ndarray
    deferred_resizes: np.ndarray
    infeasible_resizes: np.ndarray
    horizontal_actions: int = 0
    vertical_actions: int = 0
    total_failed_resizes: int = 0
    total_pending: int = 0

    @classmethod
    def from_rows(cls, report: np.ndarray, totals: np.ndarray) -> ApplyReport:
        """The report of the kernel's ``report[stage, R_*]`` and ``totals[T_*]`` (copied)."""
        rows = report.T.copy()
        return cls(
            added=rows[K.R_ADDED],
            removed=rows[K.R_REMOVED],
            resized=rows[K.R_RESIZED],
            failed_resizes=rows[K.R_FAILED],
            pending=rows[K.R_PENDING],
            deferred_resizes=rows[K.R_DEFERRED],
            infeasible_resizes=rows[K.R_INFEASIBLE],
            horizontal_actions=int(totals[K.T_HORIZONTAL]),
            vertical_actions=int(totals[K.T_VERTICAL]),
            total_failed_resizes=int(totals[K.T_FAILED]),
            total_pending=int(totals[K.T_PENDING]),
        )


@dataclass(slots=True)
class StepStats:
    """Statistics of one interval [t0, t1).

    Counts are events whose time falls in the interval: arrivals at the first stage,
    completions at the last stage, drops at any stage. Latencies are end to end.

    Attributes:
        t0: Interval start [s].
        t1: Interval end [s].
        arrived: Requests that arrived.
        completed: Requests that completed.
        late: Completed requests whose latency exceeded the SLO.
        dropped: Requests dropped.
        violation: min(1, late/completed + dropped/arrived) over the interval (Themis).
        latency_mean_ms: Mean end-to-end latency of completions [ms] (NaN if none).
        latency_p50_ms: Median [ms] (NaN if none), from a 2 %-resolution histogram.
        latency_p95_ms: 95th percentile [ms].
        latency_p99_ms: 99th percentile [ms].
        cores_allocated: Mean allocated cores over the interval.
        core_seconds: Allocated core-seconds.
        memory_cost: Memory-equivalent cost:
            Σ replica-seconds × (memory_gb + core_memory_gb × cores).
        accuracy_sum: Σ pipeline accuracy of the completed requests (0 when the models
            declare no accuracies); over ``completed`` it is the interval's accuracy.
        queue_len: Requests waiting per stage at t1.
        utilisation: Busy fraction of ready replicas per stage over the interval.
        seconds: Per-second records finished in this interval, rows of
            (second, arrived, completed, late, dropped, violation).
    """

    t0: float
    t1: float
    arrived: int
    completed: int
    late: int
    dropped: int
    violation: float
    latency_mean_ms: float
    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float
    cores_allocated: float
    core_seconds: float
    memory_cost: float
    accuracy_sum: float
    queue_len: np.ndarray
    utilisation: np.ndarray
    seconds: np.ndarray


class IntervalSummary(NamedTuple):
    """The scalars of one :meth:`Simulator.run_interval`: what was applied, what happened.

    The fields mean what the same names of :class:`StepStats` and :class:`ApplyReport` mean;
    the per-stage figures are in :attr:`Simulator.stage_snapshot` and the per-second records
    in :meth:`Simulator.second_records`. Latencies are NaN when nothing completed.
    """

    arrived: float
    completed: float
    late: float
    dropped: float
    latency_sum_s: float
    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float
    n_seconds: float
    core_seconds: float
    violation: float
    memory_cost: float
    accuracy_sum: float
    horizontal_actions: int
    vertical_actions: int
    failed_resizes: int
    pending: int
    t0: float
    t1: float

    @property
    def cores_allocated(self) -> float:
        """Mean allocated cores over the interval."""
        return self.core_seconds / (self.t1 - self.t0)


# Where each IntervalSummary field is in the kernel's step output ``out[O_*]`` followed by the
# apply's ``totals[T_*]`` and (t0, t1): the summary is gathered from them by name.
_SUMMARY_SOURCES = {
    "arrived": K.O_ARRIVED,
    "completed": K.O_COMPLETED,
    "late": K.O_LATE,
    "dropped": K.O_DROPPED,
    "latency_sum_s": K.O_LATENCY_SUM,
    "latency_p50_ms": K.O_P50,
    "latency_p95_ms": K.O_P95,
    "latency_p99_ms": K.O_P99,
    "n_seconds": K.O_SECONDS,
    "core_seconds": K.O_CORE_SECONDS,
    "violation": K.O_VIOLATION,
    "memory_cost": K.O_MEMORY_COST,
    "accuracy_sum": K.O_ACCURACY_SUM,
    "horizontal_actions": K.N_OUT + K.T_HORIZONTAL,
    "vertical_actions": K.N_OUT + K.T_VERTICAL,
    "failed_resizes": K.N_OUT + K.T_FAILED,
    "pending": K.N_OUT + K.T_PENDING,
    "t0": K.N_OUT + K.N_TOTALS,
    "t1": K.N_OUT + K.N_TOTALS + 1,
}
_SUMMARY_INDEX = [_SUMMARY_SOURCES[f] for f in IntervalSummary._fields]
# None while those slots are in the summary's order, as now: the gather would cost run_interval
# 1-2 % (measured), for nothing.
_gather_summary = (
    None
    if _SUMMARY_INDEX == list(range(len(_SUMMARY_INDEX)))
    else operator.itemgetter(*_SUMMARY_INDEX)
)


class SimState(NamedTuple):
    """Read-only snapshot of the cluster at the current time.

    Attributes:
        time_s: Current simulated time [s].
        replicas: Replicas per stage that exist and are not being removed.
        ready: Of those, replicas past their cold start.
        starting: Of those, replicas in cold start.
        draining: Removed replicas still finishing a batch (they hold cores).
        cores: Target cores per replica per stage.
        batch: Batch size per stage.
        pending: Replicas asked for but not placed, per stage.
        free_cores: Free cores per node.
        queue_len: Requests waiting per stage (arrived, not yet in a batch).
        in_system: Requests that arrived and have neither completed nor been dropped.
    """

    time_s: float
    replicas: np.ndarray
    ready: np.ndarray
    starting: np.ndarray
    draining: np.ndarray
    cores: np.ndarray
    batch: np.ndarray
    pending: np.ndarray
    free_cores: np.ndarray
    queue_len: np.ndarray
    in_system: int


class Simulator:
    """Request-level simulator of a multi-stage inference pipeline on a cluster.

    Args:
        pipeline: The pipeline and its stages' latency models.
        cluster: Nodes, resize delay, cold starts and service noise.
        slo_ms: End-to-end SLO [ms]; defaults to the pipeline's.
        bucket_s: Statistics resolution [s]; 1 or 1/k (use the decision interval if < 1 s).
        arrival_process: ``poisson`` or ``exact`` counts per second.
        max_slots: Replica slots per stage (replicas plus those draining); defaults to twice
            the largest ``max_replicas`` of the stages times the most variants of a stage.
        history_s: Seconds of arrivals kept in :attr:`rate_history`.
    """

    # The packed arrays: views of two buffers under the names of ``K.Packed``, which gives
    # their shapes; bound by ``_bind_views``, indexed by the kernel's constants.
    table: np.ndarray  # service time [ms] per (stage·V + variant, batch, cores); NaN outside
    prm: np.ndarray  # scalar parameters, P_*
    memory_gb: np.ndarray  # memory of a replica per [stage, variant] [GB]
    disp: np.ndarray  # per stage, when the dispatcher may take requests for its next batch [s]
    ep: np.ndarray  # episode accumulators, E_*
    sec_acc: np.ndarray  # the unfinished second's counts, B_ARRIVED .. B_DROPPED
    out: np.ndarray  # the last interval's output, O_*
    node_free: np.ndarray  # free cores per node
    buckets: np.ndarray  # statistics ring, [bucket, B_*]
    busy: np.ndarray  # replica-seconds serving per [stage, bucket]
    out_stage: np.ndarray  # the last interval's per-stage output, [stage, OS_*]
    rep_f: np.ndarray  # replica float fields, [stage, slot, F_*]
    rate_history: np.ndarray  # arrivals of the last ``history_s`` seconds, oldest first [req/s]
    batch: np.ndarray  # batch size per stage
    target_cores: np.ndarray  # target cores per replica per stage
    pending: np.ndarray  # replicas asked for and not placed, per stage
    qptr: np.ndarray  # (head, tail) of each stage's queue
    rep_i: np.ndarray  # replica int fields, [stage, slot, I_*]
    bhist: np.ndarray  # latency histogram per ring bucket, and its bounds (BH_LO, BH_HI)
    ep_hist: np.ndarray  # the episode's latency histogram
    _lows: np.ndarray  # lower limits, per stage (replicas of each variant slot, cores, batch)
    _highs: np.ndarray  # upper limits, as ``_lows``
    targets: np.ndarray  # the targets in force, [stage, width]; -1: none
    flags: np.ndarray  # G_*
    cpos: np.ndarray  # next unused cold-start duration in ``cold``, end of those drawn
    _report: np.ndarray  # what the last apply did, [stage, R_*]
    _totals: np.ndarray  # its totals, T_*
    queue_len: np.ndarray  # requests waiting per stage at the end of the last interval
    accuracy: np.ndarray  # normalised accuracy per [stage, variant]; 0 without accuracies
    cold_scale: np.ndarray  # a variant's cold start over the cluster's draw, [stage, variant]
    served: np.ndarray  # requests each [stage, variant] took this episode
    variant_live: np.ndarray  # replicas per [stage, variant] at the last interval's end
    _heap_t: np.ndarray  # the kernel's scratch (K.Packed.HEAP_T onwards)
    _heap_r: np.ndarray
    _batch_idx: np.ndarray
    _lat_hist: np.ndarray
    _shortfall: np.ndarray
    _spread: np.ndarray
    _slots_used: np.ndarray
    _clock: np.ndarray  # the time and whether the statistics are settled there (K.C_*)

    def __init__(
        self,
        pipeline: Pipeline,
        cluster: ClusterConfig,
        *,
        slo_ms: float | None = None,
        bucket_s: float = 1.0,
        arrival_process: Literal["poisson", "exact"] = "poisson",
        max_slots: int | None = None,
        history_s: int = 60,
    ) -> None:
        self.pipeline = pipeline
        self.cluster = cluster
        self.slo_ms = float(slo_ms if slo_ms is not None else pipeline.config.slo_ms)
        per_second = 1.0 / bucket_s
        if bucket_s > 1.0 or abs(per_second - round(per_second)) > 1e-9:
            raise ValueError(f"bucket_s = {bucket_s} must be 1 s or 1/k of a second")
        self.bucket_s = float(bucket_s)
        self.arrival_process = arrival_process
        stages = pipeline.config.stages
        self.n_stages = len(stages)
        self.max_cores = np.array([s.max_cores for s in stages], dtype=np.int64)
        self.max_batch = np.array([s.max_batch for s in stages], dtype=np.int64)
        self.max_replicas = np.array([s.max_replicas for s in stages], dtype=np.int64)
        self.n_variants = V = pipeline.n_variants
        self.width = V + 2  # target entries per stage: replicas of each variant, cores, batch
        self.n_slots = int(max_slots or 2 * V * int(self.max_replicas.max()))
        b_max, c_max = int(self.max_batch.max()), int(self.max_cores.max())
        S, R, N = self.n_stages, self.n_slots, cluster.nodes
        # The sizes the packed arrays' shapes name (K.Packed); constant for the simulator's life.
        self.dimensions = {
            "stages": S,
            "variants": V,  # variant slots per stage (the most variants of any stage)
            "lanes": S * V,  # (stage, variant) pairs, the latency tables
            "width": self.width,
            "slots": R,
            "nodes": N,
            "knobs": self.width * S,  # the targets flat, ``width`` per stage
            "batch_sizes": b_max + 1,
            "core_counts": c_max + 1,
            "ring": _RING_BUCKETS,
            "history": history_s,
        }
        self._allocate_packs()
        self._no_offset = np.zeros(self.width * S, dtype=np.int64)
        zero = np.zeros(S, dtype=np.int64)
        zero.flags.writeable = False
        self._no_change = ApplyReport(zero, zero, zero, zero, zero, zero, zero)
        # Each stage's target entries (name, low, high) and, flat, the limits for the kernel.
        self._entries = [
            target_entries(
                stage.min_replicas,
                stage.max_replicas,
                stage.max_cores,
                stage.max_batch,
                [m.name for m in models] if stage.variants else (),
                V,
            )
            for stage, models in zip(stages, pipeline.stage_models, strict=True)
        ]
        self._lows[:] = [lo for entries in self._entries for _, lo, _ in entries]
        self._highs[:] = [hi for entries in self._entries for _, _, hi in entries]
        self.table[:] = np.nan
        self.memory_gb[:] = 1.0
        self.cold_scale[:] = 1.0
        median = cluster.cold_start.median_s
        for s, (stage, models) in enumerate(zip(stages, pipeline.stage_models, strict=True)):
            for v, model in enumerate(models):
                self.table[s * V + v, : stage.max_batch + 1, : stage.max_cores + 1] = (
                    model.latency.service_table(stage.max_batch, stage.max_cores)
                )
                self.memory_gb[s, v] = model.memory_gb
                if model.load_time_s is not None:
                    if median <= 0:
                        raise ValueError(
                            f"model {model.name!r} sets load_time_s, which scales the cluster's "
                            "cold start; cold_start.median_s must then be > 0"
                        )
                    self.cold_scale[s, v] = model.load_time_s / median
        if pipeline.has_accuracy:
            for s, row in enumerate(pipeline.normalised_accuracy()):
                self.accuracy[s, : len(row)] = row
            rule = pipeline.config.accuracy.combine
            self.prm[K.P_ACC_MODE] = 2.0 if rule == "multiply" else 1.0
            self.prm[K.P_ACC_SCALE] = 1.0 / S if rule == "average" else 1.0
        horizon = np.nanmax(self.table) * 1e-3 * K.NOISE_CAP + 2.0
        if horizon > 0.5 * _RING_BUCKETS * self.bucket_s:
            raise ValueError(
                f"a batch can take {np.nanmax(self.table):.0f} ms; the statistics ring of "
                f"{_RING_BUCKETS} buckets of {self.bucket_s} s is too short for it"
            )
        self.prm[K.P_SLO] = self.slo_ms * 1e-3
        drop = pipeline.config.drop_after_slo
        self.prm[K.P_DROP_AFTER] = drop * self.slo_ms * 1e-3 if drop is not None else np.inf
        timeout = pipeline.config.batch_timeout_ms
        self.prm[K.P_TIMEOUT] = timeout * 1e-3 if timeout is not None else np.inf
        cv = cluster.service_noise_cv
        self.prm[K.P_NOISE_SIGMA] = math.sqrt(math.log1p(cv * cv)) if cv > 0 else 0.0
        self.prm[K.P_EXPONENTIAL] = 1.0 if cluster.service_distribution == "exponential" else 0.0
        self.prm[K.P_CORES_PER_NODE] = cluster.cores_per_node
        self.prm[K.P_CORE_MEMORY_GB] = cluster.core_memory_gb
        self.prm[K.P_BUCKET] = self.bucket_s
        self.prm[K.P_BUCKETS_PER_SECOND] = round(per_second)
        self.prm[K.P_RESIZE_DELAY] = cluster.resize_delay_s
        self.prm[K.P_PLACEMENT] = _PLACEMENTS[cluster.placement]
        self.prm[K.P_RESIZE_POLICY] = _RESIZE_POLICIES[cluster.resize_policy]
        cold = cluster.cold_start
        self.prm[K.P_COLD_DIST] = _COLD_DISTRIBUTIONS[cold.distribution]
        self.prm[K.P_COLD_MEDIAN] = cold.median_s
        self.prm[K.P_COLD_SIGMA] = cold.sigma
        self.prm[K.P_COLD_MIN] = cold.min_s
        self.prm[K.P_COLD_MAX] = cold.max_s
        # Whether any stage may ask for more cores than a node has (an Infeasible resize).
        self._may_exceed_node = bool(
            max(s.max_cores for s in pipeline.config.stages) > cluster.cores_per_node
        )
        self._rng: np.random.Generator | None = None
        self._buckets_of: dict[float, int] = {}  # whole statistics buckets per dt

    # ------------------------------------------------------------------ packed arrays
    def _allocate_packs(self) -> None:
        """One float64 and one int64 buffer for the arrays of ``K.Packed``, and their layout."""
        self._lay = np.zeros((K.N_PACKED, 4), dtype=np.int64)
        ends = {"f8": 0, "i8": 0}
        starts = {}  # of each buffer's episode span
        # The scenario's arrays first, then the episode's, the latency histograms last: a reset
        # zeroes the episode's state with one call per buffer (and of the histograms, the rows
        # holding counts). The kernel finds every array through ``lay``, in any order.
        for k in sorted(K.Packed, key=lambda k: (k.field.scope == "episode", k == K.Packed.BHIST)):
            field = k.field
            shape = [d if isinstance(d, int) else self.dimensions[d] for d in field.shape]
            if field.scope == "episode" and k != K.Packed.BHIST:
                starts.setdefault(field.dtype, ends[field.dtype])
            self._lay[k, 0] = ends[field.dtype]
            self._lay[k, 1 : 1 + len(shape)] = shape
            ends[field.dtype] += math.prod(shape)
        self._episode_spans = (
            (starts["f8"], ends["f8"]),
            (starts["i8"], int(self._lay[K.Packed.BHIST, 0])),
        )
        self._fbuf = np.zeros(ends["f8"])
        self._ibuf = np.zeros(ends["i8"], dtype=np.int64)
        self._bind_views()

    def _bind_views(self) -> None:
        # The declared attributes of the packed arrays: NumPy views of the buffers.
        buffers = {"f8": self._fbuf, "i8": self._ibuf}
        for k in K.Packed:
            field = k.field
            start = int(self._lay[k, 0])
            shape = tuple(int(d) for d in self._lay[k, 1 : 1 + len(field.shape)])
            view = buffers[field.dtype][start : start + math.prod(shape)].reshape(shape)
            setattr(self, field.attr, view)

    def __getstate__(self) -> dict[str, object]:
        # Views would be copied as arrays of their own: keep the buffers, rebind on load.
        state = self.__dict__.copy()
        for name in (*(k.field.attr for k in K.Packed), "_step_args"):
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._bind_views()
        if "cum_counts" in state:  # reset was called
            self._kernel_arrays()

    # ------------------------------------------------------------------ episode
    def reset(
        self,
        rng: np.random.Generator,
        rates: np.ndarray,
        initial: Sequence[StageDecision],
    ) -> None:
        """Start an episode at time 0 with warm replicas in the ``initial`` configuration.

        Args:
            rng: The one generator of the episode (the env's ``np_random``).
            rates: Arrival rate per second [req/s] for the whole episode; later seconds get none.
            initial: One decision per stage; its replicas start ready (no cold start).
        """
        rates = np.asarray(rates, dtype=np.float64)
        # min and max: NaN fails both comparisons; two reductions, no temporary arrays.
        if rates.ndim != 1 or not (
            rates.min(initial=0.0) >= 0.0 and rates.max(initial=0.0) < np.inf
        ):
            raise ValueError("rates must be a 1-D array of finite, non-negative req/s")
        self._rng = rng
        if self.arrival_process == "poisson":
            self.counts = rng.poisson(rates).astype(np.int64, copy=False)
        else:
            self.counts = np.rint(rates).astype(np.int64)
        self.rates = rates
        # The episode's state (the clock too: time 0, not settled); the parameters stay.
        (f0, f1), (i0, i1) = self._episode_spans
        self._fbuf[f0:f1] = 0
        self._ibuf[i0:i1] = 0
        # Of the latency histograms' 2.9 MB, only rows holding counts: the others are all 0 (the
        # kernel clears a bucket's row as it reduces it).
        self.bhist[self.bhist[:, K.BH_HI] != 0] = 0
        self.rep_f[:, :, K.F_SERVING_UNTIL] = np.inf
        self.batch[:] = 1
        self.target_cores[:] = 1
        self.node_free[:] = self.cluster.cores_per_node
        self.targets[:] = -1  # the targets in force; -1: none yet
        if "queue" not in self.__dict__:  # the first episode; later ones keep the buffers
            capacity = 1024
            self.queue = np.zeros((self.n_stages, K.N_QUEUE_ROWS, capacity))
            # Room for the first draws (drawn when the kernel asks; untouched pages cost nothing).
            self.ubuf = np.zeros(2 * K.RANDOM_BLOCK)
            self.zbuf = np.zeros(2 * K.RANDOM_BLOCK)
            self._scratch_capacity(capacity)
            self.sec_out = np.zeros((1, K.N_SEC_OUT))
            self.cold = np.zeros(2 * K.COLD_BLOCK)  # drawn on demand into cold[:cpos[1]]
        # Kept as grown: the kernel reads them only between pointers of the episode's state,
        # just zeroed, and how much it draws never depends on their size (only who draws:
        # the compiled call, or the simulator after growing one). A batched caller then keeps
        # them too, instead of being handed new ones at every reset.
        n = rates.size
        cum = self.__dict__.get("cum_counts")
        if cum is None or cum.size != n + 1:
            cum = np.empty(n + 1, dtype=np.int64)
        cum[0] = 0
        np.cumsum(self.counts, out=cum[1:])
        self.cum_counts = cum
        self._kernel_arrays()
        self.apply(initial, warm=True)

    def _scratch_capacity(self, capacity: int) -> None:
        self.nxt_t = np.zeros(capacity)
        self.nxt_o = np.zeros((2, capacity))  # origin and accuracy so far
        self.scratch = np.zeros((K.N_QUEUE_ROWS, capacity))

    # ------------------------------------------------------------------ actuation
    def free_cores(self) -> np.ndarray:
        """Free cores per node now (kept current by every apply and advance)."""
        return self.node_free.copy()

    def unresized_replicas(self) -> np.ndarray:
        """Per stage, replicas (not being removed) whose resize to the stage's cores was refused.

        These keep their old cores while the target stands and are retried at every decision:
        failed resizes under ``cluster.resize_policy: fail``; under ``defer`` the kubelet's
        PodResizePending ones, Deferred (:meth:`deferred_resizes`) or, when the stage's cores
        exceed a node's, Infeasible (:meth:`infeasible_resizes`).
        """
        live = (self.rep_i[:, :, K.I_ACTIVE] == 1) & (self.rep_f[:, :, K.F_SERVING_UNTIL] == np.inf)
        waiting = live & (self.rep_i[:, :, K.I_CORES_NEW] != self.target_cores[:, None])
        return waiting.sum(axis=1)

    def resize_status(self) -> tuple[int, int]:
        """Replicas whose resize is (Deferred, Infeasible).

        Deferred: it waits for room on the replica's node; Infeasible: it asks for more cores
        than a node has, and is never done. Under ``cluster.resize_policy: defer`` these are
        the kubelet's two PodResizePending reasons (0 under ``fail``, whose refusals are
        failed resizes). Read from the last reconcile's report, which tried every live replica
        not at its stage's cores: between two reconciles no replica is resized and none that
        is not being removed goes away, so its counts stand until the next one.
        """
        if not self.flags[K.G_UNSETTLED] and not self._may_exceed_node:
            return 0, 0  # settled, and no stage may ask for more than a node has
        deferred = infeasible = 0
        for row in self._report.tolist():  # a few stages: plain ints beat two NumPy sums
            deferred += row[K.R_DEFERRED]
            infeasible += row[K.R_INFEASIBLE]
        return deferred, infeasible

    def deferred_resizes(self) -> int:
        """Replicas whose resize waits for room on their node (it fits an empty node)."""
        return self.resize_status()[0]

    def infeasible_resizes(self) -> int:
        """Replicas whose resize asks for more cores than a node has (Infeasible: never done)."""
        return self.resize_status()[1]

    def _cold_starts(self, n: int) -> np.ndarray:
        """``n`` cold-start durations [s] from the scenario's distribution, clipped.

        A native vector env's kernel draws the same numbers itself (``K.draw_cold_starts``,
        tested equal); a change here must go there too.
        """
        cfg = self.cluster.cold_start
        assert self._rng is not None
        if cfg.distribution == "constant":
            values = np.full(n, cfg.median_s)
        elif cfg.distribution == "uniform":
            values = self._rng.uniform(cfg.min_s, cfg.max_s, n)
        else:
            values = np.exp(cfg.sigma * self._rng.standard_normal(n))
            values *= cfg.median_s
        # In place: np.clip costs several times more on arrays this small.
        np.maximum(values, cfg.min_s, out=values)
        return np.minimum(values, cfg.max_s, out=values)

    def validate_decision(self, decision: Sequence[Sequence[int]]) -> list[StageDecision]:
        """Check a decision against the stages' limits; raise ValueError naming what is wrong.

        A stage's target is (replicas, cores, batch), or with variants the replicas of each
        variant slot, then cores and batch. Returns StageDecisions, or tuples with variants.
        """
        if len(decision) != self.n_stages:
            raise ValueError(f"a decision needs {self.n_stages} stages, got {len(decision)}")
        k = self.width
        checked = []
        lows, highs = self._lows.reshape(-1, k).tolist(), self._highs.reshape(-1, k).tolist()
        for s, (d, lo, hi) in enumerate(zip(decision, lows, highs, strict=True)):
            knobs = tuple(int(x) for x in d)
            if len(knobs) != k:
                raise ValueError(
                    f"stage {s} ({self.pipeline.config.stages[s].name}): a target needs {k} "
                    f"values ({', '.join(self._knob_names(s))}), got {list(d)!r}"
                )
            for name, value, a, z in zip(self._knob_names(s), knobs, lo, hi, strict=True):
                if not a <= value <= z:
                    raise ValueError(
                        f"stage {s} ({self.pipeline.config.stages[s].name}): {name} = {value} "
                        f"is outside [{a}, {z}]"
                    )
            checked.append(StageDecision(*knobs) if k == 3 else knobs)
        return checked  # type: ignore[return-value]

    def _knob_names(self, s: int) -> list[str]:
        """The names of stage ``s``'s target entries, for error messages."""
        return [name for name, _, _ in self._entries[s]]

    def _raise_invalid(self, decision: Sequence[Sequence[int]]) -> None:
        self.validate_decision(decision)  # raises naming the stage, knob and limits
        raise AssertionError(f"the kernel rejected {decision!r}, which is within the limits")

    def apply(self, decision: Sequence[StageDecision], *, warm: bool = False) -> ApplyReport:
        """Reconcile the cluster toward ``decision`` at the current time.

        Targets equal to those in force change nothing, unless a resize was deferred or a
        replica is pending: those are retried while the target stands.

        Args:
            decision: One (replicas, cores, batch) target per stage, within the stage limits.
            warm: Create replicas ready at once (used at reset).

        Raises:
            ValueError: naming the stage, knob, value and limits of a target out of limits.
        """
        # Fast path: the targets in force, settled (what a steady policy sends every step).
        if not self.flags[K.G_UNSETTLED] and list(map(tuple, self.targets.tolist())) == list(
            decision
        ):
            return self._no_change
        try:
            values = np.array(decision, dtype=np.int64)
        except (TypeError, ValueError):
            values = None
        if values is None or values.shape != (self.n_stages, self.width):
            self.validate_decision(decision)  # raises with the reason
            raise ValueError(f"a decision needs {self.n_stages} targets of {self.width} values")
        code = self._apply_values(values.reshape(-1), self._no_offset, warm)
        if code < 0:
            self._raise_invalid(decision)
        if code == 0:
            return self._no_change
        self._settled = False
        if not warm:
            K.count_scaling(self.ep, self._totals)
        return ApplyReport.from_rows(self._report, self._totals)

    def _apply_values(self, values: np.ndarray, offset: np.ndarray, warm: bool) -> int:
        """``K.apply_targets`` of flat ``values + offset``, refilling cold starts as it asks."""
        while True:
            code = K.apply_targets(
                self.time,
                values,
                offset,
                self._lows,
                self._highs,
                warm,
                float(self.cluster.resize_delay_s),
                self.targets,
                self.flags,
                self.batch,
                self.target_cores,
                self.pending,
                self.rep_f,
                self.rep_i,
                self.node_free,
                float(self.cluster.cores_per_node),
                self.cold,
                self.cpos,
                self._report,
                self._totals,
                self.cold_scale,
                int(self.prm[K.P_PLACEMENT]),
                int(self.prm[K.P_RESIZE_POLICY]),
                self._shortfall,
                self._spread,
                self._slots_used,
            )
            if code != K.NEED_COLD:
                return code
            self._refill_cold(values, offset)

    def _refill_cold(self, values: np.ndarray, offset: np.ndarray) -> bool:
        """Keep the unused draws; draw a block (or as many as the targets' replicas) after them.

        In place where the buffer has room, so that it stays the array a batched caller holds;
        returns whether it was replaced by a larger one.
        """
        replicas = (values + offset).reshape(self.n_stages, self.width)[:, : self.n_variants]
        wanted = int(replicas.sum())
        fresh = self._cold_starts(max(K.COLD_BLOCK, wanted))
        pos, end = int(self.cpos[0]), int(self.cpos[1])
        kept = end - pos
        size = kept + fresh.size
        grown = size > self.cold.size
        if grown:
            cold = np.zeros(max(size, 2 * self.cold.size))
            cold[:kept] = self.cold[pos:end]
            self.cold = cold
            self._kernel_arrays()
        else:
            self.cold[:kept] = self.cold[pos:end]  # NumPy copies overlapping ranges correctly
        self.cold[kept:size] = fresh
        self.cpos[:] = (0, size)
        return grown

    # ------------------------------------------------------------------ time
    def _grow_buffers(self, t0: float, t1: float, need: int) -> None:
        """Grow or refill the buffers the kernel named in ``need`` for the interval [t0, t1).

        The kernel decides which (``_buffers_needed``); this decides by how much, so the random
        stream is drawn only when the kernel asks.
        """
        assert self._rng is not None
        new, in_system = K.interval_demand(t1, self.cum_counts, self.ep)
        if need & K.NEED_QUEUE:
            capacity = self.queue.shape[2]
            grown = max(in_system + new + 16, 2 * capacity)
            queue = np.zeros((self.n_stages, K.N_QUEUE_ROWS, grown))
            queue[:, :, :capacity] = self.queue
            self.queue = queue
            self._scratch_capacity(grown)
        # Arrival times (uniforms) and service noise (one draw per batch at most): room for
        # twice the draws, so that the next refills happen in the compiled call (K.step).
        if need & K.NEED_UNIFORMS:
            self.ubuf = self._with_room(self.ubuf, K.E_U_POS, K.E_U_END, max(K.RANDOM_BLOCK, new))
        if need & K.NEED_NORMALS:
            size = max(K.RANDOM_BLOCK, (in_system + new) * self.n_stages)
            self.zbuf = self._with_room(self.zbuf, K.E_Z_POS, K.E_Z_END, size)
        if need & (K.NEED_UNIFORMS | K.NEED_NORMALS):
            left = K.refill_randoms(
                self._rng,
                self.prm,
                self.ep,
                self.ubuf,
                self.zbuf,
                need,
                new,
                in_system,
                self.n_stages,
            )
            assert not left & (K.NEED_UNIFORMS | K.NEED_NORMALS), "no room after growing"
        if need & K.NEED_SECONDS:
            self.sec_out = np.zeros((int(t1 - t0) + 2, K.N_SEC_OUT))
        self._kernel_arrays()

    def _with_room(self, buf: np.ndarray, pos: int, end: int, fresh: int) -> np.ndarray:
        """``buf``, or a copy twice as large if its unused draws and ``fresh`` more do not fit.

        ``ep[pos]``, ``ep[end]`` bound the unused draws; a copy holds them at its start.
        """
        start, stop = int(self.ep[pos]), int(self.ep[end])
        size = stop - start + fresh
        if size <= buf.size:
            return buf
        grown = np.zeros(2 * size)
        grown[: stop - start] = buf[start:stop]
        self.ep[pos], self.ep[end] = 0, stop - start
        return grown

    def _kernel_arrays(self) -> None:
        # Bound once per buffer change: the per-interval call then costs one tuple unpack.
        self._step_args = (
            self._fbuf,
            self._ibuf,
            self._lay,
            self.cum_counts,
            self.queue,
            self.ubuf,
            self.zbuf,
            self.nxt_t,
            self.nxt_o,
            self.scratch,
            self.sec_out,
            self.cold,
        )

    def buckets_in(self, dt: float) -> int:
        """The statistics buckets in an interval of ``dt`` s (ValueError if not a whole number)."""
        whole = self._buckets_of.get(dt)
        if whole is None:  # checked once per interval length
            n_buckets = dt / self.bucket_s
            whole = round(n_buckets)
            if dt <= 0 or abs(n_buckets - whole) > 1e-9:
                raise ValueError(
                    f"dt = {dt} must be a positive multiple of bucket_s = {self.bucket_s}"
                )
            self._buckets_of[dt] = whole
        return whole

    def _interval_end(self, dt: float) -> float:
        return (round(self.time / self.bucket_s) + self.buckets_in(dt)) * self.bucket_s

    def _grow_and_run(
        self, t0: float, t1: float, need: int, vector: np.ndarray, high: np.ndarray
    ) -> None:
        """Run an interval that ``K.step`` left undone for short buffers (``need`` bits)."""
        self._grow_buffers(t0, t1, need)
        code = K.step(False, self._lows, self._lows, t0, t1, *self._step_args, vector, high)
        if need := code & _NEED_BITS:
            raise RuntimeError(f"simulator buffers still short after growing (bits {need})")

    def advance(self, dt: float) -> StepStats:
        """Simulate ``dt`` seconds (whole statistics buckets) and return their statistics."""
        t0 = self.time
        t1 = self._interval_end(dt)
        args = self._step_args
        code = K.step(False, self._lows, self._lows, t0, t1, *args, _NO_VECTOR, _NO_VECTOR)
        if need := code & _NEED_BITS:
            self._grow_and_run(t0, t1, need, _NO_VECTOR, _NO_VECTOR)
        out = self.out.tolist()
        completed = out[K.O_COMPLETED]
        core_s = out[K.O_CORE_SECONDS]
        st = self.out_stage
        return StepStats(
            t0=t0,
            t1=t1,
            arrived=int(out[K.O_ARRIVED]),
            completed=int(completed),
            late=int(out[K.O_LATE]),
            dropped=int(out[K.O_DROPPED]),
            violation=out[K.O_VIOLATION],
            latency_mean_ms=out[K.O_LATENCY_SUM] / completed * 1e3 if completed else math.nan,
            latency_p50_ms=out[K.O_P50],
            latency_p95_ms=out[K.O_P95],
            latency_p99_ms=out[K.O_P99],
            cores_allocated=core_s / (t1 - t0),
            core_seconds=core_s,
            memory_cost=out[K.O_MEMORY_COST],
            accuracy_sum=out[K.O_ACCURACY_SUM],
            queue_len=st[:, K.OS_QUEUE].astype(np.int64),
            utilisation=st[:, K.OS_UTILISATION].copy(),
            seconds=self.sec_out[: int(out[K.O_SECONDS])].copy(),
        )

    def run_interval(
        self,
        values: np.ndarray,
        dt: float,
        vector: np.ndarray = _NO_VECTOR,
        high: np.ndarray = _NO_VECTOR,
        offset: np.ndarray | None = None,
    ) -> IntervalSummary:
        """:meth:`apply` then :meth:`advance` in one compiled call, for per-step loops.

        Args:
            values: The targets flat, ``width`` per stage (replicas, cores, batch; with
                variants the replicas of each variant slot, cores, batch), minus
                ``offset``, as a C-contiguous, aligned, writable int64 array.
            dt: Seconds to simulate.
            vector: If not empty, receives the monitoring vector after the interval (float32,
                :attr:`monitor_size` values; layout in :func:`kernel.write_monitor`).
            high: Upper bounds the monitoring vector is clipped to (float32, as ``vector``).
            offset: Added to ``values`` (int64, as ``values``); an env passes its
                MultiDiscrete action and the knobs' lows. Default: none.

        Returns:
            The interval's scalars. Per-stage figures are in :attr:`stage_snapshot` and
            per-second records in :meth:`second_records`, valid until the next call.

        Raises:
            ValueError: naming the stage, knob, value and limits of a target out of limits
                (nothing changed).
        """
        if offset is None:
            offset = self._no_offset
        t0 = self.time
        t1 = self._interval_end(dt)
        code = K.step(True, values, offset, t0, t1, *self._step_args, vector, high)
        if code == K.NEED_COLD:  # too few cold starts drawn for the new replicas
            self._refill_cold(values, offset)
            code = K.step(True, values, offset, t0, t1, *self._step_args, vector, high)
        if code < 0:
            self._raise_invalid((values + offset).reshape(self.n_stages, self.width).tolist())
        if need := code & _NEED_BITS:
            self._grow_and_run(t0, t1, need, vector, high)
        values = self.out.tolist() + self._totals.tolist() + [t0, t1]
        return IntervalSummary._make(values if _gather_summary is None else _gather_summary(values))

    @property
    def monitor_size(self) -> int:
        """Length of the monitoring vector :meth:`run_interval` can write."""
        S = self.n_stages
        size = len(SNAPSHOT_KEYS) * S + len(self.rate_history) + 4 + self.cluster.nodes
        return size + (S * self.n_variants + S if self.n_variants > 1 else 0)

    @property
    def stage_snapshot(self) -> np.ndarray:
        """Per stage at the end of the last interval, columns :data:`SNAPSHOT_KEYS` (a view).

        Replicas, ready, starting and pending replicas, cores per replica, batch size, queued
        requests, and utilisation over the interval. Valid after :meth:`advance` or
        :meth:`run_interval`, until the next call of either.
        """
        return self.out_stage[:, K.SNAPSHOT_COLUMNS]

    def variant_replicas(self, ready: bool = False) -> np.ndarray:
        """Replicas per stage and variant slot now, not being removed (only ready ones if asked).

        Returns an (S, V) int64 array; a stage without variants has its replicas in slot 0.
        """
        now = self.time
        active = self.rep_i[:, :, K.I_ACTIVE] == 1
        live = active & (self.rep_f[:, :, K.F_SERVING_UNTIL] == np.inf)
        if ready:
            live &= self.rep_f[:, :, K.F_READY_AT] <= now
        counts = np.zeros((self.n_stages, self.n_variants), dtype=np.int64)
        for s in range(self.n_stages):
            counts[s] = np.bincount(self.rep_i[s, live[s], K.I_VARIANT], minlength=self.n_variants)
        return counts

    def second_records(self) -> np.ndarray:
        """Per-second records finished in the last interval (a view; see ``StepStats.seconds``)."""
        return self.sec_out[: int(self.out[K.O_SECONDS])]

    # ------------------------------------------------------------------ inspection
    @property
    def state(self) -> SimState:
        """A read-only snapshot of the cluster now."""
        now = self.time
        if self._settled:  # the kernel counted everything at the end of the last interval
            st = self.out_stage
            live_n = st[:, K.OS_LIVE].astype(np.int64)
            ready_n = st[:, K.OS_READY_N].astype(np.int64)
            draining_n = st[:, K.OS_DRAINING].astype(np.int64)
            queue_len = st[:, K.OS_QUEUE].astype(np.int64)
        else:
            counts = np.empty((self.n_stages, K.N_SC), dtype=np.int64)
            K.count_stages(now, self.rep_f, self.rep_i, self.queue, self.qptr, counts)
            live_n = counts[:, K.SC_LIVE]
            ready_n = counts[:, K.SC_READY]
            draining_n = counts[:, K.SC_DRAINING]
            queue_len = counts[:, K.SC_WAITING]
        return SimState(
            time_s=now,
            replicas=live_n,
            ready=ready_n,
            starting=live_n - ready_n,
            draining=draining_n,
            cores=self.target_cores.copy(),
            batch=self.batch.copy(),
            pending=self.pending.copy(),
            free_cores=self.free_cores(),
            queue_len=queue_len,
            in_system=self.in_system,
        )

    @property
    def in_system(self) -> int:
        """Requests arrived (by now) that have neither completed nor been dropped (by now)."""
        return int(self.ep[K.E_ARRIVED] - self.ep[K.E_COMPLETED] - self.ep[K.E_DROPPED])

    def in_system_by_inspection(self) -> int:
        """Requests in the system counted from the queues and the pending completions.

        Independent of the counters behind :attr:`in_system`; conservation tests compare them.
        A request is queued at some stage (arrived there), in service at stage s (it waits in
        stage s+1's queue as a future arrival), in service at the last stage (a completion
        recorded in a future statistics bucket), or dropped so close to the interval's end
        that its time rounds into the next bucket (booked there, as a completion would be).
        """
        now = self.time
        total = 0
        for s in range(self.n_stages):
            head, tail = self.qptr[s]
            arrivals = self.queue[s, K.Q_ARRIVE, head:tail]
            total += int(np.count_nonzero(arrivals < now)) if s == 0 else int(tail - head)
        b_now = int(round(now / self.bucket_s))
        future = [(b_now + k) % _RING_BUCKETS for k in range(_RING_BUCKETS // 2)]
        total += int(self.buckets[future, K.B_COMPLETED].sum())
        total += int(self.buckets[future, K.B_DROPPED].sum())
        return total

    def episode_kpis(self) -> dict[str, float]:
        """Episode totals so far: SLO violation rate, request fractions, cost, latency, scaling.

        With accuracies, ``accuracy`` is the request-weighted pipeline accuracy of the
        completed requests (normalised and combined as the pipeline declares; NaN when none
        completed); with variants, ``variant_share.<stage>.<variant>`` is the share of the
        stage's requests that variant took.
        """
        ep = self.ep
        arrived = float(ep[K.E_ARRIVED])
        completed = float(ep[K.E_COMPLETED])
        hist = self.ep_hist
        total = float(hist.sum())
        p = np.empty(3)  # p50, p95, p99 [ms]: one pass over the histogram
        K.percentiles_from_hist(hist, total, p, 0)
        seconds = ep[K.E_TRAFFIC_SECONDS]
        kpis: dict[str, float] = {
            "slo_violation_rate": float(ep[K.E_VIOLATION_SUM] / seconds) if seconds else 0.0,
            "late_or_dropped_fraction": float((ep[K.E_LATE] + ep[K.E_DROPPED]) / arrived)
            if arrived
            else 0.0,
            "requests": int(arrived),
            "completed": int(completed),
            "late": int(ep[K.E_LATE]),
            "dropped": int(ep[K.E_DROPPED]),
            **request_slo_kpis(arrived, completed, float(ep[K.E_LATE]), float(self.time)),
            "cost_core_seconds": float(ep[K.E_CORE_SECONDS]),
            "cost_memory_equivalent": float(ep[K.E_MEMORY_COST]),
            "mean_cores": float(ep[K.E_CORE_SECONDS] / self.time) if self.time else 0.0,
            "latency_mean_ms": float(ep[K.E_LATENCY_SUM] / completed * 1e3)
            if completed
            else math.nan,
            "latency_p50_ms": float(p[0]),
            "latency_p95_ms": float(p[1]),
            "latency_p99_ms": float(p[2]),
            "episode_s": float(self.time),
            "horizontal_actions": int(ep[K.E_HORIZONTAL]),
            "vertical_actions": int(ep[K.E_VERTICAL]),
            "failed_resizes": int(ep[K.E_FAILED_RESIZES]),
        }
        if self.pipeline.has_accuracy:  # pipelines without accuracies keep their KPIs as they were
            kpis["accuracy"] = float(ep[K.E_ACCURACY_SUM] / completed) if completed else math.nan
        if self.n_variants > 1:
            for s, (stage, models) in enumerate(
                zip(self.pipeline.config.stages, self.pipeline.stage_models, strict=True)
            ):
                total = float(self.served[s].sum())
                for v, model in enumerate(models):
                    share = float(self.served[s, v] / total) if total else 0.0
                    kpis[f"variant_share.{stage.name}.{model.name}"] = share
        return kpis

    # ------------------------------------------------------------------ batched stepping
    # A native vector env steps many simulators in one compiled call (``sim.batch``): it
    # stacks their packed buffers, passes their episode buffers, and lets each finish.
    def adopt_buffers(self, fbuf: np.ndarray, ibuf: np.ndarray) -> None:
        """Move the packed arrays into ``fbuf``/``ibuf`` (rows of a vector env's stacks)."""
        fbuf[...] = self._fbuf
        ibuf[...] = self._ibuf
        self._fbuf, self._ibuf = fbuf, ibuf
        self._bind_views()
        if "cum_counts" in self.__dict__:  # reset was called
            self._kernel_arrays()

    @property
    def packed_buffers(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The float64 and int64 buffers of the packed arrays, and their layout ``lay``."""
        return self._fbuf, self._ibuf, self._lay

    def packed_span(self, attr: str) -> tuple[str, int, tuple[int, ...]]:
        """Where packed array ``attr`` lives: its buffer (``f8``/``i8``), offset and shape."""
        for k in K.Packed:
            if k.field.attr == attr:
                shape = tuple(int(d) for d in self._lay[k, 1 : 1 + len(k.field.shape)])
                return k.field.dtype, int(self._lay[k, 0]), shape
        raise KeyError(f"{attr!r} is not a packed array")

    @property
    def episode_buffers(self) -> tuple[np.ndarray, ...]:
        """The buffers ``kernel.step`` takes after ``lay`` (``sim.batch.EPISODE_BUFFERS``)."""
        return self._step_args[3:]

    @property
    def time(self) -> float:
        """The simulated time [s] (kept in the packed arrays: a step's compiled call moves it)."""
        return float(self._clock[K.C_TIME])

    @time.setter
    def time(self, value: float) -> None:
        self._clock[K.C_TIME] = value

    @property
    def _settled(self) -> bool:
        # True while out_stage describes the state at ``time`` (the kernel counted everything
        # at the end of the last interval; an apply since then unsettles it).
        return bool(self._clock[K.C_SETTLED])

    @_settled.setter
    def _settled(self, value: bool) -> None:
        self._clock[K.C_SETTLED] = 1.0 if value else 0.0

    @property
    def rng(self) -> np.random.Generator | None:
        """The episode's generator (None before the first reset).

        Passed in a typed list, it costs a batched call nothing (from Python, numba unboxes
        a generator in µs): ``kernel.step`` then draws the cold starts it lacks itself.
        """
        return self._rng

    def finish_interval(
        self,
        code: int,
        values: np.ndarray,
        offset: np.ndarray,
        t0: float,
        t1: float,
        vector: np.ndarray,
        high: np.ndarray,
    ) -> bool:
        """Finish an interval that ``kernel.step`` ran for this simulator and returned ``code``.

        As :meth:`run_interval` does after its own call: refill the cold starts or grow the
        buffers where the kernel asked, and run what it left undone. Returns whether the
        episode buffers changed (a batched caller then passes the new ones).
        """
        changed = False
        if code == K.NEED_COLD:
            changed = self._refill_cold(values, offset)
            code = K.step(True, values, offset, t0, t1, *self._step_args, vector, high)
        if code < 0:
            self._raise_invalid((values + offset).reshape(self.n_stages, self.width).tolist())
        if need := code & _NEED_BITS:
            self._grow_and_run(t0, t1, need, vector, high)
            changed = True
        return changed

    def clone(self) -> Simulator:
        """An independent copy (state and generator) for planners that look ahead."""
        return copy.deepcopy(self)


def finish_intervals(
    sims: Sequence[Simulator],
    active: np.ndarray | None,
    codes: np.ndarray,
    values: np.ndarray,
    offset: np.ndarray,
    t0: np.ndarray,
    t1: np.ndarray,
    vectors: np.ndarray,
    high: np.ndarray,
    unfinished: int,
) -> list[int]:
    """:meth:`Simulator.finish_interval` for each active simulator of a batched call.

    Row i of ``codes``, ``values``, ``t0``, ``t1`` and ``vectors`` is simulator i's;
    ``unfinished`` counts the codes with work left (``kernel.step_many``'s return). Most
    intervals finished in the compiled call (no ``NEED_*`` bit), which also moved their clocks:
    those need nothing here. ``active`` None: every simulator was. Returns the simulators whose
    episode buffers changed.
    """
    if not unfinished:
        return []
    unfinished_rows = (codes < 0) | (codes & (_NEED_BITS | K.NEED_COLD) != 0)
    if active is not None:
        unfinished_rows &= active
    changed = []
    for i in unfinished_rows.nonzero()[0].tolist():
        code = int(codes[i])
        if sims[i].finish_interval(
            code, values[i], offset, float(t0[i]), float(t1[i]), vectors[i], high
        ):
            changed.append(i)
    return changed
