"""VPA: histogram, estimators, updater budget and scripted episodes, against hand computation."""

from __future__ import annotations

import math

import pytest
from themis_env.baselines import make_policy
from themis_env.baselines.vpa import (
    PRESETS,
    CpuAggregate,
    DecayingHistogram,
    Recommendation,
    VPAPolicy,
    eviction_budget,
    recommend,
    whole_core_recommendation,
)

from tests.baselines.helpers import decode, make_obs
from themis_env.errors import PolicyError


def bucket_end(value: float) -> float:
    """End of the VPA bucket holding ``value``: first 0.01 core, each 5 % wider (by hand)."""
    index = math.floor(math.log(value * 0.05 / 0.01 + 1) / math.log(1.05))
    return 0.01 * (1.05 ** (index + 1) - 1) / 0.05


# ------------------------------------------------------------------------------- histogram
def test_histogram_grid_matches_upstream():
    h = DecayingHistogram(half_life_s=86400)
    assert h.n_buckets == 176
    assert h.bucket(0.1) == 8
    for value, edge in [(0.1, 0.110), (0.5, 0.511), (1, 1.016), (2, 2.094), (4, 4.125), (8, 8.363)]:
        h = DecayingHistogram(half_life_s=86400)
        h.add_sample(value, 0.1, 0.0)
        assert h.percentile(0.9) == pytest.approx(edge, abs=1e-3)
        assert h.percentile(0.9) == pytest.approx(bucket_end(value))
    assert DecayingHistogram(86400).percentile(0.5) == 0.0  # empty


def test_percentile_walks_cumulative_weight():
    h = DecayingHistogram(half_life_s=86400)
    h.add_sample(0.1, 1.0, 0.0)
    h.add_sample(1.0, 1.0, 0.0)
    assert h.percentile(0.5) == pytest.approx(bucket_end(0.1))  # reaches 1 of 2 at 0.1
    assert h.percentile(0.51) == pytest.approx(bucket_end(1.0))


def test_newer_samples_weigh_more_by_half_life():
    h = DecayingHistogram(half_life_s=100.0)
    h.add_sample(0.1, 1.0, 0.0)
    h.add_sample(1.0, 1.0, 100.0)  # one half-life later: weight 2
    assert h.total_weight == pytest.approx(3.0)
    assert h.percentile(0.33) == pytest.approx(bucket_end(0.1))  # 1/3 of the weight at 0.1
    assert h.percentile(0.34) == pytest.approx(bucket_end(1.0))


def test_reference_time_moves_without_changing_percentiles():
    h = DecayingHistogram(half_life_s=1.0)
    h.add_sample(0.1, 1.0, 0.0)
    h.add_sample(1.0, 1.0, 150.0)  # exponent 150 > 100: the reference moves to 150
    assert h.reference_s == 150.0
    assert h.total_weight == pytest.approx(1.0 + 2.0**-150)
    h.add_sample(0.1, 1.0, 150.0)
    assert h.percentile(0.49) == pytest.approx(bucket_end(0.1))
    assert h.percentile(0.51) == pytest.approx(bucket_end(1.0))


# ------------------------------------------------------------------------------ estimators
def aggregate_of(value: float, times: list[float], half_life_s: float = 86400.0) -> CpuAggregate:
    agg = CpuAggregate(half_life_s)
    for t in times:
        agg.add_sample(value, t)
    return agg


def test_confidence_is_min_of_span_and_sample_count():
    agg = aggregate_of(1.0, [60.0 * k for k in range(6)])  # 6 samples over 5 min
    assert agg.confidence() == pytest.approx(300 / 86400)
    agg = aggregate_of(1.0, [0.0, 43200.0])  # 12 h apart but only 2 samples
    assert agg.confidence() == pytest.approx(2 / 1440)
    assert CpuAggregate(86400).confidence() == 0.0


def test_bound_multipliers_match_the_upstream_comments():
    # 5 min of history: lower bound x0.6; 12 h: upper x3; 24 h: x2 (the comments of
    # kubernetes/autoscaler@55c37cd vertical-pod-autoscaler/pkg/recommender/logic/estimator.go).
    five_min = aggregate_of(1.0, [60.0 * k for k in range(6)])
    rec = recommend(five_min)
    e = bucket_end(1.0) * 1.15
    assert rec.target == pytest.approx(e)
    assert rec.lower / e == pytest.approx(0.603, abs=1e-3)
    half_day = aggregate_of(1.0, [60.0 * k for k in range(721)])
    assert recommend(half_day).upper / e == pytest.approx(3.0)
    day = aggregate_of(1.0, [60.0 * k for k in range(1441)])
    assert recommend(day).upper / e == pytest.approx(2.0)
    assert recommend(CpuAggregate(86400)) is None


def test_no_history_gives_open_bounds_and_the_minimum_applies():
    rec = recommend(aggregate_of(0.001, [0.0]))
    assert rec.lower == 0.025 and rec.target == 0.025 and math.isinf(rec.upper)
    assert whole_core_recommendation(rec, 1, 8) == (1, 1, 8)
    assert whole_core_recommendation(Recommendation(0.8, 1.3, 20.0), 1, 8) == (1, 2, 8)
    assert whole_core_recommendation(Recommendation(2.0, 3.0, 4.0), 1, 8) == (2, 3, 4)


