"""The check's figures from a run, its cases, and one tiny end-to-end run."""

from __future__ import annotations

import math
import multiprocessing
import os
from pathlib import Path

import numpy as np
import pytest

from themis_env.config import load_model
from themis_env.realserve import BatchRecord, RealRun
from themis_env.realserve.check import Case, CheckPlan, default_cases, real_figures, run_check
from themis_env.sim.simulator import StageDecision


def test_figures_of_a_run() -> None:
    # Second 0: two requests, one late (0.3 s > SLO 0.2 s); second 1: one on time; second 2:
    # one not completed within the window, so it counts in no latency.
    run = RealRun(
        3.0,
        arrivals_s=np.array([0.1, 0.5, 1.2, 2.9]),
        ends_s=np.array([0.2, 0.8, 1.3, np.nan]),
        batches=[BatchRecord(0.1, 1, 1, 0.1, 0)],
    )
    figures = real_figures(run, slo_s=0.2)
    assert figures["mean_latency"] == pytest.approx(1e3 * (0.1 + 0.3 + 0.1) / 3)
    assert figures["p99_latency"] == pytest.approx(1e3 * np.percentile([0.1, 0.3, 0.1], 99))
    assert figures["throughput"] == pytest.approx(1.0)
    # Per second: 1/2, 0/1, and second 2 had traffic but no completion (0).
    assert figures["violation"] == pytest.approx((0.5 + 0.0 + 0.0) / 3)


def test_the_default_schedule_scales_out_in_and_resizes() -> None:
    fixed, schedule = default_cases(60, 4, 2)
    assert fixed.schedule == ((0.0, StageDecision(1, 1, 4)),)
    assert [t for t, _ in schedule.schedule] == [0.0, 10.0, 30.0, 31.0]
    assert [d.replicas for _, d in schedule.schedule] == [1, 2, 1, 1]
    assert schedule.schedule[-1][1].cores == 2


@pytest.mark.slow
def test_a_tiny_check_end_to_end_with_a_resize(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    cpus = tuple(sorted(os.sched_getaffinity(0)))[:2]
    if len(cpus) < 2:
        pytest.skip("the fit and the resize need two CPUs")
    plan = CheckPlan(
        "tests.profiling.tiny:TinyNet",
        (8,),
        cpus=cpus,
        batches=(1, 2),
        repeats=2,
        batch=2,
        duration_s=3,
        utilisation=None,
        mean_rps=40.0,
        sim_seeds=2,
    )
    schedule = ((0.0, StageDecision(1, 1, 2)), (1.0, StageDecision(1, 2, 2)))
    result = run_check(plan, tmp_path, cases=[Case("resize", schedule)])
    assert not multiprocessing.active_children()
    run = result.cases[0].run
    # The resize took effect in the running replica: its batches went from one core to two.
    assert len(run.resize_delays_s) == 1 and run.resize_delays_s[0] >= 0
    cores = [b.cores for b in run.batches]
    assert cores[0] == 1 and cores[-1] == 2 and cores == sorted(cores)
    summary = result.summary()
    case = summary["cases"]["resize"]
    for side in ("real", "sim", "sim_measured_service"):
        assert case[side]["throughput"] > 0 and math.isfinite(case[side]["mean_latency"])
    assert math.isfinite(summary["mean_latency_error"])
    assert summary["resize_delay_s_measured"] == pytest.approx(run.resize_delays_s[0], rel=1e-3)
    assert summary["cold_start_s_profile"] > 0
    # The files a user can load: the measured-service model is a grid over the node's cores.
    assert (tmp_path / "scenario.yaml").exists() and (tmp_path / "model.csv").exists()
    measured = load_model(str(tmp_path / "model-resize-measured.yaml"))
    assert measured.latency.kind == "grid" and measured.latency.cores == (1, 2)
