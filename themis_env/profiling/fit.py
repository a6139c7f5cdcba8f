"""Fit the Themis latency form to measured batch latencies.

l(b, c) = α·b/c + β·b + γ/c + ζ is linear in (α, β, γ, ζ), so the fit is a least-squares
problem with the coefficients held non-negative (a negative part would predict a latency that
falls as the batch grows or cores shrink). Residuals are relative: measured latencies span
orders of magnitude over batch sizes and cores, and an absolute fit would match the largest
batches and ignore the small ones a planner uses most.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from themis_env.errors import ConfigError

__all__ = ["LatencyFit", "design_matrix", "fit_latency", "nnls"]


@dataclass(frozen=True)
class LatencyFit:
    """The fitted coefficients and how well they match the measurements.

    Attributes:
        alpha: α [ms], the parallel part that grows with the batch.
        beta: β [ms], the serial part that grows with the batch.
        gamma: γ [ms], the parallel fixed part.
        zeta: ζ [ms], the serial fixed part.
        relative_errors: |fit − measured| / measured of each point, in the input order.
    """

    alpha: float
    beta: float
    gamma: float
    zeta: float
    relative_errors: tuple[float, ...]

    @property
    def params(self) -> tuple[float, float, float, float]:
        """(α, β, γ, ζ)."""
        return (self.alpha, self.beta, self.gamma, self.zeta)

    @property
    def mean_relative_error(self) -> float:
        """Mean relative error over the points."""
        return float(np.mean(self.relative_errors))

    @property
    def max_relative_error(self) -> float:
        """Largest relative error over the points."""
        return float(np.max(self.relative_errors))

    def predict_ms(self, batch: float, cores: float) -> float:
        """The fitted latency [ms] of a batch on some cores."""
        return self.alpha * batch / cores + self.beta * batch + self.gamma / cores + self.zeta


def design_matrix(batches: np.ndarray, cores: np.ndarray) -> np.ndarray:
    """Columns b/c, b, 1/c, 1: the regressors of α, β, γ, ζ."""
    b = np.asarray(batches, dtype=float)
    c = np.asarray(cores, dtype=float)
    return np.column_stack([b / c, b, 1.0 / c, np.ones_like(b)])


def nnls(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Non-negative least squares for a few unknowns, by trying every active set.

    With k unknowns the optimum is the unconstrained least-squares solution on some subset of
    them (the rest at zero); for the four of the latency form that is 16 small solves, exact,
    and needs no solver package.

    Args:
        a: Design matrix, one row per point.
        y: Targets.

    Returns:
        The coefficients, each ≥ 0, minimising ‖a·x − y‖².
    """
    n = a.shape[1]
    best = np.zeros(n)
    best_cost = float(np.sum(y**2))
    for size in range(1, n + 1):
        for subset in itertools.combinations(range(n), size):
            cols = list(subset)
            sol, *_ = np.linalg.lstsq(a[:, cols], y, rcond=None)
            if np.any(sol < 0):
                continue
            x = np.zeros(n)
            x[cols] = sol
            cost = float(np.sum((a @ x - y) ** 2))
            if cost < best_cost - 1e-12 * max(best_cost, 1.0):
                best, best_cost = x, cost
    return best


def fit_latency(
    batches: Sequence[int], cores: Sequence[int], latencies_ms: Sequence[float]
) -> LatencyFit:
    """Fit α, β, γ, ζ ≥ 0 to measured latencies, minimising squared relative error.

    Args:
        batches: Batch size of each point.
        cores: Core count of each point.
        latencies_ms: Measured latency [ms] of each point (e.g. a median over repeats).

    Returns:
        The fit and its relative error at each point.

    Raises:
        ConfigError: If the lengths differ, a value is not positive, or the points do not
            span at least two batch sizes and two core counts (with fewer, the four
            coefficients are not determined).
    """
    b = np.asarray(batches, dtype=float)
    c = np.asarray(cores, dtype=float)
    y = np.asarray(latencies_ms, dtype=float)
    if not (b.shape == c.shape == y.shape) or b.ndim != 1:
        raise ConfigError(
            f"batches, cores and latencies_ms must be 1-D and of one length, got "
            f"{b.shape}, {c.shape} and {y.shape}"
        )
    for label, values in (("batches", b), ("cores", c), ("latencies_ms", y)):
        if not np.all(np.isfinite(values) & (values > 0)):
            raise ConfigError(f"every value of {label} must be finite and > 0, got {values}")
    if len(np.unique(b)) < 2 or len(np.unique(c)) < 2:
        raise ConfigError(
            "fitting l(b, c) = alpha*b/c + beta*b + gamma/c + zeta needs at least two batch "
            f"sizes and two core counts, got batches {sorted(set(b.tolist()))} and cores "
            f"{sorted(set(c.tolist()))}"
        )
    # Dividing each row by its measurement turns the relative residual into a plain one.
    a = design_matrix(b, c)
    x = nnls(a / y[:, None], np.ones_like(y))
    errors = np.abs(a @ x - y) / y
    return LatencyFit(*(float(v) for v in x), relative_errors=tuple(float(e) for e in errors))
