from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.evaluation.conftest import write_suite
from tests.evaluation.helpers import HOLD, RAISING, REACTIVE
from tests.foreground import default_sigint
from themis_env.cli import main
from themis_env.evaluation.harness import LeaderboardResult, run_leaderboard
from themis_env.evaluation.records import read_records


def test_evaluate_prints_kpis_and_appends_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "eval.jsonl"
    argv = [
        "evaluate",
        "--policy",
        REACTIVE,
        "--scenario",
        "smoke-video",
        "--seeds",
        "2",
        "--episode-s",
        "15",
        "--param",
        "per_replica_rps=6",
        "--out",
        str(out),
        "-q",
    ]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "mean ± 95% CI" in text and "SLO violation" in text
    records = read_records(out)
    assert [r.seed for r in records] == [0, 1]
    assert records[0].policy.params == {"per_replica_rps": 6}
    assert records[0].scenario_config["episode_s"] == 15
    assert main(argv + ["--json", "--seed-list", "4"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed[0]["seed"] == 4 and printed[0]["status"] == "ok"
    assert len(read_records(out)) == 3  # appended


def test_evaluate_reports_bad_input_clearly(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["evaluate", "--policy", "hpaa", "--scenario", "smoke-video", "--no-record", "-q"])
        == 2
    )
    assert "unknown policy 'hpaa'" in capsys.readouterr().err
    assert (
        main(["evaluate", "--policy", HOLD, "--scenario", "smoke-vidoe", "--no-record", "-q"]) == 2
    )
    assert "Did you mean 'smoke-video'" in capsys.readouterr().err
    assert (
        main(
            ["evaluate", "--policy", HOLD, "--scenario", "smoke-video", "--override", "nodes", "-q"]
        )
        == 2
    )
    assert "KEY=VALUE" in capsys.readouterr().err


def test_evaluate_isolates_a_failing_policy(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "evaluate",
        "--policy",
        RAISING,
        "--scenario",
        "smoke-video",
        "--episode-s",
        "10",
        "--no-record",
        "-q",
    ]
    assert main(argv) == 1
    assert "failed: RuntimeError: policy blew up on purpose" in capsys.readouterr().out


def test_leaderboard_validate_and_tamper(
    tmp_path: Path, tiny_suite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "lb"
    argv = ["leaderboard", "--suite", str(tiny_suite), "--out", str(out), "-q"]
    assert main(argv + ["--no-plots"]) == 0  # the plots: test_plots and the smoke test
    text = capsys.readouterr().out
    assert "8 runs executed, 0 already done, 0 failed" in text
    for name in (
        "leaderboard.md",
        "leaderboard.csv",
        "leaderboard.json",
        "run.json",
        "records.jsonl",
    ):
        assert (out / name).is_file(), name
    assert not (out / "plots").exists()
    board = json.loads((out / "leaderboard.json").read_text())
    assert {r["policy"] for r in board["overall"]} == {"hold", "reactive"}
    assert "| rank | policy | target met (margin) |" in (out / "leaderboard.md").read_text()

    records = out / "records.jsonl"
    assert main(["validate", str(records)]) == 0
    assert "8 ok" in capsys.readouterr().out

    lines = records.read_text().splitlines()
    rec = json.loads(lines[2])
    rec["kpis"]["latency_p99_ms"] += 1.0
    lines[2] = json.dumps(rec)
    records.write_text("\n".join(lines) + "\n")
    assert main(["validate", str(records)]) == 1
    text = capsys.readouterr().out
    assert "[MISMATCH] record 2" in text and "latency_p99_ms" in text and "7 ok" in text

    # An existing folder is never overwritten without --resume.
    assert main(argv) == 2
    assert "--resume" in capsys.readouterr().err


def test_the_demo_command_runs_twice_in_a_row_and_takes_a_target(
    tmp_path: Path, tiny_suite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `make demo` is `leaderboard ... --resume`: the first call starts the folder, the second
    # reuses every run and writes the tables and the report again.
    out = tmp_path / "demo"
    argv = ["leaderboard", "--suite", str(tiny_suite), "--out", str(out), "-q", "--no-plots"]
    assert main(argv + ["--resume"]) == 0
    assert "8 runs executed, 0 already done" in capsys.readouterr().out
    (out / "leaderboard.html").unlink()
    assert main(argv + ["--resume", "--slo-target", "0.01"]) == 0
    text = capsys.readouterr().out
    assert "0 runs executed, 8 already done" in text
    assert "meeting SLO attainment 0.01" in text and "meets target" in text
    assert (out / "leaderboard.html").is_file()
    board = json.loads((out / "leaderboard.json").read_text())
    assert board["ranking"]["slo_target"] == 0.01
    assert main(argv + ["--resume", "--slo-target", "1.5"]) == 2
    assert "slo_target = 1.5" in capsys.readouterr().err


def test_resume_runs_only_the_missing_runs(tmp_path: Path, tiny_suite: Path) -> None:
    out = tmp_path / "lb"
    first = run_leaderboard(tiny_suite, out, plots=False, progress=False)
    assert (first.executed, first.skipped) == (8, 0)
    records = out / "records.jsonl"
    lines = records.read_text().splitlines(keepends=True)
    # A killed run: the last three records are lost and the last write was cut in half.
    records.write_text("".join(lines[:5]) + lines[5][:40])
    with pytest.warns(UserWarning, match="partial"):
        second = run_leaderboard(tiny_suite, out, resume=True, plots=False, progress=False)
    assert (second.executed, second.skipped) == (3, 5)
    assert len(read_records(records)) == 8
    assert {r.key for r in second.records} == {r.key for r in first.records}
    for a, b in zip(
        sorted(first.records, key=lambda r: r.key),
        sorted(second.records, key=lambda r: r.key),
        strict=True,
    ):
        assert a.kpis == b.kpis
    third = run_leaderboard(tiny_suite, out, resume=True, plots=False, progress=False)
    assert (third.executed, third.skipped) == (0, 8)


def test_a_failing_policy_does_not_stop_the_leaderboard(tmp_path: Path) -> None:
    suite = write_suite(
        tmp_path / "s.yaml",
        scenarios=[{"scenario": "smoke-video", "label": "v"}],
        policies=[{"name": HOLD, "label": "hold"}, {"name": RAISING, "label": "raising"}],
        seeds=1,
    )
    result = run_leaderboard(suite, tmp_path / "lb", plots=False, progress=False, jobs=2)
    assert result.executed == 2 and result.failed == 1
    raising = next(r for r in result.board.overall if r.policy == "raising")
    assert raising.runs_failed == 1 and raising.rank is None
    assert (
        "RuntimeError: policy blew up on purpose"
        in (tmp_path / "lb" / "leaderboard.md").read_text()
    )
    # On resume the failed run is retried (and fails again); the finished one is not.
    again = run_leaderboard(suite, tmp_path / "lb", resume=True, plots=False, progress=False)
    assert (again.executed, again.skipped) == (1, 1)


def test_policies_option_adds_the_references(tmp_path: Path, tiny_suite: Path, capsys) -> None:
    out = tmp_path / "lb"
    argv = [
        "leaderboard",
        "--suite",
        str(tiny_suite),
        "--out",
        str(out),
        "--policies",
        "reactive",
        "--seed-list",
        "0",
        "--no-plots",
        "-q",
    ]
    assert main(argv) == 0
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["policies"] == ["reactive", "hold"] and manifest[
        "reference_policies_added"
    ] == ["hold"]
    assert len(read_records(out / "records.jsonl")) == 2 * 2 * 1


@pytest.mark.slow
def test_smoke_suite_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "smoke"
    argv = [
        "leaderboard",
        "--suite",
        "smoke",
        "--out",
        str(out),
        "--jobs",
        "2",
        "--episode-s",
        "30",
        "-q",
    ]
    with_agent = importlib.util.find_spec("stable_baselines3") is not None
    assert main(argv) == 0
    if with_agent:
        # The shipped PPO agents were trained on the video pipeline: they are left out of the
        # sentiment scenario, and one note of the leaderboard says so (no repeated warnings).
        notes = [
            line
            for line in (out / "leaderboard.md").read_text(encoding="utf-8").splitlines()
            if line.startswith("- Not run on sentiment-fluctuating-120s (pipeline: trained on")
        ]
        assert len(notes) == 1
        assert notes[0].endswith(
            "ppo, ppo-lean, ppo-twophase, ppo-lowcost; ranked on the other scenarios."
        )
    # ppo-generalist acts on every pipeline: it runs on both scenarios.
    pairs = {
        "smoke-video": 11 if with_agent else 6,
        "sentiment-fluctuating-120s": 7 if with_agent else 6,
    }
    assert f"{2 * sum(pairs.values())} runs executed" in capsys.readouterr().out
    records = read_records(out / "records.jsonl")
    ran = {(r.scenario, r.policy.label) for r in records}
    assert len(ran) == sum(pairs.values())
    assert ("smoke-video", "ppo") in ran or not with_agent
    assert ("sentiment-fluctuating-120s", "ppo") not in ran
    assert ("sentiment-fluctuating-120s", "ppo-generalist") in ran or not with_agent
    # Two frontier plots, and a first-seed timeline per scenario and policy.
    assert len(list((out / "plots").rglob("*.png"))) == 2 + sum(pairs.values())
    assert main(["validate", str(out / "records.jsonl")]) == 0


@pytest.mark.slow
def test_ctrl_c_leaves_valid_records_and_resume_finishes(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    root = Path(__file__).resolve().parents[2]
    suite = write_suite(tmp_path / "s.yaml", seeds=3, overrides={"episode_s": 120})
    out = tmp_path / "lb"
    records = out / "records.jsonl"
    cmd = [
        sys.executable,
        "-m",
        "themis_env",
        "leaderboard",
        "--suite",
        str(suite),
        "--out",
        str(out),
        "--jobs",
        "2",
        "--no-plots",
        "-q",
    ]
    env = dict(os.environ, PYTHONPATH=str(root))
    proc = subprocess.Popen(
        cmd,
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if records.exists() and records.read_text().count("\n") >= 2:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "--resume" in err
    text = records.read_text()
    assert text.endswith("\n")
    done = len(read_records(records))
    assert 2 <= done < 12
    result = run_leaderboard(suite, out, resume=True, plots=False, progress=False)
    assert (result.executed, result.skipped) == (12 - done, done)
    assert len(read_records(records)) == 12


def test_resume_reruns_a_record_edited_by_hand_and_the_tables_ignore_it(
    tmp_path: Path, tiny_suite: Path
) -> None:
    out = tmp_path / "lb"
    first = run_leaderboard(tiny_suite, out, plots=False, progress=False)
    records = out / "records.jsonl"
    lines = records.read_text().splitlines()
    edited = json.loads(lines[3])
    edited["kpis"]["slo_violation_rate"] /= 2  # a better-looking policy
    lines[3] = json.dumps(edited, separators=(",", ":"))
    records.write_text("\n".join(lines) + "\n")
    with pytest.warns(UserWarning, match=rf"line 4: record {edited['key']} .* digest"):
        again = run_leaderboard(tiny_suite, out, resume=True, plots=False, progress=False)
    assert (again.executed, again.skipped) == (1, 7)

    def figures(result: LeaderboardResult) -> list[tuple[str, Any, Any]]:
        rows = result.board.overall + [r for t in result.board.scenarios.values() for r in t]
        return [(r.policy, r.score, r.kpis["slo_violation_rate"]) for r in rows]

    assert figures(again) == figures(first)  # the rerun's figures, not the edit's


def _validate_text(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["validate", str(path)])
    return code, capsys.readouterr().out


def test_validate_fails_on_anything_but_complete_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = (Path(__file__).parent / "data" / "records-v1.jsonl").read_text().splitlines()[4]
    path = tmp_path / "r.jsonl"
    path.write_text(line + "\n" + line[:60] + "\n" + line + "\n")  # a cut line in the middle
    code, text = _validate_text(path, capsys)
    assert code == 1 and "[BAD LINE] line 2" in text and "2 skipped" in text
    path.write_text("")
    code, text = _validate_text(path, capsys)
    assert code == 1 and "holds no records" in text
    path.write_text(json.dumps({"name": "themis-env", "version": "1.0"}) + "\n")  # other JSON
    code, text = _validate_text(path, capsys)
    assert code == 1 and "[BAD LINE] line 1: record field 'name' is not part of" in text
    path.write_text(line + "\n" + line[:60])  # an interrupted write: reported, not a failure
    code, text = _validate_text(path, capsys)
    assert code == 0 and "[INTERRUPTED] line 2" in text and "1 skipped" in text
    assert main(["validate", str(tmp_path)]) == 2
    assert "is a folder; give a records file" in capsys.readouterr().err


def test_validate_says_which_records_have_no_digest(capsys: pytest.CaptureFixture[str]) -> None:
    old = Path(__file__).parent / "data" / "records-v1.jsonl"
    assert main(["validate", str(old)]) == 0
    assert capsys.readouterr().out.count("note: no digest (a schema-1 record)") == 5


def test_leaderboard_out_must_be_a_folder(
    tmp_path: Path, tiny_suite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "taken"
    out.write_text("a file")
    argv = ["leaderboard", "--suite", str(tiny_suite), "--out", str(out), "--no-plots", "-q"]
    assert main(argv) == 2
    assert f"--out '{out}' is a file; give a folder" in capsys.readouterr().err


def test_evaluate_rejects_a_parameter_of_the_wrong_type_before_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "eval.jsonl"
    argv = ["evaluate", "--policy", REACTIVE, "--scenario", "smoke-video", "--out", str(out)]
    assert main(argv + ["--param", "per_replica_rps=fast", "-q"]) == 2
    err = capsys.readouterr().err
    assert "parameter per_replica_rps = 'fast' is a str; expected per_replica_rps: float" in err
    assert not out.exists()  # no run started


@pytest.mark.skipif(
    importlib.util.find_spec("stable_baselines3") is None, reason="stable-baselines3 is absent"
)
def test_evaluate_takes_the_label_the_leaderboard_shows_for_a_shipped_agent(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["evaluate", "--policy", "ppo", "--scenario", "smoke-video", "--episode-s", "10"]
    assert main(argv + ["--no-record", "--json", "-q"]) == 0
    captured = capsys.readouterr()
    assert "'ppo' is the shipped suites' agent:agents/zoo/ppo-video-arxiv/ppo.zip" in captured.err
    assert json.loads(captured.out)[0]["status"] == "ok"


def test_an_unknown_policy_names_the_reference_forms(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["evaluate", "--policy", "ppoo", "--scenario", "smoke-video", "--no-record", "-q"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "or give 'module:Class'" in err and "agent:PATH.zip" in err


def test_tables_and_run_json_are_as_readable_as_the_records(
    tmp_path: Path, tiny_suite: Path
) -> None:
    old = os.umask(0o022)
    try:
        out = tmp_path / "lb"
        run_leaderboard(tiny_suite, out, seeds=[0], plots=False, progress=False)
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in out.iterdir() if not p.name.startswith(".")}
    assert set(modes.values()) == {0o644}, modes


def test_resume_sets_aside_a_cut_line_in_the_middle(tmp_path: Path, tiny_suite: Path) -> None:
    out = tmp_path / "lb"
    run_leaderboard(tiny_suite, out, seeds=[0], plots=False, progress=False)
    records = out / "records.jsonl"
    lines = records.read_text().splitlines(keepends=True)
    # A cut write that a later append glued a newline to (as before the tail repair existed).
    records.write_text("".join(lines[:1]) + lines[1][:40] + "\n" + "".join(lines[2:]))
    with pytest.warns(UserWarning, match=r"line\(s\) 2 are not complete records"):
        again = run_leaderboard(
            tiny_suite, out, seeds=[0], resume=True, plots=False, progress=False
        )
    assert (again.executed, again.skipped) == (1, 3)
    assert len(read_records(records)) == 4  # every line a record
    assert (out / "records.jsonl.rejected").read_text() == lines[1][:40] + "\n"


def test_ray_options_need_the_ray_backend_and_a_token_file(
    tiny_suite: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    for var in ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(var, raising=False)
    base = ["leaderboard", "--suite", str(tiny_suite), "--out", str(tmp_path / "lb"), "-q"]
    assert main([*base, "--address", "10.0.0.1:6379"]) == 2
    assert "--address '10.0.0.1:6379' needs --backend ray" in capsys.readouterr().err
    empty = tmp_path / "token"
    empty.write_text("\n")
    for path in (empty, tmp_path / "absent"):
        assert main([*base, "--backend", "ray", "--ray-token-file", str(path)]) == 2
        assert "is not a file holding a token" in capsys.readouterr().err
    assert "RAY_ADDRESS" not in os.environ and "RAY_AUTH_MODE" not in os.environ
    assert not (tmp_path / "lb").exists()
