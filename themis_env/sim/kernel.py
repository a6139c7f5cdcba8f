"""The compiled event loop of the simulator (numba, no Python objects).

One call advances every stage of the pipeline from ``t0`` to ``t1``. Each stage is a FIFO
queue in front of a dispatcher and a set of replicas:

* The dispatcher takes requests in arrival order. It starts taking requests for batch k when
  batch k−1 has been handed to a replica; a request is taken at max(its arrival, that time).
  A request whose age at that moment is at least ``drop_after`` is dropped. The batch closes
  when it holds ``b`` requests, or ``timeout`` after its first request was taken.
* A closed batch starts on the replica that frees first (ties to the lowest slot), at
  max(close, replica free, replica ready, t0): this is the Lindley recursion with several
  servers. Its service time is the latency table of the replica's model variant at (batch
  size, cores the replica has at the start time), times an optional lognormal noise. With
  several variants in a stage the routing is the same work-conserving rule over all of the
  stage's replicas whatever their variant: the replica available earliest takes the batch
  (idle replicas count from when they went idle, so they take turns), and a faster variant,
  freeing sooner, takes more of the load under saturation. Each request carries the accuracy
  of the variants that served it (summed or multiplied over the stages) into the statistics
  of its completion.
* A batch that cannot start before ``t1`` is not committed: its requests stay queued, and the
  next interval re-forms the batch under the configuration then in force.

Stages are processed in order: a batch's requests enter the next stage's queue at the batch's
end time, which may lie beyond ``t1`` (they are then in service, and wait in the queue as
future arrivals). The pipeline is a chain, so processing stage by stage is exact.

Statistics go into a ring of time buckets keyed by event time (arrival, drop, completion);
buckets of the finished interval are then reduced into the step output, the per-second
violation records and the episode totals, and cleared. No per-request data outlives a call.

Array layouts (S stages, R replica slots per stage, Q queue capacity, H ring buckets,
NB latency-histogram bins) are documented on the constants below and in
:mod:`themis_env.sim.simulator`, which owns the arrays.

Entry points: ``reconcile``/``apply_targets`` (actuation), ``advance`` (one interval), and
``step``, which does apply, advance, the rate history and the monitoring vector in one call on
the packed arrays (:class:`Packed`): the per-step path of an env; ``step_many`` steps many
simulators in one call (a native vector env's path, see :mod:`themis_env.sim.batch`).
"""

from __future__ import annotations

import math
from enum import IntEnum
from typing import Literal, NamedTuple

import numpy as np
from llvmlite import ir
from numba import carray, njit, types
from numba.core import cgutils
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic
from numba.np.arrayobj import populate_array
from numba.typed import List


# The kernel allocates nothing (a call's scratch lives in the packed buffers), so it is compiled
# without numba's reference counting (NRT): else every call increments and decrements each
# array argument's count, an atomic operation, on entry and exit, which took a fifth of the
# compiled step. Only functions that return a new array need NRT (``_v1`` .. ``_v3``).
# ``_nrt`` is a private option of numba's CPU target: where a numba release lacks it, the
# kernel compiles with NRT (same results, slower) rather than failing at import.
def _no_refcounts() -> dict[str, bool]:
    try:
        from numba.core.cpu import CPUTargetOptions
    except ImportError:
        return {}
    return {"_nrt": False} if hasattr(CPUTargetOptions, "_nrt") else {}


_compiled = njit(cache=True, **_no_refcounts())
# Inlined into their caller by numba: small helpers, and the per-step functions that take
# twenty or more arrays (each passed as a struct of seven or more words), whose calls cost
# the compiled step about 5 % in argument passing (``_serve_stage``, ``reconcile``,
# ``apply_targets``; ``advance``'s call numba cannot inline).
_inlined = njit(cache=True, inline="always", **_no_refcounts())
# Replica float fields: rep_f[s, r, F_*]
F_SERVING_UNTIL = 0  # takes no new batch at or after this time (inf unless being removed)
F_READY_AT = 1  # end of the cold start
F_FREE_AT = 2  # end of the batch in service
F_SWITCH_AT = 3  # time a pending in-place resize takes effect
F_CREATED_AT = 4
N_REP_F = 5
# Replica int fields: rep_i[s, r, I_*]
I_ACTIVE = 0  # slot holds a replica (it holds cores)
I_CORES_OLD = 1  # cores before the pending resize
I_CORES_NEW = 2  # cores after it (the current target)
I_NODE = 3
I_VARIANT = 4  # the model variant the replica runs (index in its stage's variants)
N_REP_I = 5
# Queue rows: queue[s, Q_*, i]
Q_ARRIVE = 0  # arrival at this stage [s]
Q_ORIGIN = 1  # arrival at the first stage [s]
Q_ACC = 2  # accuracy of the variants that served it so far (only with P_ACC_MODE > 0)
N_QUEUE_ROWS = 3
# Bucket columns: buckets[h, B_*]
B_ARRIVED = 0
B_COMPLETED = 1
B_LATE = 2
B_DROPPED = 3
B_LATENCY_SUM = 4
B_ACCURACY = 5  # Σ pipeline accuracy of the completions
B_HELD = 6  # completions whose latency waits in the bucket's row of bhist (ended after an interval)
N_BUCKET = 7
# Scalar parameters: prm[P_*]
P_SLO = 0  # [s]
P_DROP_AFTER = 1  # [s], inf = never
P_TIMEOUT = 2  # [s], inf = wait for a full batch
P_NOISE_SIGMA = 3  # lognormal sigma of the service-time noise, 0 = none
P_BUCKET = 4  # bucket width [s]
P_BUCKETS_PER_SECOND = 5
P_EXPONENTIAL = 6  # 1: service ~ Exp(mean = latency model), for queueing-theory validation
P_CORES_PER_NODE = 7
P_CORE_MEMORY_GB = 8  # memory-equivalent price of a core [GB]
P_RESIZE_DELAY = 9  # [s] from an accepted in-place resize to its effect
P_ACC_MODE = 10  # 0: no accuracies; 1: stage accuracies add up; 2: they multiply
P_ACC_SCALE = 11  # the pipeline accuracy is the combination times this (1/S: an average)
P_PLACEMENT = 12  # where a new replica goes: one of PLACE_*
P_RESIZE_POLICY = 13  # what a resize the node cannot hold does: one of RESIZE_*
P_COLD_DIST = 14  # the cold-start distribution: one of COLD_*
P_COLD_MEDIAN = 15  # [s], also the constant's value
P_COLD_SIGMA = 16  # lognormal shape
P_COLD_MIN = 17  # [s] lower clip
P_COLD_MAX = 18  # [s] upper clip
N_PRM = 19
# Cold-start distributions (P_COLD_DIST), see draw_cold_starts.
COLD_CONSTANT = 0
COLD_UNIFORM = 1
COLD_LOGNORMAL = 2
COLD_BLOCK = 64  # cold-start durations drawn at a time (or as many as the targets' replicas)
# Placement strategies (P_PLACEMENT), see _place.
PLACE_FIRST_FIT = 0
PLACE_SPREAD = 1
PLACE_MOST_ALLOCATED = 2
MAX_NODE_SCORE = 100  # the scheduler's framework.MaxNodeScore
# Resize policies (P_RESIZE_POLICY), see reconcile.
RESIZE_FAIL = 0
RESIZE_DEFER = 1
NOISE_CAP = 20.0  # a batch never takes more than 20x its model latency (bounds the stats ring)
# Episode accumulators: ep[E_*]
E_ARRIVED = 0
E_COMPLETED = 1
E_LATE = 2
E_DROPPED = 3
E_LATENCY_SUM = 4
E_VIOLATION_SUM = 5  # Σ per-second violation over seconds with traffic
E_TRAFFIC_SECONDS = 6
E_GEN_UPTO = 7  # seconds of arrivals generated so far
E_U_POS = 8  # next unused uniform
E_Z_POS = 9  # next unused normal
E_CORE_SECONDS = 10  # allocated core-seconds
E_MEMORY_COST = 11  # memory-equivalent cost (see O_MEMORY_COST)
E_HORIZONTAL = 12  # scaling actions applied (not counting the warm start): see T_*
E_VERTICAL = 13
E_FAILED_RESIZES = 14
E_ACCURACY_SUM = 15  # Σ pipeline accuracy of the completions
E_U_END = 16  # end of the uniforms drawn into ubuf (its length is a capacity)
E_Z_END = 17  # end of the service draws in zbuf
N_EP = 18
RANDOM_BLOCK = 1 << 14  # uniforms or service draws drawn at a time (or as many as needed)
# Step output: out[O_*]
O_ARRIVED = 0
O_COMPLETED = 1
O_LATE = 2
O_DROPPED = 3
O_LATENCY_SUM = 4
O_P50 = 5
O_P95 = 6
O_P99 = 7
O_SECONDS = 8  # seconds finalised in this call (rows of sec_out)
O_CORE_SECONDS = 9
O_VIOLATION = 10  # min(1, late/completed + dropped/arrived) over the interval
O_MEMORY_COST = 11  # Σ replica-seconds × memory_gb + core_memory_gb × core-seconds
O_ACCURACY_SUM = 12  # Σ pipeline accuracy of the completions (0 without accuracies)
N_OUT = 13
# Per-stage step output: out_stage[s, OS_*]
OS_BUSY = 0  # replica-seconds spent serving
OS_READY = 1  # replica-seconds of ready, serving replicas
OS_CORE_SECONDS = 2  # allocated core-seconds
OS_REPLICA_SECONDS = 3  # allocated replica-seconds (for memory cost)
OS_DRAINING = 4  # replicas removed and still finishing a batch, at t1
# The stage's state at t1, adjacent and in this order so that a snapshot is one slice.
OS_LIVE = 5  # replicas not being removed
OS_READY_N = 6  # of those, past their cold start
OS_STARTING = 7  # of those, in cold start
OS_PENDING = 8  # replicas asked for, not placed
OS_CORES = 9  # target cores per replica
OS_BATCH = 10  # batch size
OS_QUEUE = 11  # requests waiting (arrived, not yet in a batch)
OS_UTILISATION = 12  # busy / ready over the interval, clipped to [0, 1]
OS_SERVED = 13  # requests whose batch started in the interval
OS_ACCURACY = 14  # Σ the stage accuracy of those requests' variants
OS_MEMORY_SECONDS = 15  # Σ replica-seconds × the replica's variant's memory_gb
N_OUT_STAGE = 16
SNAPSHOT_COLUMNS = slice(OS_LIVE, OS_UTILISATION + 1)
# Per-second records: sec_out[k, SO_*]
SO_SECOND = 0
SO_ARRIVED = 1
SO_COMPLETED = 2
SO_LATE = 3
SO_DROPPED = 4
SO_VIOLATION = 5
N_SEC_OUT = 6
# The clock: clock[C_*]
C_TIME = 0  # [s]
C_SETTLED = 1  # 1.0 while the stage statistics describe the state at C_TIME (after an interval)
N_CLOCK = 2

# Latency histogram: bin k covers [LAT_BASE·G^k, LAT_BASE·G^(k+1)) ms, 2 % relative width.
LAT_BASE_MS = 0.5
LAT_GROWTH = 1.02
N_LAT_BINS = 720
# bhist[h, :N_LAT_BINS] is bucket h's histogram; these two columns bound its non-zero bins
# [lo, hi) (hi = 0: empty), so that reducing a bucket reads only those. The interval's own
# histogram (``advance``'s ``hist``) is one such row.
BH_LO = N_LAT_BINS
BH_HI = N_LAT_BINS + 1


@_inlined
def _bucket_index(t: float, width: float) -> int:
    """The statistics bucket of time ``t`` (not wrapped onto the ring; monotone in ``t``)."""
    return int(math.floor(t / width + 1e-9))


@_inlined
def _bucket_of(t: float, width: float, n_buckets: int) -> int:
    # The ring's length is a power of two (the simulator's _RING_BUCKETS) and t >= 0: the
    # mask is the modulo without an integer division.
    return _bucket_index(t, width) & (n_buckets - 1)


