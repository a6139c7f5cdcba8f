"""The one trace type: a per-second request-rate series with its provenance.

Every operation returns a new :class:`Trace` and records what it did in ``metadata["ops"]``,
so a window of a scaled trace still says where it came from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from themis_env.errors import TraceError

__all__ = ["MAX_LENGTH_S", "Trace", "concatenate", "themis_scale", "check_length"]

# The longest trace made (generated, repeated, or counted from a file): about 3.2 years of
# seconds, 800 MB of rates. A longer one is almost always a bad value (a stray timestamp of 0
# in a request log spans 51 years) and would end in a MemoryError from deep inside NumPy.
MAX_LENGTH_S = 100_000_000


def check_length(seconds: float, what: str) -> None:
    """Raise a TraceError naming ``what`` when a trace of ``seconds`` would be too long."""
    if seconds > MAX_LENGTH_S:
        raise TraceError(
            f"{what} would make a trace of {seconds:,.0f} s, above the longest allowed, "
            f"{MAX_LENGTH_S:,} s (about 3.2 years)"
        )


def themis_scale(rps: np.ndarray, divisor: float) -> np.ndarray:
    """The Themis load scaling: each value becomes ``round(max(1, x / divisor))``.

    Rounding is NumPy's (half to even), which matches Python's ``round`` used by Themis.
    """
    return np.round(np.maximum(1.0, np.asarray(rps, dtype=np.float64) / divisor))


@dataclass(frozen=True, eq=False)
class Trace:
    """A request-rate series with one value per second.

    Attributes:
        rps: Arrival rate of each second [req/s], float64, read-only, finite and >= 0.
        name: Short name (``twitter-2021-08``, ``synthetic:bursty``, a file stem).
        source: Where it came from: the URI, or the path of the file read.
        resolution_s: Resolution of the source data [s] (60 for a per-minute file that was
            expanded to seconds; see ``metadata["resample"]``).
        metadata: Free-form provenance: generator parameters, file format, operations applied.
    """

    rps: np.ndarray
    name: str = "trace"
    source: str = ""
    resolution_s: int = 1
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        rps = np.array(self.rps, dtype=np.float64, copy=True).reshape(-1)
        bad = np.flatnonzero(~np.isfinite(rps) | (rps < 0))
        if bad.size:
            i = int(bad[0])
            raise TraceError(
                f"trace {self.name!r} ({self.source or 'in memory'}): second {i} has rate "
                f"{rps[i]!r}; rates must be finite and >= 0"
            )
        rps.setflags(write=False)
        object.__setattr__(self, "rps", rps)
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))

    # -- basic facts ------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.rps.size)

    def __repr__(self) -> str:
        return (
            f"Trace(name={self.name!r}, duration_s={len(self)}, mean={self.mean:.4g}, "
            f"max={self.max:.4g}, source={self.source!r})"
        )

    @property
    def duration_s(self) -> int:
        """Length of the series [s]."""
        return len(self)

    @property
    def mean(self) -> float:
        """Mean rate [req/s] (0 for an empty trace)."""
        return float(self.rps.mean()) if len(self) else 0.0

    @property
    def max(self) -> float:
        """Peak one-second rate [req/s] (0 for an empty trace)."""
        return float(self.rps.max()) if len(self) else 0.0

    @property
    def min(self) -> float:
        """Lowest one-second rate [req/s] (0 for an empty trace)."""
        return float(self.rps.min()) if len(self) else 0.0

    @property
    def total_requests(self) -> float:
        """Sum of the per-second rates, i.e. the number of requests over the trace."""
        return float(self.rps.sum())

    def stats(self) -> dict[str, float]:
        """Summary statistics (see :func:`themis_env.traces.stats.trace_stats`)."""
        from themis_env.traces.stats import trace_stats

        return trace_stats(self.rps)

    # -- derivation -------------------------------------------------------------------------
    def _derive(self, rps: np.ndarray, op: str, **changes: Any) -> Trace:
        meta = dict(self.metadata)
        meta["ops"] = (*meta.get("ops", ()), op)
        fields = {
            "name": self.name,
            "source": self.source,
            "resolution_s": self.resolution_s,
            "metadata": meta,
        }
        fields.update(changes)
        return Trace(rps, **fields)

    def window(self, first: int, length: int | None = None) -> Trace:
        """Seconds ``[first, first + length)``; ``length=None`` takes the rest of the trace.

        Raises:
            TraceError: The window does not lie inside the trace, or is empty.
        """
        first_i = int(first)
        if first_i != first or first_i < 0 or first_i >= len(self):
            raise TraceError(
                f"trace {self.name!r}: window start {first!r} s is outside the trace "
                f"(allowed 0 .. {len(self) - 1} s)"
            )
        if length is None:
            length_i = len(self) - first_i
        else:
            length_i = int(length)
            if length_i != length or length_i <= 0:
                raise TraceError(
                    f"trace {self.name!r}: window length {length!r} s must be a positive integer"
                )
            if first_i + length_i > len(self):
                raise TraceError(
                    f"trace {self.name!r}: window [{first_i}, {first_i + length_i}) s is outside "
                    f"the trace of {len(self)} s (the longest window starting at {first_i} is "
                    f"{len(self) - first_i} s)"
                )
        return self._derive(self.rps[first_i : first_i + length_i], f"window({first_i},{length_i})")

    def slice(self, start_s: int, end_s: int | None = None) -> Trace:
        """Seconds ``[start_s, end_s)`` (``end_s=None`` is the end of the trace)."""
        if end_s is None:
            return self.window(start_s, None)
        return self.window(start_s, int(end_s) - int(start_s))

    def scale(self, factor: float) -> Trace:
        """Multiply every rate by ``factor`` (> 0)."""
        factor = float(factor)
        if not np.isfinite(factor) or factor <= 0:
            raise TraceError(f"trace {self.name!r}: scale factor {factor!r} must be finite and > 0")
        return self._derive(self.rps * factor, f"scale({factor:g})")

    def scale_to_mean(self, mean: float) -> Trace:
        """Scale so that the mean rate is ``mean`` [req/s]."""
        if self.mean <= 0:
            raise TraceError(f"trace {self.name!r} has mean 0; it cannot be scaled to a mean")
        return self.scale(float(mean) / self.mean)

    def scale_divisor(self, divisor: float) -> Trace:
        """The Themis rule: each value becomes ``round(max(1, x / divisor))``."""
        divisor = float(divisor)
        if not np.isfinite(divisor) or divisor <= 0:
            raise TraceError(f"trace {self.name!r}: divisor {divisor!r} must be finite and > 0")
        return self._derive(themis_scale(self.rps, divisor), f"divisor({divisor:g})")

    def scale_damping(self, factor: float) -> Trace:
        """The IPA rule (``damping_factor``): each value becomes ``floor(x / factor)``."""
        factor = float(factor)
        if not np.isfinite(factor) or factor <= 0:
            raise TraceError(f"trace {self.name!r}: damping {factor!r} must be finite and > 0")
        return self._derive(np.floor(self.rps / factor), f"damping({factor:g})")

    def clip(self, low: float | None = None, high: float | None = None) -> Trace:
        """Limit every rate to ``[low, high]`` (an explicit, recorded operation).

        The number of seconds changed is stored in ``metadata["clipped_seconds"]``.
        """
        lo = 0.0 if low is None else float(low)
        hi = np.inf if high is None else float(high)
        if lo < 0 or hi < lo:
            raise TraceError(
                f"trace {self.name!r}: clip bounds [{low}, {high}] are not 0 <= low <= high"
            )
        clipped = np.clip(self.rps, lo, hi)
        changed = int(np.count_nonzero(clipped != self.rps))
        out = self._derive(clipped, f"clip({lo:g},{hi:g})")
        meta = dict(out.metadata)
        meta["clipped_seconds"] = int(self.metadata.get("clipped_seconds", 0)) + changed
        return Trace(out.rps, out.name, out.source, out.resolution_s, meta)

    def repeat(self, times: int) -> Trace:
        """The trace played ``times`` times back to back."""
        if int(times) != times or times < 1:
            raise TraceError(f"trace {self.name!r}: repeat count {times!r} must be an integer >= 1")
        check_length(len(self) * times, f"trace {self.name!r}: repeat={int(times)}")
        return self._derive(np.tile(self.rps, int(times)), f"repeat({int(times)})")

    def concat(self, *others: Trace) -> Trace:
        """This trace followed by ``others``."""
        return concatenate([self, *others], name=self.name)

    def split(self, at: float) -> tuple[Trace, Trace]:
        """Split by time into a train part ``[0, t)`` and a test part ``[t, end)``.

        Args:
            at: The split second ``t`` when >= 1 (an integer), or the train fraction when in (0, 1).
        """
        n = len(self)
        if 0 < at < 1:
            cut = int(round(at * n))
        elif at >= 1 and int(at) == at:
            cut = int(at)
        else:
            raise TraceError(
                f"trace {self.name!r}: split point {at!r} must be a fraction in (0, 1) or a "
                "second >= 1"
            )
        if not 0 < cut < n:
            raise TraceError(
                f"trace {self.name!r}: split at second {cut} leaves an empty part (trace has {n} s)"
            )
        return self.window(0, cut), self.window(cut, None)

    def renamed(self, name: str) -> Trace:
        """The same series under another name."""
        return Trace(self.rps, name, self.source, self.resolution_s, self.metadata)

    def to_csv(self, path: str) -> None:
        """Write the series as a CSV with the single column ``rps`` (readable by ``load``)."""
        rates = self.rps
        integral = bool(np.all(rates == np.round(rates)))
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            fh.write("rps\n")
            if integral:
                fh.write("\n".join(str(int(v)) for v in rates))
            else:
                fh.write("\n".join(repr(float(v)) for v in rates))
            fh.write("\n")


def concatenate(traces: Sequence[Trace], *, name: str | None = None) -> Trace:
    """Join traces end to end.

    Raises:
        TraceError: No traces were given.
    """
    if not traces:
        raise TraceError("concatenate needs at least one trace")
    first = traces[0]
    meta = dict(first.metadata)
    meta["parts"] = tuple(f"{t.name}[{len(t)} s]" for t in traces)
    return Trace(
        np.concatenate([t.rps for t in traces]),
        name=name or "+".join(t.name for t in traces),
        source=" + ".join(t.source for t in traces),
        resolution_s=max(t.resolution_s for t in traces),
        metadata=meta,
    )
