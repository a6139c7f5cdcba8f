"""Vectorised use: Gymnasium make_vec (sync and async) and SB3 VecEnvs."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from .conftest import GENERIC_ID, make, same


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_make_vec_runs_and_matches_single_envs(mode):
    vec = gym.make_vec(
        "themis_env:" + GENERIC_ID,
        num_envs=2,
        vectorization_mode=mode,
        episode_s=5,
        obs_mode="flat",
    )
    try:
        obs, _ = vec.reset(seed=7)
        assert obs.shape == (2, *vec.single_observation_space.shape)
        vec.action_space.seed(0)
        actions = [vec.action_space.sample() for _ in range(6)]
        rewards = []
        for a in actions:
            obs, reward, terminated, truncated, _ = vec.step(a)
            assert vec.observation_space.contains(obs)
            rewards.append(reward)
        assert not terminated.any()
    finally:
        vec.close()
    # Sub-env i is seeded with seed + i and equals a single env run with the same actions.
    for i in range(2):
        single = make(episode_s=5, obs_mode="flat")
        single.reset(seed=7 + i)
        for step, a in enumerate(actions[:5]):  # autoreset follows the 5th (truncating) step
            _, reward, *_ = single.step(a[i])
            assert same(reward, float(rewards[step][i]))


@pytest.mark.sb3
def test_sb3_dummy_and_subproc_vec_envs_run_and_agree():
    pytest.importorskip("stable_baselines3")
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    kwargs = {"episode_s": 4}
    records = []
    for cls, vec_kwargs in ((DummyVecEnv, None), (SubprocVecEnv, {"start_method": "fork"})):
        vec = make_vec_env(
            "themis_env:" + GENERIC_ID,
            n_envs=2,
            seed=3,
            vec_env_cls=cls,
            env_kwargs=kwargs,
            vec_env_kwargs=vec_kwargs,
        )
        try:
            obs = vec.reset()
            assert set(obs) == set(vec.observation_space.spaces)
            vec.action_space.seed(0)
            rewards, dones = [], []
            for _ in range(5):
                action = np.stack([vec.action_space.sample() for _ in range(2)])
                obs, reward, done, infos = vec.step(action)
                rewards.append(reward)
                dones.append(done)
            # SB3 resets at once on truncation and marks it for bootstrapping.
            assert dones[3].all() and infos is not None
            records.append(np.array(rewards, dtype=np.float32))  # Dummy stores float32
        finally:
            vec.close()
    np.testing.assert_array_equal(records[0], records[1])
