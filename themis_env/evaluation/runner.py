"""Run one policy on one scenario with one seed, and turn the episode into a record.

The env is seeded once with ``env.reset(seed=seed)``; the policy is built fresh, reset, and
(if it has a ``seed`` method) seeded with the same seed, and Python's and NumPy's global
generators are seeded too for policies that use them. Same spec → same record, bit for bit,
apart from the wall-clock timings, which sit apart from the KPIs.

A run never raises for what the policy or the scenario does wrong: the error is captured in a
record with ``status: "failed"`` so a leaderboard goes on with the other runs.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import math
import platform
import random
import sys
import time
import traceback
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from themis_env.config import load_pipeline, load_scenario, to_plain
from themis_env.evaluation.policies import build_policy, policy_identity
from themis_env.evaluation.records import SCHEMA_VERSION, config_hash, json_safe, run_key

__all__ = [
    "ENV_ID",
    "RunSpec",
    "failure_record",
    "make_env",
    "package_version",
    "run_episode",
    "spec_config_hash",
    "spec_key",
]

ENV_ID = "themis_env/InferenceCluster-v0"

# Fields of ``info["episode_kpis"]`` that are not KPIs to compare (the trace flag is kept apart).
_NOT_COMPARED = ("trace_fallback",)


@dataclass(frozen=True)
class RunSpec:
    """One run: a policy on a scenario with a seed.

    Attributes:
        scenario: Shipped scenario name or YAML path.
        seed: Seed of ``env.reset`` (and of the policy).
        policy: ``NAME``, ``module:Class`` or ``agent:PATH.zip``.
        params: Keyword parameters of the policy.
        overrides: Deep-merged into the scenario (``{"episode_s": 60}``).
        policy_label: Name shown in tables (defaults to ``policy``).
        scenario_label: Name shown in tables (defaults to ``scenario``).
        suite: Suite the run belongs to (part of the run key), or None.
        action_mode: The env's action mode (learned agents need the one they were trained in).
        obs_mode: The env's observation mode.
        timeline: Keep the per-step timeline for plots in the record.
    """

    scenario: str
    seed: int
    policy: str
    params: Mapping[str, Any] = field(default_factory=dict)
    overrides: Mapping[str, Any] = field(default_factory=dict)
    policy_label: str | None = None
    scenario_label: str | None = None
    suite: str | None = None
    action_mode: str = "target"
    obs_mode: str = "dict"
    timeline: bool = True

    @property
    def policy_name(self) -> str:
        """The label shown for the policy."""
        return self.policy_label or self.policy

    @property
    def scenario_name(self) -> str:
        """The label shown for the scenario."""
        return self.scenario_label or self.scenario

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for records and for sending to worker processes)."""
        return json_safe(asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunSpec:
        """Inverse of :meth:`to_dict`."""
        return cls(**dict(data))


@lru_cache(maxsize=256)
def _cached_hash(scenario: str, overrides_json: str) -> str:
    import json

    overrides = json.loads(overrides_json)
    config = load_scenario(scenario, overrides or None)
    return config_hash(to_plain(config), to_plain(load_pipeline(config.pipeline)))


def spec_config_hash(spec: RunSpec) -> str:
    """Hash of the scenario config (with overrides) and pipeline the run will use."""
    from themis_env.evaluation.records import canonical_json

    return _cached_hash(spec.scenario, canonical_json(spec.overrides))


def spec_key(spec: RunSpec, config: str | None = None) -> str:
    """The resume key of a run (computes the config hash unless given)."""
    return run_key(
        suite=spec.suite,
        scenario=spec.scenario_name,
        policy=policy_identity(spec.policy),
        params=spec.params,
        seed=spec.seed,
        config=config if config is not None else spec_config_hash(spec),
        action_mode=spec.action_mode,
        obs_mode=spec.obs_mode,
    )


def package_version() -> str:
    """Installed version of themis-env (``unknown`` when run from an uninstalled tree)."""
    try:
        return importlib.metadata.version("themis-env")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def make_env(spec: RunSpec) -> Any:
    """The env of a run, built through ``gym.make`` so it carries a spec."""
    import gymnasium as gym

    import themis_env  # noqa: F401 (registers the env ids)

    return gym.make(
        ENV_ID,
        scenario=spec.scenario,
        action_mode=spec.action_mode,
        obs_mode=spec.obs_mode,
        **dict(spec.overrides),
    )


def _seed_globals(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch = sys.modules.get("torch")
    if torch is not None:  # only if a policy already imported it
        torch.manual_seed(seed)


class _Timeline:
    """Per-step figures for the timeline plot: load vs capacity, cores, replicas, p99, violation."""

    def __init__(self, env: Any) -> None:
        self.env = env
        self.models = env.pipeline.models
        self.rows: list[tuple[float, ...]] = []
        self._throughput: dict[tuple[int, int, int], float] = {}

    def capacity(self, ready: np.ndarray, batch: np.ndarray, cores: np.ndarray) -> float:
        caps = []
        for s, model in enumerate(self.models):
            b, c = max(1, int(batch[s])), max(1, int(cores[s]))
            key = (s, b, c)
            if key not in self._throughput:
                self._throughput[key] = model.latency.throughput_rps(b, c)
            caps.append(float(ready[s]) * self._throughput[key])
        return min(caps)

    def add(self, obs: Any, info: Mapping[str, Any], dt: float) -> None:
        o = self.env.obs_as_dict(obs)
        replicas, cores = o["replicas"], o["cores"]
        row = (
            float(info["sim_time_s"]),
            float(info["arrivals"]) / dt,
            self.capacity(o["replicas_ready"], o["batch"], cores),
            # No completion in the interval: no latency (the env reports 0, which reads as good).
            float(info["latency_p99_ms"]) if info["completions"] else math.nan,
            float(info["violation"]),
            *(float(v) for v in replicas),
            *(float(r * c) for r, c in zip(replicas, cores, strict=True)),
        )
        self.rows.append(row)

    def to_dict(self) -> dict[str, Any]:
        n = self.env.n_stages
        data = np.asarray(self.rows, dtype=np.float64).reshape(-1, 5 + 2 * n)
        data = np.round(data, 3)
        return {
            "stages": [lim.name for lim in self.env.stage_limits],
            "slo_ms": float(self.env.slo_ms),
            "t": data[:, 0].tolist(),
            "load_rps": data[:, 1].tolist(),
            "capacity_rps": data[:, 2].tolist(),
            "p99_ms": data[:, 3].tolist(),
            "violation": data[:, 4].tolist(),
            "replicas": data[:, 5 : 5 + n].T.tolist(),
            "cores": data[:, 5 + n :].T.tolist(),
        }


def _error_info(exc: BaseException) -> dict[str, str]:
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-4000:],
    }


