"""Check records by replaying them: same config, seed and actions must give the same KPIs.

The replay rebuilds the env from the record's own scenario config (not from the shipped file
of that name, which may have changed since), resets it with the record's seed and feeds it the
recorded actions, so no policy code is needed. The simulator is bit-deterministic, so any KPI
that differs beyond a float tolerance means the env's dynamics (or the pipeline profiles it
reads) changed, or the record was edited.
"""

from __future__ import annotations

import math
import tempfile
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from themis_env.config import load_pipeline, to_plain
from themis_env.evaluation.records import config_hash, json_safe, read_records

__all__ = ["ValidationResult", "replay_kpis", "validate_record", "validate_records", "compare_kpis"]


@dataclass
class ValidationResult:
    """Outcome of checking one record.

    Attributes:
        index: Position of the record in its file (0-based).
        key: The record's run key.
        label: ``scenario / policy / seed`` for messages.
        status: ``ok``, ``mismatch``, ``error`` (the replay failed) or ``skipped`` (a failed run).
        diffs: ``(kpi, recorded, replayed)`` for each KPI that differs.
        notes: Explanations (trace availability or pipeline profiles that changed, ...).
    """

    index: int
    key: str
    label: str
    status: str
    diffs: list[tuple[str, Any, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _close(a: Any, b: Any, rtol: float, atol: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return abs(a - b) <= atol + rtol * abs(b)
    return a == b


def compare_kpis(
    recorded: Mapping[str, Any],
    replayed: Mapping[str, Any],
    rtol: float = 1e-9,
    atol: float = 1e-12,
) -> list[tuple[str, Any, Any]]:
    """KPIs that differ: keys in either mapping whose values are not equal within tolerance."""
    diffs = []
    for key in sorted(set(recorded) | set(replayed)):
        a, b = recorded.get(key), replayed.get(key)
        if not _close(a, b, rtol, atol):
            diffs.append((key, a, b))
    return diffs


def replay_kpis(record: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """Replay a record's actions; return its KPIs (same fields as the record's) and trace fallback.

    Raises:
        ValueError: when the episode ends before the actions run out, or vice versa.
    """
    import gymnasium as gym

    import themis_env  # noqa: F401 (registers the env ids)
    from themis_env.evaluation.runner import ENV_ID

    actions = record["actions"]
    with tempfile.TemporaryDirectory(prefix="themis-replay-") as tmp:
        path = Path(tmp) / "scenario.yaml"
        path.write_text(
            yaml.safe_dump(record["scenario_config"], sort_keys=False), encoding="utf-8"
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the trace fallback warning is reported as a note
            env = gym.make(
                record.get("env_id", ENV_ID),
                scenario=str(path),
                action_mode=record.get("action_mode", "target"),
                obs_mode=record.get("obs_mode", "dict"),
            )
            try:
                space = env.action_space
                _, info = env.reset(seed=int(record["seed"]))
                rewards = []
                kpis = None
                for i, action in enumerate(actions):
                    a = np.asarray(action, dtype=space.dtype)
                    _, reward, terminated, truncated, info = env.step(a)
                    rewards.append(float(reward))
                    if terminated or truncated:
                        if i != len(actions) - 1:
                            raise ValueError(
                                f"the replayed episode ended after {i + 1} steps; the record has "
                                f"{len(actions)} actions"
                            )
                        kpis = dict(info["episode_kpis"])
                if kpis is None:
                    raise ValueError(
                        f"the replayed episode did not end after the record's {len(actions)} "
                        "actions"
                    )
            finally:
                env.close()
    fallback = bool(kpis.pop("trace_fallback", False))
    kpis["mean_reward"] = float(np.mean(rewards)) if rewards else 0.0
    kpis["return"] = float(np.sum(rewards))
    kpis["steps"] = len(rewards)
    return json_safe(kpis), fallback


def _label(record: Mapping[str, Any]) -> str:
    policy = record.get("policy") or {}
    name = policy.get("label", policy.get("ref"))
    return f"{record.get('scenario')} / {name} / seed {record.get('seed')}"


def validate_record(
    index: int, record: Mapping[str, Any], rtol: float = 1e-9, rerun: bool = False
) -> ValidationResult:
    """Replay one record and compare its KPIs.

    With ``rerun`` the policy is also run again from the record's spec, and its actions and
    KPIs must match too (this checks the policy's determinism, and needs the policy's code).
    """
    result = ValidationResult(index, str(record.get("key")), _label(record), "ok")
    if record.get("status") != "ok":
        result.status = "skipped"
        error = record.get("error") or {}
        result.notes.append(
            f"failed run ({error.get('type')}: {error.get('message')}); nothing to replay"
        )
        return result
    try:
        kpis, fallback = replay_kpis(record)
    except Exception as exc:  # noqa: BLE001 (reported per record; the others still run)
        result.status = "error"
        result.notes.append(f"replay failed: {type(exc).__name__}: {exc}")
        return result
    result.diffs = compare_kpis(record.get("kpis") or {}, kpis, rtol=rtol)
    recorded_fallback = bool((record.get("trace") or {}).get("fallback", False))
    if fallback != recorded_fallback:
        result.notes.append(
            "trace availability differs: the record "
            + ("used" if recorded_fallback else "did not use")
            + " the synthetic fallback trace, the replay "
            + ("did" if fallback else "did not")
        )
    try:
        scenario = record["scenario_config"]
        current = config_hash(scenario, to_plain(load_pipeline(scenario["pipeline"])))
        if record.get("config_hash") and current != record["config_hash"]:
            result.notes.append(
                "the pipeline or model files differ from the record's (config hash changed); "
                "the replay used the current ones"
            )
    except Exception as exc:  # noqa: BLE001 (informational only)
        result.notes.append(f"cannot recompute the config hash: {exc}")
    if rerun:
        _check_rerun(record, result, rtol)
    if result.diffs:
        result.status = "mismatch"
    return result


def _check_rerun(record: Mapping[str, Any], result: ValidationResult, rtol: float) -> None:
    from themis_env.evaluation.runner import RunSpec, run_episode

    spec = record.get("spec")
    if not spec:
        result.notes.append("the record has no run spec; cannot re-run its policy")
        return
    again = run_episode(RunSpec.from_dict({**spec, "timeline": False}))
    if again["status"] != "ok":
        error = again.get("error") or {}
        result.diffs.append(
            ("status", "ok", f"failed: {error.get('type')}: {error.get('message')}")
        )
        return
    recorded, rerun_actions = record.get("actions") or [], again.get("actions") or []
    if recorded != rerun_actions:
        first = next(
            (i for i, (a, b) in enumerate(zip(recorded, rerun_actions, strict=False)) if a != b),
            min(len(recorded), len(rerun_actions)),
        )
        result.diffs.append(("actions", f"{len(recorded)} steps", f"differ from step {first}"))
    result.diffs += [
        (f"rerun.{k}", a, b)
        for k, a, b in compare_kpis(record.get("kpis") or {}, again["kpis"], rtol)
    ]


def validate_records(
    records: Iterable[Mapping[str, Any]] | str | Path,
    rtol: float = 1e-9,
    jobs: int = 1,
    rerun: bool = False,
) -> list[ValidationResult]:
    """Validate every record of a list or of a JSON-lines file, in order (``jobs`` processes)."""
    if isinstance(records, (str, Path)):
        records = read_records(records)
    records = list(records)
    if jobs <= 1 or len(records) < 2:
        return [validate_record(i, r, rtol, rerun) for i, r in enumerate(records)]
    from concurrent.futures import ProcessPoolExecutor

    from themis_env.evaluation.parallel import mp_context

    with ProcessPoolExecutor(max_workers=jobs, mp_context=mp_context()) as pool:
        n = len(records)
        return list(
            pool.map(validate_record, range(n), records, [rtol] * n, [rerun] * n, chunksize=4)
        )
