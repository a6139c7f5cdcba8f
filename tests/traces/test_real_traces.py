"""The real traces in ../shared/traces (skipped when absent), checked against SOURCES.md."""

from __future__ import annotations

import numpy as np
import pytest

from themis_env.traces import NAMED_TRACES, load


@pytest.fixture(scope="module")
def twitter(shared):
    return load("twitter-2021-08", trace_dir=shared)


@pytest.mark.parametrize(
    ("name", "rows", "mean", "digits", "maximum"),
    [
        ("twitter-2021-08", 1_899_061, 63.6, 1, 388),
        ("nasa-1995", 5_059_950, 0.684, 3, 20),
    ],
)
def test_per_second_traces_match_sources(shared, name, rows, mean, digits, maximum):
    t = load(name, trace_dir=shared)
    assert len(t) == rows and t.resolution_s == 1
    assert round(t.mean, digits) == mean
    assert t.max == maximum and t.min == 0
    entry = NAMED_TRACES[name]
    assert (entry.rows, entry.mean, entry.max) == (rows, mean, maximum)


def test_nasa_total_requests(shared):
    assert load("nasa-1995", trace_dir=shared).total_requests == 3_461_610


def test_worldcup_per_minute_expanded_to_seconds(shared):
    t = load("worldcup-1998", trace_dir=shared)
    assert t.resolution_s == 60 and t.metadata["buckets"] == 125_310
    assert len(t) == 125_310 * 60
    assert round(t.mean * 60, 1) == 10_795.7  # req/min
    assert t.max * 60 == 229_426
    assert round(t.total_requests / 1e9, 3) == 1.353


def test_worldcup_original_equals_derived(shared, tmp_path):
    (tmp_path / "worldcup98_invocation_count_original.csv").symlink_to(
        shared / "worldcup98_invocation_count_original.csv"
    )
    original = load("worldcup-1998", trace_dir=tmp_path)
    assert original.metadata["filled_gaps"] == 10  # the 10 missing minutes, as in SOURCES.md
    assert np.array_equal(original.rps, load("worldcup-1998", trace_dir=shared).rps)


def test_twitter_original_archive_equals_csv(shared, tmp_path, twitter):
    (tmp_path / "twitter_2021_08_workload_original.tbz2").symlink_to(
        shared / "twitter_2021_08_workload_original.tbz2"
    )
    original = load("twitter-2021-08", trace_dir=tmp_path)
    assert original.metadata["format"] == "counts"
    assert np.array_equal(original.rps, twitter.rps)


def test_twitter_2018_window_file(shared):
    t = load(shared / "twitter_2018_04_25_30min_rps.csv")
    assert len(t) == 1_801 and t.metadata["t0"] == 23_400
    assert (t.min, round(t.mean, 1), t.max) == (12, 42.1, 77)


def test_themis_slice(shared, twitter):
    t = load("twitter-2021-08#themis", trace_dir=shared)
    assert len(t) == 660
    assert (t.min, t.max, round(t.mean)) == (32, 274, 144)
    assert np.array_equal(t.rps, twitter.window(1_301_490, 660).rps)


@pytest.mark.parametrize(
    ("preset", "pipeline", "lo", "hi", "mean"),
    [
        ("arxiv", "video", 7, 62, 32.8),
        ("arxiv", "sentiment", 4, 32, 16.8),
        ("arxiv", "nlp", 2, 13, 6.8),
        ("2025", "video", 21, 183, 96.0),
        ("2025", "sentiment", 13, 107, None),
        ("2025", "nlp", 9, 79, None),
    ],
)
def test_themis_divisors(shared, preset, pipeline, lo, hi, mean):
    t = load(f"twitter-2021-08#themis?preset={preset}&pipeline={pipeline}", trace_dir=shared)
    assert (t.min, t.max) == (lo, hi)
    if mean is not None:
        assert round(t.mean, 1) == pytest.approx(mean, abs=0.5 if mean > 50 else 0.05)


@pytest.mark.parametrize(
    ("window", "raw", "damped"),
    [
        ("ipa-steady-low", (25, 43.9, 69), (3, 5.1, 8)),
        ("ipa-bursty", (27, 99.8, 274), (3, 12.0, 34)),
        ("ipa-steady-high", (191, 234.2, 275), (23, 28.8, 34)),
    ],
)
def test_ipa_windows(shared, window, raw, damped):
    t = load(f"twitter-2021-08#{window}", trace_dir=shared)
    assert len(t) == 1200
    assert (t.min, round(t.mean, 1), t.max) == raw
    d = load(f"twitter-2021-08#{window}?damping=8", trace_dir=shared)
    assert (d.min, round(d.mean, 1), d.max) == damped


def test_ipa_fluctuating_pieces(shared, twitter):
    t = load("twitter-2021-08#ipa-fluctuating", trace_dir=shared)
    assert round(t.rps[:600].mean(), 1) == 152.7
    assert round(t.rps[600:].mean(), 1) == 118.8
    assert np.array_equal(t.rps[600:], twitter.window(1_308_600, 600).rps)
