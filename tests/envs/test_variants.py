"""The env with model variants: spaces, masks, reward, info; and unchanged without variants."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from themis_env.envs.wrappers import DiscreteActionWrapper
from themis_env.errors import ConfigError, InvalidActionError

from .conftest import make, same

INFADAPTER = "themis_env/InfAdapter-Resnet-v0"
VIDEO = "themis_env/Video-Variants-v0"


def test_one_model_scenarios_keep_their_spaces_info_and_kpis():
    env = make("themis_env/Video-Bursty-v0")
    assert env.action_space == spaces.MultiDiscrete([32, 8, 8, 32, 8, 8])
    assert list(env.unwrapped.layout.keys) == [
        "replicas",
        "replicas_ready",
        "replicas_starting",
        "replicas_pending",
        "cores",
        "batch",
        "queue_len",
        "utilisation",
        "arrival_rate",
        "latency_ms",
        "violation",
        "free_cores",
    ]
    _, info = env.reset(seed=0)
    assert sorted(info) == sorted(
        ["sim_time_s", "trace_uri", "trace_fallback", "replicas", "cores", "batch"]
    )
    truncated = False
    while not truncated:
        _, _, _, truncated, info = env.step(env.action_space.sample())
    assert "accuracy" not in info and set(info["reward_terms"]) == {"slo", "cost"}
    assert not any("accuracy" in k or "variant" in k for k in info["episode_kpis"])


def test_infadapter_spaces_have_one_replica_count_per_variant():
    env = make(INFADAPTER)
    # Five variants (0..20 replicas each), then cores 1..20 and batch 1.
    assert env.action_space == spaces.MultiDiscrete([21] * 5 + [20, 1])
    obs, info = env.reset(seed=0)
    assert obs["variant_replicas"].tolist() == [2, 0, 0, 0, 0]
    assert info["variant_replicas"] == [[2, 0, 0, 0, 0]] and info["replicas"] == [2]
    assert env.observation_space["accuracy"].high.tolist() == pytest.approx([0.78312])
    masks = env.unwrapped.action_masks()
    assert masks.shape == (int(env.action_space.nvec.sum()),)


def test_a_stage_with_fewer_variants_has_unused_slots_fixed_at_zero():
    env = make(VIDEO, action_mode="delta")
    limits = env.unwrapped.stage_limits
    assert limits[0].knobs[1:5] == ("unused replica slot",) * 4
    assert limits[0].highs[1:5] == (0, 0, 0, 0)
    env.reset(seed=0)
    masks = env.unwrapped.action_masks().reshape(-1, 3)
    assert not masks[1:5, 0].any() and not masks[1:5, 2].any()  # neither -1 nor +1
    discrete = DiscreteActionWrapper(make(VIDEO))
    assert not any("unused" in name for name in discrete.move_names)
    discrete.reset(seed=0)
    assert discrete.action_masks().shape == (discrete.action_space.n,)


def test_switching_variants_through_the_env_serves_the_new_variant():
    env = make(INFADAPTER, episode_s=240)
    env.reset(seed=1)
    # Target form: the values themselves for a low of 0 (cores − 1, batch − 1).
    action = np.array([0, 0, 4, 0, 0, 3, 0])
    for _ in range(4):
        obs, reward, _, truncated, info = env.step(action)
    assert info["variant_replicas"] == [[0, 0, 4, 0, 0]]
    assert obs["variant_replicas"].tolist() == [0, 0, 4, 0, 0]
    assert obs["accuracy"][0] == pytest.approx(0.7613, rel=1e-6)  # ResNet50's top-1
    assert info["accuracy"] == pytest.approx(0.7613, rel=1e-6)


def test_accuracy_weight_adds_its_term_and_only_it():
    def run(w: float) -> list[tuple[float, float]]:
        env = make(INFADAPTER, reward={"w_accuracy": w}, episode_s=150)
        env.action_space.seed(2)
        env.reset(seed=2)
        out = []
        for _ in range(5):
            _, reward, _, _, info = env.step(env.action_space.sample())
            out.append((reward, info["accuracy"]))
        return out

    base, weighted = run(0.0), run(0.5)
    for (r0, acc), (r1, acc1) in zip(base, weighted, strict=True):
        assert acc == acc1 and r1 == pytest.approx(r0 + 0.5 * acc, abs=1e-12)


def test_accuracy_weight_needs_declared_accuracies():
    with pytest.raises(ConfigError, match="w_accuracy' = 1.0 needs a pipeline"):
        gym.make("themis_env/Video-Bursty-v0", reward={"w_accuracy": 1.0})


def test_an_initial_variant_outside_the_stage_is_rejected():
    with pytest.raises(ConfigError, match=r"initial\[0\].variant' = 5 is not a variant"):
        gym.make(INFADAPTER, initial=[{"replicas": 1, "variant": 5}])


def test_a_wrong_action_names_the_variant():
    env = make(INFADAPTER)
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match="replicas of resnet101"):
        env.step(np.array([0, 0, 0, 21, 0, 0, 0]))


def test_variant_episodes_are_reproducible():
    def episode() -> list:
        env = make(VIDEO, episode_s=30)
        env.action_space.seed(4)
        records = [env.reset(seed=4)]
        truncated = False
        while not truncated:
            obs, reward, _, truncated, info = env.step(env.action_space.sample())
            records.append((obs, reward, info))
        return records

    assert same(episode(), episode())


def test_a_policy_without_variants_gets_a_clear_error_on_a_variant_scenario():
    from themis_env.errors import PolicyError

    env = make(INFADAPTER)
    env.reset(seed=0)
    with pytest.raises(PolicyError, match="does not handle model variants"):
        env.unwrapped.encode_targets([(2, 1, 1)])


@pytest.mark.parametrize("env_id", [INFADAPTER, VIDEO, "themis_env/Video-Bursty-v0"])
def test_the_action_limits_are_the_simulators(env_id):
    env = make(env_id).unwrapped
    assert env.codec.lows.tolist() == env.sim._lows.tolist()
    assert env.codec.highs.tolist() == env.sim._highs.tolist()
