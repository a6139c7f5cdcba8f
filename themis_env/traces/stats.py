"""Statistics that describe a trace's shape (used by ``traces show`` and the calibration).

Definitions:

- ``peak_to_mean``: the largest one-second rate over the mean rate.
- ``autocorr_<k>s``: sample autocorrelation of the per-second series at lag k seconds.
- ``bursts_per_hour``: onsets of bursts per hour. A burst starts when the mean rate of the
  last 60 s rises above ``BURST_RATIO`` (1.5) times the mean rate of the 600 s before them, and
  ends when that ratio falls back below ``BURST_END_RATIO`` (1.2); only onsets with a non-zero
  reference count.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ACF_LAGS", "BURST_RATIO", "BURST_END_RATIO", "autocorr", "burst_onsets", "trace_stats"]

ACF_LAGS = (1, 10, 60)
BURST_RATIO = 1.5
BURST_END_RATIO = 1.2
BURST_SHORT_S = 60
BURST_REF_S = 600


def autocorr(x: np.ndarray, lag: int) -> float:
    """Sample autocorrelation at ``lag`` (NaN when the series is constant or too short)."""
    x = np.asarray(x, dtype=np.float64)
    if lag >= x.size or x.size < 2:
        return float("nan")
    d = x - x.mean()
    denom = float(np.dot(d, d))
    if denom == 0:
        return float("nan")
    return float(np.dot(d[:-lag], d[lag:]) / denom) if lag > 0 else 1.0


def burst_onsets(x: np.ndarray) -> np.ndarray:
    """Seconds at which bursts start (see the module docstring)."""
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    if n < BURST_SHORT_S + BURST_REF_S:
        return np.zeros(0, dtype=np.int64)
    c = np.concatenate(([0.0], np.cumsum(x)))
    t = np.arange(BURST_REF_S + BURST_SHORT_S, n + 1)  # window ends (exclusive)
    short = (c[t] - c[t - BURST_SHORT_S]) / BURST_SHORT_S
    ref = (c[t - BURST_SHORT_S] - c[t - BURST_SHORT_S - BURST_REF_S]) / BURST_REF_S
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(ref > 0, short / ref, np.nan)
    onsets = []
    active = False
    # Hysteresis needs state; the loop only touches candidate crossings, so it stays cheap.
    above = np.flatnonzero(ratio > BURST_RATIO)
    below = ratio < BURST_END_RATIO
    below_idx = np.flatnonzero(below | np.isnan(ratio))
    pos = 0
    while pos < above.size:
        i = int(above[pos])
        if not active:
            onsets.append(int(t[i]) - 1)
            active = True
        j = np.searchsorted(below_idx, i)
        if j >= below_idx.size:
            break
        end = int(below_idx[j])
        active = False
        pos = int(np.searchsorted(above, end))
    return np.asarray(onsets, dtype=np.int64)


def trace_stats(rps: np.ndarray) -> dict[str, float]:
    """Shape statistics of a per-second series."""
    x = np.asarray(rps, dtype=np.float64)
    n = x.size
    if n == 0:
        return {"duration_s": 0.0}
    mean = float(x.mean())
    out = {
        "duration_s": float(n),
        "mean": mean,
        "std": float(x.std()),
        "min": float(x.min()),
        "p50": float(np.percentile(x, 50)),
        "p99": float(np.percentile(x, 99)),
        "max": float(x.max()),
        "peak_to_mean": float(x.max() / mean) if mean > 0 else float("nan"),
        "zero_fraction": float(np.count_nonzero(x == 0) / n),
        "total_requests": float(x.sum()),
        "bursts_per_hour": float(burst_onsets(x).size / (n / 3600.0)),
    }
    for lag in ACF_LAGS:
        out[f"autocorr_{lag}s"] = autocorr(x, lag)
    return out
