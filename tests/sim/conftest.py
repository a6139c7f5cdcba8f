"""Helpers to build small simulators directly from typed configs (no YAML, no env)."""

from __future__ import annotations

import numpy as np
import pytest

from themis_env.config import (
    ClusterConfig,
    ColdStartConfig,
    ModelConfig,
    PipelineConfig,
    StageConfig,
)
from themis_env.config.loader import Pipeline
from themis_env.sim.latency import LatencyModel
from themis_env.sim.simulator import Simulator


def constant_pipeline(
    service_ms: list[float] | float = 100.0,
    *,
    slo_ms: float = 1000.0,
    max_replicas: int = 32,
    max_batch: int = 8,
    max_cores: int = 8,
    drop_after_slo: float | None = None,
    batch_timeout_ms: float | None = None,
) -> Pipeline:
    """A chain of stages whose batch service time is a constant (ζ only)."""
    values = service_ms if isinstance(service_ms, list) else [service_ms]
    stages = tuple(
        StageConfig(
            name=f"s{i}",
            model=f"m{i}",
            max_cores=max_cores,
            max_batch=max_batch,
            max_replicas=max_replicas,
        )
        for i in range(len(values))
    )
    models = tuple(
        ModelConfig(name=f"m{i}", latency=LatencyModel(zeta=v)) for i, v in enumerate(values)
    )
    config = PipelineConfig(
        name="test",
        slo_ms=slo_ms,
        stages=stages,
        drop_after_slo=drop_after_slo,
        batch_timeout_ms=batch_timeout_ms,
    )
    return Pipeline(config=config, models=models)


def make_sim(pipeline: Pipeline, *, bucket_s: float = 1.0, **cluster) -> Simulator:
    cluster.setdefault(
        "cold_start", ColdStartConfig(distribution="constant", median_s=5.0, min_s=0.0, max_s=60.0)
    )
    return Simulator(pipeline, ClusterConfig(**cluster), bucket_s=bucket_s)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
