"""The sim-to-real check: one trace window and decision sequence, served for real and simulated.

:func:`run_check` profiles a model (:func:`themis_env.profiling.run_profile`), writes its model
YAML, a one-stage pipeline and a scenario on it, then for each case (a fixed configuration; a
schedule with a scale-out, a scale-in and an in-place resize) serves the trace window on the
real backend (:class:`~themis_env.realserve.backend.RealBackend`) and steps the Gymnasium env
through the same decisions on the fitted profile, over several seeds. It compares the
request-level figures (mean and p99 end-to-end latency, throughput, Themis SLO violation
rate) and the batch service times against the fit, which separates a latency-model gap
(contention, fit error) from a queueing or batching one.

The simulator is given the backend's measured resize delay (a property of the actuation, which
the profile cannot know) and the profile's model load time as its cold start (what a scenario
built from a profile would use); the measured cold start is reported beside it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from themis_env.config import load_model
from themis_env.config.schema import TraceSpec
from themis_env.profiling import ProfilePlan, run_profile, write_profile
from themis_env.profiling.fit import LatencyFit
from themis_env.realserve.backend import RealBackend, RealRun
from themis_env.realserve.loadgen import poisson_arrivals
from themis_env.sim.simulator import StageDecision
from themis_env.workload import episode_rates

__all__ = ["Case", "CaseResult", "CheckPlan", "CheckResult", "default_cases", "run_check"]

Schedule = tuple[tuple[float, StageDecision], ...]


@dataclass(frozen=True)
class Case:
    """One decision sequence to serve.

    Attributes:
        name: Short label (``fixed``, ``schedule``).
        schedule: (time [s], (replicas, cores, batch)) pairs, the first at 0.
    """

    name: str
    schedule: Schedule


def default_cases(duration_s: int, batch: int, cpus: int) -> tuple[Case, ...]:
    """A fixed configuration, and a schedule with a scale-out, a scale-in and a resize.

    Schedule on ``cpus`` CPUs (2 here): one replica of one core; at 1/6 of the window a second
    replica (a process start and model load, given a third of the window to load and serve);
    at 1/2 back to one; a second later that replica is resized in place to ``cpus`` cores
    (after the removed replica's CPU is free, so the resize never meets a full node on either
    side).
    """
    one = StageDecision(1, 1, batch)
    sixth, half = duration_s // 6, duration_s // 2
    schedule: list[tuple[float, StageDecision]] = [(0.0, one)]
    if cpus >= 2:
        schedule.append((float(sixth), StageDecision(2, 1, batch)))
        schedule.append((float(half), one))
    schedule.append((float(half + 1), StageDecision(1, cpus, batch)))
    return (Case("fixed", ((0.0, one),)), Case("schedule", tuple(schedule)))


@dataclass(frozen=True)
class CheckPlan:
    """What the check profiles, serves and simulates.

    Attributes:
        model: ``module:callable`` of the model.
        input_shape: One request's input shape.
        cpus: CPUs of the "node" (replicas are pinned inside it); profiled at 1..cpus cores.
        batches: Batch sizes profiled.
        repeats: Timed runs per profile point.
        batch: The batch size served.
        batch_timeout_ms: The dispatcher's batch timeout [ms].
        slo_ms: The SLO of the violation rates [ms].
        duration_s: The trace window's length [s].
        utilisation: The trace's mean rate is this fraction of what one replica of one core
            serves at ``batch`` by the fitted profile (None: use ``mean_rps``).
        mean_rps: The trace's mean rate [req/s] when ``utilisation`` is None.
        trace: The synthetic pattern and its parameters (no ``mean``/``duration``; added).
        seed: Seed of the real run's arrivals; the simulator runs ``sim_seeds`` seeds.
        sim_seeds: Simulated episodes averaged per case.
    """

    model: str
    input_shape: tuple[int, ...]
    cpus: tuple[int, ...] = (0, 1)
    batches: tuple[int, ...] = (1, 2, 4, 8)
    repeats: int = 10
    batch: int = 4
    batch_timeout_ms: float = 20.0
    slo_ms: float = 100.0
    duration_s: int = 60
    utilisation: float | None = 0.35
    mean_rps: float = 20.0
    trace: str = "synthetic:fluctuating?seed=0&amplitude=0.5&sigma=0.2"
    seed: int = 0
    sim_seeds: int = 5


@dataclass
class CaseResult:
    """One case served for real and simulated; figures real, then simulated (mean of seeds)."""

    case: Case
    real: dict[str, float]
    sim: dict[str, float]
    run: RealRun
    service_error: float  # mean of (measured batch service / fitted) − 1 over batches
    sim_measured: dict[str, float]  # the simulator on the service times the run measured

    def errors(self, measured: bool = False) -> dict[str, float]:
        """(sim − real) / real of mean latency, p99 latency and throughput."""
        sim = self.sim_measured if measured else self.sim
        return {
            f"{key}_error": _relative(sim[key], self.real[key])
            for key in ("mean_latency", "p99_latency", "throughput")
        }


@dataclass
class CheckResult:
    """The whole check."""

    plan: CheckPlan
    fit: LatencyFit
    profile_load_time_s: float
    trace_uri: str
    scenario: Path
    cases: list[CaseResult] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The benchmark's JSON: headline errors are the larger in size over the cases."""
        errors = [c.errors() for c in self.cases]
        runs = [c.run for c in self.cases]
        resize = [d for r in runs for d in r.resize_delays_s]
        cold = [d for r in runs for d in r.cold_starts_s]
        out: dict[str, Any] = {
            key: _round(max((e[key] for e in errors), key=abs))
            for key in ("mean_latency_error", "p99_latency_error", "throughput_error")
        }
        out["violation_rate_real"] = _round(
            float(np.mean([c.real["violation"] for c in self.cases]))
        )
        out["violation_rate_sim"] = _round(float(np.mean([c.sim["violation"] for c in self.cases])))
        out["resize_delay_s_measured"] = _round(float(np.mean(resize))) if resize else None
        out["cold_start_s_measured"] = _round(float(np.mean(cold))) if cold else None
        out["cold_start_s_profile"] = _round(self.profile_load_time_s)
        out["fit_error_mean"] = _round(self.fit.mean_relative_error)
        out["load_average"] = _round(max(r.load_average for r in runs))
        out["cases"] = {
            c.case.name: {
                "real": {k: _round(v) for k, v in c.real.items()},
                "sim": {k: _round(v) for k, v in c.sim.items()},
                **{k: _round(v) for k, v in c.errors().items()},
                "sim_measured_service": {k: _round(v) for k, v in c.sim_measured.items()},
                "errors_measured_service": {
                    k: _round(v) for k, v in c.errors(measured=True).items()
                },
                "service_time_error": _round(c.service_error),
                "failed_resizes": c.run.failed_resizes,
            }
            for c in self.cases
        }
        out["trace"] = self.trace_uri
        return out