@pytest.mark.parametrize(
    ("configured", "running", "expected"),
    [(2, 2, 1), (3, 3, 1), (4, 4, 2), (5, 5, 2), (1, 1, 1), (4, 3, 1), (4, 2, 0)],
)
def test_eviction_budget(configured, running, expected):
    # tolerance = floor(0.5 * configured); evict while running - evicted > configured - tolerance,
    # or one pod when all run and the tolerance is 0.
    assert eviction_budget(configured, running) == expected


# -------------------------------------------------------------------------- whole policy
def run_saturated(env, policy, calls: int, util=(1.0, 0.2)) -> list[list[tuple[int, int, int]]]:
    """Stage 0 always 100 % busy, stage 1 20 %; the cluster applies every target at once."""
    targets = [(2, 1, 1), (1, 1, 1)]
    out = []
    for k in range(calls):
        obs = make_obs(
            env,
            replicas=[t[0] for t in targets],
            cores=[t[1] for t in targets],
            utilisation=list(util) if k else [0.0, 0.0],
        )
        targets = decode(env, policy.act(obs))
        out.append(targets)
    return out


def test_fast_in_place_resizes_at_the_second_loop(video_env):
    # t = 60: samples of 1.0 core (window (30, 45]) at 30; conf 0 -> lower 1, target
    # ceil(1.15 * 1.016) = 2, upper 8: request 1 inside. t = 120: 4 samples spanning 60 s,
    # conf = min(60/600, 4/10) = 0.1 -> lower = ceil(1.169 * 1.01^-2 = 1.146) = 2 > 1: resize
    # to 2 in place. Stage 1 (0.2 core: target ceil(0.248) = 1) never changes.
    policy = make_policy("vpa", video_env)
    assert isinstance(policy, VPAPolicy) and policy.mode == "InPlaceOrRecreate"
    out = run_saturated(video_env, policy, 121)
    # Stage 1 at t = 120: conf = min(60/600, 2 * 60/600) = 0.1 -> upper ceil(0.216 * 1.15 * 11) = 3.
    assert policy.recommendations[1] == (1, 1, 3)
    assert all(o == [(2, 1, 1), (1, 1, 1)] for o in out[:120])
    assert out[120] == [(2, 2, 1), (1, 1, 1)]


def test_recreate_evicts_in_waves_and_recreates(video_env):
    policy = make_policy("vpa", video_env, mode="Recreate")
    out = run_saturated(video_env, policy, 182)
    assert all(o[0] == (2, 1, 1) for o in out[:120])
    # t = 120: budget floor(0.5 * 2) = 1 -> one pod evicted, recreated at the next step with
    # the target (the survivor takes it too: one core count per stage).
    assert out[120][0] == (1, 1, 1)
    assert out[121][0] == (2, 2, 1)
    assert all(o[0] == (2, 2, 1) for o in out[121:180])
    # t = 180: the second old pod (request 1) is still below the lower bound 2 -> evicted.
    assert out[180][0] == (1, 2, 1)
    assert out[181][0] == (2, 2, 1)
    # Stage 1 has one replica: the updater's --min-replicas 2 leaves it alone.
    assert all(o[1] == (1, 1, 1) for o in out)


@pytest.mark.parametrize(
    ("params", "single_replica_resized"),
    [
        ({}, True),
        ({"in_place_skip_disruption_budget": False}, False),
        ({"mode": "Recreate"}, False),
    ],
)
def test_single_replica_stage_needs_the_budget_skip(video_env, params, single_replica_resized):
    # Stage 1 (1 replica) saturated too: 1 sample per loop, conf at t = 120 is
    # min(60/600, 2 * 60/600) = 0.1 -> lower bound 2 > 1. Only an in-place update that skips
    # the disruption budget (and with it --min-replicas 2) may touch a single-replica stage.
    out = run_saturated(video_env, make_policy("vpa", video_env, **params), 122, util=(1.0, 1.0))
    assert out[119][1] == (1, 1, 1)
    assert out[121][1] == ((1, 2, 1) if single_replica_resized else (1, 1, 1))


def test_faithful_preset_waits_for_confidence(video_env):
    """With a 24 h confidence interval the same saturation moves the VPA only after ~18 min."""
    policy = make_policy("vpa", video_env, preset="faithful")
    e = 1.15 * bucket_end(1.0)
    # By hand: the loop at t = 60 (k + 1) adds 2 samples starting at 30 + 60 k.
    first = None
    for k in range(40):
        span = 60.0 * k
        conf = min(span / 86400, 2 * (k + 1) / 1440)
        if conf > 0 and math.ceil(e * (1 + 0.001 / conf) ** -2 - 1e-9) > 1:
            first = 60 * (k + 1)
            break
    assert first == 1140
    out = run_saturated(video_env, policy, first + 1)
    assert all(o[0] == (2, 1, 1) for o in out[:first])
    assert out[first][0] == (2, 2, 1)


def test_presets_and_bad_parameters(video_env):
    assert PRESETS["faithful"].half_life_s == 86400 and PRESETS["fast"].half_life_s == 300
    policy = make_policy("vpa", video_env, preset="faithful", half_life_s=600.0)
    assert (
        policy.preset.half_life_s == 600.0 and policy.describe()["params"]["half_life_s"] == 600.0
    )
    with pytest.raises(PolicyError, match="Recreate"):
        make_policy("vpa", video_env, mode="recreate")
    with pytest.raises(PolicyError, match="preset"):
        make_policy("vpa", video_env, preset="quick")
    with pytest.raises(PolicyError, match="unknown parameter"):
        make_policy("vpa", video_env, halflife=3)
    with pytest.raises(PolicyError, match="half_life_s"):
        make_policy("vpa", video_env, half_life_s=0.0)
