"""The ``themis-env`` command line.

Each command group lives in its own module exposing ``add_parser(subparsers)``; the module
sets ``func`` on its parser, which receives the parsed arguments and returns an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import os
import sys
from collections.abc import Sequence

from themis_env.errors import ThemisError

__all__ = ["main", "build_parser"]

# Command modules, imported lazily so `themis-env --help` stays fast.
COMMAND_MODULES = (
    "themis_env.cli.traces",
    "themis_env.cli.evaluate",
    "themis_env.cli.scenarios",
    "themis_env.cli.profile",
)


def _version() -> str:
    try:
        return importlib.metadata.version("themis-env")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every command group (an import error in one surfaces)."""
    parser = argparse.ArgumentParser(
        prog="themis-env",
        description="Autoscaling benchmark for ML inference serving (Themis setting).",
    )
    parser.add_argument("--version", action="version", version=f"themis-env {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``themis-env`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a reader that went away (`| head`) shows up here, not at exit
        return code
    except BrokenPipeError:
        # Stop quietly, as a command killed by SIGPIPE does, and keep Python's exit-time
        # flush of stdout from failing again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except ThemisError as exc:
        print(f"themis-env: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("themis-env: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
