"""Turn coarse request counts (per minute, per hour) into a per-second rate series.

Rules:

``hold`` (default)
    Every second of a bucket gets ``count / bucket_s`` req/s. Each bucket's total is kept
    exactly; the series is a staircase.
``linear``
    The bucket rates ``count / bucket_s`` are placed at the bucket centres and joined by
    straight lines (held flat before the first and after the last centre); then the whole
    series is rescaled so that its total equals the sum of the counts. Smoother, and the total
    is kept, but a single bucket's total is only approximately kept.
"""

from __future__ import annotations

import numpy as np

from themis_env.errors import TraceError
from themis_env.traces.trace import Trace

__all__ = ["RESAMPLE_RULES", "expand_counts", "from_counts"]

RESAMPLE_RULES = ("hold", "linear")


def expand_counts(counts: np.ndarray, bucket_s: int, rule: str = "hold") -> np.ndarray:
    """Per-second rates [req/s] from counts per ``bucket_s`` seconds, by ``rule``."""
    counts = np.asarray(counts, dtype=np.float64)
    if int(bucket_s) != bucket_s or bucket_s < 1:
        raise TraceError(f"bucket length {bucket_s!r} s must be an integer >= 1")
    bucket_s = int(bucket_s)
    rates = counts / bucket_s
    if rule == "hold":
        return np.repeat(rates, bucket_s)
    if rule == "linear":
        n = counts.size * bucket_s
        centres = np.arange(counts.size) * bucket_s + (bucket_s - 1) / 2.0
        out = np.interp(np.arange(n, dtype=np.float64), centres, rates)
        total, got = counts.sum(), out.sum()
        return out * (total / got) if got > 0 else out
    raise TraceError(f"unknown resample rule {rule!r}; allowed: {', '.join(RESAMPLE_RULES)}")


def from_counts(
    counts: np.ndarray, bucket_s: int, *, rule: str = "hold", name: str = "trace", source: str = ""
) -> Trace:
    """A per-second :class:`Trace` from counts per bucket (e.g. ``bucket_s=60`` for per minute)."""
    rps = expand_counts(counts, bucket_s, rule)
    return Trace(
        rps,
        name=name,
        source=source,
        resolution_s=int(bucket_s),
        metadata={"resample": rule, "buckets": int(np.size(counts))},
    )
