"""IPA's integer program as a MILP for HiGHS (``scipy.optimize.milp``), the solver's check.

The authors' Gurobi model (``reconfigurable-ml-pipeline/ipa@e1f08dd``, ``optimizer/optimizer.py``)
multiplies binaries (variant × batch) and integers (replicas); here the product is linearised
by one binary x and one integer n per (stage, variant, batch) option:

* Σ_k x_{s,k} = 1 per stage; x_k ≥ 0 only for options the mode allows and the profile has;
* x_k ≤ n_k ≤ cap·x_k (replicas exist only for the chosen option), or n_k = N_s·x_k (``switch``);
* h_k·n_k ≥ λ·x_k (the chosen option carries the load);
* Σ_{s,k} (l_k + (b_k − 1)/λ)·x_k ≤ SLA;
* maximise Σ_k (α·acc_k − γ·b_k)·x_k − β·Σ_k cores_k·n_k.

It needs scipy (the ``dev`` extra); the core never imports this module.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from themis_env.baselines.ipa.solver import IpaSolver, Mode

__all__ = ["solve_milp"]


def solve_milp(
    solver: IpaSolver,
    load: float,
    *,
    mode: Mode = "ipa",
    variants: Sequence[str | int] | None = None,
    replicas: Sequence[int] | None = None,
) -> tuple[float, list[tuple[int, int, int]]] | None:
    """Solve with HiGHS: (objective, [(variant index, batch, replicas)] per stage), or None.

    Args:
        solver: The :class:`~themis_env.baselines.ipa.solver.IpaSolver` whose problem to solve.
        load: Arrival rate λ [req/s].
        mode: ``ipa``, ``scale`` or ``switch``, as :meth:`IpaSolver.solve`.
        variants: Fixed variants (``scale``).
        replicas: Fixed replicas (``switch``).
    """
    from scipy.optimize import Bounds, LinearConstraint, milp

    p = solver.problem
    lam = float(load)
    cap = p.max_replicas
    rows, lo, hi = [], [], []
    blocks = []  # per stage: (offset of x, options, allowed)
    cost_x, cost_n, ub_x = [], [], []
    offset = 0
    for s, st in enumerate(p.stages):
        fix_v = st.index(variants[s]) if mode == "scale" and variants is not None else None
        o = solver.options(s, lam)
        allowed = np.isfinite(o.latency_ms)
        if fix_v is not None:
            allowed &= o.variant == fix_v
        k = len(o.batch)
        blocks.append((offset, o, allowed))
        table = solver.tables[s]
        cost_x.append(table.fixed_value)
        cost_n.append(-p.beta * table.cores.astype(np.float64))
        ub_x.append(allowed.astype(np.float64))
        offset += k
    K = offset
    nvar = 2 * K  # x then n

    def row() -> np.ndarray:
        return np.zeros(nvar)

    for s, (off, o, _) in enumerate(blocks):
        k = len(o.batch)
        r = row()
        r[off : off + k] = 1
        rows.append(r), lo.append(1), hi.append(1)
        tput, profiled = solver.tables[s].throughput_rps, solver.tables[s].profiled
        for j in range(k):
            x, n = off + j, K + off + j
            if mode == "switch" and replicas is not None:
                r = row()
                r[n], r[x] = 1, -float(replicas[s])
                rows.append(r), lo.append(0), hi.append(0)
            else:
                r = row()
                r[n], r[x] = 1, -cap
                rows.append(r), lo.append(-np.inf), hi.append(0)
                r = row()
                r[n], r[x] = 1, -1
                rows.append(r), lo.append(0), hi.append(np.inf)
            if profiled[j]:
                r = row()
                r[n], r[x] = tput[j], -lam
                rows.append(r), lo.append(-1e-9 * max(lam, 1.0)), hi.append(np.inf)
    r = row()
    for off, o, allowed in blocks:
        r[off : off + len(o.batch)] = np.where(allowed, o.latency_ms, 0.0)
    rows.append(r), lo.append(-np.inf), hi.append(p.sla_ms * (1 + 1e-9))
    c = -np.concatenate(cost_x + cost_n)
    upper = np.concatenate(ub_x + [np.full(K, float(cap))])
    res = milp(
        c,
        constraints=LinearConstraint(np.array(rows), np.array(lo), np.array(hi)),
        integrality=np.ones(nvar),
        bounds=Bounds(np.zeros(nvar), upper),
    )
    if res.status != 0 or res.x is None:
        return None
    x = np.round(res.x).astype(np.int64)
    picks = []
    for off, o, _ in blocks:
        j = int(np.argmax(x[off : off + len(o.batch)]))
        picks.append((int(o.variant[j]), int(o.batch[j]), int(x[K + off + j])))
    return float(-res.fun), picks