def _base_record(spec: RunSpec) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "key": None,
        "status": "failed",
        "error": None,
        "suite": spec.suite,
        "scenario": spec.scenario_name,
        "scenario_ref": spec.scenario,
        "overrides": dict(spec.overrides),
        "seed": int(spec.seed),
        "policy": {
            "label": spec.policy_name,
            "ref": spec.policy,
            "params": dict(spec.params),
        },
        "env_id": ENV_ID,
        "env_version": None,
        "env_spec": None,
        "action_mode": spec.action_mode,
        "obs_mode": spec.obs_mode,
        "package_version": package_version(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "host": {"python": platform.python_version(), "platform": platform.platform(terse=True)},
        "spec": spec.to_dict(),
        "trace": None,
        "kpis": None,
        "actions": None,
        "timeline": None,
    }


def run_episode(spec: RunSpec) -> dict[str, Any]:
    """Run one episode and return its record (``status`` is ``ok`` or ``failed``).

    Record fields: ``key``, ``status``, ``error`` (type, message, traceback), ``suite``,
    ``scenario``, ``seed``, ``policy`` (label, ref, params, describe), ``env_id``,
    ``env_version``, ``env_spec`` (``env.spec.to_json()``), ``scenario_config``
    (``env.unwrapped.describe()``), ``pipeline_config``, ``config_hash``, ``package_version``,
    ``trace`` (uri, fallback), ``kpis`` (``info["episode_kpis"]`` plus ``mean_reward``,
    ``return`` and ``steps``), ``timing`` (policy decision time, wall time), ``actions`` (one list
    per step), ``timeline`` (for plots) and ``warnings``.
    """
    record = _base_record(spec)
    wall0 = time.perf_counter()
    env = None
    caught: list[warnings.WarningMessage] = []
    steps = 0
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            env = make_env(spec)
            core = env.unwrapped
            scenario_config = core.describe()
            pipeline_config = to_plain(core.pipeline)
            digest = config_hash(scenario_config, pipeline_config)
            record.update(
                key=spec_key(spec, digest),
                env_version=env.spec.version if env.spec is not None else None,
                env_spec=env.spec.to_json() if env.spec is not None else None,
                scenario_config=scenario_config,
                pipeline_config=pipeline_config,
                config_hash=digest,
            )
            _seed_globals(spec.seed)
            policy = build_policy(spec.policy, core, dict(spec.params))
            describe = getattr(policy, "describe", None)
            record["policy"]["describe"] = describe() if callable(describe) else {}
            record["policy"]["privileged"] = bool(getattr(policy, "privileged", False))
            seed_policy = getattr(policy, "seed", None)
            if callable(seed_policy):
                seed_policy(spec.seed)

            obs, info = env.reset(seed=spec.seed)
            record["trace"] = {
                "uri": info.get("trace_uri"),
                "fallback": bool(info.get("trace_fallback")),
            }
            reset = getattr(policy, "reset", None)
            if callable(reset):
                reset()
            timeline = _Timeline(core) if spec.timeline else None
            actions: list[Any] = []
            rewards: list[float] = []
            decision_s: list[float] = []
            state = None
            kpis: dict[str, Any] | None = None
            dt = core.decision_interval_s
            while True:
                t0 = time.perf_counter()
                action, state = policy.predict(
                    obs, state=state, episode_start=None, deterministic=True
                )
                decision_s.append(time.perf_counter() - t0)
                actions.append(np.asarray(action).tolist())
                obs, reward, terminated, truncated, info = env.step(action)
                steps += 1
                rewards.append(float(reward))
                if timeline is not None:
                    timeline.add(obs, info, dt)
                if terminated or truncated:
                    kpis = dict(info.get("episode_kpis") or core.episode_kpis())
                    break
        record["trace"]["fallback"] = bool(kpis.get("trace_fallback", record["trace"]["fallback"]))
        kpis = {k: v for k, v in kpis.items() if k not in _NOT_COMPARED}
        kpis["mean_reward"] = float(np.mean(rewards)) if rewards else 0.0
        kpis["return"] = float(np.sum(rewards))
        kpis["steps"] = steps
        decision = np.asarray(decision_s)
        record.update(
            status="ok",
            kpis=kpis,
            actions=actions,
            timeline=timeline.to_dict() if timeline is not None else None,
            timing={
                "decision_ms_mean": float(decision.mean() * 1e3) if len(decision) else 0.0,
                "decision_ms_p99": float(np.percentile(decision, 99) * 1e3)
                if len(decision)
                else 0.0,
                "decision_ms_max": float(decision.max() * 1e3) if len(decision) else 0.0,
            },
        )
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # a failing policy or scenario is recorded, never fatal
        record["error"] = _error_info(exc)
        record["steps_done"] = steps
        if record["key"] is None:
            record["key"] = _fallback_key(spec)
    finally:
        if env is not None:
            try:
                env.close()
            except Exception:  # noqa: BLE001 (closing must not hide the run's outcome)
                pass
    record.setdefault("timing", {})
    record["timing"]["wall_s"] = time.perf_counter() - wall0
    record["warnings"] = sorted({str(w.message) for w in caught})
    return json_safe(record)


def failure_record(spec: RunSpec, exc: BaseException, wall_s: float = 0.0) -> dict[str, Any]:
    """The record of a run that died outside :func:`run_episode` (a crashed worker process)."""
    record = _base_record(spec)
    record.update(
        key=_fallback_key(spec), error=_error_info(exc), timing={"wall_s": wall_s}, warnings=[]
    )
    return json_safe(record)


def _fallback_key(spec: RunSpec) -> str:
    """Key of a run whose env could not be built: still stable, so a resume retries it once."""
    try:
        return spec_key(spec)
    except Exception:  # noqa: BLE001 (the config itself is what failed)
        return run_key(
            suite=spec.suite,
            scenario=spec.scenario_name,
            policy=spec.policy,
            params=spec.params,
            seed=spec.seed,
            config="unloadable",
            action_mode=spec.action_mode,
            obs_mode=spec.obs_mode,
        )
