"""InfAdapter solver and MSP: hand-checked instances, constraints, fallback, and optimality
against HiGHS and a plain exhaustive loop."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from themis_env.baselines.infadapter import (
    InfProblem,
    InfSolver,
    InfVariant,
    allocations,
    fit_capacity_line,
)
from themis_env.baselines.infadapter.milp import solve_milp

from themis_env.errors import ConfigError
from themis_env.sim.latency import LatencyModel


def two_variants(max_cpu: int = 10) -> InfProblem:
    # A: capacity floor(0.8·10·n) = 8n; B: floor(0.8·5·n) = 4n. Load times 6 s and 8 s.
    a = InfVariant("A", 0.7, 10.0, 0.0, 6.0)
    b = InfVariant("B", 0.8, 5.0, 0.0, 8.0)
    return InfProblem((a, b), max_cpu=max_cpu, alpha=0.05, beta=0.001)


# --------------------------------------------------------------------------- hand-checked
def test_one_task_two_variants_by_hand() -> None:
    solver = InfSolver(two_variants())
    # λ = 8: B with 2 cores: 0.8 − 0.05·2/10 − 0.001·(8/8) = 0.789 (A with 2: 0.68925).
    plan = solver.solve(8)
    assert plan.feasible and plan.cores == (0, 2)
    assert plan.objective == pytest.approx(0.789)
    assert plan.shares == (0.0, 8.0)
    # λ = 40: B alone needs all 10 cores: 0.8 − 0.05 − 0.001 = 0.749; A2 + B8 gives
    # (32·0.8 + 8·0.7)/40 − 0.05 − 0.001 = 0.729; A alone 0.7 − 0.025 − 0.00075 = 0.67425.
    plan = solver.solve(40)
    assert plan.cores == (0, 10)
    assert plan.objective == pytest.approx(0.749)
    # λ = 44 exceeds B's 40: A2 + B8 (shares 12 and 32): 34/44 − 0.05 − 0.001.
    plan = solver.solve(44)
    assert plan.cores == (2, 8)
    assert plan.shares == (12.0, 32.0)
    assert plan.accuracy == pytest.approx((12 * 0.7 + 32 * 0.8) / 44)
    assert plan.objective == pytest.approx(34 / 44 - 0.051)


def test_load_cost_only_counts_changed_variants() -> None:
    solver = InfSolver(two_variants())
    # Keeping B at 2 cores costs no load time; the objective rises by β.
    assert solver.solve(8, current=(0, 2)).objective == pytest.approx(0.79)
    assert solver.solve(8, current={"B": 2}).objective == pytest.approx(0.79)
    # B resized 2 → 10: its load time counts (8/8); A removed does not.
    assert solver.solve(40, current=(5, 2)).objective == pytest.approx(0.749)
    # Only A changes (new), B kept at 8: LC = 6/8.
    plan = solver.solve(44, current=(0, 8))
    assert plan.cores == (2, 8)
    assert plan.objective == pytest.approx(34 / 44 - 0.05 - 0.001 * 6 / 8)


def test_fractional_and_zero_loads_are_planned_as_integers() -> None:
    solver = InfSolver(two_variants())
    assert solver.solve(7.2).load == 8
    assert solver.solve(0).load == 1  # some variant always serves
    assert solver.solve(0).cores == (0, 2)


def test_infeasible_load_falls_back_to_the_least_accurate_variant_with_all_cores() -> None:
    solver = InfSolver(two_variants())
    plan = solver.solve(100)  # A with all 10 cores carries 80
    assert not plan.feasible
    assert plan.cores == (10, 0)
    assert "fallback" in plan.reason
    msp = solver.msp(100)
    assert not msp.feasible and msp.cores == (10, 0)


def test_msp_picks_the_best_single_variant() -> None:
    solver = InfSolver(two_variants())
    assert solver.msp(8).cores == (0, 2)
    assert solver.msp(40).cores == (0, 10)
    # λ = 44: only A alone carries it, with 6 cores: 0.7 − 0.03 − 0.00075.
    plan = solver.msp(44)
    assert plan.cores == (6, 0)
    assert plan.objective == pytest.approx(0.66925)
    assert plan.objective <= solver.solve(44).objective


def test_capacity_floors_the_line_and_min_cores_hold() -> None:
    v = InfVariant("v", 0.5, 0.5, 0.0, 1.0)
    assert [v.capacity(n) for n in (0, 1, 5, 6)] == [0, 0, 2, 2]  # floor(0.4·n)
    assert InfVariant("neg", 0.5, 1.0, -10.0, 1.0).capacity(2) == 0
    problem = InfProblem((v,), max_cpu=6, min_cores=3)
    assert InfSolver(problem).solve(2).cores == (5,)  # floor(0.4·5) = 2; 3 or 4 cores give 1
    assert fit_capacity_line([1, 2, 3], [10, 20, 30]) == pytest.approx((10.0, 0.0))


def test_allocations_enumerate_exactly_the_allowed_set() -> None:
    rows = allocations(3, 7, 2)
    expected = [c for c in itertools.product([0, *range(2, 8)], repeat=3) if sum(c) <= 7]
    assert [tuple(r) for r in rows.tolist()] == expected  # lexicographic
    assert len(allocations(5, 20, 2)) == 20_529


def test_from_latency_model_fits_the_saturation_line() -> None:
    # l(1, c) = 600/c + 100 ms: at c = 1 it is 700 (meets 750), 1000/l = 1.43, 2.5, 3.33 ...
    m = LatencyModel("parametric", gamma=600.0, zeta=100.0)
    v = InfVariant.from_latency_model("r", 0.7, m, slo_ms=750, load_time_s=6.0, max_cores=4)
    cores = [1, 2, 3, 4]
    a, b = fit_capacity_line(cores, [1000 / (600 / c + 100) for c in cores])
    assert (v.slope, v.intercept) == pytest.approx((a, b))
    with pytest.raises(ConfigError, match="fewer than two"):  # only c = 4 (250 ms) meets it
        InfVariant.from_latency_model("r", 0.7, m, slo_ms=260, load_time_s=6.0, max_cores=4)


def test_bad_inputs_raise_config_errors() -> None:
    v = InfVariant("v", 0.5, 1.0, 0.0, 1.0)
    with pytest.raises(ConfigError, match="load_time_s"):
        InfVariant("v", 0.5, 1.0, 0.0, -1.0)
    with pytest.raises(ConfigError, match="repeat"):
        InfProblem((v, v))
    with pytest.raises(ConfigError, match="min_cores"):
        InfProblem((v,), max_cpu=2, min_cores=3)
    with pytest.raises(ConfigError, match="capacity_coef"):
        InfProblem((v,), capacity_coef=1.5)
    solver = InfSolver(InfProblem((v,)))
    with pytest.raises(ConfigError, match="load"):
        solver.solve(math.inf)
    with pytest.raises(ConfigError, match="current"):
        solver.solve(1, current=(1, 2))
    with pytest.raises(ConfigError, match="no variant 'w'"):
        solver.solve(1, current={"w": 2})


# --------------------------------------------------------------------------- exhaustive
def exhaustive(problem: InfProblem, lam: int, current: tuple[int, ...], single: bool = False):
    """Best objective over every allocation, scored loop by loop (None when none carries λ)."""
    V = len(problem.variants)
    top_lt = max(v.load_time_s for v in problem.variants)
    order = sorted(range(V), key=lambda k: -problem.variants[k].accuracy)
    best = None
    for alloc in itertools.product([0, *range(problem.min_cores, problem.max_cpu + 1)], repeat=V):
        if sum(alloc) > problem.max_cpu or (single and sum(n > 0 for n in alloc) != 1):
            continue
        caps = [problem.variants[k].capacity(alloc[k], problem.capacity_coef) for k in range(V)]
        if sum(caps) < lam:
            continue
        left, accuracy = lam, 0.0
        for k in order:
            share = min(caps[k], left)
            left -= share
            accuracy += share * problem.variants[k].accuracy / lam
        changed = [
            problem.variants[k].load_time_s
            for k in range(V)
            if alloc[k] > 0 and alloc[k] != current[k]
        ]
        lc = max(changed) / top_lt if changed and top_lt > 0 else 0.0
        value = accuracy - problem.alpha * sum(alloc) / problem.max_cpu - problem.beta * lc
        best = value if best is None else max(best, value)
    return best


@st.composite
def instances(draw):
    V = draw(st.integers(1, 3))
    variants = tuple(
        InfVariant(
            f"v{k}",
            draw(st.sampled_from([0.69758, 0.73314, 0.7613, 0.77374, 0.78312, 0.5])),
            draw(st.floats(0.5, 25)),
            draw(st.floats(-8, 4)),
            draw(st.sampled_from([0.0, 6.44, 7.77, 8.52])),
        )
        for k in range(V)
    )
    max_cpu = draw(st.integers(2, 9))
    problem = InfProblem(
        variants,
        max_cpu=max_cpu,
        alpha=draw(st.sampled_from([0.0, 0.05, 0.5])),
        beta=draw(st.sampled_from([0.0, 0.001, 0.2])),
        min_cores=draw(st.integers(1, min(3, max_cpu))),
    )
    lam = draw(st.floats(0, 120))
    current = tuple(draw(st.sampled_from([0, 1, 2, 3, 5])) for _ in range(V))
    return problem, lam, current


SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_plan(problem: InfProblem, plan) -> None:
    assert sum(plan.cores) <= problem.max_cpu
    assert all(n == 0 or n >= problem.min_cores for n in plan.cores)
    assert sum(plan.capacity) >= plan.load
    assert sum(plan.shares) == pytest.approx(plan.load)
    assert all(0 <= s <= c for s, c in zip(plan.shares, plan.capacity, strict=True))


@SETTINGS
@given(instances())
def test_solver_and_msp_are_optimal_against_exhaustive_search_and_highs(inst) -> None:
    problem, lam, current = inst
    solver = InfSolver(problem)
    load = solver.planning_load(lam)
    for single, plan in ((False, solver.solve(lam, current)), (True, solver.msp(lam, current))):
        best = exhaustive(problem, load, current, single)
        milp = solve_milp(solver, lam, current, single=single)
        assert plan.feasible == (best is not None) == (milp is not None)
        if best is None:
            assert plan.reason and sum(plan.cores) == problem.max_cpu
            continue
        check_plan(problem, plan)
        assert plan.objective == pytest.approx(best, abs=1e-9)
        assert milp[0] == pytest.approx(best, abs=1e-6)
    assert InfSolver(problem).solve(lam, current) == solver.solve(lam, current)
