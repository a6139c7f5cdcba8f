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


def test_resize_beyond_a_node_is_infeasible_counted_failed_and_not_retried(rng):
    # Nodes of 4 cores, stage cores up to 8: 6 cores can never fit a node.
    sim = make_sim(constant_pipeline(50.0), nodes=2, cores_per_node=4, resize_policy="defer")
    sim.reset(rng, np.full(60, 5.0), [StageDecision(1, 2, 1)])
    report = sim.apply([StageDecision(1, 6, 1)])
    assert report.failed_resizes.tolist() == [1]
    assert report.deferred_resizes.tolist() == [0]
    assert sim.deferred_resizes() == 0
    sim.advance(1.0)
    report = sim.apply([StageDecision(1, 6, 1)])  # settled: nothing is tried again
    assert report.failed_resizes.tolist() == [0]
    assert sim.episode_kpis()["failed_resizes"] == 1


def test_resize_policy_is_validated_and_left_out_of_plain_data_at_its_default():
    with pytest.raises(ConfigError, match="resize_policy.*retry.*fail.*defer"):
        build(ClusterConfig, {"resize_policy": "retry"}, "cluster.yaml")
    assert "resize_policy" not in to_plain(ClusterConfig())
