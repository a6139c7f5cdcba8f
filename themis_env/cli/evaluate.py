r"""``themis-env evaluate``, ``themis-env leaderboard`` and ``themis-env validate``.

Examples::

    themis-env evaluate --policy hpa --scenario smoke-video --seeds 3
    themis-env evaluate --policy mypkg.policies:MyPolicy --scenario video-arxiv-bursty --seeds 2 \\
        --param threshold=0.7 --override episode_s=120
    themis-env leaderboard --suite smoke --out results/smoke --jobs 2
    themis-env leaderboard --suite paper --policies themis hpa agent:agents/zoo/ppo/ppo.zip \\
        --out results/paper --resume
    themis-env validate results/smoke/records.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from themis_env.config.assignments import parse_assignments
from themis_env.errors import ConfigError

if TYPE_CHECKING:
    from themis_env.evaluation.run_record import RunRecord

__all__ = ["add_parser"]

_SUMMARY_KPIS = (
    ("slo_attainment", "SLO attainment", 4),
    ("goodput", "goodput [req/s]", 2),
    ("slo_violation_rate", "SLO violation", 4),
    ("late_or_dropped_fraction", "late/dropped", 4),
    ("mean_cores", "mean cores", 2),
    ("cost", "cost", 1),
    ("latency_p99_ms", "p99 [ms]", 1),
    ("mean_reward", "mean reward", 4),
)


def _use_trace_dir(args: argparse.Namespace) -> None:
    """Put ``--trace-dir`` first on ``THEMIS_TRACE_DIR`` (worker processes inherit it)."""
    trace_dir = getattr(args, "trace_dir", None)
    if not trace_dir:
        return
    if not Path(trace_dir).is_dir():
        raise ConfigError(f"--trace-dir {trace_dir!r} is not a folder")
    current = os.environ.get("THEMIS_TRACE_DIR")
    os.environ["THEMIS_TRACE_DIR"] = os.pathsep.join([trace_dir] + ([current] if current else []))


def _use_trust_agent(args: argparse.Namespace) -> None:
    """``--trust-agent``: let agent policies unpickle legacy files (worker processes inherit it)."""
    if getattr(args, "trust_agent", False):
        from themis_env.evaluation.registry import TRUST_VAR

        os.environ[TRUST_VAR] = "1"


def _use_ray(args: argparse.Namespace) -> None:
    """``--address`` and ``--ray-token-file``: set Ray's own variables, which ``ray.init`` reads."""
    address, token_file = args.address, args.ray_token_file
    for flag, value in (("--address", address), ("--ray-token-file", token_file)):
        if value is not None and args.backend != "ray":
            raise ConfigError(f"{flag} {value!r} needs --backend ray (got {args.backend!r})")
    if address is not None and not address.strip():
        raise ConfigError("--address '' is empty: give HOST:PORT of the Ray head, or auto")
    token_path = None
    if token_file is not None:
        token_path = Path(token_file).expanduser()
        if (
            not token_path.is_file()
            or not token_path.read_text(encoding="utf-8", errors="replace").strip()
        ):
            raise ConfigError(
                f"--ray-token-file {token_file!r} is not a file holding a token (the cluster's, "
                "from `ray get-auth-token` on its head node)"
            )
    if address is not None:
        os.environ["RAY_ADDRESS"] = address
    if token_path is not None:
        # Ray's token authentication: the mode, and the token read from the file by Ray itself
        # (the token never appears on a command line).
        os.environ["RAY_AUTH_MODE"] = "token"
        os.environ["RAY_AUTH_TOKEN_PATH"] = str(token_path.resolve())
        os.environ.pop("RAY_AUTH_TOKEN", None)  # the file given wins over a token in the env


def _seeds(args: argparse.Namespace) -> list[int]:
    if args.seed_list:
        return [int(s) for s in args.seed_list]
    if args.seeds < 1:
        raise ConfigError(f"--seeds {args.seeds} must be ≥ 1")
    return list(range(args.seed_start, args.seed_start + args.seeds))


def _fmt(value: Any, digits: int) -> str:
    if value is None:
        return "n/a"
    return f"{value:.{digits}f}"


