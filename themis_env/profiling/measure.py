"""Time a model's batch latency over batch sizes and core counts (the profiling child).

The child pins itself to the first c usable CPUs (``os.sched_setaffinity``) and runs torch with
c threads (``torch.set_num_threads``), so a point measures what a replica given c cores gets.
Pinning changes the whole process, hence a child: the caller stays unpinned. The child reports
through a queue, one message per finished point, so the caller can draw progress and keeps every
point measured before an interruption.
"""

from __future__ import annotations

import os
import platform
import resource
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from themis_env.errors import ConfigError, DependencyNotInstalled
from themis_env.profiling.models import build_model

__all__ = ["MachineInfo", "Measurement", "ProfilePlan", "child_main", "cpu_model", "usable_cpus"]


@dataclass(frozen=True)
class ProfilePlan:
    """What to measure.

    Attributes:
        model: A torchvision architecture name or ``module:callable``.
        cores: Core counts to measure, each ≤ the CPUs this process may use.
        batches: Batch sizes to measure.
        repeats: Timed runs per point; the median and p99 are taken over them.
        warmup: Untimed runs per point before the timed ones (allocator, caches, threads).
        input_shape: Shape of one request's input; None takes the model family's default.
        seed: Seed of torch's generator (random weights and inputs).
        clock: ``wall`` (elapsed time, the latency a request sees) or ``cpu`` (the process's
            CPU time, one core only: on a machine shared with other work a single thread's
            CPU time is the latency it would have on a core of its own, while its wall time
            grows with the other tenants' load).
    """

    model: str
    cores: tuple[int, ...] = (1, 2)
    batches: tuple[int, ...] = (1, 2, 4, 8)
    repeats: int = 10
    warmup: int = 3
    input_shape: tuple[int, ...] | None = None
    seed: int = 0
    clock: Literal["wall", "cpu"] = "wall"

    def __post_init__(self) -> None:
        if self.clock not in ("wall", "cpu"):
            raise ConfigError(f"'clock' = {self.clock!r} is not allowed; choose 'wall' or 'cpu'")
        if self.clock == "cpu" and tuple(self.cores) != (1,):
            raise ConfigError(
                f"'clock' = 'cpu' times one thread, so 'cores' must be (1,), got {self.cores!r}: "
                "the CPU time of c threads is not the latency of a c-core replica"
            )
        for key in ("cores", "batches"):
            values = getattr(self, key)
            if not values or any(int(v) != v or v < 1 for v in values):
                raise ConfigError(f"{key!r} must list whole numbers >= 1, got {values!r}")
            if len(set(values)) != len(values):
                raise ConfigError(f"{key!r} lists a value twice: {values!r}")
        if self.repeats < 1:
            raise ConfigError(f"'repeats' must be >= 1, got {self.repeats}")
        if self.warmup < 0:
            raise ConfigError(f"'warmup' must be >= 0, got {self.warmup}")
        if self.input_shape is not None and (
            not self.input_shape or any(d < 1 for d in self.input_shape)
        ):
            raise ConfigError(f"'input_shape' must list sizes >= 1, got {self.input_shape!r}")
        usable = len(usable_cpus())
        if max(self.cores) > usable:
            raise ConfigError(
                f"'cores' = {max(self.cores)} is more than the {usable} CPUs this process may "
                f"use; allowed: 1..{usable}"
            )

    @property
    def points(self) -> int:
        """Number of (cores, batch) points."""
        return len(self.cores) * len(self.batches)


@dataclass(frozen=True)
class Measurement:
    """The timed runs of one batch size on one core count.

    Attributes:
        cores: Cores the process was pinned to (and torch threads).
        batch: Batch size.
        samples_ms: Latency of each timed run [ms], in run order.
    """

    cores: int
    batch: int
    samples_ms: tuple[float, ...]

    @property
    def median_ms(self) -> float:
        """Median latency [ms]."""
        return float(np.median(self.samples_ms))

    @property
    def p99_ms(self) -> float:
        """99th percentile latency [ms] (linear interpolation between runs)."""
        return float(np.percentile(self.samples_ms, 99))


@dataclass(frozen=True)
class MachineInfo:
    """The machine a profile ran on.

    Attributes:
        cpu_model: The CPU's model name.
        logical_cpus: Logical CPUs of the machine.
        usable_cpus: CPUs the profiling process was allowed to use.
        torch_version: torch's version.
        python_version: Python's version.
        platform: Operating system and architecture.
        load_average: The machine's 1-minute load average when the profile ended (processes
            running or waiting for a CPU); above ``usable_cpus`` the timings shared the CPUs.
    """

    cpu_model: str
    logical_cpus: int
    usable_cpus: int
    torch_version: str
    python_version: str
    platform: str
    load_average: float = float("nan")


def usable_cpus() -> list[int]:
    """The CPUs this process may run on, in order."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _pin(cpus: list[int], cores: int) -> None:
    import torch

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cpus[:cores])
    torch.set_num_threads(cores)


def _time_point(model: Any, make_input: Any, batch: int, plan: ProfilePlan) -> tuple[float, ...]:
    import torch

    x = make_input(batch)
    clock = time.process_time_ns if plan.clock == "cpu" else time.perf_counter_ns
    samples = []
    with torch.inference_mode():
        for i in range(plan.warmup + plan.repeats):
            t0 = clock()
            model(x)
            elapsed_ms = (clock() - t0) / 1e6
            if i >= plan.warmup:
                samples.append(elapsed_ms)
    return tuple(samples)


def child_main(plan: ProfilePlan, queue: Any, started: float) -> None:
    """Profile ``plan`` and report each step on ``queue`` (the child process's target).

    Messages: ``("loaded", ModelInfo, load_time_s)``, then ``("point", Measurement)`` per
    point, then ``("done", MachineInfo, peak_rss_gb)``; or ``("error", kind, message)``.

    Args:
        plan: What to measure.
        queue: A multiprocessing queue to the parent.
        started: ``time.monotonic()`` in the parent just before it started this process
            (the system-wide monotonic clock on Linux), the start of the model load time.
    """
    try:
        import torch
    except ImportError as exc:
        queue.put(("error", "DependencyNotInstalled", f"profiling needs torch: {exc}"))
        return
    try:
        torch.manual_seed(plan.seed)
        cpus = usable_cpus()
        # Load on the most cores the plan uses, as a replica of that size would.
        _pin(cpus, max(plan.cores))
        built = build_model(plan.model, plan.input_shape)
        with torch.inference_mode():
            built.module(built.make_input(1))
        queue.put(("loaded", built.info, time.monotonic() - started))
        for cores in plan.cores:
            _pin(cpus, cores)
            for batch in plan.batches:
                samples = _time_point(built.module, built.make_input, batch, plan)
                queue.put(("point", Measurement(cores, batch, samples)))
        machine = MachineInfo(
            cpu_model=cpu_model(),
            logical_cpus=os.cpu_count() or len(cpus),
            usable_cpus=len(cpus),
            torch_version=str(torch.__version__),
            python_version=platform.python_version(),
            platform=platform.platform(),
            load_average=os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan"),
        )
        # ru_maxrss is in KiB on Linux.
        peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
        queue.put(("done", machine, peak_gb))
    except (ConfigError, DependencyNotInstalled) as exc:
        queue.put(("error", type(exc).__name__, str(exc)))
    except Exception as exc:  # the user's model may raise anything; report it, do not hang
        text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        queue.put(("error", "ProfileError", f"{text} (model {plan.model!r})"))
        traceback.print_exc(file=sys.stderr)
