"""Generalisation: every shipped agent and baseline on traces no agent trained on.

Runs the ``generalisation`` suite (NASA 1995, WorldCup 1998, two surge windows of Twitter days
16 and 20, a flash crowd; video arxiv, sentiment 2025 and nlp arxiv pipelines; rescaled as the
Themis paper rescales its slice) through the leaderboard harness, then checks per scenario the
generalist's targets: fewer SLO violations than HPA and than horizontal-only, and no baseline
that dominates it (fewer violations at fewer mean cores). It also checks, on the video
scenarios, the claims of the four video-only agents' READMEs that the suite can test: fewer
violations than horizontal-only (``ppo-twophase``) and than HPA (all four).

Run: ``python benchmarks/generalisation.py [--seeds 3] [--first-seed 0] [--jobs 1]
[--policies LABEL ...] [--judge POLICY ...]``. It resumes ``--out``; ``--policies`` runs those
suite policies only, plus the reference ones; ``--judge`` runs and judges more, such as
``agent:runs/x/best/ppo.zip``; ``--first-seed 20 --seeds 20`` runs seeds 20-39, a block no earlier
run has seen, to confirm a verdict found on other seeds. The
real traces are used when found (``--trace-dir``, ``THEMIS_TRACE_DIR``, ``../shared/traces``);
otherwise each real-trace scenario runs on its synthetic fallback and the output says so. The
last line is one JSON object::

    {"benchmark": "generalisation", "generalist_scenarios_met": k, "scenarios": n,
     "<agent>_<scenario>_fewer_than_<baseline>_seeds": [won, seeds], ...,
     "<scenario>_<policy>_violation": ..., "<scenario>_<policy>_mean_cores": ..., ...}

Where an agent loses a target on a scenario, the per-seed count says on how many seeds it had
fewer violations than the baseline it lost to: a loss on the mean with wins on most seeds is
one seed's event. From 10 seeds on, each agent also gets the paired verdict
(``<agent>_scenarios_met_paired``): a baseline dominates only when it also has fewer violations
on significantly many seeds (one-sided sign test at 5 %), the seed-robust form of the target.
Over twenty seeds (``--seeds 20``) that paired verdict is the suite's verdict on the generalist
targets; the verdict on means is printed beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from themis_env.evaluation.harness import run_leaderboard
from themis_env.evaluation.run_record import RunRecord
from themis_env.evaluation.suites import load_suite
from themis_env.evaluation.targets import (
    ALPHA,
    TARGET_BASELINES,
    Outcome,
    ScenarioTargets,
    scenario_targets,
    seed_counts,
)
from themis_env.resources import use_trace_dir

GENERALIST = "ppo-generalist"
# The generalist of the padded layout with variant slots (acts on the variant scenarios too).
GENERALISTS = (GENERALIST, "ppo-generalist-variants")
# The residual agent on Themis (a learned load multiplier) and its constant-factor ablation.
HEADROOM = ("ppo-themis-headroom", "themis-headroom-1.5")
# The residual agent on an expert menu (Themis, horizontal-only, their per-stage max, each at a
# load factor) and its constant-member ablation (the member best on the validation scenarios).
EXPERTS = ("ppo-themis-experts", "themis-experts-horizontal-1.5")
# The same menu with make-before-break switches, picked by the targets on selection scenarios.
EXPERTS_MBB = "ppo-themis-experts-mbb"
# The same, trained on jittered load too; shipped on the paired form over fresh seeds 20-39.
EXPERTS_JITTER = "ppo-themis-experts-jitter-steady"
# Every suite agent judged by the generalist's targets.
JUDGED = (*GENERALISTS, *HEADROOM, *EXPERTS, EXPERTS_MBB, EXPERTS_JITTER)
BASELINES = ("themis", "horizontal", "vertical", "hpa", "vpa", "static")
VIDEO_AGENTS = ("ppo", "ppo-lean", "ppo-twophase", "ppo-lowcost")
# From this many seeds on, the paired (seed-robust) verdict is printed beside the one on means:
# the sign test needs at least five seeds where two policies differ to reject anything at all.
PAIRED_SEEDS = 10


def cells(records: list[RunRecord]) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (scenario, policy): mean violation rate and cores over seeds, and each seed's rate."""
    runs: dict[tuple[str, str], list[RunRecord]] = defaultdict(list)
    for r in records:
        if r.ok:
            runs[(r.scenario, r.policy.label)].append(r)
    return {
        key: {
            "violation": float(np.mean([r.kpi("slo_violation_rate") for r in rs])),
            "mean_cores": float(np.mean([r.kpi("mean_cores") for r in rs])),
            "seeds": len(rs),
            "seed_violation": {r.seed: r.kpi("slo_violation_rate") for r in rs},
            "fallback": any(r.trace_fallback for r in rs),
        }
        for key, rs in runs.items()
    }


