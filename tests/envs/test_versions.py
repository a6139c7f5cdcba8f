"""Env versions: v1 places and resizes as Kubernetes does, v0 ids keep the old dynamics."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import themis_env
from themis_env.config import load_scenario
from themis_env.envs.registration import VERSION, VERSIONS, preset_scenarios, registered_ids
from themis_env.envs.views import PolicyView, missing_members
from themis_env.errors import ConfigError

V0 = "themis_env/InferenceCluster-v0"
V1 = "themis_env/InferenceCluster-v1"
pytestmark = pytest.mark.filterwarnings("ignore:.*is out of date:DeprecationWarning")


def _make(env_id: str, **kwargs) -> gym.Env:
    return gym.make(env_id, scenario="smoke-video", episode_s=20, **kwargs)


def test_every_preset_is_registered_in_every_version_and_v1_is_the_latest():
    assert VERSION == 1 and VERSIONS == (0, 1)
    assert themis_env.registered_ids() == registered_ids(1)
    for version in VERSIONS:
        for env_id in preset_scenarios(version):
            assert env_id.endswith(f"-v{version}") and env_id in gym.registry
    assert gym.registry[V0].kwargs == {"scenario": "video-arxiv-bursty", "env_version": 0}
    assert gym.registry[V1].kwargs == {"scenario": "video-arxiv-bursty"}


def test_v1_places_and_resizes_as_kubernetes_and_says_so_in_its_config_data():
    env = _make(V1).unwrapped
    assert (env.cluster.placement, env.cluster.resize_policy) == ("spread", "defer")
    cluster = env.describe()["cluster"]
    # Stated, not left to a default: a record replays the same under any version.
    assert (cluster["placement"], cluster["resize_policy"]) == ("spread", "defer")


def test_v0_keeps_first_fit_and_failed_resizes_and_its_config_data_as_before():
    env = _make(V0).unwrapped
    assert (env.cluster.placement, env.cluster.resize_policy) == ("first-fit", "fail")
    cluster = env.describe()["cluster"]
    assert "placement" not in cluster and "resize_policy" not in cluster


def test_a_scenario_or_override_that_states_the_dynamics_wins_in_either_version():
    assert _make(V0, cluster={"placement": "spread"}).unwrapped.cluster.placement == "spread"
    env = _make(V1, cluster={"placement": "most-allocated", "nodes": 3}).unwrapped
    assert (env.cluster.placement, env.cluster.resize_policy, env.cluster.nodes) == (
        "most-allocated",
        "defer",
        3,
    )


def test_load_scenario_takes_the_latest_version_and_refuses_an_unknown_one():
    assert load_scenario("smoke-video").cluster.placement == "spread"
    assert load_scenario("smoke-video", env_version=0).cluster.placement == "first-fit"
    with pytest.raises(
        ConfigError, match=r"env version 7 does not exist; the versions are \[0, 1\]"
    ):
        load_scenario("smoke-video", env_version=7)


def test_v1_reports_deferred_and_infeasible_resizes_and_policies_can_read_them():
    # One node of 4 cores and stage cores up to 8: 6 cores are Infeasible.
    env = _make(V1, cluster={"nodes": 1, "cores_per_node": 4})
    env.reset(seed=0)
    core = env.unwrapped
    assert missing_members(core, PolicyView) == []
    targets = [(1, 6, 1), (1, 1, 1)]
    _, _, _, _, info = env.step(core.encode_targets(targets))
    assert (info["infeasible_resizes"], info["deferred_resizes"], info["failed_resizes"]) == (
        1,
        0,
        0,
    )
    assert core.unresized_replicas().tolist() == [1, 0]
    # 3 cores fit an empty node but not this one (the classifier holds 1 of its 4): Deferred.
    _, _, _, _, info = env.step(core.encode_targets([(1, 4, 1), (1, 1, 1)]))
    assert (info["infeasible_resizes"], info["deferred_resizes"]) == (0, 1)
    assert isinstance(core.unresized_replicas(), np.ndarray)


def test_v1_with_first_fit_and_failed_resizes_stated_runs_v0s_episode_exactly():
    # The old dynamics stay reachable from v1 by naming them: same seed, same actions, same
    # observations, rewards and infos (but the deferred/infeasible figures v1 adds under defer).
    v0 = _make(V0)
    v1 = _make(V1, cluster={"placement": "first-fit", "resize_policy": "fail"})
    obs0, _ = v0.reset(seed=3)
    obs1, _ = v1.reset(seed=3)
    v0.action_space.seed(3)
    for _ in range(20):
        action = v0.action_space.sample()
        obs0, r0, _, t0, info0 = v0.step(action)
        obs1, r1, _, t1, info1 = v1.step(action)
        assert r0 == r1 and t0 == t1 and info0 == info1
        assert all(np.array_equal(obs0[k], obs1[k]) for k in obs0)
