"""Helpers for the baseline tests: scripted observations and decoded actions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def make_obs(
    env,
    *,
    replicas: Sequence[float],
    ready: Sequence[float] | None = None,
    starting: Sequence[float] | None = None,
    pending: Sequence[float] | None = None,
    cores: Sequence[float],
    batch: Sequence[float] | None = None,
    utilisation: Sequence[float],
) -> dict[str, np.ndarray]:
    """A full dict observation of ``env`` with the given stage values (the rest zero)."""
    u = env.unwrapped
    obs = {k: np.zeros_like(space.low) for k, space in u.observation_space.spaces.items()}
    n = len(replicas)
    values = {
        "replicas": replicas,
        "replicas_ready": replicas if ready is None else ready,
        "replicas_starting": [0] * n if starting is None else starting,
        "replicas_pending": [0] * n if pending is None else pending,
        "cores": cores,
        "batch": [1] * n if batch is None else batch,
        "utilisation": utilisation,
    }
    for key, value in values.items():
        obs[key] = np.asarray(value, dtype=np.float32)
    assert u.observation_space.contains(obs), "a scripted observation must be a valid one"
    return obs


def decode(env, action) -> list[tuple[int, int, int]]:
    """The (replicas, cores, batch) per stage a target-mode action asks for."""
    u = env.unwrapped
    lows = np.array([lo for lim in u.stage_limits for lo in lim.lows], dtype=np.int64)
    flat = np.asarray(action, dtype=np.int64) + lows
    return [tuple(int(v) for v in flat[3 * s : 3 * s + 3]) for s in range(u.n_stages)]
