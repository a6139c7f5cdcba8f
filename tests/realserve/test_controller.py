"""The backend's controller reconciles as the simulator does, on fake replicas (no processes)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from themis_env.realserve import RealRun
from themis_env.realserve import backend as backend_module
from themis_env.realserve.dispatcher import BatchFormer
from themis_env.sim.simulator import StageDecision


class FakeProcess:
    def __init__(self) -> None:
        self.alive = True

    def is_alive(self) -> bool:
        return self.alive

    def terminate(self) -> None:
        self.alive = False


class FakeConn:
    closed = False

    def close(self) -> None:
        self.closed = True


class FakeReplica:
    """Records what it is sent instead of running a process."""

    def __init__(
        self, slot: int, model: str, shape: Any, cpus: tuple[int, ...], *rest: Any
    ) -> None:
        self.slot, self.cpus, self.created_s = slot, tuple(cpus), rest[-1]
        self.ready_s: float | None = None
        self.free_since: float | None = None
        self.in_flight: int | None = None
        self.removing = False
        self.resize_asked_s: float | None = None
        self.cpus_after_resize: tuple[int, ...] | None = None
        self.process = FakeProcess()
        self.conn = FakeConn()
        self.sent: list[tuple] = []

    @property
    def serving(self) -> bool:
        return self.ready_s is not None and not self.removing

    def send(self, *message: Any) -> None:
        self.sent.append(message)

    def stop(self) -> None:
        self.process.alive = False


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch) -> backend_module.RealBackend:
    monkeypatch.setattr(backend_module, "ReplicaProcess", FakeReplica)
    b = backend_module.RealBackend("m:M", (1,), max_batch=4, cpus=(0, 1))
    b._former = BatchFormer(1)
    return b


def _run() -> RealRun:
    return RealRun(10.0, np.zeros(0), np.zeros(0))


def _ready(backend: backend_module.RealBackend) -> None:
    for r in backend._replicas:
        r.ready_s = r.free_since = -math.inf


def test_scale_out_onto_free_cpus_then_pending_when_the_node_is_full(backend: Any) -> None:
    run = _run()
    backend._reconcile(StageDecision(2, 1, 2), 0.0, run)
    assert [r.cpus for r in backend._replicas] == [(0,), (1,)]
    assert backend._former.batch_size == 2
    backend._reconcile(StageDecision(3, 1, 2), 1.0, run)
    assert len(backend._replicas) == 2 and run.pending_seconds == 1


def test_a_resize_with_no_free_cpu_fails_and_one_with_room_is_sent(backend: Any) -> None:
    run = _run()
    backend._reconcile(StageDecision(2, 1, 1), 0.0, run)
    _ready(backend)
    backend._reconcile(StageDecision(2, 2, 1), 1.0, run)
    assert run.failed_resizes == 2 and all(not r.sent for r in backend._replicas)
    # Scale in: the newest goes (idle, so at once), its CPU is free, the resize goes through.
    backend._reconcile(StageDecision(1, 2, 1), 2.0, run)
    (kept,) = backend._replicas
    assert kept.slot == 0 and backend._retired[0].slot == 1
    assert kept.sent == [("resize", (0, 1))] and kept.cpus_after_resize == (0, 1)
    assert kept.resize_asked_s == 2.0 and run.failed_resizes == 2


def test_scale_in_removes_starting_replicas_first_and_a_busy_one_after_its_batch(
    backend: Any,
) -> None:
    run = _run()
    backend._reconcile(StageDecision(1, 1, 1), 0.0, run)
    _ready(backend)
    backend._reconcile(StageDecision(2, 1, 1), 1.0, run)  # a second one, still starting
    first, starting = backend._replicas
    backend._reconcile(StageDecision(1, 1, 1), 2.0, run)
    assert backend._replicas == [first] and backend._retired == [starting]
    assert not starting.process.is_alive() and starting.conn.closed
    # The newest ready replica goes; a busy one is marked and keeps its CPU until its batch ends.
    backend._reconcile(StageDecision(2, 1, 1), 3.0, run)
    newest = backend._replicas[1]
    newest.ready_s, newest.in_flight = 3.5, 4
    backend._reconcile(StageDecision(1, 1, 1), 4.0, run)
    assert newest.removing and newest in backend._replicas and not newest.sent
    assert backend._free_cpus() == []


def test_a_shrink_keeps_the_replicas_first_cpus(backend: Any) -> None:
    run = _run()
    backend._reconcile(StageDecision(1, 2, 1), 0.0, run)
    _ready(backend)
    backend._reconcile(StageDecision(1, 1, 1), 1.0, run)
    assert backend._replicas[0].sent == [("resize", (0,))]
