"""IPA's integer program solved exactly: per stage a variant, a batch size and replicas.

The authors solve it with Gurobi (``reconfigurable-ml-pipeline/ipa@e1f08dd``,
``optimizer/optimizer.py``, ``gurobi_optmizer``; arXiv 2308.12871). Gurobi is not available, and
the program is small: once a stage's variant v and batch b are chosen, the best replica count is
the least that carries the load, n = max(1, ceil(λ / h_v(b))) (the objective falls with n), or
the fixed count in ``switch`` mode. So a stage has at most V·B options, each with a value
α·acc_v − β·cores_v·n − γ·b and a latency l_v(b) + (b − 1)/λ, and the program is a
multiple-choice knapsack over the latency budget. :class:`IpaSolver` enumerates it exactly in
NumPy: per stage it drops the options another option beats on value, latency and changes at
once (no optimal plan uses them), then scores every combination of the rest. The tests check it
against :func:`~themis_env.baselines.ipa.milp.solve_milp` (HiGHS) and a plain exhaustive search.

Decided details:

* Constraints as the Gurobi model states them: Σ_s [l_s(b_s) + (b_s − 1)/λ] ≤ SLA (non-strict),
  n_s·h_s(b_s) ≥ λ, 1 ≤ n_s ≤ ``max_replicas``; the wait is 0 at λ = 0, as ``func_q`` has it.
  λ may be fractional; the authors pass the integer forecast.
* Among optimal plans (objective equal to 1e-9) IPA's adapter applies the one that changes the
  fewest variants and batch sizes from the current configuration (``choose_config``); then we
  take the least end-to-end latency, then the first in (stage, variant, batch) order.
* Modes, as IPA's ``baseline_mode``: ``ipa`` (all knobs); ``scale`` (variant fixed per stage:
  FA2-low with the smallest variants, FA2-high with the largest); ``switch`` (replicas fixed:
  RIM).
* Infeasible load: the adapter logs that no solution was found and leaves the pipeline as it is.
  The plan is returned with ``feasible=False`` and, when ``current`` is given, that current
  configuration as its stages (the policy keeps it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
from themis_env.baselines.ipa.problem import IpaProblem

from themis_env.errors import ConfigError

__all__ = ["Mode", "MODES", "IpaStagePlan", "IpaPlan", "IpaSolver", "StageOptions", "StageTable"]

Mode = Literal["ipa", "scale", "switch"]
MODES = ("ipa", "scale", "switch")
_TOL = 1e-9  # relative slack on the throughput and latency checks (float round-off)
_MAX_COMBINATIONS = 2_000_000


@dataclass(frozen=True)
class IpaStagePlan:
    """One stage of a plan.

    Attributes:
        variant: Variant name.
        variant_index: Its index in the stage.
        batch: Batch size.
        replicas: Replicas.
        cores: Cores per replica (the variant's base allocation).
        latency_ms: Planned stage latency l(b) + (b − 1)/λ [ms].
    """

    variant: str
    variant_index: int
    batch: int
    replicas: int
    cores: int
    latency_ms: float


@dataclass(frozen=True)
class IpaPlan:
    """The solver's answer.

    Attributes:
        feasible: False when no configuration meets the constraints.
        stages: One :class:`IpaStagePlan` per stage (an infeasible plan holds the current
            configuration when one was given, else nothing).
        objective: α·accuracy − β·cores − γ·batch of the plan (−inf when infeasible).
        latency_ms: Planned end-to-end latency [ms].
        load: The load λ planned for [req/s].
        reason: Why the plan is infeasible ("" otherwise).
    """

    feasible: bool
    stages: tuple[IpaStagePlan, ...] = ()
    objective: float = -math.inf
    latency_ms: float = 0.0
    load: float = 0.0
    reason: str = ""

    @property
    def cores(self) -> int:
        """Σ_s cores·replicas of the plan."""
        return sum(s.cores * s.replicas for s in self.stages)

    def targets(self) -> list[tuple[int, int, int]]:
        """(variant index, batch, replicas) per stage."""
        return [(s.variant_index, s.batch, s.replicas) for s in self.stages]


class StageTable(NamedTuple):
    """A stage's profile as arrays over (variant, batch) options, variant outer.

    Attributes:
        variant: Variant index of each option.
        batch: Batch size.
        latency_ms: Latency of one batch [ms] (NaN: not profiled).
        throughput_rps: Throughput of one replica [req/s] (NaN: not profiled).
        cores: Cores per replica (the variant's base allocation).
        fixed_value: The load-independent part of the objective, α·acc − γ·b.
        profiled: Whether the option has a profile.
    """

    variant: np.ndarray
    batch: np.ndarray
    latency_ms: np.ndarray
    throughput_rps: np.ndarray
    cores: np.ndarray
    fixed_value: np.ndarray
    profiled: np.ndarray


@dataclass(frozen=True)
class StageOptions:
    """The options of one stage at one load, as arrays over (variant, batch) in that order.

    Attributes:
        variant: Variant index of each option.
        batch: Batch size.
        replicas: Replicas the option needs (or the fixed count).
        value: Its objective contribution.
        latency_ms: Its latency with the batch wait [ms].
        usable: Profiled, allowed by the mode, and carries the load within the replica cap.
    """

    variant: np.ndarray
    batch: np.ndarray
    replicas: np.ndarray
    value: np.ndarray
    latency_ms: np.ndarray
    usable: np.ndarray


class IpaSolver:
    """Exact solver of one :class:`~themis_env.baselines.ipa.problem.IpaProblem`.

    Args:
        problem: The pipeline, its profiles and weights.
    """

    def __init__(self, problem: IpaProblem) -> None:
        if not isinstance(problem, IpaProblem):
            raise ConfigError(f"expected an IpaProblem, got {type(problem).__name__}")
        self.problem = problem
        weight = problem.alpha / (
            len(problem.stages) if problem.accuracy_method == "average" else 1
        )
        tables = []
        for s, st in enumerate(problem.stages):
            nv, nb = len(st.variants), len(st.batches)
            variant = np.repeat(np.arange(nv), nb)
            batch = np.tile(np.array(st.batches, dtype=np.int64), nv)
            lat = np.array([v.latency_ms for v in st.variants], dtype=np.float64).ravel()
            tput = np.array([v.throughput_rps for v in st.variants], dtype=np.float64).ravel()
            cores = np.repeat(np.array([v.cores for v in st.variants], dtype=np.int64), nb)
            acc = np.repeat(np.array([problem.accuracy(s, k) for k in range(nv)]), nb)
            profiled = np.isfinite(lat) & np.isfinite(tput)
            fixed = weight * acc - problem.gamma * batch
            tables.append(StageTable(variant, batch, lat, tput, cores, fixed, profiled))
        self.tables: tuple[StageTable, ...] = tuple(tables)

    # ------------------------------------------------------------------ options
    def options(
        self,
        stage: int,
        load: float,
        *,
        variant: int | None = None,
        replicas: int | None = None,
    ) -> StageOptions:
        """A stage's options at load λ (``variant`` fixes the variant, ``replicas`` the count)."""
        variant_idx, batch, lat, tput, cores, fixed, profiled = self.tables[stage]
        lam = float(load)
        wait = 1000.0 * (batch - 1) / lam if lam > 0 else np.zeros(len(batch))
        total = np.where(profiled, lat, np.inf) + wait
        safe = np.where(profiled, tput, 1.0)
        if replicas is None:
            need = np.ceil(lam / safe * (1 - _TOL)) if lam > 0 else np.ones(len(batch))
            n = np.maximum(need, 1).astype(np.int64)
            carries = n <= self.problem.max_replicas
        else:
            n = np.full(len(batch), int(replicas), dtype=np.int64)
            carries = n * safe >= lam * (1 - _TOL)
        usable = profiled & carries
        if variant is not None:
            usable &= variant_idx == variant
        value = fixed - self.problem.beta * cores * n
        return StageOptions(variant_idx, batch, n, value, total, usable)

    # ------------------------------------------------------------------ solve
    def solve(
        self,
        load: float,
        *,
        mode: Mode = "ipa",
        current: Sequence[tuple[str | int, int, int]] | None = None,
        variants: Sequence[str | int] | None = None,
        replicas: Sequence[int] | None = None,
    ) -> IpaPlan:
        """The optimal plan for load λ.

        Args:
            load: Arrival rate λ [req/s] (IPA plans with its forecast).
            mode: ``ipa``, ``scale`` (give ``variants``) or ``switch`` (give ``replicas``).
            current: The current (variant, batch, replicas) per stage: breaks ties towards
                fewer changes, and is what an infeasible plan keeps.
            variants: Fixed variant per stage (name or index), for ``scale``.
            replicas: Fixed replicas per stage, for ``switch``.

        Returns:
            The plan; ``feasible=False`` with a reason when nothing meets the constraints.
        """
        p = self.problem
        S = len(p.stages)
        lam = _check_load(load)
        if mode not in MODES:
            raise ConfigError(f"mode = {mode!r} is not allowed; choose one of {list(MODES)}")
        fixed_v = self._per_stage(variants, "variants", mode == "scale")
        fixed_n = self._per_stage(replicas, "replicas", mode == "switch")
        cur = self._current(current)
        fixed_v = [None if v is None else p.stages[s].index(v) for s, v in enumerate(fixed_v)]
        if mode != "scale":
            fixed_v = [None] * S
        if mode != "switch":
            fixed_n = [None] * S
        for n in fixed_n:
            if n is not None and not 1 <= int(n) <= p.max_replicas:
                raise ConfigError(f"replicas = {n} must lie in 1..{p.max_replicas}")
        opts, kept = [], []
        for s in range(S):
            o = self.options(s, lam, variant=fixed_v[s], replicas=fixed_n[s])
            changes = np.zeros(len(o.batch), dtype=np.int64)
            if cur is not None:
                changes = (o.variant != cur[s][0]).astype(np.int64) + (o.batch != cur[s][1])
            idx = _undominated(o.value, o.latency_ms, changes, o.usable)
            opts.append((o, changes))
            kept.append(idx)
        if any(len(k) == 0 for k in kept):
            return self._infeasible(lam, cur, "a stage has no option that carries the load")
        if math.prod(len(k) for k in kept) > _MAX_COMBINATIONS:
            raise ConfigError(
                f"{S} stages with {[len(k) for k in kept]} options each are too many to enumerate"
            )
        value = np.zeros(1)
        lat = np.zeros(1)
        chg = np.zeros(1, dtype=np.int64)
        for (o, changes), idx in zip(opts, kept, strict=True):
            value = (value[:, None] + o.value[idx][None, :]).ravel()
            lat = (lat[:, None] + o.latency_ms[idx][None, :]).ravel()
            chg = (chg[:, None] + changes[idx][None, :]).ravel()
        ok = lat <= p.sla_ms * (1 + _TOL)
        if not ok.any():
            return self._infeasible(lam, cur, f"no configuration meets the {p.sla_ms:g} ms SLA")
        cand = np.flatnonzero(ok)
        order = np.lexsort((np.round(lat[cand], 9), chg[cand], -np.round(value[cand], 9)))
        flat = int(cand[order[0]])
        picks = np.unravel_index(flat, tuple(len(k) for k in kept))
        stages = []
        for s, ((o, _), idx) in enumerate(zip(opts, kept, strict=True)):
            k = int(idx[picks[s]])
            v = int(o.variant[k])
            stages.append(
                IpaStagePlan(
                    p.stages[s].variants[v].name,
                    v,
                    int(o.batch[k]),
                    int(o.replicas[k]),
                    int(p.stages[s].variants[v].cores),
                    float(o.latency_ms[k]),
                )
            )
        return IpaPlan(True, tuple(stages), float(value[flat]), float(lat[flat]), lam)

    def objective(self, load: float, picks: Sequence[tuple[int, int, int]]) -> float:
        """The objective of (variant index, batch, replicas) per stage (no feasibility check)."""
        p = self.problem
        weight = p.alpha / (len(p.stages) if p.accuracy_method == "average" else 1)
        total = 0.0
        for s, (v, b, n) in enumerate(picks):
            cores = p.stages[s].variants[v].cores
            total += weight * p.accuracy(s, v) - p.beta * cores * n - p.gamma * b
        return total

    # ------------------------------------------------------------------ helpers
    def _per_stage(self, values: Sequence | None, what: str, required: bool) -> list:
        S = len(self.problem.stages)
        if values is None:
            if required:
                raise ConfigError(f"this mode needs {what}: one value per stage ({S} stages)")
            return [None] * S
        out = list(values)
        if len(out) != S:
            raise ConfigError(f"{what} = {out} must give one value per stage ({S} stages)")
        return out

    def _current(
        self, current: Sequence[tuple[str | int, int, int]] | None
    ) -> list[tuple[int, int, int]] | None:
        if current is None:
            return None
        cur = self._per_stage(current, "current", False)
        out = []
        for s, entry in enumerate(cur):
            try:
                v, b, n = entry
            except (TypeError, ValueError):
                raise ConfigError(
                    f"current[{s}] = {entry!r} must be (variant, batch, replicas)"
                ) from None
            out.append((self.problem.stages[s].index(v), int(b), int(n)))
        return out

    def _infeasible(self, lam: float, cur: list[tuple[int, int, int]] | None, why: str) -> IpaPlan:
        stages: tuple[IpaStagePlan, ...] = ()
        if cur is not None:
            wait = [1000.0 * (b - 1) / lam if lam > 0 else 0.0 for _, b, _ in cur]
            built = []
            for s, ((v, b, n), w) in enumerate(zip(cur, wait, strict=True)):
                st = self.problem.stages[s]
                lat = (
                    st.variants[v].latency_ms[st.batches.index(b)] if b in st.batches else math.nan
                )
                built.append(
                    IpaStagePlan(st.variants[v].name, v, b, n, st.variants[v].cores, lat + w)
                )
            stages = tuple(built)
        return IpaPlan(
            False,
            stages,
            load=lam,
            reason=f"no plan carries {lam:g} req/s: {why}; IPA keeps the current configuration",
        )


def _check_load(load: float) -> float:
    try:
        lam = float(load)
    except (TypeError, ValueError):
        raise ConfigError(f"load = {load!r} must be a number >= 0 [req/s]") from None
    if not math.isfinite(lam) or lam < 0:
        raise ConfigError(f"load = {load!r} must be a finite number >= 0 [req/s]")
    return lam


def _undominated(
    value: np.ndarray, latency: np.ndarray, changes: np.ndarray, usable: np.ndarray
) -> np.ndarray:
    """Indices (increasing) of the usable options no other usable option beats or equals.

    Option j is dropped when some usable option i has value ≥, latency ≤ and changes ≤, with
    one strictly better or, all equal, i < j: swapping j for i in any plan keeps it feasible
    and never worsens its rank (value, then changes, then latency, then order).
    """
    idx = np.flatnonzero(usable)
    if len(idx) <= 1:
        return idx
    v = np.round(value[idx], 9)
    t = np.round(latency[idx], 9)
    c = changes[idx]
    weak = (v[:, None] >= v[None, :]) & (t[:, None] <= t[None, :]) & (c[:, None] <= c[None, :])
    equal = (v[:, None] == v[None, :]) & (t[:, None] == t[None, :]) & (c[:, None] == c[None, :])
    first = np.arange(len(idx))[:, None] < np.arange(len(idx))[None, :]
    beats = weak & (~equal | first)
    return idx[~beats.any(axis=0)]
