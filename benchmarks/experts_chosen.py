"""Which members of its menu an expert-menu agent (``ppo-themis-experts``) chooses, and when.

Runs the agent saved as ``--agent`` for one episode (``--seed``) per scenario, as the leaderboard
runs it (``target`` actions, its own observation mode), and counts the member in force at each
decision of :class:`~themis_env.agents.residual.ThemisExperts`. The last line is one JSON
object: per scenario the share of decisions per member (``expert-factor``), the switches (changes
of the member in force), the violation rate and mean cores of the episode.

Run: ``python benchmarks/experts_chosen.py --agent agents/zoo/ppo-themis-experts/ppo.zip``
(real traces from ``--trace-dir``, ``THEMIS_TRACE_DIR`` or ``../shared/traces`` when found).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from typing import Any

import gymnasium as gym
from themis_env.agents.evaluate import load_agent, required_env_kwargs
from themis_env.agents.residual import ThemisExperts

import themis_env  # noqa: F401 - registers the env ids
from themis_env.evaluation.rollout import rollout
from themis_env.evaluation.suites import load_suite
from themis_env.resources import use_trace_dir


class _Counting:
    """The agent's ``predict``, counting the member in force after each decision."""

    def __init__(self, agent: Any) -> None:
        self.agent = agent
        self.experts = next(w for w in agent._wrappers if isinstance(w, ThemisExperts))
        self.counts: Counter[str] = Counter()
        self.switches = 0
        self._last = -1

    def reset(self) -> None:
        self.agent.reset()
        self.counts.clear()
        self.switches, self._last = 0, -1

    def predict(self, obs: Any, state: Any = None, episode_start: Any = None, **_: Any) -> Any:
        out = self.agent.predict(obs, state, episode_start)
        member = self.experts.member
        expert, factor = self.experts.members[member]
        self.counts[f"{expert}-{factor:g}"] += 1
        self.switches += self._last >= 0 and member != self._last
        self._last = member
        return out


def main(argv: list[str] | None = None) -> int:
    """Run the agent on every scenario of the suites named, print the shares and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agent", required=True, help="the agent's .zip")
    parser.add_argument("--suites", nargs="+", default=["generalisation", "paper"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trace-dir", default=None)
    args = parser.parse_args(argv)
    use_trace_dir(args.trace_dir)
    out: dict[str, Any] = {"benchmark": "experts_chosen", "agent": args.agent, "seed": args.seed}
    for suite in args.suites:
        for entry in load_suite(suite).scenarios:
            env = gym.make(
                "themis_env/InferenceCluster-v1",
                scenario=entry.scenario,
                **required_env_kwargs(args.agent),
            )
            policy = _Counting(load_agent(args.agent, env))
            kpis = rollout(env, policy, seed=args.seed).kpis or {}
            total = sum(policy.counts.values())
            shares = {m: round(n / total, 3) for m, n in policy.counts.most_common()}
            out[entry.display] = {
                "members": shares,
                "switches": policy.switches,
                "violation": round(float(kpis["slo_violation_rate"]), 4),
                "mean_cores": round(float(kpis["mean_cores"]), 2),
            }
            print(f"{entry.display}: {shares}, {policy.switches} switches", flush=True)
            env.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
