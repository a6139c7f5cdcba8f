"""Many simulators in one compiled call: the per-step path of a native vector env.

Each simulator keeps its own arrays (its packed buffers are rows of two stacked arrays, its
episode buffers grow on their own); :func:`step_many` loops over them calling the one
per-cluster :func:`~themis_env.sim.kernel.step`, so a batch of N clusters costs one call
from Python instead of N. The episode buffers, whose sizes differ between clusters, travel in
numba typed lists (one per buffer kind, in the order of ``Simulator.episode_buffers``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit
from numba.typed import List

from themis_env.sim import kernel as K

__all__ = ["EPISODE_BUFFERS", "buffer_lists", "step_many"]

# The episode buffers of ``Simulator.episode_buffers``, in ``kernel.step``'s argument order.
EPISODE_BUFFERS = (
    "cum_counts",
    "queue",
    "ubuf",
    "zbuf",
    "nxt_t",
    "nxt_o",
    "scratch",
    "sec_out",
    "cold",
)


def buffer_lists(buffers: Sequence[Sequence[np.ndarray]]) -> list[List]:
    """One typed list per episode buffer kind, from each simulator's ``episode_buffers``."""
    return [List([b[k] for b in buffers]) for k in range(len(EPISODE_BUFFERS))]


@njit(cache=True)
def step_many(
    active: np.ndarray,
    values: np.ndarray,
    offset: np.ndarray,
    t0: np.ndarray,
    t1: np.ndarray,
    fbuf: np.ndarray,
    ibuf: np.ndarray,
    lay: np.ndarray,
    cum: List,
    queue: List,
    ubuf: List,
    zbuf: List,
    nxt_t: List,
    nxt_o: List,
    scratch: List,
    sec_out: List,
    cold: List,
    vec: np.ndarray,
    high: np.ndarray,
    codes: np.ndarray,
) -> None:
    """``kernel.step`` (apply, then advance) for every cluster i with ``active[i]``.

    Row i of ``values``, ``fbuf``, ``ibuf`` and ``vec`` and item i of each list are cluster
    i's; ``codes[i]`` receives its return code, which the simulator's
    ``finish_interval`` acts on (refilling or growing buffers where the kernel asked).
    """
    for i in range(active.shape[0]):
        if active[i]:
            codes[i] = K.step(
                True,
                values[i],
                offset,
                t0[i],
                t1[i],
                fbuf[i],
                ibuf[i],
                lay,
                cum[i],
                queue[i],
                ubuf[i],
                zbuf[i],
                nxt_t[i],
                nxt_o[i],
                scratch[i],
                sec_out[i],
                cold[i],
                vec[i],
                high,
            )
