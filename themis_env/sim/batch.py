"""Many simulators in one compiled call: the per-step path of a native vector env.

Each simulator keeps its own arrays (its packed buffers are rows of two stacked arrays, its
episode buffers grow on their own); :func:`step_many` loops over them calling the one
per-cluster :func:`~themis_env.sim.kernel.step`, so a batch of N clusters costs one call
from Python instead of N. The episode buffers, whose sizes differ between clusters, travel in
one numba typed list holding a tuple per simulator (``Simulator.episode_buffers``): unboxing
a typed list costs the call several µs, so one list rather than one per buffer kind.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit
from numba.typed import List

from themis_env.sim import kernel as K

__all__ = ["EPISODE_BUFFERS", "buffer_list", "step_many"]

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


def buffer_list(buffers: Sequence[tuple[np.ndarray, ...]]) -> List:
    """A typed list of each simulator's ``episode_buffers`` (a tuple each, in order)."""
    return List([tuple(b) for b in buffers])


@njit(cache=True)
def step_many(
    active: np.ndarray,
    values: np.ndarray,
    offset: np.ndarray,
    t0: np.ndarray,
    buckets: int,
    bucket_s: float,
    t1: np.ndarray,
    fbuf: np.ndarray,
    ibuf: np.ndarray,
    lay: np.ndarray,
    buffers: List,
    vec: np.ndarray,
    high: np.ndarray,
    codes: np.ndarray,
) -> bool:
    """``kernel.step`` (apply, then advance) for every cluster i with ``active[i]``.

    Row i of ``values``, ``t0``, ``t1``, ``fbuf``, ``ibuf``, ``vec`` and ``codes`` and item i
    of ``buffers`` are cluster i's. Cluster i's interval ends at ``t1[i]``, written for every
    cluster: ``buckets`` statistics buckets of ``bucket_s`` after ``t0[i]`` rounded to a
    bucket, as ``Simulator._interval_end`` computes it (``np.rint`` rounds halves to even as
    ``round`` does; the whole numbers are exact as floats).

    The targets ``values + offset`` of every active cluster are checked against its limits
    first: if a row is out of them, ``codes`` of the first such cluster gets ``-(k + 1)`` for
    its first bad entry k and False is returned, no cluster having changed (the caller raises
    the codec's error). Else every active cluster is stepped, ``codes[i]`` receives its return
    code, which the simulator's ``finish_interval`` acts on (refilling or growing buffers where
    the kernel asked), and True is returned.
    """
    n_values = values.shape[1]
    for i in range(active.shape[0]):
        if not active[i]:
            continue
        lows = K._v1(ibuf[i], lay, K.Packed.LOWS)
        highs = K._v1(ibuf[i], lay, K.Packed.HIGHS)
        for k in range(n_values):
            v = values[i, k] + offset[k]
            if v < lows[k] or v > highs[k]:
                codes[i] = -(k + 1)
                return False
    for i in range(active.shape[0]):
        t1[i] = (np.rint(t0[i] / bucket_s) + buckets) * bucket_s
        if active[i]:
            cum, queue, ubuf, zbuf, nxt_t, nxt_o, scratch, sec_out, cold = buffers[i]
            codes[i] = K.step(
                True,
                values[i],
                offset,
                t0[i],
                t1[i],
                fbuf[i],
                ibuf[i],
                lay,
                cum,
                queue,
                ubuf,
                zbuf,
                nxt_t,
                nxt_o,
                scratch,
                sec_out,
                cold,
                vec[i],
                high,
            )
    return True
