"""Themis load predictors and the learned forecaster (training on synthetic data)."""

from __future__ import annotations

import numpy as np
import pytest
from themis_env.baselines.themis.forecaster import (
    DEFAULT_WEIGHTS,
    MaxForecaster,
    features,
    window_maxima,
)
from themis_env.baselines.themis.predictors import (
    HeuristicPredictor,
    LearnedPredictor,
    OraclePredictor,
    make_predictor,
)
from themis_env.baselines.themis.train_forecaster import heuristic, samples, train

from themis_env.errors import ConfigError, PolicyError


def test_heuristic_extrapolates_a_rise_only() -> None:
    p = HeuristicPredictor()
    rising = np.r_[np.full(10, 10.0), np.full(10, 16.0)]
    assert p.predict_max(rising, 10) == 22.0  # 16 + (16 - 10)
    falling = rising[::-1]
    assert p.predict_max(falling, 10) == 10.0
    assert p.predict_max(np.array([3.0, 7.0]), 10) == 7.0  # short history: recent max
    assert p.predict_max(np.array([]), 10) == 0.0
    with pytest.raises(ConfigError):
        HeuristicPredictor(window_s=0)


def test_window_maxima_pad_like_the_authors() -> None:
    h = np.arange(1, 26, dtype=float)  # 25 s: two whole windows, the partial one is dropped
    assert window_maxima(h).tolist() == [15, 25, 25, 25, 25, 25]
    assert window_maxima(np.arange(60.0)).tolist() == [9, 19, 29, 39, 49, 59]
    assert window_maxima(np.array([4.0])).tolist() == [4.0] * 6


def test_shipped_forecaster_is_scale_free_and_trained_as_documented() -> None:
    p = LearnedPredictor()
    assert p.path == DEFAULT_WEIGHTS
    meta = p.describe()["trained"]
    assert meta["trace"] == "twitter-2021-08" and meta["train_days"] == "14"
    history = np.r_[np.full(30, 20.0), np.linspace(20, 40, 30)]
    one = p.predict_max(history, 10)
    assert p.predict_max(3 * history, 10) == pytest.approx(3 * one)
    # A steady load is forecast near its level.
    assert p.predict_max(np.full(60, 50.0), 10) == pytest.approx(50, rel=0.15)


def test_learned_without_weights_falls_back_with_a_warning(tmp_path) -> None:
    with pytest.raises(ConfigError, match="train_forecaster"):
        LearnedPredictor(tmp_path / "none.npz")
    with pytest.warns(UserWarning, match="heuristic"):
        p = make_predictor("learned", weights=tmp_path / "none.npz")
    assert isinstance(p, HeuristicPredictor)
    assert p.describe()["fallback_from"] == "learned"
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros(3))
    with pytest.raises(ConfigError, match="not a forecaster"):
        MaxForecaster.load(bad)


def test_oracle_reads_the_future_trace() -> None:
    class FakeEnv:
        unwrapped = None

        def future_rates(self, horizon_s):
            return np.arange(horizon_s, dtype=float)

    env = FakeEnv()
    env.unwrapped = env
    p = OraclePredictor(env)
    assert p.privileged
    assert p.predict_max(np.array([]), 10) == 9.0
    with pytest.raises(PolicyError, match="env"):
        make_predictor("oracle")
    with pytest.raises(PolicyError, match="heuristic"):
        make_predictor("heuristc")


def test_training_learns_a_trend_on_synthetic_data(tmp_path) -> None:
    rng = np.random.default_rng(0)
    t = np.arange(200_000)
    rates = 50 + 30 * np.sin(t / 900) + rng.normal(0, 3, t.size)
    rates[rng.random(t.size) < 0.01] = 0  # capture gaps are removed
    x, y = samples(np.maximum(rates, 0))
    assert x.shape[1] == 6 and len(x) == len(y)
    model, history = train(x, y, hidden=8, epochs=3, seed=0)
    xr, scale = features(x)
    err = np.abs(model.predict_relative(xr) * scale - y).mean()
    assert err < np.abs(x[:, -1] - y).mean() * 1.1  # at least as good as persistence
    assert np.abs(heuristic(x) - y).mean() > 0
    path = tmp_path / "f.npz"
    model.meta = {"trace": "synthetic"}
    model.save(path)
    again = MaxForecaster.load(path)
    assert again.meta == {"trace": "synthetic"}
    np.testing.assert_allclose(again.w1, model.w1)
