"""Variants reproduction: InfAdapter against VPA and MSP, IPA against FA2-low/high and RIM-high.

Runs the ``variants`` suite through the leaderboard harness: InfAdapter, MSP and VPA (on the
variant the initial configuration runs, ResNet18, and on ResNet50) on ``infadapter-resnet``
(InfAdapter's setting); IPA, FA2-low, FA2-high and RIM-high on ``video-arxiv-variants`` (the
Themis video pipeline with ResNet classifier variants) and on ``ipa-video-{bursty,steady-low,
steady-high,fluctuating}`` (IPA's video setting: YOLOv5 × ResNet variants on the four IPA
windows; keys prefixed with the scenario). It prints each policy's SLO violation
rate, cost, mean cores and accuracy per scenario, and the papers' comparisons:

* InfAdapter (arXiv 2304.10892) claims up to 65 % fewer SLO violations and 33 % lower cost than
  VPA: ``infadapter_vs_vpa_violation_reduction`` = 1 − viol(infadapter)/viol(vpa), and
  ``infadapter_vs_vpa_cost_reduction`` = 1 − cost(infadapter)/cost(vpa) (also against
  ``vpa-resnet50``);
* IPA (arXiv 2308.12871) claims up to 21 % higher accuracy than the scaling-only baselines at a
  small cost increase: ``ipa_vs_fa2_low_accuracy_gain`` = acc(ipa)/acc(fa2-low) − 1 (the env's
  pipeline accuracy KPI), ``ipa_vs_fa2_high_cost_ratio`` = cost(ipa)/cost(fa2-high) and
  ``ipa_vs_fa2_low_cost_ratio``.

The runs are recorded in ``--out/records.jsonl`` and an interrupted run resumes where it
stopped; InfAdapter and MSP refuse the two-stage video scenario (recorded as failed runs). The
real trace is used when found (``--trace-dir``, ``THEMIS_TRACE_DIR`` or the team's shared
traces); otherwise the scenarios' synthetic fallbacks, and the output says so.

Run: ``python benchmarks/variants_reproduction.py [--seeds 5] [--jobs 2]``. The last line is one
JSON object with the keys above, per-cell means and the trace-fallback flags; a key is null where
its denominator is 0.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from themis_env.evaluation.harness import run_leaderboard
from themis_env.evaluation.run_record import RunRecord
from themis_env.resources import use_trace_dir

KPIS = ("slo_violation_rate", "cost", "mean_cores", "accuracy")
INFADAPTER = "infadapter-resnet"
VIDEO = "video-arxiv-variants"
# IPA's own setting: YOLOv5 x ResNet variants, profiled here, on the four IPA windows.
IPA_VIDEO = tuple(f"ipa-video-{w}" for w in ("bursty", "steady-low", "steady-high", "fluctuating"))


def cell_means(records: list[RunRecord]) -> tuple[dict[tuple[str, str], dict[str, float]], dict]:
    """Mean KPIs per (scenario, policy label) over seeds, and the trace-fallback flags."""
    cells: dict[tuple[str, str], list[RunRecord]] = defaultdict(list)
    fallback: dict[str, bool] = {}
    for r in records:
        if r.ok:
            cells[(r.scenario, r.policy.label)].append(r)
            fallback[r.scenario] = fallback.get(r.scenario, False) or r.trace_fallback
    means = {
        key: {k: float(np.mean([r.kpi(k) for r in runs])) for k in KPIS} | {"seeds": len(runs)}
        for key, runs in cells.items()
    }
    return means, fallback


def _ratio(num: float | None, den: float | None) -> float | None:
    return None if num is None or den is None or den == 0 else num / den


def comparisons(means: dict[tuple[str, str], dict[str, float]]) -> dict[str, float | None]:
    """The papers' comparisons from the cell means (None where a cell is missing)."""

    def get(scenario: str, label: str, kpi: str) -> float | None:
        cell = means.get((scenario, label))
        return None if cell is None else cell[kpi]

    out: dict[str, float | None] = {}
    for vpa in ("vpa", "vpa-resnet50"):
        key = "vpa" if vpa == "vpa" else "vpa_resnet50"
        for kpi, name in (("slo_violation_rate", "violation"), ("cost", "cost")):
            r = _ratio(get(INFADAPTER, "infadapter", kpi), get(INFADAPTER, vpa, kpi))
            out[f"infadapter_vs_{key}_{name}_reduction"] = None if r is None else 1 - r
    r = _ratio(get(INFADAPTER, "infadapter", "accuracy"), get(INFADAPTER, "msp", "accuracy"))
    out["infadapter_vs_msp_accuracy_gain"] = None if r is None else r - 1
    for scenario in (VIDEO, *IPA_VIDEO):
        # The video-arxiv-variants keys keep their names; ipa-video ones are prefixed.
        prefix = "" if scenario == VIDEO else f"{scenario}_"
        r = _ratio(get(scenario, "ipa", "accuracy"), get(scenario, "fa2-low", "accuracy"))
        out[f"{prefix}ipa_vs_fa2_low_accuracy_gain"] = None if r is None else r - 1
        out[f"{prefix}ipa_vs_fa2_high_cost_ratio"] = _ratio(
            get(scenario, "ipa", "cost"), get(scenario, "fa2-high", "cost")
        )
        out[f"{prefix}ipa_vs_fa2_low_cost_ratio"] = _ratio(
            get(scenario, "ipa", "cost"), get(scenario, "fa2-low", "cost")
        )
    return out


