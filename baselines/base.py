"""The one interface every policy implements, and the name registry.

A policy follows the stable-baselines3 ``predict`` signature, so the evaluation harness scores
baselines and learned agents the same way:

    action, state = policy.predict(obs, state=None, episode_start=None, deterministic=True)

plus ``reset()`` at the start of each episode. A policy acts only on what the env observes
(``obs``) and on static scenario knowledge it reads at construction (latency profiles, SLO,
limits, decision interval), as a real autoscaler knows its offline profiles.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

from themis_env.errors import PolicyError, did_you_mean

__all__ = ["Policy", "register_policy", "make_policy", "policy_names"]

_REGISTRY: dict[str, str] = {}


class Policy:
    """Base class for baselines: SB3-style ``predict`` plus ``reset``.

    Subclasses implement :meth:`act`, which maps one observation to one action; ``predict``
    handles the SB3 conventions (state passthrough, episode starts).

    Attributes:
        name: Registry name of the policy.
        privileged: True when the policy reads information the env does not observe (the
            future trace); such policies are upper bounds, not competitors.
    """

    name: str = "policy"
    privileged: bool = False

    def __init__(self, env: Any, **params: Any) -> None:
        self.env = env
        self.params = dict(params)

    def reset(self) -> None:
        """Forget everything from the previous episode."""

    def act(self, obs: Any) -> np.ndarray:
        """Return the action for one observation."""
        raise NotImplementedError

    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]:
        """SB3-compatible prediction; ``episode_start`` true resets the policy."""
        if episode_start is not None and bool(np.any(episode_start)):
            self.reset()
        return self.act(observation), state

    def describe(self) -> dict[str, Any]:
        """Name and parameters, for result records."""
        return {"name": self.name, "params": dict(self.params), "privileged": self.privileged}


def register_policy(name: str, entry_point: str) -> None:
    """Register a policy class under ``name`` as a lazy ``"module:Class"`` entry point."""
    _REGISTRY[name] = entry_point


def policy_names() -> list[str]:
    """Names of every registered policy."""
    return sorted(_REGISTRY)


def _load(entry_point: str) -> Callable[..., Policy]:
    module_name, _, attr = entry_point.partition(":")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, attr)
    except (ImportError, AttributeError) as exc:
        raise PolicyError(f"cannot load policy entry point {entry_point!r}: {exc}") from exc


def make_policy(name: str, env: Any, **params: Any) -> Policy:
    """Build a registered policy (or a ``module:Class`` entry point) for ``env``.

    Raises:
        PolicyError: for an unknown name, with a "did you mean" and the known names.
    """
    if name in _REGISTRY:
        return _load(_REGISTRY[name])(env, **params)
    if ":" in name:
        return _load(name)(env, **params)
    raise PolicyError(
        f"unknown policy {name!r}.{did_you_mean(name, _REGISTRY)} Known policies: "
        f"{', '.join(policy_names())}; or give 'module:Class'"
    )
