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

It then times the decisions of IPA (arXiv 2308.12871) and InfAdapter (arXiv 2304.10892) at the
sizes of their presets, beside the same programs solved by HiGHS (``scipy.optimize.milp``), and
checks on every input that both reach the same objective:

* IPA, video: 2 stages × 5 variants × batch 1/2/4/8, replicas up to 100. The variants are the
  shipped YOLOv5n and ResNet18 profiles (``themis-arxiv``) with their latency scaled by
  1, 1.5, 2.2, 3 and 4 (synthetic larger variants), YOLOv5 and ResNet accuracies, base
  allocations and SLA by IPA's rules (up to 8 cores); loads 1..100 req/s, each decision from the
  previous plan.
* InfAdapter, ResNet: 5 variants (the published ResNet accuracies and load times), 20 cores;
  capacity lines drawn (seeded) with slopes of 3 to 25 req/s per core, like the profiled ones;
  loads 27..274 req/s (the InfAdapter trace), each decision from the previous allocation. MSP
  beside it.

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

import numpy as np
from themis_env.baselines.infadapter import InfProblem, InfSolver, InfVariant
from themis_env.baselines.infadapter.milp import solve_milp as inf_milp
from themis_env.baselines.ipa import IpaProblem, IpaSolver, IpaStage, stage_sla_ms
from themis_env.baselines.ipa.milp import solve_milp as ipa_milp
from themis_env.baselines.themis import ARXIV, THEMIS_2025, SolverPreset, ThemisSolver

from themis_env.config import load_pipeline
from themis_env.sim.latency import LatencyModel

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
    result.update(variant_decisions(repeats, 1 if args.quick else 3))
    print(json.dumps({**result, **loops}))


# --------------------------------------------------------------------------- IPA, InfAdapter
IPA_SCALES = (1.0, 1.5, 2.2, 3.0, 4.0)  # latency of the synthetic larger variants
YOLO_ACC = (45.7, 56.8, 64.1, 67.3, 68.9)  # YOLOv5 n/s/m/l/x mAP (IPA's accuracies)
RESNET_ACC = (69.75, 73.31, 76.13, 77.37, 78.31)  # ResNet 18/34/50/101/152 top-1
RESNET_LOAD_S = (6.44, 6.79, 6.82, 7.77, 8.52)  # InfAdapter's model load times


def ipa_video() -> IpaSolver:
    """IPA on the video pipeline: 2 stages × 5 variants × 4 batches, replicas up to 100."""
    pipe = load_pipeline("themis-arxiv/video")
    stages, sla = [], 0.0
    names = ("detect", "classify")
    for model, accs, name in zip(pipe.models, (YOLO_ACC, RESNET_ACC), names, strict=True):
        variants = [
            (
                f"{model.name}-x{k}",
                acc,
                LatencyModel("parametric", *(f * v for v in model.latency.params)),
            )
            for k, (f, acc) in enumerate(zip(IPA_SCALES, accs, strict=True))
        ]
        # IPA's task SLA; the pipeline SLA is their sum.
        stage_sla = stage_sla_ms([m for _, _, m in variants], 8)
        sla += stage_sla
        stages.append(
            IpaStage.from_latency_models(name, variants, max_cores=8, stage_sla=stage_sla)
        )
    return IpaSolver(IpaProblem(tuple(stages), sla))


def infadapter_resnet(seed: int = 0) -> InfSolver:
    """InfAdapter with 5 ResNet-like variants on 20 cores (seeded capacity lines)."""
    rng = np.random.default_rng(seed)
    slopes = np.sort(np.exp(rng.uniform(np.log(3), np.log(25), 5)))[::-1]
    variants = tuple(
        InfVariant(f"resnet-{k}", acc / 100, float(a), float(rng.uniform(-6, 2)), lt)
        for k, (acc, a, lt) in enumerate(zip(RESNET_ACC, slopes, RESNET_LOAD_S, strict=True))
    )
    return InfSolver(InfProblem(variants))


def time_sequence(fn: Callable[[int, object], object], loads: list[int], repeats: int):
    """Per-decision wall times [ms], each decision from the previous one's plan."""
    out = []
    for _ in range(repeats):
        prev = None
        for lam in loads:
            t0 = time.perf_counter()
            prev = fn(lam, prev)
            out.append((time.perf_counter() - t0) * 1e3)
    return out


def variant_decisions(repeats: int, milp_repeats: int) -> dict[str, float]:
    """Time IPA and InfAdapter decisions beside HiGHS; check equal objectives."""
    t0 = time.perf_counter()
    ipa = ipa_video()
    ipa_build = (time.perf_counter() - t0) * 1e3
    t0 = time.perf_counter()
    inf = infadapter_resnet()
    inf_build = (time.perf_counter() - t0) * 1e3
    ipa_loads = list(range(1, 101))
    inf_loads = list(range(27, 275))

    def ipa_step(lam, prev):
        current = (
            None
            if prev is None or not prev.feasible
            else [(s.variant_index, s.batch, s.replicas) for s in prev.stages]
        )
        return ipa.solve(lam, current=current)

    def inf_step(lam, prev):
        return inf.solve(lam, None if prev is None else prev.cores)

    def msp_step(lam, prev):
        return inf.msp(lam, None if prev is None else prev.cores)

    # Same objective as HiGHS on every input of the sequences.
    prev = None
    for lam in ipa_loads:
        plan = ipa_step(lam, prev)
        ref = ipa_milp(ipa, lam)
        assert plan.feasible == (ref is not None), lam
        if ref is not None:
            assert math.isclose(plan.objective, ref[0], abs_tol=1e-6), (lam, plan, ref)
        prev = plan
    for step, single in ((inf_step, False), (msp_step, True)):
        prev = None
        for lam in inf_loads:
            plan = step(lam, prev)
            ref = inf_milp(inf, lam, None if prev is None else prev.cores, single=single)
            assert plan.feasible == (ref is not None), lam
            if ref is not None:
                assert math.isclose(plan.objective, ref[0], abs_tol=1e-6), (lam, plan, ref)
            prev = plan
    rows = {
        "ipa_video": (ipa_step, ipa_loads, lambda lam, p: ipa_milp(ipa, lam), ipa_build),
        "infadapter_resnet": (
            inf_step,
            inf_loads,
            lambda lam, p: inf_milp(inf, lam),
            inf_build,
        ),
        "msp_resnet": (
            msp_step,
            inf_loads,
            lambda lam, p: inf_milp(inf, lam, single=True),
            inf_build,
        ),
    }
    print(
        f"{'decision':>17} {'inputs':>6} {'build ms':>8} {'median ms':>9} {'p90 ms':>7} "
        f"{'HiGHS ms':>8} {'speed-up':>8}"
    )
    out: dict[str, float] = {}
    for name, (step, loads, milp_step, build) in rows.items():
        times = time_sequence(step, loads, repeats)
        milp_times = time_sequence(milp_step, loads[::4], milp_repeats)
        median = statistics.median(times)
        p90 = statistics.quantiles(times, n=10)[-1]
        milp_median = statistics.median(milp_times)
        print(
            f"{name:>17} {len(loads):>6} {build:>8.1f} {median:>9.3f} {p90:>7.3f} "
            f"{milp_median:>8.2f} {milp_median / median:>7.0f}x"
        )
        out[f"{name}_decision_ms"] = round(median, 4)
        out[f"{name}_highs_ms"] = round(milp_median, 3)
    print("objectives equal to HiGHS on every input: yes")
    return out


if __name__ == "__main__":
    main()