def print_table(means: dict[tuple[str, str], dict[str, float]], fallback: dict[str, bool]) -> None:
    """One block per scenario: each policy's mean violation, cost, cores and accuracy."""
    for scenario in sorted({s for s, _ in means}):
        trace = "synthetic fallback trace" if fallback.get(scenario) else "real Twitter trace"
        print(f"\n{scenario} ({trace})")
        print(
            f"  {'policy':<16} {'violation':>10} {'cost':>12} {'mean cores':>10} "
            f"{'accuracy':>9} seeds"
        )
        for (s, label), m in sorted(means.items()):
            if s == scenario:
                print(
                    f"  {label:<16} {m['slo_violation_rate']:>10.4f} {m['cost']:>12.1f} "
                    f"{m['mean_cores']:>10.2f} {m['accuracy']:>9.4f} {m['seeds']:>5}"
                )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds per scenario and policy")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--out", default="results/variants-reproduction", help="folder (resumed)")
    parser.add_argument("--trace-dir", default=None, help="folder holding twitter-2021-08")
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_args(argv)

    trace_dir = use_trace_dir(args.trace_dir)
    out = Path(args.out)
    start = time.perf_counter()
    result = run_leaderboard(
        "variants",
        out,
        seeds=list(range(args.seeds)),
        jobs=args.jobs,
        resume=True,
        plots=not args.no_plots,
    )
    wall = time.perf_counter() - start
    means, fallback = cell_means(result.records)
    print(
        f"variants suite: {result.executed} runs executed now, {result.skipped} resumed, "
        f"{result.failed} failed (InfAdapter and MSP refuse the video pipeline); {wall:.0f} s; "
        f"trace dir: {trace_dir or 'none (fallback traces)'}"
    )
    print_table(means, fallback)
    print(f"\nleaderboard: {out / 'leaderboard.md'}; records: {out / 'records.jsonl'}")
    line: dict[str, Any] = {
        "benchmark": "variants",
        "seeds": args.seeds,
        "runs": len(result.records),
        "failed_runs": result.failed,
        "wall_s": round(wall, 1),
        **comparisons(means),
        **{
            f"{s}_{label}_{k}": v
            for (s, label), m in sorted(means.items())
            for k, v in m.items()
            if k != "seeds"
        },
        **{f"{s}_trace_fallback": used for s, used in sorted(fallback.items())},
    }
    print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
