"""Typed, validated configuration loaded from ``configs/``."""

from themis_env.config.loader import (
    Pipeline,
    available,
    load_model,
    load_pipeline,
    load_scenario,
    load_yaml,
    resolve,
    scenario_data,
)
from themis_env.config.schema import (
    ClusterConfig,
    ColdStartConfig,
    ModelConfig,
    PipelineConfig,
    RewardConfig,
    ScenarioConfig,
    StageConfig,
    StageInit,
    TraceSpec,
)
from themis_env.config.validate import build, deep_merge, to_plain

__all__ = [
    "ClusterConfig",
    "ColdStartConfig",
    "ModelConfig",
    "Pipeline",
    "PipelineConfig",
    "RewardConfig",
    "ScenarioConfig",
    "StageConfig",
    "StageInit",
    "TraceSpec",
    "available",
    "build",
    "deep_merge",
    "load_model",
    "load_pipeline",
    "load_scenario",
    "load_yaml",
    "resolve",
    "scenario_data",
    "to_plain",
]