def _evaluate(args: argparse.Namespace) -> int:
    _use_trace_dir(args)
    _use_trust_agent(args)
    _use_ray(args)
    from themis_env.evaluation.harness import evaluate_policy

    overrides = parse_assignments(args.override, "--override")
    if args.episode_s is not None:
        overrides["episode_s"] = args.episode_s
    records_path = None if args.no_record else Path(args.out)
    records = evaluate_policy(
        args.policy,
        args.scenario,
        _seeds(args),
        params=parse_assignments(args.param, "--param"),
        overrides=overrides,
        action_mode=args.action_mode,
        obs_mode=args.obs_mode,
        jobs=args.jobs,
        backend=args.backend,
        records_path=records_path,
        progress=not args.quiet,
    )
    if args.json:
        print(json.dumps([_brief(r) for r in records]))
    else:
        _print_summary(records, args)
    if records_path is not None:
        print(
            f"records appended to {records_path} "
            f"(check them with: themis-env validate {records_path})",
            file=sys.stderr,
        )
    return 1 if any(not r.ok for r in records) else 0


def _brief(record: RunRecord) -> dict[str, Any]:
    """What ``evaluate --json`` prints of a record."""
    data = record.to_dict()
    return {k: data[k] for k in ("seed", "status", "kpis", "timing", "trace", "error")}


def _print_summary(records: Sequence[RunRecord], args: argparse.Namespace) -> None:
    from themis_env.evaluation.leaderboard import mean_ci

    headers = ["seed", *(h for _, h, _ in _SUMMARY_KPIS), "decision [ms]", "status"]
    rows = []
    for r in records:
        status = r.status if r.ok else f"failed: {r.error}"
        rows.append(
            [
                str(r.seed),
                *(_fmt(r.kpi(k), d) for k, _, d in _SUMMARY_KPIS),
                _fmt(r.timing.get("decision_ms_mean"), 3),
                status,
            ]
        )
    ok = [r for r in records if r.ok]
    if len(ok) > 1:
        cells = []
        for k, _, d in _SUMMARY_KPIS:
            stat = mean_ci(r.kpi(k) for r in ok)
            cells.append(
                _fmt(stat.mean, d) + (f" ± {stat.ci95:.{d}f}" if stat.ci95 is not None else "")
            )
        stat = mean_ci(r.timing.get("decision_ms_mean") for r in ok)
        rows.append(["mean ± 95% CI", *cells, _fmt(stat.mean, 3), f"{len(ok)}/{len(records)} ok"])
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    print(f"policy {args.policy} on scenario {args.scenario}")
    if any(r.trace_fallback for r in ok):
        print(
            "note: the scenario's trace file is absent here; it ran on its calibrated synthetic "
            "fallback trace"
        )
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def _leaderboard(args: argparse.Namespace) -> int:
    _use_trace_dir(args)
    _use_trust_agent(args)
    _use_ray(args)
    from themis_env.evaluation.harness import run_leaderboard

    overrides = parse_assignments(args.override, "--override")
    if args.episode_s is not None:
        overrides["episode_s"] = args.episode_s
    out = Path(args.out) if args.out else Path("results") / f"leaderboard-{Path(args.suite).stem}"
    result = run_leaderboard(
        args.suite,
        out,
        policies=args.policies,
        seeds=[int(s) for s in args.seed_list] if args.seed_list else None,
        overrides=overrides or None,
        jobs=args.jobs,
        backend=args.backend,
        resume=args.resume,
        plots=not args.no_plots,
        timelines=args.timelines,
        progress=not args.quiet,
        wait=args.wait,
        slo_target=args.slo_target,
    )
    print(
        f"suite {result.suite.name}: {result.executed} runs executed, "
        f"{result.skipped} already done, "
        f"{result.failed} failed"
    )
    board = result.board
    if board is not None:
        print()
        print(f"  ranked by cost among policies meeting SLO attainment {board.slo_target}:")
        for row in board.overall:
            rank = str(row.rank) if row.rank is not None else "-"
            met = {True: "meets target", False: "below target", None: "n/a"}[row.met]
            att = row.kpis["slo_attainment"].mean
            att_text = "n/a" if att is None else f"{att:.4f}"
            cost = "n/a" if row.cost_ratio.mean is None else f"{row.cost_ratio.mean:.3f}"
            extra = " (privileged)" if row.privileged else ""
            extra += f" ({row.runs_failed} failed)" if row.runs_failed else ""
            if row.scenarios < row.scenarios_total:
                extra += f" ({row.scenarios}/{row.scenarios_total} scenarios)"
            print(
                f"  {rank:>3}  {row.policy:<24} {met:<13} attainment {att_text}  "
                f"cost ratio {cost}{extra}"
            )
        if board.fallback_scenarios:
            print(
                f"  note: synthetic fallback trace used for {', '.join(board.fallback_scenarios)}"
            )
    print()
    print(f"report:  {out / 'leaderboard.html'}")
    print(f"tables:  {out / 'leaderboard.md'} (.csv, .json)")
    print(f"records: {out / 'records.jsonl'}")
    if not args.no_plots:
        print(f"plots:   {out / 'plots'}")
    return 1 if result.failed else 0


