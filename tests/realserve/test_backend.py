"""The real backend: every replica ends on an interrupt or its parent's death.

A resize taking effect is checked end to end in ``test_check.py``. Nothing here asserts on
timing: the machine is shared.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from tests.foreground import default_sigint
from themis_env.realserve.replica import set_process_affinity
from themis_env.sim.simulator import StageDecision

TINY = "tests.profiling.tiny:TinyNet"
ROOT = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")  # a zombie has ended; only its exit status is left


def test_a_process_affinity_change_moves_every_thread() -> None:
    if not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs Linux and two CPUs")
    code = textwrap.dedent(
        """
        import os, threading
        from themis_env.realserve.replica import set_process_affinity
        stop = threading.Event()
        worker = threading.Thread(target=stop.wait)
        worker.start()
        cpu = min(os.sched_getaffinity(0))
        set_process_affinity([cpu])
        masks = {tid: os.sched_getaffinity(int(tid)) for tid in os.listdir("/proc/self/task")}
        stop.set()
        worker.join()
        assert len(masks) >= 2 and all(m == {cpu} for m in masks.values()), masks
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert callable(set_process_affinity)


def _backend(**kwargs: object):  # noqa: ANN202
    from themis_env.realserve import RealBackend

    return RealBackend(TINY, (8,), max_batch=2, batch_timeout_s=0.01, **kwargs)


def test_decisions_outside_the_node_are_refused() -> None:
    with pytest.raises(ValueError, match="cores = 3 is outside"):
        _backend(cpus=(0, 1)).run(np.zeros(0), [(0.0, StageDecision(1, 3, 1))], 1.0)
    with pytest.raises(ValueError, match="must start with a decision at time 0"):
        _backend(cpus=(0,)).run(np.zeros(0), [(1.0, StageDecision(1, 1, 1))], 1.0)


_SERVE_FOREVER = """
import os, sys
import numpy as np
from themis_env.realserve import RealBackend
from themis_env.realserve import replica
from themis_env.sim.simulator import StageDecision

started = replica.ReplicaProcess.__init__
def announce(self, *args, **kwargs):
    started(self, *args, **kwargs)
    print(self.process.pid, flush=True)
replica.ReplicaProcess.__init__ = announce
from themis_env.realserve import backend
backend.ReplicaProcess = replica.ReplicaProcess

cpu = min(os.sched_getaffinity(0))
with RealBackend("tests.profiling.tiny:TinyNet", (8,), max_batch=1, cpus=(cpu,)) as b:
    b.run(np.arange(0.0, 600.0, 0.05), [(0.0, StageDecision(1, 1, 1))], 600.0)
"""


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["interrupt", "kill"])
def test_no_replica_outlives_an_interrupted_or_killed_backend(sig: signal.Signals) -> None:
    pytest.importorskip("torch")
    parent = subprocess.Popen(
        [sys.executable, "-c", _SERVE_FOREVER],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a SIGINT to it alone, as Ctrl-C is to a foreground job
        preexec_fn=default_sigint,
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        time.sleep(1.0)  # mid-load or serving: either way it must end
        parent.send_signal(sig)
        parent.wait(timeout=60)
        deadline = time.monotonic() + 30
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child), f"replica {child} outlived its backend"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
