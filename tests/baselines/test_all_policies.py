"""Every registered policy runs a whole (short) episode on every registered env id."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
from themis_env.baselines import make_policy, policy_names

from themis_env.envs.registration import registered_ids

EPISODE_S = 30


# The Twitter presets fall back to their synthetic trace where the real one is absent, and say so.
@pytest.mark.filterwarnings("ignore:trace .* is not available here")
@pytest.mark.parametrize("env_id", registered_ids())
@pytest.mark.parametrize("name", policy_names())
def test_policy_runs_a_full_episode_within_the_action_space(name, env_id):
    env = gym.make(env_id, episode_s=EPISODE_S)
    policy = make_policy(name, env)
    obs, _ = env.reset(seed=0)
    steps, truncated, info = 0, False, {}
    while not truncated:
        action, _ = policy.predict(obs, episode_start=np.array([steps == 0]))
        assert env.action_space.contains(action), f"{name} on {env_id}: {action!r} at step {steps}"
        obs, reward, terminated, truncated, info = env.step(action)
        assert not terminated and np.isfinite(reward)
        steps += 1
    assert steps == math.ceil(EPISODE_S / env.unwrapped.decision_interval_s - 1e-9)
    assert "episode_kpis" in info
    env.close()


@pytest.mark.parametrize("action_mode", ["delta", "continuous"])
@pytest.mark.parametrize("name", ["hpa", "vpa", "static", "random"])
def test_policy_works_with_every_action_form_and_flat_observations(name, action_mode):
    env = gym.make(
        "themis_env/Video-Bursty-v0", episode_s=EPISODE_S, action_mode=action_mode, obs_mode="flat"
    )
    policy = make_policy(name, env)
    obs, _ = env.reset(seed=1)
    policy.reset()
    truncated = False
    while not truncated:
        action = policy.act(obs)
        assert env.action_space.contains(action)
        obs, _, _, truncated, _ = env.step(action)
    env.close()