@_inlined
def _count_latency(hist: np.ndarray, row: int, k: int) -> None:
    """One more latency in bin ``k`` of histogram row ``row`` (columns BH_LO, BH_HI kept)."""
    hist[row, k] += 1
    if hist[row, BH_HI] == 0:
        hist[row, BH_LO] = k
        hist[row, BH_HI] = k + 1
    elif k < hist[row, BH_LO]:
        hist[row, BH_LO] = k
    elif k >= hist[row, BH_HI]:
        hist[row, BH_HI] = k + 1


@_inlined
def _before(t_a: float, r_a: int, t_b: float, r_b: int) -> bool:
    return t_a < t_b or (t_a == t_b and r_a < r_b)


@_compiled
def _heap_push(heap_t: np.ndarray, heap_r: np.ndarray, n: int, t: float, r: int) -> None:
    i = n
    heap_t[i] = t
    heap_r[i] = r
    while i > 0:
        parent = (i - 1) // 2
        if not _before(heap_t[i], heap_r[i], heap_t[parent], heap_r[parent]):
            break
        heap_t[i], heap_t[parent] = heap_t[parent], heap_t[i]
        heap_r[i], heap_r[parent] = heap_r[parent], heap_r[i]
        i = parent


@_compiled
def _heap_replace_top(heap_t: np.ndarray, heap_r: np.ndarray, n: int, t: float, r: int) -> None:
    """Give the top replica a new availability time and restore the heap order."""
    heap_t[0] = t
    heap_r[0] = r
    i = 0
    while True:
        left = 2 * i + 1
        if left >= n:
            break
        child = left
        right = left + 1
        if right < n and _before(heap_t[right], heap_r[right], heap_t[left], heap_r[left]):
            child = right
        if not _before(heap_t[child], heap_r[child], heap_t[i], heap_r[i]):
            break
        heap_t[i], heap_t[child] = heap_t[child], heap_t[i]
        heap_r[i], heap_r[child] = heap_r[child], heap_r[i]
        i = child


@_compiled
def _slots_in_use(rep_i: np.ndarray, used: np.ndarray, s: int) -> int:
    """One past the highest active slot of stage ``s`` (slots fill lowest first).

    ``used[s]`` bounds it from above (no slot at or past it is active: a replica's creation
    raises it, see ``reconcile``) and receives it: the scan starts there rather than at the
    last slot, which the kernel's loops over replicas call many times a step.
    """
    for r in range(used[s] - 1, -1, -1):
        if rep_i[s, r, I_ACTIVE] == 1:
            used[s] = r + 1
            return r + 1
    used[s] = 0
    return 0


@_inlined
def _lat_bin(lat_ms: float) -> int:
    if lat_ms <= LAT_BASE_MS:
        return 0
    k = int(math.log(lat_ms / LAT_BASE_MS) / math.log(LAT_GROWTH))
    return min(k, N_LAT_BINS - 1)


# Representative latency [ms] of each histogram bin (its geometric centre): a table, as a
# ``pow`` per percentile cost the step about 1 %. Python's float ``**`` calls the C
# library's ``pow`` as the compiled ``**`` does, so the values are the same (tested; NumPy's
# vectorised power differs in the last bit for some bins).
LAT_BIN_VALUES = np.array([LAT_BASE_MS * LAT_GROWTH ** (k + 0.5) for k in range(N_LAT_BINS)])
LAT_BIN_VALUES.flags.writeable = False


@_inlined
def lat_bin_value(k: int) -> float:
    """Representative latency [ms] of histogram bin ``k`` (geometric centre)."""
    return LAT_BIN_VALUES[k]


@_compiled
def percentiles_from_hist(
    hist: np.ndarray, total: float, out: np.ndarray, first: int, lo: int = 0
) -> None:
    """p50, p95 and p99 [ms] of a latency histogram into ``out[first:first+3]`` in one pass.

    Bins below ``lo`` must be empty; the scan starts there.
    """
    if total <= 0:
        out[first] = np.nan
        out[first + 1] = np.nan
        out[first + 2] = np.nan
        return
    targets = (0.50 * total, 0.95 * total, 0.99 * total)
    q = 0
    acc = 0.0
    for k in range(lo, hist.shape[0]):
        acc += hist[k]
        while q < 3 and acc >= targets[q]:
            out[first + q] = lat_bin_value(k)
            q += 1
        if q == 3:
            return
    while q < 3:
        out[first + q] = lat_bin_value(hist.shape[0] - 1)
        q += 1


@_compiled
def _add_interval(
    arr: np.ndarray, row: int, a: float, b: float, weight: float, width: float
) -> None:
    """Add ``weight`` × the overlap of [a, b) with each bucket to ``arr[row, bucket]``."""
    n = arr.shape[1]
    t = a
    while t < b - 1e-12:
        k = _bucket_index(t, width)
        edge = (k + 1) * width
        stop = edge if edge < b else b
        arr[row, k & (n - 1)] += weight * (stop - t)  # n: a power of two, as in _bucket_of
        t = stop


# Below this many values an insertion sort alone beats bucketing them first.
_BUCKET_SORT_MIN = 24


@_compiled
def _sorted_uniforms(u: np.ndarray, base: float, dst: np.ndarray, count: np.ndarray) -> None:
    """``dst[i] = base + `` the i-th smallest of ``u`` (uniforms on [0, 1)), in O(n) expected.

    A bucket sort: n values go to n equal buckets by value (``count``, n + 1 floats of
    scratch, counts them), then one insertion pass orders each bucket's few values. The result
    is any sort's (``base + u`` is monotone in ``u``); numba's ``ndarray.sort`` costs several
    times more, its quicksort calling the comparison through a pointer.
    """
    n = u.shape[0]
    if n >= _BUCKET_SORT_MIN:
        count[: n + 1] = 0.0
        for i in range(n):
            count[min(int(u[i] * n), n - 1) + 1] += 1.0
        for b in range(1, n):
            count[b] += count[b - 1]  # count[b]: where bucket b starts
        for i in range(n):
            b = min(int(u[i] * n), n - 1)
            dst[int(count[b])] = base + u[i]
            count[b] += 1.0
    else:
        for i in range(n):
            dst[i] = base + u[i]
    for i in range(1, n):
        v = dst[i]
        j = i - 1
        while j >= 0 and dst[j] > v:
            dst[j + 1] = dst[j]
            j -= 1
        dst[j + 1] = v


@_compiled
def _generate_arrivals(
    t1: float,
    cum: np.ndarray,
    queue: np.ndarray,
    qptr: np.ndarray,
    buckets: np.ndarray,
    prm: np.ndarray,
    ep: np.ndarray,
    ubuf: np.ndarray,
    count: np.ndarray,
) -> None:
    """Append the arrivals of every second that starts before ``t1`` to the first queue.

    ``cum[k]`` is the number of arrivals in seconds [0, k) (cumulative counts, ``cum[0] = 0``).
    ``count`` is scratch for the sort (the queue's capacity + 1 floats at least).
    """
    width = prm[P_BUCKET]
    n_buckets = buckets.shape[0]
    sec = int(ep[E_GEN_UPTO])
    upos = int(ep[E_U_POS])
    while sec < t1 - 1e-9:
        n = cum[sec + 1] - cum[sec] if sec + 1 < cum.shape[0] else 0
        if n > 0:
            tail = qptr[0, 1]
            if tail + n > queue.shape[2] or n >= count.shape[0]:
                raise RuntimeError("queue capacity exceeded: the simulator must grow it first")
            _sorted_uniforms(ubuf[upos : upos + n], sec, queue[0, Q_ARRIVE, tail:], count)
            for i in range(n):
                queue[0, Q_ORIGIN, tail + i] = queue[0, Q_ARRIVE, tail + i]
            # The bucket is monotone in the time: if the first and last arrivals share one, all do.
            first = _bucket_index(queue[0, Q_ARRIVE, tail], width)
            if first == _bucket_index(queue[0, Q_ARRIVE, tail + n - 1], width):
                buckets[first & (n_buckets - 1), B_ARRIVED] += n
            else:
                for i in range(n):
                    t = queue[0, Q_ARRIVE, tail + i]
                    buckets[_bucket_of(t, width, n_buckets), B_ARRIVED] += 1.0
            upos += n
            qptr[0, 1] = tail + n
        sec += 1
    ep[E_GEN_UPTO] = sec
    ep[E_U_POS] = upos


@_compiled
def _merge_into_queue(
    queue: np.ndarray,
    qptr: np.ndarray,
    s: int,
    new_t: np.ndarray,
    new_o: np.ndarray,
    m: int,
    scratch: np.ndarray,
    carry: bool,
) -> None:
    """Merge ``m`` new items into stage ``s``'s time-sorted queue.

    An item is its arrival ``new_t[i]``, its origin ``new_o[0, i]`` and, if ``carry``, its
    accuracy so far ``new_o[1, i]``.
    """
    head = qptr[s, 0]
    tail = qptr[s, 1]
    n_old = tail - head
    if n_old + m > queue.shape[2]:
        raise RuntimeError("queue capacity exceeded: the simulator must grow it first")
    # Batches end nearly in start order, so a stable insertion sort is close to linear here
    # (and keeps a batch's requests in FIFO order).
    for a in range(1, m):
        t = new_t[a]
        o = new_o[0, a]
        acc = new_o[1, a]
        b = a - 1
        while b >= 0 and new_t[b] > t:
            new_t[b + 1] = new_t[b]
            new_o[0, b + 1] = new_o[0, b]
            if carry:
                new_o[1, b + 1] = new_o[1, b]
            b -= 1
        new_t[b + 1] = t
        new_o[0, b + 1] = o
        if carry:
            new_o[1, b + 1] = acc
    i = head
    j = 0
    k = 0
    while i < tail or j < m:
        take_old = j >= m or (i < tail and queue[s, Q_ARRIVE, i] <= new_t[j])
        if take_old:
            scratch[0, k] = queue[s, Q_ARRIVE, i]
            scratch[1, k] = queue[s, Q_ORIGIN, i]
            if carry:
                scratch[2, k] = queue[s, Q_ACC, i]
            i += 1
        else:
            scratch[0, k] = new_t[j]
            scratch[1, k] = new_o[0, j]
            if carry:
                scratch[2, k] = new_o[1, j]
            j += 1
        k += 1
    for x in range(k):
        queue[s, Q_ARRIVE, x] = scratch[0, x]
        queue[s, Q_ORIGIN, x] = scratch[1, x]
        if carry:
            queue[s, Q_ACC, x] = scratch[2, x]
    qptr[s, 0] = 0
    qptr[s, 1] = k


@_compiled
def _compact(queue: np.ndarray, qptr: np.ndarray, s: int, carry: bool) -> None:
    head = qptr[s, 0]
    if head == 0:
        return
    tail = qptr[s, 1]
    for i in range(tail - head):
        queue[s, Q_ARRIVE, i] = queue[s, Q_ARRIVE, head + i]
        queue[s, Q_ORIGIN, i] = queue[s, Q_ORIGIN, head + i]
        if carry:
            queue[s, Q_ACC, i] = queue[s, Q_ACC, head + i]
    qptr[s, 0] = 0
    qptr[s, 1] = tail - head


