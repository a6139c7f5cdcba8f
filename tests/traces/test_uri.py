from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from themis_env.errors import TraceError, TraceNotFound
from themis_env.resources import configs_dir
from themis_env.traces import WINDOWS, load, search_dirs


def scenario_uris() -> list[str]:
    uris = set()
    for path in sorted((configs_dir() / "scenarios").glob("*.yaml")):
        for match in re.finditer(r"^\s*(?:uri|fallback_uri):\s*(\S+)", path.read_text(), re.M):
            uris.add(match.group(1).strip("'\""))
    return sorted(uris)


SCENARIO_URIS = scenario_uris()


def fake_nasa(folder: Path, values: list[int]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "nasa_http_1995_rps.csv"
    path.write_text("rps\n" + "\n".join(map(str, values)) + "\n")
    return path


def test_scenarios_have_trace_uris():
    assert any(u.startswith("synthetic:") for u in SCENARIO_URIS)
    assert "twitter-2021-08" in SCENARIO_URIS


@pytest.mark.parametrize("uri", [u for u in SCENARIO_URIS if u.startswith("synthetic:")])
def test_every_synthetic_scenario_uri_loads(uri):
    t = load(uri)
    duration = int(re.search(r"duration=(\d+)", uri).group(1))
    assert len(t) == duration and t.mean > 0


@pytest.mark.parametrize("uri", [u for u in SCENARIO_URIS if not u.startswith("synthetic:")])
def test_named_scenario_uri_missing_says_how_to_obtain(uri):
    with pytest.raises(TraceNotFound, match=r"not on this machine.*themis-env traces fetch"):
        load(uri)


def test_named_scenario_uris_load_from_shared(shared):
    for uri in SCENARIO_URIS:
        if not uri.startswith("synthetic:"):
            trace = load(uri, trace_dir=shared)
            # A whole trace, or a window of one (named after '#', or cut by start= and duration=).
            window = "#" in uri or "duration=" in uri
            assert len(trace) > 1_000_000 or (window and len(trace) >= 600), uri


def test_lookup_order_trace_dir_env_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("THEMIS_TRACE_CACHE", str(cache))
    fake_nasa(cache, [1, 1])
    assert load("nasa-1995").rps.tolist() == [1, 1]
    env_a, env_b = tmp_path / "env_a", tmp_path / "env_b"
    fake_nasa(env_b, [2, 2])
    monkeypatch.setenv("THEMIS_TRACE_DIR", f"{env_a}:{env_b}")
    assert load("nasa-1995").rps.tolist() == [2, 2]
    fake_nasa(tmp_path / "arg", [3, 3])
    assert load("nasa-1995", trace_dir=tmp_path / "arg").rps.tolist() == [3, 3]
    assert search_dirs(tmp_path / "arg") == [tmp_path / "arg", env_a, env_b, cache]


def test_original_archive_name_in_repository_layout(tmp_path):
    import io
    import tarfile

    folder = tmp_path / "dataset" / "nasa"
    folder.mkdir(parents=True)
    data = b"0 1 2 3"
    with tarfile.open(folder / "workload.tbz2", "w:bz2") as tf:
        info = tarfile.TarInfo("workload.txt")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    assert load("nasa-1995", trace_dir=tmp_path).rps.tolist() == [0, 1, 2, 3]


def test_post_options_in_query_and_kwargs(tmp_path):
    fake_nasa(tmp_path, [0, 10, 20, 30, 40, 50])
    t = load("nasa-1995?start=1&duration=3", trace_dir=tmp_path)
    assert t.rps.tolist() == [10, 20, 30]
    t = load("nasa-1995?start=1&duration=3&divisor=4", trace_dir=tmp_path)
    assert t.rps.tolist() == [2, 5, 8]  # round(max(1, x/4)); 2.5 rounds to even
    assert load("nasa-1995", trace_dir=tmp_path, damping=8, start=2).rps.tolist() == [2, 3, 5, 6]
    assert load("nasa-1995?scale=2", trace_dir=tmp_path, scale=3).rps[1] == 30  # kwargs win
    assert load("nasa-1995", trace_dir=tmp_path, mean=50).mean == pytest.approx(50)
    assert len(load("nasa-1995", trace_dir=tmp_path, repeat=2, duration=2)) == 4


def test_file_uri_forms(tmp_path):
    path = fake_nasa(tmp_path, [4, 5, 6])
    for ref in (path, str(path), f"file:{path}", f"file://{path}", f"file:{path}?duration=2"):
        t = load(ref)
        assert t.rps.tolist()[:2] == [4, 5]
    assert len(load(f"file:{path}?duration=2")) == 2


@pytest.mark.parametrize(
    ("uri", "exc", "match"),
    [
        ("http://example.com/x.csv", TraceError, "unknown trace URI scheme 'http'"),
        ("s3:bucket/x", TraceError, "unknown trace URI scheme 's3'"),
        (
            "twiter-2021-08",
            TraceError,
            "unknown trace 'twiter-2021-08'.*Did you mean 'twitter-2021-08'",
        ),
        ("", TraceError, "empty trace URI"),
        ("nasa-1995?speed=3", TraceError, "unknown option 'speed'"),
        ("nasa-1995?start=x", TraceError, "start='x' is not a number"),
        ("nasa-1995?duration=0", TraceError, "duration='0' must be > 0"),
        ("nasa-1995?scale=2&mean=3", TraceError, "either scale or mean"),
        ("nasa-1995?divisor=2&damping=8", TraceError, "only one of divisor, damping"),
        (
            "nasa-1995?pipeline=video&preset=arxiv",
            TraceError,
            "only the window 'twitter-2021-08#themis'",
        ),
        ("nasa-1995?resample=linear", TraceError, "resample only applies"),
        ("nasa-1995?start=5&duration=9", TraceError, r"window \[5, 14\) s is outside"),
        ("nasa-1995?start=99", TraceError, "window start 99 s is outside"),
        ("./missing.csv", TraceNotFound, "does not exist"),
        ("nasa-1995?repeat=inf", TraceError, "repeat='inf' must be a finite number"),
        ("nasa-1995?duration=inf", TraceError, "duration='inf' must be a finite number"),
        ("nasa-1995?start=nan", TraceError, "start='nan' must be a finite number"),
        ("nasa-1995?repeat=1e12", TraceError, "repeat=1000000000000 would make a trace of"),
        ("synthetic:steady?duration=1e12", TraceError, "duration=1000000000000 would make a"),
    ],
)
def test_bad_uris(tmp_path, uri, exc, match):
    fake_nasa(tmp_path, list(range(10)))
    with pytest.raises(exc, match=match):
        load(uri, trace_dir=tmp_path)


def test_unknown_window(tmp_path):
    with pytest.raises(TraceError, match="has no window 'themsi'.*Did you mean 'themis'"):
        load("twitter-2021-08#themsi", trace_dir=tmp_path)


def test_windows_registry():
    themis = WINDOWS["twitter-2021-08#themis"]
    assert themis.spans == ((1_301_490, 1_302_150),) and themis.duration_s == 660
    assert themis.divisors["arxiv"] == {"video": 4.384, "sentiment": 8.5625, "nlp": 21.0}
    assert themis.divisors["2025"] == {"video": 1.5, "sentiment": 2.55, "nlp": 3.45}
    assert {w.name for w in WINDOWS.values()} >= {
        "themis",
        "ipa-bursty",
        "ipa-steady-low",
        "ipa-steady-high",
        "ipa-fluctuating",
    }


def test_windows_outside_a_short_trace_fail_clearly(tmp_path):
    folder = tmp_path / "tw"
    folder.mkdir()
    (folder / "twitter_2021_08_rps.csv").write_text("rps\n" + "1\n" * 100)
    with pytest.raises(TraceError, match=r"window start 1301490 s is outside the trace"):
        load("twitter-2021-08#themis", trace_dir=folder)


def test_named_read_is_cached_per_file(tmp_path):
    fake_nasa(tmp_path, [1, 2, 3])
    a = load("nasa-1995", trace_dir=tmp_path)
    b = load("nasa-1995?start=1", trace_dir=tmp_path)
    assert np.shares_memory(a.rps, b.rps) or b.rps.tolist() == [2, 3]
    fake_nasa(tmp_path, [7, 8, 9, 10])  # a changed file is read again
    assert load("nasa-1995", trace_dir=tmp_path).rps.tolist() == [7, 8, 9, 10]
