"""IPA solver: hand-checked instances, modes, infeasibility, and optimality against HiGHS and
exhaustive search."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from themis_env.baselines.ipa import (
    IpaProblem,
    IpaSolver,
    IpaStage,
    IpaVariant,
    fit_latency,
    normalised_accuracies,
    stage_sla_ms,
)
from themis_env.baselines.ipa.milp import solve_milp

from themis_env.errors import ConfigError
from themis_env.sim.latency import LatencyModel


def one_stage(sla_ms: float = 1000.0, alpha: float = 2.0) -> IpaProblem:
    # small: 100 ms per batch of 1, 10 req/s per replica at batch 1; 1 core.
    # large: 200 ms per batch of 1, 5 req/s; 2 cores. Batch 2 is slower per batch, faster per req.
    small = IpaVariant("small", 70.0, 1, (100.0, 150.0), (10.0, 40 / 3))
    large = IpaVariant("large", 80.0, 2, (200.0, 300.0), (5.0, 20 / 3))
    stage = IpaStage("cls", (small, large), (1, 2))
    return IpaProblem((stage,), sla_ms, alpha=alpha, beta=1.0, gamma=1e-6)


# --------------------------------------------------------------------------- hand-checked
def test_one_stage_two_variants_by_hand() -> None:
    # Normalised accuracy: small 0, large 1. At λ = 10 (α = 2):
    #   small, b=1: n=1, value 0 − 1 − 1e-6;  small, b=2: n=1, value −1 − 2e-6;
    #   large, b=1: n=2, value 2 − 4 − 1e-6;  large, b=2: n=2, value 2 − 4 − 2e-6.
    plan = IpaSolver(one_stage()).solve(10)
    assert plan.feasible
    assert plan.targets() == [(0, 1, 1)]
    assert plan.objective == pytest.approx(-1.000001)
    assert plan.latency_ms == pytest.approx(100.0)
    # α = 10 makes accuracy worth the cores: large, b=1, n=2: 10 − 4 − 1e-6.
    plan = IpaSolver(one_stage(alpha=10)).solve(10)
    assert plan.targets() == [(1, 1, 2)]
    assert plan.objective == pytest.approx(5.999999)
    assert plan.stages[0].variant == "large" and plan.stages[0].cores == 2


def test_batch_wait_counts_against_the_sla() -> None:
    # α = 10, λ = 20, SLA 400 ms. large b=1: n=4, value 10 − 8; large b=2: 300 + 50 ms wait,
    # n = ceil(20 / (20/3)) = 3, value 10 − 6 − 2e-6: the better plan, and it fits.
    plan = IpaSolver(one_stage(400, alpha=10)).solve(20)
    assert plan.targets() == [(1, 2, 3)]
    assert plan.latency_ms == pytest.approx(350.0)
    # SLA 340 ms rules the wait out: back to large b=1 with 4 replicas.
    plan = IpaSolver(one_stage(340, alpha=10)).solve(20)
    assert plan.targets() == [(1, 1, 4)]


def test_modes_scale_and_switch() -> None:
    solver = IpaSolver(one_stage(alpha=10))
    # FA2-low: variant fixed to the small one, replicas chosen.
    plan = solver.solve(25, mode="scale", variants=["small"])
    assert plan.targets() == [(0, 2, 2)]  # b=2: 13.3 req/s → 2 replicas (b=1 needs 3)
    # RIM: replicas fixed at 3, the variant switches: large at b=2 carries 20 req/s, not 25.
    plan = solver.solve(20, mode="switch", replicas=[3])
    assert plan.targets() == [(1, 2, 3)]
    plan = solver.solve(25, mode="switch", replicas=[3])
    assert plan.targets() == [(0, 1, 3)]
    with pytest.raises(ConfigError, match="variants"):
        solver.solve(10, mode="scale")
    with pytest.raises(ConfigError, match="replicas"):
        solver.solve(10, mode="switch")
    with pytest.raises(ConfigError, match="no variant 'tiny'"):
        solver.solve(10, mode="scale", variants=["tiny"])


def test_ties_prefer_the_fewest_changes_from_the_current_configuration() -> None:
    # β = γ = 0 and equal accuracy normalisation 1 for a single variant: every batch ties.
    v = IpaVariant("only", 50.0, 1, (10.0, 12.0, 14.0), (100.0, 150.0, 200.0))
    problem = IpaProblem((IpaStage("s", (v,), (1, 2, 4)),), 1000.0, beta=0.0, gamma=0.0)
    solver = IpaSolver(problem)
    assert solver.solve(50).targets()[0][1] == 1  # least latency without a current config
    assert solver.solve(50, current=[("only", 4, 1)]).targets()[0][1] == 4


def test_infeasible_load_keeps_the_current_configuration() -> None:
    solver = IpaSolver(IpaProblem(one_stage().stages, 1000.0, max_replicas=2))
    plan = solver.solve(100, current=[("large", 1, 2)])
    assert not plan.feasible
    assert plan.targets() == [(1, 1, 2)]
    assert "keeps the current configuration" in plan.reason
    empty = solver.solve(100)
    assert not empty.feasible and empty.stages == () and empty.objective == -math.inf
    sla_bound = IpaSolver(one_stage(sla_ms=50)).solve(1)
    assert not sla_bound.feasible and "SLA" in sla_bound.reason


def test_zero_load_plans_one_replica_and_no_wait() -> None:
    # One replica each: small 0 − 1, large 2 − 2 (α = 2): large, batch 1, no wait.
    plan = IpaSolver(one_stage()).solve(0)
    assert plan.feasible and plan.targets() == [(1, 1, 1)]
    assert plan.latency_ms == pytest.approx(200.0)


def test_normalisation_fit_and_profiles() -> None:
    assert normalised_accuracies([76.1, 69.8, 78.3]).tolist() == [0.5, 0.0, 1.0]
    assert normalised_accuracies([42.0]).tolist() == [1.0]
    # An exact quadratic is recovered; a fit that dips below 0 falls back to the line.
    assert fit_latency([1, 2, 4, 8], [3 + 2 * b + b * b for b in (1, 2, 4, 8)]) == pytest.approx(
        (6, 11, 27, 83)
    )
    # Symmetric points around b = 3: the parabola is −16/3 there, so the line (mean 10.5) is used.
    assert fit_latency([1, 2, 4, 5], [20, 1, 1, 20], at=(1, 3)) == pytest.approx(
        (19 / 3 * 4 - 16 / 3, 10.5)
    )
    # l(b, c) = 100·b/c + 10: c=1 gives 110 ms (9.1 req/s at b=1) → base allocation 1 core
    # with threshold 4; threshold 12 needs 1000·b/(100·b/c + 10) ≥ 12 → c = 2 at b=8.
    m = LatencyModel("parametric", alpha=100.0, zeta=10.0)
    assert IpaVariant.from_latency_model("m", 1, m, stage_sla_ms=1000, max_cores=4).cores == 1
    v = IpaVariant.from_latency_model("m", 1, m, stage_sla_ms=1000, max_cores=4, threshold_rps=12)
    assert v.cores == 2
    assert v.latency_ms == pytest.approx(tuple(100 * b / 2 + 10 for b in (1, 2, 4, 8)))
    assert v.throughput_rps[0] == pytest.approx(1000 / 60)
    with pytest.raises(ConfigError, match="no allocation"):
        IpaVariant.from_latency_model("m", 1, m, stage_sla_ms=50, max_cores=1)
    assert stage_sla_ms([m], 4) == pytest.approx(5 * 5 * 35.0)
    stage = IpaStage.from_latency_models("s", [("a", 1, m), ("b", 2, m)], max_cores=4)
    assert [v.cores for v in stage.variants] == [1, 1]


def test_bad_inputs_raise_config_errors() -> None:
    v = IpaVariant("a", 1.0, 1, (10.0,), (100.0,))
    with pytest.raises(ConfigError, match="cores"):
        IpaVariant("a", 1.0, 0, (10.0,), (100.0,))
    with pytest.raises(ConfigError, match="latency_ms"):
        IpaVariant("a", 1.0, 1, (-1.0,), (100.0,))
    with pytest.raises(ConfigError, match="profile values"):
        IpaStage("s", (v,), (1, 2))
    with pytest.raises(ConfigError, match="repeat"):
        IpaStage("s", (v, v), (1,))
    stage = IpaStage("s", (v,), (1,))
    with pytest.raises(ConfigError, match="sla_ms"):
        IpaProblem((stage,), 0.0)
    with pytest.raises(ConfigError, match="accuracy_method"):
        IpaProblem((stage,), 100.0, accuracy_method="multiply")
    solver = IpaSolver(IpaProblem((stage,), 100.0))
    with pytest.raises(ConfigError, match="load"):
        solver.solve(-1)
    with pytest.raises(ConfigError, match="mode"):
        solver.solve(1, mode="both")


# --------------------------------------------------------------------------- exhaustive
def exhaustive(problem: IpaProblem, lam: float, mode="ipa", variants=None, replicas=None):
    """Best objective over every (variant, batch, replicas) per stage, by definition."""
    weight = problem.alpha / (len(problem.stages) if problem.accuracy_method == "average" else 1)
    per_stage = []
    for s, stage in enumerate(problem.stages):
        acc = normalised_accuracies([v.accuracy for v in stage.variants])
        opts = []
        for k, v in enumerate(stage.variants):
            if mode == "scale" and k != stage.index(variants[s]):
                continue
            for j, b in enumerate(stage.batches):
                lat, tput = v.latency_ms[j], v.throughput_rps[j]
                if math.isnan(lat):
                    continue
                ns = [replicas[s]] if mode == "switch" else range(1, problem.max_replicas + 1)
                for n in ns:
                    if n * tput < lam * (1 - 1e-9):
                        continue
                    wait = 1000 * (b - 1) / lam if lam > 0 else 0.0
                    value = weight * acc[k] - problem.beta * v.cores * n - problem.gamma * b
                    opts.append((value, lat + wait))
        per_stage.append(opts)
    best = None
    for combo in itertools.product(*per_stage):
        if sum(t for _, t in combo) <= problem.sla_ms * (1 + 1e-9):
            value = sum(v for v, _ in combo)
            best = value if best is None else max(best, value)
    return best


@st.composite
def instances(draw):
    S = draw(st.integers(1, 3))
    batches = tuple(sorted(draw(st.sets(st.sampled_from((1, 2, 4, 8)), min_size=1, max_size=3))))
    stages = []
    for s in range(S):
        V = draw(st.integers(1, 3))
        variants = []
        for k in range(V):
            base = draw(st.floats(5, 300))
            growth = draw(st.floats(0.3, 1.2))
            lat = [base * b**growth for b in batches]
            if draw(st.booleans()) and len(batches) > 1:
                lat[draw(st.integers(0, len(batches) - 1))] = math.nan  # not profiled
            tput = [
                1000 * b / x if not math.isnan(x) else math.nan
                for b, x in zip(batches, lat, strict=True)
            ]
            acc = draw(st.sampled_from([40.0, 55.5, 70.0, 76.1, 80.0]))
            variants.append(
                IpaVariant(f"v{k}", acc, draw(st.integers(1, 4)), tuple(lat), tuple(tput))
            )
        stages.append(IpaStage(f"s{s}", tuple(variants), batches))
    problem = IpaProblem(
        tuple(stages),
        draw(st.floats(50, 1500)),
        alpha=draw(st.sampled_from([0.0, 2.0, 10.0])),
        beta=draw(st.sampled_from([0.0, 0.5, 1.0])),
        gamma=draw(st.sampled_from([0.0, 1e-6, 0.1])),
        max_replicas=draw(st.integers(1, 6)),
        accuracy_method=draw(st.sampled_from(["sum", "average"])),
    )
    lam = draw(st.sampled_from([0.0, 1.0, 3.0, 7.5, 12.0, 30.0, 80.0]))
    mode = draw(st.sampled_from(["ipa", "ipa", "scale", "switch"]))
    variants = [draw(st.integers(0, len(s.variants) - 1)) for s in stages]
    replicas = [draw(st.integers(1, problem.max_replicas)) for _ in stages]
    current = [
        (draw(st.integers(0, len(s.variants) - 1)), draw(st.sampled_from(batches)), 1)
        for s in stages
    ]
    return problem, lam, mode, variants, replicas, current


SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_plan(problem: IpaProblem, plan, lam: float, mode, variants, replicas) -> None:
    total = 0.0
    for s, sp in enumerate(plan.stages):
        stage = problem.stages[s]
        v = stage.variants[sp.variant_index]
        j = stage.batches.index(sp.batch)
        assert 1 <= sp.replicas <= problem.max_replicas
        assert sp.replicas * v.throughput_rps[j] >= lam * (1 - 1e-9)
        assert sp.cores == v.cores
        total += v.latency_ms[j] + (1000 * (sp.batch - 1) / lam if lam > 0 else 0.0)
        if mode == "scale":
            assert sp.variant_index == variants[s]
        if mode == "switch":
            assert sp.replicas == replicas[s]
    assert total <= problem.sla_ms * (1 + 1e-9)
    assert total == pytest.approx(plan.latency_ms)


@SETTINGS
@given(instances())
def test_solver_is_optimal_against_exhaustive_search_and_highs(inst) -> None:
    problem, lam, mode, variants, replicas, current = inst
    solver = IpaSolver(problem)
    kw = {"variants": variants} if mode == "scale" else {}
    if mode == "switch":
        kw = {"replicas": replicas}
    plan = solver.solve(lam, mode=mode, current=current, **kw)
    best = exhaustive(problem, lam, mode, variants, replicas)
    milp = solve_milp(solver, lam, mode=mode, **kw)
    assert plan.feasible == (best is not None) == (milp is not None)
    if best is None:
        assert plan.reason and plan.targets() == [(v, b, n) for v, b, n in current]
        return
    check_plan(problem, plan, lam, mode, variants, replicas)
    assert plan.objective == pytest.approx(best, abs=1e-7)
    assert milp[0] == pytest.approx(best, abs=1e-6)
    assert solver.objective(lam, plan.targets()) == pytest.approx(plan.objective)
    # Same inputs, same plan (a fresh solver too).
    assert IpaSolver(problem).solve(lam, mode=mode, current=current, **kw) == plan
