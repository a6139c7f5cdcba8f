"""InfAdapter's integer program solved exactly, and MSP (the best single variant).

The authors solve the program with Gurobi in ``reconfigurable-ml-pipeline/InfAdapter@398b18f``
(``auto_tuner/adapter/reconfig.py``; arXiv 2304.10892); earlier commits enumerate every
allocation in Python. It is small: per variant n_v ∈ {0, min_cores, …, MAX_CPU} with
Σ n_v ≤ MAX_CPU is about 20,500 allocations for 5 variants and 20 cores. :class:`InfSolver`
builds them once and scores all of them per decision in one compiled pass (numba, compiled
on first use and cached on disk; :mod:`~themis_env.baselines.infadapter._kernels`), which is
exact by construction; the tests check it against HiGHS
(:func:`~themis_env.baselines.infadapter.milp.solve_milp`) and a plain loop.

Decided details:

* λ is the integer forecast the authors plan with (``int(...)``); a fractional load is rounded
  up, and at least 1 req/s is planned for, so that some variant always serves.
* Load shares: ℓ_v = min(cap_v(n_v), λ − the shares of the more accurate variants), most
  accurate first (the split that maximises the accuracy term; ties in accuracy keep input order).
* LC, as ``load_cost``: the variants that run in the new allocation with a core count different
  from the current one (a new variant included) count; LC is the largest of their load times,
  divided by the largest load time of all variants. Without a current allocation every variant
  that runs counts.
* Ties (objectives within 1e-12): fewer cores, then the first allocation in lexicographic order
  of (n_1, …, n_V) in the problem's variant order.
* Infeasible load (Σ capacities < λ within MAX_CPU): the authors' adapter then deploys its first
  model version (the smallest ResNet) with all MAX_CPU cores; here, the least accurate variant
  with MAX_CPU cores, marked ``feasible=False`` with a reason. MSP does the same.
* MSP is scored over every single-variant allocation (see :meth:`InfSolver.msp`).
* The older enumerating code also capped the total cores at what the most accurate variant alone
  needs; the program does not state that cap and it is not applied.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from themis_env.baselines.infadapter.problem import InfProblem

from themis_env.errors import ConfigError

__all__ = ["InfPlan", "InfSolver", "allocations"]

_MAX_ALLOCATIONS = 3_000_000

Current = Sequence[int] | Mapping[str, int] | None


@dataclass(frozen=True)
class InfPlan:
    """A solver's answer.

    Attributes:
        feasible: False when no allocation carries the load (the plan is then the fallback).
        cores: Cores per variant, in the problem's variant order (0: not running).
        shares: Load share ℓ_v per variant [req/s].
        capacity: Planning capacity per variant [req/s].
        objective: The objective value.
        accuracy: Σ_v (ℓ_v/λ)·acc_v.
        load: The integer load λ planned for [req/s].
        reason: Why the plan is infeasible ("" otherwise).
    """

    feasible: bool
    cores: tuple[int, ...]
    shares: tuple[float, ...]
    capacity: tuple[int, ...]
    objective: float
    accuracy: float
    load: int
    reason: str = ""

    @property
    def total_cores(self) -> int:
        """Σ_v n_v."""
        return sum(self.cores)


def allocations(n_variants: int, max_cpu: int, min_cores: int) -> np.ndarray:
    """Every allocation n_v ∈ {0, min_cores..max_cpu} with Σ n_v ≤ max_cpu, lexicographic.

    Returns:
        Array of shape (N, n_variants).
    """
    choices = np.array([0, *range(min_cores, max_cpu + 1)], dtype=np.int64)
    rows = np.zeros((1, 0), dtype=np.int64)
    for _ in range(n_variants):
        used = rows.sum(axis=1)
        left = np.repeat(rows, len(choices), axis=0)
        col = np.tile(choices, len(rows))
        keep = np.repeat(used, len(choices)) + col <= max_cpu
        rows = np.column_stack([left[keep], col[keep]])
        if len(rows) > _MAX_ALLOCATIONS:
            raise ConfigError(
                f"{n_variants} variants over {max_cpu} cores give more than {_MAX_ALLOCATIONS} "
                "allocations to enumerate; reduce max_cpu or the variants"
            )
    return rows


class InfSolver:
    """Exact solver of one :class:`~themis_env.baselines.infadapter.problem.InfProblem`.

    Args:
        problem: The variants, limits and weights.
    """

    def __init__(self, problem: InfProblem) -> None:
        if not isinstance(problem, InfProblem):
            raise ConfigError(f"expected an InfProblem, got {type(problem).__name__}")
        self.problem = problem
        V = len(problem.variants)
        self.alloc = allocations(V, problem.max_cpu, problem.min_cores)
        self.cap_table = problem.capacities()
        acc = np.array([v.accuracy for v in problem.variants], dtype=np.float64)
        self._acc = acc
        self._order = np.argsort(-acc, kind="stable")  # most accurate first
        load_times = np.array([v.load_time_s for v in problem.variants], dtype=np.float64)
        top = load_times.max()
        self._lt = load_times / top if top > 0 else np.zeros(V)
        self._caps = self.cap_table[np.arange(V)[None, :], self.alloc]  # (N, V)
        self._total_cap = self._caps.sum(axis=1)
        self._used = self.alloc.sum(axis=1)
        # Per allocation, in accuracy order: capacities and the capacity of the variants before.
        self._sorted_caps = np.ascontiguousarray(self._caps[:, self._order])
        self._acc_sorted = acc[self._order]
        self._alloc_sorted = np.ascontiguousarray(self.alloc[:, self._order])
        self._lt_sorted = self._lt[self._order]
        self._single = (self.alloc > 0).sum(axis=1) == 1
        self._all = np.ones(len(self.alloc), dtype=bool)
        from themis_env.baselines.infadapter import _kernels  # numba: compiled on first use

        self._kernel = _kernels.best_allocation
        self._fallback = int(np.argsort(acc, kind="stable")[0])

    # ------------------------------------------------------------------ inputs
    def planning_load(self, load: float) -> int:
        """The integer λ planned for: ceil(load), at least 1."""
        try:
            value = float(load)
        except (TypeError, ValueError):
            raise ConfigError(f"load = {load!r} must be a number >= 0 [req/s]") from None
        if not math.isfinite(value) or value < 0:
            raise ConfigError(f"load = {load!r} must be a finite number >= 0 [req/s]")
        return max(1, int(math.ceil(value - 1e-9)))

    def current_cores(self, current: Current) -> np.ndarray:
        """Cores per variant of a current allocation (a sequence, or a name → cores mapping)."""
        V = len(self.problem.variants)
        if current is None:
            return np.zeros(V, dtype=np.int64)
        if isinstance(current, Mapping):
            out = np.zeros(V, dtype=np.int64)
            for name, n in current.items():
                out[self.problem.index(name)] = int(n)
            return out
        values = [int(n) for n in current]
        if len(values) != V or any(n < 0 for n in values):
            raise ConfigError(
                f"current = {list(current)} must give cores >= 0 for each of the {V} variants"
            )
        return np.array(values, dtype=np.int64)

    # ------------------------------------------------------------------ scoring
    def _score(
        self, alloc: np.ndarray, lam: int, cur: np.ndarray
    ) -> tuple[float, float, np.ndarray]:
        """(objective, accuracy, shares in variant order) of one allocation at load λ."""
        caps = self.cap_table[np.arange(len(alloc)), alloc]
        shares = np.zeros(len(alloc))
        left = lam
        for v in self._order:
            shares[v] = min(caps[v], left)
            left -= shares[v]
        accuracy = float(shares @ self._acc) / lam
        changed = (alloc > 0) & (alloc != cur)
        lc = float((changed * self._lt).max())
        objective = (
            accuracy
            - self.problem.alpha * int(alloc.sum()) / self.problem.max_cpu
            - self.problem.beta * lc
        )
        return objective, accuracy, shares

    def _best(self, lam: int, cur: np.ndarray, allowed: np.ndarray) -> int:
        """Index of the best allowed allocation carrying λ (−1: none), compiled."""
        return int(
            self._kernel(
                self._alloc_sorted,
                self._sorted_caps,
                self._total_cap,
                self._used,
                allowed,
                self._acc_sorted,
                self._lt_sorted,
                np.ascontiguousarray(cur[self._order]),
                lam,
                self.problem.alpha / self.problem.max_cpu,
                self.problem.beta,
            )
        )

    def _plan(self, alloc: np.ndarray, lam: int, cur: np.ndarray, reason: str = "") -> InfPlan:
        objective, accuracy, shares = self._score(alloc, lam, cur)
        caps = self.cap_table[np.arange(len(alloc)), alloc]
        return InfPlan(
            not reason,
            tuple(int(n) for n in alloc),
            tuple(float(x) for x in shares),
            tuple(int(c) for c in caps),
            objective,
            accuracy,
            lam,
            reason,
        )

    def _infeasible(self, lam: int, cur: np.ndarray, what: str) -> InfPlan:
        p = self.problem
        alloc = np.zeros(len(p.variants), dtype=np.int64)
        alloc[self._fallback] = p.max_cpu
        reason = (
            f"{what} carries {lam} req/s within {p.max_cpu} cores; InfAdapter's fallback: the "
            f"least accurate variant {p.variants[self._fallback].name!r} with all {p.max_cpu} cores"
        )
        return self._plan(alloc, lam, cur, reason)

    # ------------------------------------------------------------------ solvers
    def solve(self, load: float, current: Current = None) -> InfPlan:
        """InfAdapter's decision: the best variant set and cores for load λ.

        Args:
            load: Arrival rate λ [req/s] (InfAdapter plans with its forecast + 10 %).
            current: Current cores per variant (sequence in variant order, or name → cores);
                sets the load-cost term and nothing else.
        """
        lam = self.planning_load(load)
        cur = self.current_cores(current)
        k = self._best(lam, cur, self._all)
        if k < 0:
            return self._infeasible(lam, cur, "no allocation")
        return self._plan(self.alloc[k], lam, cur)

    def msp(self, load: float, current: Current = None) -> InfPlan:
        """MSP: the best allocation that runs a single variant, under the same objective.

        The authors' ``reconfig_msp`` scores each variant at its fewest cores that carry λ;
        scoring every core count instead gives the same plan except where keeping the current
        core count saves the load cost, and keeps MSP exactly "the best single variant". Same
        arguments, ties and fallback as :meth:`solve`.
        """
        lam = self.planning_load(load)
        cur = self.current_cores(current)
        k = self._best(lam, cur, self._single)
        if k < 0:
            return self._infeasible(lam, cur, "no single variant")
        return self._plan(self.alloc[k], lam, cur)
