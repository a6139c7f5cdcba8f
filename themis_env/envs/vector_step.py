"""The end of a native vector env's step for all its clusters in one compiled call."""

from __future__ import annotations

import numpy as np
from numba import njit

from themis_env.envs.reward import cluster_reward

__all__ = ["finish_step"]


@njit(cache=True)
def finish_step(
    weights: np.ndarray,
    out: np.ndarray,
    t0: np.ndarray,
    t1: np.ndarray,
    active: np.ndarray,
    episode_end: np.ndarray,
    max_steps: int,
    steps: np.ndarray,
    time: np.ndarray,
    reward: np.ndarray,
    truncated: np.ndarray,
) -> int:
    """Rewards, clocks, step counts and truncations after an interval of every cluster.

    For each ``active`` cluster i (one stepped over [``t0[i]``, ``t1[i]``), step output
    ``out[i]``): its reward (``reward.cluster_reward`` with ``weights``), ``time[i] = t1[i]``,
    one more step, and ``truncated[i]``: the episode's window ends by ``t1[i]``
    (``episode_end``) or, with ``max_steps`` > 0, it has taken that many steps. A cluster not
    active (being reset) gets reward 0 and is not truncated. Returns how many were truncated.
    ``time`` may be ``t0`` itself (each entry is read before it is written).
    """
    ended = 0
    for i in range(reward.shape[0]):
        if not active[i]:
            reward[i] = 0.0
            truncated[i] = False
            continue
        reward[i] = cluster_reward(weights, out[i], t1[i] - t0[i])
        time[i] = t1[i]
        steps[i] += 1
        truncated[i] = t1[i] >= episode_end[i] or (max_steps > 0 and steps[i] >= max_steps)
        if truncated[i]:
            ended += 1
    return ended
