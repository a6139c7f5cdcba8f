"""HPA: the replica calculus, normalisation and a scripted episode, against hand computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from themis_env.baselines import make_policy
from themis_env.baselines.hpa import (
    DEFAULT_SCALE_DOWN,
    DEFAULT_SCALE_UP,
    HPAPolicy,
    MetricsWindow,
    PodRecord,
    PodTracker,
    ScaleHistory,
    ScalingPolicy,
    ScalingRules,
    group_pods,
    normalize_legacy,
    normalize_with_behavior,
    resource_replicas,
)

from tests.baselines.helpers import decode, make_obs
from themis_env.errors import PolicyError


def replicas(current, ready_usage, unready=0, missing=0, target=50, request=1000):
    """resource_replicas with every pod requesting ``request`` millicores."""
    return resource_replicas(
        current,
        list(ready_usage),
        [request] * len(ready_usage),
        [request] * unready,
        [request] * missing,
        target,
    )


# ------------------------------------------------------------------------ replica calculus
def test_fast_path_scales_by_ratio_of_ready_pods():
    # 4 pods at 90 % vs 50 %: ratio 1.8, ceil(1.8 * 4) = 8.
    assert replicas(4, [900] * 4) == 8
    # The Kubernetes blog's example: 50 pods at 90 % vs 75 % -> ceil(50 * 90 / 75) = 60.
    assert replicas(50, [900] * 50, target=75) == 60


def test_tolerance_band_is_inclusive():
    assert replicas(4, [540] * 4) == 4  # 54/50 = 1.08
    assert replicas(4, [550] * 4) == 4  # 55/50 = 1.10, on the edge: no change
    assert replicas(4, [560] * 4) == 5  # 56/50 = 1.12 -> ceil(4.48)


def test_tolerance_below_one():
    # 44/50 = 0.88 -> ceil(0.88 * 4) = ceil(3.52) = 4 (no change by rounding);
    # 40/50 = 0.8 -> ceil(3.2) = 4; 37/50 = 0.74 -> ceil(2.96) = 3.
    assert replicas(4, [440] * 4) == 4
    assert replicas(4, [370] * 4) == 3
    # 46/50 = 0.92 is within the band.
    assert replicas(10, [460] * 10) == 10
    # 44/50 = 0.88 with 10 pods -> ceil(8.8) = 9.
    assert replicas(10, [440] * 10) == 9


def test_utilisation_is_an_integer_percent_of_summed_millicores():
    # floor(100 * 1000 / 3000) = 33 -> 33/50 = 0.66 -> ceil(1.98) = 2.
    assert replicas(3, [333, 333, 334]) == 2


def test_unready_pods_count_as_zero_on_scale_up():
    # 2 ready at 100 %, 2 unready: ratio 2 -> with unready at 0: 50 % -> within tolerance.
    assert replicas(4, [1000, 1000], unready=2) == 4
    # 2 ready at 100 %, 1 unready: floor(100 * 2000 / 3000) = 66 -> 1.32 -> ceil(3.96) = 4.
    assert replicas(3, [1000, 1000], unready=1) == 4


def test_unready_pods_are_left_out_on_scale_down():
    # ratio 10/50 < 1: fast path over the 2 ready pods only -> ceil(0.2 * 2) = 1.
    assert replicas(4, [100, 100], unready=2) == 1


def test_missing_pods_count_as_full_on_scale_down():
    # 2 ready at 20 % and 1 missing at max(100 %, 50 %): floor(100 * 1400 / 3000) = 46 -> 0.92.
    assert replicas(3, [200, 200], missing=1) == 3
    # 4 ready at 10 % + 1 missing: floor(100 * 1400 / 5000) = 28 -> 0.56 -> ceil(2.8) = 3.
    assert replicas(5, [100] * 4, missing=1) == 3
    # The fallback is max(100 %, target): with a 120 % target a missing pod counts 120 %.
    # 4 ready at 10 % + 2 missing at 120 %: floor(100 * 2800 / 6000) = 46 -> 46/120 -> ceil(2.3) = 3
    # (at 100 % it would be 40/120 -> ceil(2.0) = 2).
    assert replicas(6, [100] * 4, missing=2, target=120) == 3


def test_missing_pods_count_as_zero_on_scale_up_and_flips_are_dropped():
    # 2 ready at 100 % + 2 missing at 0: 50 % -> within tolerance.
    assert replicas(4, [1000, 1000], missing=2) == 4
    # 1 ready at 60 % (ratio 1.2) + 1 missing at 0: 30 % -> 0.6, direction flips: keep.
    assert replicas(2, [600], missing=1) == 2


def test_no_ready_metrics_means_no_decision():
    assert replicas(3, [], unready=3) is None


# ------------------------------------------------------------------------------ pod groups
def test_group_pods_follows_groupPods():
    warm = PodRecord(-math.inf, -math.inf)
    assert group_pods([warm, warm], 1, now=45, sample_end=30, window_s=15) == (2, 1, 0)
    starting = PodRecord(30.0, None)
    # Created at 30, window [15, 30]: no full window yet -> missing.
    assert group_pods([starting], 0, now=45, sample_end=30, window_s=15) == (0, 0, 1)
    # Window [30, 45]: has a metric, not Ready -> unready.
    assert group_pods([starting], 0, now=60, sample_end=45, window_s=15) == (0, 1, 0)
    ready_late = PodRecord(30.0, 40.0)
    # Ready at 40; the window [30, 45] began before it became Ready -> unready.
    assert group_pods([ready_late], 0, now=60, sample_end=45, window_s=15) == (0, 1, 0)
    # Window [40, 55] starts when it became Ready -> ready.
    assert group_pods([ready_late], 0, now=70, sample_end=55, window_s=15) == (1, 0, 0)
    # Past the 5 min CPU initialisation period the Ready transition no longer matters.
    old = PodRecord(0.0, 400.0)
    assert group_pods([old], 0, now=401, sample_end=386, window_s=15) == (1, 0, 0)


def test_pod_tracker_follows_the_simulator():
    tracker = PodTracker(n_ready=2)
    tracker.observe(1.0, 1.0, n_ready=2, n_starting=1)
    assert [(p.created_s, p.ready_s) for p in tracker.pods][-1] == (0.0, None)
    tracker.observe(9.0, 1.0, n_ready=3, n_starting=0)
    assert sorted(p.ready_s for p in tracker.pods)[-1] == 9.0
    # Scale-in removes the newest ready replica (created at 0), keeping the warm ones.
    tracker.observe(10.0, 1.0, n_ready=2, n_starting=0)
    assert [p.created_s for p in tracker.pods] == [-math.inf, -math.inf]
    # Scale-in of a starting replica removes it before any ready one.
    tracker.observe(11.0, 1.0, n_ready=2, n_starting=1)
    tracker.observe(12.0, 1.0, n_ready=2, n_starting=0)
    assert len(tracker.pods) == 2 and all(p.ready_s is not None for p in tracker.pods)


def test_metrics_window_is_lagged_by_one_window():
    m = MetricsWindow(1, window_s=15, lag_s=15, dt=1.0)
    assert m.read(0.0) is None
    for t in range(1, 31):
        m.record(float(t), np.array([float(t)]))
    assert m.read(15.0) is None  # window (-15, 0]: nothing measured yet
    assert m.read(30.0)[0] == pytest.approx(np.mean(np.arange(1, 16)))  # steps 1..15
    half = MetricsWindow(1, window_s=15, lag_s=15, dt=0.5)
    for k in range(1, 61):
        half.record(0.5 * k, np.array([0.5 * k]))
    assert half.read(30.0)[0] == pytest.approx(np.mean(0.5 * np.arange(1, 31)))  # 30 steps


# --------------------------------------------------------------------------- normalisation
def behave(
    history, now, current, desired, lo=1, hi=32, up=DEFAULT_SCALE_UP, down=DEFAULT_SCALE_DOWN
):
    result = normalize_with_behavior(history, now, current, desired, lo, hi, up, down)
    history.record_scale(now, current, result)
    return result


def test_default_scale_up_policy_is_max_of_4_pods_and_100_percent():
    h = ScaleHistory()
    assert behave(h, 0.0, 1, 20) == 5  # max(1 + 4, 2 * 1)
    assert behave(h, 15.0, 5, 20) == 10  # the event at 0 is outside (15 - 15, 15]: max(9, 10)
    assert behave(h, 30.0, 10, 20) == 20
    h = ScaleHistory()
    assert behave(h, 0.0, 1, 20) == 5
    # Inside the same 15 s period the added pods count: period start 1, limit 5 = current.
    assert behave(h, 10.0, 5, 20) == 5
    assert behave(h, 20.0, 5, 40, hi=12) == 10  # period start 5 -> 10 (max replicas 12)


def test_downscale_waits_for_the_300_s_window():
    h = ScaleHistory()
    assert behave(h, 0.0, 8, 8) == 8
    for now in range(15, 300, 15):
        assert behave(h, float(now), 8, 2) == 8
    # At 300 the proposal of t = 0 leaves the window (t > now - 300 is strict).
    assert behave(h, 300.0, 8, 2) == 2


def test_scale_down_rate_limit_with_a_pods_policy():
    down = ScalingRules(0.0, (ScalingPolicy("Pods", 1, 60.0),))
    h = ScaleHistory()
    assert behave(h, 0.0, 8, 2, down=down) == 7
    assert behave(h, 15.0, 7, 2, down=down) == 7  # period start 8: limit 7
    assert behave(h, 60.0, 7, 2, down=down) == 6  # the event at 0 left the period


def test_min_replicas_clamp_and_disabled_policies():
    h = ScaleHistory()
    assert behave(h, 0.0, 3, 0, lo=2, down=ScalingRules(0.0, DEFAULT_SCALE_DOWN.policies)) == 2
    frozen = ScalingRules(0.0, DEFAULT_SCALE_UP.policies, select_policy="Disabled")
    assert behave(ScaleHistory(), 0.0, 3, 9, up=frozen) == 3


def test_legacy_path():
    h = ScaleHistory()
    assert normalize_legacy(h, 0.0, 1, 20, 1, 32) == 4  # max(2 * 1, 4)
    assert normalize_legacy(h, 15.0, 5, 20, 1, 32) == 10
    assert normalize_legacy(h, 30.0, 10, 2, 1, 32) == 20  # max over the last 300 s is 20


# -------------------------------------------------------------------------- whole policy
def test_hpa_policy_scripted_episode(video_env):
    """Stage 0 runs hot then cold; every decision below is computed by hand (target 80 %)."""
    env = video_env
    policy = make_policy("hpa", env)
    assert isinstance(policy, HPAPolicy) and policy.sync_steps == 15

    def util(k):  # stage-0 utilisation of the step ending at t = k
        if k <= 30:
            return 1.0
        if k <= 45:
            return 0.9
        if k <= 60:
            return 0.95
        return 0.1

    n, ready, starting = 2, 2, 0
    seen = {}
    for k in range(0, 391):
        obs = make_obs(
            env, replicas=[n, 1], ready=[ready, 1], starting=[starting, 0], cores=[1, 1],
            utilisation=[util(k) if k else 0.0, 0.2],
        )  # fmt: skip
        target = decode(env, policy.act(obs))
        assert target[1] == (1, 1, 1)  # stage 1 at 20 %: ceil(0.25 * 1) = 1, never changes
        seen[k] = target[0][0]
        # The simulated cluster: a new replica is seen at the next step and is ready 9 s later.
        if seen[k] > n:
            starting, n = seen[k] - n, seen[k]
            ready_at = k + 10
        elif seen[k] < n:
            n = ready = seen[k]
            starting = 0
        if starting and k + 1 >= ready_at:
            ready, starting = n, 0
    # t = 0 and t = 15: no metric window yet.
    assert seen[0] == seen[15] == 2
    # t = 30, window (0, 15]: 100 % vs 80 % -> ratio 1.25 -> ceil(2.5) = 3.
    assert seen[29] == 2 and seen[30] == 3
    # t = 45, window (15, 30] at 100 %: the new pod (created at 30) is missing -> counts 0 ->
    # floor(100 * 2000 / 3000) = 66 % -> 0.825 flips direction: keep 3.
    assert seen[45] == 3
    # t = 60, window (30, 45] at 90 % (ratio 1.125): the new pod became ready at 40, after the
    # window began -> unready at 0 -> 60 % -> flips: keep 3.
    assert seen[60] == 3
    # t = 75, window (45, 60] at 95 %, 3 ready: ratio 1.1875 -> ceil(3.5625) = 4.
    assert seen[74] == 3 and seen[75] == 4
    # From t = 90 the load is 10 %: proposals 2 (t = 90, one missing pod at 100 %) then 1, but
    # the proposal 4 of t = 75 holds the scale for 300 s.
    assert all(seen[k] == 4 for k in range(75, 375))
    # t = 375: the window (75, 375] still holds the proposal 2 of t = 90.
    assert seen[375] == 2
    assert seen[390] == 1


def test_hpa_sync_period_rounds_up_in_decision_steps():
    class Fake:
        n_stages = 1
        decision_interval_s = 0.5
        stage_limits = [type("L", (), {"min_replicas": 1, "max_replicas": 4, "name": "s"})()]

    assert HPAPolicy(Fake()).sync_steps == 30
    Fake.decision_interval_s = 4.0
    assert HPAPolicy(Fake()).sync_steps == 4


def test_hpa_rejects_bad_parameters(video_env):
    with pytest.raises(PolicyError, match="target_utilisation"):
        make_policy("hpa", video_env, target_utilisation=0)
    with pytest.raises(PolicyError, match="min_replicas"):
        make_policy("hpa", video_env, min_replicas=5, max_replicas=2)
    with pytest.raises(PolicyError, match="no parameter 'target'.* Its parameters: target_util"):
        make_policy("hpa", video_env, target=0.5)
