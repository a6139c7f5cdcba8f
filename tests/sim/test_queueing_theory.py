"""The simulator against closed-form queueing results (b = 1, one stage, warm-up discarded)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from themis_env.sim.simulator import StageDecision

from .conftest import constant_pipeline, make_sim

SEEDS = (1, 2, 3, 4)
WARMUP_S = 200
RUN_S = 6000


def _run(
    service_ms: float, servers: int, lam: float, *, seed: int, **cluster
) -> tuple[float, float, float]:
    """Mean sojourn time [s], time-average number in system, and measured arrival rate."""
    sim = make_sim(constant_pipeline(service_ms), **cluster)
    sim.reset(
        np.random.default_rng(seed), np.full(WARMUP_S + RUN_S, lam), [StageDecision(servers, 1, 1)]
    )
    for _ in range(WARMUP_S):
        sim.advance(1.0)
    before = sim.episode_kpis()
    in_system = []
    for _ in range(RUN_S):
        sim.advance(1.0)
        in_system.append(sim.in_system)
    after = sim.episode_kpis()
    completed = after["completed"] - before["completed"]
    latency_sum = (
        after["latency_mean_ms"] * after["completed"]
        - before["latency_mean_ms"] * before["completed"]
    )
    arrival_rate = (after["requests"] - before["requests"]) / RUN_S
    return latency_sum / completed / 1e3, float(np.mean(in_system)), arrival_rate


def _erlang_c(c: int, a: float) -> float:
    """Probability of waiting in M/M/c with offered load a = λ/μ."""
    rho = a / c
    top = a**c / math.factorial(c) / (1 - rho)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


@pytest.mark.parametrize(
    ("name", "servers", "lam", "cluster", "expected"),
    [
        # M/M/1, mu = 10/s, rho = 0.7: W = 1 / (mu - lambda).
        ("M/M/1", 1, 7.0, {"service_distribution": "exponential"}, 1 / (10 - 7)),
        # M/D/1, rho = 0.7: W = S + rho S / (2 (1 - rho)).
        ("M/D/1", 1, 7.0, {}, 0.1 + 0.7 * 0.1 / (2 * 0.3)),
        # M/M/3, rho = 0.8: W = S + C(3, a) / (c mu - lambda).
        (
            "M/M/3",
            3,
            24.0,
            {"service_distribution": "exponential"},
            0.1 + _erlang_c(3, 2.4) / (30 - 24),
        ),
        # M/G/1 with lognormal cv 0.5: Pollaczek-Khinchine, E[S^2] = S^2 (1 + cv^2).
        ("M/G/1", 1, 6.0, {"service_noise_cv": 0.5}, 0.1 + 6.0 * 0.01 * 1.25 / (2 * (1 - 0.6))),
    ],
)
def test_mean_sojourn_time_and_littles_law(name, servers, lam, cluster, expected):
    results = [_run(100.0, servers, lam, seed=s, **cluster) for s in SEEDS]
    sojourn = np.mean([r[0] for r in results])
    number = np.mean([r[1] for r in results])
    rate = np.mean([r[2] for r in results])
    assert sojourn == pytest.approx(expected, rel=0.05), name
    # Little's law: L = lambda W, with the measured rate and the measured sojourn time.
    assert number == pytest.approx(rate * sojourn, rel=0.05), name


def _formation_wait_quantile(q: float, b: int, lam: float) -> float:
    """The ``q`` quantile of a batch member's wait: the equal mixture of Erlang(j, lam), j < b."""

    def erlang_cdf(k: int, t: float) -> float:
        x = lam * t
        return 1.0 - math.exp(-x) * sum(x**n / math.factorial(n) for n in range(k))

    lo, hi = 0.0, 100 * b / lam
    for _ in range(60):  # bisection on the mixture's CDF
        mid = 0.5 * (lo + hi)
        if sum(erlang_cdf(k, mid) for k in range(b)) / b < q:
            lo = mid
        else:
            hi = mid
    return hi


def test_batch_formation_wait_matches_b_minus_1_over_lambda():
    # Ample, fast replicas: a request's latency is its wait for the batch to fill plus service.
    # The request at position j of a batch (0 = first) waits for the b - 1 - j arrivals after
    # it, an Erlang(b - 1 - j, lambda) time: (b - 1)/lambda on average for the first, 0 for the
    # last. Over all members the mean is (b - 1) / (2 lambda), and the quantiles are those of
    # the equal mixture of the b Erlang laws (the upper ones set by the first positions).
    b, lam, service = 4, 20.0, 0.010
    sim = make_sim(constant_pipeline(service * 1e3, max_batch=b))
    sim.reset(np.random.default_rng(7), np.full(3000, lam), [StageDecision(8, 1, b)])
    for _ in range(3000):
        sim.advance(1.0)
    kpis = sim.episode_kpis()
    wait = kpis["latency_mean_ms"] / 1e3 - service
    assert wait == pytest.approx((b - 1) / (2 * lam), rel=0.05)
    for q in (0.50, 0.95, 0.99):
        quantile = kpis[f"latency_p{round(100 * q)}_ms"] / 1e3 - service
        # 3 %: the latency histogram's 2 % bins and sampling.
        assert quantile == pytest.approx(_formation_wait_quantile(q, b, lam), rel=0.03), q


def test_batch_timeout_bounds_the_formation_wait():
    # With a 50 ms timeout and sparse traffic no request waits for its batch more than 50 ms.
    sim = make_sim(constant_pipeline(10.0, max_batch=8, batch_timeout_ms=50.0))
    sim.reset(np.random.default_rng(3), np.full(500, 2.0), [StageDecision(4, 1, 8)])
    for _ in range(500):
        sim.advance(1.0)
    kpis = sim.episode_kpis()
    assert kpis["completed"] > 500
    assert kpis["latency_p99_ms"] <= (50 + 10) * 1.03  # histogram resolution is 2 %
