"""IPA and InfAdapter forecasters: inputs, horizons, margins, fallbacks, the shipped weights,
and InfAdapter's stabilisation rule."""

from __future__ import annotations

import numpy as np
import pytest
from themis_env.baselines.infadapter import forecaster as inf
from themis_env.baselines.ipa import forecaster as ipa
from themis_env.baselines.themis.forecaster import DEFAULT_WEIGHTS, MaxForecaster
from themis_env.baselines.themis.train_forecaster import samples, train

from themis_env.errors import ConfigError


def test_samples_take_the_max_over_the_horizon() -> None:
    rates = np.arange(1, 61, dtype=float)  # 60 s: blocks of 10 s have maxima 10, 20, …, 60
    x, y = samples(rates, windows=3, width=10, horizon=20)
    assert x.tolist() == [[10, 20, 30], [20, 30, 40]]
    assert y.tolist() == [50, 60]  # the max of the next two blocks
    x6, y6 = samples(rates, windows=4)  # Themis defaults for width and horizon
    assert x6.tolist() == [[10, 20, 30, 40], [20, 30, 40, 50]] and y6.tolist() == [50, 60]
    with pytest.raises(ValueError, match="multiple"):
        samples(rates, windows=2, width=10, horizon=15)


def test_a_trained_model_keeps_its_shape_through_save_and_load(tmp_path) -> None:
    rng = np.random.default_rng(1)
    rates = np.maximum(40 + 20 * np.sin(np.arange(60_000) / 500) + rng.normal(0, 2, 60_000), 0)
    x, y = samples(rates, 12, 10, 20)
    model, _ = train(x, y, hidden=4, epochs=1, seed=0, width=10, horizon=20)
    path = tmp_path / "ipa.npz"
    model.save(path)
    again = MaxForecaster.load(path, 12, 10, 20)
    assert (again.windows, again.width_s, again.horizon_s) == (12, 10, 20)
    assert again.predict(rates[-200:]) == model.predict(rates[-200:])
    with pytest.raises(ConfigError, match="do not fit"):
        MaxForecaster.load(path)  # Themis's six windows
    with pytest.raises(ConfigError, match="expected 10 s"):
        MaxForecaster.load(path, 12)


def test_ipa_forecaster_falls_back_to_the_max_on_short_history() -> None:
    f = ipa.IpaForecaster()
    assert f.model is not None and not f.fallback
    assert (f.model.windows, f.model.width_s, f.model.horizon_s) == (12, 10, 20)
    short = np.array([3.0, 9.0, 4.0] * 30)  # 90 s < 120 s
    assert f.predict(short) == 9
    long = np.linspace(10, 30, 300)
    assert f.predict(long) == round(f.model.predict(long))
    assert ipa.IpaForecaster(margin_pct=50).predict(short) == round(9 * 1.5)
    plain = ipa.IpaForecaster(None)
    assert plain.fallback and plain.predict(long) == 30
    assert f.predict([]) == 0
    with pytest.raises(ConfigError, match="do not fit"):
        ipa.IpaForecaster(DEFAULT_WEIGHTS)  # Themis's weights: six windows


def test_infadapter_forecaster_pads_in_front_and_adds_its_margin() -> None:
    f = inf.InfForecaster()
    assert f.model is not None
    assert (f.model.windows, f.model.width_s, f.model.horizon_s) == (10, 60, 60)
    history = np.concatenate([np.full(300, 50.0), np.full(300, 80.0)])
    raw = f.model.predict(history)
    assert f.predict(history) == int(1.1 * int(raw))
    # 120 s of history: padded in front with its first value to 600 s.
    short = np.linspace(20, 40, 120)
    padded = np.concatenate([np.full(480, 20.0), short])
    assert f.predict(short) == int(1.1 * int(f.model.predict(padded)))
    plain = inf.InfForecaster(None)
    assert plain.fallback and plain.predict(np.full(30, 99.0)) == 108  # int(1.1 · 99)
    assert inf.InfForecaster(None, margin_pct=0).predict([7.0, 12.0]) == 12


def test_stabiliser_waits_four_lower_forecasts_before_scaling_down() -> None:
    s = inf.Stabiliser()
    assert [s.should_reconfigure(80, 100) for _ in range(5)] == [False] * 4 + [True]
    assert s.should_reconfigure(120, 100)  # a higher forecast acts at once
    assert not s.should_reconfigure(90, 100)
    assert s.should_reconfigure(101, 100) and s.counter == 0
    s.should_reconfigure(90, 100)
    s.reset()
    assert s.counter == 0
    assert inf.Stabiliser(0).should_reconfigure(1, 100)
    with pytest.raises(ConfigError, match="interval"):
        inf.Stabiliser(-1)
