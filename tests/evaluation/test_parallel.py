from __future__ import annotations

import importlib.util

import pytest

from tests.evaluation.helpers import RAISING, RANDOM, REACTIVE, fake_record
from themis_env.errors import ConfigError
from themis_env.evaluation.parallel import Progress, run_specs
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
