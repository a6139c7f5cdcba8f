"""Turn a scenario's trace spec into the per-second arrival rates of one episode.

The real traces are large and absent from many machines: a named trace that is not found
falls back to the scenario's ``fallback_uri`` (a calibrated synthetic trace) when it has one,
and the result says so (``fallback=True``) so every output can report it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from themis_env.config.schema import TraceSpec
from themis_env.errors import TraceError, TraceNotFound

__all__ = ["Workload", "episode_rates", "load_trace_cached"]


@dataclass(frozen=True)
class Workload:
    """The rates of one episode and where they came from.

    Attributes:
        rates: Arrival rate per second [req/s] (read-only: episodes on one window share it).
        uri: The trace actually used.
        start_s: First second of the window in that trace.
        fallback: True when the scenario's trace was absent and its fallback was used.
    """

    rates: np.ndarray
    uri: str
    start_s: int
    fallback: bool


@lru_cache(maxsize=8)
def load_trace_cached(uri: str, trace_dir: str | None = None):  # noqa: ANN201 (Trace, imported lazily)
    """Load a trace once per process (episodes of one env share it; it is never mutated)."""
    from themis_env import traces

    return traces.load(uri, trace_dir=trace_dir)


@lru_cache(maxsize=8)
def _resolve(uri: str, fallback_uri: str | None, trace_dir: str | None):  # noqa: ANN202
    """The trace to use, its URI and whether it is the fallback (cached: warns once)."""
    try:
        return load_trace_cached(uri, trace_dir), uri, False
    except TraceNotFound:
        if fallback_uri is None:
            raise
    warnings.warn(
        f"trace {uri!r} is not available here; using the scenario's calibrated fallback "
        f"{fallback_uri!r} (results are marked trace_fallback)",
        stacklevel=2,
    )
    return load_trace_cached(fallback_uri, trace_dir), fallback_uri, True


def episode_rates(
    spec: TraceSpec,
    *,
    duration_s: int | None,
    rng: np.random.Generator | None = None,
    start_s: int | None = None,
    random_window: bool = False,
    trace_dir: str | None = None,
) -> Workload:
    """Rates for one episode.

    Args:
        spec: The scenario's trace spec.
        duration_s: Episode length [s]; None uses the spec's window length (or the rest).
        rng: Generator for a random window (the env's ``np_random``).
        start_s: Overrides the window start.
        random_window: Pick the window start uniformly in the spec's ``sample_range``
            (or the whole trace) with ``rng``.
        trace_dir: Extra folder to look for named traces in.
    """
    trace, uri, fallback = _resolve(spec.uri, spec.fallback_uri, trace_dir)
    length = duration_s if duration_s is not None else spec.duration_s
    first = spec.start_s if not fallback else 0
    if start_s is not None:
        first = start_s
    if random_window:
        if length is None:
            raise TraceError(
                "a random window needs an episode length (episode_s or trace.duration_s)"
            )
        if rng is None:
            raise ValueError("a random window needs a generator")
        lo, hi = spec.sample_range if (spec.sample_range and not fallback) else (0, len(trace.rps))
        hi = min(hi, len(trace.rps)) - length
        if hi < lo:
            raise TraceError(
                f"trace {uri!r}: a window of {length} s does not fit in [{lo}, {hi + length}) s"
            )
        first = int(rng.integers(lo, hi + 1))
    rates = _window_rates(uri, trace_dir, first, length, spec.divisor)
    return Workload(rates=rates, uri=uri, start_s=first, fallback=fallback)


@lru_cache(maxsize=64)
def _window_rates(
    uri: str, trace_dir: str | None, first: int, length: int | None, divisor: float | None
) -> np.ndarray:
    """The rates of one window of a (cached) trace, scaled, read-only.

    Cached: an env on a fixed window cuts it once rather than at every reset (the window and
    the scaling each build and check a trace). Read-only, so no episode can change another's.
    """
    window = load_trace_cached(uri, trace_dir).window(first, length)
    if divisor is not None:
        window = window.scale_divisor(divisor)
    rates = np.array(window.rps, dtype=np.float64)
    rates.flags.writeable = False
    return rates
