from __future__ import annotations

import numpy as np
import pytest

from themis_env.errors import TraceError
from themis_env.traces import Trace, concatenate, from_counts, themis_scale


def make(values, name="t") -> Trace:
    return Trace(np.asarray(values, dtype=float), name=name, source="test")


def test_rps_is_read_only_float64_copy():
    raw = np.array([1, 2, 3])
    t = make(raw)
    assert t.rps.dtype == np.float64
    assert not t.rps.flags.writeable
    raw[0] = 99
    assert t.rps[0] == 1


@pytest.mark.parametrize("bad", [-1.0, np.nan, np.inf])
def test_invalid_rate_names_second_and_value(bad):
    with pytest.raises(TraceError, match=r"second 2 has rate"):
        make([1.0, 2.0, bad])


def test_window_and_slice():
    t = make(np.arange(10))
    w = t.window(3, 4)
    assert w.rps.tolist() == [3, 4, 5, 6]
    assert t.window(7, None).rps.tolist() == [7, 8, 9]
    assert t.slice(2, 5).rps.tolist() == [2, 3, 4]
    assert w.metadata["ops"] == ("window(3,4)",)


@pytest.mark.parametrize(
    ("first", "length", "match"),
    [
        (10, 1, "window start 10"),
        (-1, 2, "window start -1"),
        (8, 3, r"window \[8, 11\)"),
        (0, 0, "length 0"),
    ],
)
def test_window_outside_raises(first, length, match):
    with pytest.raises(TraceError, match=match):
        make(np.arange(10)).window(first, length)


def test_themis_divisor_rule():
    # round(max(1, x/d)): small values floor at 1, halves round to even like Python's round.
    t = make([0, 1, 4.384, 10, 274, 32])
    out = t.scale_divisor(4.384).rps
    expected = [round(max(1.0, x / 4.384)) for x in [0, 1, 4.384, 10, 274, 32]]
    assert out.tolist() == expected
    assert themis_scale(np.array([5.0]), 2.0).tolist() == [2.0]  # 2.5 -> 2 (half to even)


def test_damping_scale_clip():
    t = make([7, 8, 17, 100])
    assert t.scale_damping(8).rps.tolist() == [0, 1, 2, 12]
    assert t.scale(0.5).rps.tolist() == [3.5, 4, 8.5, 50]
    assert t.scale_to_mean(10).mean == pytest.approx(10)
    c = t.clip(8, 20)
    assert c.rps.tolist() == [8, 8, 17, 20]
    assert c.metadata["clipped_seconds"] == 2
    with pytest.raises(TraceError):
        t.scale(0)
    with pytest.raises(TraceError):
        t.scale_divisor(-1)
    with pytest.raises(TraceError):
        t.clip(5, 1)


def test_repeat_concat_split():
    a, b = make([1, 2], "a"), make([3], "b")
    assert a.repeat(3).rps.tolist() == [1, 2, 1, 2, 1, 2]
    joined = concatenate([a, b])
    assert joined.rps.tolist() == [1, 2, 3]
    assert joined.name == "a+b"
    assert a.concat(b, b).rps.tolist() == [1, 2, 3, 3]
    train, test = make(np.arange(10)).split(0.7)
    assert (len(train), len(test)) == (7, 3)
    assert test.rps[0] == 7
    train, test = make(np.arange(10)).split(4)
    assert train.rps.tolist() == [0, 1, 2, 3]
    for bad in (0, 10, 1.5, -0.2):
        with pytest.raises(TraceError):
            make(np.arange(10)).split(bad)
    with pytest.raises(TraceError):
        a.repeat(0)
    with pytest.raises(TraceError):
        concatenate([])


def test_resample_hold_keeps_each_bucket_total():
    t = from_counts(np.array([60, 120, 0]), 60)
    assert len(t) == 180
    assert t.resolution_s == 60
    assert t.rps[:60].tolist() == [1.0] * 60
    assert t.rps[60:120].sum() == pytest.approx(120)


def test_resample_linear_keeps_total_and_is_smooth():
    t = from_counts(np.array([60, 600, 60]), 60, rule="linear")
    assert t.total_requests == pytest.approx(720)
    assert np.max(np.abs(np.diff(t.rps))) < 1.0  # no staircase jump of 9 req/s
    with pytest.raises(TraceError, match="resample rule"):
        from_counts(np.array([1]), 60, rule="cubic")


def test_to_csv_round_trip(tmp_path):
    from themis_env.traces import load

    for values in ([1, 2, 3], [0.5, 1.25, 3.0]):
        path = tmp_path / "x.csv"
        make(values).to_csv(str(path))
        assert load(path).rps.tolist() == values


def test_stats_keys():
    s = make(np.r_[np.full(700, 10.0), np.full(100, 40.0), np.full(700, 10.0)]).stats()
    assert s["mean"] == pytest.approx(12.0)
    assert s["peak_to_mean"] == pytest.approx(40 / 12)
    assert s["bursts_per_hour"] == pytest.approx(1 / (1500 / 3600))
    assert s["autocorr_1s"] > 0.9