def _relative(sim: float, real: float) -> float:
    return (sim - real) / real if real else math.nan


def _round(value: float) -> float:
    return float(f"{value:.4g}") if math.isfinite(value) else value


def real_figures(run: RealRun, slo_s: float) -> dict[str, float]:
    """Mean and p99 latency [ms], throughput [req/s] and Themis violation rate of a run."""
    lat = run.latencies_s
    seconds = int(math.ceil(run.duration_s))
    arrived = np.bincount(np.floor(run.arrivals_s).astype(int), minlength=seconds)[:seconds]
    done = np.isfinite(run.ends_s)
    ends = run.ends_s[done]
    which = np.floor(ends).astype(int)
    completed = np.bincount(which, minlength=seconds)[:seconds]
    late = np.bincount(which[lat > slo_s], minlength=seconds)[:seconds]
    # Themis: per second min(1, late/completed + dropped/arrived) (nothing is dropped here),
    # averaged over the seconds with traffic.
    per_second = np.where(completed > 0, late / np.maximum(completed, 1), 0.0)
    traffic = arrived > 0
    return {
        "mean_latency": float(np.mean(lat) * 1e3) if len(lat) else math.nan,
        "p99_latency": float(np.percentile(lat, 99) * 1e3) if len(lat) else math.nan,
        "throughput": float(len(lat) / run.duration_s),
        "violation": float(np.mean(np.minimum(per_second[traffic], 1.0))) if traffic.any() else 0.0,
        "requests": float(len(run.arrivals_s)),
    }


def simulated_figures(
    scenario: Path, schedule: Schedule, overrides: dict[str, Any], seeds: int
) -> dict[str, float]:
    """The env stepped through ``schedule`` for each of ``seeds`` seeds; figures averaged."""
    from themis_env.envs.inference_cluster import InferenceClusterEnv

    # The env class itself, not a versioned id: the overrides state every rule the backend
    # follows, so the dynamics do not depend on which env version is the latest.
    env = InferenceClusterEnv(str(scenario), **overrides)
    rows = []
    for seed in range(seeds):
        env.reset(seed=seed)
        steps = int(round(env.scenario.episode_s / env.decision_interval_s))
        kpis: dict[str, Any] = {}
        for k in range(steps):
            t = k * env.decision_interval_s
            decision = [d for at, d in schedule if at <= t][-1]
            *_, truncated, info = env.step(env.encode_targets([decision]))
            if truncated:
                kpis = info["episode_kpis"]
        rows.append(
            {
                "mean_latency": kpis["latency_mean_ms"],
                "p99_latency": kpis["latency_p99_ms"],
                "throughput": kpis["completed"] / kpis["episode_s"],
                "violation": kpis["slo_violation_rate"],
                "requests": float(kpis["requests"]),
            }
        )
    env.close()
    return {key: float(np.mean([r[key] for r in rows])) for key in rows[0]}


