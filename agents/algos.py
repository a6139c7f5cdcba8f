"""The algorithms ``themis_env.agents.train`` knows, with what each needs from the env."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from themis_env.errors import ConfigError, DependencyNotInstalled, did_you_mean

__all__ = ["AlgoSpec", "ALGOS", "algo_spec", "algo_class"]


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
