from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from tests.envs.conftest import GENERIC_ID
from themis_env.envs.inference_cluster import InferenceClusterEnv
from themis_env.envs.views import (
    PolicyView,
    PrivilegedView,
    missing_members,
    policy_view,
    privileged_view,
)
from themis_env.envs.wrappers import ClipAction


def test_the_env_provides_both_views_before_and_after_reset() -> None:
    env = InferenceClusterEnv("smoke-video", episode_s=10)
    assert isinstance(env, PolicyView)
    # Before reset only the static check answers for the trace (isinstance reads properties
    # on Python < 3.12, and episode_rates raises until reset).
    assert missing_members(env, PrivilegedView) == []
    with pytest.raises(gym.error.ResetNeeded):
        _ = env.episode_rates
    env.reset(seed=0)
    assert isinstance(env, PrivilegedView)
    assert len(env.episode_rates) == 10
    env.close()


def test_views_see_through_wrappers_and_name_what_is_missing() -> None:
    env = ClipAction(gym.make(GENERIC_ID, scenario="smoke-video"))
    assert policy_view(env) is env.unwrapped
    assert privileged_view(env) is env.unwrapped
    assert not isinstance(object(), PolicyView)
    missing = missing_members(object(), PrivilegedView)
    assert {"encode_targets", "obs_as_dict", "stage_limits", "future_rates"} <= set(missing)
    assert "episode_rates" in missing and missing == sorted(missing)


def test_free_cores_is_the_observed_figure_unclipped() -> None:
    env = InferenceClusterEnv("smoke-video", episode_s=10)
    obs, _ = env.reset(seed=0)
    free = env.free_cores()
    np.testing.assert_array_equal(np.clip(free, 0, env.cluster.cores_per_node), obs["free_cores"])
    free[:] = -1  # a copy: the caller cannot change the cluster
    assert (env.free_cores() != -1).all()
