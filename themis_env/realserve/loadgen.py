"""The open-loop load generator: a trace window as arrival times, Poisson within each second.

As the simulator draws them (:meth:`themis_env.sim.simulator.Simulator.reset`): a Poisson
count per second with the trace's rate as mean, at uniform times inside the second; given the
count, uniform times are what a Poisson process inside the second gives. Open loop: the times
are fixed before the run and never wait for a response, so a slow server meets the load it
would meet in production instead of slowing its own clients down.
"""

from __future__ import annotations

import numpy as np

__all__ = ["poisson_arrivals"]


def poisson_arrivals(rates: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Arrival times [s from the window start], sorted, for per-second ``rates`` [req/s].

    Raises:
        ValueError: If ``rates`` is not 1-D, finite and non-negative.
    """
    rates = np.asarray(rates, dtype=np.float64)
    if rates.ndim != 1 or not np.all(np.isfinite(rates)) or np.any(rates < 0):
        raise ValueError(f"rates must be a 1-D array of finite req/s >= 0, got {rates!r}")
    counts = rng.poisson(rates)
    seconds = np.repeat(np.arange(len(rates), dtype=np.float64), counts)
    return np.sort(seconds + rng.random(len(seconds)))