def service_error(run: RealRun, fit: LatencyFit) -> float:
    """Mean over the run's batches of measured service time / fitted − 1."""
    if not run.batches:
        return math.nan
    ratios = [b.service_s * 1e3 / fit.predict_ms(b.size, b.cores) - 1.0 for b in run.batches]
    return float(np.mean(ratios))


def measured_latency(
    run: RealRun, fit: LatencyFit, max_batch: int, max_cores: int
) -> tuple[dict[str, Any], float]:
    """A grid latency model of the batch service times the run saw, and their spread.

    Each (batch, cores) cell is the mean time the run's batches of that size on that many cores
    kept their replica from the dispatcher (hand-over to the dispatcher reading the end: the
    model call plus the pipes and the wake-ups of both processes); a cell the run never served
    is the fit times the mean measured/fit ratio of its core count (or the fit, if the run never
    used that count). The spread is the coefficient of variation of each batch's time over its
    cell's mean, the simulator's ``service_noise_cv``. Times are independent draws in the
    simulator; a real slowdown (another process taking the CPU) lasts for many batches.

    Returns:
        The ``latency`` mapping of a model YAML (``kind: grid``) and the coefficient of variation.
    """
    cells: dict[tuple[int, int], list[float]] = {}
    for b in run.batches:
        cells.setdefault((b.size, b.cores), []).append(b.occupied_s * 1e3)
    ratio = {
        c: float(
            np.mean(
                [v / fit.predict_ms(b, c) for (b, cc), vs in cells.items() if cc == c for v in vs]
            )
        )
        for c in {c for _, c in cells}
    }
    table = [
        [
            float(np.mean(cells[(b, c)]))
            if (b, c) in cells
            else fit.predict_ms(b, c) * ratio.get(c, 1.0)
            for c in range(1, max_cores + 1)
        ]
        for b in range(1, max_batch + 1)
    ]
    spread = [v / np.mean(vs) for vs in cells.values() for v in vs]
    cv = float(np.std(spread)) if len(spread) > 1 else 0.0
    latency = {
        "kind": "grid",
        "cores": list(range(1, max_cores + 1)),
        "batches": list(range(1, max_batch + 1)),
        "table_ms": [[float(f"{v:.6g}") for v in row] for row in table],
    }
    return latency, cv


