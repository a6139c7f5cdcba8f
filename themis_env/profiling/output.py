"""Write a profile as files the simulator loads: a model YAML and its raw measurements.

The model YAML is a plain ``configs/models`` file (``kind: parametric`` with the fitted α, β, γ,
ζ), so a pipeline names it by path like any shipped model. What the schema has no key for (the
machine, the fit error per point, and, on a schema without them, the model load time and the
published accuracy) goes into a comment block above the keys, which the loader skips. The raw
timed runs go into a CSV beside the YAML. On request, a one-stage pipeline and a scenario on it
are written too, so one command goes from a model to a scenario.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from themis_env.config.schema import ModelConfig, PipelineConfig, ScenarioConfig
from themis_env.config.validate import build
from themis_env.errors import ConfigError
from themis_env.profiling.fit import LatencyFit
from themis_env.profiling.runner import ProfileResult

__all__ = ["ProfileFiles", "default_name", "model_data", "write_profile"]

CSV_COLUMNS = ("cores", "batch", "repeat", "latency_ms")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class ProfileFiles:
    """The files one profile wrote.

    Attributes:
        model: The model YAML.
        measurements: The raw timed runs (CSV).
        pipeline: A one-stage pipeline on the model, if asked for.
        scenario: A scenario on that pipeline, if asked for.
    """

    model: Path
    measurements: Path
    pipeline: Path | None = None
    scenario: Path | None = None


def default_name(ref: str) -> str:
    """A model name from its reference: ``resnet18`` → ``resnet18``, ``pkg.m:Net`` → ``Net``."""
    return ref.rpartition(":")[2].rpartition(".")[2] or ref


def _schema_has(key: str) -> bool:
    return any(f.name == key for f in dataclasses.fields(ModelConfig))


def model_data(result: ProfileResult, fit: LatencyFit, name: str) -> dict[str, Any]:
    """The model YAML's keys: what :class:`ModelConfig` accepts, validated by its loader."""
    info, machine = result.model, result.machine
    what = f"{info.library} {info.ref}".strip() if info.library else info.ref
    data: dict[str, Any] = {
        "name": name,
        "description": f"{what}, randomly initialised, input {'x'.join(map(str, info.input_shape))}"
        f" per request; latency measured by themis-env profile",
        "source": f"themis-env profile, {machine.cpu_model}, torch {machine.torch_version}, "
        f"{result.started_utc}",
        # The profiling process's peak resident memory: what one replica of it needs.
        "memory_gb": max(0.01, math.ceil(result.peak_rss_gb * 100) / 100),
    }
    # Keys a newer schema has (model variants) are filled; otherwise they stay in comments.
    if info.accuracy is not None and _schema_has("accuracy"):
        data["accuracy"] = info.accuracy
        data["accuracy_metric"] = info.accuracy_metric
    if _schema_has("load_time_s"):
        data["load_time_s"] = round(result.load_time_s, 3)
    data["latency"] = {
        "kind": "parametric",
        **{
            k: float(f"{v:.6g}")
            for k, v in zip(("alpha", "beta", "gamma", "zeta"), fit.params, strict=True)
        },
    }
    build(ModelConfig, data, f"profile of {info.ref!r}")
    return data


def _comments(result: ProfileResult, fit: LatencyFit, csv_name: str, command: str) -> list[str]:
    info, machine, plan = result.model, result.machine, result.plan
    lines = [
        f"{info.ref} profiled on this machine by: {command}" if command else info.ref,
        f"started {result.started_utc}; {machine.cpu_model}; {machine.usable_cpus} usable of "
        f"{machine.logical_cpus} logical CPUs; torch {machine.torch_version}; "
        f"Python {machine.python_version}; {machine.platform}; 1-minute load average at the "
        f"end {machine.load_average:.2f}",
        f"parameters: {info.parameters:,}; input per request: {list(info.input_shape)}",
        "l(b, c) = alpha*b/c + beta*b + gamma/c + zeta [ms], b = batch size, c = CPU cores: a",
        "non-negative least-squares fit of relative error to the median of each point",
        f"fit error (relative): mean {100 * fit.mean_relative_error:.2f} %, "
        f"max {100 * fit.max_relative_error:.2f} % over {len(fit.relative_errors)} points",
        f"each point: {plan.warmup} warm-up runs discarded, {plan.repeats} timed runs; all "
        f"timed runs in {csv_name}",
        f"model load time (process start to first inference): {result.load_time_s:.3f} s",
        f"memory_gb: peak resident memory of the profiling process ({result.peak_rss_gb:.3f} GB)",
    ]
    if info.accuracy is not None:
        lines.append(
            f"published accuracy: {info.accuracy} {info.accuracy_metric} ({info.accuracy_source})"
        )
    if not _schema_has("load_time_s"):
        lines.append(f"load_time_s: {result.load_time_s:.3f}   (no schema key yet)")
    if info.accuracy is not None and not _schema_has("accuracy"):
        lines.append(f"accuracy: {info.accuracy}   (no schema key yet)")
        lines.append(f"accuracy_metric: {info.accuracy_metric}   (no schema key yet)")
    lines.append("cores  batch  median_ms    p99_ms    fit_ms  error_%")
    for point, error in zip(result.measurements, fit.relative_errors, strict=True):
        lines.append(
            f"{point.cores:>5}  {point.batch:>5}  {point.median_ms:>9.3f} {point.p99_ms:>9.3f} "
            f"{fit.predict_ms(point.batch, point.cores):>9.3f}  {100 * error:>7.2f}"
        )
    return [f"# {line}".rstrip() for line in lines]