def _validate(args: argparse.Namespace) -> int:
    _use_trace_dir(args)
    _use_trust_agent(args)
    from themis_env.evaluation.records import scan_records
    from themis_env.evaluation.validation import validate_records

    path = Path(args.record_file)
    if path.is_dir():
        raise ConfigError(
            f"record file {str(path)!r} is a folder; give a records file, e.g. "
            f"{str(path / 'records.jsonl')!r}"
        )
    if not path.is_file():
        raise ConfigError(f"record file {str(path)!r} does not exist")
    scan = scan_records(path)
    lines = [number for number, _ in scan.records]
    results = validate_records(
        [r for _, r in scan.records], rtol=args.rtol, jobs=args.jobs, rerun=args.rerun_policy
    )
    counts: dict[str, int] = {}
    for res in results:
        counts[res.status] = counts.get(res.status, 0) + 1
        if res.status == "ok" and not args.verbose and not res.notes:
            continue
        print(
            f"[{res.status.upper()}] record {res.index} (line {lines[res.index]}, {res.label}) "
            f"key {res.key}"
        )
        for kpi, recorded, replayed in res.diffs:
            print(f"    {kpi}: recorded {recorded!r}, replayed {replayed!r}")
        for note in res.notes:
            print(f"    note: {note}")
    broken = [bad for bad in scan.bad if not bad.interrupted]
    for bad in scan.bad:
        what = "INTERRUPTED" if bad.interrupted else "BAD LINE"
        print(f"[{what}] line {bad.number}: {bad.message}")
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    print(f"{path}: {len(results)} records: {summary or 'none'}")
    if broken:
        print(f"{path}: {len(broken)} line(s) are not valid records")
    if not results and not scan.bad:
        print(f"{path}: the file holds no records")
    failed = counts.get("mismatch") or counts.get("error") or broken or not results
    return 1 if failed else 0


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--jobs", "-j", type=int, default=1, help="parallel workers (default 1)")
    p.add_argument(
        "--backend",
        choices=("process", "ray"),
        default="process",
        help="process pool (default) or Ray (pip install 'themis-env[ray]')",
    )
    p.add_argument(
        "--address",
        default=None,
        metavar="HOST:PORT",
        help="with --backend ray: the Ray cluster to join (its head's GCS address, as `ray start "
        "--head` prints it, or auto; sets RAY_ADDRESS). Default: RAY_ADDRESS if set, else a "
        "local Ray started for the command",
    )
    p.add_argument(
        "--ray-token-file",
        default=None,
        metavar="PATH",
        help="with --backend ray: a file holding the token of a cluster with token "
        "authentication (`ray get-auth-token` on its head; sets RAY_AUTH_MODE=token and "
        "RAY_AUTH_TOKEN_PATH)",
    )
    p.add_argument(
        "--override",
        action="append",
        metavar="KEY=VALUE",
        help="scenario override for every run, e.g. episode_s=60 or cluster.nodes=1 (repeatable)",
    )
    p.add_argument("--episode-s", type=int, default=None, help="episode length [s] (an override)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    _add_trace_dir(p)
    _add_trust_agent(p)


def _add_trust_agent(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--trust-agent",
        action="store_true",
        help="allow agent:PATH.zip agents saved only as pickles (the zip and .vecnormalize.pkl, "
        "which run code when loaded); only for agents whose source you trust. Agents with "
        "their .policy.npz load without it",
    )


def _add_trace_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--trace-dir",
        default=None,
        help="folder holding named real traces (added to THEMIS_TRACE_DIR); without the trace a "
        "scenario runs on its synthetic fallback and says so",
    )


