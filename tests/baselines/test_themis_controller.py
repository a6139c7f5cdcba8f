"""Themis two-stage controller rules, without an env: switch, stabilisation, presets."""

from __future__ import annotations

import numpy as np
import pytest
from themis_env.baselines.themis import ARXIV, THEMIS_2025, StageProfile, ThemisSolver
from themis_env.baselines.themis.controller import (
    ARXIV_CONTROLLER,
    THEMIS_2025_CONTROLLER,
    HorizontalOnlyController,
    TwoStageController,
    VerticalOnlyController,
    current_rate,
)
from themis_env.baselines.themis.predictors import HeuristicPredictor, LoadPredictor

from themis_env.errors import ConfigError

# Fitted (α, β, γ, ζ) of the video pipeline, mehransi/Themis experiment_parameters/video.json at
# b01017f (arXiv) and 8b3bfdd (2025). "Optimiser:" plans below are outputs of the authors'
# adapter/optimizer.py run unchanged at the same commits.
ARXIV_VIDEO = [(148.817, 37.494, 5.433, -15.476), (34.693, 2.058, 19.479, 14.259)]
HEAD_VIDEO = [(39.909, 7.784, 1.833, 0.451), (28.084, 2.627, 6.807, 0.459)]


class Fixed(LoadPredictor):
    """A predictor that returns a set value."""

    name = "fixed"

    def __init__(self, value: float) -> None:
        self.value = value

    def predict_max(self, history, horizon_s):
        return self.value


def arxiv_solver() -> ThemisSolver:
    stages = [StageProfile.from_params(*p, max_batch=8, max_cores=8) for p in ARXIV_VIDEO]
    return ThemisSolver(stages, 780, ARXIV)


def head_solver() -> ThemisSolver:
    stages = [
        StageProfile.from_params(*p, max_batch=4, max_cores=4, rounding="themis-2025", memory_gb=m)
        for p, m in zip(HEAD_VIDEO, (2.0, 1.0), strict=True)
    ]
    return ThemisSolver(stages, 300, THEMIS_2025)


def test_current_rate_statistics() -> None:
    h = np.array([10.0, 30.0, 21.0, 20.0])
    assert current_rate(h, 2, "mean") == 20  # int(20.5), the arXiv Prometheus rate
    assert current_rate(h, 5, "max") == 30  # ceil(max of the last 5 s), 2025
    assert current_rate(np.array([]), 2, "mean") == 0


def test_arxiv_surge_goes_vertical_with_fallback_replicas() -> None:
    ctl = TwoStageController(arxiv_solver(), ARXIV_CONTROLLER, Fixed(33), pipeline="video")
    d = ctl.decide(np.full(20, 33.0), [(1, 1, 1), (1, 1, 1)])
    # Optimiser: vertical {0: [8, 1], 1: [3, 1]} with 1 extra replica per stage.
    assert d.mode == "vertical"
    assert d.targets == ((2, 8, 1), (2, 3, 1))


def test_arxiv_no_vertical_scale_down() -> None:
    ctl = TwoStageController(arxiv_solver(), ARXIV_CONTROLLER, Fixed(60), pipeline="video")
    # Forecast growth keeps it vertical; the plan for 7 req/s wants 2 cores but keeps 6.
    d = ctl.decide(np.full(20, 7.0), [(1, 6, 4), (1, 5, 1)])
    assert d.mode == "vertical"
    assert [c for _, c, _ in d.targets] == [6, 5]


def test_arxiv_stabilisation_then_horizontal() -> None:
    ctl = TwoStageController(arxiv_solver(), ARXIV_CONTROLLER, Fixed(20), pipeline="video")
    assert ctl.stabilisation == 5
    current = [(3, 8, 1), (2, 8, 1)]
    history = np.full(30, 20.0)
    modes = [ctl.decide(history, current).mode for _ in range(6)]
    # Held 5 times, applied on the 6th request (the code's counter), then counting restarts.
    assert modes == ["hold"] * 5 + ["horizontal"]
    assert ctl.decide(history, current).mode == "hold"
    # Optimiser: horizontal plan for 20 req/s: {0: [4, 1], 1: [2, 1]} at 1 core.
    ctl.counter = 5
    assert ctl.decide(history, current).targets == ((4, 1, 1), (2, 1, 1))


