"""IPA, FA2-low, FA2-high and RIM-high as policies: hand-checked plans, rollouts, fallback."""

from __future__ import annotations

from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest
from themis_env.baselines import make_policy
from themis_env.baselines.ipa.policy import (
    FA2HighPolicy,
    FA2LowPolicy,
    IpaPolicy,
    RIMHighPolicy,
)

from themis_env.envs.actions import StageLimits
from themis_env.errors import PolicyError
from themis_env.sim.latency import LatencyModel

H = 60


def model(name: str, accuracy: float, ms_per_request: float):
    latency = LatencyModel(kind="parametric", alpha=ms_per_request, beta=0.0, gamma=0.0, zeta=0.0)
    return SimpleNamespace(name=name, accuracy=accuracy, load_time_s=5.0, latency=latency)


class StandIn:
    """One stage, two variants at batch 1: small 10 req/s and big 5 req/s per one-core replica."""

    def __init__(self) -> None:
        models = (model("small", 0.7, 100.0), model("big", 0.8, 200.0))
        self.stage_limits = [StageLimits("classifier", 1, 10, 4, 1, ("small", "big"), 2)]
        self.n_stages = 1
        self.scenario = SimpleNamespace(name="two-variants")
        self.pipeline = SimpleNamespace(stage_models=(models,))
        self.slo_ms = 750.0
        self.decision_interval_s = 10.0
        self.current_targets = [(2, 0, 1, 1)]

    def obs_as_dict(self, obs):
        return obs

    def encode_targets(self, targets):
        return np.asarray(targets[0])


def obs(rate: float, replicas=(2, 0), starting: int = 0) -> dict[str, np.ndarray]:
    return {
        "arrival_rate": np.full(H, rate),
        "variant_replicas": np.asarray(replicas, dtype=float),
        "batch": np.array([1.0]),
        "replicas_starting": np.array([float(starting)]),
        "replicas_pending": np.array([0.0]),
    }


def first_plan(cls, rate: float) -> tuple[list[int], IpaPolicy]:
    policy = cls(StandIn(), weights=None)
    policy.reset()
    assert policy.act(obs(rate)).tolist() == [2, 0, 1, 1]  # reset: nothing observed yet
    return policy.act(obs(rate, starting=0)).tolist(), policy


# Objective 2·rank − cores (rank: small 0, big 1). At 10 req/s: small 1 replica −1, big 2
# replicas 0 → big. At 30: small 3 → −3, big 6 → −4 → small.
def test_ipa_by_hand_and_the_rollout_keeps_the_old_variant_until_the_new_is_ready() -> None:
    action, policy = first_plan(IpaPolicy, 10)
    assert action == [2, 2, 1, 1]  # big ×2 asked for; the two small ones stay meanwhile
    assert policy.act(obs(10, replicas=(2, 2), starting=2)).tolist() == [2, 2, 1, 1]
    assert policy.act(obs(10, replicas=(2, 2))).tolist() == [0, 2, 1, 1]
    assert first_plan(IpaPolicy, 30)[0] == [3, 0, 1, 1]


def test_baselines_by_hand() -> None:
    assert first_plan(FA2LowPolicy, 10)[0] == [1, 0, 1, 1]
    assert first_plan(FA2HighPolicy, 10)[0] == [2, 2, 1, 1]
    # RIM-high: replicas fixed at 2 × what big needs at the first forecast (2) = 4; then
    # switch mode at 4 replicas: small −4, big 2 − 4 = −2 → big.
    action, policy = first_plan(RIMHighPolicy, 10)
    assert action == [2, 4, 1, 1]
    assert policy._fixed_replicas == [4]


def test_infeasible_load_keeps_the_current_configuration() -> None:
    action, policy = first_plan(IpaPolicy, 200)  # small needs 20 replicas > 10
    assert not policy.plans[-1].feasible
    assert action == [2, 0, 1, 1]


@pytest.mark.filterwarnings("ignore:trace .* is not available here")
@pytest.mark.parametrize("name", ["ipa", "fa2-low", "fa2-high", "rim-high"])
def test_plans_respect_the_constraints_and_runs_repeat(name) -> None:
    def run() -> tuple[list[list[int]], list]:
        env = gym.make("themis_env/Video-Variants-v0", episode_s=90)
        policy = make_policy(name, env)
        o, _ = env.reset(seed=5)
        out, truncated = [], False
        while not truncated:
            a, _ = policy.predict(o)
            assert env.action_space.contains(a)
            out.append(a.tolist())
            o, _, _, truncated, _ = env.step(a)
        return out, policy.plans

    actions, plans = run()
    assert plans
    for plan in plans:
        if plan.feasible:
            assert plan.latency_ms <= 780.0 * (1 + 1e-9)
            for st in plan.stages:
                assert 1 <= st.replicas <= 16
                assert st.batch <= 8
    assert run()[0] == actions


def test_refuses_scenarios_without_variants() -> None:
    env = gym.make("themis_env/Video-Bursty-v0", episode_s=30)
    with pytest.raises(PolicyError, match="variant"):
        IpaPolicy(env)
    with pytest.raises(PolicyError, match="rim_headroom"):
        RIMHighPolicy(StandIn(), rim_headroom=0.5)
