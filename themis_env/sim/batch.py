"""Many simulators in one compiled call: the per-step path of a native vector env.

Each simulator keeps its own arrays (its packed buffers are rows of two stacked arrays, its
episode buffers grow on their own); :func:`~themis_env.sim.kernel.step_many` loops over them
calling the one per-cluster :func:`~themis_env.sim.kernel.step`, so a batch of N clusters
costs one call from Python instead of N. It lives in the kernel's module because numba's
cache is keyed on a function's own file: cached here, it would keep an old kernel's code after
the kernel changed. The episode buffers, whose sizes differ between clusters, travel as a
table of addresses and shapes (:func:`address_table`): a numba typed list of them would cost
the call several µs to unbox and a reference count per array and cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numba.typed import List

from themis_env.sim.kernel import step_many
from themis_env.sim.numpy_loops import EXP_LOOP

__all__ = [
    "EPISODE_BUFFERS",
    "EXP_LOOP",
    "address_table",
    "entry_point",
    "generator_list",
    "set_addresses",
    "step_many",
]

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
# Their axes (cum_counts is int64, the others float64), and a row of the address table: the
# address of a buffer's C-ordered data, then its shape (axes it lacks: 0).
EPISODE_BUFFER_DIMS = (1, 3, 1, 1, 1, 2, 2, 2, 1)
N_ADDRESS = 4


def address_table(n: int) -> np.ndarray:
    """An empty table of the episode buffers of ``n`` simulators, for ``step_many``."""
    return np.zeros((n, len(EPISODE_BUFFERS), N_ADDRESS), dtype=np.int64)


def set_addresses(table: np.ndarray, i: int, buffers: Sequence[np.ndarray]) -> None:
    """Row i of ``table``: the address and shape of each of ``buffers`` (``episode_buffers``).

    The compiled call reads the arrays at these addresses: the caller keeps ``buffers``
    referenced for as long as the row names them.
    """
    if len(buffers) != len(EPISODE_BUFFERS):
        raise ValueError(f"{len(buffers)} episode buffers, expected {len(EPISODE_BUFFERS)}")
    for j, (array, ndim) in enumerate(zip(buffers, EPISODE_BUFFER_DIMS, strict=True)):
        dtype = np.int64 if j == 0 else np.float64
        if array.ndim != ndim or array.dtype != dtype or not array.flags.c_contiguous:
            raise ValueError(
                f"episode buffer {EPISODE_BUFFERS[j]}: a C-ordered {ndim}-D {np.dtype(dtype)} "
                f"array is needed, got {array.ndim}-D {array.dtype}"
            )
        table[i, j, 0] = array.ctypes.data
        table[i, j, 1:] = 0
        table[i, j, 1 : 1 + ndim] = array.shape


def generator_list(generators: Sequence[np.random.Generator]) -> List:
    """A typed list of each simulator's episode generator (``Simulator.rng``).

    Set an item only when a cluster's generator changes: it costs ms (numba types it the
    slow way).
    """
    return List(generators)


def entry_point(dispatcher: Any, args: Sequence[Any]) -> Callable[..., Any]:
    """The compiled code ``dispatcher`` runs for arguments of the types of ``args``.

    Called directly it skips the dispatcher's typing of every argument, which is slow for a
    typed list (``step_many``'s generators) and grows with the number of arguments. Only for
    a caller whose argument types never change: passed arguments of other types, the compiled
    code would misread them. Where numba's internals differ (``overloads``, ``entry_point``
    of numba 0.5x-0.6x), the dispatcher.
    """
    try:
        signature = tuple(dispatcher.typeof_pyval(a) for a in args)
        return dispatcher.overloads[signature].entry_point
    except (AttributeError, KeyError, TypeError):
        return dispatcher