def test_arxiv_any_vertical_decision_resets_the_count() -> None:
    pred = Fixed(20)
    ctl = TwoStageController(arxiv_solver(), ARXIV_CONTROLLER, pred, pipeline="video")
    current = [(3, 8, 1), (2, 8, 1)]
    for _ in range(4):
        ctl.decide(np.full(30, 20.0), current)
    assert ctl.counter == 4
    pred.value = 62  # the load is predicted to grow: rule (c) fails
    assert ctl.decide(np.full(30, 20.0), current).mode == "vertical"
    assert ctl.counter == 0


def test_arxiv_stabilisation_per_pipeline_and_override() -> None:
    assert (
        TwoStageController(arxiv_solver(), "themis-arxiv", Fixed(0), pipeline="nlp").stabilisation
        == 10
    )
    assert (
        TwoStageController(arxiv_solver(), "themis-arxiv", Fixed(0), stabilisation=2).stabilisation
        == 2
    )
    with pytest.raises(ConfigError, match="controller preset"):
        TwoStageController(arxiv_solver(), "themis-2030", Fixed(0))


def test_literal_rate_reference_never_stabilises_under_noise() -> None:
    # A 10-s max forecast above the 2-s rate: the code's comparison keeps Themis vertical.
    rng = np.random.default_rng(0)
    history = rng.poisson(40, 60).astype(float)
    current = [(9, 1, 1), (4, 1, 1)]
    literal = TwoStageController(
        arxiv_solver(), ARXIV_CONTROLLER, HeuristicPredictor(), forecast_reference="rate"
    )
    like_for_like = TwoStageController(arxiv_solver(), ARXIV_CONTROLLER, Fixed(history[-10:].max()))
    assert literal.decide(history, current).mode == "vertical"
    assert like_for_like.decide(history, current).mode in ("hold", "horizontal")


def test_2025_rule_pure_scale_in_waits_scale_out_does_not() -> None:
    ctl = TwoStageController(
        head_solver(), THEMIS_2025_CONTROLLER, Fixed(30), decision_interval_s=0.5
    )
    assert ctl.stabilisation == 20  # 10 s of 0.5-s decisions
    # T_now = min(6·17, 6·23) = 102 > forecast 30 and λ_now: stable; the plan scales in.
    current = [(6, 1, 1), (6, 1, 1)]
    modes = [ctl.decide(np.full(10, 30.0), current).mode for _ in range(21)]
    assert modes == ["hold"] * 20 + ["horizontal"]
    # At C_max the rule goes horizontal even while the load grows, and a scale-out is at once.
    ctl2 = TwoStageController(
        head_solver(), THEMIS_2025_CONTROLLER, Fixed(500), decision_interval_s=0.5
    )
    d = ctl2.decide(np.full(10, 96.0), [(1, 4, 3), (1, 3, 1)])
    assert d.mode == "horizontal"
    # Optimiser: horizontal for 96: {0: [6, 1, 2], 1: [4, 1, 2]}; +1 replica on the stage whose
    # cores shrink (both), "for stability".
    assert d.targets == ((7, 1, 2), (5, 1, 2))


def test_2025_growth_goes_vertical() -> None:
    ctl = TwoStageController(
        head_solver(), THEMIS_2025_CONTROLLER, Fixed(200), decision_interval_s=0.5
    )
    d = ctl.decide(np.full(10, 43.0), [(1, 1, 1), (1, 1, 1)])
    assert d.mode == "vertical"
    assert d.targets == ((1, 4, 3), (1, 3, 1))  # Optimiser: vertical for 43


def test_make_before_break_transition() -> None:
    ctl = TwoStageController(
        arxiv_solver(), ARXIV_CONTROLLER, Fixed(20), stabilisation=0, cluster_cores=32
    )
    current = [(2, 6, 1), (1, 6, 1)]
    d = ctl.decide(np.full(30, 20.0), current, ready=[2, 1])
    # The plan {0: [4, 1], 1: [2, 1]} adds replicas: first at the old cores, the largest
    # lowered until 4·c0 + 2·c1 fits the 32 cores.
    assert d.mode == "horizontal" and d.targets == ((4, 5, 1), (2, 6, 1))
    held = ctl.decide(np.full(30, 20.0), list(d.targets), ready=[2, 1])
    assert held.mode == "hold" and held.targets == d.targets
    done = ctl.decide(np.full(30, 20.0), list(d.targets), ready=[4, 2])
    assert done.mode == "horizontal" and done.targets == ((4, 1, 1), (2, 1, 1))
    # Without ready counts the 1-core plan applies at once.
    ctl.reset()
    assert ctl.decide(np.full(30, 20.0), current).targets == ((4, 1, 1), (2, 1, 1))


