"""A real serving backend for one stage: replica processes, a batching dispatcher, a clock.

:meth:`RealBackend.run` replays arrival times (open loop, from
:func:`~themis_env.realserve.loadgen.poisson_arrivals`) against real replica processes
(:mod:`~themis_env.realserve.replica`) while applying a decision sequence, and records what
happened to every request. One event loop in the calling process plays the load generator,
the dispatcher (:class:`~themis_env.realserve.dispatcher.BatchFormer`) and the controller: it
sleeps until the next arrival, batch timeout or decision, or until a replica reports.

The controller reconciles toward the decision in force at every whole second, as an env step
does: the batch size changes at once; scale-in removes starting replicas first, then the
newest, each finishing its batch; an in-place resize changes the replica's CPUs and threads
(the delay from decision to effect is measured), growing only into CPUs no replica holds
(otherwise it fails and is retried at the next second, as the simulator's ``fail`` policy
does); a new replica is a process start and model load on free CPUs (the cold start, decision
to ready, is measured) and stays pending while none are free. A replica keeps the CPUs of
both sizes until its resize takes effect.

The run is bounded (the window's length, plus a start-up timeout) and ends every process it
started when it returns, fails or is interrupted.
"""

from __future__ import annotations

import importlib.util
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import wait

import numpy as np

from themis_env.errors import DependencyNotInstalled, ServeError
from themis_env.realserve.dispatcher import BatchFormer, pick_replica
from themis_env.realserve.replica import ReplicaProcess
from themis_env.sim.simulator import StageDecision

__all__ = ["BatchRecord", "RealBackend", "RealRun"]


@dataclass(frozen=True)
class BatchRecord:
    """One batch a replica served (times from the window start)."""

    start_s: float
    size: int
    cores: int
    service_s: float  # the model call in the replica
    slot: int
    occupied_s: float = math.nan  # hand-over to the dispatcher reading its end (pipes, waking)


@dataclass
class RealRun:
    """What one run measured.

    Attributes:
        duration_s: The window's length [s]; completions after it are not counted.
        arrivals_s: Arrival time of each request [s from the window start].
        ends_s: Completion time of each request as the dispatcher saw it [s]; NaN if not
            completed within the window.
        batches: The batches served (:class:`BatchRecord`).
        resize_delays_s: Decision to effect of each in-place resize [s].
        cold_starts_s: Decision to ready of each replica started during the run [s].
        failed_resizes: Resizes refused for lack of free CPUs (each second they were asked).
        pending_seconds: Seconds in which a replica asked for could not be placed.
        load_average: The machine's 1-minute load average at the end.
    """

    duration_s: float
    arrivals_s: np.ndarray
    ends_s: np.ndarray
    batches: list[BatchRecord] = field(default_factory=list)
    resize_delays_s: list[float] = field(default_factory=list)
    cold_starts_s: list[float] = field(default_factory=list)
    failed_resizes: int = 0
    pending_seconds: int = 0
    load_average: float = math.nan

    @property
    def latencies_s(self) -> np.ndarray:
        """End-to-end latency of each request completed within the window [s]."""
        done = np.isfinite(self.ends_s)
        return self.ends_s[done] - self.arrivals_s[done]


