"""InfAdapter and MSP as policies: hand-checked plans, pacing, fallback, determinism."""

from __future__ import annotations

from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest
from themis_env.baselines import make_policy
from themis_env.baselines.infadapter.policy import InfAdapterPolicy, MSPPolicy

from themis_env.envs.actions import StageLimits
from themis_env.errors import PolicyError
from themis_env.sim.latency import LatencyModel

H = 60


def model(name: str, accuracy: float, ms_per_request: float, load_time_s: float = 5.0):
    latency = LatencyModel(kind="parametric", alpha=ms_per_request, beta=0.0, gamma=0.0, zeta=0.0)
    return SimpleNamespace(name=name, accuracy=accuracy, load_time_s=load_time_s, latency=latency)


class StandIn:
    """Only what the policy reads: one stage with two variants on 10 cores."""

    def __init__(self, dt: float = 30.0) -> None:
        models = (model("small", 0.7, 50.0), model("big", 0.8, 100.0))  # 20 and 10 req/s per core
        self.stage_limits = [StageLimits("classifier", 1, 10, 10, 1, ("small", "big"), 2)]
        self.n_stages = 1
        self.scenario = SimpleNamespace(name="two-variants")
        self.cluster = SimpleNamespace(nodes=1, cores_per_node=10)
        self.pipeline = SimpleNamespace(stage_models=(models,))
        self.slo_ms = 750.0
        self.decision_interval_s = dt
        self.current_targets = [(2, 0, 1, 1)]

    def obs_as_dict(self, obs):
        return obs

    def encode_targets(self, targets):
        return np.asarray(targets[0])


def obs(rate: float, replicas=(2, 0), cores: int = 1) -> dict[str, np.ndarray]:
    return {
        "arrival_rate": np.full(H, rate),
        "variant_replicas": np.asarray(replicas, dtype=float),
        "cores": np.array([float(cores)]),
    }


def run(policy, rates):
    policy.reset()
    return [policy.act(obs(r)).tolist() for r in rates]


def test_plan_by_hand_most_accurate_variant_alone() -> None:
    # Forecast int(1.1 · 20) = 22 req/s. Capacity at 0.8: small 16 n, big 8 n. big on 3 cores
    # scores 0.8 − 0.05·3/10 = 0.785; small on 2: 0.69; big 2 + small 2: 0.7727 − 0.02 = 0.7527.
    policy = InfAdapterPolicy(StandIn(), weights=None)
    actions = run(policy, [20, 20])
    assert actions[0] == [2, 0, 1, 1]  # reset: nothing observed yet, the initial config stands
    assert actions[1] == [0, 3, 1, 1]  # three one-core big replicas
    assert policy.plan is not None and policy.plan.load == 22 and policy.plan.feasible


def test_msp_by_hand_and_a_mix_when_it_pays() -> None:
    # At 90 req/s (forecast 99) big alone needs 13 cores > 10, small alone 7 (112 req/s): MSP.
    # A mix with some big replicas has a higher accuracy term, and InfAdapter takes one.
    msp = MSPPolicy(StandIn(), weights=None)
    assert run(msp, [90, 90])[1] == [7, 0, 1, 1]
    inf = InfAdapterPolicy(StandIn(), weights=None)
    small, big, cores, batch = run(inf, [90, 90])[1]
    assert (cores, batch) == (1, 1) and big >= 2 and small + big <= 10
    assert 16 * small + 8 * big >= 99
    assert inf.plan is not None and inf.plan.objective > msp.plan.objective


def test_infeasible_load_falls_back_to_least_accurate_on_all_cores() -> None:
    policy = InfAdapterPolicy(StandIn(), weights=None)
    assert run(policy, [200, 200])[1] == [10, 0, 1, 1]
    assert policy.plan is not None and not policy.plan.feasible


def test_pacing_and_stabilisation() -> None:
    policy = InfAdapterPolicy(StandIn(dt=10.0), weights=None)  # a decision every 3 steps
    actions = run(policy, [20, 20, 20, 20, 40, 40, 40])
    assert actions[:3] == [[2, 0, 1, 1]] * 3  # the first decision is at step 3 (30 s)
    assert len(policy.plans) == 2  # steps 3 and 6: the higher forecast acts at once
    assert [p.load for p in policy.plans] == [22, 44]
    policy.stabiliser.counter = 0
    assert policy.stabiliser.should_reconfigure(10, 44) is False  # a lower one is held


def test_plans_respect_the_constraints_on_the_preset() -> None:
    env = gym.make("themis_env/InfAdapter-Resnet-v0", episode_s=300)
    for cls in (InfAdapterPolicy, MSPPolicy):
        policy = cls(env)
        o, _ = env.reset(seed=3)
        policy.reset()
        truncated = False
        while not truncated:
            action = policy.act(o)
            assert env.action_space.contains(action)
            o, _, _, truncated, _ = env.step(action)
        assert policy.plans
        for plan in policy.plans:
            assert plan.total_cores <= policy.max_cpu
            assert all(n == 0 or n >= 2 for n in plan.cores)
            if cls is MSPPolicy:
                assert sum(n > 0 for n in plan.cores) == 1
    env.close()


@pytest.mark.filterwarnings("ignore:trace .* is not available here")
def test_same_seed_same_actions() -> None:
    def actions() -> list[list[int]]:
        env = gym.make("themis_env/InfAdapter-Resnet-v0", episode_s=240)
        policy = make_policy("infadapter", env)
        o, _ = env.reset(seed=7)
        out, truncated = [], False
        while not truncated:
            a, _ = policy.predict(o)
            out.append(a.tolist())
            o, _, _, truncated, _ = env.step(a)
        return out

    assert actions() == actions()


def test_refuses_pipelines_without_one_variant_stage() -> None:
    env = gym.make("themis_env/Video-Bursty-v0", episode_s=30)
    with pytest.raises(PolicyError, match="one stage with model variants"):
        InfAdapterPolicy(env)
    with pytest.raises(PolicyError, match="max_cpu"):
        InfAdapterPolicy(StandIn(), max_cpu=11)
