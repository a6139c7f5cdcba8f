"""Explicit action transforms for :class:`~themis_env.envs.InferenceClusterEnv`.

The env raises on an action outside its space; these wrappers are the named, opt-in ways
to change that:

* :class:`ClipAction` clips out-of-space actions into the space and counts what it changed
  in ``info["clipped_action_entries"]``, so clipping is never silent.
* :class:`DiscreteActionWrapper` exposes a ``Discrete`` space of single moves (keep, or one
  knob of one stage one step up or down) for algorithms that need one, such as DQN.
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from themis_env.envs.actions import UNUSED_SLOT, DeltaCodec
from themis_env.envs.views import PolicyView, missing_members, policy_view
from themis_env.errors import ConfigError, InvalidActionError

__all__ = [
    "ClipAction",
    "DiscreteActionWrapper",
    "EpisodeKpisOnTruncation",
    "cluster_env",
]


def cluster_env(env: gym.Env, wrapper: str) -> PolicyView:
    """The :class:`~themis_env.envs.InferenceClusterEnv` below ``env``'s wrappers, as its view.

    Raises:
        ConfigError: naming ``wrapper`` when the env below is another kind.
    """
    base = policy_view(env)
    if missing_members(base, PolicyView):
        raise ConfigError(f"{wrapper} wraps an InferenceClusterEnv, got {type(base).__name__}")
    return base


class EpisodeKpisOnTruncation(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Adds ``info["episode_kpis"]`` to a step that an outer limit truncated.

    The env puts the episode's KPIs into the last step's info when its trace window ends, or
    when the ``max_episode_steps`` of the ``gym.make`` call that built it is reached. A limit
    wrapped around the env by hand (``TimeLimit(env, N)``) cuts the episode where the env
    cannot see it; wrapped in this (outside that limit), such a step gets the KPIs of the
    episode so far too.

    Example:
        >>> import gymnasium as gym
        >>> import themis_env
        >>> from gymnasium.wrappers import TimeLimit
        >>> from themis_env.envs.wrappers import EpisodeKpisOnTruncation
        >>> env = EpisodeKpisOnTruncation(
        ...     TimeLimit(gym.make("themis_env/Video-Bursty-v1"), max_episode_steps=3))
        >>> _ = env.reset(seed=0)
        >>> for _ in range(3):
        ...     _, _, terminated, truncated, info = env.step(env.action_space.sample())
        >>> truncated, "episode_kpis" in info
        (True, True)
    """

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """The wrapped step; a truncated one carries the episode's KPIs."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        if truncated and "episode_kpis" not in info:
            info["episode_kpis"] = self.env.unwrapped.episode_kpis()  # type: ignore[attr-defined]
        return obs, reward, terminated, truncated, info


class ClipAction(gym.ActionWrapper, gym.utils.RecordConstructorArgs):
    """Clip actions into a ``Box`` or ``MultiDiscrete`` action space, and report it.

    ``Box``: each entry is clipped to [low, high]. ``MultiDiscrete``: each entry is rounded
    to the nearest whole number and clipped to [0, n − 1]. A non-finite entry (NaN, ±inf) is
    not clipped: the env then raises ``InvalidActionError`` naming it, since no value in the
    space is "nearest" to NaN.

    Unlike ``gymnasium.wrappers.ClipAction``, the action space is left unchanged (not widened
    to ±inf), so algorithms that rescale into a bounded Box (SAC, TD3) still work; the wrapper
    accepts actions outside that space by design. Each step's ``info`` gains
    ``clipped_action_entries``: how many entries were changed.

    Example:
        >>> import gymnasium as gym, themis_env
        >>> from themis_env.envs.wrappers import ClipAction
        >>> env = ClipAction(gym.make("themis_env/InferenceCluster-v1", action_mode="continuous"))
        >>> _ = env.reset(seed=0)
        >>> _, _, _, _, info = env.step(env.action_space.high * 3)
        >>> info["clipped_action_entries"]
        6

    Args:
        env: An env with a ``Box`` or ``MultiDiscrete`` action space.
    """

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.ActionWrapper.__init__(self, env)
        space = env.action_space
        if isinstance(space, spaces.Box):
            self._low = space.low.astype(np.float64)
            self._high = space.high.astype(np.float64)
            self._whole = False
        elif isinstance(space, spaces.MultiDiscrete):
            self._low = np.asarray(space.start, dtype=np.float64)
            self._high = self._low + space.nvec - 1
            self._whole = True
        else:
            raise ConfigError(f"ClipAction needs a Box or MultiDiscrete action space, got {space}")
        self._dtype = space.dtype
        self._clipped = 0

    def action(self, action: Any) -> Any:
        """The action clipped into the space (non-finite or ill-shaped actions pass unchanged)."""
        self._clipped = 0
        try:
            arr = np.asarray(action, dtype=np.float64)
        except (TypeError, ValueError):
            return action  # not numbers: let the env raise its error
        if arr.shape != self._low.shape or not np.all(np.isfinite(arr)):
            return action
        out = np.rint(arr) if self._whole else arr
        out = np.clip(out, self._low, self._high)
        self._clipped = int(np.count_nonzero(out != arr))
        return out.astype(self._dtype)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """Clip ``action``, step the env, add ``clipped_action_entries`` to ``info``."""
        obs, reward, terminated, truncated, info = self.env.step(self.action(action))
        info["clipped_action_entries"] = self._clipped
        return obs, reward, terminated, truncated, info


class DiscreteActionWrapper(gym.ActionWrapper, gym.utils.RecordConstructorArgs):
    """A ``Discrete(1 + 6·S)`` action space of single moves, for DQN and other Discrete-only agents.

    Action 0 keeps every target. Action ``1 + 6·s + 2·k + j`` moves knob k (0 replicas,
    1 cores per replica, 2 batch size) of stage s one step down (j = 0) or up (j = 1). A move
    past a limit keeps the target and sets ``info["move_held"]``; ``info["move"]`` names the
    move taken (``move_names`` lists them all). The move is turned into the wrapped env's own
    action form through ``encode_targets``, so any ``action_mode`` works underneath.
    ``action_masks()`` allows "keep" and the moves that stay within the limits and, for
    growth, fit the free cores.

    One step per decision interval is slow to scale far: with the default 1 s interval, going
    from 1 to 8 replicas takes 7 steps. That is the price of a small discrete space.

    Example:
        >>> import gymnasium as gym, themis_env
        >>> from themis_env.envs.wrappers import DiscreteActionWrapper
        >>> env = DiscreteActionWrapper(gym.make("themis_env/InferenceCluster-v1"))
        >>> env.action_space
        Discrete(13)
        >>> env.move_names[2]
        'detector replicas +1'

    Args:
        env: A (possibly wrapped) :class:`~themis_env.envs.InferenceClusterEnv`.
    """

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.ActionWrapper.__init__(self, env)
        base = cluster_env(env, "DiscreteActionWrapper")
        self._base = base
        self._limits = list(base.stage_limits)
        self._delta = DeltaCodec(self._limits)
        # (stage, knob, step) per action; stage -1 is "keep". Unused replica slots of a
        # stage with fewer variants than others have no moves.
        self.moves: list[tuple[int, int, int]] = [(-1, -1, 0)]
        self.move_names = ["keep"]
        self._entries: list[int] = []  # flat entries that have moves, for the masks
        width = len(self._limits[0].lows)
        for s, lim in enumerate(self._limits):
            for k, knob in enumerate(lim.knobs):
                if knob == UNUSED_SLOT:
                    continue
                self._entries.append(s * width + k)
                for step in (-1, 1):
                    self.moves.append((s, k, step))
                    self.move_names.append(f"{lim.name} {knob} {step:+d}")
        self.action_space = spaces.Discrete(len(self.moves))
        self._last_move = (0, False)

    def _index(self, action: Any) -> int:
        arr = np.asarray(action)
        if arr.size != 1 or arr.dtype.kind not in "iu":
            raise InvalidActionError(
                f"discrete action {action!r} must be one whole number in "
                f"[0, {len(self.moves) - 1}] (the action space is {self.action_space})"
            )
        index = int(arr.reshape(-1)[0])
        if not 0 <= index < len(self.moves):
            raise InvalidActionError(
                f"discrete action {index} is outside [0, {len(self.moves) - 1}] (the action "
                f"space is {self.action_space}; see move_names)"
            )
        return index

    def action(self, action: Any) -> np.ndarray:
        """The wrapped env's action for the move ``action``."""
        index = self._index(action)
        targets = [list(d) for d in self._base.current_targets]
        held = False
        s, k, step = self.moves[index]
        if s >= 0:
            lim = self._limits[s]
            value = targets[s][k] + step
            if lim.lows[k] <= value <= lim.highs[k]:
                targets[s][k] = value
            else:
                held = True
        self._last_move = (index, held)
        return self._base.encode_targets(targets)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """Apply the move ``action``; ``info`` gains ``move`` and ``move_held``."""
        obs, reward, terminated, truncated, info = self.env.step(self.action(action))
        index, held = self._last_move
        info["move"] = self.move_names[index]
        info["move_held"] = held
        return obs, reward, terminated, truncated, info

    def action_masks(self) -> np.ndarray:
        """Boolean mask over the moves: "keep" and the moves that stay within limits and fit."""
        if getattr(self._base, "workload", None) is None:
            raise gym.error.ResetNeeded("call reset() before action_masks()")
        delta = self._delta.masks(self._base.current_targets, self._base.free_cores())
        # Delta masks come as (−1, keep, +1) per knob; moves are (−1, +1) per knob.
        steps = delta.reshape(-1, 3)[self._entries][:, [0, 2]].reshape(-1)
        return np.concatenate([[True], steps])
