"""The constant-factor ablation of ``ppo-themis-headroom``: which fixed headroom is best?

Runs ``themis-headroom`` (Themis, ``themis-variants`` on variant scenarios, planning for the
observed load times a fixed factor) at every factor the agent can pick, on the agent's
validation scenarios only (never on the test suites): one deterministic episode per scenario,
scenario i reset with seed ``--eval-seed + i`` as the training evaluation seeds its envs. The
factor chosen is the one with the best mean return over those episodes, the rule the agent's
``best/`` checkpoint was chosen by; violations and cores are reported beside it.

Run: ``python benchmarks/headroom_constant.py`` (real traces from ``--trace-dir``,
``THEMIS_TRACE_DIR`` or ``../shared/traces`` when found). The last line is one JSON object::

    {"benchmark": "headroom_constant", "chosen_factor": f, "<factor>_return": ...,
     "<factor>_violation": ..., "<factor>_mean_cores": ..., ...}
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import gymnasium as gym
import numpy as np
from themis_env.agents.envs import resolve_scenario
from themis_env.agents.evaluate import load_agent
from themis_env.agents.residual import (
    HEADROOM_FACTORS,
    ConstantExpertPolicy,
    ConstantHeadroomPolicy,
    parse_member,
)

import themis_env  # noqa: F401 - registers the env ids
from themis_env.evaluation.rollout import rollout
from themis_env.resources import use_trace_dir

# The validation scenarios of configs/agents/ppo-themis-headroom.yml's run (its --eval-scenario).
VALIDATION = (
    "general-val-infadapter-resnet-twitter-d21",
    "general-val-ipa-video-twitter-d18",
    "general-val-nlp-2025-bursty",
    "general-val-nlp-arxiv-twitter-d18",
    "general-val-sentiment-2025-twitter-d21",
    "general-val-video-2025-mmpp",
    "general-val-video-variants-twitter-d21",
    "video-arxiv-val-twitter-d21",
)


def evaluate(
    factor: float | str, eval_seed: int, w_slo: float | None = None
) -> list[dict[str, float]]:
    """One episode per validation scenario at ``factor``: return, violation rate, mean cores.

    ``factor`` may instead be an agent's ``.zip`` (its files beside it), run the same way, or
    a member of an expert menu, ``expert:factor`` (``themis-experts``, e.g. ``max:1.15``).
    ``w_slo`` overrides the scenarios' SLO weight (as the agent's ``--env-kwargs``).
    """
    overrides = {} if w_slo is None else {"reward": {"w_slo": w_slo}}
    rows = []
    for i, name in enumerate(VALIDATION):
        env = gym.make(
            "themis_env/InferenceCluster-v0",
            scenario=resolve_scenario(name),
            action_mode="target",
            obs_mode="flat",
            **overrides,
        )
        if isinstance(factor, str) and ":" in factor:
            expert, f = parse_member(factor, "--members")
            policy: Any = ConstantExpertPolicy(env, expert=expert, factor=f)
        elif isinstance(factor, str):
            policy = load_agent(factor, env)
        else:
            policy = ConstantHeadroomPolicy(env, factor=factor)
        episode = rollout(env, policy, seed=eval_seed + i)
        kpis = episode.kpis or {}
        rows.append(
            {
                "scenario": name,
                "return": float(kpis["return"]),
                "violation": float(kpis["slo_violation_rate"]),
                "mean_cores": float(kpis["mean_cores"]),
                "fallback": bool(episode.trace_fallback),
            }
        )
        env.close()
    return rows


def _key(factor: float | str) -> str:
    return factor if isinstance(factor, str) else f"{factor:g}"


def main(argv: list[str] | None = None) -> int:
    """Run every factor, print a table and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factors", type=float, nargs="+", default=list(HEADROOM_FACTORS))
    parser.add_argument("--eval-seed", type=int, default=10_000)
    parser.add_argument(
        "--agent", nargs="*", default=[], help="agents' .zip to run on the same episodes"
    )
    parser.add_argument(
        "--members", nargs="*", default=[], help="expert-menu members, expert:factor (max:1.15)"
    )
    parser.add_argument("--trace-dir", default=None)
    parser.add_argument(
        "--w-slo", type=float, default=None, help="the agent's SLO weight (default: scenarios')"
    )
    args = parser.parse_args(argv)
    use_trace_dir(args.trace_dir)
    out: dict[str, object] = {
        "benchmark": "headroom_constant",
        "scenarios": list(VALIDATION),
        "w_slo": args.w_slo,
    }
    means: dict[float | str, float] = {}
    fallback = False
    start = time.perf_counter()
    for factor in [*args.factors, *args.members, *args.agent]:
        rows = evaluate(factor, args.eval_seed, args.w_slo)
        fallback |= any(r["fallback"] for r in rows)
        means[factor] = float(np.mean([r["return"] for r in rows]))
        for key in ("return", "violation", "mean_cores"):
            out[f"{_key(factor)}_{key}"] = round(float(np.mean([r[key] for r in rows])), 4)
        out[f"{_key(factor)}_per_scenario"] = [
            [r["scenario"], round(r["violation"], 4), round(r["mean_cores"], 2)] for r in rows
        ]
        print(
            f"{_key(factor)}: return {means[factor]:.1f}, violation "
            f"{out[f'{_key(factor)}_violation']}, cores {out[f'{_key(factor)}_mean_cores']}",
            flush=True,
        )
    constant = [f for f in means if not isinstance(f, str)]
    out["chosen_factor"] = max(constant, key=lambda f: (means[f], -abs(f - 1.0)))
    out["trace_fallback"] = fallback
    out["wall_s"] = round(time.perf_counter() - start, 1)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
