from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest

from tests.evaluation.helpers import fake_record
from themis_env.evaluation.leaderboard import (
    build_leaderboard,
    mean_ci,
    t_quantile_975,
    to_csv,
    to_json,
    to_markdown,
)
from themis_env.evaluation.run_record import RunRecord
from themis_env.evaluation.suites import ReferenceConfig

# violation, cost per (scenario, policy) and seed 0, 1, 2
TABLE = {
    ("A", "ref"): ([0.10, 0.12, 0.08], [100.0, 110.0, 90.0]),
    ("A", "good"): ([0.01, 0.02, 0.00], [100.0, 100.0, 100.0]),
    ("A", "bad"): ([0.30, 0.40, 0.35], [200.0, 220.0, 210.0]),
    ("A", "oracle"): ([0.00, 0.00, 0.00], [50.0, 50.0, 50.0]),
    ("B", "ref"): ([0.20, 0.20, 0.20], [300.0, 300.0, 300.0]),
    ("B", "good"): ([0.05, 0.04, 0.06], [250.0, 260.0, 240.0]),
    ("B", "bad"): ([0.50, 0.45, 0.55], [400.0, 380.0, 420.0]),
    ("B", "oracle"): ([0.00, 0.00, 0.00], [150.0, 150.0, 150.0]),
}
REF = ReferenceConfig(policies=("ref",), violation_floor=0.01, violation_weight=0.5)


def records(**kwargs: object) -> list[RunRecord]:
    out = []
    for (sc, pol), (viol, cost) in TABLE.items():
        for seed in range(3):
            out.append(
                fake_record(
                    sc,
                    pol,
                    seed,
                    viol[seed],
                    cost[seed],
                    privileged=pol == "oracle",
                    fallback=sc == "B",
                )
            )
    return out


def expected_score(policy: str, seed: int) -> float:
    per_scenario = []
    for sc in ("A", "B"):
        v, c = TABLE[(sc, policy)][0][seed], TABLE[(sc, policy)][1][seed]
        v_ref, c_ref = TABLE[(sc, "ref")][0][seed], TABLE[(sc, "ref")][1][seed]
        n_v = (v + 0.01) / (v_ref + 0.01)
        n_c = c / c_ref
        per_scenario.append(math.sqrt(n_v * n_c))
    return math.sqrt(per_scenario[0] * per_scenario[1])


def test_t_quantiles_match_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 5, 10, 29, 30, 35, 50, 100, 500, 10_000):
        assert t_quantile_975(df) == pytest.approx(stats.t.ppf(0.975, df), rel=2e-3)
    with pytest.raises(ValueError):
        t_quantile_975(0)


def test_mean_ci_is_the_student_t_interval() -> None:
    xs = [1.0, 2.0, 4.0]
    stat = mean_ci(xs)
    assert stat.mean == pytest.approx(7 / 3)
    assert stat.ci95 == pytest.approx(4.302653 * np.std(xs, ddof=1) / math.sqrt(3))
    assert mean_ci([5.0]).ci95 is None and mean_ci([]).mean is None
    assert mean_ci([1.0, None, float("nan"), 3.0]).n == 2


def test_ranking_scores_and_intervals() -> None:
    board = build_leaderboard(records(), REF, suite="t")
    order = [r.policy for r in board.overall]
    assert order == ["good", "ref", "bad", "oracle"]
    ranks = {r.policy: r.rank for r in board.overall}
    assert ranks == {"good": 1, "ref": 2, "bad": 3, "oracle": None}  # privileged: not ranked
    good = next(r for r in board.overall if r.policy == "good")
    scores = [expected_score("good", k) for k in range(3)]
    assert good.score.mean == pytest.approx(np.mean(scores), rel=1e-12)
    assert good.score.ci95 == pytest.approx(
        4.302653 * np.std(scores, ddof=1) / math.sqrt(3), rel=1e-9
    )
    ref = next(r for r in board.overall if r.policy == "ref")
    assert ref.score.mean == pytest.approx(1.0) and ref.score.ci95 == pytest.approx(0.0, abs=1e-12)
    # Per-scenario KPI means and CIs over seeds.
    a_bad = next(r for r in board.scenarios["A"] if r.policy == "bad")
    assert a_bad.kpis["slo_violation_rate"].mean == pytest.approx(0.35)
    assert a_bad.kpis["cost"].ci95 == pytest.approx(4.302653 * 10.0 / math.sqrt(3))
    assert board.fallback_scenarios == ["B"]
    # Overall KPI columns: the mean of the per-scenario means, without an interval.
    overall_bad = next(r for r in board.overall if r.policy == "bad")
    assert overall_bad.kpis["slo_violation_rate"].mean == pytest.approx((0.35 + 0.5) / 2)
    assert overall_bad.kpis["slo_violation_rate"].ci95 is None


