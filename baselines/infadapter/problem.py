"""InfAdapter's decision problem as plain data: model variants, capacity lines, weights.

InfAdapter (arXiv 2304.10892; code ``reconfigurable-ml-pipeline/InfAdapter@398b18f``,
``auto_tuner/adapter/reconfig.py`` and ``main.py``) serves one task with a *set* of variants at
once (ResNet 18 … 152), each with n_v cores, and splits the load across them. A variant's
capacity is a straight line fitted to profiled (cores, max req/s within the SLA) points
(``train_capacity_models.py``), planned at ``capacity_coef`` (0.8) of the line.
:mod:`~themis_env.baselines.infadapter.solver` solves the problem exactly.

Decided details:

* Integer throughputs: the program asks for integer tp_v ≤ 0.8·(a_v·n_v + b_v) with
  Σ_v tp_v ≥ λ. For an integer tp that bound is the same as tp_v ≤ floor(0.8·(a_v·n_v + b_v)),
  so :meth:`InfVariant.capacity` floors (clipped at 0; 0 cores give 0), and the load check is
  exact, not an approximation; a fractional λ needs Σ tp ≥ ceil(λ).
* Profiles from a simulator latency model l(b, c) (:meth:`InfVariant.from_latency_model`): the
  capacity of c cores is taken as one replica's saturation rate at batch 1, 1000 / l(1, c), at the
  core counts where l(1, c) meets the SLO; the line is fitted to those points (InfAdapter measures
  the highest rate with p99 within the SLO on TF-Serving, where one replica with c cores serves
  about c requests at once; a simulator replica serves one batch at a time).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from themis_env.errors import ConfigError
from themis_env.sim.latency import LatencyModel

__all__ = ["InfVariant", "InfProblem", "fit_capacity_line"]


def fit_capacity_line(cores: Sequence[float], capacity_rps: Sequence[float]) -> tuple[float, float]:
    """Least-squares line capacity = a·cores + b through profiled points: (a, b)."""
    x = np.asarray(cores, dtype=np.float64)
    y = np.asarray(capacity_rps, dtype=np.float64)
    if len(x) != len(y) or len(np.unique(x)) < 2:
        raise ConfigError(
            f"a capacity line needs >= 2 distinct core counts with one capacity each, got "
            f"cores {list(cores)} and capacities {list(capacity_rps)}"
        )
    a, b = np.polyfit(x, y, 1)
    return float(a), float(b)


@dataclass(frozen=True)
class InfVariant:
    """One model variant.

    Attributes:
        name: Variant name (e.g. ``resnet50``).
        accuracy: Accuracy in [0, 1] (ImageNet top-1 for the ResNets).
        slope: a of the capacity line [req/s per core].
        intercept: b of the capacity line [req/s].
        load_time_s: Time to load the variant (its cold start) [s].
    """

    name: str
    accuracy: float
    slope: float
    intercept: float
    load_time_s: float

    def __post_init__(self) -> None:
        for key in ("accuracy", "slope", "intercept", "load_time_s"):
            if not math.isfinite(float(getattr(self, key))):
                raise ConfigError(f"variant {self.name!r}: {key} = {getattr(self, key)!r}")
        if self.load_time_s < 0:
            raise ConfigError(f"variant {self.name!r}: load_time_s = {self.load_time_s} < 0")

    def capacity(self, cores: int, coef: float = 0.8) -> int:
        """Integer planning capacity floor(coef·(a·n + b)) [req/s], 0 at 0 cores or below 0."""
        if cores <= 0:
            return 0
        # The small slack keeps values like 0.8·(…) = 40.0 − 1e-14 from flooring to 39.
        return max(0, math.floor(coef * (self.slope * cores + self.intercept) + 1e-9))

    @classmethod
    def from_capacity_points(
        cls,
        name: str,
        accuracy: float,
        cores: Sequence[float],
        capacity_rps: Sequence[float],
        load_time_s: float,
    ) -> InfVariant:
        """Fit the capacity line to profiled points, as ``train_capacity_models.py`` does."""
        a, b = fit_capacity_line(cores, capacity_rps)
        return cls(name, accuracy, a, b, load_time_s)

    @classmethod
    def from_latency_model(
        cls,
        name: str,
        accuracy: float,
        model: LatencyModel,
        *,
        slo_ms: float,
        load_time_s: float,
        max_cores: int,
    ) -> InfVariant:
        """Capacity line of a simulator latency model: 1000 / l(1, c) where l(1, c) ≤ SLO.

        Raises:
            ConfigError: when fewer than two core counts up to ``max_cores`` meet the SLO.
        """
        pts = [
            (c, 1000.0 / model.service_ms(1, c))
            for c in range(1, int(max_cores) + 1)
            if model.service_ms(1, c) <= slo_ms
        ]
        if len(pts) < 2:
            raise ConfigError(
                f"variant {name!r}: fewer than two core counts in 1..{max_cores} serve one "
                f"request within the {slo_ms} ms SLO; raise max_cores or the SLO"
            )
        c, cap = zip(*pts, strict=True)
        return cls.from_capacity_points(name, accuracy, c, cap, load_time_s)


@dataclass(frozen=True)
class InfProblem:
    """InfAdapter's integer program.

    Maximise Σ_v (ℓ_v/λ)·acc_v − α·Σ_v n_v / MAX_CPU − β·LC / max_v load_time_v subject to
    Σ_v n_v ≤ MAX_CPU, n_v = 0 or n_v ≥ ``min_cores``, integer tp_v ≤ coef·(a_v·n_v + b_v),
    Σ_v tp_v ≥ λ; ℓ_v fills the load from the most accurate variant down; LC is the largest load
    time among the variants whose cores change from the current allocation.

    Attributes:
        variants: The variants (at least one).
        max_cpu: MAX_CPU, total cores (20).
        alpha: Cores weight α (0.05).
        beta: Load-cost weight β (0.001).
        min_cores: Least cores of a variant that runs (2).
        capacity_coef: Share of the fitted line planned with (``CAPACITY_COEF`` 0.8).
    """

    variants: tuple[InfVariant, ...]
    max_cpu: int = 20
    alpha: float = 0.05
    beta: float = 0.001
    min_cores: int = 2
    capacity_coef: float = 0.8

    def __post_init__(self) -> None:
        object.__setattr__(self, "variants", tuple(self.variants))
        if not self.variants:
            raise ConfigError("an InfAdapter problem needs at least one variant")
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ConfigError(f"variant names {names} repeat")
        for key in ("max_cpu", "min_cores"):
            value = getattr(self, key)
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ConfigError(f"{key} = {value!r} must be an int >= 1")
        if self.min_cores > self.max_cpu:
            raise ConfigError(f"min_cores = {self.min_cores} exceeds max_cpu = {self.max_cpu}")
        for key in ("alpha", "beta"):
            value = getattr(self, key)
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"{key} = {value!r} must be a finite number >= 0")
        if not 0 < self.capacity_coef <= 1:
            raise ConfigError(f"capacity_coef = {self.capacity_coef} must lie in (0, 1]")

    def capacities(self) -> np.ndarray:
        """Planning capacity [req/s] table, shape (V, max_cpu + 1), entry [v, n]."""
        return np.array(
            [
                [v.capacity(n, self.capacity_coef) for n in range(self.max_cpu + 1)]
                for v in self.variants
            ],
            dtype=np.int64,
        )

    def index(self, variant: str | int) -> int:
        """Index of a variant given by name or index."""
        names = [v.name for v in self.variants]
        if isinstance(variant, (int, np.integer)) and not isinstance(variant, bool):
            if not 0 <= variant < len(names):
                raise ConfigError(f"variant index {variant} is not in 0..{len(names) - 1}")
            return int(variant)
        if variant not in names:
            raise ConfigError(f"no variant {variant!r}; choose one of {names}")
        return names.index(variant)
