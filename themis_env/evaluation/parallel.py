"""Run many episodes: in this process, in a process pool, or on Ray, with a progress bar.

Whatever the backend, each finished run is handed to ``on_record`` in the parent process as
soon as it finishes (the caller writes it to disk at once), so an interrupted leaderboard
keeps every run that finished. The runs are independent and seeded by their spec, so the
backend and the number of jobs do not change any KPI.

* ``process`` (default): :class:`concurrent.futures.ProcessPoolExecutor` with ``jobs`` workers
  (``jobs=1`` runs in this process). Workers ignore Ctrl-C; the parent stops them. A worker
  that dies (out of memory, a crash in native code) fails only the runs it had in flight.
* ``ray``: one Ray task per run (``pip install "themis-env[ray]"``). It joins the cluster named
  by ``RAY_ADDRESS`` when set, else starts a local Ray with ``jobs`` CPUs.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from themis_env.errors import ConfigError, DependencyNotInstalled
from themis_env.evaluation.run_record import RunRecord
from themis_env.evaluation.runner import RunSpec, failure_record, run_episode

__all__ = ["BACKENDS", "Progress", "mp_context", "run_specs"]

BACKENDS = ("process", "ray")

OnRecord = Callable[[RunRecord], None]


class Progress:
    """A progress bar with an ETA: tqdm when installed, else one text line per finished run.

    Args:
        total: Number of runs.
        enabled: False prints nothing.
        desc: Label in front of the bar.
    """

    def __init__(self, total: int, enabled: bool = True, desc: str = "runs") -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self.enabled = enabled and total > 0
        self.start = time.monotonic()
        self._bar = None
        if self.enabled:
            try:
                from tqdm import tqdm

                self._bar = tqdm(
                    total=total, desc=desc, unit="run", file=sys.stderr, dynamic_ncols=True
                )
            except ImportError:
                self._bar = None

    def update(self, record: RunRecord) -> None:
        """Count one finished run."""
        self.done += 1
        self.failed += not record.ok
        if not self.enabled:
            return
        what = f"{record.scenario}/{record.policy.label}/seed{record.seed}"
        if self._bar is not None:
            self._bar.set_postfix_str(
                f"{what} {record.status}, failed {self.failed}", refresh=False
            )
            self._bar.update(1)
            return
        elapsed = time.monotonic() - self.start
        eta = elapsed / self.done * (self.total - self.done)
        print(
            f"[{self.done}/{self.total}] {100 * self.done / self.total:3.0f}% {what} "
            f"{record.status}"
            f" | elapsed {_clock(elapsed)} ETA {_clock(eta)}",
            file=sys.stderr,
            flush=True,
        )

    def close(self) -> None:
        """Finish the bar."""
        if self._bar is not None:
            self._bar.close()


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def _run_spec_dict(spec: dict[str, Any]) -> RunRecord:
    return run_episode(RunSpec.from_dict(spec))


def _ignore_sigint() -> None:
    # The parent handles Ctrl-C and stops the pool; a worker dying mid-run would only lose work.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def mp_context() -> multiprocessing.context.BaseContext:
    """The start method of worker processes (``THEMIS_MP_START`` overrides it).

    ``forkserver`` where available: workers fork from a small single-threaded server that has
    imported the simulator once, which is nearly as fast as ``fork`` and safe when this process
    runs threads (the progress bar, the pool's manager); ``spawn`` elsewhere.
    """
    methods = multiprocessing.get_all_start_methods()
    method = os.environ.get("THEMIS_MP_START") or (
        "forkserver" if "forkserver" in methods else "spawn"
    )
    ctx = multiprocessing.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(["themis_env.evaluation.parallel"])
    return ctx


def run_specs(
    specs: Sequence[RunSpec],
    on_record: OnRecord,
    *,
    jobs: int = 1,
    backend: str = "process",
    progress: bool = True,
) -> int:
    """Run every spec and hand each record to ``on_record`` as it finishes.

    Args:
        specs: The runs.
        on_record: Called in this process with each record (write it durably there).
        jobs: Parallel workers (``1`` with the process backend runs here, serially).
        backend: ``process`` or ``ray``.
        progress: Show a progress bar with an ETA on stderr.

    Returns:
        The number of runs executed.

    Raises:
        ConfigError: for an unknown backend or jobs < 1.
        DependencyNotInstalled: for the Ray backend without Ray.
        KeyboardInterrupt: after stopping the workers; finished runs were already handed over.
    """
    if backend not in BACKENDS:
        raise ConfigError(f"backend = {backend!r} is not allowed; choose one of {list(BACKENDS)}")
    if jobs < 1:
        raise ConfigError(f"jobs = {jobs} must be ≥ 1")
    bar = Progress(len(specs), enabled=progress)

    def deliver(record: RunRecord) -> None:
        on_record(record)
        bar.update(record)

    try:
        if not specs:
            return 0
        if backend == "ray":
            _run_ray(specs, deliver, jobs)
        elif jobs == 1:
            for spec in specs:
                deliver(run_episode(spec))
        else:
            _run_pool(specs, deliver, jobs)
    finally:
        bar.close()
    return len(specs)


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    pool.shutdown(wait=False, cancel_futures=True)
    # The executor has no public way to stop runs in flight; its worker processes are in
    # ``_processes`` (CPython), and terminating them is what makes Ctrl-C prompt.
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        if proc.is_alive():
            proc.terminate()


def _run_pool(specs: Sequence[RunSpec], deliver: OnRecord, jobs: int) -> None:
    queue = list(reversed(specs))
    window = 2 * jobs  # a worker that dies fails at most the runs in flight
    ctx = mp_context()
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_ignore_sigint)
    in_flight: dict[Future, tuple[RunSpec, float]] = {}
    try:
        while queue or in_flight:
            while queue and len(in_flight) < window:
                spec = queue.pop()
                try:
                    future = pool.submit(_run_spec_dict, spec.to_dict())
                except BrokenProcessPool:
                    queue.append(spec)
                    pool = ProcessPoolExecutor(
                        max_workers=jobs, mp_context=ctx, initializer=_ignore_sigint
                    )
                    continue
                in_flight[future] = (spec, time.monotonic())
            done, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
            broken = False
            for future in done:
                spec, t0 = in_flight.pop(future)
                try:
                    record = future.result()
                except BrokenProcessPool as exc:
                    broken = True
                    record = failure_record(
                        spec,
                        RuntimeError(
                            f"the worker process died while this run was in flight ({exc})"
                        ),
                        time.monotonic() - t0,
                    )
                except Exception as exc:  # noqa: BLE001 (e.g. a record that cannot be pickled)
                    record = failure_record(spec, exc, time.monotonic() - t0)
                deliver(record)
            if broken:
                pool.shutdown(wait=False, cancel_futures=True)
                pool = ProcessPoolExecutor(
                    max_workers=jobs, mp_context=ctx, initializer=_ignore_sigint
                )
    except BaseException:
        _stop_pool(pool)
        raise
    pool.shutdown(wait=True)


def _run_ray(specs: Sequence[RunSpec], deliver: OnRecord, jobs: int) -> None:
    try:
        import ray
    except ImportError as exc:
        raise DependencyNotInstalled(
            'the Ray backend needs Ray: pip install "themis-env[ray]"'
        ) from exc
    started = False
    if not ray.is_initialized():
        if os.environ.get("RAY_ADDRESS"):
            ray.init(log_to_driver=False)
        else:
            ray.init(num_cpus=jobs, include_dashboard=False, log_to_driver=False)
        started = True
    remote = ray.remote(num_cpus=1, max_retries=0)(_run_spec_dict)
    queue = list(reversed(specs))
    window = 2 * jobs
    in_flight: dict[Any, tuple[RunSpec, float]] = {}
    try:
        while queue or in_flight:
            while queue and len(in_flight) < window:
                spec = queue.pop()
                in_flight[remote.remote(spec.to_dict())] = (spec, time.monotonic())
            done, _ = ray.wait(list(in_flight), num_returns=1)
            for ref in done:
                spec, t0 = in_flight.pop(ref)
                try:
                    record = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 (a lost worker or node fails only this run)
                    record = failure_record(spec, exc, time.monotonic() - t0)
                deliver(record)
    except BaseException:
        for ref in in_flight:
            ray.cancel(ref, force=True)
        raise
    finally:
        if started:
            ray.shutdown()
