"""themis-variants: the variant choice, the rolling switch, refusal and determinism."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from themis_env.baselines import make_policy
from themis_env.baselines.themis.variants import ThemisVariantsPolicy

from themis_env.errors import PolicyError

pytestmark = pytest.mark.filterwarnings("ignore:trace .* is not available here")
VIDEO = "themis_env/Video-Variants-v0"


def test_the_weights_decide_the_variant() -> None:
    env = gym.make(VIDEO, episode_s=60)
    history = np.full(30, 20.0)
    # Accuracy only: the most accurate classifier (ResNet152, index 4) the DP can serve.
    greedy = ThemisVariantsPolicy(env, w_accuracy=1.0, w_cost=0.0)
    greedy._choose(history)
    assert greedy.combos[greedy.combo] == (0, 4)
    # Cost only: stay on ResNet18 (the initial, and the cheapest).
    thrifty = ThemisVariantsPolicy(env, w_accuracy=0.0, w_cost=1.0)
    thrifty._choose(history)
    assert thrifty.combos[thrifty.combo] == (0, 0)
    # The score is accuracy minus cores over the cluster's 32, by hand for ResNet18.
    plan = thrifty.solvers[0].horizontal(20.0)
    cores = sum(r * c for r, c, _ in plan.targets())
    acc = 1.0 + 69.75 / 78.31  # yolov5n over itself, resnet18 over resnet152, summed
    assert greedy.score(0, 20.0) == pytest.approx(acc)
    assert thrifty.score(0, 20.0) == pytest.approx(-cores / 32)


def test_a_switch_keeps_the_old_replicas_until_the_new_are_ready() -> None:
    env = gym.make(VIDEO, episode_s=120)
    policy = ThemisVariantsPolicy(env, w_accuracy=1.0, w_cost=0.0, variant_interval_s=10)
    obs, _ = env.reset(seed=0)
    policy.reset()
    both = switched = finished = False
    for _ in range(120):
        rolling = policy._old[1] is not None
        action = policy.act(obs)
        finished |= rolling and policy._old[1] is None
        assert env.action_space.contains(action)
        replicas = np.asarray(action)[7:12]  # classifier: 5 variant slots (target form)
        switched |= policy.combo != policy.initial_combo
        both |= bool(replicas[0] > 0 and replicas[policy.combos[policy.combo][1]] > 0)
        obs, _, _, truncated, _ = env.step(action)
        if truncated:
            break
    assert switched and both
    assert finished  # a rollout ended: the new replicas were ready and the old ones went


def test_same_seed_same_actions_and_refusal() -> None:
    def run() -> list[list[int]]:
        env = gym.make(VIDEO, episode_s=90)
        policy = make_policy("themis-variants", env)
        obs, _ = env.reset(seed=2)
        out, truncated = [], False
        while not truncated:
            action, _ = policy.predict(obs)
            out.append(action.tolist())
            obs, _, _, truncated, _ = env.step(action)
        return out

    assert run() == run()
    with pytest.raises(PolicyError, match="variants"):
        make_policy("themis-variants", gym.make("themis_env/Video-Bursty-v0", episode_s=30))
