"""Run many episodes: in this process, in a process pool, or on Ray, with a progress bar.

Whatever the backend, each finished run is handed to ``on_record`` in the parent process as
soon as it finishes (the caller writes it to disk at once), so an interrupted leaderboard
keeps every run that finished. The runs are independent and seeded by their spec, so the
backend and the number of jobs do not change any KPI.

* ``process`` (default): :class:`concurrent.futures.ProcessPoolExecutor` with ``jobs`` workers
  (``jobs=1`` too, one worker, unless ``isolate=False`` runs here). Each run is isolated: a
  policy that raises, or calls ``sys.exit()``, gives a failed record; a worker that dies (a
  policy that kills its process, out of memory, a crash in native code) gives a failed record
  for its run, naming the exit code, and the other runs that were in flight when the pool
  broke are run again, one at a time, until the one that killed its worker is found. Workers
  ignore Ctrl-C (the parent stops them) and, on Linux, are killed by the kernel when the
  process that started them dies, even by SIGKILL, so none is left behind.
* ``ray``: one Ray task per run (``pip install "themis-env[ray]"``). It joins the cluster named
  by ``RAY_ADDRESS`` when set (the CLI's ``--address``), else starts a local Ray with ``jobs``
  CPUs. A cluster with token authentication needs its token in this process, as Ray reads it:
  ``RAY_AUTH_MODE=token`` with ``RAY_AUTH_TOKEN`` or ``RAY_AUTH_TOKEN_PATH`` (the CLI's
  ``--ray-token-file``). A run whose worker process dies (killed, out of memory, its node lost)
  is run again by Ray, up to :data:`RAY_MAX_RETRIES` times, and recorded once; a policy's own
  error is in its record already and is not retried.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from themis_env.errors import ConfigError, DependencyNotInstalled
from themis_env.evaluation.registry import TRUST_VAR
from themis_env.evaluation.run_record import RunRecord
from themis_env.evaluation.runner import RunSpec, failure_record, run_episode

__all__ = ["BACKENDS", "RAY_MAX_RETRIES", "Progress", "mp_context", "run_specs"]

BACKENDS = ("process", "ray")
# Times Ray runs a task again after its worker process died. Only system failures count:
# exceptions are not retried (retry_exceptions=False), and the runner turns a policy's own
# exception or sys.exit into a failed record rather than raising it. A policy that kills its
# own process is therefore run 1 + RAY_MAX_RETRIES times before it is recorded failed.
RAY_MAX_RETRIES = 2

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


# Settings the command line passes to runs through the environment: where real traces are
# and whether pickled agents are trusted. A worker process inherits the environment of whoever
# started it (a forkserver may predate the command), so each run carries the caller's values.
_RUN_ENVIRONMENT = ("THEMIS_TRACE_DIR", TRUST_VAR)


def _caller_environment() -> dict[str, str | None]:
    return {name: os.environ.get(name) for name in _RUN_ENVIRONMENT}


def _run_spec_dict(spec: dict[str, Any], environment: dict[str, str | None]) -> RunRecord:
    for name, value in environment.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    return run_episode(RunSpec.from_dict(spec))


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _init_worker() -> None:
    # The parent handles Ctrl-C and stops the pool; a worker dying mid-run would only lose work.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()


def _die_with_parent() -> None:
    """End this worker when the process that started the pool dies, however it dies.

    A leaderboard killed with SIGKILL runs no clean-up, and its workers (about 0.5 GB each)
    would run on: under ``forkserver`` each worker holds the pipe whose closing tells the
    forkserver to exit, so neither ever ends. Two guards: on Linux the kernel SIGKILLs the
    worker when its parent process dies (``PR_SET_PDEATHSIG``; the parent is the leaderboard
    under ``fork`` and ``spawn``), and a thread waits on the sentinel multiprocessing gives
    every child, which becomes ready when the leaderboard's end of it closes (any start
    method, the forkserver's included).
    """
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):  # no usable libc: the thread below still guards
            pass
    parent = multiprocessing.parent_process()
    if parent is None or parent.sentinel is None:
        return

    def watch(sentinel: int) -> None:
        multiprocessing.connection.wait([sentinel])
        os._exit(1)

    threading.Thread(target=watch, args=(parent.sentinel,), daemon=True).start()


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
    isolate: bool = True,
) -> int:
    """Run every spec and hand each record to ``on_record`` as it finishes.

    Args:
        specs: The runs.
        on_record: Called in this process with each record (write it durably there).
        jobs: Parallel workers.
        backend: ``process`` or ``ray``.
        progress: Show a progress bar with an ETA on stderr.
        isolate: With the process backend and ``jobs=1``, still run in a worker process, so a
            policy that kills its process fails only its run; False runs here, serially (a
            little faster to start; a policy that kills its process ends this one).

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
        elif jobs == 1 and not isolate:
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


def _new_pool(jobs: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=jobs, mp_context=mp_context(), initializer=_init_worker)


class WorkerDied(RuntimeError):
    """The worker process running a run died (the run's record holds this as its error)."""


