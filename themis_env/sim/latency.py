"""Latency models: the time one replica takes to serve one batch.

Two forms, both in milliseconds:

* ``parametric``: the Themis/Sponge Amdahl form l(b, c) = α·b/c + β·b + γ/c + ζ for a batch of b
  requests on c cores (``mehransi/Themis`` ``profiling/train_regression.py``; Sponge's eq. 2,
  ``saeid93/sponge@aa00b56c:optimizer/optimizer.py``). The parallel part (α·b + γ) shrinks with
  cores, the serial part (β·b + ζ) does not, hence diminishing returns.
* ``grid``: a measured table over some cores × batches, interpolated linearly in 1/c and in b
  (the Amdahl form is linear in both, so the interpolation is exact for it).

``service_ms`` is the simulator's truth. ``profile_ms`` is what a planner that profiled the
model believes, with the rounding and safety margin of the Themis code: the arXiv code
truncates to an integer; the 2025 code adds 10 % of l(1, 1) to ζ, applies multipliers, and
rounds up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = ["LatencyModel", "ProfileRule"]


@dataclass(frozen=True)
class ProfileRule:
    """How a profiling planner evaluates the latency model (Themis presets).

    Attributes:
        rounding: ``none`` keeps the float; ``floor`` is the arXiv code's int(l);
            ``themis-2025`` is ceil(M·(α·b/c + M_b·β·b + γ/c + ceil(ζ'))) with
            ζ' = ζ + (α+β+γ+ζ)/10.
        multiplier: M of the 2025 code (1.1 for the audio-sentiment pipeline, else 1).
        batch_multiplier: M_b of the 2025 code.
    """

    rounding: Literal["none", "floor", "themis-2025"] = "none"
    multiplier: float = 1.0
    batch_multiplier: float = 1.0


@dataclass(frozen=True)
class LatencyModel:
    """Batch service time of one replica as a function of batch size and cores.

    Attributes:
        kind: ``parametric`` or ``grid``.
        alpha: α of the parametric form [ms].
        beta: β [ms].
        gamma: γ [ms].
        zeta: ζ [ms].
        cores: Grid columns (increasing core counts).
        batches: Grid rows (increasing batch sizes).
        table_ms: Grid values [ms], ``table_ms[i][j]`` for ``batches[i]`` and ``cores[j]``.
        profile: How a planner rounds the model (see :class:`ProfileRule`).
    """

    kind: Literal["parametric", "grid"] = "parametric"
    alpha: float = 0.0
    beta: float = 0.0
    gamma: float = 0.0
    zeta: float = 0.0
    cores: tuple[int, ...] = ()
    batches: tuple[int, ...] = ()
    table_ms: tuple[tuple[float, ...], ...] = ()
    profile: ProfileRule = ProfileRule()

    def __post_init__(self) -> None:
        if self.kind == "grid":
            if len(self.cores) < 1 or len(self.batches) < 1:
                raise ValueError("a grid latency model needs non-empty 'cores' and 'batches'")
            if list(self.cores) != sorted(set(self.cores)) or list(self.batches) != sorted(
                set(self.batches)
            ):
                raise ValueError("grid 'cores' and 'batches' must be strictly increasing")
            if len(self.table_ms) != len(self.batches) or any(
                len(r) != len(self.cores) for r in self.table_ms
            ):
                raise ValueError(
                    f"grid 'table_ms' must have {len(self.batches)} rows (batches) of "
                    f"{len(self.cores)} values (cores)"
                )
            if any(v <= 0 for r in self.table_ms for v in r):
                raise ValueError("grid 'table_ms' values must be > 0 ms")

    @property
    def params(self) -> tuple[float, float, float, float]:
        """(α, β, γ, ζ) of a parametric model."""
        return (self.alpha, self.beta, self.gamma, self.zeta)

    def service_ms(self, batch: float, cores: float) -> float:
        """True service time [ms] of a batch of ``batch`` requests on ``cores`` cores."""
        if self.kind == "parametric":
            return self.alpha * batch / cores + self.beta * batch + self.gamma / cores + self.zeta
        return self._grid(batch, cores)

    def _grid(self, batch: float, cores: float) -> float:
        # Interpolate in 1/c (Amdahl) and in b; clamp outside the measured range.
        inv = 1.0 / np.asarray(self.cores, dtype=float)
        table = np.asarray(self.table_ms, dtype=float)
        x = min(max(1.0 / cores, inv[-1]), inv[0])
        per_batch = np.array([np.interp(x, inv[::-1], row[::-1]) for row in table])
        b = min(max(batch, self.batches[0]), self.batches[-1])
        if batch > self.batches[-1] and len(self.batches) > 1:
            # Extrapolate linearly in b beyond the table: batches cost about linearly.
            slope = (per_batch[-1] - per_batch[-2]) / (self.batches[-1] - self.batches[-2])
            return float(per_batch[-1] + slope * (batch - self.batches[-1]))
        return float(np.interp(b, np.asarray(self.batches, dtype=float), per_batch))

    def profile_ms(self, batch: int, cores: int) -> int:
        """Latency [ms] as the Themis planner computes it (integer, preset rounding)."""
        rule = self.profile
        if rule.rounding == "themis-2025" and self.kind == "parametric":
            a, b_, g, z = self.params
            z_margin = math.ceil(z + (a + b_ + g + z) / 10.0)
            raw = a * batch / cores + rule.batch_multiplier * b_ * batch + g / cores + z_margin
            return int(math.ceil(rule.multiplier * raw))
        value = self.service_ms(batch, cores) * (
            rule.multiplier if rule.rounding != "none" else 1.0
        )
        if rule.rounding == "floor":
            return int(value)
        return int(math.ceil(value)) if rule.rounding == "themis-2025" else int(round(value))

    def service_table(self, max_batch: int, max_cores: int) -> np.ndarray:
        """Service times t[b, c] [ms] for b ≤ max_batch, c ≤ max_cores (index 0 unused)."""
        table = np.full((max_batch + 1, max_cores + 1), np.nan)
        for b in range(1, max_batch + 1):
            for c in range(1, max_cores + 1):
                table[b, c] = self.service_ms(b, c)
        return table

    def throughput_rps(self, batch: int, cores: int) -> float:
        """Requests per second one replica sustains when always busy."""
        return 1000.0 * batch / self.service_ms(batch, cores)