@_inlined
def _serve_stage(
    s: int,
    t0: float,
    t1: float,
    batch_size: int,
    table: np.ndarray,
    queue: np.ndarray,
    qptr: np.ndarray,
    disp: np.ndarray,
    rep_f: np.ndarray,
    rep_i: np.ndarray,
    prm: np.ndarray,
    buckets: np.ndarray,
    bhist: np.ndarray,
    hist: np.ndarray,
    busy: np.ndarray,
    zbuf: np.ndarray,
    ep: np.ndarray,
    last: bool,
    nxt_t: np.ndarray,
    nxt_o: np.ndarray,
    accuracy: np.ndarray,
    served: np.ndarray,
    out_stage: np.ndarray,
    heap_t: np.ndarray,
    heap_r: np.ndarray,
    idx: np.ndarray,
    slots_used: np.ndarray,
) -> int:
    """Form and start the batches of stage ``s`` that start before ``t1``.

    ``table[s · V + v]`` is the latency table of the stage's variant v (V = ``accuracy``'s
    columns). With accuracies (``P_ACC_MODE``), ``accuracy[s, v]`` is added to (or multiplies)
    each request's accuracy so far, and the requests a batch takes are counted per variant in
    ``served`` and per stage in ``out_stage``.

    The last stage counts each completion's latency in ``hist`` (row 0, laid out as a row of
    ``bhist``) when it falls in the interval's buckets, else in its bucket's row of ``bhist``.
    ``heap_t``, ``heap_r`` (a slot each) and ``idx`` (the largest batch) are scratch;
    ``slots_used`` is ``_slots_in_use``'s bound.

    Returns the number of (end time, origin[, accuracy]) items written to ``nxt_t``/``nxt_o``
    for the next stage (0 for the last stage, whose completions go to the statistics).
    """
    slo = prm[P_SLO]
    drop_after = prm[P_DROP_AFTER]
    timeout = prm[P_TIMEOUT]
    sigma = prm[P_NOISE_SIGMA]
    exponential = prm[P_EXPONENTIAL] > 0.0
    acc_mode = int(prm[P_ACC_MODE])
    acc_scale = prm[P_ACC_SCALE]
    n_var = accuracy.shape[1]
    width = prm[P_BUCKET]
    n_buckets = buckets.shape[0]
    b_t1 = int(round(t1 / width))  # the first bucket after the interval
    # The bounds of hist's non-zero bins, kept here while completions arrive.
    hist_lo = hist[0, BH_LO] if hist[0, BH_HI] != 0 else N_LAT_BINS
    hist_hi = hist[0, BH_HI]
    # Serving replicas keyed by the time they can take a batch (min-heap; ties to the lower
    # slot): the Lindley recursion "start = max(ready, earliest free replica)" in O(log R).
    n_slots = _slots_in_use(rep_i, slots_used, s)
    n_heap = 0
    for r in range(n_slots):
        if rep_i[s, r, I_ACTIVE] == 1 and rep_f[s, r, F_SERVING_UNTIL] == np.inf:
            avail = max(rep_f[s, r, F_FREE_AT], rep_f[s, r, F_READY_AT])
            _heap_push(heap_t, heap_r, n_heap, avail, r)
            n_heap += 1
    n_next = 0
    head = qptr[s, 0]
    tail = qptr[s, 1]
    zpos = int(ep[E_Z_POS])
    # Drops counted in a register while they fall in one bucket (runs of drops are common
    # under overload; adding to the bucket each time waits on the previous store).
    drop_h = 0
    drops = 0.0
    k = head
    while True:
        count = 0
        first = 0.0
        close = -1.0
        closed = False
        while k < tail:
            a = queue[s, Q_ARRIVE, k]
            if a >= t1:
                break
            take = a if a > disp[s] else disp[s]
            if count > 0 and take > first + timeout:
                close = first + timeout
                closed = True
                break
            if take - queue[s, Q_ORIGIN, k] >= drop_after:
                t_drop = take if take > t0 else t0
                h_drop = _bucket_of(t_drop, width, n_buckets)
                if h_drop != drop_h:
                    buckets[drop_h, B_DROPPED] += drops
                    drop_h = h_drop
                    drops = 0.0
                drops += 1.0
                k += 1
                continue
            if count == 0:
                first = take
            idx[count] = k
            count += 1
            k += 1
            if count == batch_size:
                close = take
                closed = True
                break
        if not closed and count > 0 and first + timeout < t1:
            close = first + timeout
            closed = True
        best = -1
        best_t = np.inf
        if closed and n_heap > 0:
            best_t = heap_t[0]
            best = heap_r[0]
        start = max(close, best_t, t0)
        if not closed or best < 0 or start >= t1:
            # Not committed: keep the requests this batch had taken, in order, just before k
            # (the ones dropped while scanning are gone), and stop for this interval.
            for x in range(count - 1, -1, -1):
                dst = k - count + x
                src = idx[x]
                queue[s, Q_ARRIVE, dst] = queue[s, Q_ARRIVE, src]
                queue[s, Q_ORIGIN, dst] = queue[s, Q_ORIGIN, src]
                if acc_mode > 0:
                    queue[s, Q_ACC, dst] = queue[s, Q_ACC, src]
            head = k - count
            break
        cores = rep_i[s, best, I_CORES_NEW]
        if start < rep_f[s, best, F_SWITCH_AT]:
            cores = rep_i[s, best, I_CORES_OLD]
        variant = rep_i[s, best, I_VARIANT]
        service = table[s * n_var + variant, count, cores] * 1e-3
        if exponential:
            service *= min(zbuf[zpos], NOISE_CAP)  # zbuf holds standard exponentials
            zpos += 1
        elif sigma > 0.0:
            factor = math.exp(sigma * zbuf[zpos] - 0.5 * sigma * sigma)
            zpos += 1
            service *= min(factor, NOISE_CAP)
        end = start + service
        rep_f[s, best, F_FREE_AT] = end
        _heap_replace_top(heap_t, heap_r, n_heap, end, best)
        disp[s] = start
        _add_interval(busy, s, start, end, 1.0, width)
        a_sv = 0.0
        if acc_mode > 0:
            a_sv = accuracy[s, variant]
            served[s, variant] += count
            out_stage[s, OS_SERVED] += count
            out_stage[s, OS_ACCURACY] += count * a_sv
        if last:
            b_end = _bucket_index(end, width)
            hb = b_end & (n_buckets - 1)
            # A completion in the interval goes straight to its histogram (a row kept in
            # cache); only those after t1 wait in their bucket's row of bhist.
            now = b_end < b_t1
            for x in range(count):
                lat = end - queue[s, Q_ORIGIN, idx[x]]
                buckets[hb, B_COMPLETED] += 1.0
                buckets[hb, B_LATENCY_SUM] += lat
                if acc_mode > 0:
                    buckets[hb, B_ACCURACY] += acc_scale * _carried(
                        acc_mode, s, queue[s, Q_ACC, idx[x]], a_sv
                    )
                if lat > slo:
                    buckets[hb, B_LATE] += 1.0
                if now:
                    kb = _lat_bin(lat * 1e3)
                    hist[0, kb] += 1
                    hist_lo = min(hist_lo, kb)
                    hist_hi = max(hist_hi, kb + 1)
                else:
                    _count_latency(bhist, hb, _lat_bin(lat * 1e3))
                    buckets[hb, B_HELD] += 1.0
        else:
            for x in range(count):
                nxt_t[n_next] = end
                nxt_o[0, n_next] = queue[s, Q_ORIGIN, idx[x]]
                if acc_mode > 0:
                    nxt_o[1, n_next] = _carried(acc_mode, s, queue[s, Q_ACC, idx[x]], a_sv)
                n_next += 1
        head = k
    buckets[drop_h, B_DROPPED] += drops
    if hist_hi > 0:
        hist[0, BH_LO] = hist_lo
        hist[0, BH_HI] = hist_hi
    qptr[s, 0] = head
    ep[E_Z_POS] = zpos
    return n_next


@_inlined
def _carried(acc_mode: int, s: int, so_far: float, a: float) -> float:
    """A request's accuracy after stage ``s`` served it with accuracy ``a``."""
    if s == 0:
        return a
    return so_far + a if acc_mode == 1 else so_far * a


@_compiled
def _allocation(
    s: int,
    t0: float,
    t1: float,
    rep_f: np.ndarray,
    rep_i: np.ndarray,
    out_stage: np.ndarray,
    memory_gb: np.ndarray,
    slots_used: np.ndarray,
) -> float:
    """Allocated core-seconds, replica-seconds and memory GB-seconds of stage ``s`` in [t0, t1)."""
    total = 0.0
    for r in range(_slots_in_use(rep_i, slots_used, s)):
        if rep_i[s, r, I_ACTIVE] == 0:
            continue
        begin = max(t0, rep_f[s, r, F_CREATED_AT])
        # A removed replica holds its cores until its in-flight batch ends.
        stop = t1
        if rep_f[s, r, F_SERVING_UNTIL] < np.inf:
            stop = min(t1, max(rep_f[s, r, F_SERVING_UNTIL], rep_f[s, r, F_FREE_AT]))
        if stop <= begin:
            continue
        old = rep_i[s, r, I_CORES_OLD]
        new = rep_i[s, r, I_CORES_NEW]
        switch = rep_f[s, r, F_SWITCH_AT]
        # While a resize is pending the node keeps max(old, new) reserved, as Kubernetes does.
        pending_cores = old if old > new else new
        mid = min(max(switch, begin), stop)
        core_s = pending_cores * (mid - begin) + new * (stop - mid)
        total += core_s
        out_stage[s, OS_CORE_SECONDS] += core_s
        out_stage[s, OS_REPLICA_SECONDS] += stop - begin
        if memory_gb.shape[1] > 1:  # variants may differ in memory (else the stage's is used)
            out_stage[s, OS_MEMORY_SECONDS] += memory_gb[s, rep_i[s, r, I_VARIANT]] * (stop - begin)
        if rep_f[s, r, F_SERVING_UNTIL] == np.inf:
            ready_from = max(begin, rep_f[s, r, F_READY_AT])
            if ready_from < stop:
                out_stage[s, OS_READY] += stop - ready_from
    return total


@_compiled
def _settle(
    t1: float,
    rep_f: np.ndarray,
    rep_i: np.ndarray,
    prm: np.ndarray,
    out_stage: np.ndarray,
    node_free: np.ndarray,
    variant_live: np.ndarray,
    slots_used: np.ndarray,
) -> None:
    """Release drained replicas, count replicas per stage (and variant) and free cores per node.

    All at ``t1``; with several variant slots, ``variant_live[s, v]`` counts the replicas of
    variant v not being removed.
    """
    node_free[:] = prm[P_CORES_PER_NODE]
    per_variant = variant_live.shape[1] > 1  # only the monitoring vector of variants reads it
    if per_variant:
        variant_live[:, :] = 0.0
    for s in range(rep_f.shape[0]):
        live = 0
        ready = 0
        draining = 0
        for r in range(_slots_in_use(rep_i, slots_used, s)):
            if rep_i[s, r, I_ACTIVE] == 0:
                continue
            if rep_f[s, r, F_SERVING_UNTIL] < np.inf:
                if rep_f[s, r, F_FREE_AT] <= t1:  # its last batch is done: the slot is free
                    rep_i[s, r, I_ACTIVE] = 0
                    rep_f[s, r, F_SERVING_UNTIL] = np.inf
                    continue
                draining += 1
            else:
                live += 1
                if per_variant:
                    variant_live[s, rep_i[s, r, I_VARIANT]] += 1.0
                if rep_f[s, r, F_READY_AT] <= t1:
                    ready += 1
            old = rep_i[s, r, I_CORES_OLD]
            new = rep_i[s, r, I_CORES_NEW]
            held = new
            if rep_f[s, r, F_SWITCH_AT] > t1 and old > new:
                held = old
            node_free[rep_i[s, r, I_NODE]] -= held
        out_stage[s, OS_LIVE] = live
        out_stage[s, OS_READY_N] = ready
        out_stage[s, OS_DRAINING] = draining


# Bits of advance's return value: the buffer that must grow or be refilled first.
NEED_QUEUE = 1  # queues (and the scratch arrays of their size)
NEED_UNIFORMS = 2  # uniforms for arrival times
NEED_NORMALS = 4  # one noise draw per batch at most
NEED_SECONDS = 8  # rows of per-second records


@_compiled
def interval_demand(t1: float, cum: np.ndarray, ep: np.ndarray) -> tuple[int, int]:
    """Requests generated up to ``t1`` that are not generated yet, and those in the system now.

    Every request generated and not yet completed or dropped may sit in one queue, and each
    may need one noise draw per stage: the buffers are sized from these two numbers.
    """
    first = min(int(ep[E_GEN_UPTO]), cum.shape[0] - 1)
    last = min(int(math.ceil(t1 - 1e-9)), cum.shape[0] - 1)
    new = cum[last] - cum[first] if last > first else 0
    in_system = int(cum[first] - ep[E_COMPLETED] - ep[E_DROPPED])
    return new, in_system


