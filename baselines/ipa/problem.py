"""IPA's decision problem as plain data: stages, their model variants, and the weights.

IPA (arXiv 2308.12871; code ``reconfigurable-ml-pipeline/ipa@e1f08dd``, ``optimizer/models.py``
and ``optimizer/optimizer.py``) chooses, per pipeline stage, a model variant, a batch size and a
replica count. Every variant runs at a fixed *base allocation* of cores per replica, so the
profile of a variant is a table over batch sizes: the latency of one batch and the throughput of
one replica. This module holds that data; :mod:`~themis_env.baselines.ipa.solver` solves it.

Decided details (the authors' code, unless marked as ours):

* Accuracy is normalised per stage by rank, as ``variants_accuracies_normalized`` does: the
  variants sorted by accuracy get 0, 1/(V−1), …, 1 (a single variant gets 1). Equal accuracies
  keep their input order.
* Latency is in milliseconds here (the authors use seconds); the batch-formation wait
  (b − 1)/λ is converted accordingly by the solver.
* A batch size a variant has no profile for is not an option (the authors pad it with a 1000-s
  latency and a 1e-5 req/s throughput, which no plan can use either).
* Profiles from a simulator latency model l(b, c) (:meth:`IpaVariant.from_latency_model`):
  the base allocation is the fewest cores c ≤ ``max_cores`` at which some batch b has throughput
  1000·b/l(b, c) ≥ ``threshold_rps`` (4 req/s) with l(b, c) ≤ the stage SLA; the table is then
  l(b, c_base). The authors' code also walks the variants in accuracy order keeping the
  allocations non-decreasing; ours takes each variant's own fewest cores (the rule the paper
  states).
* The stage SLA defaults to the authors' rule (``Task.sla``): the mean over variants of
  ``sla_factor`` (5) × the batch-1 latency at the largest allocation, times 5.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from themis_env.errors import ConfigError
from themis_env.sim.latency import LatencyModel

__all__ = [
    "BATCHES",
    "IpaVariant",
    "IpaStage",
    "IpaProblem",
    "fit_latency",
    "normalised_accuracies",
    "stage_sla_ms",
]

#: Batch sizes IPA's configs profile (``only_measured_profiles: true``).
BATCHES = (1, 2, 4, 8)

AccuracyMethod = Literal["sum", "average"]


def _positive_table(values: Sequence[float], what: str, name: str, n: int) -> tuple[float, ...]:
    out = tuple(float(v) for v in values)
    if len(out) != n:
        raise ConfigError(
            f"variant {name!r}: {what} must give one value per batch ({n}), got {out}"
        )
    for v in out:
        if not (math.isnan(v) or (math.isfinite(v) and v > 0)):
            raise ConfigError(
                f"variant {name!r}: {what} = {out} must be > 0 and finite (NaN: not profiled)"
            )
    return out


@dataclass(frozen=True)
class IpaVariant:
    """One model variant of a stage at its base allocation.

    Attributes:
        name: Variant name (e.g. ``resnet50``).
        accuracy: Its accuracy metric, higher is better (WER stored negated).
        cores: Base allocation: cores per replica (≥ 1).
        latency_ms: Latency of one batch [ms], one value per batch size of the stage (NaN: that
            batch was not profiled).
        throughput_rps: Throughput of one replica [req/s] per batch size (NaN as above).
    """

    name: str
    accuracy: float
    cores: int
    latency_ms: tuple[float, ...]
    throughput_rps: tuple[float, ...]

    def __post_init__(self) -> None:
        if isinstance(self.cores, bool) or int(self.cores) != self.cores or self.cores < 1:
            raise ConfigError(f"variant {self.name!r}: cores = {self.cores!r} must be an int >= 1")
        if not math.isfinite(float(self.accuracy)):
            raise ConfigError(f"variant {self.name!r}: accuracy = {self.accuracy!r} is not finite")
        n = len(self.latency_ms)
        object.__setattr__(
            self, "latency_ms", _positive_table(self.latency_ms, "latency_ms", self.name, n)
        )
        object.__setattr__(
            self,
            "throughput_rps",
            _positive_table(self.throughput_rps, "throughput_rps", self.name, n),
        )

    @classmethod
    def from_latencies(
        cls,
        name: str,
        accuracy: float,
        cores: int,
        latency_ms: Sequence[float],
        batches: Sequence[int] = BATCHES,
    ) -> IpaVariant:
        """A variant whose replica throughput is b / l(b), as IPA computes unmeasured profiles."""
        lat = [float(v) for v in latency_ms]
        if len(lat) != len(batches):
            raise ConfigError(
                f"variant {name!r}: latency_ms must give one value per batch {tuple(batches)}"
            )
        tput = [1000.0 * b / v if v > 0 else math.nan for b, v in zip(batches, lat, strict=True)]
        return cls(name, accuracy, cores, tuple(lat), tuple(tput))

    @classmethod
    def from_latency_model(
        cls,
        name: str,
        accuracy: float,
        model: LatencyModel,
        *,
        stage_sla_ms: float,
        max_cores: int,
        batches: Sequence[int] = BATCHES,
        threshold_rps: float = 4.0,
    ) -> IpaVariant:
        """Profile a simulator latency model at IPA's base allocation.

        Args:
            name: Variant name.
            accuracy: Accuracy metric (higher is better).
            model: The variant's latency model l(b, c) [ms] (``LatencyModel.service_ms``).
            stage_sla_ms: The stage SLA the base allocation must meet [ms].
            max_cores: Largest allocation profiled.
            batches: Batch sizes of the table.
            threshold_rps: Throughput one replica must reach (IPA's ``threshold``, 4 req/s).

        Raises:
            ConfigError: when no allocation up to ``max_cores`` reaches the threshold within the
                SLA (the authors' code raises too).
        """
        for c in range(1, int(max_cores) + 1):
            lat = [model.service_ms(b, c) for b in batches]
            if any(
                1000.0 * b / v >= threshold_rps and v <= stage_sla_ms
                for b, v in zip(batches, lat, strict=True)
            ):
                return cls.from_latencies(name, accuracy, c, lat, batches)
        raise ConfigError(
            f"variant {name!r}: no allocation of 1..{max_cores} cores sustains "
            f"{threshold_rps} req/s within the stage SLA {stage_sla_ms:.1f} ms; raise max_cores, "
            "the SLA or lower threshold_rps"
        )


def normalised_accuracies(accuracies: Sequence[float]) -> np.ndarray:
    """IPA's rank normalisation: 0, 1/(V−1), …, 1 in accuracy order (1 for one variant)."""
    acc = np.asarray(accuracies, dtype=np.float64)
    if len(acc) == 1:
        return np.ones(1)
    out = np.empty(len(acc))
    out[np.argsort(acc, kind="stable")] = np.arange(len(acc)) / (len(acc) - 1)
    return out


def stage_sla_ms(models: Sequence[LatencyModel], max_cores: int, sla_factor: float = 5.0) -> float:
    """IPA's stage SLA: mean over variants of sla_factor · l(1, max_cores), times 5 [ms]."""
    if not models:
        raise ConfigError("stage_sla_ms needs at least one variant")
    return 5.0 * float(np.mean([sla_factor * m.service_ms(1, max_cores) for m in models]))


def fit_latency(
    batches: Sequence[int], latency_ms: Sequence[float], at: Sequence[int] = BATCHES
) -> tuple[float, ...]:
    """IPA's latency fit: l(b) = a·b² + k·b + c by least squares, linear where that is < 0.

    As ``Model.regression_model`` does for unmeasured batch sizes: a degree-2 polynomial fitted
    to the measured (batch, latency) points; any value it gives below zero is replaced by the
    least-squares line's value.

    Args:
        batches: Measured batch sizes (at least 3 distinct for the quadratic).
        latency_ms: Measured latencies [ms].
        at: Batch sizes to evaluate.
    """
    x = np.asarray(batches, dtype=np.float64)
    y = np.asarray(latency_ms, dtype=np.float64)
    if len(x) != len(y) or len(np.unique(x)) < 3:
        raise ConfigError(
            f"fit_latency needs >= 3 distinct measured batches with one latency each, "
            f"got batches {list(batches)} and latencies {list(latency_ms)}"
        )
    xs = np.asarray(at, dtype=np.float64)
    quad = np.polyval(np.polyfit(x, y, 2), xs)
    line = np.polyval(np.polyfit(x, y, 1), xs)
    return tuple(float(v) for v in np.where(quad < 0, line, quad))


@dataclass(frozen=True)
class IpaStage:
    """One pipeline stage: its variants and batch sizes.

    Attributes:
        name: Stage name.
        variants: Its variants (at least one), each with a table over ``batches``.
        batches: Batch sizes, increasing (IPA: 1, 2, 4, 8).
    """

    name: str
    variants: tuple[IpaVariant, ...]
    batches: tuple[int, ...] = BATCHES

    def __post_init__(self) -> None:
        object.__setattr__(self, "variants", tuple(self.variants))
        object.__setattr__(self, "batches", tuple(int(b) for b in self.batches))
        if not self.variants:
            raise ConfigError(f"stage {self.name!r} has no variants")
        if list(self.batches) != sorted(set(self.batches)) or self.batches[0] < 1:
            raise ConfigError(
                f"stage {self.name!r}: batches = {self.batches} must be increasing and >= 1"
            )
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ConfigError(f"stage {self.name!r}: variant names {names} repeat")
        for v in self.variants:
            if len(v.latency_ms) != len(self.batches):
                raise ConfigError(
                    f"stage {self.name!r}, variant {v.name!r}: {len(v.latency_ms)} profile "
                    f"values for {len(self.batches)} batch sizes {self.batches}"
                )

    @classmethod
    def from_latency_models(
        cls,
        name: str,
        variants: Sequence[tuple[str, float, LatencyModel]],
        *,
        max_cores: int,
        batches: Sequence[int] = BATCHES,
        threshold_rps: float = 4.0,
        sla_factor: float = 5.0,
        stage_sla: float | None = None,
    ) -> IpaStage:
        """Profile (name, accuracy, latency model) variants at their base allocations.

        Args:
            name: Stage name.
            variants: (name, accuracy, model) per variant.
            max_cores: Largest allocation profiled (cores per replica).
            batches: Batch sizes of the tables.
            threshold_rps: IPA's base-allocation throughput threshold [req/s].
            sla_factor: IPA's ``sla_factor`` for the default stage SLA.
            stage_sla: The stage SLA [ms]; default :func:`stage_sla_ms` of the variants.
        """
        models = [m for _, _, m in variants]
        sla = stage_sla_ms(models, max_cores, sla_factor) if stage_sla is None else stage_sla
        return cls(
            name,
            tuple(
                IpaVariant.from_latency_model(
                    n,
                    a,
                    m,
                    stage_sla_ms=sla,
                    max_cores=max_cores,
                    batches=batches,
                    threshold_rps=threshold_rps,
                )
                for n, a, m in variants
            ),
            tuple(batches),
        )

    def index(self, variant: str | int) -> int:
        """Index of a variant given by name or index."""
        if isinstance(variant, (int, np.integer)) and not isinstance(variant, bool):
            if not 0 <= variant < len(self.variants):
                raise ConfigError(
                    f"stage {self.name!r}: variant index {variant} is not in "
                    f"0..{len(self.variants) - 1}"
                )
            return int(variant)
        names = [v.name for v in self.variants]
        if variant not in names:
            raise ConfigError(
                f"stage {self.name!r} has no variant {variant!r}; choose one of {names}"
            )
        return names.index(variant)


@dataclass(frozen=True)
class IpaProblem:
    """IPA's integer program for one pipeline.

    Maximise α·A − β·Σ_s cores_{s,v}·n_s − γ·Σ_s b_s, where A is the sum (or the average) of
    the stages' normalised accuracies, subject to Σ_s [l_{s,v}(b_s) + (b_s − 1)/λ] ≤ SLA,
    n_s·h_{s,v}(b_s) ≥ λ and 1 ≤ n_s ≤ ``max_replicas``.

    Attributes:
        stages: The stages, in pipeline order.
        sla_ms: End-to-end SLA [ms].
        alpha: Accuracy weight α (IPA's video configs: 2).
        beta: Cores weight β (1).
        gamma: Batch weight γ (1e-6).
        max_replicas: ``scaling_cap``, replicas per stage (100).
        accuracy_method: ``sum`` (IPA's configs) or ``average`` of the stages' accuracies.
        normalised: Use the rank-normalised accuracies (IPA's ``normalize_accuracy: true``);
            False uses the raw metric divided by 100, as ``Model`` stores it.
    """

    stages: tuple[IpaStage, ...]
    sla_ms: float
    alpha: float = 2.0
    beta: float = 1.0
    gamma: float = 1e-6
    max_replicas: int = 100
    accuracy_method: AccuracyMethod = "sum"
    normalised: bool = True
    _acc: tuple[np.ndarray, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "stages", tuple(self.stages))
        if not self.stages:
            raise ConfigError("an IPA problem needs at least one stage")
        if not math.isfinite(self.sla_ms) or self.sla_ms <= 0:
            raise ConfigError(f"sla_ms = {self.sla_ms!r} must be a finite number > 0 [ms]")
        for key in ("alpha", "beta", "gamma"):
            value = getattr(self, key)
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"{key} = {value!r} must be a finite number >= 0")
        if int(self.max_replicas) != self.max_replicas or self.max_replicas < 1:
            raise ConfigError(f"max_replicas = {self.max_replicas!r} must be an int >= 1")
        if self.accuracy_method not in ("sum", "average"):
            raise ConfigError(
                f"accuracy_method = {self.accuracy_method!r} is not allowed; choose 'sum' or "
                "'average' (IPA's solver has no 'multiply' either)"
            )
        acc = tuple(
            normalised_accuracies([v.accuracy for v in s.variants])
            if self.normalised
            else np.array([v.accuracy / 100.0 for v in s.variants])
            for s in self.stages
        )
        object.__setattr__(self, "_acc", acc)

    def accuracy(self, stage: int, variant: int) -> float:
        """The accuracy term of a variant in the objective (before α and averaging)."""
        return float(self._acc[stage][variant])