def outcome(row: dict[str, Any]) -> Outcome:
    """A table cell as the targets read it."""
    return Outcome(row["violation"], row["mean_cores"], row["seed_violation"])


def check(
    table: dict[tuple[str, str], dict[str, Any]], agent: str, *, paired: bool = False
) -> dict[str, ScenarioTargets]:
    """Per scenario the agent ran on: the three targets and which baselines dominate it.

    With ``paired``, a baseline dominates only with fewer violations on significantly many seeds.
    """
    out = {}
    for scenario in sorted({s for s, _ in table}):
        me = table.get((scenario, agent))
        if me is None:
            continue
        baselines = {
            b: outcome(row)
            for b in TARGET_BASELINES
            if (row := table.get((scenario, b))) is not None
        }
        out[scenario] = scenario_targets(outcome(me), baselines, paired=paired)
    return out


def print_table(table: dict[tuple[str, str], dict[str, Any]], policies: list[str]) -> None:
    """One line per scenario: each policy's violation rate / mean cores."""
    scenarios = sorted({s for s, _ in table})
    width = max(len(s) for s in scenarios) + 2
    print("violation rate / mean cores, mean over seeds (‡: synthetic fallback trace)")
    print(f"{'scenario':<{width}}" + "".join(f"{p:>16}" for p in policies))
    for s in scenarios:
        fallback = any(table.get((s, p), {}).get("fallback") for p in policies)
        row = f"{s + ('‡' if fallback else ''):<{width}}"
        for p in policies:
            c = table.get((s, p))
            row += f"{'—':>16}" if c is None else f"{c['violation']:>9.3f}/{c['mean_cores']:>5.1f} "
        print(row)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="how many seeds")
    parser.add_argument("--first-seed", type=int, default=0, help="the first of the seeds")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", default="results/generalisation", help="leaderboard folder")
    parser.add_argument("--trace-dir", default=None)
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument(
        "--policies", nargs="*", default=None, help="suite labels to run (default: all of them)"
    )
    parser.add_argument(
        "--judge",
        nargs="*",
        default=[],
        metavar="POLICY",
        help="more policies (labels or references such as agent:PATH/ppo.zip) to run and judge",
    )
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"--seeds must be at least 1, got {args.seeds}")
    if args.first_seed < 0:
        parser.error(f"--first-seed must be at least 0, got {args.first_seed}")
    paired = args.seeds >= PAIRED_SEEDS

    trace_dir = use_trace_dir(args.trace_dir)
    out = Path(args.out)
    start = time.perf_counter()
    policies = args.policies
    if args.judge:
        # A judged reference the suite already runs under a label runs once, as the reference.
        suite = [
            p.display for p in load_suite("generalisation").policies if p.name not in args.judge
        ]
        policies = [*(suite if policies is None else policies), *args.judge]
    result = run_leaderboard(
        "generalisation",
        out,
        policies=policies,
        seeds=list(range(args.first_seed, args.first_seed + args.seeds)),
        jobs=args.jobs,
        resume=True,
        plots=not args.no_plots,
    )
    wall = time.perf_counter() - start
    table = cells(result.records)
    print(
        f"generalisation suite: {result.executed} runs executed now, {result.skipped} resumed, "
        f"{result.failed} failed; {wall:.0f} s; trace dir: {trace_dir or 'none (fallbacks)'}"
    )
    print_table(table, [*JUDGED, *BASELINES, *VIDEO_AGENTS])
    met_by: dict[str, int] = {}
    paired_met_by: dict[str, int] = {}
    seed_line: dict[str, list[int]] = {}  # where a target is lost: the seeds won against it
    ran = {p for _, p in table}
    for agent in (a for a in (*JUDGED, *args.judge) if a in ran):
        targets = check(table, agent)
        met = [s for s, t in targets.items() if t.met]
        met_by[agent] = len(met)
        hpa = sum(bool(t.fewer_than["hpa"]) for t in targets.values())
        hor = sum(bool(t.fewer_than["horizontal"]) for t in targets.values())
        print(
            f"\n{agent}: all three targets met on {len(met)} of {len(targets)} scenarios "
            f"(fewer violations than HPA on {hpa}, than horizontal on {hor})"
        )
        for s, t in targets.items():
            me = outcome(table[(s, agent)])
            per_seed = {b: seed_counts(me, outcome(table[(s, b)])) for b in t.lost_to}
            wins = ", ".join(
                f"fewer than {b} on {c.fewer} of {c.seeds} seeds" for b, c in per_seed.items()
            )
            print(f"  {s}: {t}" + (f" (per seed: {wins})" if wins else ""))
            for b, c in per_seed.items():
                seed_line[f"{agent}_{s}_fewer_than_{b}_seeds"] = [c.fewer, c.seeds]
        if paired:
            robust = check(table, agent, paired=True)
            paired_met_by[agent] = sum(t.met for t in robust.values())
            lost = {s: t.lost_to for s, t in robust.items() if not t.met}
            print(
                f"  paired (a baseline dominates only with fewer violations on significantly many "
                f"seeds, sign test at {ALPHA}): met on {paired_met_by[agent]} of {len(robust)}"
                + "".join(f"; {s} lost to {', '.join(b)}" for s, b in lost.items())
            )
    claims = {agent: check(table, agent) for agent in VIDEO_AGENTS}
    for agent, rows in claims.items():
        hpa = sum(bool(t.fewer_than["hpa"]) for t in rows.values())
        hor = sum(bool(t.fewer_than["horizontal"]) for t in rows.values())
        print(f"{agent}: fewer violations than HPA on {hpa}/{len(rows)}, than horizontal on {hor}")
    board = result.board
    ranking = [row.policy for row in board.overall if row.rank is not None] if board else []
    print(f"\noverall ranking (SLO attainment first, then cost): {ranking}")
    line: dict[str, Any] = {
        "benchmark": "generalisation",
        "seeds": args.seeds,
        "first_seed": args.first_seed,
        "runs": len(result.records),
        "failed_runs": result.failed,
        "wall_s": round(wall, 1),
        "scenarios": len({s for s, _ in table}),
        "generalist_scenarios_met": met_by.get(GENERALIST),
        "generalist_variants_scenarios_met": met_by.get("ppo-generalist-variants"),
        "headroom_scenarios_met": met_by.get(HEADROOM[0]),
        "headroom_constant_scenarios_met": met_by.get(HEADROOM[1]),
        "experts_scenarios_met": met_by.get(EXPERTS[0]),
        "experts_constant_scenarios_met": met_by.get(EXPERTS[1]),
        "experts_mbb_scenarios_met": met_by.get(EXPERTS_MBB),
        "experts_jitter_steady_scenarios_met": met_by.get(EXPERTS_JITTER),
        "overall_ranking": ranking,
    }
    line.update({f"{agent}_scenarios_met": n for agent, n in met_by.items() if agent in args.judge})
    if paired:
        line.update({f"{agent}_scenarios_met_paired": n for agent, n in paired_met_by.items()})
    line.update(seed_line)
    for (s, p), c in sorted(table.items()):
        line[f"{s}_{p}_violation"] = round(c["violation"], 4)
        line[f"{s}_{p}_mean_cores"] = round(c["mean_cores"], 2)
    print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