def test_failed_runs_rank_after_complete_policies() -> None:
    recs = [
        fake_record("A", "good", 2, 0.0, 0.0, status="failed")
        if (r.policy.label, r.scenario, r.seed) == ("good", "A", 2)
        else r
        for r in records()
    ]
    board = build_leaderboard(recs, REF)
    good = next(r for r in board.overall if r.policy == "good")
    assert good.runs_failed == 1 and good.runs_ok == 5
    assert good.score.n == 2  # seeds 0 and 1 only
    assert [r.policy for r in board.overall][:3] == ["ref", "bad", "good"]
    assert good.errors == ["RuntimeError: boom"]


def test_missing_reference_runs_leave_scores_undefined_but_not_the_ranking() -> None:
    recs = [r for r in records() if r.policy.label != "ref"]
    board = build_leaderboard(recs, REF)
    assert all(r.score.mean is None for r in board.overall)
    assert [(r.policy, r.rank) for r in board.overall] == [
        ("good", 1),
        ("bad", 2),
        ("oracle", None),
    ]


def test_outputs_in_markdown_csv_and_json() -> None:
    board = build_leaderboard(records(), REF, suite="t", notes=["a note"])
    md = to_markdown(board)
    assert "# Leaderboard: t" in md and "## Overall" in md and "## A" in md
    assert "oracle†" in md and "‡" in md and "a note" in md
    assert "| 1 | good |" in md
    rows = list(csv.DictReader(io.StringIO(to_csv(board))))
    assert len(rows) == 4 + 4 + 4
    overall_good = next(r for r in rows if r["scenario"] == "ALL" and r["policy"] == "good")
    assert float(overall_good["score"]) == pytest.approx(
        np.mean([expected_score("good", k) for k in range(3)])
    )
    assert next(r for r in rows if r["scenario"] == "B")["trace_fallback"] == "True"
    data = json.loads(to_json(board))
    assert data["score"]["reference_policies"] == ["ref"]
    assert data["overall"][0]["policy"] == "good" and data["overall"][0]["rank"] == 1
    assert data["fallback_scenarios"] == ["B"]


def test_two_reference_policies_use_their_geometric_mean() -> None:
    ref2 = ReferenceConfig(policies=("ref", "bad"), violation_floor=0.01, violation_weight=1.0)
    board = build_leaderboard(records(), ref2)
    good = next(r for r in board.scenarios["A"] if r.policy == "good")
    expected = [
        (TABLE[("A", "good")][0][k] + 0.01)
        / math.sqrt((TABLE[("A", "ref")][0][k] + 0.01) * (TABLE[("A", "bad")][0][k] + 0.01))
        for k in range(3)
    ]
    assert good.score.mean == pytest.approx(np.mean(expected))


def _cell(
    policy: str, attainment: list[float], cost: list[float], violation: float | None = None
) -> list[RunRecord]:
    return [
        fake_record(
            "smoke-video", policy, k, 1 - a if violation is None else violation, c, attainment=a
        )
        for k, (a, c) in enumerate(zip(attainment, cost, strict=True))
    ]


