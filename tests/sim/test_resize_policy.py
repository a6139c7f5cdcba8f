"""A resize the node cannot hold: failed (the default) or Deferred / Infeasible as the kubelet."""

from __future__ import annotations

import numpy as np
import pytest

from themis_env.config.schema import ClusterConfig
from themis_env.config.validate import build, to_plain
from themis_env.errors import ConfigError
from themis_env.sim.simulator import StageDecision

from .conftest import constant_pipeline, make_sim


def _two_stages_sharing_one_node(rng, resize_policy: str):
    # One node of 8 cores, each stage with two 2-core replicas on it: no core is free.
    sim = make_sim(
        constant_pipeline([50.0, 50.0]), nodes=1, cores_per_node=8, resize_policy=resize_policy
    )
    sim.reset(rng, np.full(60, 5.0), [StageDecision(2, 2, 1), StageDecision(2, 2, 1)])
    return sim


def test_deferred_resize_waits_and_succeeds_once_room_frees(rng):
    sim = _two_stages_sharing_one_node(rng, "defer")
    # Stage 0 grows to 3 cores (2 more cores); stage 1, reconciled after it, frees 2 cores.
    targets = [StageDecision(2, 3, 1), StageDecision(1, 2, 1)]
    report = sim.apply(targets)
    assert report.deferred_resizes.tolist() == [2, 0]
    assert report.failed_resizes.tolist() == [0, 0]
    assert sim.deferred_resizes() == 2
    assert sim.free_cores().tolist() == [2]
    sim.advance(1.0)
    report = sim.apply(targets)  # the same targets: the deferred resizes are retried
    assert report.resized.tolist() == [2, 0]
    assert report.deferred_resizes.tolist() == [0, 0]
    assert sim.deferred_resizes() == 0
    sim.advance(1.0)
    assert sim.free_cores().tolist() == [0]
    assert sim.episode_kpis()["failed_resizes"] == 0


def test_fail_policy_counts_the_same_resize_at_every_attempt(rng):
    sim = _two_stages_sharing_one_node(rng, "fail")
    targets = [StageDecision(2, 3, 1), StageDecision(2, 2, 1)]
    for _ in range(2):
        report = sim.apply(targets)
        assert report.failed_resizes.tolist() == [2, 0]
        assert report.deferred_resizes.tolist() == [0, 0]
        sim.advance(1.0)
    assert sim.episode_kpis()["failed_resizes"] == 4


def test_resize_beyond_a_node_is_infeasible_not_failed_nor_deferred_and_not_retried(rng):
    # Nodes of 4 cores, stage cores up to 8: 6 cores can never fit a node.
    sim = make_sim(constant_pipeline(50.0), nodes=2, cores_per_node=4, resize_policy="defer")
    sim.reset(rng, np.full(60, 5.0), [StageDecision(1, 2, 1)])
    report = sim.apply([StageDecision(1, 6, 1)])
    assert report.infeasible_resizes.tolist() == [1]
    assert report.failed_resizes.tolist() == [0]
    assert report.deferred_resizes.tolist() == [0]
    assert (sim.infeasible_resizes(), sim.deferred_resizes()) == (1, 0)
    assert sim.unresized_replicas().tolist() == [1]
    sim.advance(1.0)
    report = sim.apply([StageDecision(1, 6, 1)])  # settled: nothing is tried again
    assert report.infeasible_resizes.tolist() == [0]
    assert sim.infeasible_resizes() == 1  # the status stays while the target stands
    assert sim.episode_kpis()["failed_resizes"] == 0


def test_the_same_resize_under_fail_is_counted_failed(rng):
    sim = make_sim(constant_pipeline(50.0), nodes=2, cores_per_node=4, resize_policy="fail")
    sim.reset(rng, np.full(60, 5.0), [StageDecision(1, 2, 1)])
    report = sim.apply([StageDecision(1, 6, 1)])
    assert report.failed_resizes.tolist() == [1]
    assert report.infeasible_resizes.tolist() == [0]
    assert sim.unresized_replicas().tolist() == [1]


def _one_stage_two_nodes(rng, resize_policy: str):
    # Two 8-core nodes; first fit puts replicas 0 and 1 (3 cores each) on node 0 and replica 2
    # on node 1 (node 0 has 2 cores left).
    sim = make_sim(
        constant_pipeline(50.0),
        nodes=2,
        cores_per_node=8,
        resize_policy=resize_policy,
        placement="first-fit",
    )
    sim.reset(rng, np.full(60, 5.0), [StageDecision(3, 3, 1)])
    assert sim.rep_i[0, :3, 3].tolist() == [0, 0, 1]  # I_NODE
    return sim


@pytest.mark.parametrize("resize_policy", ["defer", "fail"])
def test_scale_in_removes_an_unresized_replica_first_only_under_defer(rng, resize_policy):
    sim = _one_stage_two_nodes(rng, resize_policy)
    # To 5 cores: replica 0 takes node 0's 2 free cores, replica 1 finds none, replica 2 grows
    # on node 1.
    sim.apply([StageDecision(3, 5, 1)])
    assert sim.unresized_replicas().tolist() == [1]
    assert sim.rep_i[0, :3, 2].tolist() == [5, 3, 5]  # I_CORES_NEW
    sim.advance(1.0)
    sim.apply([StageDecision(2, 5, 1)])
    live = (sim.rep_i[0, :3, 0] == 1) & (sim.rep_f[0, :3, 0] == np.inf)  # active, not removed
    # Under defer the unresized replica goes (the pod Themis deletes once it has replaced
    # it); under fail the newest as before, all being as old: the highest slot.
    gone = 1 if resize_policy == "defer" else 2
    assert live.tolist() == [r != gone for r in range(3)]


def test_resize_policy_is_validated_and_left_out_of_plain_data_at_its_default():
    with pytest.raises(ConfigError, match="resize_policy.*retry.*fail.*defer"):
        build(ClusterConfig, {"resize_policy": "retry"}, "cluster.yaml")
    assert "resize_policy" not in to_plain(ClusterConfig())


def test_resize_status_matches_the_replicas_at_every_step_of_random_decisions(rng):
    # 3 nodes of 6 cores, two stages up to 8 cores (beyond a node: Infeasible) and 6 replicas:
    # deferred, infeasible, pending and settled decisions all occur.
    sim = make_sim(
        constant_pipeline([40.0, 40.0]),
        nodes=3,
        cores_per_node=6,
        resize_policy="defer",
        placement="spread",
    )
    sim.reset(rng, np.full(200, 20.0), [StageDecision(2, 2, 1), StageDecision(2, 2, 1)])
    choice = np.random.default_rng(7)
    seen = set()
    for step in range(150):
        if step % 3:  # every third decision repeats the targets in force
            decision = [
                StageDecision(int(choice.integers(1, 7)), int(choice.integers(1, 9)), 1)
                for _ in range(2)
            ]
        else:
            decision = [StageDecision(*t) for t in sim.targets.tolist()]
        sim.apply(decision)
        unresized = sim.unresized_replicas()
        beyond = sim.target_cores > sim.cluster.cores_per_node
        expected = (int(unresized[~beyond].sum()), int(unresized[beyond].sum()))
        assert sim.resize_status() == expected, step
        seen.add((expected[0] > 0, expected[1] > 0))
        sim.advance(1.0)
        assert sim.resize_status() == expected, step  # time alone changes neither
    assert {(True, False), (False, True), (False, False)} <= seen
