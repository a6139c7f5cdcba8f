"""Workload traces: one per-second rate series type, loaders, named real traces, generators.

``load(uri_or_path, **options) -> Trace`` is the entry point; see :mod:`themis_env.traces.uri`
for the URI forms and options, ``traces/README.md`` for the file formats and how to obtain
the real traces, and ``benchmarks/calibration/CALIBRATION.md`` (in a checkout) for how the
generators were tuned.

Examples:
    >>> from themis_env import traces
    >>> t = traces.load("synthetic:bursty?seed=0&mean=144&duration=660")
    >>> len(t), round(t.mean)
    (660, 144)
"""

from themis_env.traces.catalog import NAMED_TRACES, NamedTrace, cache_dir, search_dirs
from themis_env.traces.generators import PATTERNS, generate, pattern_names
from themis_env.traces.loaders import FORMATS, read_trace_file
from themis_env.traces.resample import RESAMPLE_RULES, expand_counts, from_counts
from themis_env.traces.stats import trace_stats
from themis_env.traces.trace import Trace, concatenate, themis_scale
from themis_env.traces.uri import load
from themis_env.traces.windows import THEMIS_DIVISORS, WINDOWS, NamedWindow, themis_divisor

__all__ = [
    "FORMATS",
    "NAMED_TRACES",
    "PATTERNS",
    "RESAMPLE_RULES",
    "THEMIS_DIVISORS",
    "WINDOWS",
    "NamedTrace",
    "NamedWindow",
    "Trace",
    "cache_dir",
    "concatenate",
    "expand_counts",
    "from_counts",
    "generate",
    "load",
    "pattern_names",
    "read_trace_file",
    "search_dirs",
    "themis_divisor",
    "themis_scale",
    "trace_stats",
]