def test_a_cheap_policy_below_the_target_never_ranks_above_one_that_meets_it() -> None:
    # The smoke-video case: the normalised score put ppo-lowcost (0.56 of seconds in violation)
    # and VPA (0.90) above Themis (0.22); they are cheap because they drop the surge.
    recs = (
        _cell("themis", [0.995, 0.993], [900.0, 950.0], violation=0.22)
        + _cell("ppo-lowcost", [0.60, 0.58], [200.0, 210.0], violation=0.56)
        + _cell("vpa", [0.30, 0.32], [150.0, 150.0], violation=0.90)
        + _cell("hpa", [0.999, 0.998], [1200.0, 1100.0], violation=0.05)
    )
    ref = ReferenceConfig(policies=("hpa", "vpa"))
    board = build_leaderboard(recs, ref, slo_target=0.99)
    table = board.scenarios["smoke-video"]
    assert [(r.policy, r.rank, r.met) for r in table] == [
        ("themis", 1, True),
        ("hpa", 2, True),
        ("ppo-lowcost", 3, False),
        ("vpa", 4, False),
    ]
    # The secondary score still prefers the cheap policy that gives up the surge.
    score = {r.policy: r.score.mean for r in table}
    assert score["ppo-lowcost"] < score["themis"]
    themis = table[0]
    assert themis.margin == pytest.approx(0.994 - 0.99)
    half = 12.706205 * float(np.std([0.995, 0.993], ddof=1)) / math.sqrt(2)
    assert themis.kpis["slo_attainment"].ci95 == pytest.approx(half)
    # Each policy here buys attainment with cost, so none is dominated.
    assert [r.frontier for r in table] == [True, True, True, True]
    # A laxer target lets the cheap policy meet it, and it then ranks by cost.
    lax = build_leaderboard(recs, ref, slo_target=0.5).scenarios["smoke-video"]
    assert [r.policy for r in lax] == ["ppo-lowcost", "themis", "hpa", "vpa"]
    assert build_leaderboard(recs, ref).overall[0].policy == "themis"


def test_the_frontier_leaves_out_dominated_policies() -> None:
    recs = (
        _cell("a", [0.99, 0.99], [100.0, 100.0])
        + _cell("b", [0.98, 0.98], [150.0, 150.0])  # dearer and worse than a
        + _cell("c", [0.999, 0.999], [300.0, 300.0])
    )
    board = build_leaderboard(recs, ReferenceConfig(policies=("a",)))
    assert {r.policy: r.frontier for r in board.scenarios["smoke-video"]} == {
        "a": True,
        "b": False,
        "c": True,
    }
    md = to_markdown(board)
    assert "| 1 | a | yes +0.0000 | ● |" in md and "| 3 | b | no −0.0100 |  |" in md


def test_a_policy_missing_from_a_scenario_is_ranked_overall_with_a_note() -> None:
    from themis_env.evaluation.suites import SkippedRun

    recs = [r for r in records() if not (r.policy.label == "good" and r.scenario == "B")]
    skipped = [SkippedRun("B", "good", "pipeline: trained on 'video', env has 'nlp'")]
    board = build_leaderboard(recs, REF, skipped=skipped)
    good = next(r for r in board.overall if r.policy == "good")
    assert good.rank is not None and (good.scenarios, good.scenarios_total) == (1, 2)
    assert good.met is True  # it meets 0.99 on A, the only scenario it ran
    assert good.score.mean is not None
    assert board.notes == [
        "Not run on B (pipeline: trained on 'video', env has 'nlp'): good; "
        "ranked on the other scenarios."
    ]
    assert "| good | yes" in to_markdown(board).replace("| 1 | good", "| good")
    # Below the target, its mean over fewer scenarios is not like for like: it follows the
    # policies that ran every scenario, though its attainment on A is the highest.
    strict = build_leaderboard(recs, REF, skipped=skipped, slo_target=0.999)
    assert [r.policy for r in strict.overall if r.rank] == ["ref", "bad", "good"]


def test_accuracy_is_a_column_only_of_scenarios_whose_runs_serve_variants() -> None:
    from dataclasses import replace

    from themis_env.evaluation.leaderboard import scenario_table

    plain = [fake_record("plain", p, 0, 0.1, c) for p, c in (("a", 1.0), ("b", 2.0))]
    served = [
        replace(r, kpis={**(r.kpis or {}), "accuracy": acc})
        for r, acc in zip(
            [fake_record("variants", p, 0, 0.1, c) for p, c in (("a", 1.0), ("b", 2.0))],
            (0.70, 0.75),
            strict=True,
        )
    ]
    board = build_leaderboard(plain + served, ReferenceConfig(policies=("a",)))
    headers, rows = scenario_table(board, "variants")
    column = headers.index("accuracy")
    assert sorted(row[column] for row in rows) == ["0.700", "0.750"]
    assert "accuracy" not in scenario_table(board, "plain")[0]