def _death_cause(pool: ProcessPoolExecutor) -> str:
    """How the pool's dead worker ended: ``exit code 3``, ``killed by signal SIGKILL``, ..."""
    # CPython keeps the worker processes in ``_processes`` (there is no public way to them).
    procs = list((getattr(pool, "_processes", None) or {}).values())
    # The exit code reaches this process shortly after the pool reports the break.
    multiprocessing.connection.wait([p.sentinel for p in procs], timeout=2.0)
    # The pool's own thread is joining the dead workers. Under forkserver an exit status can be
    # read from its pipe only once, and a second reader at the same moment gets 255; so leave
    # the reading to that thread for a moment and use the status it stored.
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline and any(
        getattr(getattr(p, "_popen", None), "returncode", 0) is None for p in procs
    ):
        time.sleep(0.01)
    # A broken pool terminates its other workers (SIGTERM), so a SIGTERM is the cause only when
    # no worker ended otherwise.
    codes = [p.exitcode for p in procs if p.exitcode]
    codes.sort(key=lambda code: code == -signal.SIGTERM)
    if not codes:
        return "cause unknown"
    code = codes[0]
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _run_pool(specs: Sequence[RunSpec], deliver: OnRecord, jobs: int) -> None:
    queue = list(reversed(specs))
    # Runs that were in flight when a worker died. One of them killed it; they are run again
    # one at a time, so the one that kills its worker alone is recorded failed and the others
    # are not blamed for it.
    suspects: list[RunSpec] = []
    environment = _caller_environment()
    window = 2 * jobs  # a worker that dies takes down at most the runs in flight
    pool = _new_pool(jobs)
    in_flight: dict[Future, tuple[RunSpec, float]] = {}

    def refill() -> bool:
        """Submit runs up to the window (one at a time while suspects remain); False if broken."""
        source, limit = (suspects, 1) if suspects else (queue, window)
        while source and len(in_flight) < limit:
            spec = source.pop()
            try:
                future = pool.submit(_run_spec_dict, spec.to_dict(), environment)
            except BrokenProcessPool:  # a worker died since the last wait
                source.append(spec)
                return False
            in_flight[future] = (spec, time.monotonic())
        return True

    try:
        while True:
            if not refill() and not in_flight:  # an idle worker died: nothing was lost
                pool.shutdown(wait=False, cancel_futures=True)
                pool = _new_pool(jobs)
                continue
            if not in_flight:
                break
            done, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
            lost: list[tuple[RunSpec, float]] = []
            for future in done:
                spec, t0 = in_flight.pop(future)
                try:
                    record = future.result()
                except BrokenProcessPool:
                    lost.append((spec, t0))
                    continue
                except (Exception, SystemExit) as exc:  # noqa: BLE001 (e.g. an unpicklable record)
                    record = failure_record(spec, exc, time.monotonic() - t0)
                deliver(record)
            if not lost:
                continue
            # The pool is broken: every run still in flight is lost with it, unless it finished.
            for future, (spec, t0) in list(in_flight.items()):
                if future.done() and not future.cancelled() and future.exception() is None:
                    deliver(future.result())
                else:
                    lost.append((spec, t0))
            in_flight.clear()
            cause = _death_cause(pool)
            pool.shutdown(wait=False, cancel_futures=True)
            pool = _new_pool(jobs)
            if len(lost) == 1:
                spec, t0 = lost[0]
                error = WorkerDied(f"the worker process running this run died ({cause})")
                deliver(failure_record(spec, error, time.monotonic() - t0))
            else:
                suspects.extend(reversed([spec for spec, _ in lost]))
    except BaseException:
        _stop_pool(pool)
        raise
    pool.shutdown(wait=True)


def _init_ray(ray: Any, jobs: int) -> None:
    """Join the cluster at ``RAY_ADDRESS``, or start a local Ray with ``jobs`` CPUs.

    Raises:
        ConfigError: naming the address when the cluster refuses the connection or cannot be
            reached (Ray retries for about 20 s first), with how a token is passed.
    """
    address = os.environ.get("RAY_ADDRESS")
    if not address:
        # "local": a new Ray even where an earlier `ray start` left its address behind.
        ray.init(address="local", num_cpus=jobs, include_dashboard=False, log_to_driver=False)
        return
    try:
        ray.init(log_to_driver=False)
    except (ConnectionError, ray.exceptions.AuthenticationError) as exc:
        token = os.environ.get("RAY_AUTH_MODE", "").lower() == "token"
        hint = (
            "check that the token is the cluster's (`ray get-auth-token` on its head node)"
            if token
            else "a cluster with token authentication (Ray's default where ~/.ray/auth_token "
            "exists) also needs its token here: --ray-token-file PATH, or RAY_AUTH_MODE=token "
            "with RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH"
        )
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"Ray cluster at --address / RAY_ADDRESS {address!r}: {message}; {hint}"
        ) from None


def _run_ray(specs: Sequence[RunSpec], deliver: OnRecord, jobs: int) -> None:
    try:
        import ray
    except ImportError as exc:
        raise DependencyNotInstalled(
            'the Ray backend needs Ray: pip install "themis-env[ray]"'
        ) from exc
    started = False
    if not ray.is_initialized():
        _init_ray(ray, jobs)
        started = True
    remote = ray.remote(num_cpus=1, max_retries=RAY_MAX_RETRIES, retry_exceptions=False)(
        _run_spec_dict
    )
    environment = _caller_environment()
    queue = list(reversed(specs))
    window = 2 * jobs
    in_flight: dict[Any, tuple[RunSpec, float]] = {}
    try:
        while queue or in_flight:
            while queue and len(in_flight) < window:
                spec = queue.pop()
                in_flight[remote.remote(spec.to_dict(), environment)] = (spec, time.monotonic())
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
