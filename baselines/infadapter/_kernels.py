"""Compiled core of the InfAdapter solver (numba, cached on disk): one pass over allocations.

Arrays are in accuracy order (most accurate variant first), precomputed by
:class:`~themis_env.baselines.infadapter.solver.InfSolver`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

TIE = 1e-12  # objectives closer than this tie (then fewer cores, then the first allocation)


@njit(cache=True)
def best_allocation(
    alloc: np.ndarray,
    caps: np.ndarray,
    total_cap: np.ndarray,
    used: np.ndarray,
    allowed: np.ndarray,
    acc: np.ndarray,
    load_time: np.ndarray,
    current: np.ndarray,
    lam: int,
    cores_weight: float,
    load_weight: float,
) -> int:
    """Index of the best allowed allocation that carries λ, or −1 if none does.

    Per allocation (rows of ``alloc``/``caps``, shape (N, V)): the load fills the variants in
    order up to their capacities; objective = Σ share·acc/λ − cores_weight·used −
    load_weight·max(load_time of the variants that run with other cores than ``current``).
    """
    best, best_obj, best_used = -1, -np.inf, 0
    V = alloc.shape[1]
    for i in range(alloc.shape[0]):
        if not allowed[i] or total_cap[i] < lam:
            continue
        left = lam
        total = 0.0
        lc = 0.0
        for j in range(V):
            share = min(caps[i, j], left)
            left -= share
            total += share * acc[j]
            n = alloc[i, j]
            if n > 0 and n != current[j] and load_time[j] > lc:
                lc = load_time[j]
        obj = total / lam - cores_weight * used[i] - load_weight * lc
        if obj > best_obj + TIE or (abs(obj - best_obj) <= TIE and used[i] < best_used):
            best, best_obj, best_used = i, obj, used[i]
    return best
