from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.evaluation.helpers import fake_record
from themis_env.errors import RecordError
from themis_env.evaluation.records import (
    RecordWriter,
    config_hash,
    json_safe,
    latest_by_key,
    read_records,
)
from themis_env.evaluation.run_record import RunRecord
from themis_env.evaluation.runner import RunSpec, run_episode
from themis_env.evaluation.validation import compare_kpis, validate_record, validate_records


@pytest.fixture(scope="module")
def record() -> RunRecord:
    from tests.evaluation.helpers import REACTIVE

    spec = RunSpec(scenario="smoke-video", seed=1, policy=REACTIVE, overrides={"episode_s": 20})
    rec = run_episode(spec)
    assert rec.ok, rec.error
    return rec


def test_records_round_trip(tmp_path: Path, record: RunRecord) -> None:
    path = tmp_path / "out" / "records.jsonl"
    second = replace(record, seed=99)
    with RecordWriter(path) as writer:
        writer.append(record)
        writer.append(second)
    assert read_records(path) == [record, second]
    assert path.read_text().count("\n") == 2


def test_partial_last_line_is_skipped_on_read_and_cut_before_appending(
    tmp_path: Path, record: RunRecord
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
    writer.append(replace(record, seed=7))
    writer.close()
    assert [r.seed for r in read_records(path)] == [1, 7]


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
        fake_record("A", "p", 0, 0.1, 1.0, status="failed", key="k"),
        fake_record("A", "p", 1, 0.1, 1.0, key="j"),
        fake_record("A", "p", 0, 0.1, 1.0, key="k"),
    ]
    assert latest_by_key(records)["k"].status == "ok"


def test_an_untouched_record_validates(record: RunRecord) -> None:
    result = validate_record(0, record)
    assert result.status == "ok", (result.diffs, result.notes)
    assert result.diffs == [] and result.notes == []


def test_a_tampered_kpi_is_reported(record: RunRecord) -> None:
    kpis = dict(record.kpis, slo_violation_rate=record.kpis["slo_violation_rate"] * 0.5)
    tampered = replace(record, kpis=kpis, digest=None)  # the replay alone finds it
    result = validate_record(3, tampered)
    assert result.status == "mismatch"
    assert [d[0] for d in result.diffs] == ["slo_violation_rate"]
    assert result.diffs[0][1] == tampered.kpis["slo_violation_rate"]
    assert result.diffs[0][2] == record.kpis["slo_violation_rate"]


def test_tampered_actions_are_reported(record: RunRecord) -> None:
    never_scales = [record.actions[0]] * len(record.actions)
    tampered = replace(record, actions=never_scales, digest=None)
    result = validate_record(0, tampered)
    assert result.status == "mismatch"
    assert "horizontal_actions" in [d[0] for d in result.diffs]


def test_a_truncated_action_list_is_an_error(record: RunRecord) -> None:
    tampered = replace(record, actions=record.actions[:-3], digest=None)
    result = validate_record(0, tampered)
    assert result.status == "error" and "did not end" in result.notes[-1]


def test_failed_records_are_skipped_and_files_validate(tmp_path: Path, record: RunRecord) -> None:
    path = tmp_path / "r.jsonl"
    failed = fake_record("A", "p", 0, 0.1, 1.0, status="failed")
    with RecordWriter(path) as writer:
        writer.append(record)
        writer.append(failed)
    results = validate_records(path)
    assert [r.status for r in results] == ["ok", "skipped"]


def test_compare_kpis_tolerates_float_noise_only() -> None:
    assert compare_kpis({"a": 1.0, "b": None, "c": 3}, {"a": 1.0 + 1e-13, "b": None, "c": 3}) == []
    assert compare_kpis({"a": 1.0}, {"a": 1.001}) == [("a", 1.0, 1.001)]
    assert compare_kpis({"a": 1.0}, {}) == [("a", 1.0, None)]


def test_rerun_checks_the_policy_too(record: RunRecord) -> None:
    assert validate_record(0, record, rerun=True).status == "ok"
    # As if the policy had changed.
    changed = replace(record, spec={**record.spec, "params": {"per_replica_rps": 3.0}}).sealed()
    result = validate_record(0, changed, rerun=True)
    assert result.status == "mismatch"
    assert [d[0] for d in result.diffs][0] == "actions"


def test_a_finished_run_carries_the_digest_of_its_content(record: RunRecord) -> None:
    assert record.schema == 2 and record.digest == record.compute_digest()
    assert record.digest_status == "ok"
    again = RunRecord.from_json(record.to_json())
    assert again.digest_status == "ok"
    edited = json.loads(record.to_json())
    edited["kpis"]["slo_violation_rate"] /= 2
    assert RunRecord.from_dict(edited).digest_status == "mismatch"
    assert fake_record("A", "p", 0, 0.1, 1.0).digest_status == "none"  # like schema-1 records


def _halve_violation(line: str) -> str:
    data = json.loads(line)
    data["kpis"]["slo_violation_rate"] /= 2
    return json.dumps(data, separators=(",", ":"))


def test_reading_with_verify_leaves_out_an_edited_record(tmp_path: Path, record: RunRecord) -> None:
    path = tmp_path / "records.jsonl"
    with RecordWriter(path) as writer:
        writer.append(record)
        writer.append(replace(record, seed=5).sealed())
    lines = path.read_text().splitlines()
    path.write_text(lines[0] + "\n" + _halve_violation(lines[1]) + "\n")
    assert len(read_records(path)) == 2  # reading alone does not judge
    with pytest.warns(UserWarning, match=r"records.jsonl, line 2: record \w+ .* digest"):
        assert read_records(path, verify=True) == [record]
    assert validate_record(1, read_records(path)[1]).status == "mismatch"


def test_a_cut_line_in_the_middle_is_set_aside_before_appending(
    tmp_path: Path, record: RunRecord
) -> None:
    path = tmp_path / "records.jsonl"
    line = record.to_json()
    path.write_text(line + "\n" + line[:50] + "\n" + line + "\n")
    with pytest.raises(RecordError, match="records.jsonl, line 2: .* not JSON"):
        read_records(path)
    with pytest.warns(UserWarning, match=r"line\(s\) 2 are not complete records"):
        RecordWriter(path).close()
    assert read_records(path) == [record, record]
    assert (tmp_path / "records.jsonl.rejected").read_text() == line[:50] + "\n"


def test_a_complete_last_line_without_its_newline_is_kept(
    tmp_path: Path, record: RunRecord
) -> None:
    path = tmp_path / "records.jsonl"
    path.write_text(record.to_json())  # e.g. saved by an editor
    with RecordWriter(path) as writer:
        writer.append(record)
    assert len(read_records(path)) == 2


def test_a_folder_is_not_a_records_file(tmp_path: Path) -> None:
    with pytest.raises(RecordError, match="is a folder, not a records file"):
        read_records(tmp_path)
