"""Themis DP solvers: the authors' outputs, optimality, tie-breaks and infeasibility."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from themis_env.baselines.themis import (
    ARXIV,
    THEMIS_2025,
    SolverPreset,
    StageProfile,
    ThemisSolver,
    horizontal_dp,
    planning_load,
    vertical_dp,
    vertical_with_fallback,
)

from themis_env.config import load_pipeline
from themis_env.errors import ConfigError

P99 = -math.log(0.01)

# Fitted parameters (α, β, γ, ζ) of the video pipeline (mehransi/Themis
# experiment_parameters/video.json at b01017f and 8b3bfdd), and the presets' profiling rules.
ARXIV_VIDEO = [(148.817, 37.494, 5.433, -15.476), (34.693, 2.058, 19.479, 14.259)]
HEAD_VIDEO = [(39.909, 7.784, 1.833, 0.451), (28.084, 2.627, 6.807, 0.459)]


def arxiv_video() -> list[StageProfile]:
    return [
        StageProfile.from_params(*p, max_batch=8, max_cores=8, rounding="floor", name=n)
        for p, n in zip(ARXIV_VIDEO, ("detector", "classifier"), strict=True)
    ]


def head_video() -> list[StageProfile]:
    return [
        StageProfile.from_params(
            *p, max_batch=4, max_cores=4, rounding="themis-2025", memory_gb=mem, name=n
        )
        for p, mem, n in zip(HEAD_VIDEO, (2.0, 1.0), ("detector", "classifier"), strict=True)
    ]


# --------------------------------------------------------------------------- reference outputs
# Outputs of the authors' adapter/optimizer.py run unchanged (mehransi/Themis).
# At 8b3bfdd (2025), video: SLO 300, B_max = C_max = 4, mem {2, 1} GB, +√λ, exponential queueing,
# 1 replica per stage. Horizontal {stage: [n, c, b]}; vertical {stage: [c, b]} plus extra.
HEAD_CASES = [
    (21, [(2, 1, 1), (2, 1, 1)], [(2, 1), (2, 1)], [0, 0]),
    (43, [(3, 1, 1), (2, 1, 2)], [(4, 3), (3, 1)], [0, 0]),
    (96, [(6, 1, 2), (4, 1, 2)], [(4, 3), (3, 1)], [2, 2]),
    (183, [(11, 1, 2), (8, 1, 2)], [(4, 3), (3, 1)], [3, 3]),
]
# At b01017f (arXiv), video: SLO 780, B_max = C_max = 8. Horizontal {stage: [n, b]}.
ARXIV_CASES = [
    (7, [(2, 1), (1, 1)], [(2, 1), (1, 1)], [0, 0]),
    (20, [(4, 1), (2, 1)], [(6, 1), (2, 1)], [0, 0]),
    (33, [(7, 1), (3, 1)], [(8, 1), (3, 1)], [1, 1]),
    (62, [(13, 1), (4, 2)], [(8, 1), (3, 1)], [2, 2]),
]


def test_profile_tables_match_the_reference_tables() -> None:
    # The authors' formulas: YOLOv5n int(l) at c = 1, 2, 4, 8 and YOLOv10n with the 2025 margin.
    assert arxiv_video()[0].latency_ms[0, [0, 1, 3, 7]].tolist() == [176, 99, 60, 41]
    assert arxiv_video()[1].latency_ms[7, [0, 1, 3, 7]].tolist() == [327, 179, 104, 67]
    assert head_video()[0].latency_ms[3].tolist() == [199, 118, 91, 78]
    assert head_video()[1].latency_ms[1].tolist() == [74, 42, 32, 26]


@pytest.mark.parametrize(("load", "horizontal", "vertical", "extra"), HEAD_CASES)
def test_reference_outputs_2025(load, horizontal, vertical, extra) -> None:
    h = horizontal_dp(head_video(), 300, load, THEMIS_2025)
    assert h.feasible
    assert [(s.replicas, s.cores, s.batch) for s in h.stages] == horizontal
    v = vertical_with_fallback(head_video(), 300, load, [1, 1], THEMIS_2025)
    assert v.feasible
    assert [(s.cores, s.batch) for s in v.stages] == vertical
    assert list(v.extra) == extra
    assert [s.replicas for s in v.stages] == [1 + e for e in extra]


@pytest.mark.parametrize(("load", "horizontal", "vertical", "extra"), ARXIV_CASES)
def test_reference_outputs_arxiv(load, horizontal, vertical, extra) -> None:
    h = horizontal_dp(arxiv_video(), 780, load, ARXIV)
    assert [(s.replicas, s.batch) for s in h.stages] == horizontal
    assert all(s.cores == 1 for s in h.stages)
    v = vertical_with_fallback(arxiv_video(), 780, load, [1, 1], "themis-arxiv")
    assert [(s.cores, s.batch) for s in v.stages] == vertical
    assert list(v.extra) == extra


@pytest.mark.parametrize(
    ("ref", "preset", "cases"),
    [("themis-2025/video", THEMIS_2025, HEAD_CASES), ("themis-arxiv/video", ARXIV, ARXIV_CASES)],
)
def test_shipped_model_configs_give_the_reference_outputs(ref, preset, cases) -> None:
    # The same vectors through the shipped YAML latency models (LatencyModel.profile_ms).
    pipe = load_pipeline(ref)
    solver = ThemisSolver(
        [m.latency for m in pipe.models],
        pipe.config.slo_ms,
        preset,
        max_batch=[s.max_batch for s in pipe.config.stages],
        max_cores=[s.max_cores for s in pipe.config.stages],
        memory_gb=[m.memory_gb for m in pipe.models],
    )
    for load, horizontal, vertical, extra in cases:
        h = solver.horizontal(load)
        assert [(s.replicas, s.batch) for s in h.stages] == [(x[0], x[-1]) for x in horizontal]
        v = solver.vertical_with_fallback(load, [1, 1])
        assert [(s.cores, s.batch) for s in v.stages] == vertical
        assert list(v.extra) == extra


def test_fallback_reports_the_load_it_planned_for() -> None:
    v = vertical_with_fallback(head_video(), 300, 96, [1, 1], THEMIS_2025)
    # λ' = 43 is the largest load whose λ̂ = round(43 + √43) = 50 one replica per stage carries.
    assert v.fallback_load == 43
    assert vertical_dp(head_video(), 300, 96, [1, 1], THEMIS_2025).feasible is False
    assert vertical_dp(head_video(), 300, 43, [1, 1], THEMIS_2025).feasible is True
    assert vertical_dp(head_video(), 300, 44, [1, 1], THEMIS_2025).feasible is False


def test_planning_load_headroom_and_rounding() -> None:
    assert planning_load(43) == (43, 43)
    assert planning_load(42.2) == (43, 43)
    assert planning_load(43, 1.0) == (43, 50)  # round(43 + 6.56)
    assert planning_load(0, 1.0) == (0, 0)
    with pytest.raises(ConfigError, match="load"):
        planning_load(-1)
    with pytest.raises(ConfigError, match="load"):
        planning_load(float("nan"))


def test_zero_load_follows_the_authors_convention() -> None:
    h = horizontal_dp(arxiv_video(), 780, 0, ARXIV)
    assert [(s.replicas, s.cores, s.batch) for s in h.stages] == [(1, 1, 1), (1, 1, 1)]
    v = vertical_with_fallback(arxiv_video(), 780, 0, [3, 2], ARXIV)
    assert [(s.replicas, s.cores, s.batch) for s in v.stages] == [(3, 1, 1), (2, 1, 1)]


# --------------------------------------------------------------------------- infeasibility
def test_infeasible_instances_return_a_clear_plan_not_an_exception() -> None:
    # 100 ms cannot fit YOLOv5n (≥ 41 ms) plus ResNet18 (≥ 23 ms) at 1 core, nor vertically.
    h = horizontal_dp(arxiv_video(), 60, 10, ARXIV)
    assert not h.feasible and h.stages == () and "SLO" in h.reason
    v = vertical_with_fallback(arxiv_video(), 60, 10, [1, 1], ARXIV)
    assert not v.feasible and v.stages == () and "even 1 req/s" in v.reason
    solver = ThemisSolver(arxiv_video(), 60, ARXIV)
    best = solver.max_out(10, min_replicas=[1, 1])
    assert not best.feasible and "fastest" in best.reason
    # Fastest options: 8 cores, batch 1 (41 ms → 24 req/s; 23 ms → 43 req/s).
    assert [(s.replicas, s.cores, s.batch) for s in best.stages] == [(1, 8, 1), (1, 8, 1)]


def test_replica_cap_makes_the_horizontal_plan_infeasible() -> None:
    capped = horizontal_dp(arxiv_video(), 780, 62, ARXIV, max_replicas=[12, 10])
    assert not capped.feasible and "62 req/s" in capped.reason
    solver = ThemisSolver(arxiv_video(), 780, ARXIV, max_replicas=8)
    assert [s.replicas for s in solver.max_out(62).stages] == [3, 2]


def test_bad_inputs_raise_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown solver preset"):
        ThemisSolver(arxiv_video(), 780, "themis-2024")
    with pytest.raises(ConfigError, match="replicas"):
        vertical_dp(arxiv_video(), 780, 10, [1], ARXIV)
    with pytest.raises(ConfigError, match="max_cores"):
        ThemisSolver(arxiv_video(), 780, ARXIV, max_cores=9)
    with pytest.raises(ConfigError, match="slo_ms"):
        ThemisSolver(arxiv_video(), 0, ARXIV)
    with pytest.raises(ConfigError, match="latency_ms"):
        StageProfile(np.zeros((0, 2)))
    with pytest.raises(ConfigError, match="queueing"):
        SolverPreset("x", queueing="gamma")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- loop reference
def wait_ms(preset: SolverPreset, b: int, lam: int) -> int:
    if preset.queueing == "mean":
        return int((b - 1) * 1000 / lam)
    if preset.queueing == "p99-exponential":
        return math.ceil((b - 1) * P99 * 1000 / lam)
    return 0


def capacity(preset: SolverPreset, lam: int) -> int:
    if preset.headroom_std > 0:
        return round(lam + preset.headroom_std * math.sqrt(lam))
    return lam


def stage_options(table, preset, lam, reps, mem, vertical, core_price=18.0):
    """(latency, cost, (n, c, b)) of one stage in the authors' loop order, feasible only."""
    cap = capacity(preset, lam)
    n_b, n_c = table.shape
    cores = range(1, n_c + 1) if vertical else range(1, min(n_c, preset.horizontal_max_cores) + 1)
    out = []
    for c in cores:
        for b in range(1, n_b + 1):
            lat = int(table[b - 1, c - 1])
            total = lat + wait_ms(preset, b, lam)
            h = int(1000 * b / (total if preset.throughput_includes_queueing else lat))
            if preset.drain_batches:  # Sponge: one second's batches back to back per replica
                total += lat * (max(1, math.ceil(cap / (b * (reps if vertical else 1)))) - 1)
            if vertical:
                if h * reps < cap:
                    continue
                out.append((total, float(c), (reps, c, b)))
            else:
                if h <= 0:
                    continue
                n = math.ceil(cap / h)
                per = mem + core_price * c if preset.cost == "memory-equivalent" else c
                out.append((total, float(n * per), (n, c, b)))
    return out


