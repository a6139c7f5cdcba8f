"""Named windows of real traces used by the papers, with their load scaling.

A window is addressed as ``<trace>#<window>``, e.g. ``twitter-2021-08#themis``; the
``pipeline``/``preset`` options apply the Themis divisor of that pipeline
(``twitter-2021-08#themis?pipeline=video&preset=arxiv``), and ``damping=8`` applies IPA's
``floor(x / 8)``.

Sources: the Themis starter (``starter.py`` of ``mehransi/Themis`` at ``b01017f`` and
``8b3bfdd``: slice and divisors) and IPA (arXiv 2308.12871), ``data/configs/final/*.yaml`` of
``reconfigurable-ml-pipeline/ipa@e1f08dd`` (``workload_type: twitter``, ``damping_factor: 8``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from themis_env.errors import TraceError, did_you_mean

__all__ = ["NamedWindow", "THEMIS_DIVISORS", "WINDOWS", "named_window", "themis_divisor"]

# Per-pipeline divisors of the Themis slice: preset -> pipeline -> d, value -> round(max(1, x/d)).
THEMIS_DIVISORS: Mapping[str, Mapping[str, float]] = {
    "arxiv": {"video": 4.384, "sentiment": 8.5625, "nlp": 21.0},
    "2025": {"video": 1.5, "sentiment": 2.55, "nlp": 3.45},
}


@dataclass(frozen=True)
class NamedWindow:
    """A window of a named trace.

    Attributes:
        trace: The named trace it cuts (``twitter-2021-08``).
        name: Window name after ``#``.
        spans: ``[first, end)`` second ranges, played one after the other.
        description: What it is and who uses it.
        divisors: Themis-rule divisors, preset -> pipeline -> d (empty when not from Themis).
        damping: IPA's damping factor (``floor(x / d)``), or None.
        raw_stats: (min, mean, max) of the unscaled window, as published; None if not given.
    """

    trace: str
    name: str
    spans: tuple[tuple[int, int], ...]
    description: str
    divisors: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    damping: float | None = None
    raw_stats: tuple[float, float, float] | None = None

    @property
    def uri(self) -> str:
        """``<trace>#<name>``."""
        return f"{self.trace}#{self.name}"

    @property
    def duration_s(self) -> int:
        """Total length [s]."""
        return sum(end - first for first, end in self.spans)


WINDOWS: dict[str, NamedWindow] = {
    w.uri: w
    for w in (
        NamedWindow(
            "twitter-2021-08",
            "themis",
            ((1_301_490, 1_302_150),),
            "Themis evaluation slice: day 15, 660 s surge from ~55 to ~270 req/s and back",
            divisors=THEMIS_DIVISORS,
            raw_stats=(32.0, 144.0, 274.0),
        ),
        NamedWindow(
            "twitter-2021-08",
            "ipa-bursty",
            ((1_301_160, 1_302_360),),
            "IPA/Sponge bursty window (20 min, holds the Themis surge)",
            damping=8.0,
            raw_stats=(27.0, 99.8, 274.0),
        ),
        NamedWindow(
            "twitter-2021-08",
            "ipa-steady-low",
            ((1_299_600, 1_300_800),),
            "IPA steady low window (20 min)",
            damping=8.0,
            raw_stats=(25.0, 43.9, 69.0),
        ),
        NamedWindow(
            "twitter-2021-08",
            "ipa-steady-high",
            ((1_768_800, 1_769_400), (1_768_800, 1_769_400)),
            "IPA steady high window (10 min played twice)",
            damping=8.0,
            raw_stats=(191.0, 234.2, 275.0),
        ),
        NamedWindow(
            "twitter-2021-08",
            "ipa-fluctuating",
            ((1_301_400, 1_302_000), (1_308_600, 1_309_200)),
            "IPA fluctuating window (two 10-min pieces joined)",
            damping=8.0,
        ),
    )
}


def named_window(trace: str, window: str) -> NamedWindow:
    """The window ``trace#window``.

    Raises:
        TraceError: Unknown window (the message lists the windows of that trace).
    """
    key = f"{trace}#{window}"
    if key in WINDOWS:
        return WINDOWS[key]
    own = sorted(w.name for w in WINDOWS.values() if w.trace == trace)
    listed = ", ".join(own) if own else "none"
    raise TraceError(
        f"trace {trace!r} has no window {window!r}; its windows: {listed}."
        + did_you_mean(window, own)
    )


def themis_divisor(preset: str, pipeline: str) -> float:
    """The Themis divisor of ``pipeline`` under ``preset`` (``arxiv`` or ``2025``).

    Raises:
        TraceError: Unknown preset or pipeline.
    """
    if preset not in THEMIS_DIVISORS:
        raise TraceError(
            f"unknown Themis preset {preset!r}; allowed: {', '.join(THEMIS_DIVISORS)}"
            + did_you_mean(preset, THEMIS_DIVISORS)
        )
    table = THEMIS_DIVISORS[preset]
    if pipeline not in table:
        raise TraceError(
            f"unknown Themis pipeline {pipeline!r}; allowed: {', '.join(table)}"
            + did_you_mean(pipeline, table)
        )
    return table[pipeline]
