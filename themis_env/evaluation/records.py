"""Run records: one JSON object per line, written so that nothing is ever lost or corrupted.

A record (:class:`~themis_env.evaluation.run_record.RunRecord`) holds everything needed to
check a result later: the env id and version, the full scenario config and its hash, the env
spec JSON, the seed, the policy and its parameters, the package version, the KPIs and the
action sequence.

Writing: each record is one ``write`` of one line, flushed and fsynced before the next run is
reported, so a crash or Ctrl-C can at worst leave a partial *last* line. Reading skips such a
line with a warning, and :class:`RecordWriter` cuts it off before appending (and sets aside
any cut line found in the middle, see :func:`repair`), so the file stays valid JSON lines.
Any other line that is not a valid record is an error naming the line.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from themis_env.errors import RecordError
from themis_env.evaluation.run_record import SCHEMA_VERSION, RunRecord

__all__ = [
    "SCHEMA_VERSION",
    "BadLine",
    "RecordScan",
    "RecordWriter",
    "canonical_json",
    "config_hash",
    "json_safe",
    "latest_by_key",
    "read_json_lines",
    "read_records",
    "repair",
    "run_key",
    "scan_records",
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

    Opening repairs the file (see :func:`repair`: a last line cut by a crash is removed, a cut
    line in the middle set aside, each with a warning), so new records never glue onto a
    broken one.

    Args:
        path: The ``.jsonl`` file; created with its folder if absent.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        repair(self.path)
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


def repair(path: Path) -> None:
    """Make a JSON-lines file whole again before appending to it, saying what was done.

    A last line without its newline is an interrupted write: it is cut off (or, if it is a
    complete JSON object, given its newline). A line in the middle that is not a JSON object
    (a cut write that something appended to) is set aside, appended to ``<file>.rejected``,
    and the file rewritten without it, so a cut line never stays among the records.
    """
    if not path.is_file() or path.stat().st_size == 0:
        return
    _repair_tail(path)
    data = path.read_bytes()
    lines = data.split(b"\n")
    keep, bad = [], []
    for number, line in enumerate(lines[:-1], start=1):  # the file now ends with a newline
        (keep if not line.strip() or _is_object(line) else bad).append((number, line))
    if not bad:
        return
    rejected = path.with_name(path.name + ".rejected")
    with open(rejected, "ab") as f:
        f.write(b"".join(line + b"\n" for _, line in bad))
        f.flush()
        os.fsync(f.fileno())
    _replace_bytes(path, b"".join(line + b"\n" for _, line in keep))
    numbers = ", ".join(str(n) for n, _ in bad)
    warnings.warn(
        f"{path}: line(s) {numbers} are not complete records (cut writes); moved to {rejected}",
        stacklevel=3,
    )


def _is_object(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        return False


def _replace_bytes(path: Path, data: bytes) -> None:
    """Replace a file's content through a temporary file and a rename, keeping its mode."""
    mode = path.stat().st_mode & 0o777
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _repair_tail(path: Path) -> None:
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
        f.seek(cut)
        if _is_object(f.read()):  # complete, only its newline is missing
            f.write(b"\n")
        else:
            warnings.warn(
                f"{path}: removing a partial last record ({data_end - cut} bytes from an "
                "interrupted write)",
                stacklevel=4,
            )
            f.truncate(cut)
        f.flush()
        os.fsync(f.fileno())


@dataclass(frozen=True)
class BadLine:
    """A line of a records file that is not a valid, complete record.

    Attributes:
        number: Line number (1-based).
        message: What is wrong with it.
        interrupted: It is the last line, without its newline: a write that was cut short.
    """

    number: int
    message: str
    interrupted: bool = False


@dataclass
class RecordScan:
    """Every line of a records file, sorted into records and bad lines.

    Attributes:
        path: The file.
        records: ``(line number, record)`` of each valid record, in file order.
        bad: The lines that are not valid, complete records.
    """

    path: Path
    records: list[tuple[int, RunRecord]] = field(default_factory=list)
    bad: list[BadLine] = field(default_factory=list)


def scan_records(path: str | Path) -> RecordScan:
    """Read a records file line by line, keeping each problem instead of stopping at it.

    Raises:
        FileNotFoundError: when the file does not exist.
        RecordError: when ``path`` is a folder.
    """
    path = Path(path)
    if path.is_dir():
        raise RecordError(f"{path} is a folder, not a records file (a .jsonl file)")
    scan = RecordScan(path)
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    lines = text.split("\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            scan.records.append((number, RunRecord.from_json(line)))
        except RecordError as exc:
            cut = number == len(lines) and not _is_object(line.encode())
            message = "not a complete record (an interrupted write)" if cut else str(exc)
            scan.bad.append(BadLine(number, message, interrupted=cut))
    return scan


def read_records(path: str | Path, verify: bool = False) -> list[RunRecord]:
    """All run records of a JSON-lines file, in file order.

    A cut last line (an interrupted write) is skipped with a warning that names the file.
    With ``verify``, a record whose digest does not match its content (edited after it was
    written) is left out with a warning naming the file, line and key; a record without a
    digest (schema 1) is kept.

    Raises:
        FileNotFoundError: when the file does not exist.
        RecordError: for a folder, or a line that is not a valid record (names the line).
    """
    scan = scan_records(path)
    for bad in scan.bad:
        if not bad.interrupted:
            raise RecordError(f"{path}, line {bad.number}: {bad.message}")
        warnings.warn(
            f"{path}: last line is not a complete record (interrupted write?); skipped",
            stacklevel=2,
        )
    records = []
    for number, record in scan.records:
        if verify and record.digest_status == "mismatch":
            warnings.warn(
                f"{path}, line {number}: record {record.key} ({record.label}) does not match "
                "its digest (edited after it was written?); left out",
                stacklevel=2,
            )
            continue
        records.append(record)
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
