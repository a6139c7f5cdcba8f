"""Fixtures for the trace tests: the team's real traces (skipped when absent) and isolation."""

from __future__ import annotations

from pathlib import Path

import pytest

from themis_env.resources import shared_traces_dir


@pytest.fixture(autouse=True)
def _isolated_lookup(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No test sees the user's THEMIS_TRACE_DIR or cache; each gets an empty cache folder."""
    monkeypatch.delenv("THEMIS_TRACE_DIR", raising=False)
    monkeypatch.setenv("THEMIS_TRACE_CACHE", str(tmp_path_factory.mktemp("trace-cache")))


@pytest.fixture(scope="session")
def shared() -> Path:
    """``../shared/traces`` beside the checkout; the test is skipped when it is absent."""
    folder = shared_traces_dir()
    if folder is None or not (folder / "SOURCES.md").is_file():
        pytest.skip("real traces not present (../shared/traces beside the checkout)")
    return folder
