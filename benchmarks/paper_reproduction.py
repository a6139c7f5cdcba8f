"""Paper reproduction: Themis against horizontal-only, vertical-only, HPA and VPA.

Runs the ``paper`` suite (the video, sentiment and nlp pipelines on the Themis slice of the
Twitter 2021-08 trace, under the arXiv-code and 2025-code presets) with the five policies and
prints, per pipeline and preset, each policy's SLO violation rate and cost and their ratios to
Themis's (others ÷ Themis; above 1 means Themis does better). The Themis paper (arXiv
2407.14843) reports over 10× fewer SLO violations than horizontal-only and vertical-only at a
similar cost under stable load.

The runs go through the leaderboard harness, so they are recorded in ``--out/records.jsonl``
(checkable with ``themis-env validate``), the tables and plots are written beside them, and an
interrupted run resumes where it stopped. The real trace is used when found (``--trace-dir``,
``THEMIS_TRACE_DIR``, or the team's ``../shared/traces`` beside a checkout); otherwise each
scenario runs on its calibrated synthetic fallback trace, and the output says so.

The cluster places and resizes as the env's current version does (v1: kube-scheduler's spread
placement, the kubelet's deferred resizes); ``--first-fit`` runs v0's dynamics instead (first-fit
placement, failed resizes, as scenario overrides), the figures published before v1.

Run: ``python benchmarks/paper_reproduction.py [--seeds 5] [--jobs 2]``; a quick check of the
machinery: ``--seeds 1 --episode-s 60``. The last line is one JSON object::

    {"benchmark": "paper", "<pipeline>_<preset>_<policy>_violation_ratio": ...,
     "<pipeline>_<preset>_<policy>_cost_ratio": ..., ...}

A ratio is null when Themis's own value is 0 (no violation to compare against).
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

POLICIES = ("themis", "horizontal", "vertical", "hpa", "vpa")


def pipeline_and_preset(record: RunRecord) -> tuple[str, str]:
    """``("video", "arxiv")`` from the record's pipeline reference ``themis-arxiv/video``."""
    ref = str((record.scenario_config or {})["pipeline"])
    preset, _, pipeline = ref.rpartition("/")
    return pipeline, preset.removeprefix("themis-")


def summarise(records: list[RunRecord], baseline: str) -> tuple[dict[str, Any], list[str]]:
    """Per (pipeline, preset, policy): mean violation and cost over seeds, and the ratios."""
    cells: dict[tuple[str, str, str], list[RunRecord]] = defaultdict(list)
    fallback: dict[tuple[str, str], bool] = {}
    failed = []
    for r in records:
        label = r.policy.label
        if not r.ok:
            message = r.error.message if r.error is not None else "no error recorded"
            failed.append(f"{r.scenario}/{label}/seed{r.seed}: {message}")
            continue
        pipe, preset = pipeline_and_preset(r)
        cells[(pipe, preset, label)].append(r)
        fallback[(pipe, preset)] = fallback.get((pipe, preset), False) or r.trace_fallback
    out: dict[str, Any] = {}
    for (pipe, preset, label), runs in sorted(cells.items()):
        viol = float(np.mean([r.kpi("slo_violation_rate") for r in runs]))
        cost = float(np.mean([r.kpi("cost") for r in runs]))
        prefix = f"{pipe}_{preset}_{label}"
        out[f"{prefix}_violation"] = viol
        out[f"{prefix}_cost"] = cost
        out[f"{prefix}_mean_cores"] = float(np.mean([r.kpi("mean_cores") for r in runs]))
        out[f"{prefix}_seeds"] = len(runs)
    for pipe, preset, label in sorted(cells):
        base = f"{pipe}_{preset}_{baseline}"
        if label == baseline or f"{base}_violation" not in out:
            continue
        prefix = f"{pipe}_{preset}_{label}"
        v0, c0 = out[f"{base}_violation"], out[f"{base}_cost"]
        out[f"{prefix}_violation_ratio"] = out[f"{prefix}_violation"] / v0 if v0 > 0 else None
        out[f"{prefix}_cost_ratio"] = out[f"{prefix}_cost"] / c0 if c0 > 0 else None
    for (pipe, preset), used in sorted(fallback.items()):
        out[f"{pipe}_{preset}_trace_fallback"] = used
    return out, failed


