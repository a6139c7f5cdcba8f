"""Choose a run's checkpoint by a rule stated in advance, from validation episodes.

A training run's own choice (``best/``: the best mean validation return) answers "which model
earns most under the training reward". A benchmark entry often needs another question
answered, e.g. "the fewest SLO violations at no more cores than VPA", and the answer is only
honest when the rule is fixed before the figures are seen. This module runs every checkpoint
of a run (and its final model) on the run's validation scenarios, one deterministic episode
each with the seeds the training evaluation used, and applies such a rule:

```bash
python -m themis_env.agents.select runs/NAME --max-cores 5.97 --minimise violations --export DIR
```

Each checkpoint's validation is appended to ``RUN/selection/validation.jsonl`` as it finishes,
so an interrupted selection resumes where it stopped, and a later rule reuses the episodes.
With ``--targets`` the rule first keeps the models that meet the generalist's targets
(:mod:`themis_env.evaluation.targets`: fewer violations than HPA and horizontal-only, no
baseline with fewer violations at fewer cores) on the most validation scenarios. The baselines
run the same episodes once; their figures go to ``RUN/selection/baselines.jsonl`` and are reused.
The rule, the candidates and the choice go to ``RUN/selection/choice.json``; ``--export``
copies the chosen agent as ``<algo>.zip`` (and its files) with the rule and its validation
figures in its manifest.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from themis_env.agents.artifacts import agent_files, export_agent, read_manifest
from themis_env.agents.envs import resolve_scenario
from themis_env.agents.evaluate import load_agent, run_episode

import themis_env  # noqa: F401 - registers the env ids
from themis_env.config.assignments import parse_assignments
from themis_env.errors import ConfigError, PolicyError, ThemisError
from themis_env.evaluation.records import RecordWriter, read_json_lines
from themis_env.evaluation.rollout import rollout
from themis_env.evaluation.targets import TARGET_BASELINES, Outcome, scenario_targets

__all__ = [
    "SelectionRule",
    "Candidate",
    "candidates",
    "validate",
    "validate_baselines",
    "count_targets",
    "choose",
    "select",
    "main",
]

GENERIC_ENV_ID = "themis_env/InferenceCluster-v0"
_CKPT = re.compile(r"ckpt_(\d+)\.zip$")
MINIMISE = ("violations", "cores")
# What choice.json (and an exported manifest) keeps of a validated model.
BRIEF = ("agent", "timesteps", "slo_violation_rate", "mean_cores")
# ...and, under a targets rule, of how it fared against the baselines.
TARGETS_BRIEF = ("targets_met", "targets_missed")


@dataclass(frozen=True)
class SelectionRule:
    """Which validated model to take.

    Among the models whose mean validation cores are at most ``max_cores`` and whose mean
    validation violation rate is at most ``max_violations`` (None: no limit), the one with the
    least of ``minimise`` (``"violations"`` or ``"cores"``); ties go to the other figure, then
    to the earlier model. With ``targets``, only the models among those that meet the
    generalist's targets on the most validation scenarios take part in that last choice.
    """

    max_cores: float | None = None
    max_violations: float | None = None
    minimise: str = "violations"
    targets: bool = False

    def __post_init__(self) -> None:
        if self.minimise not in MINIMISE:
            raise ConfigError(f"minimise={self.minimise!r}: choose one of {', '.join(MINIMISE)}")
        for name in ("max_cores", "max_violations"):
            value = getattr(self, name)
            if value is not None and not (np.isfinite(value) and value >= 0):
                raise ConfigError(f"{name}={value!r}: give a finite number >= 0, or leave it out")


@dataclass(frozen=True)
class Candidate:
    """A saved model of the run: a checkpoint or the final model."""

    path: Path
    timesteps: int


def candidates(run_dir: str | Path) -> list[Candidate]:
    """The run's checkpoints in step order, then its final model (if the run finished).

    Raises:
        ConfigError: when ``run_dir`` is not a training run or holds no model.
    """
    run = _run_record(run_dir)
    out = []
    for path in Path(run_dir, "checkpoints").glob("ckpt_*.zip"):
        match = _CKPT.search(path.name)
        if match:
            out.append(Candidate(path, int(match.group(1))))
    out.sort(key=lambda c: c.timesteps)
    final = agent_files(Path(run_dir) / run["algo"]).model
    if final.is_file():
        out.append(Candidate(final, int(read_manifest(final).get("timesteps_trained", -1))))
    if not out:
        raise ConfigError(f"{run_dir}: no checkpoints/ckpt_<steps>.zip and no final model")
    return out


def validate(
    path: str | Path,
    scenarios: Sequence[str],
    seed: int,
    env_kwargs: dict[str, Any],
    trust: bool = False,
) -> dict[str, Any]:
    """One deterministic episode of the agent per scenario; scenario ``i`` gets ``seed + i``.

    ``trust`` lets checkpoints saved before the safe format be unpickled (see
    :func:`~themis_env.agents.evaluate.load_agent`).

    These are the seeds the training's evaluation callback gives its vector of validation envs
    (SB3's ``VecEnv.seed``), so a checkpoint's figures equal the ones logged at its step.
    """
    episodes = []
    for i, scenario in enumerate(scenarios):
        env = gym.make(GENERIC_ENV_ID, scenario=resolve_scenario(scenario), **env_kwargs)
        try:
            row = run_episode(load_agent(str(path), env, trust), env, seed + i)
        finally:
            env.close()
        episodes.append({"scenario": scenario, **row})
    return {
        "slo_violation_rate": float(np.mean([e["slo_violation_rate"] for e in episodes])),
        "mean_cores": float(np.mean([e["mean_cores"] for e in episodes])),
        "return": float(np.mean([e["return"] for e in episodes])),
        "episodes": episodes,
    }


def validate_baselines(
    scenarios: Sequence[str], seed: int, env_overrides: dict[str, Any], log: str | Path
) -> dict[str, dict[str, Outcome]]:
    """The targets' baselines on the validation episodes (scenario ``i``: ``seed + i``).

    Each baseline's figures are appended to ``log`` as they finish and reused by later calls
    with the same scenario, seed and ``env_overrides`` (the baselines get the overrides only:
    the agent's observation, action and reward settings do not change their figures). A
    baseline that cannot act on a scenario (HPA on model variants, Themis on a pipeline its
    presets have no rules for) is logged as such and left out of that scenario's comparison.

    Returns:
        Per scenario, the outcomes of the baselines that ran it.
    """
    from themis_env.baselines import make_policy

    out: dict[str, dict[str, Outcome]] = {s: {} for s in scenarios}
    with RecordWriter(log) as writer:
        done = {
            (r.get("policy"), r.get("scenario"), r.get("seed")): r
            for r in read_json_lines(log)
            if r.get("env_kwargs") == env_overrides
        }
        for i, scenario in enumerate(scenarios):
            for name in TARGET_BASELINES:
                row = done.get((name, scenario, seed + i))
                if row is None:
                    row = {
                        "policy": name,
                        "scenario": scenario,
                        "seed": seed + i,
                        "env_kwargs": env_overrides,
                    }
                    ref = resolve_scenario(scenario)
                    env = gym.make(GENERIC_ENV_ID, scenario=ref, **env_overrides)
                    try:
                        kpis = rollout(env, make_policy(name, env), seed + i).kpis or {}
                        row["slo_violation_rate"] = float(kpis["slo_violation_rate"])
                        row["mean_cores"] = float(kpis["mean_cores"])
                    except PolicyError as exc:
                        row["unavailable"] = str(exc)
                    finally:
                        env.close()
                    writer.append(row)
                if "unavailable" not in row:
                    out[scenario][name] = Outcome(row["slo_violation_rate"], row["mean_cores"])
    return out


def count_targets(
    episodes: Sequence[dict[str, Any]], baselines: dict[str, dict[str, Outcome]]
) -> tuple[int, list[str]]:
    """On how many of a model's validation episodes it meets the targets, and where it misses.

    Raises:
        ConfigError: when an episode's scenario has no baseline figures.
    """
    met, missed = 0, []
    for e in episodes:
        if e["scenario"] not in baselines:
            raise ConfigError(f"no baseline figures for validation scenario {e['scenario']!r}")
        me = Outcome(e["slo_violation_rate"], e["mean_cores"])
        if scenario_targets(me, baselines[e["scenario"]]).met:
            met += 1
        else:
            missed.append(e["scenario"])
    return met, missed


def choose(rows: Iterable[dict[str, Any]], rule: SelectionRule) -> dict[str, Any]:
    """The row (with ``slo_violation_rate``, ``mean_cores``, ``timesteps``) the rule picks.

    A ``targets`` rule needs ``targets_met`` in every row (:func:`count_targets`).

    Raises:
        ConfigError: when no row meets the rule's limits; the message gives the closest ones.
    """
    rows = list(rows)
    if not rows:
        raise ConfigError("no validated models to choose from")

    def within(r: dict[str, Any]) -> bool:
        return (rule.max_cores is None or r["mean_cores"] <= rule.max_cores) and (
            rule.max_violations is None or r["slo_violation_rate"] <= rule.max_violations
        )

    viol, cores = (lambda r: r["slo_violation_rate"]), (lambda r: r["mean_cores"])
    first, second = (viol, cores) if rule.minimise == "violations" else (cores, viol)
    eligible = [r for r in rows if within(r)]
    if not eligible:
        least_cores = min(rows, key=cores)
        least_viol = min(rows, key=viol)
        raise ConfigError(
            f"no model meets max_cores={rule.max_cores}, max_violations={rule.max_violations}: "
            f"the fewest cores was {least_cores['mean_cores']:.2f} (at "
            f"{least_cores['timesteps']} steps), the fewest violations "
            f"{least_viol['slo_violation_rate']:.3f} (at {least_viol['timesteps']} steps)"
        )
    if rule.targets:
        if any("targets_met" not in r for r in eligible):
            raise ConfigError("a targets rule needs targets_met in every validated model")
        most = max(r["targets_met"] for r in eligible)
        eligible = [r for r in eligible if r["targets_met"] == most]
    return min(eligible, key=lambda r: (first(r), second(r), r["timesteps"]))


def select(
    run_dir: str | Path,
    rule: SelectionRule,
    scenarios: Sequence[str] | None = None,
    seed: int | None = None,
    env_overrides: dict[str, Any] | None = None,
    export: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
    trust: bool = False,
) -> dict[str, Any]:
    """Validate every model of the run (reusing logged validations) and apply ``rule``.

    Args:
        run_dir: A run directory of ``python -m themis_env.agents.train``.
        rule: The selection rule.
        scenarios: Validation scenarios (default: the run's evaluation scenarios).
        seed: Seed of the first scenario (default: the run's evaluation seed).
        env_overrides: Merged over the run's env kwargs (e.g. ``trace_dir``).
        export: Copy the chosen agent into this folder.
        progress: Called with one line per validated model.
        trust: Allow unpickling models saved before the safe format (a run of one's own).

    Returns:
        The record written to ``RUN/selection/choice.json``.

    Raises:
        ConfigError: for a run without models or validation scenarios, or when no model
            meets the rule.
    """
    run = _run_record(run_dir)
    scenarios = list(scenarios or run.get("eval_scenarios") or [])
    if not scenarios:
        raise ConfigError(f"{run_dir}: the run had no --eval-scenario; pass --scenario")
    seed = int(run.get("eval_seed", 0) if seed is None else seed)
    env_kwargs = {**run.get("env_kwargs", {}), **(env_overrides or {})}
    log = Path(run_dir) / "selection" / "validation.jsonl"
    rows = []
    with RecordWriter(log) as writer:  # opening drops a line an interruption cut short
        done = {
            r["agent"]: r
            for r in read_json_lines(log)
            if (r.get("scenarios"), r.get("seed"), r.get("env_kwargs"))
            == (scenarios, seed, env_kwargs)
        }
        for cand in candidates(run_dir):
            key = _rel(cand.path, run_dir)
            row = done.get(key)
            if row is None:
                row = {
                    "agent": key,
                    "timesteps": cand.timesteps,
                    "wall_time_s": read_manifest(cand.path).get("wall_time_s"),
                    "scenarios": scenarios,
                    "seed": seed,
                    "env_kwargs": env_kwargs,
                    **validate(cand.path, scenarios, seed, env_kwargs, trust),
                }
                writer.append(row)
            rows.append(row)
            if progress is not None:
                progress(
                    f"{key:<40} {row['timesteps']:>9} {row['slo_violation_rate']:>9.4f} "
                    f"{row['mean_cores']:>7.2f}"
                )
    brief = BRIEF
    if rule.targets:
        brief = (*BRIEF, *TARGETS_BRIEF)
        baselines = validate_baselines(
            scenarios, seed, env_overrides or {}, log.parent / "baselines.jsonl"
        )
        for r in rows:
            r["targets_met"], r["targets_missed"] = count_targets(r["episodes"], baselines)
    chosen = choose(rows, rule)
    summary = {k: chosen[k] for k in brief}
    record = {
        "run_dir": str(run_dir),
        "rule": asdict(rule),
        "scenarios": scenarios,
        "seed": seed,
        "chosen": summary,
        "candidates": [{k: r[k] for k in brief} for r in rows],
    }
    (log.parent / "choice.json").write_text(json.dumps(record, indent=2) + "\n", "utf-8")
    if export is not None:
        selected_by = {"rule": asdict(rule), "scenarios": scenarios, "seed": seed, **summary}
        export_agent(
            Path(run_dir) / chosen["agent"],
            export,
            run_dir,
            run if run.get("status") == "done" else None,
            extra={"selected_by": selected_by},
            name=run["algo"],  # a checkpoint ships under the algorithm's name, as the zoo's do
        )
    return record


def _run_record(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / "run.json"
    if not path.is_file():
        raise ConfigError(f"{run_dir} is not a training run: it has no run.json")
    return json.loads(path.read_text(encoding="utf-8"))


def _rel(path: Path, run_dir: str | Path) -> str:
    return path.resolve().relative_to(Path(run_dir).resolve()).as_posix()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m themis_env.agents.select``."""
    parser = argparse.ArgumentParser(
        prog="python -m themis_env.agents.select",
        description="Validate every checkpoint of a training run and pick one by a rule "
        "stated in advance.",
    )
    parser.add_argument("run_dir", help="run directory of python -m themis_env.agents.train")
    parser.add_argument("--max-cores", type=float, default=None, help="mean validation cores")
    parser.add_argument(
        "--max-violations", type=float, default=None, help="mean validation SLO violation rate"
    )
    parser.add_argument("--minimise", default="violations", choices=MINIMISE)
    parser.add_argument(
        "--targets",
        action="store_true",
        help="first keep the models meeting the generalist's targets (fewer violations than "
        "HPA and horizontal-only, no baseline with fewer violations at fewer cores) on the "
        "most validation scenarios",
    )
    parser.add_argument(
        "--scenario", action="append", default=None, help="default: the run's eval scenarios"
    )
    parser.add_argument("--seed", type=int, default=None, help="default: the run's eval seed")
    parser.add_argument(
        "--env-kwargs",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="merged over the run's env kwargs, e.g. trace_dir=../shared/traces",
    )
    parser.add_argument("--export", default=None, help="copy the chosen agent into this folder")
    parser.add_argument(
        "--trust-agent",
        action="store_true",
        help="unpickle checkpoints saved before the safe format (only for runs you trust)",
    )
    args = parser.parse_args(argv)
    try:
        import torch

        torch.set_num_threads(1)
        rule = SelectionRule(args.max_cores, args.max_violations, args.minimise, args.targets)
        print(f"{'model':<40} {'steps':>9} {'violation':>9} {'cores':>7}")
        record = select(
            args.run_dir,
            rule,
            scenarios=args.scenario,
            seed=args.seed,
            env_overrides=parse_assignments(args.env_kwargs, "--env-kwargs"),
            export=args.export,
            progress=print,
            trust=args.trust_agent,
        )
    except ThemisError as exc:
        print(f"themis_env.agents.select: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"rule": record["rule"], "chosen": record["chosen"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
