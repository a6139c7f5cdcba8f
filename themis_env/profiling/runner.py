"""Run a profile in a child process and collect what it measured.

The child (:func:`themis_env.profiling.measure.child_main`) is started with the ``spawn``
method: a fresh interpreter, so the measured model load time is that of a new replica (process
start to first inference) and the parent's threads and affinity do not leak into it. The child
ends when the profile ends, fails or is interrupted.
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import queue as queue_module
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from themis_env.errors import ConfigError, DependencyNotInstalled, ProfileError
from themis_env.profiling.fit import LatencyFit, fit_latency
from themis_env.profiling.measure import MachineInfo, Measurement, ProfilePlan, child_main
from themis_env.profiling.models import ModelInfo

__all__ = ["ProfileResult", "run_profile"]

_ERRORS: dict[str, type[Exception]] = {
    "ConfigError": ConfigError,
    "DependencyNotInstalled": DependencyNotInstalled,
    "ProfileError": ProfileError,
}


@dataclass(frozen=True)
class ProfileResult:
    """Everything one profile measured.

    Attributes:
        plan: What was asked for.
        model: The model's facts (family, input shape, published accuracy).
        measurements: One per (cores, batch) point, cores outer, batch inner.
        machine: Where it ran.
        load_time_s: Process start to the end of the first inference [s].
        peak_rss_gb: Peak resident memory of the profiling process [GB].
        started_utc: When the profile started (ISO 8601, UTC).
    """

    plan: ProfilePlan
    model: ModelInfo
    measurements: tuple[Measurement, ...]
    machine: MachineInfo
    load_time_s: float
    peak_rss_gb: float
    started_utc: str

    def fit(self) -> LatencyFit:
        """The latency form fitted to the median of each point."""
        m = self.measurements
        return fit_latency([p.batch for p in m], [p.cores for p in m], [p.median_ms for p in m])


class _Progress:
    """A tqdm bar when tqdm is installed, else one line per step on stderr."""

    def __init__(self, total: int, enabled: bool) -> None:
        self._bar: Any = None
        self._enabled = enabled
        self._done = 0
        self._total = total
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:
                return
            self._bar = tqdm(total=total, desc="profile", unit="step", file=sys.stderr)

    def step(self, text: str) -> None:
        self._done += 1
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=False)
            self._bar.update(1)
        elif self._enabled:
            print(f"profile: {self._done}/{self._total} {text}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _stop(child: Any, finished: bool) -> None:
    # A child that reported its end exits by itself; one interrupted mid-profile is ended.
    if finished:
        child.join(timeout=5.0)
    if child.is_alive():
        child.terminate()
        child.join(timeout=5.0)
    if child.is_alive():
        child.kill()
        child.join()


def run_profile(plan: ProfilePlan, *, progress: bool = False) -> ProfileResult:
    """Measure ``plan`` in a child process pinned to the plan's cores.

    Args:
        plan: The model, core counts, batch sizes and repeats.
        progress: Draw a progress bar (tqdm if installed) on stderr.

    Raises:
        DependencyNotInstalled: When torch (or torchvision, for an architecture name) is
            missing.
        ConfigError: When the model cannot be built from its reference.
        ProfileError: When the model fails to run or the child ends early.
    """
    if importlib.util.find_spec("torch") is None:
        raise DependencyNotInstalled('profiling needs torch: pip install "themis-env[profile]"')
    ctx = multiprocessing.get_context("spawn")
    channel = ctx.Queue()
    started_utc = datetime.now(timezone.utc).isoformat(timespec="seconds")
    started = time.monotonic()
    child = ctx.Process(
        target=child_main, args=(plan, channel, started), name="themis-env-profile", daemon=True
    )
    child.start()
    bar = _Progress(plan.points + 1, progress)
    model: ModelInfo | None = None
    load_time_s = 0.0
    points: list[Measurement] = []
    finished = False
    try:
        while True:
            try:
                message = channel.get(timeout=0.5)
            except queue_module.Empty:
                if child.is_alive():
                    continue
                try:  # the child's last message may still be in the pipe
                    message = channel.get(timeout=1.0)
                except queue_module.Empty:
                    raise ProfileError(
                        f"the profiling process ended (exit code {child.exitcode}) after "
                        f"{len(points)} of {plan.points} points of model {plan.model!r}"
                    ) from None
            kind = message[0]
            finished = kind in ("done", "error")
            if kind == "error":
                raise _ERRORS.get(message[1], ProfileError)(message[2])
            if kind == "loaded":
                model, load_time_s = message[1], float(message[2])
                bar.step(f"loaded in {load_time_s:.2f} s")
            elif kind == "point":
                point: Measurement = message[1]
                points.append(point)
                bar.step(f"cores {point.cores}, batch {point.batch}: {point.median_ms:.3f} ms")
            elif kind == "done":
                assert model is not None, "the child reports the model before finishing"
                return ProfileResult(
                    plan=plan,
                    model=model,
                    measurements=tuple(points),
                    machine=message[1],
                    load_time_s=load_time_s,
                    peak_rss_gb=float(message[2]),
                    started_utc=started_utc,
                )
    finally:
        bar.close()
        _stop(child, finished)
        channel.close()
