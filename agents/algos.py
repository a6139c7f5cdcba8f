"""The algorithms ``themis_env.agents.train`` knows, with what each needs from the env."""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Any

from themis_env.errors import ConfigError, DependencyNotInstalled, did_you_mean

__all__ = ["AlgoSpec", "ALGOS", "algo_spec", "algo_class", "schedule_objects"]


@dataclass(frozen=True)
class AlgoSpec:
    """One algorithm.

    Attributes:
        name: Name on the command line and of the YAML file.
        entry_point: ``module:Class``.
        action_spaces: Action space kinds it accepts (``discrete``, ``multidiscrete``, ``box``).
        maskable: Uses ``env.action_masks()`` (sb3-contrib MaskablePPO).
        off_policy: Has a replay buffer (``learning_starts``, ``buffer_size`` apply).
    """

    name: str
    entry_point: str
    action_spaces: tuple[str, ...]
    maskable: bool = False
    off_policy: bool = False


ALGOS: dict[str, AlgoSpec] = {
    spec.name: spec
    for spec in (
        AlgoSpec("ppo", "stable_baselines3:PPO", ("discrete", "multidiscrete", "box")),
        AlgoSpec("a2c", "stable_baselines3:A2C", ("discrete", "multidiscrete", "box")),
        AlgoSpec("dqn", "stable_baselines3:DQN", ("discrete",), off_policy=True),
        AlgoSpec("sac", "stable_baselines3:SAC", ("box",), off_policy=True),
        AlgoSpec("td3", "stable_baselines3:TD3", ("box",), off_policy=True),
        AlgoSpec(
            "maskable_ppo", "sb3_contrib:MaskablePPO", ("discrete", "multidiscrete"), maskable=True
        ),
    )
}


def algo_spec(name: str) -> AlgoSpec:
    """The spec of an algorithm name.

    Raises:
        ConfigError: for an unknown name, listing the known ones.
    """
    if name not in ALGOS:
        raise ConfigError(
            f"unknown algorithm {name!r}.{did_you_mean(name, ALGOS)} Known: {', '.join(ALGOS)}"
        )
    return ALGOS[name]


def algo_class(name: str) -> type:
    """The algorithm class (imported on demand).

    Raises:
        DependencyNotInstalled: when stable-baselines3 or sb3-contrib is missing.
    """
    module_name, _, attr = algo_spec(name).entry_point.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        extra = "sb3-contrib" if module_name.startswith("sb3_contrib") else "stable-baselines3"
        raise DependencyNotInstalled(
            f'algorithm {name!r} needs {extra}: pip install "themis-env[rl]"'
        ) from exc
    return getattr(module, attr)


# Fields of a saved stable-baselines3 model that hold schedules: cloudpickled callables, some of
# them this package's own classes under the module name they had when the agent was saved
# (agents trained before the package moved under themis_env name ``agents.hyperparams``).
_SCHEDULE_FIELDS = ("learning_rate", "lr_schedule", "clip_range")


def schedule_objects(cls: type, model_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """``custom_objects`` that stand in for a saved model's schedules, so none is unpickled.

    Acting never reads a schedule, so for inference (``model_kwargs=None``) they are constants.
    A continued training run gets its own settings, or the algorithm's defaults; the model's
    ``_setup_model`` then builds the schedules from them, as for a new model.
    """
    if model_kwargs is None:
        return {name: 0.0 for name in _SCHEDULE_FIELDS}
    defaults = inspect.signature(cls.__init__).parameters
    objects: dict[str, Any] = {"lr_schedule": 0.0}
    for name in ("learning_rate", "clip_range"):
        if name in model_kwargs:
            objects[name] = model_kwargs[name]
        elif name in defaults:
            objects[name] = defaults[name].default
    return objects
