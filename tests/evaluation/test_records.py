from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest

from themis_env.evaluation.records import (
    RecordWriter,
    config_hash,
    json_safe,
    latest_by_key,
    read_records,
)
from themis_env.evaluation.runner import RunSpec, run_episode
from themis_env.evaluation.validation import compare_kpis, validate_record, validate_records


@pytest.fixture(scope="module")
def record() -> dict:
    from tests.evaluation.helpers import REACTIVE

    spec = RunSpec(scenario="smoke-video", seed=1, policy=REACTIVE, overrides={"episode_s": 20})
    rec = run_episode(spec)
    assert rec["status"] == "ok", rec["error"]
    return rec


def test_records_round_trip(tmp_path: Path, record: dict) -> None:
    path = tmp_path / "out" / "records.jsonl"
    second = dict(record, seed=99)
    with RecordWriter(path) as writer:
        writer.append(record)
        writer.append(second)
    assert read_records(path) == [record, second]
    assert path.read_text().count("\n") == 2


def test_partial_last_line_is_skipped_on_read_and_cut_before_appending(
    tmp_path: Path, record: dict
) -> None:
    path = tmp_path / "records.jsonl"
    with RecordWriter(path) as writer:
        writer.append(record)
    full = path.read_text()
    path.write_text(full + full[: len(full) // 2])  # a write cut in the middle
    with pytest.warns(UserWarning, match="last line is not a complete record"):
        assert read_records(path) == [record]
    with pytest.warns(UserWarning, match="removing a partial last record"):
        writer = RecordWriter(path)
    writer.append(dict(record, seed=7))
    writer.close()
    assert [r["seed"] for r in read_records(path)] == [1, 7]


def test_json_safe_turns_nan_and_numpy_into_json() -> None:
    data = json_safe(
        {"a": np.float32(1.5), "b": math.nan, "c": np.arange(3), "d": (np.int64(2), np.bool_(True))}
    )
    assert data == {"a": 1.5, "b": None, "c": [0, 1, 2], "d": [2, True]}
    json.dumps(data, allow_nan=False)


def test_config_hash_is_order_independent() -> None:
    assert config_hash({"a": 1, "b": {"c": 2}}) == config_hash({"b": {"c": 2}, "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_latest_record_of_a_key_wins() -> None:
    records = [
        {"key": "k", "status": "failed"},
        {"key": "j", "status": "ok"},
        {"key": "k", "status": "ok"},
    ]
    assert latest_by_key(records)["k"]["status"] == "ok"


def test_an_untouched_record_validates(record: dict) -> None:
    result = validate_record(0, record)
    assert result.status == "ok", (result.diffs, result.notes)
    assert result.diffs == [] and result.notes == []


def test_a_tampered_kpi_is_reported(record: dict) -> None:
    tampered = copy.deepcopy(record)
    tampered["kpis"]["slo_violation_rate"] *= 0.5
    result = validate_record(3, tampered)
    assert result.status == "mismatch"
    assert [d[0] for d in result.diffs] == ["slo_violation_rate"]
    assert result.diffs[0][1] == tampered["kpis"]["slo_violation_rate"]
    assert result.diffs[0][2] == record["kpis"]["slo_violation_rate"]


def test_tampered_actions_are_reported(record: dict) -> None:
    tampered = copy.deepcopy(record)
    first = tampered["actions"][0]
    tampered["actions"] = [first] * len(tampered["actions"])  # never scales
    result = validate_record(0, tampered)
    assert result.status == "mismatch"
    assert "horizontal_actions" in [d[0] for d in result.diffs]


def test_a_truncated_action_list_is_an_error(record: dict) -> None:
    tampered = copy.deepcopy(record)
    tampered["actions"] = tampered["actions"][:-3]
    result = validate_record(0, tampered)
    assert result.status == "error" and "did not end" in result.notes[0]


def test_failed_records_are_skipped_and_files_validate(tmp_path: Path, record: dict) -> None:
    path = tmp_path / "r.jsonl"
    failed = {"key": "x", "status": "failed", "error": {"type": "RuntimeError", "message": "boom"}}
    with RecordWriter(path) as writer:
        writer.append(record)
        writer.append(failed)
    results = validate_records(path)
    assert [r.status for r in results] == ["ok", "skipped"]


def test_compare_kpis_tolerates_float_noise_only() -> None:
    assert compare_kpis({"a": 1.0, "b": None, "c": 3}, {"a": 1.0 + 1e-13, "b": None, "c": 3}) == []
    assert compare_kpis({"a": 1.0}, {"a": 1.001}) == [("a", 1.0, 1.001)]
    assert compare_kpis({"a": 1.0}, {}) == [("a", 1.0, None)]


def test_rerun_checks_the_policy_too(record: dict) -> None:
    assert validate_record(0, record, rerun=True).status == "ok"
    changed = copy.deepcopy(record)
    changed["spec"]["params"] = {"per_replica_rps": 3.0}  # as if the policy had changed
    result = validate_record(0, changed, rerun=True)
    assert result.status == "mismatch"
    assert [d[0] for d in result.diffs][0] == "actions"
