"""The one interface every policy implements.

A policy follows the stable-baselines3 ``predict`` signature, so the evaluation harness scores
baselines and learned agents the same way:

    action, state = policy.predict(obs, state=None, episode_start=None, deterministic=True)

plus ``reset()`` at the start of each episode. A policy acts only on what the env observes
(``obs``) and on static scenario knowledge it reads at construction (latency profiles, SLO,
limits, decision interval), as a real autoscaler knows its offline profiles.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["Policy"]


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