def print_table(summary: dict[str, Any], policies: list[str], baseline: str) -> None:
    """One block per pipeline and preset: violation, cost and ratios to the baseline."""
    found = {k.removesuffix("_trace_fallback") for k in summary if k.endswith("_trace_fallback")}
    order = [f"{p}_{s}" for s in ("arxiv", "2025") for p in ("video", "sentiment", "nlp")]
    groups = [g for g in order if g in found] + sorted(found - set(order))
    for group in groups:
        pipe, preset = group.split("_", 1)
        trace = (
            "synthetic fallback trace"
            if summary[f"{group}_trace_fallback"]
            else "real Twitter trace"
        )
        print(f"\n{pipe} ({preset} preset, {trace})")
        print(
            f"  {'policy':<12} {'violation':>10} {'cost':>12} {'mean cores':>10} "
            f"{'viol ÷ ' + baseline:>16} {'cost ÷ ' + baseline:>16}"
        )
        for label in policies:
            prefix = f"{group}_{label}"
            if f"{prefix}_violation" not in summary:
                print(f"  {label:<12} {'(no finished run)':>10}")
                continue
            vr = summary.get(f"{prefix}_violation_ratio")
            cr = summary.get(f"{prefix}_cost_ratio")
            vr_text = "—" if label == baseline else ("inf" if vr is None else f"{vr:.2f}×")
            cr_text = "—" if label == baseline else ("n/a" if cr is None else f"{cr:.2f}×")
            print(
                f"  {label:<12} {summary[f'{prefix}_violation']:>10.4f} "
                f"{summary[f'{prefix}_cost']:>12.1f} {summary[f'{prefix}_mean_cores']:>10.2f} "
                f"{vr_text:>16} {cr_text:>16}"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seeds", type=int, default=5, help="seeds per scenario and policy (default 5)"
    )
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--backend", choices=("process", "ray"), default="process")
    parser.add_argument(
        "--episode-s", type=int, default=None, help="shorter episodes, for a quick check"
    )
    parser.add_argument(
        "--out", default="results/paper-reproduction", help="leaderboard folder (resumed)"
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="start over (the old records file is renamed, not deleted)",
    )
    parser.add_argument("--policies", nargs="+", default=list(POLICIES))
    parser.add_argument("--baseline", default="themis", help="the policy the ratios divide by")
    parser.add_argument(
        "--trace-dir", default=None, help="folder holding the twitter-2021-08 trace"
    )
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument(
        "--first-fit",
        action="store_true",
        help="v0's cluster dynamics: first-fit placement and failed resizes",
    )
    args = parser.parse_args(argv)
    overrides: dict[str, Any] = {"episode_s": args.episode_s} if args.episode_s else {}
    if args.first_fit:
        overrides["cluster"] = {"placement": "first-fit", "resize_policy": "fail"}

    trace_dir = use_trace_dir(args.trace_dir)
    out = Path(args.out)
    if args.fresh and (out / "records.jsonl").exists():  # kept aside, never deleted
        (out / "records.jsonl").rename(out / f"records.{time.strftime('%Y%m%d-%H%M%S')}.jsonl")
    start = time.perf_counter()
    result = run_leaderboard(
        "paper",
        out,
        policies=args.policies,
        seeds=list(range(args.seeds)),
        overrides=overrides or None,
        jobs=args.jobs,
        backend=args.backend,
        resume=True,
        plots=not args.no_plots,
    )
    wall = time.perf_counter() - start
    chosen = list(args.policies)
    summary, failed = summarise(result.records, args.baseline)
    print(
        f"paper suite: {result.executed} runs executed now, {result.skipped} resumed, "
        f"{result.failed} failed; {wall:.0f} s; trace dir: {trace_dir or 'none (fallback traces)'}"
    )
    print_table(summary, chosen + [p for p in ("hpa", "vpa") if p not in chosen], args.baseline)
    if failed:
        print(f"\n{len(failed)} failed runs, e.g.: " + "; ".join(failed[:3]), file=sys.stderr)
    print(f"\nleaderboard: {out / 'leaderboard.md'}; records: {out / 'records.jsonl'}")
    line = {
        "benchmark": "paper",
        "seeds": args.seeds,
        "episode_s": args.episode_s,
        "placement": "first-fit" if args.first_fit else "spread",
        "baseline": args.baseline,
        "runs": len(result.records),
        "failed_runs": result.failed,
        "wall_s": round(wall, 1),
        **{
            k: v
            for k, v in summary.items()
            if k.endswith(("_ratio", "_violation", "_cost", "_fallback"))
        },
    }
    print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
