"""Themis DP decision time: themis-env's solvers beside a straightforward loop implementation.

One Themis decision solves the horizontal DP for the current load and for the forecast, and the
vertical DP at the current replicas, with its fallback (binary search on the load the replicas
carry, then extra replicas) when they cannot carry the load (``adapter/optimizer.py`` and
``adapter/main.py`` of ``mehransi/Themis``; the arXiv rule always solves all three). This
benchmark times that full decision on the video and nlp pipelines in both presets
(``themis-arxiv``, ``themis-2025``) over every integer load of the paper's range for the
pipeline, from two states:

* ``1 replica``: one replica per stage, so the vertical fallback runs for most loads;
* ``planned``: the replicas of the horizontal plan for the load (no fallback).

The headline figure (JSON) is the median over both states; the fallback share is printed.
Beside it, ``loop``: the authors' algorithm written plainly in Python here (a dense DP over
the integer latency budget, loops over cores and batch, a binary search of full DPs for the
fallback), timed on the same inputs and checked to give the same plans.

The solvers' kernels are compiled by numba on first use and cached on disk; the one-off
compile (or cache load) is excluded from the timings and reported separately.

Run: ``python benchmarks/bench_dp.py [--quick]``. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from collections.abc import Callable
from functools import partial

from themis_env.baselines.themis import ARXIV, THEMIS_2025, SolverPreset, ThemisSolver

from themis_env.config import load_pipeline

# Loads of the Themis slice scaled by the presets' divisors (mehransi/Themis starter.py), req/s.
RANGES = {
    ("video", "arxiv"): (7, 62),
    ("video", "2025"): (21, 183),
    ("nlp", "arxiv"): (2, 13),
    ("nlp", "2025"): (9, 79),
}
PRESETS = {"arxiv": ARXIV, "2025": THEMIS_2025}
FORECAST_GROWTH = 1.2  # the forecast fed to the second horizontal DP


# --------------------------------------------------------------------------- loop reference
class LoopThemis:
    """The authors' solvers, loop for loop, for one pipeline (no NumPy, no compilation)."""

    def __init__(
        self, tables: list[list[list[int]]], mems: list[float], slo: int, preset: SolverPreset
    ):
        self.tables = tables  # tables[s][b - 1][c - 1], integer planning latency [ms]
        self.mems = mems
        self.slo = slo
        self.p = preset

    def wait(self, b: int, lam: int) -> int:
        """Batch-formation wait q(b, λ) [ms]."""
        if self.p.queueing == "mean":
            return int((b - 1) * 1000 / lam)
        if self.p.queueing == "p99-exponential":
            return math.ceil((b - 1) * -math.log(0.01) * 1000 / lam)
        return 0

    def capacity(self, lam: int) -> int:
        """The load the replicas must carry, λ̂."""
        k = self.p.headroom_std
        return round(lam + k * math.sqrt(lam)) if k > 0 else lam

    def dp(self, lam: int, reps: list[int] | None) -> list[tuple[int, int, int]] | None:
        """Horizontal DP (``reps`` None) or vertical DP at ``reps``: (n, c, b) per stage."""
        S, slo, cap = len(self.tables), self.slo, self.capacity(lam)
        reach = [[False] * (slo + 1) for _ in range(S)]
        best: list[list[tuple[float, int, int, int, int] | None]] = [
            [None] * (slo + 1) for _ in range(S)
        ]
        reach[0][0] = True
        best[0][0] = (0.0, 0, 0, 0, 0)
        for s in range(S):
            table = self.tables[s]
            max_c = (
                len(table[0])
                if reps is not None
                else min(len(table[0]), self.p.horizontal_max_cores)
            )
            for i in range(slo, -1, -1):
                if s == 0 and not reach[0][i]:
                    continue
                if s > 0 and not (reach[s - 1][i] and i > 0):
                    continue
                prev = 0.0 if s == 0 else best[s - 1][i][0]
                for c in range(1, max_c + 1):
                    for b in range(1, len(table) + 1):
                        lat = table[b - 1][c - 1]
                        total = lat + self.wait(b, lam)
                        if i + total > slo:
                            continue
                        h = int(1000 * b / (total if self.p.throughput_includes_queueing else lat))
                        if reps is None:
                            if h <= 0:
                                continue
                            n = math.ceil(cap / h)
                            unit = self.mems[s] + self.p.core_memory_gb * c
                            cost = n * (unit if self.p.cost == "memory-equivalent" else c)
                        else:
                            if h * reps[s] < cap:
                                continue
                            n, cost = reps[s], c
                            limit = self.p.vertical_core_cap
                            if s > 0 and limit is not None and prev + cost > limit:
                                continue
                        j = i + total
                        if not reach[s][j] or prev + cost < best[s][j][0]:
                            reach[s][j] = True
                            best[s][j] = (prev + cost, n, c, b, total)
        ind = -1
        for i in range(1, slo):
            if reach[S - 1][i] and (ind == -1 or best[S - 1][i][0] < best[S - 1][ind][0]):
                ind = i
        if ind == -1:
            return None
        plan = []
        for s in range(S - 1, -1, -1):
            _, n, c, b, total = best[s][ind]
            plan.append((n, c, b))
            ind -= total
        return plan[::-1]

    def vertical_with_fallback(
        self, lam: int, reps: list[int]
    ) -> tuple[list[tuple[int, int, int]], list[int]] | None:
        """Vertical DP; else binary search on the load plus extra replicas (or None)."""
        plan = self.dp(lam, reps)
        if plan is not None:
            return plan, [0] * len(reps)
        left, right = 1, lam
        while right - left > 1:
            mid = (left + right) // 2
            if self.dp(mid, reps) is None:
                right = mid
            else:
                left = mid
        base = self.dp(left, reps)
        if base is None:
            return None
        rest = lam - left
        extra = []
        for s, (_, c, b) in enumerate(base):
            lat = self.tables[s][b - 1][c - 1]
            if self.p.throughput_includes_queueing and self.p.queueing == "mean":
                lat += int((b - 1) * 1000 / rest)
            extra.append(math.ceil(rest / max(1, int(1000 * b / lat))))
        return [(n + e, c, b) for (n, c, b), e in zip(base, extra, strict=True)], extra


