"""Run records: one JSON object per line, written so that nothing is ever lost or corrupted.

A record (:class:`~themis_env.evaluation.run_record.RunRecord`) holds everything needed to
check a result later: the env id and version, the full scenario config and its hash, the env
spec JSON, the seed, the policy and its parameters, the package version, the KPIs and the
action sequence.

Writing: each record is one ``write`` of one line, flushed and fsynced before the next run is
reported, so a crash or Ctrl-C can at worst leave a partial *last* line. Reading skips such a
line with a warning, and :class:`RecordWriter` cuts it off before appending, so the file stays
valid JSON lines. A complete line that is not a valid record is an error naming the line.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from themis_env.errors import RecordError
from themis_env.evaluation.run_record import SCHEMA_VERSION, RunRecord

__all__ = [
    "SCHEMA_VERSION",
    "RecordWriter",
    "canonical_json",
    "config_hash",
    "json_safe",
    "latest_by_key",
    "read_json_lines",
    "read_records",
    "repair_tail",
    "run_key",
]


def json_safe(value: Any) -> Any:
    """Plain JSON data: NumPy scalars and arrays become Python values, NaN and ±inf become None."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


def canonical_json(value: Any) -> str:
    """Deterministic compact JSON (sorted keys) for hashing."""
    return json.dumps(json_safe(value), sort_keys=True, separators=(",", ":"), allow_nan=False)


def config_hash(scenario: Mapping[str, Any], pipeline: Mapping[str, Any] | None = None) -> str:
    """SHA-256 of the scenario config and of the pipeline (with its models) it runs."""
    payload = {"scenario": scenario, "pipeline": pipeline}
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def run_key(
    *,
    suite: str | None,
    scenario: str,
    policy: str,
    params: Mapping[str, Any],
    seed: int,
    config: str,
    action_mode: str,
    obs_mode: str,
) -> str:
    """The identity of a run for resuming: suite, scenario, policy and params, seed, config hash."""
    payload = {
        "suite": suite,
        "scenario": scenario,
        "policy": policy,
        "params": params,
        "seed": seed,
        "config_hash": config,
        "action_mode": action_mode,
        "obs_mode": obs_mode,
    }
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()[:24]


class RecordWriter:
    """Append run records (or other JSON objects) to a JSON-lines file, one fsynced line each.

    Opening repairs a file whose last line was cut by a crash (the partial line is removed with a
    warning), so new records never glue onto a broken one.

    Args:
        path: The ``.jsonl`` file; created with its folder if absent.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        repair_tail(self.path)
        self._file = open(self.path, "a", encoding="utf-8")

    def append(self, record: RunRecord | Mapping[str, Any]) -> None:
        """Write one record durably (one write call, flush, fsync)."""
        if isinstance(record, RunRecord):
            line = record.to_json() + "\n"
        else:
            line = json.dumps(json_safe(record), separators=(",", ":"), allow_nan=False) + "\n"
        self._file.write(line)
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def repair_tail(path: Path) -> None:
    """Remove a partial last line (an interrupted write) from a JSON-lines file, with a warning."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return
        data_end = f.seek(0, os.SEEK_END)
        # Find the last newline; everything after it is the partial record.
        block = 1 << 16
        pos = data_end
        cut = 0
        while pos > 0:
            start = max(0, pos - block)
            f.seek(start)
            chunk = f.read(pos - start)
            idx = chunk.rfind(b"\n")
            if idx >= 0:
                cut = start + idx + 1
                break
            pos = start
        warnings.warn(
            f"{path}: removing a partial last record ({data_end - cut} bytes from an interrupted "
            "write)",
            stacklevel=3,
        )
        f.truncate(cut)
        f.flush()
        os.fsync(f.fileno())


def read_records(path: str | Path) -> list[RunRecord]:
    """All run records of a JSON-lines file, in file order.

    A line that is not a JSON object (an interrupted write) is skipped with a warning that
    names the file and line.

    Raises:
        FileNotFoundError: when the file does not exist.
        RecordError: for a JSON object that is not a valid record (names the line and field).
    """
    records = []
    for number, data in read_json_lines(path, numbered=True):
        try:
            records.append(RunRecord.from_dict(data))
        except RecordError as exc:
            raise RecordError(f"{path}, line {number}: {exc}") from None
    return records


def read_json_lines(path: str | Path, numbered: bool = False) -> list[Any]:
    """The JSON objects of a JSON-lines file, in file order (``(line, object)`` if ``numbered``).

    A line that is not a JSON object (an interrupted write) is skipped with a warning that
    names the file and line.

    Raises:
        FileNotFoundError: when the file does not exist.
    """
    path = Path(path)
    records: list[Any] = []
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if not isinstance(record, dict):
            where = "last line" if number >= len(lines) - 1 else f"line {number}"
            warnings.warn(
                f"{path}: {where} is not a complete record (interrupted write?); skipped",
                stacklevel=3,
            )
            continue
        records.append((number, record) if numbered else record)
    return records


def latest_by_key(records: Iterable[RunRecord]) -> dict[str, RunRecord]:
    """The last record of each run key (a re-run after a failure supersedes the failure)."""
    return {record.key: record for record in records if record.key}
