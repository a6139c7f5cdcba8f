"""What a scripted schedule of expert members gives: when does a switch between members cost?

Steps :class:`~themis_env.agents.residual.ThemisExperts` (10-s choices) through each schedule
given on one scenario, for several seeds, and prints the mean SLO violation rate and mean cores
per schedule. A schedule is comma-separated ``expert-factor:choices`` parts, the last part
without a count holding to the episode's end: ``themis-1:27,horizontal-1.5:2,horizontal-1.15``
holds Themis for 27 choices (270 s), horizontal-only at 1.5 for two, then horizontal-only at
1.15. Replaying an agent's choices (``benchmarks/experts_chosen.py`` gives its shares) this way
separates what its members cost from what its switches cost.

Run: ``python benchmarks/experts_schedule.py [--scenario S] [--seeds 3] [--schedule SPEC ...]
[--transition switch|make-before-break]`` (real traces from ``--trace-dir``,
``THEMIS_TRACE_DIR`` or ``../shared/traces`` when found; by default the schedules on sentiment
2025 Twitter day 20 that the prior-commit agent config cites; ``--transition`` as
:class:`~themis_env.agents.residual.ExpertPlanner`'s). The last line is one JSON object::

    {"benchmark": "experts_schedule", "scenario": ..., "seeds": n, "transition": ...,
     "<schedule>": {"violation": v, "mean_cores": c}, ...}
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import gymnasium as gym
import numpy as np
from themis_env.agents.residual import TRANSITIONS, ThemisExperts, _check_member

import themis_env  # noqa: F401 - registers the env ids
from themis_env.errors import ConfigError
from themis_env.evaluation.rollout import rollout
from themis_env.resources import use_trace_dir

DEFAULT_SCENARIO = "sentiment-2025-gen-twitter-d20"
# -prior-switch seed 0's choices on day 20 (seed 0), the same switch two choices later, and the
# same with Themis at 1 and with max instead of horizontal-only after the switch.
DEFAULT_SCHEDULES = (
    "themis-1",
    "horizontal-1.15",
    "themis-1.3:27,horizontal-1.5:2,horizontal-1.15",
    "themis-1.3:29,horizontal-1.15",
    "themis-1:27,horizontal-1.5:2,horizontal-1.15",
    "themis-1:29,horizontal-1.15",
    "themis-1:27,max-1.3:2,horizontal-1.15",
    "themis-1:27,max-1.15:6,horizontal-1.15",
)


def parse_schedule(spec: str) -> list[tuple[tuple[str, float], int | None]]:
    """``[((expert, factor), choices or None for the rest), ...]``, checked."""
    parts = [p.strip() for p in spec.split(",")]
    out: list[tuple[tuple[str, float], int | None]] = []
    for i, part in enumerate(parts):
        member, _, count = part.partition(":")
        expert, _, factor = member.rpartition("-")
        last = i == len(parts) - 1
        try:
            value, n = float(factor), None if last and not count else int(count)
        except ValueError:
            raise ConfigError(
                f"schedule {spec!r}: part {part!r} is not expert-factor:choices (e.g. "
                "themis-1:27); the last part may omit :choices"
            ) from None
        pair = _check_member(expert, value, f"schedule {spec!r}")  # ThemisExperts' own check
        if n is not None and n < 1:
            raise ConfigError(f"schedule {spec!r}: part {part!r} needs at least one choice")
        out.append((pair, n))
    if out[-1][1] is not None:
        raise ConfigError(f"schedule {spec!r}: the last part holds to the end; drop its count")
    return out


class _Schedule:
    """A ``predict`` that plays a parsed schedule: one member index per 10-s choice."""

    def __init__(
        self, plan: list[tuple[tuple[str, float], int | None]], members: list[tuple[str, float]]
    ) -> None:
        self.indices = [members.index(pair) for pair, _ in plan]
        self.bounds = np.cumsum([n for _, n in plan[:-1]], dtype=int)
        self.choice = 0

    def reset(self) -> None:
        self.choice = 0

    def predict(self, obs: Any, state: Any = None, **_: Any) -> tuple[int, Any]:
        part = int(np.searchsorted(self.bounds, self.choice, side="right"))
        self.choice += 1
        return self.indices[part], state


def run(scenario: str, spec: str, seed: int, transition: str = "switch") -> tuple[float, float]:
    """(violation rate, mean cores) of one episode of ``spec`` on ``scenario``."""
    plan = parse_schedule(spec)
    members = list(dict.fromkeys(pair for pair, _ in plan))
    base = gym.make("themis_env/InferenceCluster-v1", scenario=scenario, obs_mode="flat")
    env = ThemisExperts(base, members=members, hold_s=10, transition=transition)
    kpis = rollout(env, _Schedule(plan, members), seed=seed).kpis or {}
    env.close()
    return float(kpis["slo_violation_rate"]), float(kpis["mean_cores"])


def main(argv: list[str] | None = None) -> int:
    """Run every schedule on the scenario for each seed; print the means and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default=DEFAULT_SCENARIO)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--schedule", nargs="+", default=list(DEFAULT_SCHEDULES))
    parser.add_argument("--transition", choices=TRANSITIONS, default="switch")
    parser.add_argument("--trace-dir", default=None)
    args = parser.parse_args(argv)
    use_trace_dir(args.trace_dir)
    for spec in args.schedule:  # every schedule checked before any runs
        try:
            parse_schedule(spec)
        except ConfigError as exc:
            parser.error(str(exc))
    out: dict[str, Any] = {
        "benchmark": "experts_schedule",
        "scenario": args.scenario,
        "seeds": args.seeds,
        "transition": args.transition,
    }
    for spec in args.schedule:
        runs = [run(args.scenario, spec, seed, args.transition) for seed in range(args.seeds)]
        violation, cores = (round(float(np.mean(x)), 4) for x in zip(*runs, strict=True))
        out[spec] = {"violation": violation, "mean_cores": round(cores, 2)}
        print(f"{spec}: violation {violation:.4f}, mean cores {cores:.2f}", flush=True)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
