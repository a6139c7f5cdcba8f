"""Seeded synthetic traffic: ``synthetic:<pattern>?seed=..&mean=..&duration=..``.

Each pattern builds a latent rate shape (dimensionless, around 1), which is rescaled so that
its mean over the whole trace is exactly ``mean``; then per-second counts are drawn around it
(``noise=poisson``, the default: integer counts like the real traces) or the smooth rate is
kept (``noise=none``). ``jitter`` multiplies each second's rate by an independent log-normal
factor first: counts more dispersed than Poisson around the same shape. A sparse log rescaled to
a serving load has such counts: the NASA 1995 log's busiest 660 s average 5 requests a second,
and scaled to 144 they keep the spread of 5-a-second counts (per-second CV 0.49, where Poisson
counts at 144 would have 0.08). All randomness comes from one
``numpy.random.default_rng(seed)``, drawn in a fixed order, so the same URI always gives the same
series.

The defaults are calibrated on the real traces in ``../shared/traces``; the measurements and
figures are in ``benchmarks/calibration/CALIBRATION.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from themis_env.errors import TraceError, did_you_mean
from themis_env.traces.trace import Trace, check_length

__all__ = ["PATTERNS", "Pattern", "generate", "pattern_names"]

# Parameters every pattern takes: name -> (type, default, help).
COMMON_PARAMS: dict[str, tuple[type, Any, str]] = {
    "seed": (int, 0, "seed of numpy.random.default_rng"),
    "mean": (float, 100.0, "mean rate over the whole trace [req/s]"),
    "duration": (int, 3600, "length [s]"),
    "noise": (
        str,
        "poisson",
        "per-second counts: 'poisson' (integer counts) or 'none' (smooth rate)",
    ),
    "jitter": (
        float,
        0.0,
        "std of an independent log-normal factor on each second's rate (0: none); "
        "counts over-dispersed beyond Poisson, as a sparse log rescaled to a higher mean has",
    ),
}

NOISE_KINDS = ("poisson", "none")


@dataclass(frozen=True)
class Pattern:
    """A registered generator.

    Attributes:
        name: Pattern name used in the URI.
        shape: ``shape(rng, n, **params) -> np.ndarray`` of n non-negative values (any scale).
        params: Pattern-specific parameters: name -> (type, default, help).
        description: One line shown by ``themis-env traces list``.
    """

    name: str
    shape: Callable[..., np.ndarray]
    params: Mapping[str, tuple[type, Any, str]]
    description: str


PATTERNS: dict[str, Pattern] = {}


def _register(name: str, description: str, **params: tuple[type, Any, str]) -> Callable:
    def deco(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
        PATTERNS[name] = Pattern(name, fn, params, description)
        return fn

    return deco


def pattern_names() -> list[str]:
    """Names of the synthetic patterns."""
    return sorted(PATTERNS)


# -- building blocks ----------------------------------------------------------------------------
def _log_ou(rng: np.random.Generator, n: int, tau_s: float, sigma: float) -> np.ndarray:
    """Stationary AR(1) series (a discretised Ornstein-Uhlenbeck process).

    Its std is ``sigma`` and its time constant ``tau_s`` seconds.

    Used as log-rate noise, so ``exp(x)`` is a slowly wandering multiplicative factor.
    """
    eps = rng.standard_normal(n)
    if sigma <= 0 or n == 0:
        return np.zeros(n)
    phi = math.exp(-1.0 / max(tau_s, 1e-9))
    innov = sigma * math.sqrt(1.0 - phi * phi)
    out = np.empty(n)
    x = sigma * eps[0]
    out[0] = x
    # A Python loop is fast enough (about 40 ms per simulated day) and keeps the recurrence exact.
    for i in range(1, n):
        x = phi * x + innov * eps[i]
        out[i] = x
    return out


def _wander(rng: np.random.Generator, n: int, tau_s: float, sigma: float) -> np.ndarray:
    """Multiplicative noise with mean about 1 (log-normal correction applied)."""
    return np.exp(_log_ou(rng, n, tau_s, sigma) - 0.5 * sigma * sigma)


def _burst_profile(n: int, onset: float, rise: float, hold: float, decay: float) -> np.ndarray:
    """0..1 trapezoid: linear rise, plateau, linear decay."""
    t = np.arange(n, dtype=np.float64) - onset
    up = np.clip(t / max(rise, 1e-9), 0.0, 1.0)
    down = np.clip(1.0 - (t - rise - hold) / max(decay, 1e-9), 0.0, 1.0)
    return np.where(t < 0, 0.0, np.minimum(up, down))


# -- patterns -------------------------------------------------------------------------------------
@_register(
    "steady",
    "constant level with slow small wander (IPA steady windows)",
    sigma=(float, 0.0, "std of the log-rate wander (0: constant rate, Poisson counts only)"),
    tau=(float, 60.0, "time constant of the wander [s]"),
)
def _steady(rng: np.random.Generator, n: int, *, sigma: float, tau: float) -> np.ndarray:
    return _wander(rng, n, tau, sigma)


@_register(
    "bursty",
    "baseline with surges of several times the base (the Themis Twitter slice)",
    height=(float, 4.6, "surge plateau / baseline"),
    first=(float, 52.0, "typical onset of the first surge [s] (jittered by +-30 %)"),
    every=(float, 7100.0, "typical gap between surge onsets [s] (jittered by +-30 %)"),
    rise=(float, 30.0, "ramp-up time [s]"),
    hold=(float, 304.0, "plateau length [s]"),
    decay=(float, 165.0, "ramp-down time [s]"),
    sigma=(float, 0.12, "std of the log-rate wander"),
    tau=(float, 30.0, "time constant of the wander [s]"),
)
def _bursty(
    rng: np.random.Generator,
    n: int,
    *,
    height: float,
    first: float,
    every: float,
    rise: float,
    hold: float,
    decay: float,
    sigma: float,
    tau: float,
) -> np.ndarray:
    level = np.ones(n)
    onset = first * rng.uniform(0.7, 1.3)
    while onset < n:
        scale = rng.uniform(0.8, 1.2)
        peak = 1.0 + (height - 1.0) * rng.uniform(0.85, 1.15)
        level = np.maximum(
            level,
            1.0
            + (peak - 1.0) * _burst_profile(n, onset, rise * scale, hold * scale, decay * scale),
        )
        onset += every * rng.uniform(0.7, 1.3)
    return level * _wander(rng, n, tau, sigma)


@_register(
    "fluctuating",
    "level wandering widely over minutes (IPA fluctuating windows)",
    amplitude=(float, 0.75, "relative amplitude of the slow wave"),
    period=(float, 600.0, "period of the slow wave [s]"),
    sigma=(float, 0.3, "std of the log-rate wander"),
    tau=(float, 240.0, "time constant of the wander [s]"),
)
def _fluctuating(
    rng: np.random.Generator, n: int, *, amplitude: float, period: float, sigma: float, tau: float
) -> np.ndarray:
    phase = rng.uniform(0.0, 2.0 * math.pi)
    t = np.arange(n, dtype=np.float64)
    wave = 1.0 + amplitude * np.sin(2.0 * math.pi * t / period + phase)
    return np.maximum(wave, 0.0) * _wander(rng, n, tau, sigma)


@_register(
    "diurnal",
    "daily cycle (NASA and WorldCup traces)",
    amplitude=(float, 0.51, "relative amplitude of the daily cycle"),
    period=(float, 86400.0, "cycle length [s]"),
    peak=(float, 53100.0, "second of the cycle with the highest rate"),
    sigma=(float, 0.3, "std of the log-rate wander"),
    tau=(float, 7200.0, "time constant of the wander [s]"),
)
def _diurnal(
    rng: np.random.Generator,
    n: int,
    *,
    amplitude: float,
    period: float,
    peak: float,
    sigma: float,
    tau: float,
) -> np.ndarray:
    t = np.arange(n, dtype=np.float64)
    cycle = np.maximum(1.0 + amplitude * np.cos(2.0 * math.pi * (t - peak) / period), 0.0)
    return cycle * _wander(rng, n, tau, sigma)


@_register(
    "spike",
    "flash crowd: a fast jump to many times the base, then exponential decay",
    height=(float, 6.0, "spike peak / baseline"),
    at=(float, 0.25, "onset: a fraction of the duration when < 1, else a second"),
    rise=(float, 15.0, "ramp-up time [s]"),
    decay=(float, 120.0, "e-folding time of the decay [s]"),
    sigma=(float, 0.08, "std of the log-rate wander"),
    tau=(float, 30.0, "time constant of the wander [s]"),
)
def _spike(
    rng: np.random.Generator,
    n: int,
    *,
    height: float,
    at: float,
    rise: float,
    decay: float,
    sigma: float,
    tau: float,
) -> np.ndarray:
    onset = at * n if at < 1 else at
    t = np.arange(n, dtype=np.float64) - onset
    up = np.clip(t / max(rise, 1e-9), 0.0, 1.0)
    down = np.exp(-np.maximum(t - rise, 0.0) / max(decay, 1e-9))
    level = 1.0 + (height - 1.0) * np.where(t < 0, 0.0, up * down)
    return level * _wander(rng, n, tau, sigma)


@_register(
    "ramp",
    "linear change of the level from start to end",
    start=(float, 0.25, "relative level at the first second"),
    end=(float, 1.75, "relative level at the last second"),
    sigma=(float, 0.08, "std of the log-rate wander"),
    tau=(float, 60.0, "time constant of the wander [s]"),
)
def _ramp(
    rng: np.random.Generator, n: int, *, start: float, end: float, sigma: float, tau: float
) -> np.ndarray:
    if start < 0 or end < 0 or start + end <= 0:
        raise TraceError(f"synthetic:ramp: start={start} and end={end} must be >= 0, not both 0")
    return np.linspace(start, end, n) * _wander(rng, n, tau, sigma)


@_register(
    "mmpp",
    "Markov-modulated Poisson process: the rate jumps between levels",
    levels=(str, "0.6,1,2", "comma-separated relative rates of the states"),
    dwell=(float, 3600.0, "mean time in a state [s] (exponential)"),
)
def _mmpp(rng: np.random.Generator, n: int, *, levels: str, dwell: float) -> np.ndarray:
    try:
        rates = np.array([float(v) for v in levels.split(",")])
    except ValueError:
        raise TraceError(
            f"synthetic:mmpp: levels={levels!r} must be comma-separated numbers, e.g. '0.5,1,2.5'"
        ) from None
    if rates.size < 2 or np.any(~np.isfinite(rates)) or np.any(rates < 0) or rates.sum() <= 0:
        raise TraceError(f"synthetic:mmpp: levels={levels!r} needs >= 2 finite rates >= 0")
    if dwell <= 0:
        raise TraceError(f"synthetic:mmpp: dwell={dwell} must be > 0")
    out = np.empty(n)
    state = int(rng.integers(rates.size))
    t = 0.0
    # The chain runs in continuous time; a second that sees a switch gets the time-weighted rate.
    while t < n:
        stay = rng.exponential(dwell)
        end = min(t + stay, float(n))
        a, b = int(math.floor(t)), int(math.ceil(end))
        for s in range(a, b):
            lo, hi = max(t, s), min(end, s + 1.0)
            out[s] = (out[s] if lo > s else 0.0) + rates[state] * (hi - lo)
        t = end
        nxt = int(rng.integers(rates.size - 1))
        state = nxt if nxt < state else nxt + 1
    return out


# -- entry point ----------------------------------------------------------------------------------
def _convert(pattern: str, key: str, kind: type, value: Any) -> Any:
    if kind is str:
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TraceError(
            f"synthetic:{pattern}: parameter {key}={value!r} is not a number"
        ) from None
    if not math.isfinite(number):
        raise TraceError(f"synthetic:{pattern}: parameter {key}={value!r} must be finite")
    if kind is int:
        if number != int(number):
            raise TraceError(f"synthetic:{pattern}: parameter {key}={value!r} must be an integer")
        return int(number)
    return number


def generate(pattern: str, **params: Any) -> Trace:
    """Generate a synthetic trace.

    Args:
        pattern: One of :func:`pattern_names`.
        **params: ``seed``, ``mean``, ``duration``, ``noise`` and the pattern's own parameters
            (see ``themis-env traces list``); values may be strings, as parsed from a URI.

    Raises:
        TraceError: Unknown pattern or parameter, or an invalid value.
    """
    if pattern not in PATTERNS:
        raise TraceError(
            f"unknown synthetic pattern {pattern!r}; allowed: {', '.join(pattern_names())}."
            + did_you_mean(pattern, PATTERNS)
        )
    spec = PATTERNS[pattern]
    allowed = {**COMMON_PARAMS, **spec.params}
    values: dict[str, Any] = {}
    for key, raw in params.items():
        if key not in allowed:
            raise TraceError(
                f"synthetic:{pattern}: unknown parameter {key!r}; allowed: "
                f"{', '.join(sorted(allowed))}." + did_you_mean(key, allowed)
            )
        values[key] = _convert(pattern, key, allowed[key][0], raw)
    full = {key: values.get(key, default) for key, (_, default, _) in allowed.items()}
    seed, mean, duration, noise = full["seed"], full["mean"], full["duration"], full["noise"]
    if duration <= 0:
        raise TraceError(f"synthetic:{pattern}: duration={duration} must be > 0 seconds")
    check_length(duration, f"synthetic:{pattern}: duration={duration}")
    if mean < 0:
        raise TraceError(f"synthetic:{pattern}: mean={mean} must be >= 0 req/s")
    if seed < 0:
        raise TraceError(f"synthetic:{pattern}: seed={seed} must be >= 0")
    if noise not in NOISE_KINDS:
        raise TraceError(f"synthetic:{pattern}: noise={noise!r}; allowed: {', '.join(NOISE_KINDS)}")
    own = {key: full[key] for key in spec.params}
    jitter = full["jitter"]
    for key, value in {**own, "jitter": jitter}.items():
        if isinstance(value, float) and value < 0:
            raise TraceError(f"synthetic:{pattern}: parameter {key}={value} must be >= 0")
    rng = np.random.default_rng(seed)
    shape = np.asarray(spec.shape(rng, duration, **own), dtype=np.float64)
    if jitter > 0:
        # Drawn only when asked for, so a trace without jitter is the same draw as before.
        shape = shape * np.exp(jitter * rng.standard_normal(duration) - 0.5 * jitter * jitter)
    total = shape.mean()
    rate = shape * (mean / total) if total > 0 else np.full(duration, float(mean))
    if noise == "poisson":
        rate = rng.poisson(rate).astype(np.float64)
    query = "&".join(f"{k}={full[k]}" for k in ("seed", "mean", "duration"))
    extra = "".join(f"&{k}={v}" for k, v in values.items() if k not in ("seed", "mean", "duration"))
    return Trace(
        rate,
        name=f"synthetic:{pattern}",
        source=f"synthetic:{pattern}?{query}{extra}",
        resolution_s=1,
        metadata={"kind": "synthetic", "pattern": pattern, "params": full},
    )
