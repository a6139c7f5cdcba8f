from __future__ import annotations

import numpy as np
import pytest

from themis_env.errors import TraceError
from themis_env.traces import PATTERNS, generate, load, pattern_names
from themis_env.traces.stats import burst_onsets

ALL = pattern_names()


def test_all_issue_patterns_exist():
    assert set(ALL) >= {"steady", "bursty", "fluctuating", "diurnal", "spike", "ramp", "mmpp"}


@pytest.mark.parametrize("pattern", ALL)
def test_same_seed_same_series_other_seed_differs(pattern):
    a = generate(pattern, seed=3, mean=50, duration=900)
    b = generate(pattern, seed=3, mean=50, duration=900)
    c = generate(pattern, seed=4, mean=50, duration=900)
    assert np.array_equal(a.rps, b.rps)
    assert not np.array_equal(a.rps, c.rps)


@pytest.mark.parametrize("pattern", ALL)
def test_mean_length_and_counts(pattern):
    t = generate(pattern, seed=0, mean=80, duration=1200)
    assert len(t) == 1200
    # The latent rate has exactly this mean; Poisson counts add sqrt(mean/n) noise.
    assert t.mean == pytest.approx(80, abs=4 * np.sqrt(80 / 1200) + 0.5)
    assert np.all(t.rps == np.round(t.rps))
    assert t.min >= 0
    smooth = generate(pattern, seed=0, mean=80, duration=1200, noise="none")
    assert smooth.mean == pytest.approx(80)


def test_uri_equals_function_call_and_records_params():
    t = load("synthetic:bursty?seed=0&mean=144&duration=660")
    assert np.array_equal(t.rps, generate("bursty", seed=0, mean=144, duration=660).rps)
    assert t.metadata["params"]["height"] == PATTERNS["bursty"].params["height"][1]
    assert t.source.startswith("synthetic:bursty?seed=0&mean=144.0&duration=660")


@pytest.mark.parametrize("pattern", ALL)
def test_jitter_is_independent_per_second_lognormal_noise_on_the_same_shape(pattern):
    plain = generate(pattern, seed=2, mean=100, duration=5000, noise="none")
    assert np.array_equal(
        plain.rps, generate(pattern, seed=2, mean=100, duration=5000, noise="none", jitter=0).rps
    )
    jittered = generate(pattern, seed=2, mean=100, duration=5000, noise="none", jitter=0.5)
    assert jittered.mean == pytest.approx(100)
    keep = plain.rps > 0
    # Same shape draw: the ratio is the jitter factor alone (up to the rescaling to the mean).
    log_ratio = np.log(jittered.rps[keep] / plain.rps[keep])
    assert log_ratio.std() == pytest.approx(0.5, rel=0.05)
    assert abs(np.corrcoef(log_ratio[:-1], log_ratio[1:])[0, 1]) < 0.05


def test_jitter_overdisperses_counts_beyond_poisson():
    x = generate("steady", seed=0, mean=144, duration=3600).rps
    y = generate("steady", seed=0, mean=144, duration=3600, jitter=0.5).rps
    assert x.std() / x.mean() == pytest.approx(1 / np.sqrt(144), rel=0.1)
    # Log-normal factor of std 0.5: CV sqrt(exp(0.25) - 1) = 0.53, plus the Poisson part.
    assert y.std() / y.mean() == pytest.approx(np.sqrt(np.exp(0.25) - 1 + 1 / 144), rel=0.1)
    assert np.all(y == np.round(y))
    assert "jitter=0.5" in load("synthetic:steady?seed=0&duration=60&jitter=0.5").source


def test_bursty_default_has_a_themis_like_surge():
    x = generate("bursty", seed=0, mean=144, duration=660, noise="none").rps
    base, plateau = x[:40].mean(), x[150:350].mean()
    assert 3.5 < plateau / base < 6
    assert x[-30:].mean() < 1.5 * base  # back to the base level at the end


def test_bursty_burst_frequency_follows_every():
    x = generate("bursty", seed=1, mean=60, duration=12 * 3600, every=3600).rps
    per_hour = burst_onsets(x).size / 12
    assert 0.6 < per_hour < 1.4


def test_spike_onset_and_height():
    x = generate("spike", seed=0, mean=100, duration=1000, noise="none", at=400, sigma=0).rps
    assert np.allclose(x[:400], x[0])
    assert x.max() / x[0] == pytest.approx(PATTERNS["spike"].params["height"][1], rel=1e-6)


def test_ramp_goes_from_start_to_end():
    x = generate("ramp", seed=0, mean=10, duration=100, noise="none", sigma=0, start=1, end=3).rps
    assert x[0] == pytest.approx(5) and x[-1] == pytest.approx(15)


def test_diurnal_peaks_at_peak_second():
    x = generate("diurnal", seed=0, mean=10, duration=86400, noise="none", sigma=0, peak=36000).rps
    assert abs(int(np.argmax(x)) - 36000) <= 1


def test_mmpp_only_takes_its_levels():
    x = generate("mmpp", seed=2, mean=30, duration=4000, noise="none", levels="1,4", dwell=500).rps
    # Seconds without a switch sit exactly on one of the two levels (scaled to the mean).
    values = np.unique(np.round(x, 9))
    lo, hi = values.min(), values.max()
    assert hi / lo == pytest.approx(4)
    inside = (x > lo + 1e-9) & (x < hi - 1e-9)
    assert inside.sum() < 20  # only the switching seconds mix the two rates
    with pytest.raises(TraceError, match="levels"):
        generate("mmpp", levels="1,x")
    with pytest.raises(TraceError, match="levels"):
        generate("mmpp", levels="2")


@pytest.mark.parametrize(
    ("uri", "match"),
    [
        ("synthetic:burst?seed=0", "unknown synthetic pattern 'burst'.*Did you mean 'bursty'"),
        ("synthetic:bursty?hieght=3", "unknown parameter 'hieght'.*Did you mean 'height'"),
        ("synthetic:bursty?seed=x", "seed='x' is not a number"),
        ("synthetic:bursty?seed=1.5", "must be an integer"),
        ("synthetic:bursty?duration=0", "duration=0 must be > 0"),
        ("synthetic:bursty?mean=-3", "mean=-3.0 must be >= 0"),
        ("synthetic:bursty?mean=nan", "must be finite"),
        ("synthetic:bursty?noise=gauss", "noise='gauss'"),
        ("synthetic:bursty?height=-1", "height=-1.0 must be >= 0"),
        ("synthetic:bursty?jitter=-0.1", "jitter=-0.1 must be >= 0"),
        ("synthetic:bursty?seed=1&seed=2", "given twice"),
    ],
)
def test_bad_synthetic_uris(uri, match):
    with pytest.raises(TraceError, match=match):
        load(uri)


def test_synthetic_accepts_post_options():
    t = load("synthetic:steady?seed=0&mean=100&duration=100", divisor=10, repeat=2)
    assert len(t) == 200
    assert set(np.unique(t.rps)) <= {8.0, 9.0, 10.0, 11.0, 12.0, 13.0}
