"""Build the training and evaluation environments of an agent.

Each env is ``gym.make(env_id, scenario=..., **env_kwargs)``, wrapped in a ``Monitor`` (which
writes the per-episode returns the training curve is drawn from) and then in the rl-zoo3
``env_wrapper`` chain of the hyperparameter file; by default the training and evaluation
vector envs are the native vector env, which plays the same episodes with every cluster in
one compiled call and records them as those Monitors would (:mod:`themis_env.agents.vec_env`).
Several scenarios can be mixed: env i of the vector uses scenario ``i % len(scenarios)``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym

import themis_env  # noqa: F401 - registers the env ids
from themis_env.config import available
from themis_env.envs.registration import VECTOR_ENTRY_POINT
from themis_env.errors import ConfigError, ScenarioNotFound, did_you_mean
from themis_env.resources import configs_dir

__all__ = [
    "PROJECT_WRAPPERS",
    "agent_scenarios_dir",
    "resolve_scenario",
    "import_wrappers",
    "wrapper_path",
    "wrapper_kwargs",
    "make_env_fn",
    "make_vec_env",
]


def agent_scenarios_dir() -> Path:
    """Folder of the training/validation scenarios used only by agents."""
    return configs_dir() / "agents" / "scenarios"


def resolve_scenario(ref: str) -> str:
    """A shipped scenario name, an agent scenario name, or a YAML path, as ``gym.make`` takes it.

    Agent scenarios (``configs/agents/scenarios/<name>.yaml``) are returned as absolute paths
    so they load from any working directory.

    Raises:
        ScenarioNotFound: naming the known scenarios.
    """
    if ref in available("scenarios") or ref.endswith((".yaml", ".yml")) or Path(ref).is_file():
        return ref
    agent_file = agent_scenarios_dir() / f"{ref}.yaml"
    if agent_file.is_file():
        return str(agent_file)
    agent_names = sorted(p.stem for p in agent_scenarios_dir().glob("*.yaml"))
    known = available("scenarios") + agent_names
    raise ScenarioNotFound(
        f"scenario {ref!r} is neither shipped nor an agent scenario in {agent_scenarios_dir()}."
        f"{did_you_mean(ref, known)} Known: {', '.join(known)}"
    )


# Agents saved before the package moved under ``themis_env`` name their wrappers by the old
# top-level import names; they still load.
_LEGACY_PREFIXES = ("agents.", "baselines.")


def wrapper_path(item: Any) -> str:
    """The import path of one ``env_wrapper`` entry (a path, or a one-key mapping to kwargs).

    Paths under the old top-level names (``agents.wrappers.FitDeltaAction``) are given their
    installed name (``themis_env.agents.wrappers.FitDeltaAction``).
    """
    path = next(iter(item)) if isinstance(item, dict) else str(item)
    return "themis_env." + path if path.startswith(_LEGACY_PREFIXES) else path


def wrapper_kwargs(wrappers: Sequence[Any], path: str) -> dict[str, Any] | None:
    """The keyword arguments of the ``env_wrapper`` entry whose import path is ``path``.

    An entry given as a bare path has none (``{}``); None when no entry names ``path``.
    """
    for w in wrappers:
        if isinstance(w, (str, dict)) and wrapper_path(w) == path:
            return dict(next(iter(w.values())) or {}) if isinstance(w, dict) else {}
    return None


# The wrappers an agent's manifest may name without being trusted: the project's own. Any other
# path would be imported, i.e. its module's code run, when the agent is loaded.
PROJECT_WRAPPERS = (
    "themis_env.agents.wrappers.RandomWindowReset",
    "themis_env.agents.wrappers.FitDeltaAction",
    "themis_env.agents.wrappers.FitScaleAction",
    "themis_env.agents.padded.StageFeatures",
    "themis_env.agents.padded.PadStageActions",
    "themis_env.agents.residual.ThemisHeadroom",
    "themis_env.agents.residual.ThemisExperts",
    "themis_env.agents.residual.ExpertFeatures",
    "themis_env.envs.wrappers.DiscreteActionWrapper",
    "themis_env.envs.wrappers.ClipAction",
)


def _import(path: str) -> Any:
    module_name, _, attr = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"env_wrapper {path!r} cannot be imported: {exc}") from exc


def import_wrappers(
    spec: Sequence[Any], trusted: bool = True
) -> list[tuple[str, Callable[..., gym.Env], dict]]:
    """Resolve an rl-zoo3 ``env_wrapper`` list to (path, class, kwargs) triples.

    Args:
        spec: The list (import paths, or one-key mappings from a path to kwargs).
        trusted: Whether any importable path may be imported (a hyperparameter file of one's
            own); otherwise only :data:`PROJECT_WRAPPERS` (an agent's manifest).

    Raises:
        ConfigError: for a malformed entry, a path that cannot be imported, or (untrusted) a
            path outside :data:`PROJECT_WRAPPERS`, checked before anything is imported.
    """
    paths = [wrapper_path(item) for item in spec if isinstance(item, (str, dict))]
    foreign = [p for p in paths if p not in PROJECT_WRAPPERS]
    if not trusted and foreign:
        raise ConfigError(
            f"env_wrapper {foreign} not among the project's wrappers "
            f"({', '.join(PROJECT_WRAPPERS)}); importing them would run their code: load the "
            "agent as trusted (--trust-agent) only if you trust its files"
        )
    out = []
    for item in spec:
        if isinstance(item, dict):
            if len(item) != 1:
                raise ConfigError(f"env_wrapper entry {item!r} must map one import path to kwargs")
            kwargs = dict(next(iter(item.values())) or {})
        elif isinstance(item, str):
            kwargs = {}
        else:
            raise ConfigError(f"env_wrapper entry {item!r} must be an import path or a mapping")
        path = wrapper_path(item)
        out.append((path, _import(path), kwargs))
    return out


def make_env_fn(
    env_id: str,
    scenario: str,
    env_kwargs: dict[str, Any],
    wrappers: Sequence[Any] = (),
    monitor_file: str | None = None,
) -> Callable[[], gym.Env]:
    """A constructor for one env (SB3 vector envs call it, possibly in another process)."""
    resolved = resolve_scenario(scenario)
    chain = import_wrappers(wrappers)

    def build() -> gym.Env:
        from stable_baselines3.common.monitor import Monitor

        env = gym.make(env_id, scenario=resolved, **env_kwargs)
        env = Monitor(env, filename=monitor_file, info_keywords=("trace_uri",))
        for _, cls, kwargs in chain:
            env = cls(env, **kwargs)
        return env

    return build


def make_vec_env(
    env_id: str,
    scenarios: Sequence[str],
    env_kwargs: dict[str, Any],
    wrappers: Sequence[Any] = (),
    n_envs: int = 1,
    monitor_dir: str | Path | None = None,
    subproc: bool = False,
    native: bool = True,
) -> Any:
    """The training (or evaluation) vector env, the scenarios spread over ``n_envs`` envs.

    The native vector env (every cluster in one compiled call, through
    :class:`~themis_env.agents.vec_env.ClusterVecEnv`) when ``native`` and the id, scenarios
    and wrappers allow it; otherwise a ``DummyVecEnv`` (or, with ``subproc``, a
    ``SubprocVecEnv``) of ``Monitor``-wrapped envs. Either records the same episodes: cluster
    i plays what env i would.
    """
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    if not scenarios:
        raise ConfigError("give at least one scenario")
    if n_envs < 1:
        raise ConfigError(f"n_envs = {n_envs} must be >= 1")
    spread = [scenarios[rank % len(scenarios)] for rank in range(n_envs)]
    if native and not subproc:
        venv = _native_vec_env(env_id, spread, env_kwargs, wrappers, n_envs, monitor_dir)
        if venv is not None:
            return venv
    fns = []
    for rank in range(n_envs):
        monitor_file = None
        if monitor_dir is not None:
            Path(monitor_dir).mkdir(parents=True, exist_ok=True)
            monitor_file = str(Path(monitor_dir) / str(rank))
        fns.append(make_env_fn(env_id, spread[rank], env_kwargs, wrappers, monitor_file))
    return SubprocVecEnv(fns) if subproc and n_envs > 1 else DummyVecEnv(fns)


def _native_vec_env(
    env_id: str,
    scenarios: Sequence[str],
    env_kwargs: dict[str, Any],
    wrappers: Sequence[Any],
    n_envs: int,
    monitor_dir: str | Path | None,
) -> Any:
    """A ``ClusterVecEnv``, or None where the native vector env cannot run these envs.

    None for an id without a native vector env, wrappers that change observations,
    rewards or step results, or scenarios whose clusters cannot share a batch.
    """
    from gymnasium.envs.registration import spec as env_spec
    from themis_env.agents.vec_env import make_cluster_vec_env, native_wrappers

    chain = import_wrappers(wrappers)
    entry = env_spec(env_id.split(":", 1)[-1]).vector_entry_point
    if native_wrappers(chain) is not None or entry != VECTOR_ENTRY_POINT:
        return None
    try:
        return make_cluster_vec_env(
            env_id,
            n_envs,
            chain,
            monitor_dir,
            scenario=[resolve_scenario(s) for s in scenarios],
            **env_kwargs,
        )
    except ConfigError as exc:
        if "cannot share" not in str(exc):
            raise
        return None
