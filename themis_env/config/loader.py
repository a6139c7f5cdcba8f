"""Find and load YAML configuration: models, pipelines, scenarios and suites.

A reference is either a path to a YAML file or a name relative to the shipped
``configs/<kind>/`` folder (``themis-arxiv/video`` → ``configs/pipelines/themis-arxiv/video.yaml``).
Unknown names fail with the list of known ones and a "did you mean".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from themis_env.config.schema import (
    ENV_VERSION_DEFAULTS,
    LATEST_ENV_VERSION,
    ModelConfig,
    PipelineConfig,
    ScenarioConfig,
)
from themis_env.config.validate import bounded, build, deep_merge
from themis_env.errors import ConfigError, ScenarioNotFound, did_you_mean
from themis_env.resources import configs_dir

__all__ = [
    "Pipeline",
    "load_yaml",
    "resolve",
    "available",
    "load_model",
    "load_pipeline",
    "scenario_data",
    "load_scenario",
]


@dataclass(frozen=True)
class Pipeline:
    """A pipeline with its stages' models loaded.

    Attributes:
        config: The pipeline file's content.
        models: One model per stage, in stage order: the stage's model, or its first variant.
        variants: Every stage's models in order when a stage has several; empty when none
            has (see :attr:`stage_models`). Empty, it leaves the plain data, and so the
            config hashes in records, as they were before variants.
    """

    config: PipelineConfig
    models: tuple[ModelConfig, ...]
    variants: tuple[tuple[ModelConfig, ...], ...] = bounded((), omit_default=True)

    @property
    def stage_models(self) -> tuple[tuple[ModelConfig, ...], ...]:
        """Every stage's models in order: its variants, or its one model."""
        return self.variants or tuple((m,) for m in self.models)

    @property
    def name(self) -> str:
        """Pipeline name."""
        return self.config.name

    @property
    def n_stages(self) -> int:
        """Number of stages."""
        return len(self.config.stages)

    @property
    def n_variants(self) -> int:
        """The most variants of any stage (1 when no stage has several)."""
        return max(len(v) for v in self.stage_models)

    @property
    def has_accuracy(self) -> bool:
        """Whether the models declare accuracies (then every one of them does)."""
        return self.models[0].accuracy is not None

    def normalised_accuracy(self) -> list[list[float]]:
        """Per stage, each variant's accuracy normalised as the pipeline declares.

        Raises:
            ValueError: if the models declare no accuracies.
        """
        if not self.has_accuracy:
            raise ValueError(f"the models of pipeline {self.name!r} declare no accuracy")
        rule = self.config.accuracy.normalise
        table = []
        for models in self.stage_models:
            raw = [float(m.accuracy) for m in models]  # type: ignore[arg-type]
            best, worst = max(raw), min(raw)
            if rule == "max":
                table.append([a / best for a in raw])
            elif rule == "range":
                table.append([(a - worst) / (best - worst) if best > worst else 1.0 for a in raw])
            else:
                table.append(raw)
        return table

    def combine_accuracy(self, per_stage: list[float]) -> float:
        """The pipeline accuracy of one request served with ``per_stage`` accuracies."""
        rule = self.config.accuracy.combine
        if rule == "multiply":
            return math.prod(per_stage)
        total = math.fsum(per_stage)
        return total / len(per_stage) if rule == "average" else total


