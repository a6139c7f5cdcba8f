"""Model variants in the simulator: routing, switching cost, accuracy and conservation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from themis_env.config import (
    ClusterConfig,
    ColdStartConfig,
    ModelConfig,
    PipelineConfig,
    StageConfig,
)
from themis_env.config.loader import Pipeline
from themis_env.config.schema import AccuracyConfig
from themis_env.sim.latency import LatencyModel
from themis_env.sim.simulator import Simulator

from .conftest import constant_pipeline, make_sim


def variant_pipeline(
    stages: list[list[tuple[float, float, float | None]]],
    *,
    combine: str = "sum",
    drop_after_slo: float | None = None,
    max_replicas: int = 8,
) -> Pipeline:
    """Stages of constant-service variants, each (service_ms, accuracy, load_time_s or None).

    A stage given one variant is a one-model stage; accuracies are used as they are.
    """
    configs, models, variants = [], [], []
    for i, specs in enumerate(stages):
        ms = tuple(
            ModelConfig(
                name=f"m{i}{j}",
                latency=LatencyModel(zeta=service),
                accuracy=accuracy,
                accuracy_metric="a",
                load_time_s=load,
            )
            for j, (service, accuracy, load) in enumerate(specs)
        )
        refs = tuple(m.name for m in ms)
        one = len(refs) == 1
        configs.append(
            StageConfig(
                name=f"s{i}",
                model=refs[0] if one else "",
                variants=() if one else refs,
                max_cores=4,
                max_batch=4,
                max_replicas=max_replicas,
            )
        )
        models.append(ms[0])
        variants.append(ms)
    config = PipelineConfig(
        name="variants",
        slo_ms=1000.0,
        stages=tuple(configs),
        drop_after_slo=drop_after_slo,
        accuracy=AccuracyConfig(normalise="none", combine=combine),  # type: ignore[arg-type]
    )
    several = any(len(v) > 1 for v in variants)
    return Pipeline(config, tuple(models), tuple(variants) if several else ())


def cluster(**extra) -> ClusterConfig:
    cold = ColdStartConfig(distribution="constant", median_s=8.0, min_s=0.0, max_s=60.0)
    return ClusterConfig(**{"nodes": 1, "cores_per_node": 32, "cold_start": cold, **extra})


def drained_kpis(sim: Simulator, rng, rate: float, seconds: int, initial) -> dict[str, float]:
    """Run ``seconds`` of load at ``rate`` and then drain, returning the episode KPIs."""
    sim.reset(rng, np.full(seconds, rate), initial)
    sim.advance(float(seconds + 60))
    kpis = sim.episode_kpis()
    assert kpis["completed"] == kpis["requests"] > 0  # everything served
    return kpis


def test_idle_replicas_take_turns_whatever_their_variant(rng):
    # Sparse load: both replicas are idle at every arrival. The one available earliest (idle
    # the longest) takes the batch, the first tie going to the lowest slot, which the first
    # variant's replica holds: the variants alternate, the first taking ceil(n / 2).
    pipe = variant_pipeline([[(10.0, 0.5, None), (10.0, 1.0, None)]])
    sim = Simulator(pipe, cluster(), arrival_process="exact")
    kpis = drained_kpis(sim, rng, 3.0, 31, [(1, 1, 1, 1)])
    n = kpis["requests"]
    assert n == 93  # odd: the first tie's winner takes one more
    first = (n + 1) // 2
    assert kpis["variant_share.s0.m00"] == first / n
    assert kpis["accuracy"] == pytest.approx((0.5 * first + 1.0 * (n - first)) / n, rel=1e-12)


def test_under_saturation_each_variant_takes_load_in_proportion_to_its_speed(rng):
    # Work-conserving earliest-free routing: a 10-ms and a 100-ms replica kept busy serve
    # 100 and 10 requests per second, so the fast one takes 10/11 of the load.
    sim = Simulator(variant_pipeline([[(10.0, 0.5, None), (100.0, 1.0, None)]]), cluster())
    kpis = drained_kpis(sim, rng, 200.0, 20, [(1, 1, 1, 1)])
    fast, slow = kpis["variant_share.s0.m00"], kpis["variant_share.s0.m01"]
    assert fast == pytest.approx(10 / 11, abs=0.01) and fast + slow == pytest.approx(1.0)
    # Request-weighted: every request carries the accuracy of the replica that served it.
    assert kpis["accuracy"] == pytest.approx(0.5 * fast + 1.0 * slow, rel=1e-12)


def test_identical_variants_behave_as_replicas_of_one_model():
    # Routing ignores the variant: two variants with one profile are two replicas of one model.
    two = variant_pipeline([[(30.0, 0.5, None), (30.0, 0.5, None)]])
    one = variant_pipeline([[(30.0, 0.5, None)]])
    a = Simulator(two, cluster(service_noise_cv=0.3))
    b = Simulator(one, cluster(service_noise_cv=0.3))
    a.reset(np.random.default_rng(3), np.full(30, 50.0), [(1, 1, 1, 1)])
    b.reset(np.random.default_rng(3), np.full(30, 50.0), [(2, 1, 1)])
    for _ in range(30):
        sa, sb = a.advance(1.0), b.advance(1.0)
        assert (sa.completed, sa.late, sa.latency_p99_ms) == (
            sb.completed,
            sb.late,
            sb.latency_p99_ms,
        )


@pytest.mark.parametrize(
    ("combine", "expected"), [("sum", 50.6), ("average", 25.3), ("multiply", 30.0)]
)
def test_accuracy_kpi_of_one_variant_per_stage_by_hand(rng, combine, expected):
    pipe = variant_pipeline(
        [[(10.0, 40.0, None), (10.0, 50.0, None)], [(10.0, 0.6, None), (10.0, 0.8, None)]],
        combine=combine,
    )
    sim = Simulator(pipe, cluster())
    kpis = drained_kpis(sim, rng, 20.0, 20, [(0, 1, 1, 1), (1, 0, 1, 1)])
    assert kpis["accuracy"] == pytest.approx(expected, rel=1e-12)
    assert kpis["variant_share.s0.m01"] == 1.0 and kpis["variant_share.s1.m10"] == 1.0


def test_accuracy_kpi_with_a_mixed_stage_is_the_request_weighted_mean(rng):
    pipe = variant_pipeline(
        [[(5.0, 50.0, None)], [(10.0, 0.6, None), (60.0, 0.8, None)]], combine="multiply"
    )
    sim = Simulator(pipe, cluster())
    kpis = drained_kpis(sim, rng, 150.0, 20, [(1, 0, 1, 1), (1, 1, 1, 1)])
    share = kpis["variant_share.s1.m10"]
    assert 0.5 < share < 1.0
    assert kpis["accuracy"] == pytest.approx(50.0 * (0.6 * share + 0.8 * (1 - share)), rel=1e-9)


def test_switching_pays_the_new_variants_load_time_and_nothing_serves_meanwhile(rng):
    # The cluster's cold start is a constant 8 s; variant 1 loads in 4 s.
    pipe = variant_pipeline([[(10.0, 0.5, None), (10.0, 1.0, 4.0)]])
    sim = Simulator(pipe, cluster())
    sim.reset(rng, np.full(30, 20.0), [(1, 0, 1, 1)])
    sim.advance(5.0)
    sim.apply([(0, 1, 1, 1)])  # switch: variant 0 drains at once, variant 1 cold-starts
    sim.advance(3.0)
    assert sim.variant_replicas().tolist() == [[0, 1]]
    assert sim.variant_replicas(ready=True).tolist() == [[0, 0]]
    assert sim.served[0, 1] == 0  # nothing served by a replica still loading
    sim.advance(1.0)  # t = 9: 4 s after the switch
    assert sim.variant_replicas(ready=True).tolist() == [[0, 1]]
    sim.advance(1.0)
    assert sim.served[0, 1] > 0
    # Without its own load time a variant takes the cluster's cold start (8 s).
    sim.apply([(1, 1, 1, 1)])
    sim.advance(7.0)
    assert sim.variant_replicas(ready=True).tolist() == [[0, 1]]
    sim.advance(1.0)
    assert sim.variant_replicas(ready=True).tolist() == [[1, 1]]


def test_a_decision_with_the_wrong_number_of_values_names_the_knobs(rng):
    sim = Simulator(variant_pipeline([[(10.0, 0.5, None), (10.0, 1.0, None)]]), cluster())
    sim.reset(rng, np.full(5, 1.0), [(1, 0, 1, 1)])
    with pytest.raises(ValueError, match=r"replicas of m00, replicas of m01, cores, batch"):
        sim.apply([(1, 1, 1)])
    with pytest.raises(ValueError, match=r"replicas of m01 = 9 is outside \[0, 8\]"):
        sim.apply([(1, 9, 1, 1)])


def test_one_model_pipelines_report_no_accuracy_figures(rng):
    sim = make_sim(constant_pipeline([20.0]))
    sim.reset(rng, np.full(5, 5.0), [(1, 1, 1)])
    sim.advance(5.0)
    kpis = sim.episode_kpis()
    assert "accuracy" not in kpis and not any(k.startswith("variant_share") for k in kpis)


replicas = st.integers(0, 3)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shape=st.lists(st.integers(1, 3), min_size=1, max_size=3),
    rate=st.floats(0.0, 80.0),
    seed=st.integers(0, 2**16),
    drop=st.sampled_from([None, 1.0]),
    combine=st.sampled_from(["sum", "multiply"]),
    plan=st.lists(
        st.lists(st.tuples(replicas, replicas, replicas, st.integers(1, 4), st.integers(1, 4))),
        min_size=1,
        max_size=5,
    ),
)
def test_conservation_holds_with_mixed_variants(shape, rate, seed, drop, combine, plan):
    stages = [
        [(5.0 + 40.0 * j, 0.2 + 0.3 * j, 2.0 + j if j else None) for j in range(n)] for n in shape
    ]
    pipe = variant_pipeline(stages, combine=combine, drop_after_slo=drop, max_replicas=3)
    sim = Simulator(pipe, cluster(cores_per_node=12, service_noise_cv=0.3))
    v = sim.n_variants

    def decision(k: int) -> list[tuple[int, ...]]:
        rows = plan[k % len(plan)] or [(1, 1, 1, 1, 1)]
        out = []
        for s, n in enumerate(shape):
            counts, cores, batch = rows[s % len(rows)][:3], *rows[s % len(rows)][3:]
            used = [max(counts[0], 1 if n == 1 else 0), *counts[1:n]][:n]
            out.append((*used, *[0] * (v - n), cores, batch))
        return out

    sim.reset(
        np.random.default_rng(seed), np.full(30, rate), [(1, *[0] * (v - 1), 1, 1)] * len(shape)
    )
    arrived = completed = dropped = 0
    best = sim.pipeline.combine_accuracy([max(a for _, a, _ in st_) for st_ in stages])
    for k in range(40):
        if k % 4 == 0:
            sim.apply(decision(k // 4))
        stats = sim.advance(1.0)
        arrived += stats.arrived
        completed += stats.completed
        dropped += stats.dropped
        assert arrived == completed + dropped + sim.in_system
        assert sim.in_system == sim.in_system_by_inspection()
        assert sim.free_cores().min() >= 0
        assert 0.0 <= stats.accuracy_sum <= stats.completed * best + 1e-9
    served = sim.served.sum(axis=1)
    assert np.all(served[1:] <= served[:-1])  # a stage serves only what the one before did
