"""Run one policy on one scenario with one seed, and turn the episode into a record.

Before its first timed run in a process, a policy runs a few untimed steps on a throwaway env
(:func:`_warm_up`), so decision times leave out one-off compilation.

The env is seeded once with ``env.reset(seed=seed)``; the policy is built fresh, reset, and
(if it has a ``seed`` method) seeded with the same seed, and Python's and NumPy's global
generators are seeded too for policies that use them. Same spec → same record, bit for bit,
apart from the wall-clock timings, which sit apart from the KPIs.

A run never raises for what the policy or the scenario does wrong (an exception, or a call of
``sys.exit()``): the error is captured in a record with ``status: "failed"`` so a leaderboard
goes on with the other runs.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import platform
import random
import sys
import time
import traceback
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from typing import Any

import numpy as np

from themis_env.config import load_pipeline, load_scenario, to_plain
from themis_env.errors import RecordError
from themis_env.evaluation.policies import build_policy, policy_identity
from themis_env.evaluation.records import config_hash, json_safe, run_key
from themis_env.evaluation.rollout import Episode, rollout
from themis_env.evaluation.run_record import ErrorInfo, PolicyInfo, RunRecord, TraceInfo

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

ENV_ID = "themis_env/InferenceCluster-v1"


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


# (policy, params, action mode, obs mode) already warmed up in this process.
_WARMED: set[str] = set()
_WARM_UP_STEPS = 3


def _warm_up(spec: RunSpec) -> None:
    """Run the policy for a few steps on a throwaway env, once per process and policy.

    The first calls of a policy compile code (numba) or initialise libraries (torch); timing
    them would report a one-off cost as the policy's decision time. The run's own env, policy
    and seeds are untouched, so its episode is the same with or without this.
    """
    from themis_env.evaluation.records import canonical_json

    key = canonical_json([spec.policy, spec.params, spec.action_mode, spec.obs_mode])
    if key in _WARMED:
        return
    _WARMED.add(key)
    env = make_env(spec)
    try:
        policy = build_policy(spec.policy, env.unwrapped, dict(spec.params))
        obs, _ = env.reset(seed=spec.seed)
        reset = getattr(policy, "reset", None)
        if callable(reset):
            reset()
        state = None
        for _ in range(_WARM_UP_STEPS):
            action, state = policy.predict(obs, state=state, episode_start=None, deterministic=True)
            obs, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                break
    except (Exception, SystemExit):
        # A policy that fails here fails again in its run, which records the error and the
        # steps it got through; the throwaway episode must not take that record's place.
        pass
    finally:
        env.close()


def _seed_globals(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch = sys.modules.get("torch")
    if torch is not None:  # only if a policy already imported it
        torch.manual_seed(seed)


def _error_info(exc: BaseException) -> ErrorInfo:
    message = str(exc)
    if isinstance(exc, SystemExit):
        message = f"sys.exit({exc.code!r}) was called during the run"
    return ErrorInfo(
        type=type(exc).__name__,
        message=message,
        traceback="".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-4000:],
    )


def _base_record(spec: RunSpec, key: str = "") -> RunRecord:
    """The record of a run before its env exists (status ``failed`` until it finishes)."""
    return RunRecord(
        key=key,
        status="failed",
        scenario=spec.scenario_name,
        seed=int(spec.seed),
        policy=PolicyInfo(label=spec.policy_name, ref=spec.policy, params=dict(spec.params)),
        suite=spec.suite,
        scenario_ref=spec.scenario,
        overrides=dict(spec.overrides),
        env_id=ENV_ID,
        action_mode=spec.action_mode,
        obs_mode=spec.obs_mode,
        package_version=package_version(),
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        host={"python": platform.python_version(), "platform": platform.platform(terse=True)},
        spec=spec.to_dict(),
    )


def run_episode(spec: RunSpec) -> RunRecord:
    """Run one episode and return its record (``status`` is ``ok`` or ``failed``).

    The record holds the run's key, config (``scenario_config`` is
    ``env.unwrapped.describe()``), the policy's ``describe()``, the trace, the KPIs of
    :func:`~themis_env.evaluation.rollout.rollout`, the actions, the timeline (if the spec asks
    for it), decision and wall times and the warnings raised (see
    :class:`~themis_env.evaluation.run_record.RunRecord`).
    """
    record = _base_record(spec)
    wall0 = time.perf_counter()
    env = None
    caught: list[warnings.WarningMessage] = []
    episode = Episode(seed=int(spec.seed))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            env = make_env(spec)
            core = env.unwrapped
            scenario_config = core.describe()
            pipeline_config = to_plain(core.pipeline)
            digest = config_hash(scenario_config, pipeline_config)
            record = replace(
                record,
                key=spec_key(spec, digest),
                env_version=env.spec.version if env.spec is not None else None,
                env_spec=env.spec.to_json() if env.spec is not None else None,
                scenario_config=scenario_config,
                pipeline_config=pipeline_config,
                config_hash=digest,
            )
            _warm_up(spec)
            _seed_globals(spec.seed)
            policy = build_policy(spec.policy, core, dict(spec.params))
            describe = getattr(policy, "describe", None)
            policy_info = replace(
                record.policy,
                describe=describe() if callable(describe) else {},
                privileged=bool(getattr(policy, "privileged", False)),
            )
            record = replace(record, policy=policy_info)
            seed_policy = getattr(policy, "seed", None)
            if callable(seed_policy):
                seed_policy(spec.seed)
            rollout(env, policy, spec.seed, timeline=spec.timeline, episode=episode)
        record = replace(
            record,
            status="ok",
            trace=TraceInfo(episode.trace_uri, episode.trace_fallback),
            kpis=episode.kpis,
            actions=episode.actions,
            timeline=episode.timeline,
            timing=episode.decision_ms(),
        )
    except KeyboardInterrupt:
        raise
    # A failing policy or scenario is recorded, never fatal; so is a policy that calls
    # sys.exit(), which would otherwise end the whole leaderboard.
    except (Exception, SystemExit) as exc:
        record = replace(
            record,
            key=record.key or _fallback_key(spec),
            error=_error_info(exc),
            steps_done=episode.steps,
            # The trace is known once the env was reset, even if the policy then raised.
            trace=TraceInfo(episode.trace_uri, episode.trace_fallback) if episode.started else None,
        )
    finally:
        if env is not None:
            try:
                env.close()
            except Exception:  # noqa: BLE001 (closing must not hide the run's outcome)
                pass
    record = replace(
        record,
        timing={**record.timing, "wall_s": time.perf_counter() - wall0},
        warnings=sorted({str(w.message) for w in caught}),
    )
    # What a reader of the records file gets: JSON-safe values (NaN as None), checked fields,
    # and the digest of exactly that content.
    try:
        return RunRecord.from_json(record.to_json()).sealed()
    except RecordError as exc:  # e.g. an env whose KPIs are not numbers: a failed run, not a crash
        return failure_record(spec, exc, record.timing["wall_s"])


def failure_record(spec: RunSpec, exc: BaseException, wall_s: float = 0.0) -> RunRecord:
    """The record of a run that died outside :func:`run_episode` (a crashed worker process)."""
    record = replace(
        _base_record(spec, _fallback_key(spec)), error=_error_info(exc), timing={"wall_s": wall_s}
    )
    return RunRecord.from_json(record.to_json()).sealed()


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