def loop_dp(options, slo, core_cap=None):
    """The authors' DP over the integer latency budget, loop for loop."""
    S = len(options)
    dp = [[False] * (slo + 1) for _ in range(S)]
    best = [[None] * (slo + 1) for _ in range(S)]
    dp[0][0] = True
    best[0][0] = (0.0, None, 0)
    for s in range(S):
        for i in range(slo, -1, -1):
            if s == 0 and not dp[0][i]:
                continue
            if s > 0 and not (dp[s - 1][i] and i > 0):
                continue
            for lat, cost, choice in options[s]:
                if i + lat > slo:
                    continue
                prev = 0.0 if s == 0 else best[s - 1][i][0]
                if s > 0 and core_cap is not None and prev + cost > core_cap:
                    continue
                if not dp[s][i + lat]:
                    dp[s][i + lat] = True
                    best[s][i + lat] = (prev + cost, choice, lat)
                elif prev + cost < best[s][i + lat][0]:
                    best[s][i + lat] = (prev + cost, choice, lat)
    ind = -1
    # From t = 1: with one stage the authors' scan would also see the start state dp[0][0].
    for i in range(1, slo):
        if dp[S - 1][i] and (ind == -1 or best[S - 1][i][0] < best[S - 1][ind][0]):
            ind = i
    if ind == -1:
        return None
    total = ind
    plan = []
    for s in range(S - 1, -1, -1):
        plan.append(best[s][ind][1])
        ind -= best[s][ind][2]
    return plan[::-1], total


