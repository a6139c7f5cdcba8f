"""``load(uri_or_path, **options)``: the one entry point that turns a trace reference into a Trace.

URI forms:

- ``synthetic:<pattern>?seed=0&mean=144&duration=660&<pattern params>``: a generator
  (:mod:`themis_env.traces.generators`).
- ``<name>`` and ``<name>#<window>``: a named real trace (``twitter-2021-08``, ``nasa-1995``,
  ``worldcup-1998``) or one of its paper windows (``twitter-2021-08#themis``), looked up as
  described in :mod:`themis_env.traces.catalog`.
- ``file:<path>`` or a plain path: a trace file (:mod:`themis_env.traces.loaders`).

Options, in the URI query (``?k=v&k=v``) or as keyword arguments (these win), applied in
this order after loading:

- ``start``, ``duration``: keep the window ``[start, start + duration)`` s;
- ``repeat``: play it ``repeat`` times;
- ``scale`` (multiply) or ``mean`` (scale to that mean);
- ... except that for ``synthetic:`` URIs ``mean`` and ``duration`` are the generator's
  parameters (the series is generated with that mean and length; ``start`` then cuts it);
- ``divisor`` (Themis rule ``round(max(1, x/d))``), or ``pipeline`` + ``preset`` (the Themis
  divisor of a window that has them), or ``damping`` (IPA rule ``floor(x/d)``).

File options: ``format``, ``member``, ``column``, ``time_column``, ``aggregate``, ``sort``,
``resample``, ``gaps``, ``max_mb`` (see :func:`~themis_env.traces.loaders.read_trace_file`);
``resample`` also applies to ``worldcup-1998``.
"""

from __future__ import annotations

import math
import os
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from themis_env.errors import TraceError
from themis_env.traces.catalog import NAMED_TRACES, find_trace_file, named_trace
from themis_env.traces.generators import COMMON_PARAMS, PATTERNS, generate
from themis_env.traces.loaders import read_trace_file
from themis_env.traces.trace import Trace, concatenate
from themis_env.traces.windows import named_window, themis_divisor

__all__ = ["load", "SCHEMES", "POST_OPTIONS", "FILE_OPTIONS"]

SCHEMES = ("synthetic", "file")
POST_OPTIONS = (
    "start",
    "duration",
    "repeat",
    "scale",
    "mean",
    "divisor",
    "damping",
    "pipeline",
    "preset",
)
FILE_OPTIONS = (
    "format",
    "member",
    "column",
    "time_column",
    "aggregate",
    "sort",
    "resample",
    "gaps",
    "max_mb",
)


def _split_query(text: str, uri: str) -> tuple[str, dict[str, str]]:
    if "?" not in text:
        return text, {}
    head, query = text.split("?", 1)
    pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=False)
    if query and not pairs:
        raise TraceError(
            f"trace URI {uri!r}: cannot read the query {query!r}; use ?key=value&key=value"
        )
    options: dict[str, str] = {}
    for key, value in pairs:
        if key in options:
            raise TraceError(f"trace URI {uri!r}: option {key!r} is given twice")
        options[key] = value
    return head, options


def _number(uri: str, key: str, value: Any, *, integer: bool = False, positive: bool = True) -> Any:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TraceError(f"trace {uri!r}: option {key}={value!r} is not a number") from None
    if not math.isfinite(number):
        raise TraceError(f"trace {uri!r}: option {key}={value!r} must be a finite number")
    if integer:
        if number != int(number):
            raise TraceError(f"trace {uri!r}: option {key}={value!r} must be an integer")
        number = int(number)
    if positive and not number > 0 or not positive and not number >= 0:
        raise TraceError(
            f"trace {uri!r}: option {key}={value!r} must be {'> 0' if positive else '>= 0'}"
        )
    return number


def _apply_post(trace: Trace, uri: str, opts: dict[str, Any], divisors: Any = None) -> Trace:
    """Apply the generic options in their documented order."""
    if "start" in opts or "duration" in opts:
        start = _number(uri, "start", opts.get("start", 0), integer=True, positive=False)
        duration = opts.get("duration")
        length = None if duration is None else _number(uri, "duration", duration, integer=True)
        trace = trace.window(start, length)
    if "repeat" in opts:
        trace = trace.repeat(_number(uri, "repeat", opts["repeat"], integer=True))
    if "scale" in opts and "mean" in opts:
        raise TraceError(f"trace {uri!r}: give either scale or mean, not both")
    if "scale" in opts:
        trace = trace.scale(_number(uri, "scale", opts["scale"]))
    if "mean" in opts:
        trace = trace.scale_to_mean(_number(uri, "mean", opts["mean"]))
    rules = [k for k in ("divisor", "damping") if k in opts]
    if "pipeline" in opts or "preset" in opts:
        rules.append("pipeline/preset")
    if len(rules) > 1:
        raise TraceError(
            f"trace {uri!r}: give only one of divisor, damping, pipeline+preset (got {rules})"
        )
    if "divisor" in opts:
        trace = trace.scale_divisor(_number(uri, "divisor", opts["divisor"]))
    if "damping" in opts:
        trace = trace.scale_damping(_number(uri, "damping", opts["damping"]))
    if "pipeline" in opts or "preset" in opts:
        if not divisors:
            raise TraceError(
                f"trace {uri!r}: pipeline/preset pick a Themis divisor, which only the window "
                "'twitter-2021-08#themis' has; use divisor=<d> instead"
            )
        if "pipeline" not in opts or "preset" not in opts:
            raise TraceError(f"trace {uri!r}: give both pipeline and preset")
        trace = trace.scale_divisor(themis_divisor(str(opts["preset"]), str(opts["pipeline"])))
    return trace


