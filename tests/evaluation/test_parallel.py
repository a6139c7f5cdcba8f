from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.evaluation.conftest import write_suite
from tests.evaluation.helpers import (
    EXITING,
    HOLD,
    RAISING,
    RANDOM,
    REACTIVE,
    SELF_KILLING,
    SLOW,
    fake_record,
)
from themis_env.errors import ConfigError
from themis_env.evaluation.parallel import Progress, _death_cause, mp_context, run_specs
from themis_env.evaluation.run_record import RunRecord
from themis_env.evaluation.runner import RunSpec
from themis_env.evaluation.validation import validate_records

SPECS = [
    RunSpec(
        scenario="smoke-video",
        seed=seed,
        policy=policy,
        overrides={"episode_s": 15},
        timeline=False,
    )
    for policy in (REACTIVE, RANDOM)
    for seed in (0, 1)
] + [RunSpec(scenario="smoke-video", seed=0, policy=RAISING, overrides={"episode_s": 15})]


def _by_key(records: list[RunRecord]) -> dict[str, RunRecord]:
    return {r.key: r for r in records}


@pytest.fixture(scope="module")
def serial() -> dict[str, RunRecord]:
    records: list[RunRecord] = []
    assert run_specs(SPECS, records.append, jobs=1, progress=False) == len(SPECS)
    return _by_key(records)


def test_process_pool_gives_the_serial_kpis(serial: dict[str, RunRecord]) -> None:
    records: list[RunRecord] = []
    run_specs(SPECS, records.append, jobs=2, progress=False)
    pooled = _by_key(records)
    assert pooled.keys() == serial.keys()
    for key, record in serial.items():
        assert pooled[key].status == record.status
        assert pooled[key].kpis == record.kpis
        assert pooled[key].actions == record.actions
    failed = [r for r in records if r.status == "failed"]
    assert len(failed) == 1 and "blew up" in failed[0].error.message  # isolated
    # Replays in a pool agree with the records, in order.
    results = validate_records(records, jobs=2)
    assert [r.index for r in results] == list(range(len(records)))
    assert sorted(r.status for r in results) == ["ok"] * 4 + ["skipped"]


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed")
@pytest.mark.xdist_group("ray")  # one Ray at a time (test_ray_cluster.py)
def test_ray_backend_gives_the_process_pool_kpis(serial: dict[str, RunRecord]) -> None:
    records: list[RunRecord] = []
    run_specs(SPECS, records.append, jobs=1, backend="ray", progress=False)
    rayed = _by_key(records)
    assert rayed.keys() == serial.keys()
    for key, record in serial.items():
        assert rayed[key].kpis == record.kpis


def test_bad_backend_and_jobs_are_rejected() -> None:
    with pytest.raises(ConfigError, match="choose one of"):
        run_specs(SPECS, print, backend="dask")
    with pytest.raises(ConfigError, match="jobs"):
        run_specs(SPECS, print, jobs=0)


