"""The leaderboard and evaluate workflows behind the CLI (and usable from Python).

A leaderboard folder holds::

    records.jsonl        one record per finished run (appended as runs finish)
    run.json             the suite, policies, seeds and package version of the last invocation
    leaderboard.md/.csv/.json
    leaderboard.html     the tables, plots and timelines in one self-contained page
    plots/frontier_<scenario>.png, plots/timelines/<scenario>/<policy>_seed<k>.png

With ``jobs > 1`` the runs go to worker processes started by ``forkserver`` (or ``spawn``), so
a script that calls :func:`run_leaderboard` needs the usual ``if __name__ == "__main__":``
guard of multiprocessing code.

Resuming (``resume=True``) reads ``records.jsonl`` and runs only the runs whose key (suite,
scenario, policy and params, seed, config hash) has no successful record; failed runs are
retried, and so are runs whose record does not match its digest (edited by hand), which the
tables leave out too. Without ``resume`` an existing ``records.jsonl`` is an error, so no
result is ever overwritten by accident. The folder is locked while a leaderboard works in it
(``.lock``): a second one refuses at once, naming the first one's pid, or waits (``wait``).
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from themis_env.errors import ConfigError, PolicyError
from themis_env.evaluation.folder_lock import FolderLock
from themis_env.evaluation.leaderboard import (
    Leaderboard,
    build_leaderboard,
    write_atomic,
    write_leaderboard,
)
from themis_env.evaluation.parallel import run_specs
from themis_env.evaluation.policies import check_policy_params
from themis_env.evaluation.records import RecordWriter, latest_by_key, read_records, repair
from themis_env.evaluation.run_record import RunRecord
from themis_env.evaluation.runner import RunSpec, package_version, spec_key
from themis_env.evaluation.suites import (
    SuiteConfig,
    check_slo_target,
    load_suite,
    select_policies,
    suite_plan,
)

__all__ = ["LeaderboardResult", "run_leaderboard", "evaluate_policy", "RECORDS_FILE"]

RECORDS_FILE = "records.jsonl"


@dataclass
class LeaderboardResult:
    """What a leaderboard invocation did.

    Attributes:
        suite: The suite.
        out_dir: The leaderboard folder.
        executed: Runs executed now.
        skipped: Runs already finished (resume).
        failed: Runs of the selection whose latest record is a failure.
        board: The leaderboard (None when interrupted).
        paths: Files written (tables and plots).
        records: The latest record of each run of the selection.
    """

    suite: SuiteConfig
    out_dir: Path
    executed: int = 0
    skipped: int = 0
    failed: int = 0
    board: Leaderboard | None = None
    paths: list[Path] = field(default_factory=list)
    records: list[RunRecord] = field(default_factory=list)


def run_leaderboard(
    suite: str | Path | SuiteConfig,
    out_dir: str | Path,
    *,
    policies: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    overrides: Mapping[str, Any] | None = None,
    jobs: int = 1,
    backend: str = "process",
    resume: bool = False,
    plots: bool = True,
    timelines: str = "first-seed",
    progress: bool = True,
    wait: bool = False,
    slo_target: float | None = None,
) -> LeaderboardResult:
    """Run a suite's missing runs, then write its tables and plots.

    Args:
        suite: Suite name, path or loaded config.
        out_dir: Leaderboard folder (created).
        policies: Policy labels or references to run instead of the suite's (the reference
            policies are added).
        seeds: Seeds instead of the suite's.
        overrides: Extra overrides for every scenario (they change the config hash, so the
            runs are distinct from the suite's own).
        jobs: Parallel workers.
        backend: ``process`` or ``ray``.
        resume: Continue an existing folder, skipping finished runs.
        plots: Draw the figures (needs matplotlib; skipped with a warning without it).
        timelines: Which timelines to draw: ``all``, ``first-seed`` or ``none``.
        progress: Show a progress bar.
        wait: When another leaderboard works in ``out_dir``, wait for it instead of refusing.
        slo_target: SLO-attainment target of the ranking instead of the suite's.

    Raises:
        ConfigError: for a bad suite or target, an ``out_dir`` that is a file, an existing
            records file without ``resume``, or a folder another leaderboard is working in
            (without ``wait``).
    """
    config = suite if isinstance(suite, SuiteConfig) else load_suite(suite)
    target = config.slo_target if slo_target is None else check_slo_target(slo_target, "slo_target")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {str(out)!r} is a file; give a folder (created if absent)")
    out.mkdir(parents=True, exist_ok=True)
    with FolderLock(out, wait=wait, what="--out folder"):
        return _run_leaderboard(
            config,
            out,
            policies=policies,
            seeds=seeds,
            overrides=overrides,
            jobs=jobs,
            backend=backend,
            resume=resume,
            plots=plots,
            timelines=timelines,
            progress=progress,
            target=target,
        )


def _run_leaderboard(
    config: SuiteConfig,
    out: Path,
    *,
    policies: Sequence[str] | None,
    seeds: Sequence[int] | None,
    overrides: Mapping[str, Any] | None,
    jobs: int,
    backend: str,
    resume: bool,
    plots: bool,
    timelines: str,
    progress: bool,
    target: float,
) -> LeaderboardResult:
    """:func:`run_leaderboard` once it holds the folder's lock (``target``: SLO attainment)."""
    chosen, added = select_policies(config, policies)
    for entry in chosen:  # a parameter of the wrong type fails here, not in every run
        check_policy_params(entry.name, entry.params)
    specs, skipped = suite_plan(config, chosen, seeds=seeds, extra_overrides=overrides)
    records_path = out / RECORDS_FILE
    if records_path.exists() and not resume:
        raise ConfigError(
            f"{records_path} already exists; pass --resume to continue that leaderboard, or choose "
            "another --out folder"
        )
    keys = [spec_key(s) for s in specs]
    done = {}
    if records_path.exists():
        repair(records_path)
        # A record that does not match its digest is left out (with a warning naming its line
        # and key), so its run is run again and the tables never show the edited figures.
        done = {
            k: r for k, r in latest_by_key(read_records(records_path, verify=True)).items() if r.ok
        }
    todo = [s for s, k in zip(specs, keys, strict=True) if k not in done]
    result = LeaderboardResult(suite=config, out_dir=out, skipped=len(specs) - len(todo))
    manifest = {
        "suite": config.name,
        "suite_file": config.source,
        "policies": [p.display for p in chosen],
        "reference_policies_added": added,
        "seeds": sorted({s.seed for s in specs}),
        "scenarios": [s.display for s in config.scenarios],
        "overrides": dict(overrides or {}),
        "slo_target": target,
        "package_version": package_version(),
        "runs": len(specs),
    }
    write_atomic(out / "run.json", json.dumps(manifest, indent=2) + "\n")
    with RecordWriter(records_path) as writer:
        try:
            result.executed = run_specs(
                todo, writer.append, jobs=jobs, backend=backend, progress=progress
            )
        except KeyboardInterrupt:
            print(
                f"interrupted: every finished run is saved in {records_path}; run the same command "
                "with --resume to finish the rest",
                file=sys.stderr,
            )
            raise
    latest = latest_by_key(read_records(records_path, verify=True))
    selection = [latest[k] for k in keys if k in latest]
    result.records = selection
    result.failed = sum(not r.ok for r in selection)
    notes = list(config.notes)
    if added:
        notes.append(
            f"Reference policies added to the selection for the score: {', '.join(added)}."
        )
    board = build_leaderboard(
        selection,
        config.reference,
        suite=config.name,
        scenarios=[s.display for s in config.scenarios],
        policies=[p.display for p in chosen],
        notes=notes,
        slo_target=target,
        skipped=skipped,
    )
    result.board = board
    result.paths = write_leaderboard(board, out)
    if plots:
        try:
            from themis_env.evaluation.plots import plot_leaderboard

            result.paths += plot_leaderboard(
                board, selection, out, timelines=timelines, jobs=jobs if backend == "process" else 1
            )
        except ImportError as exc:  # DependencyNotInstalled is an ImportError
            warnings.warn(f"plots skipped: {exc}", stacklevel=2)
    from themis_env.evaluation.report import write_report

    meta = {"suite file": config.source, "themis-env (this run)": manifest["package_version"]}
    result.paths.append(write_report(board, out, selection, meta))
    return result


def evaluate_policy(
    policy: str,
    scenario: str,
    seeds: Sequence[int],
    *,
    params: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    action_mode: str | None = None,
    obs_mode: str | None = None,
    jobs: int = 1,
    backend: str = "process",
    records_path: str | Path | None = None,
    progress: bool = True,
) -> list[RunRecord]:
    """Run one policy on one scenario for several seeds; append the records to ``records_path``.

    ``action_mode``/``obs_mode`` None take the policy's own (see
    :func:`~themis_env.evaluation.policies.env_modes`). A ``policy`` that is not a reference
    but a label of the shipped suites (``ppo``) runs the policy they show under it.

    Returns:
        The records in seed order.
    """
    from themis_env.evaluation.policies import env_modes, validate_policy_ref
    from themis_env.evaluation.suites import shipped_policy

    label = None
    try:
        validate_policy_ref(policy)
    except PolicyError:
        entry = shipped_policy(policy)  # a label the leaderboard shows, e.g. ``ppo``
        if entry is None:
            raise
        print(f"policy {policy!r} is the shipped suites' {entry.name}", file=sys.stderr)
        label, policy = policy, entry.name
        params = {**entry.params, **(params or {})}
        action_mode = action_mode or entry.action_mode
        obs_mode = obs_mode or entry.obs_mode
    check_policy_params(policy, params or {})
    action_mode, obs_mode = env_modes(policy, action_mode, obs_mode)
    specs = [
        RunSpec(
            scenario=scenario,
            seed=int(seed),
            policy=policy,
            params=dict(params or {}),
            overrides=dict(overrides or {}),
            policy_label=label,
            action_mode=action_mode,
            obs_mode=obs_mode,
        )
        for seed in seeds
    ]
    if specs:
        spec_key(specs[0])  # loads the scenario with its overrides: a bad one fails here
    records: list[RunRecord] = []
    if records_path is not None:
        with RecordWriter(records_path) as writer:

            def keep(record: RunRecord) -> None:
                writer.append(record)
                records.append(record)

            run_specs(specs, keep, jobs=jobs, backend=backend, progress=progress)
    else:
        run_specs(specs, records.append, jobs=jobs, backend=backend, progress=progress)
    return sorted(records, key=lambda r: r.seed)