def loop_solve(tables, mems, slo, preset, lam, reps=None):
    vertical = reps is not None
    reps = reps or [1] * len(tables)
    opts = [
        stage_options(t, preset, lam, r, m, vertical)
        for t, r, m in zip(tables, reps, mems, strict=True)
    ]
    usable = math.floor(slo * preset.slo_fraction)
    return loop_dp(opts, usable, preset.vertical_core_cap if vertical else None)


def loop_fallback(tables, mems, slo, preset, lam, reps):
    found = loop_solve(tables, mems, slo, preset, lam, reps)
    if found is not None:
        return [(n, c, b) for n, c, b in found[0]], [0] * len(tables)
    left, right = 1, lam
    while right - left > 1:
        mid = (left + right) // 2
        if loop_solve(tables, mems, slo, preset, mid, reps) is None:
            right = mid
        else:
            left = mid
    base = loop_solve(tables, mems, slo, preset, left, reps)
    if base is None:
        return None
    rest = lam - left
    extra = []
    for t, (_, c, b) in zip(tables, base[0], strict=True):
        lat = int(t[b - 1, c - 1])
        if preset.throughput_includes_queueing and preset.queueing == "mean":
            lat += int((b - 1) * 1000 / rest)
        extra.append(math.ceil(rest / max(1, int(1000 * b / lat))))
    return [(n + e, c, b) for (n, c, b), e in zip(base[0], extra, strict=True)], extra


