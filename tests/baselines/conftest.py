"""Fixtures shared by the baseline tests."""

from __future__ import annotations

import gymnasium as gym
import pytest

import themis_env  # noqa: F401  (registers the env ids)


@pytest.fixture(scope="module")
def video_env():
    """A real video env (2 stages, 1 s decisions); scripted tests need no reset."""
    env = gym.make("themis_env/Video-Bursty-v0", episode_s=60)
    yield env
    env.close()