def _reject_unknown(uri: str, opts: dict[str, Any], allowed: tuple[str, ...]) -> None:
    from themis_env.errors import did_you_mean

    for key in opts:
        if key not in allowed:
            raise TraceError(
                f"trace {uri!r}: unknown option {key!r}; allowed here: {', '.join(allowed)}."
                + did_you_mean(key, allowed)
            )


@lru_cache(maxsize=3)
def _read_cached(
    path: str, mtime_ns: int, size: int, options: tuple[tuple[str, Any], ...], name: str
) -> Trace:
    """Named traces are large; windows of one trace share one read (the Trace is immutable)."""
    return read_trace_file(path, name=name, **dict(options))


def _load_file(path: Path, uri: str, opts: dict[str, Any]) -> Trace:
    _reject_unknown(uri, opts, FILE_OPTIONS + POST_OPTIONS)
    file_opts = {k: opts[k] for k in FILE_OPTIONS if k in opts}
    trace = read_trace_file(path, **file_opts)
    return _apply_post(trace, uri, {k: v for k, v in opts.items() if k in POST_OPTIONS})


def _load_named(ref: str, uri: str, opts: dict[str, Any], trace_dir: Any) -> Trace:
    name, _, window_name = ref.partition("#")
    entry = named_trace(name)
    window = named_window(name, window_name) if window_name else None
    _reject_unknown(uri, opts, ("resample", *POST_OPTIONS))
    path, tfile = find_trace_file(entry, trace_dir)
    loader = dict(tfile.loader)
    if "resample" in opts:
        if entry.resolution_s == 1:
            raise TraceError(
                f"trace {uri!r}: resample only applies to coarser traces (worldcup-1998)"
            )
        loader["resample"] = opts["resample"]
    stat = path.stat()
    trace = _read_cached(
        str(path), stat.st_mtime_ns, stat.st_size, tuple(sorted(loader.items())), entry.name
    )
    meta = dict(trace.metadata)
    meta.update({"kind": "named", "named": entry.name})
    trace = Trace(trace.rps, entry.name, trace.source, trace.resolution_s, meta)
    divisors = None
    if window is not None:
        parts = [trace.slice(first, end) for first, end in window.spans]
        trace = (
            concatenate(parts, name=window.uri) if len(parts) > 1 else parts[0].renamed(window.uri)
        )
        divisors = window.divisors
    post = {k: v for k, v in opts.items() if k in POST_OPTIONS}
    return _apply_post(trace, uri, post, divisors)


def _load_synthetic(rest: str, uri: str, opts: dict[str, Any]) -> Trace:
    pattern = rest
    gen_keys = set(COMMON_PARAMS) | set(PATTERNS[pattern].params) if pattern in PATTERNS else set()
    gen_opts = {k: v for k, v in opts.items() if k in gen_keys or k not in POST_OPTIONS}
    post = {k: v for k, v in opts.items() if k not in gen_opts}
    trace = generate(pattern, **gen_opts)
    return _apply_post(trace, uri, post)


def load(
    uri_or_path: str | os.PathLike[str],
    *,
    trace_dir: str | os.PathLike[str] | None = None,
    **options: Any,
) -> Trace:
    """Load a trace from a URI, a named trace, or a file path.

    Args:
        uri_or_path: See the module docstring for the forms.
        trace_dir: Extra folder searched first for named traces.
        **options: The options of the module docstring; they override the URI's query.

    Returns:
        The trace, one rate per second.

    Raises:
        TraceNotFound: A named trace or a file that is not on this machine (the message says
            how to obtain it).
        TraceError: Anything malformed: unknown scheme, pattern, name, window or option, a bad
            value, a bad file.
    """
    if isinstance(uri_or_path, os.PathLike):
        return _load_file(Path(uri_or_path), str(uri_or_path), dict(options))
    uri = str(uri_or_path).strip()
    if not uri:
        raise TraceError(
            "empty trace URI; use a trace name, synthetic:<pattern>?..., or a file path"
        )
    if Path(uri).expanduser().is_file():
        return _load_file(Path(uri), uri, dict(options))
    scheme, sep, rest = uri.partition(":")
    if sep and scheme == "file":
        path_text = rest[2:] if rest.startswith("//") else rest
        if Path(path_text).expanduser().is_file():
            return _load_file(Path(path_text), uri, dict(options))
        path_text, query = _split_query(path_text, uri)
        return _load_file(Path(path_text), uri, {**query, **options})
    if sep and scheme == "synthetic":
        body, query = _split_query(rest, uri)
        return _load_synthetic(body, uri, {**query, **options})
    if sep and len(scheme) > 1 and "/" not in scheme and "\\" not in scheme:
        raise TraceError(
            f"unknown trace URI scheme {scheme!r} in {uri!r}; allowed: synthetic:<pattern>?..., "
            "file:<path>, a named trace (twitter-2021-08, nasa-1995, worldcup-1998) or a file path"
        )
    body, query = _split_query(uri, uri)
    looks_like_path = any(sep_char in body for sep_char in ("/", "\\", "."))
    if looks_like_path or (body not in NAMED_TRACES and Path(body).expanduser().is_dir()):
        # A path, not a name: the file loader says it is missing or a folder.
        return _load_file(Path(body), uri, {**query, **options})
    return _load_named(body, uri, {**query, **options}, trace_dir)
