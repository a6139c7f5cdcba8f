"""Every registered policy runs a whole (short) episode on every registered env id."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
from themis_env.baselines import make_policy, policy_names

from themis_env.config import load_pipeline, load_scenario
from themis_env.envs.registration import preset_scenarios, registered_ids
from themis_env.errors import PolicyError

EPISODE_S = 30


def _has_variants(env_id: str) -> bool:
    return load_pipeline(load_scenario(preset_scenarios()[env_id]).pipeline).n_variants > 1


# The reference policies set replicas, cores and batch per stage; the scenarios with model
# variants (a replica count per variant) get their policies (IPA, InfAdapter) separately.
ONE_MODEL_IDS = [i for i in registered_ids() if not _has_variants(i)]
VARIANT_IDS = [i for i in registered_ids() if _has_variants(i)]
# Policies that only make sense with model variants; they refuse other scenarios clearly.
VARIANT_POLICIES = {
    "infadapter",
    "msp",
    "ipa",
    "fa2-low",
    "fa2-high",
    "rim-high",
    "themis-variants",
}
# The variant ids each of those runs on (InfAdapter: one stage with variants).
RUNS_ON = {
    "infadapter": ["themis_env/InfAdapter-Resnet-v0"],
    "msp": ["themis_env/InfAdapter-Resnet-v0"],
    "vpa": VARIANT_IDS,
    "themis-headroom": VARIANT_IDS,  # themis-variants on these, themis elsewhere
    **{name: VARIANT_IDS for name in ("ipa", "fa2-low", "fa2-high", "rim-high", "themis-variants")},
}


# The Twitter presets fall back to their synthetic trace where the real one is absent, and say so.
@pytest.mark.filterwarnings("ignore:trace .* is not available here")
@pytest.mark.parametrize("env_id", ONE_MODEL_IDS)
@pytest.mark.parametrize("name", policy_names())
def test_policy_runs_a_full_episode_within_the_action_space(name, env_id):
    env = gym.make(env_id, episode_s=EPISODE_S)
    if name in VARIANT_POLICIES:
        with pytest.raises(PolicyError, match="variant"):
            make_policy(name, env)
        return
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


@pytest.mark.filterwarnings("ignore:trace .* is not available here")
@pytest.mark.parametrize("env_id", VARIANT_IDS)
@pytest.mark.parametrize("name", policy_names())
def test_on_a_variant_scenario_a_policy_runs_or_refuses_clearly(name, env_id):
    env = gym.make(env_id, episode_s=EPISODE_S)
    obs, _ = env.reset(seed=0)
    try:
        policy = make_policy(name, env)
        for steps in range(3):
            action, _ = policy.predict(obs, episode_start=np.array([steps == 0]))
            assert env.action_space.contains(action)
            obs, *_ = env.step(action)
    except PolicyError as exc:  # a policy that sets (replicas, cores, batch) per stage
        assert env_id not in RUNS_ON.get(name, []), f"{name} must run on {env_id}: {exc}"
        assert "variant" in str(exc) or "preset" in str(exc), str(exc)
    env.close()
