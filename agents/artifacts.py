"""The files of a saved agent and its manifest.

An agent saved as ``DIR/NAME.zip`` has these files beside it:

* ``DIR/NAME.json``: the manifest: algorithm, the env kwargs and wrappers the policy needs,
  the interface it was trained on (pipeline, stage limits, observation layout, decision
  interval), seeds, the exact command, library versions and evaluation figures; and the
  policy's class, arguments and spaces (:mod:`themis_env.agents.safe_format`);
* ``DIR/NAME.policy.npz`` and ``DIR/NAME.obs_rms.npz``: the policy's weights and the
  observation statistics as plain arrays. Acting reads only these and the manifest, so
  loading an agent runs no code from its files;
* ``DIR/NAME.vecnormalize.pkl``: the whole VecNormalize (SB3's own pickle format). With the
  zip (which also holds the optimizer state) it is what continuing training needs; both are
  unpickled when loaded, so only agents one trusts are loaded from them.
"""

from __future__ import annotations

import json
import platform
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import gymnasium as gym

from themis_env.envs.views import policy_view
from themis_env.errors import PolicyError

__all__ = [
    "MANIFEST_FORMAT",
    "AgentFiles",
    "agent_files",
    "env_interface",
    "export_agent",
    "interface_mismatches",
    "library_versions",
    "is_legacy",
    "read_manifest",
    "save_agent",
    "write_safe_files",
    "write_manifest",
]

MANIFEST_FORMAT = "themis-env-agent/1"


@dataclass(frozen=True)
class AgentFiles:
    """Paths of one saved agent."""

    model: Path
    vecnormalize: Path
    manifest: Path
    weights: Path
    obs_rms: Path


def agent_files(path: str | Path) -> AgentFiles:
    """The files of the agent saved as ``path`` (with or without ``.zip``)."""
    model = Path(path)
    if model.suffix != ".zip":
        model = model.with_name(model.name + ".zip")
    stem = model.with_suffix("")
    return AgentFiles(
        model=model,
        vecnormalize=stem.with_name(stem.name + ".vecnormalize.pkl"),
        manifest=stem.with_name(stem.name + ".json"),
        weights=stem.with_name(stem.name + ".policy.npz"),
        obs_rms=stem.with_name(stem.name + ".obs_rms.npz"),
    )


def is_legacy(manifest: dict[str, Any]) -> bool:
    """Whether the agent has no safe files (only the pickled zip and statistics)."""
    return "policy" not in manifest


def env_interface(env: gym.Env, wrappers: Sequence[Any] = ()) -> dict[str, Any]:
    """What a policy trained on ``env`` depends on: pipeline, limits, observation, interval.

    An agent acting through the padded layout (``wrappers`` holding
    :class:`~themis_env.agents.padded.PadStageActions`) depends only on what that layout
    cannot pad (:func:`~themis_env.agents.padded.padded_interface`); one acting through
    :class:`~themis_env.agents.residual.ThemisHeadroom` (or ``ThemisExperts``) on that and on
    Themis running
    (:func:`~themis_env.agents.residual.headroom_interface`).
    """
    from themis_env.agents.padded import padded_interface
    from themis_env.agents.residual import headroom_interface

    headroom = headroom_interface(env, wrappers)
    if headroom is not None:
        return headroom
    padded = padded_interface(env, wrappers)
    if padded is not None:
        return padded
    u = policy_view(env)
    return {
        "pipeline": str(u.scenario.pipeline),
        "pipeline_name": u.pipeline.config.name,
        "preset": u.pipeline.config.preset,
        "stage_limits": [
            [s.name, s.min_replicas, s.max_replicas, s.max_cores, s.max_batch]
            for s in u.stage_limits
        ],
        "obs_keys": list(u.layout.keys),
        "obs_size": int(u.layout.flat_space.shape[0]),
        "obs_high": [float(x) for x in u.layout.flat_space.high],
        "decision_interval_s": float(u.decision_interval_s),
        "slo_ms": float(u.slo_ms),
    }


def interface_mismatches(trained: dict[str, Any], env: gym.Env) -> list[str]:
    """The ways ``env`` differs from the interface an agent was trained on (empty: it fits)."""
    from themis_env.agents.padded import PADDED_LAYOUTS, padded_mismatches
    from themis_env.agents.residual import (
        EXPERTS_LAYOUT,
        EXPERTS_OWN_LAYOUT,
        HEADROOM_LAYOUT,
        headroom_mismatches,
    )

    if trained.get("layout") in (HEADROOM_LAYOUT, EXPERTS_LAYOUT, EXPERTS_OWN_LAYOUT):
        return headroom_mismatches(trained, env)
    if trained.get("layout") in PADDED_LAYOUTS:
        return padded_mismatches(trained, env)
    now = env_interface(env)
    problems = []
    labels = {
        "pipeline_name": "pipeline",
        "preset": "pipeline preset",
        "stage_limits": "stage limits [name, min_replicas, max_replicas, max_cores, max_batch]",
        "obs_keys": "observation keys",
        "obs_size": "observation size",
        "obs_high": "observation bounds (history_s, nodes, cores per node, limits)",
        "decision_interval_s": "decision interval [s]",
    }
    for key, label in labels.items():
        if key in trained and trained[key] != now[key]:
            if key == "obs_high":
                problems.append(f"{label} differ")
            else:
                problems.append(f"{label}: trained on {trained[key]!r}, env has {now[key]!r}")
    return problems


