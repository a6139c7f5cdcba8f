"""Which fixed expert meets the generalisation targets where? A menu for ``ppo-themis-experts``.

Runs ``themis-experts`` (:class:`~themis_env.agents.residual.ConstantExpertPolicy`: Themis,
horizontal-only or per stage the larger of the two, planning for the observed load times a
fixed factor) for every member of a menu, beside the baselines, through the leaderboard
harness on the scenarios of a suite (default ``generalisation``), and prints per scenario
which members meet the generalist's three targets (fewer SLO violations than HPA and than
horizontal-only, no non-privileged baseline with fewer violations at fewer mean cores).

Run: ``python benchmarks/experts_menu.py [--suite generalisation] [--seeds 3] [--out DIR]``
(resumes ``--out``). ``--members themis:1.02 ...`` runs those members instead of the menu: Themis
planning for 2 % more load is Themis in all but name, so the scenarios where it misses the
targets measure how often chance alone decides a verdict at this many seeds (the noise floor).
The last line is one JSON object::

    {"benchmark": "experts_menu", "<member>_met": [scenarios], "covered": k, ...}

From 10 seeds on it also gives each member's paired verdict (``<member>_met_paired``): a baseline
dominates only with fewer violations on significantly many seeds (a sign test).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from themis_env.agents.residual import parse_member

from themis_env.errors import ConfigError
from themis_env.evaluation.harness import run_leaderboard
from themis_env.evaluation.suites import PolicyEntry, load_suite
from themis_env.evaluation.targets import TARGET_BASELINES
from themis_env.resources import use_trace_dir

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generalisation import BASELINES, PAIRED_SEEDS, cells, check  # noqa: E402

MENU = {
    "themis": (0.85, 1.0, 1.15, 1.3, 1.5, 1.75, 2.0),
    "horizontal": (1.0, 1.15, 1.3, 1.5, 1.75, 2.0),
    "max": (1.0, 1.15, 1.3, 1.5),
}


def label(expert: str, factor: float) -> str:
    """The table label of one member, e.g. ``max-1.15``."""
    return f"{expert}-{factor:g}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default="generalisation")
    parser.add_argument("--scenarios", nargs="*", default=None, help="a subset of the suite's")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first..first+seeds-1")
    parser.add_argument(
        "--members", nargs="*", default=None, help="expert:factor (themis:1.02); default the menu"
    )
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", default="results/experts-menu")
    parser.add_argument("--trace-dir", default=None)
    args = parser.parse_args(argv)
    use_trace_dir(args.trace_dir)
    suite = load_suite(args.suite)
    scenarios = tuple(
        s for s in suite.scenarios if not args.scenarios or s.display in args.scenarios
    )
    try:
        chosen = (
            [parse_member(m, "--members") for m in args.members]
            if args.members is not None
            else [(e, f) for e, factors in MENU.items() for f in factors]
        )
    except ConfigError as exc:
        parser.error(str(exc))
    members = [
        PolicyEntry(name="themis-experts", params={"expert": e, "factor": f}, label=label(e, f))
        for e, f in chosen
    ]
    baselines = [p for p in suite.policies if p.display in TARGET_BASELINES]
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    config = dataclasses.replace(suite, scenarios=scenarios, policies=(*baselines, *members))
    result = run_leaderboard(
        config, Path(args.out), seeds=seeds, jobs=args.jobs, resume=True,
        plots=False, progress=False,
    )  # fmt: skip
    table = cells(result.records)
    out: dict[str, Any] = {
        "benchmark": "experts_menu",
        "suite": args.suite,
        "seeds": args.seeds,
        "first_seed": args.first_seed,
    }
    covered = set()
    for m in members:
        targets = check(table, m.display)
        met = sorted(s for s, t in targets.items() if t.met)
        covered |= set(met)
        out[f"{m.display}_met"] = met
        paired = ""
        if args.seeds >= PAIRED_SEEDS:
            robust = check(table, m.display, paired=True)
            out[f"{m.display}_met_paired"] = sorted(s for s, t in robust.items() if t.met)
            paired = f" ({len(out[f'{m.display}_met_paired'])} paired)"
        print(f"{m.display:>16}: {len(met):>2} of {len(targets)}{paired}")
    for s in sorted({s for s, _ in table}):
        row = {p: table[(s, p)] for p in [*BASELINES, *(m.display for m in members)]
               if (s, p) in table}  # fmt: skip
        print(s)
        for p, c in row.items():
            ok = p in [m.display for m in members] and s in out[f"{p}_met"]
            print(f"  {p:>16} {c['violation']:.4f} / {c['mean_cores']:5.1f} {'*' if ok else ''}")
            out[f"{s}_{p}"] = [round(c["violation"], 4), round(c["mean_cores"], 2)]
    out["covered"] = len(covered)
    out["scenarios"] = len({s for s, _ in table})
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
