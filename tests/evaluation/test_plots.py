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


def test_timelines_and_scatters_are_drawn(
    tmp_path: Path, records: list[RunRecord], monkeypatch
) -> None:
    from themis_env.evaluation import plots
    from themis_env.evaluation.plots import plot_leaderboard

    board = build_leaderboard(records, ReferenceConfig(policies=("hold",)))
    paths = plot_leaderboard(board, records, tmp_path, timelines="first-seed")
    names = sorted(p.relative_to(tmp_path).as_posix() for p in paths)
    assert names == [
        "plots/scatter_smoke-video.png",
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


def test_the_scatter_names_each_policys_accuracy_where_the_scenario_has_one(
    tmp_path: Path, records: list[RunRecord], monkeypatch
) -> None:
    from matplotlib.axes import Axes

    from themis_env.evaluation.leaderboard import mean_ci
    from themis_env.evaluation.plots import plot_scatter

    board = build_leaderboard(records, ReferenceConfig(policies=("hold",)))
    hold, reactive = board.scenarios["smoke-video"]
    hold.kpis["accuracy"] = mean_ci([0.7, 0.8])
    texts: list[str] = []
    original = Axes.annotate
    monkeypatch.setattr(
        Axes,
        "annotate",
        lambda ax, text, *a, **k: texts.append(text) or original(ax, text, *a, **k),
    )
    plot_scatter(board, "smoke-video", tmp_path / "scatter.png")
    assert sorted(texts) == sorted([f"{hold.policy} (acc 0.750)", reactive.policy])