class RealBackend:
    """Serve one model stage with real processes on this machine's CPUs.

    Args:
        model: ``module:callable`` (or a torchvision name) of the model.
        input_shape: One request's input shape.
        max_batch: Largest batch size a decision may ask for.
        batch_timeout_s: The dispatcher's batch timeout [s]; ``inf`` waits for full batches.
        cpus: The CPUs replicas may be pinned to (the "node"); default all usable.
        start_timeout_s: Longest wait for the initial replicas to load [s].
    """

    def __init__(
        self,
        model: str,
        input_shape: Sequence[int],
        *,
        max_batch: int,
        batch_timeout_s: float = math.inf,
        cpus: Sequence[int] | None = None,
        start_timeout_s: float = 120.0,
    ) -> None:
        self.model = model
        self.input_shape = tuple(int(d) for d in input_shape)
        self.max_batch = int(max_batch)
        self.batch_timeout_s = float(batch_timeout_s)
        self.cpus = tuple(sorted(cpus if cpus is not None else os.sched_getaffinity(0)))
        self.start_timeout_s = float(start_timeout_s)
        self._replicas: list[ReplicaProcess] = []
        self._retired: list[ReplicaProcess] = []

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> RealBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """End every replica process this backend started."""
        for replica in [*self._replicas, *self._retired]:
            replica.stop()
        self._replicas, self._retired = [], []

    @property
    def pids(self) -> list[int]:
        """Process ids of the replicas alive now."""
        return [r.process.pid for r in [*self._replicas, *self._retired] if r.process.is_alive()]

    # ------------------------------------------------------------------ cpus
    def _held(self) -> set[int]:
        # A retired replica has finished its last batch: its CPUs are free, as the simulator
        # frees a removed replica's cores when its batch in service ends.
        held: set[int] = set()
        for r in self._replicas:
            held.update(r.cpus)
            held.update(r.cpus_after_resize or ())
        return held

    def _free_cpus(self) -> list[int]:
        held = self._held()
        return [c for c in self.cpus if c not in held]

    def _check(self, decision: StageDecision) -> None:
        if not 1 <= decision.cores <= len(self.cpus):
            raise ValueError(f"cores = {decision.cores} is outside [1, {len(self.cpus)}]")
        if not 1 <= decision.batch <= self.max_batch:
            raise ValueError(f"batch = {decision.batch} is outside [1, {self.max_batch}]")
        if decision.replicas < 1:
            raise ValueError(f"replicas = {decision.replicas} must be >= 1")

    # ------------------------------------------------------------------ actuation
    def _start(self, cores: int, now: float) -> ReplicaProcess | None:
        free = self._free_cpus()
        if len(free) < cores:
            return None
        slot = max((r.slot for r in self._replicas), default=-1) + 1
        replica = ReplicaProcess(
            slot, self.model, self.input_shape, tuple(free[:cores]), self.max_batch, now
        )
        self._replicas.append(replica)
        return replica

    def _retire(self, replica: ReplicaProcess) -> None:
        replica.removing = True
        if replica.in_flight is None:  # idle or starting: end it now
            self._replicas.remove(replica)
            self._retired.append(replica)
            if replica.ready_s is None:
                replica.process.terminate()
                replica.conn.close()  # nothing more to read; a closed pipe would wake the loop
            else:
                replica.send("stop")

    def _reconcile(self, decision: StageDecision, now: float, run: RealRun) -> None:
        """Move the replicas toward ``decision`` at monotonic time ``now``."""
        self._former.set_batch_size(decision.batch)
        live = [r for r in self._replicas if not r.removing]
        surplus = len(live) - decision.replicas
        if surplus > 0:  # starting replicas first, then the newest (the highest slot on a tie)
            order = sorted(live, key=lambda r: (r.ready_s is not None, -r.created_s, -r.slot))
            for replica in order[:surplus]:
                self._retire(replica)
        for replica in [r for r in self._replicas if not r.removing]:
            cores = len(replica.cpus_after_resize or replica.cpus)
            if cores == decision.cores or replica.ready_s is None:
                continue
            if replica.cpus_after_resize is not None:
                continue  # one resize at a time: the next second retries
            if decision.cores < cores:
                new = replica.cpus[: decision.cores]
            else:
                free = self._free_cpus()
                extra = decision.cores - len(replica.cpus)
                if len(free) < extra:
                    run.failed_resizes += 1
                    continue
                new = (*replica.cpus, *free[:extra])
            replica.cpus_after_resize = tuple(sorted(new))
            replica.resize_asked_s = now
            replica.send("resize", replica.cpus_after_resize)
        missing = decision.replicas - len([r for r in self._replicas if not r.removing])
        for _ in range(max(missing, 0)):
            if self._start(decision.cores, now) is None:
                run.pending_seconds += 1
                break

    # ------------------------------------------------------------------ the run
    def _warm_start(self, decision: StageDecision) -> None:
        now = time.monotonic()
        for _ in range(decision.replicas):
            if self._start(decision.cores, now) is None:
                raise ServeError(
                    f"the initial {decision.replicas} replicas of {decision.cores} cores do not "
                    f"fit the {len(self.cpus)} CPUs {list(self.cpus)}"
                )
        deadline = now + self.start_timeout_s
        while any(r.ready_s is None for r in self._replicas):
            left = deadline - time.monotonic()
            if left <= 0:
                raise ServeError(
                    f"replicas of {self.model!r} did not load within {self.start_timeout_s:.0f} s"
                )
            for conn in wait([r.conn for r in self._replicas], timeout=left):
                replica = next(r for r in self._replicas if r.conn is conn)
                message = self._receive(replica)
                if message[0] != "ready":
                    raise ServeError(f"replica {replica.slot} sent {message!r} before 'ready'")
                replica.ready_s = replica.free_since = -math.inf  # warm: free since ever

    def _receive(self, replica: ReplicaProcess) -> tuple:
        try:
            message = replica.conn.recv()
        except (EOFError, OSError):
            replica.process.join(timeout=1.0)
            raise ServeError(
                f"replica {replica.slot} of {self.model!r} ended (exit code "
                f"{replica.process.exitcode})"
            ) from None
        if message[0] == "error":
            raise ServeError(f"replica {replica.slot} of {self.model!r} failed: {message[1]}")
        return message

    def run(
        self,
        arrivals_s: np.ndarray,
        schedule: Sequence[tuple[float, StageDecision]],
        duration_s: float,
    ) -> RealRun:
        """Serve ``arrivals_s`` for ``duration_s`` seconds under the decision ``schedule``.

        Args:
            arrivals_s: Sorted arrival times [s from the window start].
            schedule: (time [s], decision) pairs, sorted, the first at time 0: its replicas
                are started and loaded before the window starts (warm, as an episode's).
            duration_s: The window's length [s].

        Raises:
            DependencyNotInstalled: Without torch.
            ServeError: When a replica fails, ends, or does not load in time.
            ValueError: For a decision outside the backend's limits or a bad schedule.
        """
        if importlib.util.find_spec("torch") is None:
            raise DependencyNotInstalled(
                'real replicas need torch: pip install "themis-env[profile]"'
            )
        if not schedule or schedule[0][0] != 0:
            raise ValueError("the schedule must start with a decision at time 0")
        for _, decision in schedule:
            self._check(decision)
        arrivals_s = np.asarray(arrivals_s, dtype=np.float64)
        ends = np.full(len(arrivals_s), np.nan)
        run = RealRun(float(duration_s), arrivals_s, ends)
        first = schedule[0][1]
        self._former = BatchFormer(first.batch, self.batch_timeout_s)
        try:
            self._warm_start(first)
            self._loop(arrivals_s, list(schedule), float(duration_s), run)
        finally:
            self.close()
            run.load_average = os.getloadavg()[0]
        return run

    def _loop(
        self,
        arrivals: np.ndarray,
        schedule: list[tuple[float, StageDecision]],
        duration: float,
        run: RealRun,
    ) -> None:
        former = self._former
        in_flight: dict[int, tuple[tuple[int, ...], float, int, ReplicaProcess]] = {}
        next_arrival = 0
        next_batch_id = 0
        decision = schedule[0][1]
        next_decision = 1  # index into schedule of the next change
        next_tick = 1.0  # reconcile every whole second, as env steps do
        t0 = time.monotonic() + 0.05
        while True:
            now = time.monotonic() - t0
            if now >= duration:
                return
            while next_tick <= now:
                while next_decision < len(schedule) and schedule[next_decision][0] <= next_tick:
                    decision = schedule[next_decision][1]
                    next_decision += 1
                self._reconcile(decision, t0 + next_tick, run)
                next_tick += 1.0
            while next_arrival < len(arrivals) and arrivals[next_arrival] <= now:
                former.add(float(arrivals[next_arrival]), next_arrival)
                next_arrival += 1
            while (batch := former.closed(now)) is not None:
                serving = [r for r in self._replicas if r.serving and r.in_flight is None]
                slot = pick_replica([r.free_since for r in serving])
                if slot is None:
                    break
                replica = serving[slot]
                start = time.monotonic() - t0
                former.handed(start)
                replica.send("batch", next_batch_id, len(batch.requests))
                replica.in_flight = next_batch_id
                replica.free_since = None
                # A resize sent earlier reaches the replica before this batch does.
                cores = len(replica.cpus_after_resize or replica.cpus)
                in_flight[next_batch_id] = (batch.requests, start, cores, replica)
                next_batch_id += 1
            wake = min(
                float(arrivals[next_arrival]) if next_arrival < len(arrivals) else math.inf,
                former.deadline_s(),
                next_tick,
                duration,
            )
            conns = [r.conn for r in [*self._replicas, *self._retired] if not r.conn.closed]
            ready = wait(conns, timeout=max(0.0, wake - (time.monotonic() - t0)))
            for conn in ready:
                replica = next(r for r in [*self._replicas, *self._retired] if r.conn is conn)
                try:
                    message = self._receive(replica)
                except ServeError:
                    if replica in self._retired:  # a stopped replica closed its pipe
                        replica.conn.close()
                        continue
                    raise
                self._handle(message, replica, t0, in_flight, run)

    def _handle(
        self,
        message: tuple,
        replica: ReplicaProcess,
        t0: float,
        in_flight: dict[int, tuple[tuple[int, ...], float, int, ReplicaProcess]],
        run: RealRun,
    ) -> None:
        now = time.monotonic() - t0
        kind = message[0]
        if kind == "done":
            _, batch_id, t_start, t_end = message
            requests, start, cores, _ = in_flight.pop(batch_id)
            if now < run.duration_s:
                run.ends_s[list(requests)] = now
            run.batches.append(
                BatchRecord(start, len(requests), cores, t_end - t_start, replica.slot, now - start)
            )
            replica.in_flight = None
            replica.free_since = now
            if replica.removing and replica in self._replicas:
                self._replicas.remove(replica)
                self._retired.append(replica)
                replica.send("stop")
        elif kind == "ready":
            replica.ready_s = replica.free_since = now
            run.cold_starts_s.append(message[1] - replica.created_s)
        elif kind == "resized":
            assert replica.cpus_after_resize is not None and replica.resize_asked_s is not None
            run.resize_delays_s.append(message[1] - replica.resize_asked_s)
            replica.cpus = replica.cpus_after_resize
            replica.cpus_after_resize = None
            replica.resize_asked_s = None
        else:
            raise ServeError(f"replica {replica.slot} sent an unknown message {message!r}")
