"""Profile plans are checked before anything runs; a point's summary statistics."""

from __future__ import annotations

import time

import pytest

from themis_env.errors import ConfigError
from themis_env.profiling import Measurement, ProfilePlan
from themis_env.profiling.measure import cpu_model, usable_cpus


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"cores": ()}, "'cores' must list whole numbers >= 1"),
        ({"cores": (0, 1)}, "'cores' must list whole numbers >= 1"),
        ({"batches": (1, 1)}, "'batches' lists a value twice"),
        ({"repeats": 0}, "'repeats' must be >= 1"),
        ({"warmup": -1}, "'warmup' must be >= 0"),
        ({"input_shape": (3, 0)}, "'input_shape' must list sizes >= 1"),
        ({"cores": (1, 10_000)}, r"allowed: 1\.\.\d+"),
        ({"clock": "gpu"}, "'clock' = 'gpu' is not allowed; choose 'wall' or 'cpu'"),
        ({"clock": "cpu", "cores": (1, 2)}, r"'clock' = 'cpu' times one thread, so 'cores'"),
    ],
)
def test_bad_plans_are_refused(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        ProfilePlan(model="resnet18", **{"cores": (1,), **kwargs})


def test_plan_counts_points() -> None:
    assert ProfilePlan(model="m", cores=(1,), batches=(1, 2, 4)).points == 3


def test_measurement_median_and_p99() -> None:
    point = Measurement(2, 4, tuple(float(v) for v in range(1, 101)))
    assert point.median_ms == 50.5
    assert point.p99_ms == pytest.approx(99.01)
    assert Measurement(1, 1, (3.0, 1.0, 2.0)).median_ms == 2.0


def test_machine_facts() -> None:
    assert cpu_model().strip()
    cpus = usable_cpus()
    assert cpus == sorted(set(cpus)) and len(cpus) >= 1


def test_the_cpu_clock_leaves_out_time_spent_off_the_cpu() -> None:
    # A model that sleeps: its wall time is the sleep, its CPU time next to nothing, as when
    # other tenants hold the CPU while a profiled thread waits for it.
    from themis_env.profiling.measure import _time_point

    def sleeper(x: object) -> None:
        time.sleep(0.05)

    pytest.importorskip("torch")
    kinds = {}
    for clock in ("wall", "cpu"):
        plan = ProfilePlan(model="m", cores=(1,), repeats=2, warmup=0, clock=clock)
        kinds[clock] = _time_point(sleeper, lambda b: None, 1, plan)
    assert min(kinds["wall"]) >= 50.0
    assert max(kinds["cpu"]) < 25.0
