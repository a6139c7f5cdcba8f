"""Compiled cores of the Themis solvers (numba, cached on disk): the per-decision hot path.

Each kernel answers one solver call over the precomputed option tables of
:class:`~themis_env.baselines.themis.solvers.ThemisSolver`.
Options of stage s are indexed k = c·B + b
(cores outer, batch inner, zero-based), the authors' loop order. A latency of ``BIG`` marks a
padded option that does not exist.

The answer of the authors' DP (``horizontal_2d``/``vertical_2d``, ``adapter/optimizer.py`` of
``mehransi/Themis`` at ``b01017f`` and ``8b3bfdd``) is found by enumerating the per-stage Pareto
options: least cost; then least total latency; then least latency of the last stage, of the one
before, and so on; an option beaten on both latency and cost by another of its stage is never in
that answer, and among options of equal (latency, cost) the first in loop order is kept.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

Q_NONE = 0
Q_MEAN = 1
Q_P99 = 2
Q_DRAIN = 4  # flag added to the wait code: Sponge's back-to-back drain of the queued batches
BIG = 1 << 40
P99_EXPONENTIAL = -math.log(0.01)
MAX_COMBINATIONS = 1 << 22  # enumeration guard (many stages with many Pareto options)


@njit(cache=True, inline="always")
def _stage(
    lat: int, b: int, lam: int, cap: int, n: int, qcode: int, incl_q: bool
) -> tuple[int, int]:
    """Latency L = l + q(b, λ) [ms] and per-replica throughput h [req/s] of one option.

    With the drain flag, l is replaced by ceil(λ̂/(b·n))·l: the queued batches of one second
    served back to back on one of n replicas (Sponge).
    """
    wait_code = qcode & 3
    if wait_code == Q_MEAN:
        wait = ((b - 1) * 1000) // lam
    elif wait_code == Q_P99:
        wait = int(math.ceil((b - 1) * P99_EXPONENTIAL * 1000.0 / lam))
    else:
        wait = 0
    service = lat
    if qcode & Q_DRAIN:
        service = lat * max(-(-cap // (b * n)), 1)
    total = service + wait
    if incl_q:
        return total, (1000 * b) // (lat + wait)
    return total, (1000 * b) // lat


@njit(cache=True, inline="always")
def _capacity(lam: int, headroom: float) -> int:
    if headroom > 0:
        return int(round(lam + headroom * math.sqrt(lam)))
    return lam


@njit(cache=True)
def _enumerate(
    lat: np.ndarray, cost: np.ndarray, count: np.ndarray, cost_cap: float, budget: int
) -> np.ndarray:
    """Best combination of one kept option per stage; positions into each row, or -1s.

    ``lat``/``cost`` are (S, W) with the first ``count[s]`` entries of row s valid.
    """
    S = lat.shape[0]
    pick = np.full(S, -1, dtype=np.int64)
    total_combos = 1
    for s in range(S):
        if count[s] == 0:
            return pick
        total_combos *= count[s]
        if total_combos > MAX_COMBINATIONS:
            pick[0] = -2
            return pick
    idx = np.zeros(S, dtype=np.int64)
    best_cost = np.inf
    best_total = BIG
    best_l = np.zeros(S, dtype=np.int64)
    while True:
        c_sum = 0.0
        t_sum = 0
        for s in range(S):
            c_sum += cost[s, idx[s]]
            t_sum += lat[s, idx[s]]
        if t_sum <= budget and c_sum <= cost_cap + 1e-9:
            tol = 1e-9 * max(1.0, abs(best_cost)) if best_cost < np.inf else 0.0
            better = False
            if c_sum < best_cost - tol:
                better = True
            elif abs(c_sum - best_cost) <= tol:
                if t_sum < best_total:
                    better = True
                elif t_sum == best_total:
                    for s in range(S - 1, 0, -1):
                        li = lat[s, idx[s]]
                        if li != best_l[s]:
                            better = li < best_l[s]
                            break
            if better:
                best_cost = c_sum
                best_total = t_sum
                for s in range(S):
                    best_l[s] = lat[s, idx[s]]
                    pick[s] = idx[s]
        # Odometer: stage 0 turns fastest.
        s = 0
        while s < S:
            idx[s] += 1
            if idx[s] < count[s]:
                break
            idx[s] = 0
            s += 1
        if s == S:
            break
    return pick


@njit(cache=True)
def _pareto(lat_row: np.ndarray, cost_row: np.ndarray, budget: int, out_idx: np.ndarray) -> int:
    """Kept options of one stage into ``out_idx``; returns how many (loop order preserved)."""
    K = lat_row.shape[0]
    m = 0
    for i in range(K):
        li = lat_row[i]
        if li > budget:
            continue
        ci = cost_row[i]
        tol = 1e-9 * max(1.0, abs(ci))
        dominated = False
        for j in range(K):
            if j == i or lat_row[j] > budget:
                continue
            lj = lat_row[j]
            cj = cost_row[j]
            if lj < li and cj <= ci + tol:
                dominated = True
            elif lj == li and (cj < ci - tol or (abs(cj - ci) <= tol and j < i)):
                dominated = True
            if dominated:
                break
        if not dominated:
            out_idx[m] = i
            m += 1
    return m


@njit(cache=True)
def _solve_options(lat: np.ndarray, cost: np.ndarray, budget: int, cost_cap: float) -> np.ndarray:
    """The DP's option index per stage for (S, K) latencies and costs; -1s if none fits."""
    S, K = lat.shape
    kept = np.zeros((S, K), dtype=np.int64)
    count = np.zeros(S, dtype=np.int64)
    for s in range(S):
        count[s] = _pareto(lat[s], cost[s], budget, kept[s])
    width = max(1, count.max())
    f_lat = np.zeros((S, width), dtype=np.int64)
    f_cost = np.zeros((S, width))
    for s in range(S):
        for m in range(count[s]):
            f_lat[s, m] = lat[s, kept[s, m]]
            f_cost[s, m] = cost[s, kept[s, m]]
    pos = _enumerate(f_lat, f_cost, count, cost_cap, budget)
    out = np.full(S, -1, dtype=np.int64)
    if pos[0] == -2:
        out[0] = -2
        return out
    if pos[0] < 0:
        return out
    for s in range(S):
        out[s] = kept[s, pos[s]]
    return out


