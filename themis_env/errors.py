"""Error hierarchy of themis-env.

Every error a user can trigger derives from :class:`ThemisError` and from the builtin that
fits it (``ValueError``, ``KeyError``, ``ImportError``), so callers can catch either the
domain error or the builtin. Messages name the file, the key, the value and what is allowed.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "ThemisError",
    "ConfigError",
    "ScenarioNotFound",
    "TraceError",
    "TraceNotFound",
    "InvalidActionError",
    "DependencyNotInstalled",
    "PolicyError",
    "RecordError",
    "ProfileError",
    "ServeError",
    "did_you_mean",
]


class ThemisError(Exception):
    """Base class of every error raised by themis-env."""


class ConfigError(ThemisError, ValueError):
    """A configuration file or override is malformed or holds an impossible value."""


class ScenarioNotFound(ConfigError, KeyError):
    """A scenario, pipeline, model or suite name that no shipped or given file defines."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class TraceError(ThemisError, ValueError):
    """A workload trace is malformed, empty, or asked for outside its range."""


class TraceNotFound(TraceError, FileNotFoundError):
    """A named trace is not present locally; the message says how to obtain it."""


class InvalidActionError(ThemisError, ValueError):
    """An action outside the env's action space."""


class PolicyError(ThemisError, ValueError):
    """An unknown policy name or a policy that cannot run on the given env."""


class RecordError(ThemisError, ValueError):
    """A run record that is not a well-formed record of a schema this version reads."""


class ProfileError(ThemisError, RuntimeError):
    """A model failed while being profiled, or the profiling process ended early."""


class ServeError(ThemisError, RuntimeError):
    """A real serving backend's replica failed, ended early or did not start in time."""


class DependencyNotInstalled(ThemisError, ImportError):
    """An optional dependency is missing; the message gives the pip command to run."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return a ``" Did you mean 'x'?"`` suffix for the closest choices, or an empty string."""
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.5)
    if not close:
        return ""
    return " Did you mean " + " or ".join(repr(c) for c in close) + "?"
