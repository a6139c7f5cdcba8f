"""``themis-env profile``: argument parsing and one tiny profile end to end."""

from __future__ import annotations

import argparse
import csv
import multiprocessing
from pathlib import Path

import pytest

from themis_env import cli
from themis_env.cli.profile import int_list
from themis_env.config import load_model
from themis_env.profiling.measure import usable_cpus


def test_int_lists() -> None:
    assert int_list("1,2,4") == (1, 2, 4)
    assert int_list("1-4") == (1, 2, 3, 4)
    assert int_list("1-2, 8") == (1, 2, 8)
    for bad in ("", "a", "1,,2", "1-x"):
        with pytest.raises(argparse.ArgumentTypeError, match="whole numbers"):
            int_list(bad)


def test_bad_arguments_fail_before_profiling(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["profile", "resnet18", "--cores", "1,99999"]) == 2
    assert "'cores' = 99999 is more than the" in capsys.readouterr().err


@pytest.mark.slow
def test_a_tiny_model_profiled_end_to_end(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    if len(usable_cpus()) < 2:
        pytest.skip("the fit needs two core counts; this process may use one CPU")
    out = tmp_path / "tiny.yaml"
    argv = ["profile", "tests.profiling.tiny:TinyNet", "--input-shape", "8", "--cores", "1,2"]
    argv += ["--batches", "1,2", "--repeats", "2", "--warmup", "1", "--no-progress"]
    assert cli.main([*argv, "--out", str(out), "--slo-ms", "50"]) == 0
    assert not multiprocessing.active_children()
    model = load_model(str(out))
    assert model.name == "TinyNet" and model.latency.kind == "parametric"
    assert all(v >= 0 for v in model.latency.params) and model.latency.service_ms(1, 1) > 0
    with out.with_suffix(".csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["cores"], r["batch"], r["repeat"]) for r in rows] == [
        (c, b, r) for c in "12" for b in "12" for r in "01"
    ]
    assert all(float(r["latency_ms"]) > 0 for r in rows)
    text = out.read_text()
    assert "tests.profiling.tiny:TinyNet --cores 1,2 --batches 1,2 --input-shape 8" in text
    assert "model load time (process start to first inference)" in text
    assert (tmp_path / "tiny.pipeline.yaml").is_file()
