"""``themis-env traces list|show|plot|fetch``: inspect and obtain workload traces."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from themis_env.config.assignments import split_assignment
from themis_env.errors import ConfigError, DependencyNotInstalled, TraceError, TraceNotFound

__all__ = ["add_parser"]


def _parse_option(text: str) -> tuple[str, str]:
    # Kept as text, as in a trace URI's query: the loaders read their own types.
    try:
        return split_assignment(text, "--option")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _add_trace_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "name", metavar="TRACE", help="named trace, name#window, synthetic:... URI or file"
    )
    parser.add_argument(
        "--trace-dir", default=None, help="extra folder searched first for named traces"
    )
    parser.add_argument("--start", type=int, default=None, help="first second of the window")
    parser.add_argument("--duration", type=int, default=None, help="window length [s]")
    parser.add_argument(
        "-O",
        "--option",
        dest="options",
        action="append",
        type=_parse_option,
        default=[],
        metavar="KEY=VALUE",
        help="extra load option (divisor=4.384, format=counts, resample=linear, ...); repeatable",
    )


def _load(args: argparse.Namespace) -> Any:
    from themis_env import traces

    options: dict[str, Any] = dict(args.options)
    trace = traces.load(args.name, trace_dir=args.trace_dir, **options)
    if args.start is not None or args.duration is not None:
        trace = trace.window(args.start or 0, args.duration)
    return trace


def _fmt(value: float) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:.4g}"


# -- list -----------------------------------------------------------------------------------------
def _cmd_list(args: argparse.Namespace) -> int:
    from themis_env.traces.catalog import NAMED_TRACES, find_trace_file, search_dirs
    from themis_env.traces.generators import COMMON_PARAMS, PATTERNS
    from themis_env.traces.loaders import FORMATS
    from themis_env.traces.windows import WINDOWS

    print(
        "Named traces (looked up in: "
        + ", ".join(str(d) for d in search_dirs(args.trace_dir))
        + ")"
    )
    for entry in NAMED_TRACES.values():
        try:
            path, _ = find_trace_file(entry, args.trace_dir)
            where = f"found: {path}"
        except TraceNotFound:
            where = f"missing: themis-env traces fetch {entry.name}"
        print(f"  {entry.name:<16} {entry.description}")
        print(f"  {'':<16} {where}")
    print("\nNamed windows (URI  length  what)")
    for window in WINDOWS.values():
        print(f"  {window.uri:<32} {window.duration_s:>5} s  {window.description}")
    print("\nSynthetic patterns: synthetic:<pattern>?" + "&".join(f"{k}=.." for k in COMMON_PARAMS))
    for pattern in PATTERNS.values():
        own = ", ".join(f"{k}={d}" for k, (_, d, _) in pattern.params.items())
        print(f"  {pattern.name:<12} {pattern.description}")
        print(f"  {'':<12} params: {own}")
    print(
        "\nFile formats: " + ", ".join(FORMATS) + " (file:<path> or a path; see traces/README.md)"
    )
    return 0


# -- show -----------------------------------------------------------------------------------------
def _cmd_show(args: argparse.Namespace) -> int:
    trace = _load(args)
    stats = trace.stats()
    if args.json:
        # NaN (e.g. the autocorrelation of a constant series) is not JSON: write null.
        clean = {
            k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in stats.items()
        }
        print(json.dumps({"name": trace.name, "source": trace.source, **clean}))
        return 0
    print(f"{trace.name}  ({trace.source})")
    print(f"  resolution of source: {trace.resolution_s} s")
    ops = trace.metadata.get("ops")
    if ops:
        print(f"  operations: {' -> '.join(ops)}")
    for key, value in stats.items():
        print(f"  {key:<16} {_fmt(value)}")
    return 0


# -- plot -----------------------------------------------------------------------------------------
def _cmd_plot(args: argparse.Namespace) -> int:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise DependencyNotInstalled(
            'plotting needs matplotlib: pip install "themis-env[plots]"'
        ) from None
    import numpy as np

    trace = _load(args)
    x = np.arange(len(trace))
    fig, ax = plt.subplots(figsize=(10, 3.2))
    ax.plot(x, trace.rps, lw=0.6, color="tab:blue", label="per second")
    if args.smooth and args.smooth > 1 and len(trace) >= args.smooth:
        kernel = np.ones(args.smooth) / args.smooth
        ax.plot(
            x[args.smooth - 1 :],
            np.convolve(trace.rps, kernel, mode="valid"),
            lw=1.2,
            color="tab:red",
            label=f"{args.smooth} s mean",
        )
        ax.legend(loc="upper right", fontsize=8)
    ax.set_xlabel("time [s]")
    ax.set_ylabel("rate [req/s]")
    ax.set_title(f"{trace.name}: mean {trace.mean:.3g}, max {trace.max:.3g} req/s", fontsize=10)
    ax.set_xlim(0, max(len(trace) - 1, 1))
    ax.set_ylim(bottom=0)
    fig.tight_layout()
    try:
        fig.savefig(args.output, dpi=args.dpi)
    except OSError as exc:
        raise TraceError(f"cannot write {args.output!r} ({exc})") from None
    finally:
        plt.close(fig)
    print(f"wrote {args.output}")
    return 0


# -- fetch ----------------------------------------------------------------------------------------
def _cmd_fetch(args: argparse.Namespace) -> int:
    from pathlib import Path

    from themis_env.traces.fetch import fetch

    dest = Path(args.dest).expanduser() if args.dest else None
    path = fetch(args.name, source=args.source, dest_dir=dest, timeout=args.timeout)
    print(f"{args.name}: installed {path}")
    return 0


def add_parser(subparsers: Any) -> None:
    """Add the ``traces`` command group."""
    parser = subparsers.add_parser("traces", help="list, inspect, plot and fetch workload traces")
    sub = parser.add_subparsers(dest="traces_command", metavar="SUBCOMMAND")
    parser.set_defaults(func=lambda _args: parser.print_help() or 2)

    p_list = sub.add_parser(
        "list", help="named traces (found or missing), windows, patterns, formats"
    )
    p_list.add_argument(
        "--trace-dir", default=None, help="extra folder searched first for named traces"
    )
    p_list.set_defaults(func=_cmd_list)

    p_show = sub.add_parser("show", help="statistics of a trace")
    _add_trace_args(p_show)
    p_show.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    p_show.set_defaults(func=_cmd_show)

    p_plot = sub.add_parser("plot", help="plot a trace to an image file (needs matplotlib)")
    _add_trace_args(p_plot)
    p_plot.add_argument(
        "-o", "--output", required=True, help="image file to write (.png, .pdf, .svg)"
    )
    p_plot.add_argument(
        "--smooth", type=int, default=60, help="overlay a moving mean over this many s (0: off)"
    )
    p_plot.add_argument("--dpi", type=int, default=120)
    p_plot.set_defaults(func=_cmd_plot)

    p_fetch = sub.add_parser(
        "fetch", help="download a named trace into the cache, or install a local copy"
    )
    p_fetch.add_argument("name", metavar="NAME", help="twitter-2021-08, nasa-1995 or worldcup-1998")
    p_fetch.add_argument(
        "--from", dest="source", default=None, metavar="FILE", help="install this local file"
    )
    p_fetch.add_argument("--dest", default=None, help="target folder (default: the user cache)")
    p_fetch.add_argument("--timeout", type=float, default=60.0, help="network timeout [s]")
    p_fetch.set_defaults(func=_cmd_fetch)