@_compiled
def _buffers_needed(
    t0: float,
    t1: float,
    cum: np.ndarray,
    queue: np.ndarray,
    ep: np.ndarray,
    prm: np.ndarray,
    ubuf: np.ndarray,
    zbuf: np.ndarray,
    sec_out: np.ndarray,
    n_stages: int,
) -> int:
    """The ``NEED_*`` bits for [t0, t1): the buffers ``Simulator._grow_buffers`` must grow."""
    new, in_system = interval_demand(t1, cum, ep)
    need = 0
    if in_system + new + 16 > queue.shape[2]:
        need |= NEED_QUEUE
    if ep[E_U_END] - ep[E_U_POS] < new:
        need |= NEED_UNIFORMS
    random_service = prm[P_EXPONENTIAL] > 0 or prm[P_NOISE_SIGMA] > 0
    if random_service and ep[E_Z_END] - ep[E_Z_POS] < (in_system + new) * n_stages:
        need |= NEED_NORMALS
    if sec_out.shape[0] < int(t1 - t0) + 2:
        need |= NEED_SECONDS
    return need


@_compiled
def refill_randoms(
    rng: np.random.Generator,
    prm: np.ndarray,
    ep: np.ndarray,
    ubuf: np.ndarray,
    zbuf: np.ndarray,
    need: int,
    new: int,
    in_system: int,
    n_stages: int,
) -> int:
    """Draw what ``need``'s ``NEED_UNIFORMS`` and ``NEED_NORMALS`` ask, after the unused draws.

    A block (or ``new`` uniforms; or one service draw per request in the system or arriving,
    per stage, ``interval_demand``'s figures) from ``rng``, uniforms first: the stream of the
    episode whoever draws it. Returns the bits left: those whose buffer lacks the room (the
    simulator grows it and calls again), and the service draws after uniforms that did not
    fit (the order of the stream), with ``NEED_QUEUE`` and ``NEED_SECONDS`` as they were.
    """
    if need & NEED_UNIFORMS:
        pos, end = int(ep[E_U_POS]), int(ep[E_U_END])
        kept = end - pos
        size = kept + max(RANDOM_BLOCK, new)
        if size > ubuf.shape[0]:
            return need
        for i in range(kept):  # forward: the source lies at or after the destination
            ubuf[i] = ubuf[pos + i]
        for i in range(kept, size):
            ubuf[i] = rng.random()
        ep[E_U_POS] = 0
        ep[E_U_END] = size
        need &= ~NEED_UNIFORMS
    if need & NEED_NORMALS:
        pos, end = int(ep[E_Z_POS]), int(ep[E_Z_END])
        kept = end - pos
        size = kept + max(RANDOM_BLOCK, (in_system + new) * n_stages)
        if size > zbuf.shape[0]:
            return need
        for i in range(kept):
            zbuf[i] = zbuf[pos + i]
        if prm[P_EXPONENTIAL] > 0:
            for i in range(kept, size):
                zbuf[i] = rng.standard_exponential()
        else:
            for i in range(kept, size):
                zbuf[i] = rng.standard_normal()
        ep[E_Z_POS] = 0
        ep[E_Z_END] = size
        need &= ~NEED_NORMALS
    return need


@_compiled
def advance(
    t0: float,
    t1: float,
    batch: np.ndarray,
    target_cores: np.ndarray,
    pending: np.ndarray,
    table: np.ndarray,
    cum: np.ndarray,
    queue: np.ndarray,
    qptr: np.ndarray,
    disp: np.ndarray,
    rep_f: np.ndarray,
    rep_i: np.ndarray,
    prm: np.ndarray,
    buckets: np.ndarray,
    bhist: np.ndarray,
    busy: np.ndarray,
    ep: np.ndarray,
    ep_hist: np.ndarray,
    sec_acc: np.ndarray,
    ubuf: np.ndarray,
    zbuf: np.ndarray,
    nxt_t: np.ndarray,
    nxt_o: np.ndarray,
    scratch: np.ndarray,
    out: np.ndarray,
    out_stage: np.ndarray,
    sec_out: np.ndarray,
    memory_gb: np.ndarray,
    node_free: np.ndarray,
    accuracy: np.ndarray,
    served: np.ndarray,
    variant_live: np.ndarray,
    heap_t: np.ndarray,
    heap_r: np.ndarray,
    idx: np.ndarray,
    hist: np.ndarray,
    slots_used: np.ndarray,
) -> int:
    """Advance the whole pipeline from ``t0`` to ``t1`` and reduce the interval's statistics.

    ``heap_t``, ``heap_r``, ``idx`` are ``_serve_stage``'s scratch; ``hist`` (one row laid
    out as ``bhist``'s, all 0) receives the interval's latency histogram and is left all 0
    again.
    ``slots_used`` bounds each stage's active slots (``_slots_in_use``).

    Returns 0, or, having changed nothing, the ``NEED_*`` bits of the buffers too small for
    the interval: the caller grows or refills them and calls again.
    """
    n_stages = batch.shape[0]
    need = _buffers_needed(t0, t1, cum, queue, ep, prm, ubuf, zbuf, sec_out, n_stages)
    if need != 0:
        return need
    width = prm[P_BUCKET]
    n_buckets = buckets.shape[0]
    per_second = int(prm[P_BUCKETS_PER_SECOND])
    carry = prm[P_ACC_MODE] > 0.0
    out[:] = 0.0
    out_stage[:, :] = 0.0
    _compact(queue, qptr, 0, carry)
    # nxt_t is free until the first stage serves: the sort's scratch.
    _generate_arrivals(t1, cum, queue, qptr, buckets, prm, ep, ubuf, nxt_t)
    for s in range(n_stages):
        _compact(queue, qptr, s, carry)
        last = s == n_stages - 1
        m = _serve_stage(
            s,
            t0,
            t1,
            batch[s],
            table,
            queue,
            qptr,
            disp,
            rep_f,
            rep_i,
            prm,
            buckets,
            bhist,
            hist,
            busy,
            zbuf,
            ep,
            last,
            nxt_t,
            nxt_o,
            accuracy,
            served,
            out_stage,
            heap_t,
            heap_r,
            idx,
            slots_used,
        )
        if not last and m > 0:
            _merge_into_queue(queue, qptr, s + 1, nxt_t, nxt_o, m, scratch, carry)
    # Allocation, readiness and queues over the interval.
    for s in range(n_stages):
        out[O_CORE_SECONDS] += _allocation(
            s, t0, t1, rep_f, rep_i, out_stage, memory_gb, slots_used
        )
        waiting = 0
        for i in range(qptr[s, 0], qptr[s, 1]):
            if queue[s, Q_ARRIVE, i] < t1:
                waiting += 1
            else:
                break
        out_stage[s, OS_QUEUE] = waiting
    # Reduce the finished buckets [t0, t1): they receive no further events.
    b0 = int(round(t0 / width))
    b1 = int(round(t1 / width))
    # The interval's completions are in hist; those of earlier intervals that ended in its
    # buckets are added from bhist. hist's non-zero bins lie in [lo_all, hi_all).
    lo_all = hist[0, BH_LO] if hist[0, BH_HI] != 0 else N_LAT_BINS
    hi_all = hist[0, BH_HI]
    n_sec = 0
    for b in range(b0, b1):
        h = b & (n_buckets - 1)
        out[O_ARRIVED] += buckets[h, B_ARRIVED]
        out[O_COMPLETED] += buckets[h, B_COMPLETED]
        out[O_LATE] += buckets[h, B_LATE]
        out[O_DROPPED] += buckets[h, B_DROPPED]
        out[O_LATENCY_SUM] += buckets[h, B_LATENCY_SUM]
        out[O_ACCURACY_SUM] += buckets[h, B_ACCURACY]
        if buckets[h, B_HELD] > 0:  # (reading bhist's row only then: it is rarely in cache)
            lo = bhist[h, BH_LO]
            lo_all = min(lo_all, lo)
            hi_all = max(hi_all, bhist[h, BH_HI])
            for k in range(lo, bhist[h, BH_HI]):
                if bhist[h, k] != 0:
                    hist[0, k] += bhist[h, k]
                    bhist[h, k] = 0
            bhist[h, BH_LO] = 0
            bhist[h, BH_HI] = 0
        for c in range(4):
            sec_acc[c] += buckets[h, c]
        for s in range(n_stages):
            out_stage[s, OS_BUSY] += busy[s, h]
            busy[s, h] = 0.0
        buckets[h, :] = 0.0
        if (b + 1) % per_second == 0:
            arrived = sec_acc[B_ARRIVED]
            completed = sec_acc[B_COMPLETED]
            v = 0.0
            if completed > 0:
                v += sec_acc[B_LATE] / completed
            if arrived > 0:
                v += sec_acc[B_DROPPED] / arrived
            v = min(1.0, v)
            if arrived > 0:
                ep[E_VIOLATION_SUM] += v
                ep[E_TRAFFIC_SECONDS] += 1.0
            if n_sec < sec_out.shape[0]:
                sec_out[n_sec, SO_SECOND] = (b + 1) // per_second - 1
                sec_out[n_sec, SO_ARRIVED] = arrived
                sec_out[n_sec, SO_COMPLETED] = completed
                sec_out[n_sec, SO_LATE] = sec_acc[B_LATE]
                sec_out[n_sec, SO_DROPPED] = sec_acc[B_DROPPED]
                sec_out[n_sec, SO_VIOLATION] = v
                n_sec += 1
            sec_acc[:] = 0.0
    out[O_SECONDS] = n_sec
    ep[E_ARRIVED] += out[O_ARRIVED]
    ep[E_COMPLETED] += out[O_COMPLETED]
    ep[E_LATE] += out[O_LATE]
    ep[E_DROPPED] += out[O_DROPPED]
    ep[E_LATENCY_SUM] += out[O_LATENCY_SUM]
    ep[E_ACCURACY_SUM] += out[O_ACCURACY_SUM]
    total = out[O_COMPLETED]
    v = 0.0
    if total > 0:
        v += out[O_LATE] / total
    if out[O_ARRIVED] > 0:
        v += out[O_DROPPED] / out[O_ARRIVED]
    out[O_VIOLATION] = min(1.0, v)
    memory = prm[P_CORE_MEMORY_GB] * out[O_CORE_SECONDS]
    for s in range(n_stages):
        if memory_gb.shape[1] == 1:  # the stage's one memory size, as before variants
            memory += memory_gb[s, 0] * out_stage[s, OS_REPLICA_SECONDS]
        else:
            memory += out_stage[s, OS_MEMORY_SECONDS]
        ready_s = out_stage[s, OS_READY]
        out_stage[s, OS_UTILISATION] = (
            min(1.0, out_stage[s, OS_BUSY] / ready_s) if ready_s > 0 else 0.0
        )
    out[O_MEMORY_COST] = memory
    ep[E_CORE_SECONDS] += out[O_CORE_SECONDS]
    ep[E_MEMORY_COST] += memory
    _settle(t1, rep_f, rep_i, prm, out_stage, node_free, variant_live, slots_used)
    for s in range(n_stages):
        out_stage[s, OS_STARTING] = out_stage[s, OS_LIVE] - out_stage[s, OS_READY_N]
        out_stage[s, OS_PENDING] = pending[s]
        out_stage[s, OS_CORES] = target_cores[s]
        out_stage[s, OS_BATCH] = batch[s]
    for k in range(lo_all, hi_all):
        ep_hist[k] += hist[0, k]
    percentiles_from_hist(hist[0, :N_LAT_BINS], total, out, O_P50, min(lo_all, N_LAT_BINS - 1))
    hist[0, lo_all:hi_all] = 0
    hist[0, BH_LO] = 0
    hist[0, BH_HI] = 0
    return 0


# Reconcile report: report[s, R_*]
R_ADDED = 0
R_REMOVED = 1
R_RESIZED = 2
R_FAILED = 3  # resizes refused for lack of node cores (RESIZE_FAIL only)
R_PENDING = 4  # replicas asked for but not placed
R_DEFERRED = 5  # resizes waiting for node cores (RESIZE_DEFER only)
R_INFEASIBLE = 6  # resizes beyond a node's cores, never retried by the node (RESIZE_DEFER only)
N_REPORT = 7