def add_parser(subparsers: Any) -> None:
    """Add the ``evaluate``, ``leaderboard`` and ``validate`` commands."""
    p = subparsers.add_parser(
        "evaluate",
        help="score one policy on one scenario over seeds",
        description="Score one policy on one scenario over several seeds.",
    )
    p.add_argument(
        "--policy",
        required=True,
        metavar="NAME|module:Class|agent:PATH.zip",
        help="a registered policy name, an importable class, or a stable-baselines3 agent zip",
    )
    p.add_argument("--scenario", required=True, help="scenario name or YAML path")
    p.add_argument("--seeds", type=int, default=1, help="number of seeds (default 1)")
    p.add_argument("--seed-start", type=int, default=0, help="first seed (default 0)")
    p.add_argument(
        "--seed-list", nargs="+", metavar="SEED", help="explicit seeds (instead of --seeds)"
    )
    p.add_argument(
        "--param", action="append", metavar="KEY=VALUE", help="policy parameter (repeatable)"
    )
    p.add_argument(
        "--action-mode",
        choices=("target", "delta", "continuous"),
        default=None,
        help="env action mode (default: target; a learned agent's own)",
    )
    p.add_argument(
        "--obs-mode",
        choices=("dict", "flat"),
        default=None,
        help="env observation mode (default: dict; a learned agent's own)",
    )
    p.add_argument("--out", default="results/evaluate.jsonl", help="records file to append to")
    p.add_argument("--no-record", action="store_true", help="do not write records")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    _add_run_options(p)
    p.set_defaults(func=_evaluate)

    p = subparsers.add_parser(
        "leaderboard",
        help="run a suite and write ranked tables, records and plots",
        description="Run a suite (policies x scenarios x seeds) and write the leaderboard.",
    )
    p.add_argument("--suite", required=True, help="suite name (configs/suites) or YAML path")
    p.add_argument(
        "--policies",
        nargs="+",
        metavar="POLICY",
        help="policies to run instead of the suite's (suite labels, names, module:Class or "
        "agent:PATH.zip); the suite's reference policies are added",
    )
    p.add_argument("--seed-list", nargs="+", metavar="SEED", help="seeds instead of the suite's")
    p.add_argument("--out", default=None, help="output folder (default results/leaderboard-SUITE)")
    p.add_argument(
        "--resume", action="store_true", help="continue an existing folder, skipping finished runs"
    )
    p.add_argument(
        "--wait",
        action="store_true",
        help="if another leaderboard is working in --out, wait for it (default: refuse at once)",
    )
    p.add_argument("--no-plots", action="store_true", help="do not draw figures")
    p.add_argument(
        "--timelines",
        choices=("all", "first-seed", "none"),
        default="first-seed",
        help="timeline figures: one per run, one per scenario and policy (default), or none",
    )
    p.add_argument(
        "--slo-target",
        type=float,
        default=None,
        metavar="FRACTION",
        help="SLO attainment a policy must reach to be ranked by cost (default: the suite's, "
        "0.99 unless it says otherwise)",
    )
    _add_run_options(p)
    p.set_defaults(func=_leaderboard)

    p = subparsers.add_parser(
        "validate",
        help="replay records and report any whose KPIs differ",
        description="Replay every record of a file and compare its KPIs.",
    )
    p.add_argument("record_file", metavar="RECORD_FILE", help="a records .jsonl file")
    p.add_argument("--rtol", type=float, default=1e-9, help="relative tolerance for float KPIs")
    p.add_argument("--verbose", "-v", action="store_true", help="list matching records too")
    p.add_argument("--jobs", "-j", type=int, default=1, help="parallel replays (default 1)")
    p.add_argument(
        "--rerun-policy",
        action="store_true",
        help="also run each policy again and compare its actions (is the policy deterministic?)",
    )
    _add_trace_dir(p)
    _add_trust_agent(p)
    p.set_defaults(func=_validate)
