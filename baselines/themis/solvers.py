"""Themis's dynamic-programming solvers: horizontal, vertical, and the vertical fallback.

Both solvers answer the same question for a pipeline of S stages (``horizontal_2d`` and
``vertical_2d`` in ``adapter/optimizer.py`` of ``mehransi/Themis`` at ``b01017f`` and
``8b3bfdd``): pick, per stage s, cores c_s ≤ C_max, batch b_s ≤ B_max and
replicas n_s so that the end-to-end latency Σ_s [l_s(b_s, c_s) + q(b_s, λ)] stays strictly
below the SLO, every stage carries the load (n_s · h_s(b_s, c_s) ≥ λ̂), and the cost is least.

* :func:`horizontal_dp` chooses replicas and batch (cores fixed to 1 as in the authors'
  adapter); cost Σ n_s·c_s (arXiv) or Σ n_s·(mem_s + 18·c_s) (2025, memory-equivalent).
* :func:`vertical_dp` holds the replicas at their current counts and chooses cores and batch;
  cost Σ c_s (cores of one replica per stage), with the arXiv cap Σ c_s ≤ 32.
* :func:`vertical_with_fallback` is the vertical solver as the controller calls it: when the
  current replicas cannot carry the load at any cores, it binary-searches the largest load λ'
  they can carry, keeps the vertical plan for λ' and adds ceil((λ − λ') / h_s) replicas.

The authors solve a knapsack-style DP over the integer latency budget t ∈ [0, SLO]. Its answer
is: the least cost; among plans of least cost, the least total latency; among those, the one
whose last stage has the least latency, then the stage before, and so on; among options of one
stage with equal latency and cost, the first in (cores, batch) order. This module computes that
same answer by enumerating, per stage, only the Pareto-optimal (latency, cost) options (an option
another beats on both counts is never part of that answer; for the vertical solver, whose cost
depends on the cores only, each core count's fastest batch), in small compiled kernels
(:mod:`~themis_env.baselines.themis._kernels`, numba, compiled on first use and cached on
disk). Tests check
it against outputs of the authors' ``adapter/optimizer.py`` (run unchanged), against the DP
written loop for loop, and against brute-force enumeration.

Loads are integers [req/s], as in the authors' code: λ = ceil(load) sets the batch wait q(b, λ),
and the capacity constraint uses λ̂ = λ, or round(λ + k·√λ) with the 2025 Poisson headroom
k = 1 (the 2025 optimiser's outputs pin this split: the wait uses λ, the capacity λ̂).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Literal

import numpy as np

from themis_env.errors import ConfigError
from themis_env.sim.latency import LatencyModel, ProfileRule

__all__ = [
    "ARXIV",
    "THEMIS_2025",
    "SOLVER_PRESETS",
    "P99_EXPONENTIAL",
    "SolverPreset",
    "StageProfile",
    "StagePlan",
    "Plan",
    "ThemisSolver",
    "horizontal_dp",
    "vertical_dp",
    "vertical_with_fallback",
    "planning_load",
]

#: −ln 0.01: the p99 of an exponential gap in units of its mean (2025 queueing model).
P99_EXPONENTIAL = -math.log(0.01)

QueueingModel = Literal["mean", "p99-exponential", "none"]
CostModel = Literal["cores", "memory-equivalent"]


@dataclass(frozen=True)
class SolverPreset:
    """How a Themis version models queueing, throughput, headroom and cost (``optimizer.py``).

    Attributes:
        name: Preset name.
        queueing: Batch-formation wait q(b, λ) added to a stage's latency [ms]: ``mean`` is
            int((b − 1)·1000/λ) (arXiv); ``p99-exponential`` is ceil((b − 1)·(−ln 0.01)·1000/λ)
            (2025); ``none`` is 0.
        throughput_includes_queueing: Per-replica throughput floor(1000·b/L) uses L = l + q
            (arXiv, conservative) or L = l (2025).
        headroom_std: k of the load every stage must carry, λ̂ = round(λ + k·√λ) (the wait
            uses λ); 0 plans on λ = ceil(load).
        cost: Horizontal cost per stage: ``cores`` n·c (n with 1-core replicas, arXiv) or
            ``memory-equivalent`` n·(mem_s + core_memory_gb·c) (2025).
        core_memory_gb: RAM-equivalent price of one core [GB] (18 in the 2025 code).
        vertical_core_cap: Cap on Σ_s c_s in the vertical solver (TOTAL_CORE = 32 in the arXiv
            code, commented out in 2025); None for no cap.
        horizontal_max_cores: Cores per replica the horizontal solver may choose (the adapter
            always passes 1).
        slo_fraction: Share of the SLO the plan may use (Sponge keeps a 10 % margin: 0.9).
        drain_batches: Replace a stage's service time l(b, c) by Sponge's drain time
            ceil(λ̂/(b·n))·l(b, c): the batches queued in one second served back to back on
            one of the n replicas must also meet the SLO (Sponge's ``dynainf``). Meant for the
            vertical solver (the horizontal one sees n = 1).
    """

    name: str
    queueing: QueueingModel = "mean"
    throughput_includes_queueing: bool = True
    headroom_std: float = 0.0
    cost: CostModel = "cores"
    core_memory_gb: float = 18.0
    vertical_core_cap: int | None = None
    horizontal_max_cores: int = 1
    slo_fraction: float = 1.0
    drain_batches: bool = False

    def __post_init__(self) -> None:
        allowed = ("mean", "p99-exponential", "none")
        if self.queueing not in allowed:
            raise ConfigError(
                f"queueing = {self.queueing!r} is not allowed; choose one of {list(allowed)}"
            )
        if self.cost not in ("cores", "memory-equivalent"):
            raise ConfigError(
                f"cost = {self.cost!r} is not allowed; choose 'cores' or 'memory-equivalent'"
            )
        if self.headroom_std < 0 or self.core_memory_gb < 0:
            raise ConfigError("headroom_std and core_memory_gb must be >= 0")
        if self.horizontal_max_cores < 1:
            raise ConfigError(f"horizontal_max_cores = {self.horizontal_max_cores} must be >= 1")
        if not 0 < self.slo_fraction <= 1:
            raise ConfigError(f"slo_fraction = {self.slo_fraction} must lie in (0, 1]")


#: The arXiv-v1 code (commit b01017f): mean batch wait inside throughput, no headroom, Σc ≤ 32.
ARXIV = SolverPreset(
    "themis-arxiv",
    queueing="mean",
    throughput_includes_queueing=True,
    headroom_std=0.0,
    cost="cores",
    vertical_core_cap=32,
)
#: The 2025 code (HEAD 8b3bfdd): p99-exponential wait, +√λ headroom, memory-equivalent cost.
THEMIS_2025 = SolverPreset(
    "themis-2025",
    queueing="p99-exponential",
    throughput_includes_queueing=False,
    headroom_std=1.0,
    cost="memory-equivalent",
    vertical_core_cap=None,
)
SOLVER_PRESETS = {p.name: p for p in (ARXIV, THEMIS_2025)}


@dataclass(frozen=True, eq=False)
class StageProfile:
    """One stage as the solvers see it: its planning latency table and pod memory.

    Attributes:
        latency_ms: Integer planning latency l(b, c) [ms], shape (B_max, C_max); entry
            ``[b - 1, c - 1]``. Values below 1 ms are raised to 1 ms (a zero latency would give
            an infinite throughput).
        memory_gb: Memory request of one pod [GB] (memory-equivalent cost).
        name: Stage name, for messages.
    """

    latency_ms: np.ndarray
    memory_gb: float = 1.0
    name: str = ""

    def __post_init__(self) -> None:
        table = np.asarray(self.latency_ms, dtype=np.float64)
        if table.ndim != 2 or table.size == 0:
            raise ConfigError(
                f"stage {self.name!r}: latency_ms must be a non-empty (max_batch, max_cores) "
                f"table, got shape {table.shape}"
            )
        if not np.all(np.isfinite(table)):
            raise ConfigError(f"stage {self.name!r}: latency_ms holds a non-finite value")
        if self.memory_gb < 0:
            raise ConfigError(f"stage {self.name!r}: memory_gb = {self.memory_gb} must be >= 0")
        object.__setattr__(self, "latency_ms", np.maximum(np.floor(table), 1).astype(np.int64))

    @property
    def max_batch(self) -> int:
        """B_max of the table."""
        return int(self.latency_ms.shape[0])

    @property
    def max_cores(self) -> int:
        """C_max of the table."""
        return int(self.latency_ms.shape[1])

    @classmethod
    def from_model(
        cls,
        model: LatencyModel,
        max_batch: int,
        max_cores: int,
        memory_gb: float = 1.0,
        name: str = "",
    ) -> StageProfile:
        """Tabulate a latency model the way the Themis planner evaluates it (``profile_ms``)."""
        table = [
            [model.profile_ms(b, c) for c in range(1, max_cores + 1)]
            for b in range(1, max_batch + 1)
        ]
        return cls(np.array(table, dtype=np.int64), memory_gb, name)

    @classmethod
    def from_params(
        cls,
        alpha: float,
        beta: float,
        gamma: float,
        zeta: float,
        *,
        max_batch: int,
        max_cores: int,
        rounding: Literal["floor", "themis-2025", "none"] = "floor",
        multiplier: float = 1.0,
        batch_multiplier: float = 1.0,
        memory_gb: float = 1.0,
        name: str = "",
    ) -> StageProfile:
        """Tabulate l(b, c) = α·b/c + β·b + γ/c + ζ with a preset's rounding.

        The authors' ``adapter/optimizer.py`` and ``starter.py`` (``mehransi/Themis``):
        ``floor`` is the arXiv code's int(l); ``themis-2025`` adds 10 % of l(1, 1) to ζ and
        rounds up, with the multipliers M and M_b.
        """
        rule = ProfileRule(
            rounding=rounding, multiplier=multiplier, batch_multiplier=batch_multiplier
        )
        model = LatencyModel("parametric", alpha, beta, gamma, zeta, profile=rule)
        return cls.from_model(model, max_batch, max_cores, memory_gb, name)


@dataclass(frozen=True)
class StagePlan:
    """One stage of a plan.

    Attributes:
        replicas: Replicas n_s (for the vertical solver: the current replicas plus ``extra``).
        cores: Cores per replica c_s.
        batch: Batch size b_s.
        latency_ms: Planned latency of the stage, l(b, c) + q(b, λ) [ms].
        extra: Replicas the vertical fallback adds (0 for the other plans).
    """

    replicas: int
    cores: int
    batch: int
    latency_ms: int
    extra: int = 0


@dataclass(frozen=True)
class Plan:
    """A solver's answer.

    Attributes:
        feasible: False when no configuration meets the SLO; ``stages`` is then empty unless the
            plan is a degraded best effort (see :meth:`ThemisSolver.max_out`).
        stages: One :class:`StagePlan` per stage.
        cost: The solver's objective (see the solver).
        latency_ms: Planned end-to-end latency [ms].
        load: The planning load λ̂ [req/s] (integer, headroom included).
        fallback_load: The load λ' the vertical fallback planned for, or None.
        reason: Why the plan is infeasible or degraded ("" otherwise).
    """

    feasible: bool
    stages: tuple[StagePlan, ...] = ()
    cost: float = math.inf
    latency_ms: int = 0
    load: int = 0
    fallback_load: int | None = None
    reason: str = ""

    @property
    def extra(self) -> tuple[int, ...]:
        """Extra replicas per stage (vertical fallback)."""
        return tuple(s.extra for s in self.stages)

    def targets(self) -> list[tuple[int, int, int]]:
        """(replicas, cores, batch) per stage."""
        return [(s.replicas, s.cores, s.batch) for s in self.stages]


def planning_load(load: float, headroom_std: float = 0.0) -> tuple[int, int]:
    """The integer loads the solvers plan with: (λ, λ̂).

    λ = ceil(load) sets the batch-formation wait; λ̂ = round(λ + k·√λ) (λ when k = 0) is what
    every stage's replicas must carry.
    """
    try:
        value = float(load)
    except (TypeError, ValueError):
        raise ConfigError(f"load = {load!r} must be a number >= 0 [req/s]") from None
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"load = {load!r} must be a finite number >= 0 [req/s]")
    lam = int(math.ceil(value - 1e-9))
    if headroom_std > 0:
        return lam, int(round(lam + headroom_std * math.sqrt(lam)))
    return lam, lam


_NO_LIMIT = np.iinfo(np.int64).max
_QUEUEING_CODES = {"none": 0, "mean": 1, "p99-exponential": 2}
_DRAIN_FLAG = 4  # added to the queueing code (see _kernels)
_BIG = 1 << 40  # latency [ms] of a padded (non-existent) option


def _option_table(
    profiles: Sequence[StageProfile], b_lims: Sequence[int], c_lims: Sequence[int], width_c: int
) -> np.ndarray:
    """(S, C·B) planning latencies, index c·B + b (zero-based; cores outer, batch inner).

    That is the authors' loop order, so "first option" ties break as they do; options beyond a
    stage's limits hold ``_BIG``.
    """
    width_b = max(b_lims)
    table = np.full((len(profiles), width_c * width_b), _BIG, dtype=np.int64)
    for s, p in enumerate(profiles):
        for c in range(c_lims[s]):
            table[s, c * width_b : c * width_b + b_lims[s]] = p.latency_ms[: b_lims[s], c]
    return table


def _kernels() -> ModuleType:
    # Imported on first use: numba's import and the cached kernels cost a few hundred ms.
    from themis_env.baselines.themis import _kernels as kernels

    return kernels


class ThemisSolver:
    """The two DP solvers for one pipeline, with the stage tables precomputed.

    Build it once per pipeline and call :meth:`horizontal`, :meth:`vertical` and
    :meth:`vertical_with_fallback` every decision; the module-level functions build one per
    call. The enumeration runs in compiled code (numba, compiled on first use and cached).

    Args:
        stages: One :class:`StageProfile` per stage (or ``LatencyModel`` objects, tabulated
            with ``max_batch``/``max_cores`` and ``memory_gb``).
        slo_ms: End-to-end SLO [ms]; plans keep total latency < slo_fraction · SLO.
        preset: A :class:`SolverPreset` or its name (``themis-arxiv``, ``themis-2025``).
        max_batch: B_max (one value, or one per stage); defaults to each table's size.
        max_cores: C_max for the vertical solver (one value, or one per stage); defaults to each
            table's size.
        max_replicas: Optional cap on the horizontal solver's replicas per stage (None: no cap,
            as the authors); options needing more are infeasible.
        memory_gb: Pod memory per stage, used with ``LatencyModel`` stages.

    Raises:
        ConfigError: for an unknown preset, a bad SLO or limits outside the latency tables.
    """

    def __init__(
        self,
        stages: Sequence[StageProfile | LatencyModel],
        slo_ms: float,
        preset: SolverPreset | str = ARXIV,
        *,
        max_batch: int | Sequence[int] | None = None,
        max_cores: int | Sequence[int] | None = None,
        max_replicas: int | Sequence[int | None] | None = None,
        memory_gb: Sequence[float] | None = None,
    ) -> None:
        if isinstance(preset, str):
            if preset not in SOLVER_PRESETS:
                raise ConfigError(
                    f"unknown solver preset {preset!r}; choose one of {sorted(SOLVER_PRESETS)}"
                )
            preset = SOLVER_PRESETS[preset]
        self.preset = preset
        if not stages:
            raise ConfigError("a pipeline needs at least one stage")
        n = len(stages)
        b_lim = _per_stage(max_batch, n, "max_batch")
        c_lim = _per_stage(max_cores, n, "max_cores")
        self.max_replicas = _per_stage(max_replicas, n, "max_replicas")
        profiles = []
        for s, st in enumerate(stages):
            if isinstance(st, LatencyModel):
                if b_lim[s] is None or c_lim[s] is None:
                    raise ConfigError(
                        f"stage {s}: a LatencyModel stage needs max_batch and max_cores"
                    )
                mem = 1.0 if memory_gb is None else float(memory_gb[s])
                st = StageProfile.from_model(st, int(b_lim[s]), int(c_lim[s]), mem, f"stage-{s}")
            elif not isinstance(st, StageProfile):
                raise ConfigError(
                    f"stage {s}: expected a StageProfile or LatencyModel, got {type(st).__name__}"
                )
            profiles.append(st)
        self.stages: tuple[StageProfile, ...] = tuple(profiles)
        self.n_stages = n
        if isinstance(slo_ms, bool) or not isinstance(slo_ms, (int, float, np.number)):
            raise ConfigError(f"slo_ms = {slo_ms!r} must be a number > 0 [ms]")
        if not math.isfinite(slo_ms) or slo_ms < 2:
            raise ConfigError(f"slo_ms = {slo_ms!r} must be a finite number >= 2 [ms]")
        self.slo_ms = float(slo_ms)
        # The final latency must be strictly below the (usable) SLO, in whole ms: the authors'
        # DP scans t = 0..SLO-1.
        self.budget = int(math.floor(slo_ms * preset.slo_fraction)) - 1
        for s, p in enumerate(profiles):
            for lim, size, what in (
                (b_lim[s], p.max_batch, "max_batch"),
                (c_lim[s], p.max_cores, "max_cores"),
            ):
                if lim is not None and not 1 <= lim <= size:
                    raise ConfigError(
                        f"stage {p.name or s!r}: {what} = {lim} must lie within its latency "
                        f"table (1..{size})"
                    )
        self.max_batch = tuple(
            p.max_batch if b_lim[s] is None else b_lim[s] for s, p in enumerate(profiles)
        )
        self.max_cores = tuple(
            p.max_cores if c_lim[s] is None else c_lim[s] for s, p in enumerate(profiles)
        )
        self._B = max(self.max_batch)
        self._C = max(self.max_cores)
        h_cores = [min(preset.horizontal_max_cores, c) for c in self.max_cores]
        self._vlat = _option_table(profiles, self.max_batch, self.max_cores, self._C)
        self._hlat = _option_table(profiles, self.max_batch, h_cores, max(h_cores))
        self._qcode = _QUEUEING_CODES[preset.queueing] + (
            _DRAIN_FLAG if preset.drain_batches else 0
        )
        self._incl_q = bool(preset.throughput_includes_queueing)
        self._headroom = float(preset.headroom_std)
        cap = preset.vertical_core_cap
        self._core_cap = math.inf if cap is None else float(cap)
        self._cap_binds = cap is not None and sum(self.max_cores) > cap
        self._mem = np.array([float(p.memory_gb) for p in profiles])
        self._reps_limit = np.array([_NO_LIMIT if r is None else r for r in self.max_replicas])
        self._memory_cost = preset.cost == "memory-equivalent"
        self._k = _kernels()
        self._reps_cache: tuple[tuple[int, ...], np.ndarray] | None = None

    # ------------------------------------------------------------------ loads
    def loads(self, load: float) -> tuple[int, int]:
        """(λ, λ̂) for a load under this preset (see :func:`planning_load`)."""
        return planning_load(load, self.preset.headroom_std)

    def _capacity(self, lam: int) -> int:
        k = self.preset.headroom_std
        return int(round(lam + k * math.sqrt(lam))) if k > 0 else lam

    def _replicas(self, replicas: Sequence[int]) -> np.ndarray:
        reps = tuple(int(r) for r in replicas)
        cached = self._reps_cache
        if cached is not None and cached[0] == reps:
            return cached[1]
        if len(reps) != self.n_stages or any(r < 1 for r in reps):
            raise ConfigError(
                f"replicas = {list(replicas)} must give one count >= 1 for each of the "
                f"{self.n_stages} stages"
            )
        arr = np.array(reps, dtype=np.int64)
        self._reps_cache = (reps, arr)
        return arr

    def _check_pick(self, pick: np.ndarray) -> bool:
        if pick[0] == -2:
            raise ConfigError(
                f"the {self.n_stages}-stage pipeline has too many Pareto options to enumerate; "
                "reduce the stages or the batch/core limits"
            )
        return bool(pick[0] >= 0)

    # ------------------------------------------------------------------ horizontal
    def horizontal(self, load: float) -> Plan:
        """Horizontal DP: least-cost replicas and batch at ``horizontal_max_cores`` (1) core.

        Args:
            load: Arrival rate λ [req/s].

        Returns:
            The plan (replicas, cores, batch per stage), or an infeasible plan with a reason.
        """
        return self._horizontal_at(*self.loads(load))

    def _horizontal_at(self, lam: int, cap: int) -> Plan:
        if lam == 0:
            # The authors' convention for no load: one replica, batch 1.
            return Plan(True, tuple(StagePlan(1, 1, 1, 0) for _ in self.stages), 0.0, 0, 0)
        pick, reps, lat, cost = self._k.horizontal(
            self._hlat,
            self._B,
            self._reps_limit,
            self._mem,
            lam,
            cap,
            self._qcode,
            self._incl_q,
            self._memory_cost,
            float(self.preset.core_memory_gb),
            self.budget,
        )
        if not self._check_pick(pick):
            return Plan(
                False,
                load=cap,
                reason=f"no horizontal configuration carries {cap} req/s within the SLO",
            )
        B = self._B
        stages = tuple(
            StagePlan(int(reps[s]), int(k) // B + 1, int(k) % B + 1, int(lat[s]))
            for s, k in enumerate(pick.tolist())
        )
        return Plan(True, stages, float(cost.sum()), int(lat.sum()), cap)

    # ------------------------------------------------------------------ vertical
    def vertical(self, load: float, replicas: Sequence[int]) -> Plan:
        """Vertical DP without fallback: least Σ c_s at the current replicas, or infeasible.

        Args:
            load: Arrival rate λ [req/s].
            replicas: Current replicas per stage (held fixed).
        """
        return self._vertical_at(*self.loads(load), self._replicas(replicas))

    def _vertical_at(self, lam: int, cap: int, reps: np.ndarray) -> Plan:
        if lam == 0:
            stages = tuple(StagePlan(int(n), 1, 1, 0) for n in reps)
            return Plan(True, stages, float(len(reps)), 0, 0)
        pick, batch, lat = self._k.vertical(
            self._vlat,
            self._B,
            self._C,
            reps,
            lam,
            cap,
            self._qcode,
            self._incl_q,
            self.budget,
            self._core_cap,
        )
        if not self._check_pick(pick):
            return Plan(
                False,
                load=cap,
                reason=(
                    f"the current replicas {reps.tolist()} cannot carry {cap} req/s within the SLO"
                ),
            )
        stages = tuple(
            StagePlan(n, c + 1, b + 1, t)
            for n, c, b, t in zip(
                reps.tolist(), pick.tolist(), batch.tolist(), lat.tolist(), strict=True
            )
        )
        return Plan(True, stages, float(pick.sum() + len(stages)), int(lat.sum()), cap)

    def vertical_with_fallback(self, load: float, replicas: Sequence[int]) -> Plan:
        """Vertical DP; if infeasible, the largest load λ' it can carry plus extra replicas.

        The fallback binary-searches λ' in [1, λ) exactly as the authors' code does (it
        assumes feasibility is monotone in the load), plans vertically for λ', and adds
        ceil((λ − λ') / h_s) replicas per stage at the new cores, where h_s is the throughput of
        the λ' configuration (arXiv: with the wait q(b, λ − λ') included).

        Args:
            load: Arrival rate λ [req/s].
            replicas: Current replicas per stage.

        Returns:
            The plan (``extra`` replicas per stage, ``fallback_load`` λ'), or an infeasible
            plan when even 1 req/s does not fit the SLO at any cores.
        """
        lam, cap = self.loads(load)
        reps = self._replicas(replicas)
        plan = self._vertical_at(lam, cap, reps)
        if plan.feasible:
            return plan
        left = int(
            self._k.fallback_load(
                self._vlat,
                self._B,
                self._C,
                reps,
                lam,
                self._qcode,
                self._incl_q,
                self._headroom,
                self.budget,
                self._core_cap,
                self._cap_binds,
            )
        )
        base = self._vertical_at(left, self._capacity(left), reps)
        if not base.feasible:
            return Plan(
                False,
                load=cap,
                reason=(
                    f"even 1 req/s does not fit the SLO with the current replicas "
                    f"{reps.tolist()} at any cores"
                ),
            )
        rest = lam - left
        stages = []
        for s, st in enumerate(base.stages):
            lat = int(self._vlat[s, (st.cores - 1) * self._B + st.batch - 1])
            if self._incl_q and self.preset.queueing == "mean":
                lat += (st.batch - 1) * 1000 // rest
            extra = -(-rest // max(1, (1000 * st.batch) // lat))
            stages.append(StagePlan(st.replicas + extra, st.cores, st.batch, st.latency_ms, extra))
        return Plan(True, tuple(stages), base.cost, base.latency_ms, cap, fallback_load=left)

    # ------------------------------------------------------------------ degraded plans
    def max_out(
        self,
        load: float,
        min_replicas: Sequence[int] | None = None,
        max_cores: int | None = None,
    ) -> Plan:
        """Best effort when nothing meets the SLO: each stage at its fastest option.

        Per stage the option of least latency l(b, c) + q(b, λ) (ties: fewest cores, then
        smallest batch; at most ``max_cores`` cores) and enough replicas to carry the planning
        load (at least ``min_replicas``, at most ``max_replicas``). The plan is marked
        infeasible, with a reason.
        """
        lam, cap = self.loads(load)
        lam, cap = max(lam, 1), max(cap, 1)
        stages = []
        for s, p in enumerate(self.stages):
            best: tuple[int, int, int, int] | None = None
            top = (
                self.max_cores[s]
                if max_cores is None
                else max(1, min(max_cores, self.max_cores[s]))
            )
            for c in range(1, top + 1):
                for b in range(1, self.max_batch[s] + 1):
                    lat = int(p.latency_ms[b - 1, c - 1])
                    total = lat + _wait_ms(self.preset.queueing, b, lam)
                    h = (1000 * b) // (total if self._incl_q else lat)
                    if h > 0 and (best is None or total < best[0]):
                        best = (total, c, b, h)
            if best is None:  # every option slower than 1 req/s: take the fastest anyway
                lat, c = min((int(p.latency_ms[0, c - 1]), c) for c in range(1, top + 1))
                best = (lat, c, 1, 1)
            total, c, b, h = best
            n = -(-cap // h)
            if min_replicas is not None:
                n = max(n, int(min_replicas[s]))
            if self.max_replicas[s] is not None:
                n = min(n, int(self.max_replicas[s]))
            stages.append(StagePlan(int(n), c, b, total))
        return Plan(
            False,
            tuple(stages),
            math.inf,
            sum(p.latency_ms for p in stages),
            cap,
            reason="no configuration meets the SLO; every stage at its fastest option",
        )


def _wait_ms(queueing: str, b: int, lam: int) -> int:
    """Batch-formation wait q(b, λ) [ms] of one option."""
    if queueing == "mean":
        return ((b - 1) * 1000) // lam
    if queueing == "p99-exponential":
        return int(math.ceil((b - 1) * P99_EXPONENTIAL * 1000.0 / lam))
    return 0


def _per_stage(value: int | Sequence[int] | None, n: int, what: str) -> list[int | None]:
    if value is None or isinstance(value, (int, np.integer)):
        return [None if value is None else int(value)] * n
    values = list(value)
    if len(values) != n:
        raise ConfigError(f"{what} = {values} must give one value per stage ({n} stages)")
    return [None if v is None else int(v) for v in values]


def horizontal_dp(
    stages: Sequence[StageProfile | LatencyModel],
    slo_ms: float,
    load: float,
    preset: SolverPreset | str = ARXIV,
    *,
    max_batch: int | Sequence[int] | None = None,
    max_replicas: int | Sequence[int] | None = None,
) -> Plan:
    """Themis's horizontal DP (``horizontal_2d``) for one load.

    Args:
        stages: Stage profiles (latency tables) or latency models (then give ``max_batch``).
        slo_ms: End-to-end SLO [ms].
        load: Arrival rate λ [req/s].
        preset: Solver preset or its name.
        max_batch: B_max per stage; defaults to each table's size.
        max_replicas: Optional replica cap per stage.

    Returns:
        The least-cost plan, or a plan with ``feasible=False`` and a reason.
    """
    solver = ThemisSolver(
        stages,
        slo_ms,
        preset,
        max_batch=max_batch,
        max_cores=_cores_for(stages, preset),
        max_replicas=max_replicas,
    )
    return solver.horizontal(load)


def vertical_dp(
    stages: Sequence[StageProfile | LatencyModel],
    slo_ms: float,
    load: float,
    replicas: Sequence[int],
    preset: SolverPreset | str = ARXIV,
    *,
    max_batch: int | Sequence[int] | None = None,
    max_cores: int | Sequence[int] | None = None,
) -> Plan:
    """Themis's vertical DP (``vertical_2d``) at the current replicas, without fallback."""
    solver = ThemisSolver(stages, slo_ms, preset, max_batch=max_batch, max_cores=max_cores)
    return solver.vertical(load, replicas)


def vertical_with_fallback(
    stages: Sequence[StageProfile | LatencyModel],
    slo_ms: float,
    load: float,
    replicas: Sequence[int],
    preset: SolverPreset | str = ARXIV,
    *,
    max_batch: int | Sequence[int] | None = None,
    max_cores: int | Sequence[int] | None = None,
) -> Plan:
    """Themis's vertical DP with its fallback (extra replicas when the cores run out)."""
    solver = ThemisSolver(stages, slo_ms, preset, max_batch=max_batch, max_cores=max_cores)
    return solver.vertical_with_fallback(load, replicas)


def _cores_for(
    stages: Sequence[StageProfile | LatencyModel], preset: SolverPreset | str
) -> int | None:
    # LatencyModel stages need a core limit to be tabulated; the horizontal solver uses few.
    if any(isinstance(s, LatencyModel) for s in stages):
        p = SOLVER_PRESETS[preset] if isinstance(preset, str) else preset
        return p.horizontal_max_cores
    return None
