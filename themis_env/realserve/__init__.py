"""A real serving backend for the sim-to-real check: processes, batching, load, resize.

One stage of a torch model served on this machine: a replica is a process pinned to its CPUs
(:mod:`~themis_env.realserve.replica`), a dispatcher batches as the simulator's does
(:mod:`~themis_env.realserve.dispatcher`), an open-loop generator replays a trace window with
Poisson arrivals inside each second (:mod:`~themis_env.realserve.loadgen`), and the backend
(:mod:`~themis_env.realserve.backend`) applies decisions while it runs: an in-place resize
changes a running replica's CPUs and threads, a new replica is a process start and model load.
:mod:`~themis_env.realserve.check` compares it with the simulator. Loopback only (pipes), bounded
in time, and every process started is ended. The replicas need the ``profile`` extra (torch);
this package imports without it and is not imported by ``import themis_env``.
"""

from themis_env.realserve.backend import BatchRecord, RealBackend, RealRun
from themis_env.realserve.dispatcher import Batch, BatchFormer, pick_replica
from themis_env.realserve.loadgen import poisson_arrivals

__all__ = [
    "Batch",
    "BatchFormer",
    "BatchRecord",
    "RealBackend",
    "RealRun",
    "pick_replica",
    "poisson_arrivals",
]
