"""A written profile loads through the config loader and runs in the simulator."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import themis_env  # noqa: F401  (registers the env ids)
from themis_env.config import ModelConfig, load_model, load_pipeline, load_scenario
from themis_env.errors import ConfigError
from themis_env.profiling import write_profile
from themis_env.profiling.output import CSV_COLUMNS, default_name
from themis_env.sim.simulator import Simulator, StageDecision

from .conftest import synthetic_result

PARAMS = (34.693, 2.058, 19.479, 14.259)


def _schema_has(key: str) -> bool:
    return any(f.name == key for f in dataclasses.fields(ModelConfig))


def test_model_yaml_round_trips_through_the_loader(tmp_path: Path) -> None:
    result = synthetic_result(PARAMS)
    files = write_profile(result, tmp_path / "resnet18.yaml", command="themis-env profile x")
    model = load_model(str(files.model))
    fit = result.fit()
    assert model.name == "resnet18"
    assert model.latency.kind == "parametric"
    assert model.latency.params == pytest.approx(fit.params, rel=1e-5, abs=1e-9)
    assert model.latency.params == pytest.approx(PARAMS, rel=1e-5)
    assert model.memory_gb == pytest.approx(0.42)
    text = files.model.read_text()
    assert "Test CPU" in text and "torch 2.13.0+cpu" in text
    assert "themis-env profile x" in text and "resnet18.csv" in text
    assert "fit error (relative): mean 0.00 %, max 0.00 % over 6 points" in text
    # The load time and accuracy are keys when the schema has them, comments otherwise.
    if _schema_has("load_time_s"):
        assert model.load_time_s == pytest.approx(2.5)
    else:
        assert "# load_time_s: 2.500" in text
    if _schema_has("accuracy"):
        assert (model.accuracy, model.accuracy_metric) == (69.758, "top-1")
    else:
        assert "# accuracy: 69.758" in text and "# accuracy_metric: top-1" in text


def test_raw_measurements_are_written_beside_the_yaml(tmp_path: Path) -> None:
    result = synthetic_result(PARAMS, noise=0.05, repeats=4)
    files = write_profile(result, tmp_path / "sub" / "m.yaml")
    assert files.measurements == tmp_path / "sub" / "m.csv"
    with files.measurements.open() as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == CSV_COLUMNS
    written = [(int(c), int(b), int(r), float(ms)) for c, b, r, ms in rows[1:]]
    expected = [
        (p.cores, p.batch, i, ms) for p in result.measurements for i, ms in enumerate(p.samples_ms)
    ]
    assert len(written) == len(expected) == 2 * 3 * 4
    for got, want in zip(written, expected, strict=True):
        assert got[:3] == want[:3] and got[3] == pytest.approx(want[3], abs=1e-6)


def test_pipeline_and_scenario_run_in_the_simulator_and_the_env(tmp_path: Path) -> None:
    result = synthetic_result(PARAMS)
    files = write_profile(
        result,
        tmp_path / "resnet18.yaml",
        slo_ms=300,
        trace="synthetic:bursty?seed=0&mean=20&duration=30",
    )
    assert files.pipeline is not None and files.scenario is not None
    pipeline = load_pipeline(str(files.pipeline))
    assert pipeline.n_stages == 1
    (stage,) = pipeline.config.stages
    assert (stage.max_cores, stage.max_batch, pipeline.config.slo_ms) == (2, 4, 300)
    assert pipeline.models[0].latency.service_ms(4, 2) == pytest.approx(
        result.fit().predict_ms(4, 2), rel=1e-5
    )
    # One replica on 2 cores at batch 1: every request takes at least l(1, 2).
    scenario = load_scenario(str(files.scenario))
    sim = Simulator(pipeline, scenario.cluster, slo_ms=300.0)
    sim.reset(np.random.default_rng(0), np.full(10, 5.0), [StageDecision(1, 2, 1)])
    stats = sim.advance(5.0)
    assert stats.completed > 0
    assert stats.latency_mean_ms >= result.fit().predict_ms(1, 2) * (1 - 1e-6)
    env = gym.make("themis_env/InferenceCluster-v0", scenario=str(files.scenario))
    env.reset(seed=0)
    for _ in range(5):
        *_, info = env.step(env.action_space.sample())
    assert info["arrivals"] >= 0
    env.close()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"out": "m.json"}, "must end in .yaml"),
        ({"name": "bad name"}, "model name 'bad name'"),
        ({"trace": "synthetic:steady"}, "needs a pipeline SLO"),
        ({"slo_ms": -1.0}, "slo_ms"),
    ],
)
def test_bad_output_arguments_are_refused(tmp_path: Path, kwargs: dict, match: str) -> None:
    out = tmp_path / kwargs.pop("out", "m.yaml")
    with pytest.raises(ConfigError, match=match):
        write_profile(synthetic_result(), out, **kwargs)


def test_default_names() -> None:
    assert default_name("resnet18") == "resnet18"
    assert default_name("pkg.models:build.TinyNet") == "TinyNet"
    assert default_name("tests.profiling.tiny:make_tiny") == "make_tiny"