def test_text_progress_prints_an_eta(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_tqdm(name: str, *args, **kwargs):
        if name == "tqdm":
            raise ImportError("no tqdm")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    bar = Progress(2)
    bar.update(fake_record("s", "p", 0, 0.1, 1.0))
    bar.update(fake_record("s", "p", 1, 0.1, 1.0, status="failed"))
    bar.close()
    err = capsys.readouterr().err
    assert "[1/2]  50% s/p/seed0 ok" in err and "ETA" in err and "[2/2] 100%" in err
    assert bar.failed == 1


def _isolated(policy: str, seed: int = 0) -> RunSpec:
    return RunSpec(
        scenario="smoke-video",
        seed=seed,
        policy=policy,
        overrides={"episode_s": 15},
        timeline=False,
    )


@pytest.mark.parametrize(("jobs", "isolate"), [(1, False), (2, True)])
def test_a_policy_calling_sys_exit_fails_only_its_run(jobs: int, isolate: bool) -> None:
    records: list[RunRecord] = []
    specs = [_isolated(EXITING), _isolated(REACTIVE)]
    run_specs(specs, records.append, jobs=jobs, isolate=isolate, progress=False)
    by_policy = {r.policy.ref: r for r in records}
    assert len(records) == 2 and by_policy[REACTIVE].ok
    error = by_policy[EXITING].error
    assert error.type == "SystemExit" and "sys.exit(3)" in error.message
    assert by_policy[EXITING].steps_done == 2


def test_a_policy_killing_its_worker_fails_only_its_run_with_one_job() -> None:
    records: list[RunRecord] = []
    run_specs([_isolated(SELF_KILLING), _isolated(REACTIVE)], records.append, progress=False)
    by_policy = {r.policy.ref: r for r in records}
    assert len(records) == 2 and by_policy[REACTIVE].ok
    assert by_policy[SELF_KILLING].error.type == "WorkerDied"
    assert "killed by signal SIGKILL" in by_policy[SELF_KILLING].error.message


def test_runs_in_flight_when_a_worker_dies_are_rerun_not_failed(
    serial: dict[str, RunRecord],
) -> None:
    records: list[RunRecord] = []
    specs = [SPECS[0], _isolated(SELF_KILLING), SPECS[1], SPECS[2], SPECS[3]]
    run_specs(specs, records.append, jobs=2, progress=False)
    assert sorted(r.policy.ref for r in records) == sorted(s.policy for s in specs)
    failed = [r for r in records if not r.ok]
    assert [r.policy.ref for r in failed] == [SELF_KILLING]
    assert "killed by signal SIGKILL" in failed[0].error.message
    for record in records:
        if record.ok:  # the others ran (again) to the serial result
            assert record.kpis == serial[record.key].kpis


def _sleep() -> None:
    time.sleep(60)


def test_the_death_cause_is_the_worker_that_died_not_the_ones_the_broken_pool_terminated():
    """A broken pool SIGTERMs its other workers: whichever it lists first, the cause is the kill."""
    ctx = mp_context()
    terminated, killed = ctx.Process(target=_sleep), ctx.Process(target=_sleep)
    for proc in (terminated, killed):
        proc.start()
    os.kill(killed.pid, signal.SIGKILL)
    terminated.terminate()
    for proc in (terminated, killed):
        proc.join(10)

    class Pool:  # what _death_cause reads of a ProcessPoolExecutor
        _processes = {terminated.pid: terminated, killed.pid: killed}

    assert _death_cause(Pool()) == "killed by signal SIGKILL"  # type: ignore[arg-type]
    Pool._processes = {terminated.pid: terminated}
    assert _death_cause(Pool()) == "killed by signal SIGTERM"  # type: ignore[arg-type]


def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (read from /proc; zombies are not alive)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_end_when_the_leaderboard_is_killed(tmp_path: Path) -> None:
    slow = [{"name": HOLD, "label": "hold"}, {"name": SLOW, "label": "slow"}]
    suite = write_suite(tmp_path / "tiny.yaml", policies=slow)
    out = tmp_path / "board"
    root = Path(__file__).resolve().parents[2]
    cmd = [sys.executable, "-m", "themis_env", "leaderboard", "--suite", str(suite)]
    cmd += ["--out", str(out), "--jobs", "2", "--no-plots", "-q"]
    env = dict(os.environ, PYTHONPATH=str(root))
    proc = subprocess.Popen(
        cmd, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            workers = _descendants(proc.pid)
            if len(workers) >= 4:  # the resource tracker, the forkserver and two workers
                break
            time.sleep(0.05)
        assert len(workers) >= 4, "the leaderboard never started its workers"
        proc.kill()
        proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_alive(p) for p in workers):
            time.sleep(0.1)
        assert not [p for p in workers if _alive(p)], "worker processes outlived the leaderboard"
    finally:
        for pid in [proc.pid, *workers]:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=30)