def brute_force(tables, mems, slo, preset, lam, reps=None):
    """Least cost, then least total latency, over every combination (definition, no DP)."""
    vertical = reps is not None
    reps = reps or [1] * len(tables)
    opts = [
        stage_options(t, preset, lam, r, m, vertical)
        for t, r, m in zip(tables, reps, mems, strict=True)
    ]
    best = None
    for combo in itertools.product(*opts):
        total = sum(o[0] for o in combo)
        cost = sum(o[1] for o in combo)
        if total >= math.floor(slo * preset.slo_fraction):
            continue
        if vertical and preset.vertical_core_cap is not None and cost > preset.vertical_core_cap:
            continue
        if best is None or (cost, total) < best:
            best = (cost, total)
    return best


# --------------------------------------------------------------------------- properties
@st.composite
def instances(draw):
    S = draw(st.integers(1, 3))
    B = draw(st.integers(1, 4))
    C = draw(st.integers(1, 4))
    tables = []
    for _ in range(S):
        if draw(st.booleans()):
            # Amdahl-shaped, as profiled models are.
            a, b_, g, z = (draw(st.floats(0, 120)) for _ in range(4))
            t = np.array(
                [
                    [max(1, int(a * b / c + b_ * b + g / c + z)) for c in range(1, C + 1)]
                    for b in range(1, B + 1)
                ]
            )
        else:
            t = np.array(
                draw(st.lists(st.integers(1, 250), min_size=B * C, max_size=B * C))
            ).reshape(B, C)
        tables.append(t)
    mems = [draw(st.sampled_from([0.0, 1.0, 1.5, 2.0])) for _ in range(S)]
    preset = draw(
        st.sampled_from(
            [
                ARXIV,
                THEMIS_2025,
                SolverPreset("mean-lat-only", "mean", False, 0.0, "memory-equivalent"),
                SolverPreset("drain", "mean", False, 0.0, slo_fraction=0.9, drain_batches=True),
                SolverPreset(
                    "p99-capped", "p99-exponential", True, 1.0, "cores", vertical_core_cap=6
                ),
                SolverPreset(
                    "no-wait-2-cores", "none", False, 0.5, "cores", horizontal_max_cores=2
                ),
            ]
        )
    )
    slo = draw(st.integers(20, 700))
    lam = draw(st.integers(1, 60))
    reps = [draw(st.integers(1, 4)) for _ in range(S)]
    return tables, mems, slo, preset, lam, reps


def make_solver(tables, mems, slo, preset):
    stages = [StageProfile(t, m) for t, m in zip(tables, mems, strict=True)]
    return ThemisSolver(stages, slo, preset)


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(instances())
def test_horizontal_is_optimal_and_breaks_ties_as_the_loop_dp(inst) -> None:
    tables, mems, slo, preset, lam, _ = inst
    plan = make_solver(tables, mems, slo, preset).horizontal(lam)
    best = brute_force(tables, mems, slo, preset, lam)
    loop = loop_solve(tables, mems, slo, preset, lam)
    assert plan.feasible == (best is not None) == (loop is not None)
    if best is None:
        return
    assert plan.cost == pytest.approx(best[0])
    assert plan.latency_ms == best[1] == loop[1]
    assert plan.targets() == [tuple(x) for x in loop[0]]


@SETTINGS
@given(instances())
def test_vertical_is_optimal_and_breaks_ties_as_the_loop_dp(inst) -> None:
    tables, mems, slo, preset, lam, reps = inst
    plan = make_solver(tables, mems, slo, preset).vertical(lam, reps)
    best = brute_force(tables, mems, slo, preset, lam, reps)
    loop = loop_solve(tables, mems, slo, preset, lam, reps)
    assert plan.feasible == (best is not None) == (loop is not None)
    if best is None:
        return
    assert plan.cost == best[0]
    assert plan.latency_ms == best[1] == loop[1]
    assert plan.targets() == [tuple(x) for x in loop[0]]


@SETTINGS
@given(instances())
def test_vertical_fallback_matches_the_loop_implementation(inst) -> None:
    tables, mems, slo, preset, lam, reps = inst
    plan = make_solver(tables, mems, slo, preset).vertical_with_fallback(lam, reps)
    loop = loop_fallback(tables, mems, slo, preset, lam, reps)
    assert plan.feasible == (loop is not None)
    if loop is None:
        assert plan.reason
        return
    assert plan.targets() == loop[0]
    assert list(plan.extra) == loop[1]
