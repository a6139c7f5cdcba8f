"""The baselines read the env only through the views of themis_env.envs.views."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from themis_env.baselines import make_policy, policy_names

from themis_env.envs.views import PolicyView, PrivilegedView, missing_members

PRIVILEGED = {"static", "oracle"}
# Policies for model variants run on a scenario with them, for (episode_s, steps) of it.
VARIANT_ENVS = {
    "infadapter": ("themis_env/InfAdapter-Resnet-v0", 240, 8),
    "msp": ("themis_env/InfAdapter-Resnet-v0", 240, 8),
    **{
        name: ("themis_env/Video-Variants-v0", 40, 40)
        for name in ("ipa", "fa2-low", "fa2-high", "rim-high", "themis-variants")
    },
}


class OnlyThe:
    """Forwards to ``env`` exactly the members ``protocol`` declares; anything else fails."""

    def __init__(self, env: Any, protocol: type) -> None:
        self._env = env
        self._allowed = set(missing_members(object(), protocol))

    def __getattr__(self, name: str) -> Any:
        if name not in self._allowed:
            raise AttributeError(f"a policy read {name!r}, which its view does not declare")
        return getattr(self._env, name)


@pytest.mark.parametrize("name", policy_names())
def test_each_baseline_acts_the_same_through_its_view_alone(name: str) -> None:
    env_id, episode_s, expected = VARIANT_ENVS.get(name, ("themis_env/Video-Bursty-v0", 40, 40))
    env = gym.make(env_id, episode_s=episode_s)
    protocol = PrivilegedView if name in PRIVILEGED else PolicyView
    direct = make_policy(name, env)
    viewed = make_policy(name, OnlyThe(env.unwrapped, protocol))
    assert direct.privileged == (name in PRIVILEGED)
    obs, _ = env.reset(seed=1)
    for policy in (direct, viewed):
        policy.reset()
    steps = 0
    while True:
        action = direct.act(obs)
        np.testing.assert_array_equal(viewed.act(obs), action)
        obs, _, terminated, truncated, _ = env.step(action)
        steps += 1
        if terminated or truncated:
            break
    assert steps == expected
    env.close()


def test_a_policy_that_reads_beyond_its_view_is_caught() -> None:
    env = gym.make("themis_env/Video-Bursty-v0", episode_s=10)
    obs, _ = env.reset(seed=0)
    with pytest.raises(AttributeError, match="'episode_rates'"):
        make_policy("static", OnlyThe(env.unwrapped, PolicyView)).act(obs)
    env.close()
