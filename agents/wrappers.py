"""Env wrappers used by the training scripts.

``RandomWindowReset`` makes every episode start at a random window of the scenario's trace, so
an agent does not overfit one stretch of traffic. ``FitDeltaAction`` gives an agent one step
per knob per decision and holds growth the cluster has no free cores for. (DQN's discrete moves
come from ``themis_env.envs.wrappers.DiscreteActionWrapper``.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from themis_env.envs.actions import DeltaCodec
from themis_env.envs.wrappers import cluster_env

__all__ = ["RandomWindowReset", "FitDeltaAction", "TRAINING_ONLY_WRAPPERS"]

# Wrappers that change only how episodes are drawn during training; an evaluated agent does not
# need them (the evaluation decides its own windows).
TRAINING_ONLY_WRAPPERS = ("agents.wrappers.RandomWindowReset",)


class RandomWindowReset(gym.Wrapper):
    """Pass ``options={"random_window": True}`` on every reset.

    The env then draws the window start with its own generator within the scenario's
    ``trace.sample_range`` (or the whole trace), so a seeded run sees a reproducible
    sequence of windows. Options given to ``reset`` are kept; an explicit ``start_s`` wins.

    Example:
        >>> import themis_env  # doctest: +SKIP
        >>> env = RandomWindowReset(gym.make("themis_env/InferenceCluster-v0",
        ...                                  scenario="video-arxiv-train"))  # doctest: +SKIP
    """

    def reset(
        self, *, seed: int | None = None, options: Mapping[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Reset on a random window of the trace."""
        merged = dict(options or {})
        if "start_s" not in merged:
            merged.setdefault("random_window", True)
        return self.env.reset(seed=seed, options=merged)


class FitDeltaAction(gym.ActionWrapper):
    """Per stage and knob −1 / keep / +1, with growth that does not fit the cluster held.

    The action space is ``MultiDiscrete([3] * 3S)`` (0: −1, 1: keep, 2: +1 for replicas,
    cores, batch of each stage), whatever the wrapped env's ``action_mode``: the resulting
    targets go to the env through ``encode_targets``. A step past a knob's limits, or growth
    the free cores cannot hold (replicas that could not be placed, cores a resize could not
    get), is replaced by "keep"; when several growth steps fit alone but not together, the
    later stages' are held. Without this, asking for capacity that does not exist costs
    nothing (unplaced replicas are free), which leaves an agent a flat reward landscape at
    "ask for everything".

    Args:
        env: A (possibly wrapped) :class:`~themis_env.envs.InferenceClusterEnv`.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        base = cluster_env(env, "FitDeltaAction")
        self._base = base
        self._codec = DeltaCodec(base.stage_limits)
        self.action_space = spaces.MultiDiscrete(np.full(3 * base.n_stages, 3))
        self.held = 0

    def action(self, action: Any) -> np.ndarray:
        """The wrapped env's action for the delta ``action`` after holding what does not fit."""
        current = self._base.current_targets
        free = self._base.sim.free_cores()
        steps = np.asarray(action, dtype=np.int64).reshape(-1).copy()
        self._codec.decode(steps, current)  # raises InvalidActionError outside the space
        allowed = self._codec.masks(current, free).reshape(-1, 3)
        unfit = ~allowed[np.arange(len(steps)), steps]
        steps[unfit] = 1
        # Growth judged knob by knob may not fit together: hold the later ones.
        budget = float(np.maximum(free, 0).sum())
        for s, d in enumerate(current):
            for knob, need in ((0, d.cores), (1, d.replicas)):
                i = 3 * s + knob
                if steps[i] == 2:
                    if need > budget:
                        steps[i] = 1
                        unfit[i] = True
                    else:
                        budget -= need
        self.held = int(unfit.sum())
        targets, _ = self._codec.decode(steps, current)
        return self._base.encode_targets(targets)