@_inlined
def _held(rep_f: np.ndarray, rep_i: np.ndarray, s: int, r: int, now: float) -> int:
    # While a resize is pending the node keeps max(old, new) reserved, as Kubernetes does.
    old, new = rep_i[s, r, I_CORES_OLD], rep_i[s, r, I_CORES_NEW]
    return max(old, new) if rep_f[s, r, F_SWITCH_AT] > now else new


@_inlined
def _is_live(rep_f: np.ndarray, rep_i: np.ndarray, s: int, r: int) -> bool:
    return rep_i[s, r, I_ACTIVE] == 1 and rep_f[s, r, F_SERVING_UNTIL] == np.inf


# Columns of count_stages' output: counts[s, SC_*]
SC_LIVE = 0  # replicas not being removed
SC_READY = 1  # those of them past their cold start
SC_DRAINING = 2  # replicas being removed, finishing their last batch
SC_WAITING = 3  # requests that have arrived at the stage's queue and wait there
N_SC = 4


@_compiled
def count_stages(
    now: float,
    rep_f: np.ndarray,
    rep_i: np.ndarray,
    queue: np.ndarray,
    qptr: np.ndarray,
    counts: np.ndarray,
) -> None:
    """Per stage, the replicas and waiting requests at ``now`` into ``counts[s, SC_*]``.

    A snapshot between intervals (``Simulator.state``): it changes nothing, unlike
    ``_settle``, which releases the drained replicas at the end of an interval.
    """
    for s in range(rep_i.shape[0]):
        live = 0
        ready = 0
        draining = 0
        for r in range(rep_i.shape[1]):
            if rep_i[s, r, I_ACTIVE] != 1:
                continue
            if rep_f[s, r, F_SERVING_UNTIL] < np.inf:
                draining += 1
            else:
                live += 1
                if rep_f[s, r, F_READY_AT] <= now:
                    ready += 1
        waiting = 0
        for i in range(qptr[s, 0], qptr[s, 1]):
            if queue[s, Q_ARRIVE, i] < now:
                waiting += 1
        counts[s, SC_LIVE] = live
        counts[s, SC_READY] = ready
        counts[s, SC_DRAINING] = draining
        counts[s, SC_WAITING] = waiting


@_compiled
def node_free_cores(
    now: float,
    rep_f: np.ndarray,
    rep_i: np.ndarray,
    cores_per_node: float,
    free: np.ndarray,
    slots_used: np.ndarray,
) -> None:
    """Free cores per node at ``now`` into ``free``."""
    free[:] = cores_per_node
    for s in range(rep_i.shape[0]):
        for r in range(_slots_in_use(rep_i, slots_used, s)):
            if rep_i[s, r, I_ACTIVE] == 1:
                free[rep_i[s, r, I_NODE]] -= _held(rep_f, rep_i, s, r, now)


@_inlined
def reconcile(
    now: float,
    targets: np.ndarray,
    rep_f: np.ndarray,
    rep_i: np.ndarray,
    free: np.ndarray,
    cores_per_node: float,
    resize_delay: float,
    warm: bool,
    cold: np.ndarray,
    cpos: np.ndarray,
    report: np.ndarray,
    cold_scale: np.ndarray,
    placement: int,
    resize_policy: int,
    shortfall: np.ndarray,
    spread: np.ndarray,
    slots_used: np.ndarray,
) -> None:
    """Move the replicas toward ``targets[s] = (replicas of each variant..., cores, batch)``.

    At time ``now``. Scale in first, each variant apart (cold-starting replicas, then the
    newest, as a ReplicaSet prefers) so the cores it frees serve resizes and new replicas; then
    resize every replica of the stage in place where the node has room; then place each
    variant's new replicas on the node ``_place`` picks for ``placement`` (one of ``PLACE_*``;
    else they stay pending). A new replica of variant v takes its cold start from
    ``cold[cpos[0]:cpos[1]]`` times ``cold_scale[s, v]`` (the variant's load time over the cluster's
    median). Switching a
    stage's variant is scaling one variant in and another out: the new replicas pay their
    cold start, the old ones drain.

    A resize the node has no room for leaves the replica as it is. Under ``RESIZE_FAIL`` it is
    counted failed (``R_FAILED``) at every attempt. Under ``RESIZE_DEFER`` it is the kubelet's
    Deferred (``R_DEFERRED``) while it could fit an empty node, and Infeasible
    (``R_INFEASIBLE``) when it asks for more than a node has. Failed and deferred resizes leave
    the targets unsettled, so the next apply retries them (``apply_targets``); an infeasible
    one is retried only with other unsettled work, as the kubelet does not retry it. Under
    ``RESIZE_DEFER`` scale-in also removes a replica whose resize waits before the others
    (``_scale_in``).

    ``shortfall`` (a variant slot each) and ``spread`` (a node each, ``_place``'s) are
    scratch, so that a call allocates nothing. ``slots_used[s]`` bounds stage s's active
    slots (``_slots_in_use``): a new replica raises it.
    """
    S, R = rep_i.shape[0], rep_i.shape[1]
    V = targets.shape[1] - 2
    report[:, :] = 0
    # Removed replicas whose last batch is done give their slot and cores back. (Slots fill
    # lowest first: the loops over a stage's replicas stop at its highest active slot.)
    for s in range(S):
        for r in range(_slots_in_use(rep_i, slots_used, s)):
            if (
                rep_i[s, r, I_ACTIVE] == 1
                and rep_f[s, r, F_SERVING_UNTIL] <= now
                and rep_f[s, r, F_FREE_AT] <= now
            ):
                rep_i[s, r, I_ACTIVE] = 0
                rep_f[s, r, F_SERVING_UNTIL] = np.inf
    node_free_cores(now, rep_f, rep_i, cores_per_node, free, slots_used)
    for s in range(S):
        c_target = targets[s, V]
        used = _slots_in_use(rep_i, slots_used, s)  # until the scale-out below
        for v in range(V):
            shortfall[v] = _scale_in(
                now, s, v, targets[s, v], rep_f, rep_i, free, report, c_target, resize_policy, used
            )
        # In-place resize of the remaining replicas.
        for r in range(used):
            if not _is_live(rep_f, rep_i, s, r) or rep_i[s, r, I_CORES_NEW] == c_target:
                continue
            switching = rep_f[s, r, F_SWITCH_AT] > now
            effective = rep_i[s, r, I_CORES_OLD] if switching else rep_i[s, r, I_CORES_NEW]
            need = max(effective, c_target) - _held(rep_f, rep_i, s, r, now)
            node = rep_i[s, r, I_NODE]
            if need > 0 and free[node] < need:
                if resize_policy == RESIZE_FAIL:
                    report[s, R_FAILED] += 1
                elif c_target <= cores_per_node:
                    report[s, R_DEFERRED] += 1
                else:
                    report[s, R_INFEASIBLE] += 1
                continue
            free[node] -= max(need, 0)
            rep_i[s, r, I_CORES_OLD] = effective
            rep_i[s, r, I_CORES_NEW] = c_target
            rep_f[s, r, F_SWITCH_AT] = now if warm else now + resize_delay
            report[s, R_RESIZED] += 1
        # Scale out into the lowest free slots, on the nodes _place picks.
        for v in range(V):
            lacking = shortfall[v]  # the resizes above leave every replica live
            r = 0
            while lacking > 0:
                while r < R and rep_i[s, r, I_ACTIVE] == 1:
                    r += 1
                node = _place(
                    s,
                    c_target,
                    free,
                    cores_per_node,
                    placement,
                    rep_f,
                    rep_i,
                    spread,
                    slots_used[s],
                )
                if r >= R or node < 0:
                    report[s, R_PENDING] += lacking
                    break
                free[node] -= c_target
                rep_i[s, r, I_ACTIVE] = 1
                slots_used[s] = max(slots_used[s], r + 1)
                rep_i[s, r, I_CORES_OLD] = c_target
                rep_i[s, r, I_CORES_NEW] = c_target
                rep_i[s, r, I_NODE] = node
                rep_i[s, r, I_VARIANT] = v
                rep_f[s, r, F_SERVING_UNTIL] = np.inf
                if warm:
                    rep_f[s, r, F_READY_AT] = now
                else:
                    rep_f[s, r, F_READY_AT] = now + cold[cpos[0]] * cold_scale[s, v]
                    cpos[0] += 1
                rep_f[s, r, F_FREE_AT] = now
                rep_f[s, r, F_SWITCH_AT] = now
                rep_f[s, r, F_CREATED_AT] = now
                report[s, R_ADDED] += 1
                lacking -= 1


@_inlined  # called per new replica
def _place(
    s: int,
    cores: int,
    free: np.ndarray,
    cores_per_node: float,
    placement: int,
    rep_f: np.ndarray,
    rep_i: np.ndarray,
    spread: np.ndarray,
    used: int,
) -> int:
    """The node a new replica of stage ``s`` with ``cores`` goes to, or -1 if none has room.

    ``PLACE_FIRST_FIT``: the lowest node with room. The other two score the nodes with room
    (the scheduler's NodeResourcesFit filter) as kube-scheduler does, on CPU only, the one
    resource the simulator allocates (``kubernetes/kubernetes`` ``pkg/scheduler/``, read at
    ``framework/plugins/noderesources/least_allocated.go`` 05c351a, ``most_allocated.go``
    046d201, ``balanced_allocation.go`` 02d7708, ``podtopologyspread/scoring.go`` 02fb06d and
    ``apis/config/v1/default_plugins.go`` 01db4ae). The default profile's other scorers
    (TaintToleration, NodeAffinity, InterPodAffinity, ImageLocality) score identical nodes
    without taints, affinities or image differences alike, so they are left out.

    * ``PLACE_SPREAD``, the default profile (weights from ``default_plugins.go``):
      1 × NodeResourcesFit LeastAllocated, ``(capacity − requested)·100 / capacity``
      (``noderesources/least_allocated.go``), + 1 × NodeResourcesBalancedAllocation, which with
      a single resource has no spread between resource fractions and scores every node 100
      (``noderesources/balanced_allocation.go``), so it never changes the ranking and is left
      out, + 2 × PodTopologySpread with the system default constraints (maxSkew 3 over
      hostname, 5 over zone, ScheduleAnyway), a stage being one Deployment
      (``podtopologyspread/scoring.go``): raw ``round(n·ln(N + 2) + maxSkew − 1)`` for the
      ``n`` live replicas of the stage on the node and ``N`` nodes with room, normalised to
      ``100·(max + min − raw) / max`` (100 everywhere when max is 0). Simulated nodes carry
      no zone label, so the zone constraint adds nothing. Integer arithmetic as in the Go code.
    * ``PLACE_MOST_ALLOCATED``: bin packing, NodeResourcesFit MostAllocated alone,
      ``requested·100 / capacity`` (``noderesources/most_allocated.go``); the spreading
      plugins are left out, as a bin-packing profile disables them.

    ``requested`` is the node's held cores plus the new replica's (a pending resize holds the
    larger of its sizes, as the scheduler counts it). The scheduler breaks a tie at random; here
    the lowest node index wins, which keeps episodes independent of the generator.
    ``spread`` (a node each) is scratch; ``used``: one past the stage's highest active slot (or
    more).
    """
    n_nodes = free.shape[0]
    if placement == PLACE_FIRST_FIT:
        for k in range(n_nodes):
            if free[k] >= cores:
                return k
        return -1
    capacity = int(cores_per_node)
    spread[:] = 0
    if placement == PLACE_SPREAD:
        feasible = 0
        for k in range(n_nodes):
            if free[k] >= cores:
                feasible += 1
        for r in range(used):
            if _is_live(rep_f, rep_i, s, r):
                spread[rep_i[s, r, I_NODE]] += 1
        weight = math.log(feasible + 2.0)
        lo, hi = np.iinfo(np.int64).max, 0
        for k in range(n_nodes):
            if free[k] >= cores:
                spread[k] = math.floor(spread[k] * weight + 2.5)  # Go's math.Round of n·w + (3 − 1)
                lo, hi = min(lo, spread[k]), max(hi, spread[k])
        for k in range(n_nodes):
            if hi == 0:
                spread[k] = MAX_NODE_SCORE
            else:
                spread[k] = MAX_NODE_SCORE * (hi + lo - spread[k]) // hi
    best, best_score = -1, -1
    for k in range(n_nodes):
        if free[k] < cores:
            continue
        requested = capacity - int(free[k]) + cores
        if placement == PLACE_MOST_ALLOCATED:
            score = requested * MAX_NODE_SCORE // capacity
        else:
            score = (capacity - requested) * MAX_NODE_SCORE // capacity + 2 * spread[k]
        if score > best_score:
            best, best_score = k, score
    return best


