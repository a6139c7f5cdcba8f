"""InfAdapter's integer program as a MILP for HiGHS (``scipy.optimize.milp``), the solver's check.

One binary y_{v,n} per variant and core count n ∈ {0, min_cores..MAX_CPU} (exactly one per
variant), a continuous load share ℓ_v and a continuous load cost LC:

* Σ_v Σ_n n·y_{v,n} ≤ MAX_CPU;
* ℓ_v ≤ Σ_n cap_v(n)·y_{v,n} (integer planning capacity) and Σ_v ℓ_v = λ;
* LC ≥ lt_v·y_{v,n} for every n > 0 other than the current cores of v (lt normalised by the
  largest load time);
* maximise Σ_v acc_v·ℓ_v/λ − α·Σ n·y/MAX_CPU − β·LC.

The LP optimum of the shares puts the load on the most accurate variants first, which is the
split the solver computes. Needs scipy (the ``dev`` extra); the core never imports this module.
"""

from __future__ import annotations

import numpy as np
from themis_env.baselines.infadapter.solver import Current, InfSolver

__all__ = ["solve_milp"]


def solve_milp(
    solver: InfSolver, load: float, current: Current = None, *, single: bool = False
) -> tuple[float, tuple[int, ...]] | None:
    """Solve with HiGHS: (objective, cores per variant), or None when infeasible.

    Args:
        solver: The :class:`~themis_env.baselines.infadapter.solver.InfSolver` whose problem
            to solve.
        load: Arrival rate [req/s] (planned as :meth:`InfSolver.planning_load`).
        current: Current cores per variant (load-cost term).
        single: At most one variant runs (MSP).
    """
    from scipy.optimize import Bounds, LinearConstraint, milp

    p = solver.problem
    lam = solver.planning_load(load)
    cur = solver.current_cores(current)
    V = len(p.variants)
    levels = np.array([0, *range(p.min_cores, p.max_cpu + 1)], dtype=np.int64)
    L = len(levels)
    load_times = np.array([v.load_time_s for v in p.variants], dtype=np.float64)
    lt = load_times / load_times.max() if load_times.max() > 0 else np.zeros(V)
    ny = V * L
    nvar = ny + V + 1  # y, shares, LC
    share0, lc = ny, ny + V
    rows, lo, hi = [], [], []

    def row() -> np.ndarray:
        return np.zeros(nvar)

    for v in range(V):
        r = row()
        r[v * L : (v + 1) * L] = 1
        rows.append(r), lo.append(1), hi.append(1)
        r = row()
        r[share0 + v] = 1
        r[v * L : (v + 1) * L] = -solver.cap_table[v, levels]
        rows.append(r), lo.append(-np.inf), hi.append(0)
        for j, n in enumerate(levels):
            if n > 0 and n != cur[v]:
                r = row()
                r[lc], r[v * L + j] = 1, -lt[v]
                rows.append(r), lo.append(0), hi.append(np.inf)
    r = row()
    r[:ny] = np.tile(levels, V)
    rows.append(r), lo.append(-np.inf), hi.append(p.max_cpu)
    r = row()
    r[share0 : share0 + V] = 1
    rows.append(r), lo.append(lam), hi.append(lam)
    if single:
        r = row()
        for v in range(V):
            r[v * L + 1 : (v + 1) * L] = 1
        rows.append(r), lo.append(-np.inf), hi.append(1)
    c = np.zeros(nvar)
    c[:ny] = p.alpha * np.tile(levels, V) / p.max_cpu
    c[share0 : share0 + V] = -np.array([v.accuracy for v in p.variants]) / lam
    c[lc] = p.beta
    integrality = np.zeros(nvar)
    integrality[:ny] = 1
    upper = np.concatenate([np.ones(ny), np.full(V, float(lam)), [1.0]])
    res = milp(
        c,
        constraints=LinearConstraint(np.array(rows), np.array(lo), np.array(hi)),
        integrality=integrality,
        bounds=Bounds(np.zeros(nvar), upper),
    )
    if res.status != 0 or res.x is None:
        return None
    y = np.round(res.x[:ny]).reshape(V, L)
    cores = tuple(int(levels[int(np.argmax(y[v]))]) for v in range(V))
    return float(-res.fun), cores