# --------------------------------------------------------------------------- timing
def build(pipeline: str, preset_key: str) -> tuple[ThemisSolver, LoopThemis]:
    pipe = load_pipeline(f"themis-{preset_key}/{pipeline}")
    preset = PRESETS[preset_key]
    solver = ThemisSolver(
        [m.latency for m in pipe.models],
        pipe.config.slo_ms,
        preset,
        max_batch=[s.max_batch for s in pipe.config.stages],
        max_cores=[s.max_cores for s in pipe.config.stages],
        memory_gb=[m.memory_gb for m in pipe.models],
    )
    tables = [p.latency_ms.tolist() for p in solver.stages]
    loop = LoopThemis(tables, [p.memory_gb for p in solver.stages], int(pipe.config.slo_ms), preset)
    return solver, loop


def inputs(solver: ThemisSolver, pipeline: str, preset_key: str) -> list[tuple[int, list[int]]]:
    lo, hi = RANGES[(pipeline, preset_key)]
    cases = []
    for lam in range(lo, hi + 1):
        cases.append((lam, [1] * solver.n_stages))
        cases.append((lam, [s.replicas for s in solver.horizontal(lam).stages]))
    return cases


def decision(solver: ThemisSolver, lam: int, reps: list[int]) -> object:
    """One full Themis decision's solver work (both solvers, fallback included)."""
    solver.horizontal(lam)
    solver.horizontal(lam * FORECAST_GROWTH)
    return solver.vertical_with_fallback(lam, reps)


def loop_decision(loop: LoopThemis, lam: int, reps: list[int]) -> object:
    loop.dp(lam, None)
    loop.dp(math.ceil(lam * FORECAST_GROWTH - 1e-9), None)
    return loop.vertical_with_fallback(lam, reps)


def time_calls(
    fn: Callable[[int, list[int]], object], cases: list[tuple[int, list[int]]], repeats: int
) -> list[float]:
    """Per-call wall times [ms]: each case ``repeats`` times, interleaved."""
    out = []
    for _ in range(repeats):
        for lam, reps in cases:
            t0 = time.perf_counter()
            fn(lam, reps)
            out.append((time.perf_counter() - t0) * 1e3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = ap.parse_args()
    repeats = 5 if args.quick else 30
    loop_repeats = 1 if args.quick else 3
    t0 = time.perf_counter()
    solvers = {key: build(*key) for key in RANGES}
    for solver, _ in solvers.values():  # compile or load the cached kernels
        decision(solver, 50, [1] * solver.n_stages)
    print(f"kernel compile/cache load: {time.perf_counter() - t0:.2f} s (excluded)")
    print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    result: dict[str, object] = {"benchmark": "dp"}
    loops: dict[str, float] = {}
    print(
        f"{'pipeline':>9} {'preset':>6} {'decisions':>9} {'fallback':>8} {'median ms':>9} "
        f"{'p90 ms':>7} {'1-replica':>9} {'planned':>8} {'loop ms':>8} {'speed-up':>8}"
    )
    for (pipeline, preset_key), (solver, loop) in solvers.items():
        cases = inputs(solver, pipeline, preset_key)
        fallback = sum(
            1
            for lam, reps in cases
            if solver.vertical_with_fallback(lam, reps).fallback_load is not None
        )
        # Same plans as the loop implementation on every input.
        for lam, reps in cases:
            fast = solver.vertical_with_fallback(lam, reps)
            slow = loop.vertical_with_fallback(lam, reps)
            assert (slow is None) == (not fast.feasible), (pipeline, preset_key, lam, reps)
            if slow is not None:
                assert fast.targets() == slow[0], (pipeline, preset_key, lam, reps, fast, slow)
            h = solver.horizontal(lam)
            assert h.targets() == loop.dp(lam, None), (pipeline, preset_key, lam)

        times = time_calls(partial(decision, solver), cases, repeats)
        ones = [t for k, t in enumerate(times) if k % 2 == 0]
        planned = [t for k, t in enumerate(times) if k % 2 == 1]
        median = statistics.median(times)
        p90 = statistics.quantiles(times, n=10)[-1]
        loop_times = time_calls(partial(loop_decision, loop), cases, loop_repeats)
        loop_median = statistics.median(loop_times)
        print(
            f"{pipeline:>9} {preset_key:>6} {len(cases):>9} {fallback / len(cases):>8.0%} "
            f"{median:>9.3f} {p90:>7.3f} {statistics.median(ones):>9.3f} "
            f"{statistics.median(planned):>8.3f} {loop_median:>8.2f} {loop_median / median:>7.0f}x"
        )
        result[f"themis_decision_ms_{pipeline}_{preset_key}"] = round(median, 4)
        loops[f"reference_loop_ms_{pipeline}_{preset_key}"] = round(loop_median, 3)
    print("plans identical to the loop implementation on every input: yes")
    print(json.dumps({**result, **loops}))


if __name__ == "__main__":
    main()
