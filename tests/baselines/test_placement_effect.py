"""The vertical-only baseline on the smoke scenario: packed replicas cannot grow, spread can."""

from __future__ import annotations

import gymnasium as gym
import pytest
from themis_env.baselines import make_policy


def _episode(version: int = 0, **cluster) -> list[dict]:
    env = gym.make(
        f"themis_env/InferenceCluster-v{version}", scenario="smoke-video", cluster=cluster
    )
    policy = make_policy("vertical", env)
    obs, _ = env.reset(seed=0)
    policy.reset()
    infos, truncated = [], False
    while not truncated:
        obs, _, _, truncated, info = env.step(policy.act(obs))
        infos.append(info)
    env.close()
    return infos


pytestmark = pytest.mark.filterwarnings("ignore:.*is out of date:DeprecationWarning")


@pytest.mark.filterwarnings("ignore:trace .* is not available here")
def test_vertical_policy_resizes_fail_when_packed_and_never_when_spread():
    # 2 nodes of 16 cores; the detector's two replicas start on node 0 under first fit.
    assert sum(i["failed_resizes"] for i in _episode()) > 0
    assert sum(i["failed_resizes"] for i in _episode(placement="spread")) == 0


@pytest.mark.filterwarnings("ignore:trace .* is not available here")
def test_deferred_resizes_are_an_info_figure_only_under_defer():
    deferred = [i["deferred_resizes"] for i in _episode(resize_policy="defer")]
    assert max(deferred) > 0
    assert "deferred_resizes" not in _episode()[0]


@pytest.mark.filterwarnings("ignore:trace .* is not available here")
def test_vertical_policy_starts_spread_by_default_and_no_resize_waits():
    # v1: each stage's replicas start one per node, as the scheduler places a Deployment's
    # pods, and every resize the 2 x 16 cores can hold somewhere is done at once.
    env = gym.make("themis_env/InferenceCluster-v1", scenario="smoke-video")
    env.reset(seed=0)
    sim = env.unwrapped.sim
    for s in range(sim.n_stages):
        live = sim.rep_i[s, :, 0] == 1  # I_ACTIVE
        nodes = sim.rep_i[s, live, 3].tolist()  # I_NODE
        assert len(nodes) == len(set(nodes)), (s, nodes)
    infos = _episode(version=1)
    assert (
        sum(i["deferred_resizes"] + i["infeasible_resizes"] + i["failed_resizes"] for i in infos)
        == 0
    )