def library_versions() -> dict[str, str]:
    """Versions of the libraries a saved agent depends on."""
    out = {"python": platform.python_version()}
    for name in ("themis-env", "stable-baselines3", "sb3-contrib", "torch", "gymnasium", "numpy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    out["platform"] = sys.platform
    return out


def write_manifest(path: str | Path, manifest: dict[str, Any]) -> Path:
    """Write the manifest beside the agent saved as ``path``."""
    target = agent_files(path).manifest
    target.parent.mkdir(parents=True, exist_ok=True)
    record = {"format": MANIFEST_FORMAT, **manifest}
    target.write_text(json.dumps(record, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return target


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of the agent saved as ``path``.

    Raises:
        PolicyError: when the manifest is missing or not a themis-env manifest (the zip need
            not exist: an agent in the safe format acts without it).
    """
    files = agent_files(path)
    if not files.manifest.is_file() and not files.model.is_file():
        raise PolicyError(f"agent file {files.model} does not exist")
    if not files.manifest.is_file():
        raise PolicyError(
            f"agent {files.model} has no manifest {files.manifest.name} beside it; agents saved "
            "by python -m themis_env.agents.train have one (it records the env kwargs the "
            "policy needs)"
        )
    try:
        record = json.loads(files.manifest.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise PolicyError(f"{files.manifest} is not valid JSON: {exc}") from exc
    if record.get("format") != MANIFEST_FORMAT:
        raise PolicyError(
            f"{files.manifest}: format {record.get('format')!r} is not {MANIFEST_FORMAT!r}"
        )
    return record


def write_safe_files(
    files: AgentFiles, algo_cls: type, policy: Any, vec_normalize: Any | None
) -> dict[str, Any]:
    """Write the policy's weights and observation statistics as arrays; the manifest entries.

    Returns:
        The manifest's ``policy`` and ``obs_normalisation`` entries.
    """
    from themis_env.agents.safe_format import policy_record, save_obs_rms, save_policy_weights

    record = policy_record(algo_cls, policy, files.weights.name)
    save_policy_weights(policy, files.weights)
    stats = save_obs_rms(vec_normalize, files.obs_rms) if vec_normalize is not None else None
    return {"policy": record, "obs_normalisation": stats}


def save_agent(model: Any, path: str | Path, manifest: dict[str, Any]) -> AgentFiles:
    """Save an SB3 model, its VecNormalize statistics (if any) and the manifest as ``path``.

    The safe files (weights and statistics as arrays) are written too; evaluation reads only
    those.
    """
    files = agent_files(path)
    files.model.parent.mkdir(parents=True, exist_ok=True)
    model.save(str(files.model))
    vec_normalize = model.get_vec_normalize_env()
    record = dict(manifest)
    record["timesteps_trained"] = int(model.num_timesteps)
    if vec_normalize is not None:
        vec_normalize.save(str(files.vecnormalize))
        record["vecnormalize"] = files.vecnormalize.name
    else:
        record["vecnormalize"] = None
    record.update(write_safe_files(files, type(model), model.policy, vec_normalize))
    write_manifest(files.model, record)
    return files


def export_agent(
    model: str | Path,
    target: str | Path,
    run_dir: str | Path | None = None,
    run: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    name: str | None = None,
) -> AgentFiles:
    """Copy the agent saved as ``model`` into the folder ``target`` (as ``name``, if given).

    With ``run_dir``, the run's training curve, evaluation log and record come along. The
    copied manifest gains what an agent saved during training could not know yet, from the
    run's record ``run``: ``run_timesteps``, ``run_wall_time_s``, ``stopped_by_time_budget``,
    and ``wall_time_s`` when the agent did not record its own (a checkpoint records the
    training time it took); then ``extra`` (e.g. how the agent was selected).

    Returns:
        The files of the exported agent.
    """
    out = Path(target)
    out.mkdir(parents=True, exist_ok=True)
    files = agent_files(model)
    exported = agent_files(out / (name or files.model.stem))
    pairs = (
        (files.model, exported.model),
        (files.vecnormalize, exported.vecnormalize),
        (files.manifest, exported.manifest),
        (files.weights, exported.weights),
        (files.obs_rms, exported.obs_rms),
    )
    for src, dst in pairs:
        if src.is_file():
            shutil.copy2(src, dst)
    record = json.loads(exported.manifest.read_text(encoding="utf-8"))
    if record.get("vecnormalize"):
        record["vecnormalize"] = exported.vecnormalize.name
    if record.get("policy"):
        record["policy"]["weights"] = exported.weights.name
    if record.get("obs_normalisation"):
        record["obs_normalisation"]["file"] = exported.obs_rms.name
    if run is not None:
        record.setdefault("wall_time_s", run["wall_time_s"])
        record["run_wall_time_s"] = run["wall_time_s"]
        record["stopped_by_time_budget"] = run["stopped_by_time_budget"]
        record["run_timesteps"] = run["timesteps_trained"]
    record["exported_from"] = str(files.model)
    record.update(extra or {})
    exported.manifest.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    if run_dir is not None:
        for rel in ("training_curve.png", "eval/kpis.jsonl", "run.json"):
            src = Path(run_dir) / rel
            if src.is_file():
                shutil.copy2(src, out / src.name)
    return exported
