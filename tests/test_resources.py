"""Where a run finds the real traces, and that its worker processes find the same folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from themis_env import resources


def test_an_explicit_folder_wins_and_is_exported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("THEMIS_TRACE_DIR", "/elsewhere")
    assert resources.use_trace_dir(tmp_path) == tmp_path
    assert os.environ["THEMIS_TRACE_DIR"] == str(tmp_path)


def test_the_environment_comes_before_the_shared_folder(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("THEMIS_TRACE_DIR", "/from/env")
    monkeypatch.setattr(resources, "shared_traces_dir", lambda: Path("/shared"))
    assert resources.use_trace_dir() == Path("/from/env")


def test_no_folder_exports_nothing(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("THEMIS_TRACE_DIR", raising=False)
    monkeypatch.setattr(resources, "shared_traces_dir", lambda: None)
    assert resources.use_trace_dir() is None
    assert "THEMIS_TRACE_DIR" not in os.environ