def _write_csv(result: ProfileResult, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        for point in result.measurements:
            for i, ms in enumerate(point.samples_ms):
                writer.writerow([point.cores, point.batch, i, f"{ms:.6f}"])


def _dump(path: Path, comments: list[str], data: dict[str, Any]) -> None:
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    path.write_text("\n".join(comments) + "\n" + text, encoding="utf-8")


def write_profile(
    result: ProfileResult,
    out: str | Path,
    *,
    name: str | None = None,
    command: str = "",
    slo_ms: float | None = None,
    trace: str | None = None,
) -> ProfileFiles:
    """Write the model YAML at ``out``, the raw measurements beside it, and on request more.

    Args:
        result: What the profile measured.
        out: Path of the model YAML (``.yaml``); the CSV takes the same stem.
        name: Model name; defaults to one made from the model reference.
        command: The command that produced the profile, recorded in the comments.
        slo_ms: When given, also write ``<stem>.pipeline.yaml``: one stage on this model with
            this end-to-end SLO, its core and batch limits the largest measured.
        trace: When given (with ``slo_ms``), also write ``<stem>.scenario.yaml`` serving
            that trace (a name or URI, e.g. ``synthetic:bursty?seed=0&mean=20``) on that
            pipeline, with the default cluster.

    Raises:
        ConfigError: For a bad name, output path or SLO, or a trace without an SLO.
    """
    path = Path(out)
    if path.suffix not in (".yaml", ".yml"):
        raise ConfigError(f"the model file {str(out)!r} must end in .yaml or .yml")
    name = name or default_name(result.model.ref)
    if not _NAME.match(name):
        raise ConfigError(
            f"model name {name!r} must start with a letter or digit and hold only letters, "
            "digits, '_', '.' and '-'"
        )
    if trace is not None and slo_ms is None:
        raise ConfigError("a scenario (trace) needs a pipeline SLO: give slo_ms too")
    fit = result.fit()
    data = model_data(result, fit, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    csv_path = path.with_suffix(".csv")
    _write_csv(result, csv_path)
    _dump(path, _comments(result, fit, csv_path.name, command), data)
    files = ProfileFiles(model=path, measurements=csv_path)
    if slo_ms is None:
        return files
    # Stage and pipeline references resolve from the working directory, so they are absolute.
    pipeline_path = path.with_name(f"{path.stem}.pipeline.yaml")
    pipeline = {
        "name": name,
        "slo_ms": slo_ms,
        "stages": [
            {
                "name": name,
                "model": str(path.resolve()),
                "max_cores": max(result.plan.cores),
                "max_batch": max(result.plan.batches),
            }
        ],
    }
    build(PipelineConfig, pipeline, str(pipeline_path))
    note = ["# One stage on the profiled model; core and batch limits are the measured range."]
    _dump(pipeline_path, note, pipeline)
    files = dataclasses.replace(files, pipeline=pipeline_path)
    if trace is None:
        return files
    scenario_path = path.with_name(f"{path.stem}.scenario.yaml")
    scenario = {"name": name, "pipeline": str(pipeline_path.resolve()), "trace": {"uri": trace}}
    build(ScenarioConfig, scenario, str(scenario_path))
    _dump(scenario_path, ["# The profiled model's pipeline serving one trace."], scenario)
    return dataclasses.replace(files, scenario=scenario_path)
