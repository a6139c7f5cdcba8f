"""Many simulators in one compiled call: the per-step path of a native vector env.

Each simulator keeps its own arrays (its packed buffers are rows of two stacked arrays, its
episode buffers grow on their own); :func:`~themis_env.sim.kernel.step_many` loops over them
calling the one per-cluster :func:`~themis_env.sim.kernel.step`, so a batch of N clusters
costs one call from Python instead of N. It lives in the kernel's module because numba's
cache is keyed on a function's own file: cached here, it would keep an old kernel's code after
the kernel changed. The episode buffers, whose sizes differ between clusters, travel in one
numba typed list holding a tuple per simulator (``Simulator.episode_buffers``): unboxing a
typed list costs the call several µs, so one list rather than one per buffer kind.
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
    "buffer_list",
    "entry_point",
    "generator_list",
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


def buffer_list(buffers: Sequence[tuple[np.ndarray, ...]]) -> List:
    """A typed list of each simulator's ``episode_buffers`` (a tuple each, in order)."""
    return List([tuple(b) for b in buffers])


def generator_list(generators: Sequence[np.random.Generator]) -> List:
    """A typed list of each simulator's episode generator (``Simulator.rng``).

    A list of its own: setting an item that holds a generator costs ms (numba types it the
    slow way), and a cluster's buffers change far more often than its generator.
    """
    return List(generators)


def entry_point(dispatcher: Any, args: Sequence[Any]) -> Callable[..., Any]:
    """The compiled code ``dispatcher`` runs for arguments of the types of ``args``.

    Called directly it skips the dispatcher's typing of every argument, which for
    ``step_many``'s two typed lists costs about 1.3 µs a call (about a tenth of the Python
    part of a 16-cluster vector step). Only for a caller whose argument types never change:
    passed arguments of other types, the compiled code would misread them. Where numba's
    internals differ (``overloads``, ``entry_point`` of numba 0.5x-0.6x), the dispatcher.
    """
    try:
        signature = tuple(dispatcher.typeof_pyval(a) for a in args)
        return dispatcher.overloads[signature].entry_point
    except (AttributeError, KeyError, TypeError):
        return dispatcher
