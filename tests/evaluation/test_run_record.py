"""The run record type: JSON round trip, version, malformed records, records written before it."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.evaluation.helpers import fake_record
from themis_env.cli import main
from themis_env.errors import RecordError
from themis_env.evaluation.leaderboard import build_leaderboard, to_csv, to_markdown
from themis_env.evaluation.records import RecordWriter, read_records
from themis_env.evaluation.run_record import SCHEMA_VERSION, RunRecord
from themis_env.evaluation.suites import load_suite
from themis_env.evaluation.validation import validate_records

DATA = Path(__file__).parent / "data"
# Written by the code before RunRecord existed (see records-v1-suite.yaml): 4 runs and 1 failure.
OLD_RECORDS = DATA / "records-v1.jsonl"


def _old_lines() -> list[str]:
    return OLD_RECORDS.read_text(encoding="utf-8").splitlines()


def test_old_records_load_and_write_back_byte_for_byte() -> None:
    records = read_records(OLD_RECORDS)
    assert [r.status for r in records] == ["ok", "ok", "ok", "ok", "failed"]
    assert [r.to_json() for r in records] == _old_lines()
    failed = records[-1]
    assert failed.error is not None and failed.error.type == "RuntimeError"
    assert failed.steps_done == 4 and failed.kpis is None


def test_round_trip_through_json_and_a_file(tmp_path: Path) -> None:
    record = read_records(OLD_RECORDS)[3]
    assert RunRecord.from_json(record.to_json()) == record
    assert RunRecord.from_dict(record.to_dict()) == record
    path = tmp_path / "records.jsonl"
    second = replace(record, seed=11, kpis={**record.kpis, "cost": float("nan")})
    with RecordWriter(path) as writer:
        writer.append(record)
        writer.append(second)
    again = read_records(path)
    assert again[0] == record
    assert again[1].seed == 11 and again[1].kpis["cost"] is None  # JSON has no NaN


def test_the_version_is_written_and_checked() -> None:
    data = json.loads(_old_lines()[0])
    assert data["schema"] == 1 == RunRecord.from_dict(data).schema  # read as it was written
    assert SCHEMA_VERSION == 2 and fake_record("A", "p", 0, 0.1, 1.0).sealed().schema == 2
    with pytest.raises(RecordError, match=r"'schema' = 3: .* reads schema 1 and 2 records only"):
        RunRecord.from_dict({**data, "schema": 3})
    with pytest.raises(RecordError, match="'digest' is not part of the record layout"):
        RunRecord.from_dict({**data, "digest": "0" * 64})  # schema 1 had no digest


def _ok() -> dict[str, Any]:
    return json.loads(_old_lines()[0])


def _set(path: str, value: Any) -> dict[str, Any]:
    data = _ok()
    node = data
    *parents, last = path.split(".")
    for name in parents:
        node = node[name]
    node[last] = value
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_set("seed", "3"), "'seed' = '3': expected an integer"),
        (_set("seed", True), "'seed' = True: expected an integer"),
        (_set("status", "done"), "'status' = 'done': expected one of ok, failed"),
        (_set("policy.label", 7), "'policy.label' = 7: expected a string"),
        (_set("policy.privileged", "yes"), "'policy.privileged' = 'yes': expected a bool"),
        (_set("kpis.cost", "cheap"), "'kpis.cost' = 'cheap': expected a number or null"),
        (_set("actions", "[[1]]"), "'actions' = '\\[\\[1\\]\\]': expected a list"),
        (_set("trace.fallback", 1), "'trace.fallback' = 1: expected a bool"),
        (_set("warnings", ["a", 2]), r"'warnings\[1\]' = 2: expected a string"),
        (_set("kpis", None), "'kpis' is missing: an ok run has it"),
        (_set("policy.colour", "red"), "'policy.colour' is not part of the record layout"),
        ({**_ok(), "extra": 1}, "'extra' is not part of the record layout"),
        ({k: v for k, v in _ok().items() if k != "key"}, "'key' is missing"),
        ([1, 2], "a record is a JSON object, not list"),
        (_set("policy", {"ref": "hpa"}), "'policy.label' is missing"),
    ],
)
def test_a_malformed_record_is_rejected_naming_the_field(data: Any, message: str) -> None:
    with pytest.raises(RecordError, match=message):
        RunRecord.from_dict(data)


def test_text_that_is_not_json_is_rejected() -> None:
    with pytest.raises(RecordError, match="not JSON"):
        RunRecord.from_json("{'key': 1}")


def test_a_malformed_line_in_a_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    lines = _old_lines()
    bad = json.loads(lines[1])
    bad["seed"] = "one"
    path.write_text("\n".join([lines[0], json.dumps(bad)]) + "\n", encoding="utf-8")
    with pytest.raises(RecordError, match=r"records.jsonl, line 2: record field 'seed' = 'one'"):
        read_records(path)


def test_loading_never_builds_anything_but_data() -> None:
    # A pickle-like or import-like value stays an inert string: nothing is imported or called.
    data = _set("policy.describe", {"py/object": "os:system", "args": ["echo pwned"]})
    record = RunRecord.from_dict(data)
    assert record.policy.describe == {"py/object": "os:system", "args": ["echo pwned"]}


def test_old_records_replay(capsys: pytest.CaptureFixture[str]) -> None:
    results = validate_records(OLD_RECORDS)
    assert [r.status for r in results] == ["ok", "ok", "ok", "ok", "skipped"]
    assert all(r.diffs == [] for r in results)
    assert main(["validate", str(OLD_RECORDS)]) == 0
    assert "5 records: 4 ok, 1 skipped" in capsys.readouterr().out


def test_old_records_give_the_leaderboard_tables() -> None:
    suite = load_suite(DATA / "records-v1-suite.yaml")
    board = build_leaderboard(
        read_records(OLD_RECORDS),
        suite.reference,
        suite=suite.name,
        scenarios=[s.display for s in suite.scenarios],
        policies=[p.display for p in suite.policies],
        notes=list(suite.notes),
    )
    assert to_markdown(board) == (DATA / "leaderboard-v1.md").read_text(encoding="utf-8")
    assert to_csv(board) == (DATA / "leaderboard-v1.csv").read_text(encoding="utf-8")


def test_record_helpers_read_the_fields() -> None:
    record = fake_record("A", "p", 4, 0.25, 10.0, privileged=True, fallback=True)
    assert record.ok and record.privileged and record.trace_fallback
    assert record.label == "A / p / seed 4"
    assert record.kpi("slo_violation_rate") == 0.25 and record.kpi("no-such-kpi") is None
    failed = fake_record("A", "p", 4, 0.25, 10.0, status="failed")
    assert not failed.ok and str(failed.error) == "RuntimeError: boom"