def _write_yaml(path: Path, data: dict[str, Any], note: str) -> Path:
    path.write_text(f"# {note}\n" + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def run_check(
    plan: CheckPlan,
    out_dir: str | Path,
    *,
    cases: Sequence[Case] | None = None,
    progress: bool = False,
    log: Any = None,
) -> CheckResult:
    """Profile, write the scenario, then serve and simulate each case.

    Args:
        plan: The model, the node's CPUs, the load and the serving settings.
        out_dir: Where the profile, pipeline and scenario files go.
        cases: Decision sequences; default :func:`default_cases`.
        progress: Draw the profiler's progress bar.
        log: Called with one line of text per step (e.g. ``print``), or None.

    Raises:
        DependencyNotInstalled: Without torch.
        ServeError: When a replica fails or does not start.
    """
    say = log or (lambda text: None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n_cpus = len(plan.cpus)
    profile = run_profile(
        ProfilePlan(
            plan.model,
            cores=tuple(range(1, n_cpus + 1)),
            batches=plan.batches,
            repeats=plan.repeats,
            input_shape=plan.input_shape,
        ),
        progress=progress,
    )
    files = write_profile(profile, out / "model.yaml", command="benchmarks/sim_to_real.py")
    fit = profile.fit()
    model = load_model(str(files.model))
    say(
        f"profile: alpha, beta, gamma, zeta = {[round(v, 3) for v in fit.params]} ms, fit error "
        f"{100 * fit.mean_relative_error:.1f} %, load {profile.load_time_s:.2f} s"
    )
    max_batch = max(plan.batches)
    pipeline = _write_yaml(
        out / "pipeline.yaml",
        {
            "name": "sim-to-real",
            "slo_ms": plan.slo_ms,
            "batch_timeout_ms": plan.batch_timeout_ms,
            "stages": [
                {
                    "name": model.name,
                    "model": str(files.model.resolve()),
                    "max_cores": n_cpus,
                    "max_batch": max_batch,
                    "max_replicas": n_cpus,
                }
            ],
        },
        "One stage on the profiled model, served with the real backend's batch timeout.",
    )
    mean = plan.mean_rps
    if plan.utilisation is not None:
        mean = plan.utilisation * model.latency.throughput_rps(plan.batch, 1)
    sep = "&" if "?" in plan.trace else "?"
    uri = f"{plan.trace}{sep}mean={mean:.3f}&duration={plan.duration_s}"
    scenario = _write_yaml(
        out / "scenario.yaml",
        {
            "name": "sim-to-real",
            "pipeline": str(pipeline.resolve()),
            "trace": {"uri": uri},
            "episode_s": plan.duration_s,
            "cluster": {"nodes": 1, "cores_per_node": n_cpus},
        },
        "The trace window the real backend replays, on one node of the machine's CPUs.",
    )
    rates = episode_rates(TraceSpec(uri=uri), duration_s=plan.duration_s).rates
    arrivals = poisson_arrivals(rates, np.random.default_rng(plan.seed))
    say(f"trace {uri}: {len(arrivals)} requests in {plan.duration_s} s")
    result = CheckResult(plan, fit, profile.load_time_s, uri, scenario)
    for case in cases or default_cases(plan.duration_s, plan.batch, n_cpus):
        backend = RealBackend(
            plan.model,
            plan.input_shape,
            max_batch=max_batch,
            batch_timeout_s=plan.batch_timeout_ms * 1e-3,
            cpus=plan.cpus,
        )
        with backend:
            run = backend.run(arrivals, case.schedule, plan.duration_s)
        first = case.schedule[0][1]
        resize = float(np.mean(run.resize_delays_s)) if run.resize_delays_s else 0.0
        overrides = {
            "initial": [{"replicas": first.replicas, "cores": first.cores, "batch": first.batch}],
            "cluster": {
                # The backend's rules: its one node takes a replica where it fits, and a resize
                # with no free CPU fails and is asked again at the next decision.
                "placement": "first-fit",
                "resize_policy": "fail",
                "resize_delay_s": resize,
                # The model's load_time_s scales this median: the cold start is the load time.
                "cold_start": {
                    "distribution": "constant",
                    "median_s": 1.0,
                    "min_s": 0.0,
                    "max_s": 600.0,
                },
            },
        }
        sim = simulated_figures(scenario, case.schedule, overrides, plan.sim_seeds)
        real = real_figures(run, plan.slo_ms * 1e-3)
        # The same, on the service times this run measured: what is left is queueing,
        # batching and actuation, not the profile.
        latency, cv = measured_latency(run, fit, max_batch, n_cpus)
        model_data = yaml.safe_load(files.model.read_text(encoding="utf-8"))
        measured_model = _write_yaml(
            out / f"model-{case.name}-measured.yaml",
            {**model_data, "latency": latency},
            f"The profiled model with the batch service times the {case.name!r} run measured.",
        )
        pipeline_data = yaml.safe_load(pipeline.read_text(encoding="utf-8"))
        pipeline_data["stages"][0]["model"] = str(measured_model.resolve())
        measured_pipeline = _write_yaml(
            out / f"pipeline-{case.name}-measured.yaml", pipeline_data, "As pipeline.yaml."
        )
        measured_overrides = {
            **overrides,
            "pipeline": str(measured_pipeline.resolve()),
            "cluster": {**overrides["cluster"], "service_noise_cv": min(cv, 2.0)},
        }
        sim_measured = simulated_figures(
            scenario, case.schedule, measured_overrides, plan.sim_seeds
        )
        result.cases.append(CaseResult(case, real, sim, run, service_error(run, fit), sim_measured))
        say(
            f"{case.name}: real {_brief(real)}; sim {_brief(sim)}; sim on the measured service "
            f"times {_brief(sim_measured)}; batch service vs fit "
            f"{100 * result.cases[-1].service_error:+.1f} % (cv {cv:.2f}); load average "
            f"{run.load_average:.2f}"
        )
    return result


def _brief(figures: dict[str, float]) -> str:
    return (
        f"mean {figures['mean_latency']:.1f} ms, p99 {figures['p99_latency']:.1f} ms, "
        f"{figures['throughput']:.2f} req/s, violation {figures['violation']:.3f}"
    )
