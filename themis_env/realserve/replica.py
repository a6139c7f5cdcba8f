"""A replica: one process serving batches of a torch model on the CPUs it is pinned to.

The parent (:class:`ReplicaProcess`) starts it with the ``spawn`` method, so a new replica is
a real process start and model load, and talks to it over a pipe (loopback only, no network).
The child pins itself to its CPUs (``os.sched_setaffinity``) and runs torch with one thread
per CPU (``torch.set_num_threads``) before loading the model, runs one inference at every batch
size up to the largest it may get (so no batch pays a first-call cost the simulator does not
have), and reports ``ready``. Requests carry no payload: the replica keeps one input tensor per
batch size, as the profiler does, so the pipe carries only batch ids and sizes.

An in-place resize changes the affinity of every thread of the running process and the torch
thread count; it is read between batches, so a batch runs on the cores the replica had when it
started, as in the simulator. The child ignores SIGINT (the parent decides when it stops),
exits when its pipe closes, and asks the kernel to end it if the parent dies.

Messages, parent → child: ``("batch", id, size)``, ``("resize", cpus)``, ``("stop",)``.
Child → parent: ``("ready", t)``, ``("done", id, t_start, t_end)``, ``("resized", t)``,
``("error", text)``; every ``t`` is ``time.monotonic()`` (system-wide on Linux).
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import time
import traceback
from collections.abc import Sequence
from typing import Any

__all__ = ["ReplicaProcess", "replica_main", "set_process_affinity"]

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def set_process_affinity(cpus: Sequence[int]) -> None:
    """Pin every thread of this process to ``cpus`` (a process-wide mask, as a cgroup sets).

    ``os.sched_setaffinity(0, ...)`` moves the calling thread only; torch's worker threads,
    started earlier, would keep the old CPUs.
    """
    os.sched_setaffinity(0, cpus)
    try:
        tids = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        return
    for tid in tids:
        try:
            os.sched_setaffinity(tid, cpus)
        except OSError:  # a thread that ended meanwhile
            pass


def _end_with_parent() -> None:
    """Ask Linux to send SIGTERM to this process when its parent dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the closed pipe still ends the loop
        pass


def replica_main(
    model: str, input_shape: tuple[int, ...], cpus: tuple[int, ...], max_batch: int, conn: Any
) -> None:
    """Serve batches of ``model`` on ``cpus`` until told to stop (the child's target)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _end_with_parent()
    try:
        set_process_affinity(cpus)
        import torch

        from themis_env.profiling.models import build_model

        torch.set_num_threads(len(cpus))
        torch.manual_seed(0)
        built = build_model(model, input_shape)
        inputs = {b: built.make_input(b) for b in range(1, max_batch + 1)}
        with torch.inference_mode():
            for b in range(1, max_batch + 1):
                built.module(inputs[b])
        conn.send(("ready", time.monotonic()))
        while True:
            try:
                message = conn.recv()
            except EOFError:  # the parent is gone
                return
            kind = message[0]
            if kind == "batch":
                _, batch_id, size = message
                t_start = time.monotonic()
                with torch.inference_mode():
                    built.module(inputs[size])
                conn.send(("done", batch_id, t_start, time.monotonic()))
            elif kind == "resize":
                set_process_affinity(message[1])
                torch.set_num_threads(len(message[1]))
                conn.send(("resized", time.monotonic()))
            elif kind == "stop":
                # At once: an interpreter's teardown of torch takes seconds of CPU on a busy
                # machine, and the CPUs are already another replica's.
                conn.close()
                os._exit(0)
            else:
                raise ValueError(f"unknown message {message!r}")
    except (BrokenPipeError, EOFError):
        return
    except Exception as exc:  # report anything the model raises, then end
        text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        try:
            conn.send(("error", text))
        except OSError:
            pass
        traceback.print_exc()


class ReplicaProcess:
    """The parent's handle on one replica process.

    Args:
        slot: The replica's slot (its index among the stage's replicas).
        model: ``module:callable`` (or a torchvision name) of the model to serve.
        input_shape: One request's input shape.
        cpus: The CPUs it is pinned to.
        max_batch: Largest batch it will be sent.
        created_s: When it was asked for (``time.monotonic()``), the start of its cold start.
    """

    def __init__(
        self,
        slot: int,
        model: str,
        input_shape: tuple[int, ...],
        cpus: tuple[int, ...],
        max_batch: int,
        created_s: float,
    ) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.slot = slot
        self.cpus = tuple(cpus)
        self.created_s = created_s
        self.ready_s: float | None = None  # when its "ready" arrived
        self.free_since: float | None = None  # idle and ready since; None: busy or starting
        self.in_flight: int | None = None  # the batch id it serves
        self.removing = False  # takes no new batch; stops after the one it serves
        self.resize_asked_s: float | None = None
        self.cpus_after_resize: tuple[int, ...] | None = None
        self.conn, child_conn = ctx.Pipe()
        self.process = ctx.Process(
            target=replica_main,
            args=(model, tuple(input_shape), self.cpus, max_batch, child_conn),
            name=f"themis-env-replica-{slot}",
            daemon=True,
        )
        self.process.start()
        child_conn.close()  # the parent's copy; the pipe then closes when the child ends

    @property
    def serving(self) -> bool:
        """Ready and not being removed."""
        return self.ready_s is not None and not self.removing

    def send(self, *message: Any) -> None:
        """Send one message to the child."""
        self.conn.send(message)

    def stop(self, timeout_s: float = 5.0) -> None:
        """End the process: ask, then terminate, then kill; always joins it."""
        if self.process.is_alive():
            try:
                self.conn.send(("stop",))
            except OSError:
                pass
            self.process.join(timeout=timeout_s)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=timeout_s)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()
