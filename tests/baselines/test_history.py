"""RateHistory: a policy's own record of the observed arrival rate."""

from __future__ import annotations

import numpy as np
from themis_env.baselines.history import RateHistory


def window(values: list[float], length: int = 5) -> np.ndarray:
    """The env's arrival_rate window: the last ``length`` seconds, zeros before the first."""
    padded = [0.0] * length + values
    return np.asarray(padded[-length:])


def test_it_keeps_only_seconds_that_passed_up_to_its_length() -> None:
    h = RateHistory(length_s=4, interval_s=2.0)
    h.observe(window([]))  # reset: nothing arrived yet
    assert h.rates.size == 0
    h.observe(window([1, 2]))
    assert h.rates.tolist() == [1, 2]
    h.observe(window([1, 2, 3, 4]))
    h.observe(window([1, 2, 3, 4, 5, 6]))
    assert h.rates.tolist() == [3, 4, 5, 6]  # the last 4 s
    h.reset()
    assert h.rates.size == 0


def test_fractional_intervals_add_whole_seconds_only() -> None:
    h = RateHistory(length_s=10, interval_s=0.5)
    seen = []
    for step in range(5):
        seconds = [float(s + 1) for s in range(int(step * 0.5))]
        h.observe(window(seconds))
        seen.append(h.rates.tolist())
    assert seen == [[], [], [1.0], [1.0], [1.0, 2.0]]


def test_a_step_longer_than_the_window_adds_what_the_window_holds() -> None:
    h = RateHistory(length_s=100, interval_s=30.0)
    h.observe(window([]))
    h.observe(window([float(s) for s in range(30)], length=10))
    assert h.rates.tolist() == [float(s) for s in range(20, 30)]
