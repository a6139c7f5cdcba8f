"""A policy's own record of the observed arrival rate, longer than the env's window.

The env observes the last ``history_s`` seconds of per-second arrivals (``arrival_rate``); IPA
needs 120 s and InfAdapter 600 s. :class:`RateHistory` appends, at each step, the seconds that
passed since the previous one (only seconds really elapsed: the env's window starts as zeros at
reset), so the policy reads as much history as the episode has had, up to its own length.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["RateHistory"]


class RateHistory:
    """The last ``length_s`` seconds of observed arrival rates, oldest first.

    Args:
        length_s: Seconds kept.
        interval_s: The env's decision interval [s] (seconds added per step).
    """

    def __init__(self, length_s: int, interval_s: float) -> None:
        self.length_s = int(length_s)
        self.interval_s = float(interval_s)
        self.reset()

    def reset(self) -> None:
        """Forget the episode."""
        self._rates = np.zeros(0)
        self._steps = 0

    @property
    def rates(self) -> np.ndarray:
        """The seconds recorded so far [req/s], oldest first (empty before the first second)."""
        return self._rates

    def observe(self, arrival_rate: np.ndarray) -> None:
        """Record one step's observation (the env's ``arrival_rate`` window, oldest first)."""
        window = np.asarray(arrival_rate, dtype=np.float64)
        if self._steps == 0:
            new = 0  # the reset observation: nothing has arrived yet
        else:
            elapsed = self._steps * self.interval_s
            previous = (self._steps - 1) * self.interval_s
            new = int(math.floor(elapsed + 1e-9)) - int(math.floor(previous + 1e-9))
        new = min(new, len(window))
        if new > 0:
            self._rates = np.concatenate([self._rates, window[len(window) - new :]])[
                -self.length_s :
            ]
        self._steps += 1
