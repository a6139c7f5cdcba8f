"""Simulator speed and memory: themis-env's kernel beside a plain per-request heap simulator.

Measures, on the Themis video pipeline (arxiv preset: detector → classifier):

* simulated requests per wall-clock second and microseconds per simulated second at the
  paper's load (about 60 req/s, the top of its 7–62 req/s range) and at 10× that load, driving
  the simulator through ``apply`` + ``advance`` (rich reports) and, at the paper's load, also
  through ``run_interval`` (the fused per-step call an env uses);
* the same figures for ``HeapSim``, a straightforward event-driven simulator written here
  (one Python heap of events, one object per request) serving the same model;
* the peak memory (max RSS of the process) after simulating one full day (86,400 s) with the
  shape of the Twitter trace (real file when present, else the calibrated diurnal generator).

The kernel is compiled by numba on first use and cached on disk next to the module
(``__pycache__``), so only the first run in a fresh checkout pays the compile (~15 s); the
compile is excluded from the timings and reported separately.

Run: ``python benchmarks/bench_sim.py [--quick]``. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import heapq
import json
import math
import resource
import statistics
import sys
import time
from collections import deque

import numpy as np

from themis_env.config import load_pipeline
from themis_env.config.loader import Pipeline
from themis_env.config.schema import ClusterConfig
from themis_env.resources import shared_traces_dir
from themis_env.sim.simulator import Simulator, StageDecision

PAPER_RPS = 60.0


def video_pipeline(max_replicas: int = 64) -> Pipeline:
    """The video pipeline with room for the 10× configuration."""
    pipe = load_pipeline("themis-arxiv/video")
    stages = tuple(dataclasses.replace(s, max_replicas=max_replicas) for s in pipe.config.stages)
    return Pipeline(config=dataclasses.replace(pipe.config, stages=stages), models=pipe.models)


def provision(pipe: Pipeline, rps: float, cores: int = 4, batch: int = 4) -> list[StageDecision]:
    """Replicas per stage to serve ``rps`` at 70 % utilisation with (cores, batch)."""
    decision = []
    for model in pipe.models:
        per_replica = model.latency.throughput_rps(batch, cores)
        decision.append(StageDecision(max(1, math.ceil(rps / (0.7 * per_replica))), cores, batch))
    return decision


def themis_sim_run(
    pipe: Pipeline, rates: np.ndarray, decision: list[StageDecision], fused: bool = False
) -> tuple[float, int]:
    """Wall time [s] of simulating ``rates`` second by second, and the requests simulated.

    ``fused``: one ``run_interval`` per second instead of ``apply`` + ``advance``.
    """
    cluster = ClusterConfig(nodes=64, cores_per_node=32, service_noise_cv=0.05)
    sim = Simulator(pipe, cluster)
    sim.reset(np.random.default_rng(0), rates, decision)
    values = np.array(decision, dtype=np.int64).ravel()
    t0 = time.perf_counter()
    if fused:
        for _ in range(len(rates)):
            sim.run_interval(values, 1.0)
    else:
        for _ in range(len(rates)):
            sim.apply(decision)
            sim.advance(1.0)
    wall = time.perf_counter() - t0
    return wall, sim.episode_kpis()["requests"]


class HeapSim:
    """A plain discrete-event simulator: one heap of events, one Python object per request.

    Same serving model as the kernel (FIFO per stage, full batches, the first free replica
    serves, stages chained, lognormal service noise), no cluster actuation. It is what one
    writes first, and the yardstick for the kernel.
    """

    def __init__(self, pipe: Pipeline, decision: list[StageDecision], slo_s: float, cv: float):
        self.service = [
            m.latency.service_ms(d.batch, d.cores) * 1e-3
            for m, d in zip(pipe.models, decision, strict=True)
        ]
        self.batch = [d.batch for d in decision]
        self.free = [d.replicas for d in decision]
        self.queues: list[deque] = [deque() for _ in decision]
        self.sigma = math.sqrt(math.log1p(cv * cv))
        self.slo_s = slo_s
        self.completed = 0
        self.late = 0

    def run(self, rates: np.ndarray, rng: np.random.Generator) -> int:
        """Serve Poisson arrivals at ``rates`` until every request is done; return the count."""
        events: list[tuple[float, int, int, object]] = []
        seq = 0
        counts = rng.poisson(rates)
        for sec, n in enumerate(counts):
            for t in np.sort(rng.random(n)) + sec:
                events.append((float(t), seq, -1, {"origin": float(t)}))
                seq += 1
        heapq.heapify(events)
        while events:
            t, _, stage, payload = heapq.heappop(events)
            if stage == -1:  # arrival at stage 0
                self.queues[0].append(payload)
                stage_to_dispatch = 0
            else:  # batch done at ``stage``
                self.free[stage] += 1
                nxt = stage + 1
                for req in payload:
                    if nxt == len(self.queues):
                        self.completed += 1
                        self.late += (t - req["origin"]) > self.slo_s
                    else:
                        self.queues[nxt].append(req)
                for s in (stage, nxt):
                    if s < len(self.queues):
                        seq = self._dispatch(s, t, events, rng, seq)
                continue
            seq = self._dispatch(stage_to_dispatch, t, events, rng, seq)
        return int(counts.sum())

    def _dispatch(self, s: int, t: float, events: list, rng: np.random.Generator, seq: int) -> int:
        q, b = self.queues[s], self.batch[s]
        while self.free[s] > 0 and len(q) >= b:
            batch = [q.popleft() for _ in range(b)]
            self.free[s] -= 1
            noise = rng.lognormal(-0.5 * self.sigma**2, self.sigma) if self.sigma else 1.0
            heapq.heappush(events, (t + self.service[s] * noise, seq, s, batch))
            seq += 1
        return seq


def current_rss_mb() -> float:
    """Resident memory of this process now [MB] (Linux /proc; NaN elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
    except OSError:
        return math.nan
    return pages * resource.getpagesize() / 2**20


def day_rates() -> tuple[np.ndarray, str]:
    """86,400 s with the Twitter trace's shape at the Themis video scale."""
    from themis_env import traces

    shared = shared_traces_dir()
    try:
        trace = traces.load("twitter-2021-08", trace_dir=str(shared) if shared else None)
        day = trace.window(0, 86_400).scale_divisor(4.384)
        return np.asarray(day.rps, dtype=np.float64), "twitter-2021-08 day 0 / 4.384"
    except Exception as exc:  # noqa: BLE001 - any failure falls back to the generator, and says so
        print(f"(real trace unavailable: {exc}; using the diurnal generator)", file=sys.stderr)
        trace = traces.load("synthetic:diurnal?seed=0&mean=40&duration=86400")
        return np.asarray(trace.rps, dtype=np.float64), "synthetic:diurnal mean 40"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (CI smoke)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    seconds = 60 if args.quick else 600
    pipe = video_pipeline()
    results: dict[str, object] = {"benchmark": "sim"}

    t0 = time.perf_counter()
    themis_sim_run(pipe, np.full(2, PAPER_RPS), provision(pipe, PAPER_RPS))
    results["first_call_s_incl_compile_or_cache_load"] = round(time.perf_counter() - t0, 2)

    for label, rps in (("60rps", PAPER_RPS), ("600rps", 10 * PAPER_RPS)):
        rates = np.full(seconds, rps)
        decision = provision(pipe, rps)
        walls, reqs = [], 0
        for _ in range(args.repeats):
            wall, reqs = themis_sim_run(pipe, rates, decision)
            walls.append(wall)
        wall = statistics.median(walls)
        if label == "60rps":
            fused = [themis_sim_run(pipe, rates, decision, fused=True)[0] for _ in walls]
            results["us_per_sim_second_video_60rps_run_interval"] = round(
                statistics.median(fused) / seconds * 1e6, 2
            )
        ref_rates = rates[: max(10, seconds // 10)]
        t0 = time.perf_counter()
        ref_reqs = HeapSim(pipe, decision, pipe.config.slo_ms * 1e-3, 0.05).run(
            ref_rates, np.random.default_rng(0)
        )
        ref_wall = time.perf_counter() - t0
        results[f"sim_requests_per_s_{label}"] = round(reqs / wall)
        results[f"us_per_sim_second_video_{label}"] = round(wall / seconds * 1e6, 2)
        results[f"reference_requests_per_s_{label}"] = round(ref_reqs / ref_wall)
        results[f"reference_us_per_sim_second_video_{label}"] = round(
            ref_wall / len(ref_rates) * 1e6, 1
        )
        config = " / ".join(f"{d.replicas}x{d.cores}c b{d.batch}" for d in decision)
        print(
            f"video @ {rps:5.0f} req/s  ({config})\n"
            f"  themis-env kernel : {reqs / wall:12,.0f} req/s  "
            f"{wall / seconds * 1e6:8.1f} µs per sim-second (apply + advance)\n"
            f"  heap reference    : {ref_reqs / ref_wall:12,.0f} req/s  "
            f"{ref_wall / len(ref_rates) * 1e6:8.1f} µs per sim-second"
        )
        if label == "60rps":
            fused_us = results["us_per_sim_second_video_60rps_run_interval"]
            print(f"  themis-env run_interval (fused call): {fused_us:8.1f} µs per sim-second")
    results["sim_requests_per_s"] = results["sim_requests_per_s_600rps"]
    results["reference_requests_per_s"] = results["reference_requests_per_s_600rps"]
    results["us_per_sim_second_video_60rps"] = results["us_per_sim_second_video_60rps"]

    if not args.quick:
        rates, source = day_rates()
        peak = float(rates.max())
        decision = provision(pipe, peak)
        before_mb = current_rss_mb()
        wall, reqs = themis_sim_run(pipe, rates, decision)
        after_mb = current_rss_mb()
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        results["day_trace"] = source
        results["day_requests"] = reqs
        results["day_wall_s"] = round(wall, 2)
        results["rss_mb_before_day"] = round(before_mb, 1)
        results["rss_mb_after_day"] = round(after_mb, 1)
        results["peak_rss_mb_after_day"] = round(rss_mb, 1)
        print(
            f"one day ({source}, {reqs:,} requests): {wall:.1f} s wall; RSS {before_mb:.0f} MB "
            f"before, {after_mb:.0f} MB after; process peak {rss_mb:.0f} MB (includes parsing "
            "the trace file)"
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
