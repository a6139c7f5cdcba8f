"""Locate the data shipped with the package: ``configs/`` and ``traces/``.

In a source checkout they are the top-level folders of the repository; in an installed
wheel they are the package-data packages ``themis_env._configs`` and ``themis_env._traces``.
Either way the lookup does not depend on the current directory.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

__all__ = ["configs_dir", "traces_dir", "repo_root", "shared_traces_dir", "use_trace_dir"]

_PACKAGE_DIR = Path(__file__).resolve().parent


def _package_data_dir(package: str, folder: str) -> Path:
    root = repo_root()
    if root is not None and (root / folder).is_dir():
        return root / folder
    spec = importlib.util.find_spec(package)
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    raise FileNotFoundError(f"themis-env data folder {folder!r} not found; reinstall the package")


def configs_dir() -> Path:
    """Folder holding ``models/``, ``pipelines/``, ``scenarios/``, ``suites/`` and ``agents/``."""
    return _package_data_dir("themis_env._configs", "configs")


def traces_dir() -> Path:
    """Folder holding the small trace files the project generates and ships."""
    return _package_data_dir("themis_env._traces", "traces")


def repo_root() -> Path | None:
    """The source checkout's root, or None for an installed wheel."""
    root = _PACKAGE_DIR.parent
    return root if (root / "pyproject.toml").is_file() else None


def shared_traces_dir() -> Path | None:
    """The team's ``../shared/traces`` folder beside a checkout, when present."""
    root = repo_root()
    if root is None:
        return None
    shared = root.parent / "shared" / "traces"
    return shared if shared.is_dir() else None


def use_trace_dir(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The real-trace folder a run reads, exported as ``THEMIS_TRACE_DIR`` for its workers.

    The first of ``explicit``, ``$THEMIS_TRACE_DIR`` and :func:`shared_traces_dir`; None (and
    nothing exported) when there is none, so named traces fall back to their synthetic stand-ins.
    """
    found = explicit or os.environ.get("THEMIS_TRACE_DIR") or shared_traces_dir()
    if not found:
        return None
    os.environ["THEMIS_TRACE_DIR"] = str(found)  # worker processes inherit it
    return Path(found)