def load_yaml(path: Path) -> Any:
    """Read one YAML file, turning syntax errors into a ConfigError that names the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}:{where} is not valid YAML: {problem}") from exc


def available(kind: str) -> list[str]:
    """Names of the shipped configs of one kind (models, pipelines, scenarios, suites)."""
    root = configs_dir() / kind
    names = [p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*.yaml")]
    return sorted(names)


def resolve(kind: str, ref: str | Path) -> Path:
    """Path of a config given by path or by shipped name."""
    text = str(ref)
    path = Path(text).expanduser()
    if text.endswith((".yaml", ".yml")) or path.is_file():
        if not path.is_file():
            raise ScenarioNotFound(f"{kind[:-1]} file {text!r} does not exist")
        return path
    shipped = configs_dir() / kind / f"{text}.yaml"
    if shipped.is_file():
        return shipped
    names = available(kind)
    raise ScenarioNotFound(
        f"unknown {kind[:-1]} {text!r}.{did_you_mean(text, names)} "
        f"Known {kind}: {', '.join(names)};"
        " or give the path of a YAML file"
    )


def _mapping(data: Any, path: Path) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{path}: the file must hold a mapping of keys, got {type(data).__name__}"
        )
    return data


def load_model(ref: str | Path) -> ModelConfig:
    """Load one model file."""
    path = resolve("models", ref)
    return build(ModelConfig, _mapping(load_yaml(path), path), str(path))


def load_pipeline(ref: str | Path) -> Pipeline:
    """Load a pipeline file and its stages' models (every variant), checking them.

    Latencies must be positive over the stage's batches and cores, and either every model of
    the pipeline declares an accuracy or none does.
    """
    path = resolve("pipelines", ref)
    config = build(PipelineConfig, _mapping(load_yaml(path), path), str(path))
    variants = []
    for i, stage in enumerate(config.stages):
        models = []
        for j, ref_j in enumerate(stage.model_refs):
            key = f"stages[{i}].variants[{j}]" if stage.variants else f"stages[{i}].model"
            try:
                model = load_model(ref_j)
            except ScenarioNotFound as exc:
                raise ConfigError(f"{path}: key '{key}': {exc}") from exc
            _check_latency(path, stage.name, ref_j, stage.max_batch, stage.max_cores, model)
            models.append(model)
        variants.append(tuple(models))
    declared = [(r, m.accuracy is not None) for r, m in _refs_and_models(config, variants)]
    if len({has for _, has in declared}) > 1:
        missing = [r for r, has in declared if not has]
        raise ConfigError(
            f"{path}: models {missing} declare no 'accuracy' while others do; either every "
            "model of a pipeline declares its accuracy or none does"
        )
    if any(len(v) > 1 for v in variants) and not declared[0][1]:
        raise ConfigError(
            f"{path}: a stage has several variants, so every model needs 'accuracy' and "
            "'accuracy_metric'"
        )
    negative = [r for r, m in _refs_and_models(config, variants) if (m.accuracy or 0.0) < 0]
    if negative and config.accuracy.normalise != "range":
        raise ConfigError(
            f"{path}: models {negative} have negative accuracies (an error rate given negated); "
            f"key 'accuracy.normalise' = {config.accuracy.normalise!r} needs accuracies >= 0, "
            "use 'range'"
        )
    several = any(len(v) > 1 for v in variants)
    return Pipeline(
        config=config,
        models=tuple(v[0] for v in variants),
        variants=tuple(variants) if several else (),
    )


def _refs_and_models(
    config: PipelineConfig, variants: list[tuple[ModelConfig, ...]]
) -> list[tuple[str, ModelConfig]]:
    """Every model reference of the pipeline with its loaded model, in stage order."""
    return [
        (ref, model)
        for stage, models in zip(config.stages, variants, strict=True)
        for ref, model in zip(stage.model_refs, models, strict=True)
    ]


def _check_latency(
    path: Path, stage: str, ref: str, max_batch: int, max_cores: int, model: ModelConfig
) -> None:
    for b in range(1, max_batch + 1):
        for c in range(1, max_cores + 1):
            if not model.latency.service_ms(b, c) > 0:
                raise ConfigError(
                    f"{path}: stage {stage!r} model {ref!r} gives a latency of "
                    f"{model.latency.service_ms(b, c):.3f} ms at batch {b}, {c} cores; every "
                    "batch ≤ max_batch and cores ≤ max_cores must give a positive latency"
                )


def scenario_data(
    ref: str | Path,
    overrides: Mapping[str, Any] | None = None,
    env_version: int = LATEST_ENV_VERSION,
) -> tuple[Path, dict[str, Any]]:
    """The raw scenario mapping, before validation.

    Deep-merged in this order, each over the one before: the keys ``env_version`` sets where
    the file leaves them out (:data:`~themis_env.config.schema.ENV_VERSION_DEFAULTS`), the
    file, then ``overrides``.

    Raises:
        ConfigError: for an env version that does not exist.
    """
    if env_version not in ENV_VERSION_DEFAULTS:
        raise ConfigError(
            f"env version {env_version!r} does not exist; the versions are "
            f"{sorted(ENV_VERSION_DEFAULTS)}"
        )
    path = resolve("scenarios", ref)
    data = deep_merge(ENV_VERSION_DEFAULTS[env_version], _mapping(load_yaml(path), path))
    if overrides:
        data = deep_merge(data, overrides)
    return path, data


def load_scenario(
    ref: str | Path,
    overrides: Mapping[str, Any] | None = None,
    env_version: int = LATEST_ENV_VERSION,
) -> ScenarioConfig:
    """Load a scenario, deep-merging keyword overrides (nested keys keep their siblings).

    Keys the scenario and overrides leave out take ``env_version``'s dynamics (default: the
    latest), then the dataclass defaults.
    """
    path, data = scenario_data(ref, overrides, env_version)
    source = f"{path}" + (" (with overrides)" if overrides else "")
    return build(ScenarioConfig, data, source)
