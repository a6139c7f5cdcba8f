"""Compressed traces are read as a stream under a size limit."""

from __future__ import annotations

import bz2
import gzip
import inspect
import io
import tarfile
import tracemalloc
from pathlib import Path

import pytest

from themis_env.errors import TraceError
from themis_env.traces import load, read_trace_file
from themis_env.traces.textfile import DEFAULT_MAX_MB

LINE_MB = b"0\n" * 500_000  # 1 MB of text: half a million zero counts


def gz_zeros(path: Path, megabytes: int) -> Path:
    with gzip.open(path, "wb", compresslevel=1) as stream:
        for _ in range(megabytes):
            stream.write(LINE_MB)
    return path


def test_a_gzip_bomb_stops_at_the_limit_without_expanding_it(tmp_path):
    # 50 MB of text in a ~0.2 MB file; before, gzip.decompress expanded all of it first.
    bomb = gz_zeros(tmp_path / "bomb.txt.gz", 50)
    tracemalloc.start()
    try:
        with pytest.raises(TraceError, match=r"bomb.txt.gz: the text is more than 1 MB.*max_mb"):
            read_trace_file(bomb, max_mb=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8e6, f"peak {peak / 1e6:.1f} MB while reading with a 1 MB limit"


def test_the_limit_is_configurable_and_a_file_under_it_loads(tmp_path):
    path = gz_zeros(tmp_path / "three.txt.gz", 3)
    with pytest.raises(TraceError, match="more than 2 MB"):
        load(path, max_mb=2)
    with pytest.raises(TraceError, match="more than 2.5 MB"):
        load(f"file:{path}?max_mb=2.5")
    assert len(load(path, max_mb=3.5)) == 1_500_000


def test_bz2_plain_and_tar_members_obey_the_limit(tmp_path):
    (tmp_path / "b.txt.bz2").write_bytes(bz2.compress(LINE_MB))
    with pytest.raises(TraceError, match=r"b.txt.bz2: the text is more than 0.5 MB"):
        load(tmp_path / "b.txt.bz2", max_mb=0.5)
    (tmp_path / "plain.txt").write_bytes(LINE_MB)
    with pytest.raises(TraceError, match=r"plain.txt: the text is 1 MB, above .*max_mb=0.5 MB"):
        load(tmp_path / "plain.txt", max_mb=0.5)
    # A tar member is refused from its header's size, before its data is read.
    with tarfile.open(tmp_path / "w.tar", "w") as tf:
        info = tarfile.TarInfo("workload.txt")
        info.size = len(LINE_MB)
        tf.addfile(info, io.BytesIO(LINE_MB))
    with pytest.raises(TraceError, match=r"w.tar:workload.txt: the text is 1 MB"):
        load(tmp_path / "w.tar", max_mb=0.5)
    assert len(load(tmp_path / "w.tar", max_mb=1.5)) == 500_000


def test_the_default_limit_applies_without_options(tmp_path):
    assert inspect.signature(read_trace_file).parameters["max_mb"].default == DEFAULT_MAX_MB
    path = gz_zeros(tmp_path / "big.txt.gz", int(DEFAULT_MAX_MB) + 1)
    with pytest.raises(TraceError, match=f"more than {DEFAULT_MAX_MB:g} MB"):
        load(path)


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "lots"])
def test_bad_limits_are_named(tmp_path, value):
    (tmp_path / "a.csv").write_text("rps\n1\n", encoding="utf-8")
    with pytest.raises(TraceError, match=f"max_mb='{value}'"):
        load(tmp_path / "a.csv", max_mb=value)


def test_a_corrupt_gzip_is_a_trace_error(tmp_path):
    data = gzip.compress(b"1 2 3\n" * 1000)
    (tmp_path / "cut.txt.gz").write_bytes(data[:-20])
    with pytest.raises(TraceError, match="cut.txt.gz: cannot read the file"):
        load(tmp_path / "cut.txt.gz")