def test_transition_times_out() -> None:
    ctl = TwoStageController(
        arxiv_solver(), ARXIV_CONTROLLER, Fixed(20), stabilisation=0, transition_timeout_s=3
    )
    d = ctl.decide(np.full(30, 20.0), [(2, 6, 1), (1, 6, 1)], ready=[2, 1])
    modes = [ctl.decide(np.full(30, 20.0), list(d.targets), ready=[2, 1]).mode for _ in range(3)]
    assert modes == ["hold", "hold", "horizontal"]


def test_degrades_when_nothing_fits() -> None:
    stages = [StageProfile.from_params(*p, max_batch=8, max_cores=8) for p in ARXIV_VIDEO]
    ctl = TwoStageController(ThemisSolver(stages, 60, ARXIV), ARXIV_CONTROLLER, Fixed(10))
    d = ctl.decide(np.full(10, 10.0), [(1, 1, 1), (1, 1, 1)])
    assert d.mode == "degraded" and "fastest" in d.reason
    assert d.targets == ((1, 8, 1), (1, 8, 1))


def test_targets_are_clamped_to_replica_limits() -> None:
    ctl = TwoStageController(
        arxiv_solver(), ARXIV_CONTROLLER, Fixed(62), max_replicas=[2, 2], min_replicas=[1, 1]
    )
    d = ctl.decide(np.full(10, 62.0), [(1, 1, 1), (1, 1, 1)])
    assert all(n <= 2 for n, _, _ in d.targets)


def test_horizontal_only_controller() -> None:
    ctl = HorizontalOnlyController(arxiv_solver(), ARXIV_CONTROLLER, stabilisation=2)
    # Scale-out at once, 1-core replicas (optimiser: horizontal for 62).
    d = ctl.decide(np.full(10, 62.0), [(2, 1, 1), (1, 1, 1)])
    assert d.mode == "horizontal" and d.targets == ((13, 1, 1), (4, 1, 2))
    # Scale-in waits 2 requests.
    modes = [ctl.decide(np.full(10, 7.0), list(d.targets)).mode for _ in range(3)]
    assert modes == ["hold", "hold", "horizontal"]


def test_vertical_only_controller_keeps_replicas_and_scales_down() -> None:
    ctl = VerticalOnlyController(arxiv_solver(), ARXIV_CONTROLLER, rule="themis")
    up = ctl.decide(np.full(10, 20.0), [(1, 1, 1), (1, 1, 1)])
    assert up.targets == ((1, 6, 1), (1, 2, 1))  # Optimiser: vertical for 20
    down = ctl.decide(np.full(10, 7.0), list(up.targets))
    assert down.targets == ((1, 2, 1), (1, 1, 1))  # cores come back down
    over = ctl.decide(np.full(10, 62.0), list(down.targets))
    # Beyond what 1 replica carries: the config for λ' = 24, no replicas added.
    assert over.targets == ((1, 8, 1), (1, 3, 1))


def test_vertical_only_sponge_rule_and_scale_down_stabilisation() -> None:
    ctl = VerticalOnlyController(arxiv_solver(), ARXIV_CONTROLLER, stabilisation=1, replicas=[2, 1])
    d = ctl.decide(np.full(10, 10.0), [(2, 1, 1), (1, 1, 1)])
    assert [n for n, _, _ in d.targets] == [2, 1]
    # Sponge: least cores whose drain time fits 0.9·SLO, e.g. 5 req/s per detector replica.
    lat = arxiv_solver().stages[0].latency_ms
    c0, b0 = d.targets[0][1], d.targets[0][2]
    assert np.ceil(10 / (b0 * 2)) * lat[b0 - 1, c0 - 1] <= 0.9 * 780
    low = ctl.decide(np.full(10, 2.0), list(d.targets))
    assert low.mode == "hold"
    assert ctl.decide(np.full(10, 2.0), list(d.targets)).mode == "vertical"
    with pytest.raises(ConfigError, match="rule"):
        VerticalOnlyController(arxiv_solver(), ARXIV_CONTROLLER, rule="vpa")  # type: ignore[arg-type]
