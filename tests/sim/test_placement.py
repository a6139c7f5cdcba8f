"""Where a new replica goes: first fit, the scheduler's default spread, and bin packing.

Every expected node below is worked by hand from the scores documented on
``themis_env.sim.kernel._place``.
"""

from __future__ import annotations

import numpy as np
import pytest

from themis_env.config import ColdStartConfig
from themis_env.config.schema import ClusterConfig
from themis_env.config.validate import build, to_plain
from themis_env.errors import ConfigError
from themis_env.sim import kernel as K
from themis_env.sim.simulator import Simulator, StageDecision

from .conftest import constant_pipeline, make_sim


def _replicas_on(nodes: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """One stage whose live replicas sit on ``nodes`` (8 slots)."""
    rep_f = np.zeros((1, 8, K.N_REP_F))
    rep_f[:, :, K.F_SERVING_UNTIL] = np.inf
    rep_i = np.zeros((1, 8, K.N_REP_I), dtype=np.int64)
    for r, node in enumerate(nodes):
        rep_i[0, r, K.I_ACTIVE] = 1
        rep_i[0, r, K.I_NODE] = node
    return rep_f, rep_i


def _place(placement: int, free: list[float], nodes: list[int], cores: int, capacity: int) -> int:
    rep_f, rep_i = _replicas_on(nodes)
    spread = np.full(len(free), 7, dtype=np.int64)  # scratch: what it held must not matter
    used = rep_i.shape[1]  # every slot: a bound is enough
    return K._place(
        0, cores, np.array(free), float(capacity), placement, rep_f, rep_i, spread, used
    )


@pytest.mark.parametrize(
    ("placement", "node"),
    [
        (K.PLACE_FIRST_FIT, 0),  # the lowest node with 2 free cores
        # requested·100/8: 5 → 62, 8 → 100, 2 → 25
        (K.PLACE_MOST_ALLOCATED, 1),
        # fit (8 − requested)·100/8: 37, 0, 75; spread raw round(n·ln 5 + 2): 4, 4, 2,
        # normalised 100·(4 + 2 − raw)/4: 50, 50, 100; total fit + 2·spread: 137, 100, 275
        (K.PLACE_SPREAD, 2),
    ],
)
def test_each_strategy_picks_the_hand_worked_node(placement, node):
    # 3 nodes of 8 cores with 5, 2 and 8 free; the stage has a replica on nodes 0 and 1.
    assert _place(placement, [5, 2, 8], [0, 1], cores=2, capacity=8) == node


def test_spread_tie_goes_to_the_lowest_node_and_one_core_breaks_it():
    # 2 nodes of 16 cores, a 1-core replica, the stage has one replica on node 1.
    # Spread raw: node 0 round(0 + 2) = 2, node 1 round(ln 4 + 2) = 3 → 100 and 66, doubled.
    # Fit (free − 1)·100/16: 1 free → 0; 12 free → 68. Totals 200 and 68 + 132 = 200: a tie.
    assert _place(K.PLACE_SPREAD, [1, 12], [1], cores=1, capacity=16) == 0
    # With 13 free, node 1's fit is 75: 207 > 200.
    assert _place(K.PLACE_SPREAD, [1, 13], [1], cores=1, capacity=16) == 1
    assert _place(K.PLACE_MOST_ALLOCATED, [4, 4], [], cores=1, capacity=8) == 0  # a tie too


def test_no_node_with_room_gives_minus_one():
    for placement in (K.PLACE_FIRST_FIT, K.PLACE_SPREAD, K.PLACE_MOST_ALLOCATED):
        assert _place(placement, [1, 1], [0, 1], cores=2, capacity=8) == -1


def _nodes_of_replicas(sim: Simulator) -> list[int]:
    return sim.rep_i[0, sim.rep_i[0, :, K.I_ACTIVE] == 1, K.I_NODE].tolist()


@pytest.mark.parametrize(
    ("placement", "nodes"),
    [("first-fit", [0, 0, 0]), ("spread", [0, 1, 2]), ("most-allocated", [0, 0, 0])],
)
def test_a_stage_scaled_out_lands_as_its_strategy_places_it(rng, placement, nodes):
    # 3 empty nodes of 8 cores, three 2-core replicas. Spread: the first is a tie (node 0),
    # then fit 50 + 2·50 on node 0 against 75 + 2·100 on nodes 1 and 2 (tie: node 1), then
    # node 2 likewise. Most-allocated: the fullest node that fits is node 0 each time.
    sim = make_sim(constant_pipeline(50.0), nodes=3, cores_per_node=8, placement=placement)
    sim.reset(rng, np.full(60, 5.0), [StageDecision(1, 2, 1)])
    sim.apply([StageDecision(3, 2, 1)])
    assert _nodes_of_replicas(sim) == nodes


@pytest.mark.parametrize(("placement", "failed"), [("first-fit", 1), ("spread", 0)])
def test_spread_replicas_can_grow_in_place_where_packed_ones_cannot(rng, placement, failed):
    # 2 nodes of 8 cores, two 2-core replicas grown to 6 cores: packed on node 0 only one fits.
    sim = make_sim(constant_pipeline(50.0), nodes=2, cores_per_node=8, placement=placement)
    sim.reset(rng, np.full(60, 5.0), [StageDecision(2, 2, 1)])
    report = sim.apply([StageDecision(2, 6, 1)])
    assert report.failed_resizes.tolist() == [failed]


def test_placement_is_validated_and_left_out_of_plain_data_at_its_default():
    with pytest.raises(ConfigError, match="placement.*bin-pack.*first-fit"):
        build(ClusterConfig, {"placement": "bin-pack"}, "cluster.yaml")
    assert "placement" not in to_plain(ClusterConfig())
    assert to_plain(build(ClusterConfig, {"placement": "spread"}, "x"))["placement"] == "spread"


def test_spread_with_cold_starts_counts_starting_replicas_of_the_stage(rng):
    # A replica in its cold start already counts for spreading (it is a pod of the Deployment).
    cold = ColdStartConfig(distribution="constant", median_s=30.0, min_s=0.0, max_s=60.0)
    sim = make_sim(
        constant_pipeline(50.0), nodes=2, cores_per_node=8, placement="spread", cold_start=cold
    )
    sim.reset(rng, np.full(60, 5.0), [StageDecision(1, 1, 1)])
    sim.apply([StageDecision(2, 1, 1)])
    assert sim.state.starting.tolist() == [1]
    assert sorted(_nodes_of_replicas(sim)) == [0, 1]