@njit(cache=True)
def horizontal(
    lat: np.ndarray,
    B: int,
    reps_limit: np.ndarray,
    mem: np.ndarray,
    lam: int,
    cap: int,
    qcode: int,
    incl_q: bool,
    memory_cost: bool,
    core_memory: float,
    budget: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Horizontal solver: (option per stage or -1s, replicas, latency, cost) per stage."""
    S, K = lat.shape
    L = np.full((S, K), BIG, dtype=np.int64)
    n = np.zeros((S, K), dtype=np.int64)
    cost = np.zeros((S, K))
    for s in range(S):
        for k in range(K):
            if lat[s, k] >= BIG:
                continue
            c = k // B + 1
            b = k % B + 1
            total, h = _stage(lat[s, k], b, lam, cap, 1, qcode, incl_q)
            if h <= 0:
                continue
            need = -(-cap // h)
            if need > reps_limit[s]:
                continue
            L[s, k] = total
            n[s, k] = need
            if memory_cost:
                cost[s, k] = need * (mem[s] + core_memory * c)
            else:
                cost[s, k] = need * c
    pick = _solve_options(L, cost, budget, np.inf)
    out_n = np.zeros(S, dtype=np.int64)
    out_l = np.zeros(S, dtype=np.int64)
    out_c = np.zeros(S)
    if pick[0] >= 0:
        for s in range(S):
            out_n[s] = n[s, pick[s]]
            out_l[s] = L[s, pick[s]]
            out_c[s] = cost[s, pick[s]]
    return pick, out_n, out_l, out_c


@njit(cache=True)
def _per_core(
    lat: np.ndarray, B: int, C: int, reps: np.ndarray, lam: int, cap: int, qcode: int, incl_q: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Per stage and core count: least latency over batches that carry the load, its batch."""
    S = lat.shape[0]
    best = np.full((S, C), BIG, dtype=np.int64)
    best_b = np.zeros((S, C), dtype=np.int64)
    for s in range(S):
        for c in range(C):
            for bi in range(B):
                k = c * B + bi
                if lat[s, k] >= BIG:
                    continue
                total, h = _stage(lat[s, k], bi + 1, lam, cap, reps[s], qcode, incl_q)
                # Strict: the first batch of least latency, as the loop keeps.
                if h * reps[s] >= cap and total < best[s, c]:
                    best[s, c] = total
                    best_b[s, c] = bi
    return best, best_b


@njit(cache=True)
def vertical(
    lat: np.ndarray,
    B: int,
    C: int,
    reps: np.ndarray,
    lam: int,
    cap: int,
    qcode: int,
    incl_q: bool,
    budget: int,
    core_cap: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertical solver at fixed replicas: (cores index or -1s, batch index, latency) per stage."""
    S = lat.shape[0]
    best, best_b = _per_core(lat, B, C, reps, lam, cap, qcode, incl_q)
    cores = np.empty((S, C))
    for s in range(S):
        for c in range(C):
            cores[s, c] = c + 1
    pick = _solve_options(best, cores, budget, core_cap)
    out_b = np.zeros(S, dtype=np.int64)
    out_l = np.zeros(S, dtype=np.int64)
    if pick[0] >= 0:
        for s in range(S):
            out_b[s] = best_b[s, pick[s]]
            out_l[s] = best[s, pick[s]]
    return pick, out_b, out_l


@njit(cache=True)
def _feasible(
    lat: np.ndarray,
    B: int,
    C: int,
    reps: np.ndarray,
    lam: int,
    qcode: int,
    incl_q: bool,
    headroom: float,
    budget: int,
    core_cap: float,
    cap_binds: bool,
) -> bool:
    cap = _capacity(lam, headroom)
    if cap_binds:
        pick, _, _ = vertical(lat, B, C, reps, lam, cap, qcode, incl_q, budget, core_cap)
        return pick[0] >= 0
    # Without a binding core cap the DP is feasible iff the fastest options fit together.
    S, K = lat.shape
    total = 0
    for s in range(S):
        fastest = BIG
        for k in range(K):
            if lat[s, k] >= BIG:
                continue
            t, h = _stage(lat[s, k], k % B + 1, lam, cap, reps[s], qcode, incl_q)
            if h * reps[s] >= cap and t < fastest:
                fastest = t
        total += fastest
        if total > budget:
            return False
    return True


@njit(cache=True)
def fallback_load(
    lat: np.ndarray,
    B: int,
    C: int,
    reps: np.ndarray,
    lam: int,
    qcode: int,
    incl_q: bool,
    headroom: float,
    budget: int,
    core_cap: float,
    cap_binds: bool,
) -> int:
    """The authors' binary search for the largest load in [1, λ) the replicas carry."""
    left = 1
    right = lam
    while right - left > 1:
        mid = (left + right) // 2
        if _feasible(lat, B, C, reps, mid, qcode, incl_q, headroom, budget, core_cap, cap_binds):
            left = mid
        else:
            right = mid
    return left
