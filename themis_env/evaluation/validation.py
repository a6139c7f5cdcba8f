"""Check records by replaying them: same config, seed and actions must give the same KPIs.

The replay rebuilds the env from the record's own scenario config (not from the shipped file
of that name, which may have changed since), resets it with the record's seed and feeds it the
recorded actions through the same :func:`~themis_env.evaluation.rollout.rollout` the run used,
so no policy code is needed and the KPIs are computed the same way. The simulator is
bit-deterministic, so any KPI that differs beyond a float tolerance means the env's dynamics
(or the pipeline profiles it reads) changed, or the record was edited. A record's digest is
checked too: one that does not match is a mismatch even before the replay.
"""

from __future__ import annotations

import math
import tempfile
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from themis_env.config import load_pipeline, to_plain
from themis_env.evaluation.records import config_hash, json_safe, read_records
from themis_env.evaluation.rollout import rollout
from themis_env.evaluation.run_record import RunRecord

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


class _ReplayPolicy:
    """Plays back a record's actions, one per step, in the env's action dtype."""

    def __init__(self, actions: Sequence[Any], dtype: Any) -> None:
        self.actions = actions
        self.dtype = dtype
        self.step = 0

    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]:
        if self.step >= len(self.actions):
            raise ValueError(
                f"the replayed episode did not end after the record's {len(self.actions)} actions"
            )
        action = np.asarray(self.actions[self.step], dtype=self.dtype)
        self.step += 1
        return action, state


def replay_kpis(record: RunRecord) -> tuple[dict[str, Any], bool]:
    """Replay a record's actions; return its KPIs (same fields as the record's) and trace fallback.

    Raises:
        ValueError: when the episode ends before the actions run out, or vice versa.
    """
    import gymnasium as gym

    import themis_env  # noqa: F401 (registers the env ids)
    from themis_env.evaluation.runner import ENV_ID

    actions = record.actions or []
    with tempfile.TemporaryDirectory(prefix="themis-replay-") as tmp:
        path = Path(tmp) / "scenario.yaml"
        path.write_text(yaml.safe_dump(record.scenario_config, sort_keys=False), encoding="utf-8")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the trace fallback warning is reported as a note
            env = gym.make(
                record.env_id or ENV_ID,
                scenario=str(path),
                action_mode=record.action_mode,
                obs_mode=record.obs_mode,
            )
            try:
                policy = _ReplayPolicy(actions, env.action_space.dtype)
                episode = rollout(env, policy, record.seed)
            finally:
                env.close()
    if episode.steps != len(actions):
        raise ValueError(
            f"the replayed episode ended after {episode.steps} steps; the record has "
            f"{len(actions)} actions"
        )
    return json_safe(episode.kpis), episode.trace_fallback


def validate_record(
    index: int, record: RunRecord, rtol: float = 1e-9, rerun: bool = False
) -> ValidationResult:
    """Replay one record and compare its KPIs.

    With ``rerun`` the policy is also run again from the record's spec, and its actions and
    KPIs must match too (this checks the policy's determinism, and needs the policy's code).
    """
    result = ValidationResult(index, record.key, record.label, "ok")
    digest = record.digest_status
    if digest == "mismatch":
        result.diffs.append(("digest", record.digest, record.compute_digest()))
        result.notes.append("the record does not match its digest: it was edited after writing")
    elif digest == "none":
        result.notes.append("no digest (a schema-1 record): checked by replay only")
    if not record.ok:
        result.status = "mismatch" if result.diffs else "skipped"
        result.notes.append(f"failed run ({record.error}); nothing to replay")
        return result
    try:
        kpis, fallback = replay_kpis(record)
    except Exception as exc:  # noqa: BLE001 (reported per record; the others still run)
        result.status = "error"
        result.notes.append(f"replay failed: {type(exc).__name__}: {exc}")
        return result
    recorded = record.kpis or {}
    # A KPI the record lacks was added after it was written: noted, not compared.
    added = sorted(set(kpis) - set(recorded))
    if added:
        result.notes.append(f"KPIs newer than the record, not compared: {', '.join(added)}")
    result.diffs += compare_kpis(recorded, {k: v for k, v in kpis.items() if k in recorded}, rtol)
    if fallback != record.trace_fallback:
        result.notes.append(
            "trace availability differs: the record "
            + ("used" if record.trace_fallback else "did not use")
            + " the synthetic fallback trace, the replay "
            + ("did" if fallback else "did not")
        )
    try:
        scenario = record.scenario_config or {}
        current = config_hash(scenario, to_plain(load_pipeline(scenario["pipeline"])))
        if record.config_hash and current != record.config_hash:
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


def _check_rerun(record: RunRecord, result: ValidationResult, rtol: float) -> None:
    from themis_env.evaluation.runner import RunSpec, run_episode

    if not record.spec:
        result.notes.append("the record has no run spec; cannot re-run its policy")
        return
    again = run_episode(RunSpec.from_dict({**record.spec, "timeline": False}))
    if not again.ok:
        result.diffs.append(("status", "ok", f"failed: {again.error}"))
        return
    recorded, rerun_actions = record.actions or [], again.actions or []
    if recorded != rerun_actions:
        first = next(
            (i for i, (a, b) in enumerate(zip(recorded, rerun_actions, strict=False)) if a != b),
            min(len(recorded), len(rerun_actions)),
        )
        result.diffs.append(("actions", f"{len(recorded)} steps", f"differ from step {first}"))
    result.diffs += [
        (f"rerun.{k}", a, b) for k, a, b in compare_kpis(record.kpis or {}, again.kpis or {}, rtol)
    ]


def validate_records(
    records: Iterable[RunRecord] | str | Path,
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
