"""Helpers for the env tests: short episodes, real traces when present, exact comparison."""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import themis_env
from themis_env.config import load_scenario
from themis_env.envs.registration import VERSIONS, preset_scenarios
from themis_env.resources import shared_traces_dir

ALL_IDS = themis_env.registered_ids()
# The v0 id: these tests pin its episodes, which must not change (v1 has its own tests).
GENERIC_ID = "themis_env/InferenceCluster-v0"
PRESETS = {k: v for version in VERSIONS for k, v in preset_scenarios(version).items()}
SHORT = {"episode_s": 20}
# The shared trace folder, when this machine has it: Twitter presets then run on the real
# trace instead of their synthetic fallback.
SHARED = shared_traces_dir()
TRACE_DIR = str(SHARED) if SHARED is not None else None

# Warnings a contract check may raise: only the documented fallback of a named trace.
ALLOWED_WARNINGS = ("is not available here; using the scenario's calibrated fallback",)

MODES = [
    (action_mode, obs_mode)
    for action_mode in ("target", "delta", "continuous")
    for obs_mode in ("dict", "flat")
]


def make(env_id: str = GENERIC_ID, **kwargs: Any) -> gym.Env:
    """``gym.make`` with short episodes; named traces from the shared folder when present.

    A short episode is 20 s, or three decisions where a decision takes longer (InfAdapter's
    30-s decisions), so that the checkers see an episode of several steps.
    """
    scenario = kwargs.get("scenario", PRESETS.get(env_id, ""))
    interval = load_scenario(scenario).decision_interval_s if scenario else 1.0
    kwargs = {"episode_s": max(SHORT["episode_s"], int(3 * interval)), **kwargs}
    if "twitter" in PRESETS.get(env_id, "") and TRACE_DIR is not None:
        kwargs.setdefault("trace_dir", TRACE_DIR)
    return gym.make(env_id, **kwargs)


def same(a: Any, b: Any) -> bool:
    """Exact structural equality; NaN equals NaN, dtypes and key order must match."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


def rollout(env: gym.Env, seed: int, steps: int) -> list[tuple[Any, ...]]:
    """``steps`` seeded random steps (resetting at truncation) as (obs, reward, info) records.

    Every observation is checked against the observation space on the way.
    """
    env.action_space.seed(seed)
    obs, info = env.reset(seed=seed)
    assert env.observation_space.contains(obs)
    records: list[tuple[Any, ...]] = [(obs, info)]
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs), f"observation out of space: {obs}"
        assert terminated is False
        records.append((obs, reward, truncated, info))
        if truncated:
            obs, info = env.reset()
            records.append((obs, info))
    return records


def check_allowed(caught: list[Any]) -> None:
    """Fail on any caught warning outside :data:`ALLOWED_WARNINGS`."""
    unexpected = [
        str(w.message) for w in caught if not any(a in str(w.message) for a in ALLOWED_WARNINGS)
    ]
    assert not unexpected, unexpected


@pytest.fixture
def env() -> gym.Env:
    """The generic id with 20-s episodes, closed after the test."""
    e = make()
    yield e
    e.close()
