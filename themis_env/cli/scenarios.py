"""``themis-env scenarios list|show``: the shipped scenarios and the env ids that run them."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_parser", "scenario_rows"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``scenarios list`` and ``scenarios show NAME``."""
    parser = subparsers.add_parser(
        "scenarios",
        help="list the shipped scenarios or show one in full",
        description="The scenarios shipped in configs/scenarios and the env ids that use them.",
    )
    commands = parser.add_subparsers(dest="scenarios_command", metavar="COMMAND")
    parser.set_defaults(func=lambda args: _no_command(parser))

    listing = commands.add_parser("list", help="one line per scenario")
    listing.add_argument("--tag", default=None, help="only scenarios with this tag (paper, ...)")
    listing.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    listing.set_defaults(func=_cmd_list)

    show = commands.add_parser("show", help="the full scenario after defaults, as YAML or JSON")
    show.add_argument("name", metavar="NAME", help="scenario name or path of a YAML file")
    show.add_argument("--json", action="store_true", help="print JSON instead of YAML")
    show.set_defaults(func=_cmd_show)


def _no_command(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _ids_by_scenario() -> dict[str, list[str]]:
    from themis_env.envs.registration import preset_scenarios

    out: dict[str, list[str]] = {}
    for env_id, scenario in preset_scenarios().items():
        out.setdefault(scenario, []).append(env_id)
    return out


def scenario_rows(tag: str | None = None) -> list[dict[str, Any]]:
    """One summary row per shipped scenario (optionally only those with ``tag``)."""
    from themis_env.config import available, load_pipeline, load_scenario

    ids = _ids_by_scenario()
    rows = []
    for name in available("scenarios"):
        sc = load_scenario(name)
        if tag is not None and tag not in sc.tags:
            continue
        pipeline = load_pipeline(sc.pipeline)
        window = f"{sc.trace.start_s}+{sc.trace.duration_s}" if sc.trace.duration_s else "all"
        rows.append(
            {
                "name": name,
                "pipeline": sc.pipeline,
                "stages": [s.name for s in pipeline.config.stages],
                "slo_ms": float(sc.slo_ms or pipeline.config.slo_ms),
                "trace": sc.trace.uri,
                "window_s": window,
                "divisor": sc.trace.divisor,
                "cluster": f"{sc.cluster.nodes}x{sc.cluster.cores_per_node}",
                "decision_interval_s": sc.decision_interval_s,
                "episode_s": sc.episode_s,
                "cost": sc.cost,
                "tags": list(sc.tags),
                "env_ids": ids.get(name, []),
                "description": sc.description,
            }
        )
    return rows


def _cmd_list(args: argparse.Namespace) -> int:
    rows = scenario_rows(args.tag)
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    header = ("NAME", "PIPELINE", "SLO", "TRACE", "CLUSTER", "DT", "TAGS", "ENV IDS")
    table = [
        (
            r["name"],
            r["pipeline"],
            f"{r['slo_ms']:g}ms",
            r["trace"].split("?")[0],
            r["cluster"],
            f"{r['decision_interval_s']:g}s",
            ",".join(r["tags"]),
            " ".join(i.split("/")[-1] for i in r["env_ids"]) or "-",
        )
        for r in rows
    ]
    widths = [max(len(str(c)) for c in col) for col in zip(header, *table, strict=False)]
    for line in (header, *table):
        print("  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
    print(f"\n{len(rows)} scenarios; `themis-env scenarios show NAME` for one in full.")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    import yaml

    from themis_env.config import load_pipeline, load_scenario, resolve, to_plain

    scenario = load_scenario(args.name)
    pipeline = load_pipeline(scenario.pipeline)
    data = {
        "scenario": to_plain(scenario),
        "file": str(resolve("scenarios", args.name)),
        "pipeline": to_plain(pipeline.config),
        "env_ids": _ids_by_scenario().get(scenario.name, []),
        "make": f'gym.make("themis_env/InferenceCluster-v1", scenario="{args.name}")',
    }
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(yaml.safe_dump(data, sort_keys=False, allow_unicode=True).rstrip())
    return 0