@_inlined
def _is_variant(rep_f: np.ndarray, rep_i: np.ndarray, s: int, r: int, v: int) -> bool:
    return _is_live(rep_f, rep_i, s, r) and rep_i[s, r, I_VARIANT] == v


@_compiled
def _live_count(rep_f: np.ndarray, rep_i: np.ndarray, s: int, v: int, used: int) -> int:
    """Replicas of stage ``s`` running variant ``v`` that are not being removed.

    ``used``: one past the stage's highest active slot (or more).
    """
    live = 0
    for r in range(used):
        if _is_variant(rep_f, rep_i, s, r, v):
            live += 1
    return live


@_compiled
def _scale_in(
    now: float,
    s: int,
    v: int,
    n_target: int,
    rep_f: np.ndarray,
    rep_i: np.ndarray,
    free: np.ndarray,
    report: np.ndarray,
    c_target: int,
    resize_policy: int,
    used: int,
) -> int:
    """Remove replicas of variant ``v`` of stage ``s`` down to ``n_target``.

    Victims: replicas still cold-starting, then (under ``RESIZE_DEFER``) replicas whose resize
    to ``c_target`` the node has not accepted, then the newest, then the highest slot. The
    second rule is the pod a policy deletes by name after replacing it with a new one of the
    wanted size (Themis's answer to a Deferred resize); under ``RESIZE_FAIL`` it is left out,
    which keeps those episodes as they were.

    ``used``: one past the stage's highest active slot (or more).

    Returns how many replicas the variant lacks for ``n_target`` (0 after a scale-in).
    """
    prefer_unresized = resize_policy == RESIZE_DEFER
    live = _live_count(rep_f, rep_i, s, v, used)
    while live > n_target:
        victim = -1
        for r in range(used):
            if not _is_variant(rep_f, rep_i, s, r, v):
                continue
            if victim < 0:
                victim = r
                continue
            # Order: not yet ready first, then (under defer) unresized, then the newest, then
            # the highest slot.
            ready_r = rep_f[s, r, F_READY_AT] <= now
            ready_v = rep_f[s, victim, F_READY_AT] <= now
            stuck_r = prefer_unresized and rep_i[s, r, I_CORES_NEW] != c_target
            stuck_v = prefer_unresized and rep_i[s, victim, I_CORES_NEW] != c_target
            if ready_r != ready_v:
                if not ready_r:
                    victim = r
            elif stuck_r != stuck_v:
                if stuck_r:
                    victim = r
            elif rep_f[s, r, F_CREATED_AT] != rep_f[s, victim, F_CREATED_AT]:
                if rep_f[s, r, F_CREATED_AT] > rep_f[s, victim, F_CREATED_AT]:
                    victim = r
            else:
                victim = r  # slots ascend: the later one is higher
        rep_f[s, victim, F_SERVING_UNTIL] = now
        report[s, R_REMOVED] += 1
        live -= 1
        if rep_f[s, victim, F_FREE_AT] <= now:  # idle: gone at once
            free[rep_i[s, victim, I_NODE]] += _held(rep_f, rep_i, s, victim, now)
            rep_i[s, victim, I_ACTIVE] = 0
            rep_f[s, victim, F_SERVING_UNTIL] = np.inf
    return n_target - live


@intrinsic
def _exp_inplace(typingctx, address, values):  # type: ignore[no-untyped-def]
    """``values[:] = exp(values)`` by the NumPy float64 loop at ``address`` (see exp_inplace)."""
    if not (isinstance(values, types.Array) and values.ndim == 1 and values.dtype == types.float64):
        return None
    sig = types.void(types.intp, values)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        address, values = args
        array = context.make_array(signature.args[1])(context, builder, values)
        i8p = ir.IntType(8).as_pointer()
        i64 = ir.IntType(64)
        # PyUFuncGenericFunction(char **args, npy_intp *dimensions, npy_intp *steps, void *)
        loop_type = ir.FunctionType(
            ir.VoidType(), [i8p.as_pointer(), i64.as_pointer(), i64.as_pointer(), i8p]
        )
        loop = builder.inttoptr(address, loop_type.as_pointer())
        data = builder.bitcast(array.data, i8p)
        argv = cgutils.alloca_once(builder, i8p, size=2)
        builder.store(data, argv)  # in place: the input is the output
        builder.store(data, builder.gep(argv, [ir.Constant(i64, 1)]))
        dims = cgutils.alloca_once(builder, i64, size=1)
        builder.store(builder.extract_value(array.shape, 0), dims)
        stride = builder.extract_value(array.strides, 0)
        steps = cgutils.alloca_once(builder, i64, size=2)
        builder.store(stride, steps)
        builder.store(stride, builder.gep(steps, [ir.Constant(i64, 1)]))
        builder.call(loop, [argv, dims, steps, ir.Constant(i8p, None)])
        return context.get_dummy_value()

    return sig, codegen


@_compiled
def exp_inplace(exp_loop: int, values: np.ndarray) -> None:
    """``values[:] = np.exp(values)`` bit for bit, by NumPy's own loop at address ``exp_loop``.

    ``exp_loop`` is :data:`themis_env.sim.numpy_loops.EXP_LOOP` (it must not be 0). It is an
    argument rather than a constant so that the compiled code, cached on disk, holds no
    address of this process.
    """
    _exp_inplace(exp_loop, values)


@_compiled
def draw_cold_starts(
    rng: np.random.Generator, prm: np.ndarray, exp_loop: int, dst: np.ndarray
) -> bool:
    """Fill ``dst`` with cold-start durations [s] from the distribution in ``prm``, clipped.

    The same numbers, drawn from ``rng`` in the same order and computed by the same floating
    point operations, as ``Simulator._cold_starts`` draws in NumPy (tested): numba's
    ``Generator`` methods are NumPy's algorithms on the same bit generator, and the lognormal's
    ``exp`` is NumPy's own loop (``exp_inplace``). Returns False, having drawn nothing, for a
    lognormal without that loop (``exp_loop`` 0).
    """
    dist = int(prm[P_COLD_DIST])
    lo = prm[P_COLD_MIN]
    hi = prm[P_COLD_MAX]
    if dist == COLD_LOGNORMAL:
        if exp_loop == 0:
            return False
        sigma = prm[P_COLD_SIGMA]
        for i in range(dst.shape[0]):
            dst[i] = sigma * rng.standard_normal()
        exp_inplace(exp_loop, dst)
        median = prm[P_COLD_MEDIAN]
        for i in range(dst.shape[0]):
            dst[i] *= median
    elif dist == COLD_UNIFORM:
        for i in range(dst.shape[0]):
            dst[i] = rng.uniform(lo, hi)
    else:
        dst[:] = prm[P_COLD_MEDIAN]
    # np.maximum then np.minimum: a value equal to a bound stays as it is.
    for i in range(dst.shape[0]):
        if dst[i] < lo:
            dst[i] = lo
        if dst[i] > hi:
            dst[i] = hi
    return True


