"""The generalist's targets on one scenario: fewer violations than HPA and horizontal-only, no
baseline dominating; a baseline that did not run the scenario is no comparison."""

import pytest

from themis_env.evaluation.targets import FEWER_THAN, Outcome, scenario_targets

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
