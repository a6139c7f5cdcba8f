"""The generalist's targets on one scenario: fewer violations than HPA and horizontal-only, no
baseline dominating; a baseline that did not run the scenario is no comparison. The paired form:
a baseline dominates only when a sign test over the seeds says it has fewer violations."""

from math import comb

import pytest

from themis_env.evaluation.targets import (
    ALPHA,
    FEWER_THAN,
    Outcome,
    SeedCounts,
    scenario_targets,
    seed_counts,
    sign_test_p,
)

BASELINES = {
    "themis": Outcome(0.010, 15.0),
    "horizontal": Outcome(0.050, 11.0),
    "hpa": Outcome(0.400, 8.0),
    "vpa": Outcome(0.600, 5.0),
}


@pytest.mark.parametrize(
    ("me", "fewer", "dominated_by", "met"),
    [
        (Outcome(0.005, 16.0), {"hpa": True, "horizontal": True}, (), True),
        # Themis has fewer violations at fewer cores.
        (Outcome(0.020, 16.0), {"hpa": True, "horizontal": True}, ("themis",), False),
        # Fewer violations than Themis needs no fewer cores; more cores than it is no loss.
        (Outcome(0.009, 30.0), {"hpa": True, "horizontal": True}, (), True),
        # A tie in violations is not fewer.
        (Outcome(0.050, 10.0), {"hpa": True, "horizontal": False}, (), False),
        (Outcome(0.700, 4.0), {"hpa": False, "horizontal": False}, (), False),
    ],
)
def test_the_three_targets(me, fewer, dominated_by, met):
    t = scenario_targets(me, BASELINES)
    assert dict(t.fewer_than) == fewer
    assert t.dominated_by == dominated_by
    assert t.met is met


def test_a_baseline_that_did_not_run_is_no_comparison():
    t = scenario_targets(Outcome(0.02, 9.0), {"themis": Outcome(0.01, 10.0)})
    assert dict(t.fewer_than) == {name: None for name in FEWER_THAN}
    assert t.met
    assert not scenario_targets(Outcome(0.02, 11.0), {"themis": Outcome(0.01, 10.0)}).met


def test_lost_to_names_each_baseline_a_target_was_lost_to_once():
    t = scenario_targets(Outcome(0.060, 16.0), BASELINES)
    assert t.lost_to == ("horizontal", "themis")  # horizontal: both fewer and dominating
    assert scenario_targets(Outcome(0.005, 16.0), BASELINES).lost_to == ()


def test_seed_counts_compare_only_the_seeds_both_ran():
    a = Outcome(0, 0, {0: 0.1, 1: 0.2, 2: 0.0, 3: 0.5})
    b = Outcome(0, 0, {0: 0.2, 1: 0.1, 2: 0.0, 4: 0.0})
    assert seed_counts(a, b) == SeedCounts(fewer=1, more=1, tied=1)
    assert seed_counts(a, b).seeds == 3
    assert seed_counts(b, a) == SeedCounts(fewer=1, more=1, tied=1)


@pytest.mark.parametrize(("wins", "losses"), [(9, 1), (8, 2), (7, 1), (5, 0), (4, 0), (3, 3)])
def test_sign_test_is_the_binomial_upper_tail(wins, losses):
    n = wins + losses
    expected = sum(comb(n, k) for k in range(wins, n + 1)) / 2**n
    assert sign_test_p(wins, losses) == pytest.approx(expected)


def test_sign_test_thresholds_at_five_percent():
    assert sign_test_p(9, 1) <= ALPHA < sign_test_p(8, 2)  # 11/1024 and 56/1024
    assert sign_test_p(7, 1) <= ALPHA < sign_test_p(6, 2)
    assert sign_test_p(5, 0) <= ALPHA < sign_test_p(4, 0)  # fewer than 5 seeds never reject
    assert sign_test_p(0, 0) == 1.0
    with pytest.raises(ValueError, match="non-negative"):
        sign_test_p(-1, 2)


def _per_seed(values: list[float], cores: float) -> Outcome:
    return Outcome(sum(values) / len(values), cores, dict(enumerate(values)))


def test_paired_form_needs_fewer_violations_on_significantly_many_seeds():
    # The baseline has fewer violations on 8 of 10 seeds and on the mean, at fewer cores: one
    # seed's burst of the policy decides the mean, which dominates on means only.
    me = _per_seed([0.002] * 7 + [0.0, 0.0, 0.05], 12.0)
    themis = _per_seed([0.001] * 7 + [0.001] * 3, 11.0)
    assert seed_counts(themis, me) == SeedCounts(fewer=8, more=2, tied=0)
    assert scenario_targets(me, {"themis": themis}).dominated_by == ("themis",)
    assert scenario_targets(me, {"themis": themis}, paired=True).met
    # Fewer on 9 of 10 seeds is significant.
    me9 = _per_seed([0.002] * 9 + [0.0], 12.0)
    assert scenario_targets(me9, {"themis": themis}, paired=True).dominated_by == ("themis",)
    # The paired form never turns a loss on the means into a win.
    cheap = _per_seed([0.0] * 10, 11.0)
    assert scenario_targets(me9, {"themis": cheap}, paired=True).dominated_by == ("themis",)
    assert scenario_targets(_per_seed([0.0] * 10, 12.0), {"themis": cheap}, paired=True).met


def test_paired_form_leaves_the_fewer_than_targets_on_means():
    me = _per_seed([0.0] * 9 + [0.9], 12.0)  # fewer than HPA on 9 of 10 seeds, not on the mean
    hpa = _per_seed([0.05] * 10, 8.0)
    t = scenario_targets(me, {"hpa": hpa}, paired=True)
    assert t.fewer_than["hpa"] is False
    assert not t.met


def test_paired_form_without_shared_seeds_is_an_error():
    me = Outcome(0.02, 12.0, {0: 0.02})
    themis = Outcome(0.01, 11.0, {1: 0.01})
    with pytest.raises(ValueError, match="'themis' share no seed"):
        scenario_targets(me, {"themis": themis}, paired=True)
