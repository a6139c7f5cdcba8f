from __future__ import annotations

import dataclasses
import io
import tarfile
from pathlib import Path

import pytest

from themis_env.errors import TraceError
from themis_env.traces import NAMED_TRACES, cache_dir, load
from themis_env.traces.catalog import find_trace_file
from themis_env.traces.fetch import fetch, sha256_of


def small_original(path: Path, values: str = "1 2 3 4") -> Path:
    data = values.encode()
    with tarfile.open(path, "w:bz2") as tf:
        info = tarfile.TarInfo("workload.txt")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture()
def fake_nasa(monkeypatch, tmp_path):
    """nasa-1995 whose 'published original' is a small local archive served by a file:// URL."""
    src = small_original(tmp_path / "served.tbz2")
    entry = NAMED_TRACES["nasa-1995"]
    files = tuple(
        dataclasses.replace(f, url=src.as_uri(), sha256=sha256_of(src)) if f.url else f
        for f in entry.files
    )
    fake = dataclasses.replace(entry, files=files, rows=4, mean=2.5, max=4.0)
    monkeypatch.setitem(NAMED_TRACES, "nasa-1995", fake)
    return src


def test_download_checks_sha_and_installs_in_cache(fake_nasa):
    path = fetch("nasa-1995")
    assert path == cache_dir() / "nasa_http_1995_workload_original.tbz2"
    assert load("nasa-1995").rps.tolist() == [1, 2, 3, 4]
    assert fetch("nasa-1995") == path  # already there: not downloaded again


def test_download_with_wrong_sha_installs_nothing(fake_nasa, monkeypatch):
    small_original(fake_nasa, "9 9 9")  # the served file changed after the sha was recorded
    with pytest.raises(TraceError, match="expected .*not installed"):
        fetch("nasa-1995")
    assert not (cache_dir() / "nasa_http_1995_workload_original.tbz2").exists()
    assert list(cache_dir().glob(".*")) == []  # no partial download left behind


def test_offline_error_explains_how_to_obtain(fake_nasa, tmp_path, monkeypatch):
    entry = NAMED_TRACES["nasa-1995"]
    gone = (tmp_path / "gone.tbz2").as_uri()
    files = tuple(dataclasses.replace(f, url=gone) if f.url else f for f in entry.files)
    monkeypatch.setitem(NAMED_TRACES, "nasa-1995", dataclasses.replace(entry, files=files))
    with pytest.raises(TraceError, match=r"could not download .*--from FILE.*THEMIS_TRACE_DIR"):
        fetch("nasa-1995")


def test_install_from_local_original(fake_nasa, tmp_path):
    copy = small_original(tmp_path / "mine.tbz2")
    path = fetch("nasa-1995", source=copy, dest_dir=tmp_path / "dest")
    assert path == tmp_path / "dest" / "nasa_http_1995_workload_original.tbz2"
    assert sha256_of(path) == sha256_of(copy)


def test_install_from_local_derived_csv_checks_stats(fake_nasa, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("rps\n1\n2\n3\n4\n")
    assert fetch("nasa-1995", source=good).name == "nasa_http_1995_rps.csv"
    bad = tmp_path / "bad.csv"
    bad.write_text("rps\n1\n2\n3\n")
    with pytest.raises(TraceError, match=r"is not the nasa-1995 trace: its sha256 .*has 3 rows"):
        fetch("nasa-1995", source=bad)
    with pytest.raises(TraceError, match="no such file"):
        fetch("nasa-1995", source=tmp_path / "nothing.csv")


def test_unknown_name():
    with pytest.raises(TraceError, match="unknown trace 'nasa'"):
        fetch("nasa")


def test_published_checksums_match_shared_originals(shared):
    for entry in NAMED_TRACES.values():
        original = entry.original
        local = next(shared / n for n in original.names if (shared / n).is_file())
        assert sha256_of(local) == original.sha256, entry.name


def test_install_real_original_from_shared(shared):
    path = fetch("twitter-2021-08", source=shared / "twitter_2021_08_workload_original.tbz2")
    assert path.parent == cache_dir()
    found, _ = find_trace_file(NAMED_TRACES["twitter-2021-08"])
    assert found == path
