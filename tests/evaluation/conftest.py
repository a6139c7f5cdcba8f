"""Fixtures: a tiny suite file and short specs, so every test runs in about a second."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.evaluation.helpers import HOLD, REACTIVE
from themis_env.evaluation.runner import RunSpec

SHORT = {"episode_s": 20}


@pytest.fixture
def short_spec() -> RunSpec:
    return RunSpec(
        scenario="smoke-video",
        seed=3,
        policy=REACTIVE,
        params={"per_replica_rps": 8.0},
        overrides=SHORT,
    )


def write_suite(path: Path, **changes: object) -> Path:
    data = {
        "name": "tiny",
        "scenarios": [
            {"scenario": "smoke-video", "label": "video-20s"},
            {"scenario": "smoke-video", "label": "video-15s", "overrides": {"episode_s": 15}},
        ],
        "seeds": 2,
        "overrides": SHORT,
        "policies": [{"name": HOLD, "label": "hold"}, {"name": REACTIVE, "label": "reactive"}],
        "reference": {"policies": ["hold"]},
    }
    data.update(changes)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def tiny_suite(tmp_path: Path) -> Path:
    return write_suite(tmp_path / "tiny.yaml")
