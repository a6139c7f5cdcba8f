from __future__ import annotations

from pathlib import Path

import pytest

from tests.evaluation.helpers import HOLD, REACTIVE, fake_record
from themis_env.evaluation.leaderboard import build_leaderboard
from themis_env.evaluation.parallel import run_specs
from themis_env.evaluation.run_record import RunRecord
from themis_env.evaluation.runner import RunSpec
from themis_env.evaluation.suites import ReferenceConfig

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def records() -> list[RunRecord]:
    specs = [
        RunSpec(
            scenario="smoke-video",
            seed=seed,
            policy=policy,
            policy_label=label,
            overrides={"episode_s": 15},
        )
        for policy, label in ((HOLD, "hold"), (REACTIVE, "reactive"))
        for seed in (0, 1)
    ]
    out: list[RunRecord] = []
    run_specs(specs, out.append, progress=False)
    return out


def test_timelines_and_frontiers_are_drawn(
    tmp_path: Path, records: list[RunRecord], monkeypatch
) -> None:
    from themis_env.evaluation import plots
    from themis_env.evaluation.plots import plot_leaderboard

    board = build_leaderboard(records, ReferenceConfig(policies=("hold",)))
    paths = plot_leaderboard(board, records, tmp_path, timelines="first-seed")
    names = sorted(p.relative_to(tmp_path).as_posix() for p in paths)
    assert names == [
        "plots/frontier_smoke-video.png",
        "plots/timelines/smoke-video/hold_seed0.png",
        "plots/timelines/smoke-video/reactive_seed0.png",
    ]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Which timelines the other modes draw (drawing them again would only cost time).
    monkeypatch.setattr(plots, "plot_timeline", lambda record, path: path)
    assert len(plot_leaderboard(board, records, tmp_path, timelines="all")) == 1 + 4
    assert len(plot_leaderboard(board, records, tmp_path, timelines="none")) == 1
    with pytest.raises(ValueError, match="timelines"):
        plot_leaderboard(board, records, tmp_path, timelines="some")


def test_a_run_without_timeline_cannot_be_drawn(tmp_path: Path) -> None:
    from themis_env.evaluation.plots import plot_timeline

    with pytest.raises(ValueError, match="no timeline"):
        plot_timeline(fake_record("A", "p", 0, 0.1, 1.0, status="failed"), tmp_path / "x.png")


def test_the_frontier_plot_has_no_overlapping_labels_nor_bars_below_zero_cost() -> None:
    from themis_env.evaluation.plots import frontier_figure

    # Two policies at the same point (labels used to be printed on top of each other) and a
    # cost so spread over seeds that mean − CI is negative.
    recs = [
        fake_record("A", pol, k, 0.1, cost, attainment=att)
        for pol, costs, att in (
            ("p", (10.0, 10.0), 0.95),
            ("q", (10.0, 10.0), 0.95),
            ("wide", (1.0, 200.0), 0.999),
        )
        for k, cost in enumerate(costs)
    ]
    board = build_leaderboard(recs, ReferenceConfig(policies=("p",)))
    wide = next(r for r in board.scenarios["A"] if r.policy == "wide")
    assert wide.kpis["cost"].mean - wide.kpis["cost"].ci95 < 0
    ax = frontier_figure(board, "A").axes[0]
    assert len(ax.texts) == 0  # names are in the legend, one entry each
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"1. wide", "2. p", "3. q", "frontier"} <= set(labels)
    bars = [seg for c in ax.collections for seg in c.get_segments()]
    assert bars and min(float(seg[:, 0].min()) for seg in bars) >= 0.0
    assert max(float(seg[:, 1].max()) for seg in bars) <= 1.0
    assert ax.get_xlim()[0] == 0.0


def test_the_frontier_legend_names_each_policys_accuracy_where_the_scenario_has_one(
    records: list[RunRecord],
) -> None:
    from themis_env.evaluation.leaderboard import mean_ci
    from themis_env.evaluation.plots import frontier_figure

    board = build_leaderboard(records, ReferenceConfig(policies=("hold",)))
    hold, reactive = board.scenarios["smoke-video"]
    hold.kpis["accuracy"] = mean_ci([0.7, 0.8])
    ax = frontier_figure(board, "smoke-video").axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(label.endswith(f"{hold.policy} (acc 0.750)") for label in labels), labels
    assert any(label.endswith(reactive.policy) for label in labels), labels