@_compiled
def cold_wanted(values: np.ndarray, offset: np.ndarray, width: int, n_variants: int) -> int:
    """Replicas the targets ``values + offset`` ask for (``width`` entries per stage)."""
    wanted = 0
    for s in range(values.shape[0] // width):
        for j in range(n_variants):
            k = width * s + j
            wanted += values[k] + offset[k]
    return wanted


@_compiled
def refill_cold(
    rng: np.random.Generator,
    prm: np.ndarray,
    exp_loop: int,
    cold: np.ndarray,
    cpos: np.ndarray,
    wanted: int,
) -> bool:
    """Keep the unused cold starts; draw a block (or ``wanted``) after them, in ``cold``.

    Returns False, having changed nothing, if ``cold`` is too small for them or
    ``draw_cold_starts`` cannot draw here: the simulator then grows it or draws in NumPy.
    """
    pos, end = cpos[0], cpos[1]
    kept = end - pos
    size = kept + max(COLD_BLOCK, wanted)
    if size > cold.shape[0] or (int(prm[P_COLD_DIST]) == COLD_LOGNORMAL and exp_loop == 0):
        return False
    for i in range(kept):  # forward: the source lies at or after the destination
        cold[i] = cold[pos + i]
    draw_cold_starts(rng, prm, exp_loop, cold[kept:size])
    cpos[0] = 0
    cpos[1] = size
    return True


# Return codes of apply_targets and step, beside the NEED_* bits of advance. An invalid
# target returns -(k + 1) for its flat entry k = K·stage + knob (K knobs per stage: the
# replicas of each variant slot, cores, batch; K = 3 without variants).
APPLIED = 16  # the targets differed from those in force (or those were unsettled): reconciled
NEED_COLD = 32  # fewer cold-start durations left than replicas asked for; nothing changed
# A step that returns one of these bits left work to its caller (after a valid apply).
_UNFINISHED = NEED_QUEUE | NEED_UNIFORMS | NEED_NORMALS | NEED_SECONDS | NEED_COLD
# Totals of the last apply_targets: totals[T_*] (all 0 when nothing was applied)
T_HORIZONTAL = 0  # stages whose replica count changed
T_VERTICAL = 1  # stages with at least one accepted resize
T_FAILED = 2  # resizes refused for lack of node cores (RESIZE_FAIL)
T_PENDING = 3  # replicas asked for, not placed
N_TOTALS = 4
# flags[G_*]
G_UNSETTLED = 0  # 1: a resize failed or was deferred, or a replica is pending: apply retries
N_FLAGS = 1


@_inlined
def _out_of_limits(
    values: np.ndarray, offset: np.ndarray, lows: np.ndarray, highs: np.ndarray
) -> int:
    """-(k + 1) for the first entry k of ``values + offset`` outside [lows, highs], else 0."""
    for k in range(values.shape[0]):
        v = values[k] + offset[k]
        if v < lows[k] or v > highs[k]:
            return -(k + 1)
    return 0


@_inlined
def apply_targets(
    now: float,
    values: np.ndarray,
    offset: np.ndarray,
    lows: np.ndarray,
    highs: np.ndarray,
    warm: bool,
    resize_delay: float,
    targets: np.ndarray,
    flags: np.ndarray,
    batch: np.ndarray,
    target_cores: np.ndarray,
    pending: np.ndarray,
    rep_f: np.ndarray,
    rep_i: np.ndarray,
    node_free: np.ndarray,
    cores_per_node: float,
    cold: np.ndarray,
    cpos: np.ndarray,
    report: np.ndarray,
    totals: np.ndarray,
    cold_scale: np.ndarray,
    placement: int,
    resize_policy: int,
    shortfall: np.ndarray,
    spread: np.ndarray,
    slots_used: np.ndarray,
) -> int:
    """Make ``values + offset`` (flat, K per stage) the targets in force and reconcile.

    ``offset`` lets a MultiDiscrete action be applied as it is, with the knobs' lows added
    here rather than by a NumPy call per step.

    Targets equal to those in force, which are settled (no deferred resize, no pending
    replica), change nothing and return 0. Targets outside ``[lows, highs]`` return -(k + 1)
    for the first bad entry k, and too few cold-start durations left return ``NEED_COLD``;
    both change nothing. Otherwise ``targets``, ``batch``, ``target_cores`` and ``pending``
    are updated, ``report`` and ``totals`` describe what changed, and ``APPLIED`` is returned.
    ``shortfall`` (a variant slot each), ``spread`` (a node each) and ``slots_used`` are
    ``reconcile``'s.
    """
    S, K = targets.shape[0], targets.shape[1]
    totals[:] = 0
    # Entry k = K·s + j of the flat values is targets[s, j]; the loops run over (s, j) rather
    # than divide k by a width known only at run time, on every step.
    if flags[G_UNSETTLED] == 0:
        same = True
        for s in range(S):
            for j in range(K):
                if values[K * s + j] + offset[K * s + j] != targets[s, j]:
                    same = False
                    break
            if not same:
                break
        if same:
            return 0
    bad = _out_of_limits(values, offset, lows, highs)
    if bad:
        return bad
    wanted = 0  # replicas asked for (the knobs before cores and batch)
    for s in range(S):
        for j in range(K - 2):
            wanted += values[K * s + j] + offset[K * s + j]
    if not warm and cpos[1] - cpos[0] < wanted:
        return NEED_COLD
    for s in range(S):
        for j in range(K):
            targets[s, j] = values[K * s + j] + offset[K * s + j]
    for s in range(S):
        target_cores[s] = targets[s, K - 2]
        batch[s] = targets[s, K - 1]
    reconcile(
        now,
        targets,
        rep_f,
        rep_i,
        node_free,
        cores_per_node,
        resize_delay,
        warm,
        cold,
        cpos,
        report,
        cold_scale,
        placement,
        resize_policy,
        shortfall,
        spread,
        slots_used,
    )
    unsettled = False
    for s in range(targets.shape[0]):
        pending[s] = report[s, R_PENDING]
        if report[s, R_ADDED] > 0 or report[s, R_REMOVED] > 0:
            totals[T_HORIZONTAL] += 1
        if report[s, R_RESIZED] > 0:
            totals[T_VERTICAL] += 1
        totals[T_FAILED] += report[s, R_FAILED]
        totals[T_PENDING] += report[s, R_PENDING]
        if report[s, R_PENDING] > 0 or report[s, R_DEFERRED] > 0:
            unsettled = True
        if resize_policy == RESIZE_FAIL and report[s, R_FAILED] > 0:
            unsettled = True
    flags[G_UNSETTLED] = 1 if unsettled else 0
    return APPLIED


class PackedField(NamedTuple):
    """One array of the packed buffers: a row of :class:`Packed`."""

    attr: str
    """The :class:`~themis_env.sim.simulator.Simulator` attribute that views it."""
    dtype: Literal["f8", "i8"]
    """Its buffer: float64 or int64."""
    shape: tuple[int | str, ...]
    """Sizes, or names of the simulator's dimensions (``Simulator.dimensions``)."""
    scope: Literal["scenario", "episode"]
    """``scenario``: set at construction and kept; ``episode``: zeroed by every reset."""


class Packed(IntEnum):
    """The packed arrays, one line each: the member is the index; attribute, dtype, shape, scope.

    The fixed-size arrays of a simulator live in one float64 and one int64 buffer, so that the
    per-step call passes two buffers instead of thirty arrays (each array argument costs a
    compiled call about 0.1 µs to unbox). ``lay[k] = (offset, d0, d1, d2)`` of field ``k`` in
    its buffer; the simulator keeps NumPy views of the same memory. The kernel reads
    ``Packed.X`` as a compile-time constant (numba freezes globals); the simulator allocates,
    views, pickles and resets the arrays from this table. It lives in this module because
    numba's cache is keyed on this file: a change here recompiles the kernel.
    """

    field: PackedField

    def __new__(
        cls,
        attr: str,
        dtype: Literal["f8", "i8"],
        shape: tuple[int | str, ...],
        scope: Literal["scenario", "episode"],
    ) -> Packed:
        """The next index, carrying its row."""
        index = len(cls.__members__)  # numbered in order of declaration
        member = int.__new__(cls, index)
        member._value_ = index
        member.field = PackedField(attr, dtype, shape, scope)
        return member

    # Latency [ms]: row s·V + v is variant v of stage s (lanes = stages × variant slots).
    TABLE = "table", "f8", ("lanes", "batch_sizes", "core_counts"), "scenario"
    PRM = "prm", "f8", (N_PRM,), "scenario"
    MEMORY_GB = "memory_gb", "f8", ("stages", "variants"), "scenario"
    DISP = "disp", "f8", ("stages",), "episode"
    EP = "ep", "f8", (N_EP,), "episode"
    SEC_ACC = "sec_acc", "f8", (B_DROPPED + 1,), "episode"  # the second's B_* counts so far
    OUT = "out", "f8", (N_OUT,), "episode"
    NODE_FREE = "node_free", "f8", ("nodes",), "episode"
    BUCKETS = "buckets", "f8", ("ring", N_BUCKET), "episode"
    BUSY = "busy", "f8", ("stages", "ring"), "episode"
    OUT_STAGE = "out_stage", "f8", ("stages", N_OUT_STAGE), "episode"
    REP_F = "rep_f", "f8", ("stages", "slots", N_REP_F), "episode"
    # Arrivals of the last H seconds, oldest first [req/s].
    RATE_HISTORY = "rate_history", "f8", ("history",), "episode"
    BATCH = "batch", "i8", ("stages",), "episode"
    TARGET_CORES = "target_cores", "i8", ("stages",), "episode"
    PENDING = "pending", "i8", ("stages",), "episode"
    QPTR = "qptr", "i8", ("stages", 2), "episode"
    REP_I = "rep_i", "i8", ("stages", "slots", N_REP_I), "episode"
    BHIST = "bhist", "i8", ("ring", N_LAT_BINS + 2), "episode"
    EP_HIST = "ep_hist", "i8", (N_LAT_BINS,), "episode"
    LOWS = "_lows", "i8", ("knobs",), "scenario"
    HIGHS = "_highs", "i8", ("knobs",), "scenario"
    # Per stage: the replicas of each variant slot, cores, batch (width = variants + 2).
    TARGETS = "targets", "i8", ("stages", "width"), "episode"
    FLAGS = "flags", "i8", (N_FLAGS,), "episode"
    # The next unused cold-start duration in ``cold`` and the end of those drawn.
    CPOS = "cpos", "i8", (2,), "episode"
    REPORT = "_report", "i8", ("stages", N_REPORT), "episode"
    TOTALS = "_totals", "i8", (N_TOTALS,), "episode"
    # Requests waiting per stage at the end of the last interval.
    QUEUE_LEN = "queue_len", "i8", ("stages",), "episode"
    # Each variant's normalised accuracy (0 without accuracies).
    ACCURACY = "accuracy", "f8", ("stages", "variants"), "scenario"
    # A variant's cold start over the cluster's draw: its load time over the median (or 1).
    COLD_SCALE = "cold_scale", "f8", ("stages", "variants"), "scenario"
    SERVED = "served", "f8", ("stages", "variants"), "episode"  # requests each variant took
    # Replicas of each variant not being removed at the interval's end (variants > 1 only).
    VARIANT_LIVE = "variant_live", "f8", ("stages", "variants"), "episode"
    # Per stage: no slot at or past it holds a replica (a bound, see _slots_in_use).
    SLOTS_USED = "_slots_used", "i8", ("stages",), "episode"
    # Scratch of one call, so that the per-step path allocates nothing (see advance, reconcile).
    HEAP_T = "_heap_t", "f8", ("slots",), "episode"
    HEAP_R = "_heap_r", "i8", ("slots",), "episode"
    BATCH_IDX = "_batch_idx", "i8", ("batch_sizes",), "episode"
    LAT_HIST = "_lat_hist", "i8", (1, N_LAT_BINS + 2), "episode"  # all 0 between calls
    SHORTFALL = "_shortfall", "i8", ("variants",), "episode"
    SPREAD = "_spread", "i8", ("nodes",), "episode"
    # The simulated time and whether out_stage describes it (C_*): moved by ``step``, so that a
    # batched step leaves nothing per cluster for Python to do.
    CLOCK = "_clock", "f8", (N_CLOCK,), "episode"


N_PACKED = len(Packed)


@intrinsic
def _c_view(typingctx, buf, offset, shape):  # type: ignore[no-untyped-def]
    """The C-ordered array of ``shape`` at element ``offset`` of the contiguous 1-D ``buf``.

    What ``buf[offset:offset + size].reshape(shape)`` gives, built directly: numba's reshape
    calls a C helper to check the strides, which cost the per-step call about a tenth of
    its time over the packed views it makes.
    """
    if not (
        isinstance(buf, types.Array)
        and buf.ndim == 1
        and buf.layout == "C"
        and isinstance(shape, types.UniTuple)
        and isinstance(shape.dtype, types.Integer)
    ):
        return None
    view_type = types.Array(buf.dtype, shape.count, "C")
    sig = view_type(buf, types.intp, shape)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        buf_value, offset, shape_value = args
        source = context.make_array(signature.args[0])(context, builder, buf_value)
        view = context.make_array(signature.return_type)(context, builder)
        intp = context.get_value_type(types.intp)
        dims = [
            builder.sext(d, intp) if d.type.width < intp.width else d
            for d in cgutils.unpack_tuple(builder, shape_value, shape.count)
        ]
        strides = [source.itemsize]  # the last axis: one element
        for d in reversed(dims[1:]):
            strides.insert(0, builder.mul(strides[0], d))
        populate_array(
            view,
            data=builder.gep(source.data, [offset]),
            shape=dims,
            strides=strides,
            itemsize=source.itemsize,
            meminfo=source.meminfo,
            parent=source.parent,
        )
        return impl_ret_borrowed(context, builder, signature.return_type, view._getvalue())

    return sig, codegen


@njit(cache=True, inline="always")
def _v1(buf: np.ndarray, lay: np.ndarray, k: int) -> np.ndarray:
    o = lay[k, 0]
    return buf[o : o + lay[k, 1]]


@njit(cache=True, inline="always")
def _v2(buf: np.ndarray, lay: np.ndarray, k: int) -> np.ndarray:
    return _c_view(buf, lay[k, 0], (lay[k, 1], lay[k, 2]))


@njit(cache=True, inline="always")
def _v3(buf: np.ndarray, lay: np.ndarray, k: int) -> np.ndarray:
    return _c_view(buf, lay[k, 0], (lay[k, 1], lay[k, 2], lay[k, 3]))


@_compiled
def push_history(history: np.ndarray, sec_out: np.ndarray, n_sec: int) -> None:
    """Shift the arrivals of the ``n_sec`` finished seconds onto the end of ``history``."""
    h = history.shape[0]
    if n_sec >= h:
        for i in range(h):
            history[i] = sec_out[n_sec - h + i, SO_ARRIVED]
    elif n_sec > 0:
        for i in range(h - n_sec):
            history[i] = history[i + n_sec]
        for i in range(n_sec):
            history[h - n_sec + i] = sec_out[i, SO_ARRIVED]


@_compiled
def write_monitor(
    vec: np.ndarray,
    high: np.ndarray,
    out: np.ndarray,
    out_stage: np.ndarray,
    history: np.ndarray,
    node_free: np.ndarray,
    variant_live: np.ndarray,
) -> None:
    """The monitoring vector after an interval into ``vec``, clipped to [0, ``high``].

    Its layout: the stage snapshot column by column (``OS_LIVE`` .. ``OS_UTILISATION``, S
    values each), the arrival history (H), the p50, p95 and p99 end-to-end latencies [ms]
    (0 when nothing completed), the SLO violation, and the free cores per node (N). With
    several variant slots (V > 1) there follow the replicas per stage and variant
    (``variant_live``, S·V, stage-major) and each stage's served accuracy (the mean stage
    accuracy of the requests it took in the interval, 0 when none; S). NaN passes the clip,
    as it does ``np.minimum``/``np.maximum``.
    """
    k = 0
    for c in range(OS_LIVE, OS_UTILISATION + 1):
        for s in range(out_stage.shape[0]):
            vec[k] = out_stage[s, c]
            k += 1
    for i in range(history.shape[0]):
        vec[k] = history[i]
        k += 1
    done = out[O_COMPLETED] > 0
    for q in range(3):
        vec[k] = out[O_P50 + q] if done else 0.0
        k += 1
    vec[k] = out[O_VIOLATION]
    k += 1
    for i in range(node_free.shape[0]):
        vec[k] = node_free[i]
        k += 1
    if variant_live.shape[1] > 1:
        for s in range(variant_live.shape[0]):
            for v in range(variant_live.shape[1]):
                vec[k] = variant_live[s, v]
                k += 1
        for s in range(out_stage.shape[0]):
            n = out_stage[s, OS_SERVED]
            vec[k] = out_stage[s, OS_ACCURACY] / n if n > 0 else 0.0
            k += 1
    for i in range(k):
        if vec[i] > high[i]:
            vec[i] = high[i]
        if vec[i] < 0.0:
            vec[i] = 0.0


@_compiled
def count_scaling(ep: np.ndarray, totals: np.ndarray) -> None:
    """Add an apply's scaling actions (``totals``) to the episode's."""
    ep[E_HORIZONTAL] += totals[T_HORIZONTAL]
    ep[E_VERTICAL] += totals[T_VERTICAL]
    ep[E_FAILED_RESIZES] += totals[T_FAILED]


@_compiled
def step(
    do_apply: bool,
    values: np.ndarray,
    offset: np.ndarray,
    t0: float,
    t1: float,
    fbuf: np.ndarray,
    ibuf: np.ndarray,
    lay: np.ndarray,
    cum: np.ndarray,
    queue: np.ndarray,
    ubuf: np.ndarray,
    zbuf: np.ndarray,
    nxt_t: np.ndarray,
    nxt_o: np.ndarray,
    scratch: np.ndarray,
    sec_out: np.ndarray,
    cold: np.ndarray,
    vec: np.ndarray,
    high: np.ndarray,
    rng: np.random.Generator | None = None,
    exp_loop: int = 0,
) -> int:
    """One interval in one call: apply, advance, push the history, write the monitor.

    On the packed arrays: ``apply_targets`` at ``t0`` (if ``do_apply``), ``advance`` to
    ``t1``, the arrivals onto the rate history and, if ``vec`` is not empty, the monitoring
    vector (``write_monitor``) into ``vec``.

    Given the episode's generator ``rng`` (and ``exp_loop``, see ``draw_cold_starts``), the
    call draws the cold starts, uniforms and service draws it lacks itself (``refill_cold``,
    ``refill_randoms``) where their buffers have the room, as the simulator would.

    Returns a negative code or ``NEED_COLD`` from the apply (nothing changed), else
    ``APPLIED`` (or 0) combined with advance's ``NEED_*`` bits. With a ``NEED_*`` bit set the
    targets were applied but the interval was not run: the caller grows the buffers and calls
    again with ``do_apply`` false. An interval run moves the clock (``Packed.CLOCK``) to ``t1``.
    """
    prm = _v1(fbuf, lay, Packed.PRM)
    batch = _v1(ibuf, lay, Packed.BATCH)
    target_cores = _v1(ibuf, lay, Packed.TARGET_CORES)
    pending = _v1(ibuf, lay, Packed.PENDING)
    rep_f = _v3(fbuf, lay, Packed.REP_F)
    rep_i = _v3(ibuf, lay, Packed.REP_I)
    node_free = _v1(fbuf, lay, Packed.NODE_FREE)
    code = 0
    while do_apply:
        code = apply_targets(
            t0,
            values,
            offset,
            _v1(ibuf, lay, Packed.LOWS),
            _v1(ibuf, lay, Packed.HIGHS),
            False,
            prm[P_RESIZE_DELAY],
            _v2(ibuf, lay, Packed.TARGETS),
            _v1(ibuf, lay, Packed.FLAGS),
            batch,
            target_cores,
            pending,
            rep_f,
            rep_i,
            node_free,
            prm[P_CORES_PER_NODE],
            cold,
            _v1(ibuf, lay, Packed.CPOS),
            _v2(ibuf, lay, Packed.REPORT),
            _v1(ibuf, lay, Packed.TOTALS),
            _v2(fbuf, lay, Packed.COLD_SCALE),
            int(prm[P_PLACEMENT]),
            int(prm[P_RESIZE_POLICY]),
            _v1(ibuf, lay, Packed.SHORTFALL),
            _v1(ibuf, lay, Packed.SPREAD),
            _v1(ibuf, lay, Packed.SLOTS_USED),
        )
        if code == NEED_COLD and rng is not None:
            width = lay[Packed.TARGETS, 2]
            wanted = cold_wanted(values, offset, width, width - 2)
            if refill_cold(rng, prm, exp_loop, cold, _v1(ibuf, lay, Packed.CPOS), wanted):
                continue  # apply again, with the cold starts drawn
        if code < 0 or code & NEED_COLD:
            return code
        count_scaling(_v1(fbuf, lay, Packed.EP), _v1(ibuf, lay, Packed.TOTALS))
        break
    out = _v1(fbuf, lay, Packed.OUT)
    out_stage = _v2(fbuf, lay, Packed.OUT_STAGE)
    variant_live = _v2(fbuf, lay, Packed.VARIANT_LIVE)
    ep = _v1(fbuf, lay, Packed.EP)
    while True:
        need = advance(
            t0,
            t1,
            batch,
            target_cores,
            pending,
            _v3(fbuf, lay, Packed.TABLE),
            cum,
            queue,
            _v2(ibuf, lay, Packed.QPTR),
            _v1(fbuf, lay, Packed.DISP),
            rep_f,
            rep_i,
            prm,
            _v2(fbuf, lay, Packed.BUCKETS),
            _v2(ibuf, lay, Packed.BHIST),
            _v2(fbuf, lay, Packed.BUSY),
            ep,
            _v1(ibuf, lay, Packed.EP_HIST),
            _v1(fbuf, lay, Packed.SEC_ACC),
            ubuf,
            zbuf,
            nxt_t,
            nxt_o,
            scratch,
            out,
            out_stage,
            sec_out,
            _v2(fbuf, lay, Packed.MEMORY_GB),
            node_free,
            _v2(fbuf, lay, Packed.ACCURACY),
            _v2(fbuf, lay, Packed.SERVED),
            variant_live,
            _v1(fbuf, lay, Packed.HEAP_T),
            _v1(ibuf, lay, Packed.HEAP_R),
            _v1(ibuf, lay, Packed.BATCH_IDX),
            _v2(ibuf, lay, Packed.LAT_HIST),
            _v1(ibuf, lay, Packed.SLOTS_USED),
        )
        if rng is None or not need & (NEED_UNIFORMS | NEED_NORMALS):
            break
        # Draw what the buffers lack here when they have the room, then run the interval.
        new, in_system = interval_demand(t1, cum, ep)
        need = refill_randoms(rng, prm, ep, ubuf, zbuf, need, new, in_system, batch.shape[0])
        if need:
            break
    if need:
        return code | need
    queue_len = _v1(ibuf, lay, Packed.QUEUE_LEN)
    for s in range(queue_len.shape[0]):
        queue_len[s] = int(out_stage[s, OS_QUEUE])
    history = _v1(fbuf, lay, Packed.RATE_HISTORY)
    push_history(history, sec_out, int(out[O_SECONDS]))
    if vec.shape[0] > 0:
        write_monitor(vec, high, out, out_stage, history, node_free, variant_live)
    clock = _v1(fbuf, lay, Packed.CLOCK)
    clock[C_TIME] = t1
    clock[C_SETTLED] = 1.0
    return code


@intrinsic
def _pointer(typingctx, address):  # type: ignore[no-untyped-def]
    """The address ``address`` (an integer) as a ``void *``, for ``numba.carray``."""
    if not isinstance(address, types.Integer):
        return None

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.inttoptr(args[0], cgutils.voidptr_t)

    return types.voidptr(address), codegen


# A batched step's episode buffers come by address (``sim.batch.address_table``): per cluster
# and buffer, in ``step``'s argument order, the address of its data, then its shape.


@njit(cache=True, inline="always")
def _f1(table: np.ndarray, i: int, j: int) -> np.ndarray:
    return carray(_pointer(table[i, j, 0]), (table[i, j, 1],), np.float64)


@njit(cache=True, inline="always")
def _f2(table: np.ndarray, i: int, j: int) -> np.ndarray:
    return carray(_pointer(table[i, j, 0]), (table[i, j, 1], table[i, j, 2]), np.float64)


@njit(cache=True, inline="always")
def _f3(table: np.ndarray, i: int, j: int) -> np.ndarray:
    shape = (table[i, j, 1], table[i, j, 2], table[i, j, 3])
    return carray(_pointer(table[i, j, 0]), shape, np.float64)


@njit(cache=True)  # NRT on: it reads a typed list
def step_many(
    active: np.ndarray,
    values: np.ndarray,
    offset: np.ndarray,
    t0: np.ndarray,
    buckets: int,
    bucket_s: float,
    t1: np.ndarray,
    fbuf: np.ndarray,
    ibuf: np.ndarray,
    lay: np.ndarray,
    buffers: np.ndarray,  # int64 (clusters, buffers, 4): addresses and shapes
    rngs: List,  # of np.random.Generator
    vec: np.ndarray,
    high: np.ndarray,
    codes: np.ndarray,
    exp_loop: int,
) -> int:
    """``kernel.step`` (apply, then advance) for every cluster i with ``active[i]``.

    Row i of ``values``, ``t0``, ``t1``, ``fbuf``, ``ibuf``, ``vec``, ``codes`` and
    ``buffers`` (its episode buffers by address: ``sim.batch.address_table``, whose caller
    keeps the arrays alive) and item i of ``rngs`` are cluster i's: its generator is the one
    ``step`` draws the cold starts it lacks from (``exp_loop``: see ``draw_cold_starts``).
    Cluster i's interval ends at ``t1[i]``, written for every cluster: ``buckets`` statistics
    buckets of ``bucket_s`` after ``t0[i]`` rounded to a bucket, as ``Simulator._interval_end``
    computes it (``np.rint`` rounds halves to even as ``round`` does; the whole numbers are
    exact as floats).

    The targets ``values + offset`` of every active cluster are checked against its limits
    first: if a row is out of them, ``codes`` of the first such cluster gets ``-(k + 1)`` for
    its first bad entry k and -1 is returned, no cluster having changed (the caller raises the
    codec's error). Else every active cluster is stepped and ``codes[i]`` receives its return
    code (the others 0). Returns how many clusters the kernel left unfinished (a ``NEED_*``
    bit or ``NEED_COLD``), which the simulator's ``finish_interval`` finishes (refilling or
    growing buffers where the kernel asked): mostly none.
    """
    codes[:] = 0
    for i in range(active.shape[0]):
        if not active[i]:
            continue
        lows = _v1(ibuf[i], lay, Packed.LOWS)
        highs = _v1(ibuf[i], lay, Packed.HIGHS)
        bad = _out_of_limits(values[i], offset, lows, highs)
        if bad:
            codes[i] = bad
            return -1
    unfinished = 0
    for i in range(active.shape[0]):
        t1[i] = (np.rint(t0[i] / bucket_s) + buckets) * bucket_s
        if active[i]:
            # Views of the simulator's own arrays (which the caller keeps alive), without the
            # reference counting that taking them from a typed list costs.
            cum = carray(_pointer(buffers[i, 0, 0]), (buffers[i, 0, 1],), np.int64)
            queue = _f3(buffers, i, 1)
            ubuf = _f1(buffers, i, 2)
            zbuf = _f1(buffers, i, 3)
            nxt_t = _f1(buffers, i, 4)
            nxt_o = _f2(buffers, i, 5)
            scratch = _f2(buffers, i, 6)
            sec_out = _f2(buffers, i, 7)
            cold = _f1(buffers, i, 8)
            codes[i] = step(
                True,
                values[i],
                offset,
                t0[i],
                t1[i],
                fbuf[i],
                ibuf[i],
                lay,
                cum,
                queue,
                ubuf,
                zbuf,
                nxt_t,
                nxt_o,
                scratch,
                sec_out,
                cold,
                vec[i],
                high,
                rngs[i],
                exp_loop,
            )
            if codes[i] < 0 or codes[i] & _UNFINISHED:
                unfinished += 1
    return unfinished
