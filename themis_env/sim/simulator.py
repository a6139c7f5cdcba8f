"""The serving-cluster simulator: build from config, apply decisions, advance time.

The simulator is plain Python and NumPy around a compiled event loop
(:mod:`themis_env.sim.kernel`); it never imports gymnasium. A decision gives, per stage, the
target replicas, cores per replica and batch size. Applying it reconciles the cluster toward
the target the way Kubernetes would:

* **Batch size** changes at once (the dispatcher's setting).
* **Cores** change by in-place resize of every replica of the stage. A resize that grows a
  replica needs free cores on its node; otherwise it is *deferred*: reported, and nothing
  changes. An accepted resize takes effect ``resize_delay_s`` later; until then the node keeps
  max(old, new) cores reserved.
* **Replicas**: a new replica is placed first-fit on a node with room for its cores, holds
  them from creation, and serves only after a cold start. With no room it stays *pending*
  (reported; the next decision tries again). Scale-in removes cold-starting replicas first,
  then the newest; a removed replica takes no new batch, finishes its batch in service, and
  holds its cores until then.

All randomness comes from the ``numpy.random.Generator`` given to :meth:`Simulator.reset`:
per-second Poisson arrival counts for the whole episode are drawn at reset, then blocks of
uniforms (arrival times) and normals (service noise) as the episode needs them, and cold-start
times at each scale-out. The same generator state and decisions give identical statistics.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np

from themis_env.config.loader import Pipeline
from themis_env.config.schema import ClusterConfig
from themis_env.sim import kernel as K

__all__ = ["StageDecision", "ApplyReport", "StepStats", "SimState", "Simulator"]

_RANDOM_BLOCK = 1 << 14
_COLD_BLOCK = 64  # cold-start durations drawn at a time
_RING_BUCKETS = 512
# Columns of the kernel's per-stage output that a state snapshot reads, as one slice.
_STATE_COLUMNS = slice(K.OS_LIVE, K.OS_QUEUE + 1)
_STATE_ORDER = [K.OS_LIVE, K.OS_READY_N, K.OS_DRAINING, K.OS_QUEUE]
assert _STATE_ORDER == list(range(K.OS_LIVE, K.OS_QUEUE + 1)), "state columns must be adjacent"


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
        failed_resizes: Replicas whose resize was deferred for lack of node cores.
        pending: Replicas asked for but not placed (no node has room).
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
    horizontal_actions: int = 0
    vertical_actions: int = 0
    total_failed_resizes: int = 0
    total_pending: int = 0

    @classmethod
    def from_rows(cls, report: np.ndarray) -> ApplyReport:
        """The report of the kernel's ``report[stage, R_*]`` (copied)."""
        table = report.copy()
        horizontal = vertical = failed = pending = 0
        for row in table.tolist():  # a handful of stages: plain Python beats NumPy calls here
            horizontal += bool(row[K.R_ADDED] or row[K.R_REMOVED])
            vertical += bool(row[K.R_RESIZED])
            failed += row[K.R_FAILED]
            pending += row[K.R_PENDING]
        return cls(
            table[:, K.R_ADDED],
            table[:, K.R_REMOVED],
            table[:, K.R_RESIZED],
            table[:, K.R_FAILED],
            table[:, K.R_PENDING],
            horizontal,
            vertical,
            failed,
            pending,
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
    queue_len: np.ndarray
    utilisation: np.ndarray
    seconds: np.ndarray


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
            the largest ``max_replicas`` of the stages.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        cluster: ClusterConfig,
        *,
        slo_ms: float | None = None,
        bucket_s: float = 1.0,
        arrival_process: Literal["poisson", "exact"] = "poisson",
        max_slots: int | None = None,
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
        self._limits = [(s.min_replicas, s.max_replicas, s.max_cores, s.max_batch) for s in stages]
        self.memory_gb = np.array([m.memory_gb for m in pipeline.models], dtype=np.float64)
        self.n_slots = int(max_slots or 2 * int(self.max_replicas.max()))
        b_max, c_max = int(self.max_batch.max()), int(self.max_cores.max())
        self.table = np.full((self.n_stages, b_max + 1, c_max + 1), np.nan)
        for s, (stage, model) in enumerate(zip(stages, pipeline.models, strict=True)):
            self.table[s, : stage.max_batch + 1, : stage.max_cores + 1] = (
                model.latency.service_table(stage.max_batch, stage.max_cores)
            )
        horizon = np.nanmax(self.table) * 1e-3 * K.NOISE_CAP + 2.0
        if horizon > 0.5 * _RING_BUCKETS * self.bucket_s:
            raise ValueError(
                f"a batch can take {np.nanmax(self.table):.0f} ms; the statistics ring of "
                f"{_RING_BUCKETS} buckets of {self.bucket_s} s is too short for it"
            )
        self.prm = np.zeros(K.N_PRM)
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
        self._rng: np.random.Generator | None = None

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
        if rates.ndim != 1 or not np.all(np.isfinite(rates)) or np.any(rates < 0):
            raise ValueError("rates must be a 1-D array of finite, non-negative req/s")
        self._rng = rng
        self.time = 0.0
        self._steps = 0
        S, R = self.n_stages, self.n_slots
        if self.arrival_process == "poisson":
            self.counts = rng.poisson(rates).astype(np.int64)
        else:
            self.counts = np.rint(rates).astype(np.int64)
        self.rates = rates
        self.rep_f = np.zeros((S, R, K.N_REP_F))
        self.rep_f[:, :, K.F_SERVING_UNTIL] = np.inf
        self.rep_i = np.zeros((S, R, K.N_REP_I), dtype=np.int64)
        self.batch = np.ones(S, dtype=np.int64)
        self.target_cores = np.ones(S, dtype=np.int64)
        self.pending = np.zeros(S, dtype=np.int64)
        capacity = 1024
        self.queue = np.zeros((S, 2, capacity))
        self.qptr = np.zeros((S, 2), dtype=np.int64)
        self.disp = np.zeros(S)
        self.buckets = np.zeros((_RING_BUCKETS, K.N_BUCKET))
        self.bhist = np.zeros((_RING_BUCKETS, K.N_LAT_BINS), dtype=np.int64)
        self.busy = np.zeros((S, _RING_BUCKETS))
        self.ep = np.zeros(K.N_EP)
        self.ep_hist = np.zeros(K.N_LAT_BINS, dtype=np.int64)
        self.sec_acc = np.zeros(4)
        self.ubuf = np.zeros(0)
        self.zbuf = np.zeros(0)
        self._scratch_capacity(capacity)
        self.out = np.zeros(K.N_OUT)
        self.out_stage = np.zeros((S, K.N_OUT_STAGE))
        self.sec_out = np.zeros((1, K.N_SEC_OUT))
        self.node_free = np.full(self.cluster.nodes, float(self.cluster.cores_per_node))
        self.cum_counts = np.concatenate([[0], np.cumsum(self.counts)]).astype(np.int64)
        self._settled = False  # True while out_stage describes the current state
        self._last_targets: list[StageDecision] | None = None
        self._unsettled_target = False
        self.cold = np.zeros(0)
        self.cpos = np.zeros(1, dtype=np.int64)
        self._report = np.zeros((S, K.N_REPORT), dtype=np.int64)
        zero = np.zeros(S, dtype=np.int64)
        zero.flags.writeable = False
        self._no_change = ApplyReport(zero, zero, zero, zero, zero)
        self.episode_core_seconds = 0.0
        self.episode_memory_cost = 0.0
        self._kernel_arrays()
        self.apply(initial, warm=True)

    def _scratch_capacity(self, capacity: int) -> None:
        self.nxt_t = np.zeros(capacity)
        self.nxt_o = np.zeros(capacity)
        self.scratch = np.zeros((2, capacity))

    # ------------------------------------------------------------------ actuation
    def free_cores(self) -> np.ndarray:
        """Free cores per node now (kept current by every apply and advance)."""
        return self.node_free.copy()

    def _cold_starts(self, n: int) -> np.ndarray:
        """``n`` cold-start durations [s] from the scenario's distribution, clipped."""
        cfg = self.cluster.cold_start
        assert self._rng is not None
        if cfg.distribution == "constant":
            values = np.full(n, cfg.median_s)
        elif cfg.distribution == "uniform":
            values = self._rng.uniform(cfg.min_s, cfg.max_s, n)
        else:
            values = cfg.median_s * np.exp(cfg.sigma * self._rng.standard_normal(n))
        return np.clip(values, cfg.min_s, cfg.max_s)

    def validate_decision(self, decision: Sequence[StageDecision]) -> list[StageDecision]:
        """Check a decision against the stages' limits; raise ValueError naming what is wrong."""
        if len(decision) != self.n_stages:
            raise ValueError(f"a decision needs {self.n_stages} stages, got {len(decision)}")
        checked = []
        for d, (lo_n, hi_n, hi_c, hi_b) in zip(decision, self._limits, strict=True):
            n, c, b = d  # (replicas, cores, batch), nothing more
            n, c, b = int(n), int(c), int(b)
            if not (lo_n <= n <= hi_n and 1 <= c <= hi_c and 1 <= b <= hi_b):
                self._raise_out_of_limits(len(checked), n, c, b)
            checked.append(StageDecision(n, c, b))
        return checked

    def _raise_out_of_limits(self, s: int, n: int, c: int, b: int) -> None:
        stage = self.pipeline.config.stages[s]
        for what, value, lo, hi in (
            ("replicas", n, stage.min_replicas, stage.max_replicas),
            ("cores", c, 1, stage.max_cores),
            ("batch", b, 1, stage.max_batch),
        ):
            if not lo <= value <= hi:
                raise ValueError(
                    f"stage {s} ({stage.name}): {what} = {value} is outside [{lo}, {hi}]"
                )

    def apply(self, decision: Sequence[StageDecision], *, warm: bool = False) -> ApplyReport:
        """Reconcile the cluster toward ``decision`` at the current time.

        Args:
            decision: One (replicas, cores, batch) target per stage, within the stage limits.
            warm: Create replicas ready at once (used at reset).
        """
        # Fast path, before validation: the target in force, already validated and fully placed.
        if not self._unsettled_target and self._last_targets == list(decision):
            return self._no_change
        decision = self.validate_decision(decision)
        self._settled = False
        targets = np.array(decision, dtype=np.int64)
        self.batch[:] = targets[:, 2]
        self.target_cores[:] = targets[:, 1]
        wanted = sum(d.replicas for d in decision)
        if not warm and len(self.cold) - int(self.cpos[0]) < wanted:
            fresh = self._cold_starts(max(_COLD_BLOCK, wanted))
            self.cold = np.concatenate([self.cold[int(self.cpos[0]) :], fresh])
            self.cpos[0] = 0
        report = self._report
        K.reconcile(
            self.time,
            targets,
            self.rep_f,
            self.rep_i,
            self.node_free,
            float(self.cluster.cores_per_node),
            float(self.cluster.resize_delay_s),
            warm,
            self.cold,
            self.cpos,
            report,
        )
        self.pending[:] = report[:, K.R_PENDING]
        self._last_targets = decision
        result = ApplyReport.from_rows(report)
        # A deferred resize or a pending replica is retried while the target stands.
        self._unsettled_target = bool(result.total_failed_resizes or result.total_pending)
        return result

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
            queue = np.zeros((self.n_stages, 2, grown))
            queue[:, :, :capacity] = self.queue
            self.queue = queue
            self._scratch_capacity(grown)
        if need & K.NEED_UNIFORMS:  # arrival times
            upos = int(self.ep[K.E_U_POS])
            fresh = self._rng.random(max(_RANDOM_BLOCK, new))
            self.ubuf = np.concatenate([self.ubuf[upos:], fresh])
            self.ep[K.E_U_POS] = 0
        if need & K.NEED_NORMALS:  # service noise, one draw per batch at most
            zpos = int(self.ep[K.E_Z_POS])
            size = max(_RANDOM_BLOCK, (in_system + new) * self.n_stages)
            fresh = (
                self._rng.standard_exponential(size)
                if self.prm[K.P_EXPONENTIAL] > 0
                else self._rng.standard_normal(size)
            )
            self.zbuf = np.concatenate([self.zbuf[zpos:], fresh])
            self.ep[K.E_Z_POS] = 0
        if need & K.NEED_SECONDS:
            self.sec_out = np.zeros((int(t1 - t0) + 2, K.N_SEC_OUT))
        self._kernel_arrays()

    def _kernel_arrays(self) -> None:
        # Bound once per buffer change: the per-interval call then costs one tuple unpack.
        self._arrays = (
            self.batch,
            self.table,
            self.cum_counts,
            self.queue,
            self.qptr,
            self.disp,
            self.rep_f,
            self.rep_i,
            self.prm,
            self.buckets,
            self.bhist,
            self.busy,
            self.ep,
            self.ep_hist,
            self.sec_acc,
            self.ubuf,
            self.zbuf,
            self.nxt_t,
            self.nxt_o,
            self.scratch,
            self.out,
            self.out_stage,
            self.sec_out,
            self.memory_gb,
            self.node_free,
        )

    def advance(self, dt: float) -> StepStats:
        """Simulate ``dt`` seconds (whole statistics buckets) and return their statistics."""
        n_buckets = dt / self.bucket_s
        whole = round(n_buckets)
        if dt <= 0 or abs(n_buckets - whole) > 1e-9:
            raise ValueError(f"dt = {dt} must be a positive multiple of bucket_s = {self.bucket_s}")
        t0 = self.time
        t1 = (round(t0 / self.bucket_s) + whole) * self.bucket_s
        need = K.advance(t0, t1, *self._arrays)
        if need:  # a buffer is short and nothing changed: grow it and run the interval
            self._grow_buffers(t0, t1, need)
            if need := K.advance(t0, t1, *self._arrays):
                raise RuntimeError(f"simulator buffers still short after growing (bits {need})")
        self.time = t1
        self._settled = True
        self._steps += 1
        (
            arrived,
            completed,
            late,
            dropped,
            latency_sum,
            p50,
            p95,
            p99,
            n_sec,
            core_s,
            violation,
            memory_cost,
        ) = self.out.tolist()
        self.episode_core_seconds += core_s
        self.episode_memory_cost += memory_cost
        st = self.out_stage
        return StepStats(
            t0=t0,
            t1=t1,
            arrived=int(arrived),
            completed=int(completed),
            late=int(late),
            dropped=int(dropped),
            violation=violation,
            latency_mean_ms=latency_sum / completed * 1e3 if completed else math.nan,
            latency_p50_ms=p50,
            latency_p95_ms=p95,
            latency_p99_ms=p99,
            cores_allocated=core_s / (t1 - t0),
            core_seconds=core_s,
            memory_cost=memory_cost,
            queue_len=st[:, K.OS_QUEUE].astype(np.int64),
            utilisation=st[:, K.OS_UTILISATION].copy(),
            seconds=self.sec_out[: int(n_sec)].copy(),
        )

    # ------------------------------------------------------------------ inspection
    @property
    def state(self) -> SimState:
        """A read-only snapshot of the cluster now."""
        now = self.time
        if self._settled:  # the kernel counted everything at the end of the last interval
            counts = self.out_stage[:, _STATE_COLUMNS].astype(np.int64).T
            live_n, ready_n, draining_n, queue_len = counts
        else:
            active = self.rep_i[:, :, K.I_ACTIVE] == 1
            removing = self.rep_f[:, :, K.F_SERVING_UNTIL] < np.inf
            live = active & ~removing
            live_n = live.sum(axis=1)
            ready_n = (live & (self.rep_f[:, :, K.F_READY_AT] <= now)).sum(axis=1)
            draining_n = (active & removing).sum(axis=1)
            queue_len = np.zeros(self.n_stages, dtype=np.int64)
            for s in range(self.n_stages):
                head, tail = self.qptr[s]
                queue_len[s] = int(np.count_nonzero(self.queue[s, K.Q_ARRIVE, head:tail] < now))
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
        stage s+1's queue as a future arrival), or in service at the last stage (a completion
        recorded in a future statistics bucket).
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
        return total

    def episode_kpis(self) -> dict[str, float]:
        """Episode totals so far: Themis SLO violation rate, request fractions, cost, latency."""
        ep = self.ep
        arrived = float(ep[K.E_ARRIVED])
        completed = float(ep[K.E_COMPLETED])
        hist = self.ep_hist
        total = float(hist.sum())
        seconds = ep[K.E_TRAFFIC_SECONDS]
        return {
            "slo_violation_rate": float(ep[K.E_VIOLATION_SUM] / seconds) if seconds else 0.0,
            "late_or_dropped_fraction": float((ep[K.E_LATE] + ep[K.E_DROPPED]) / arrived)
            if arrived
            else 0.0,
            "requests": int(arrived),
            "completed": int(completed),
            "late": int(ep[K.E_LATE]),
            "dropped": int(ep[K.E_DROPPED]),
            "cost_core_seconds": float(self.episode_core_seconds),
            "cost_memory_equivalent": float(self.episode_memory_cost),
            "mean_cores": float(self.episode_core_seconds / self.time) if self.time else 0.0,
            "latency_mean_ms": float(ep[K.E_LATENCY_SUM] / completed * 1e3)
            if completed
            else math.nan,
            "latency_p50_ms": float(K.percentile_from_hist(hist, total, 0.50)),
            "latency_p95_ms": float(K.percentile_from_hist(hist, total, 0.95)),
            "latency_p99_ms": float(K.percentile_from_hist(hist, total, 0.99)),
            "episode_s": float(self.time),
        }

    def clone(self) -> Simulator:
        """An independent copy (state and generator) for planners that look ahead."""
        return copy.deepcopy(self)
