"""InfAdapter's load predictor and control rule: next minute's max + 10 %, stabilised.

InfAdapter (arXiv 2304.10892; ``reconfigurable-ml-pipeline/InfAdapter@398b18f``,
``auto_tuner/adapter/main.py``) decides every 30 s. It reads the last 600 s of per-second
rates (front-padded with the oldest value when shorter), takes the ten 1-min maxima, and an
LSTM predicts the next minute's max; the planned load is int(1.1 × int(prediction)). A forecast
at or below the load the current configuration was planned for is ignored four times in a row
(the stabilisation window) before the adapter scales down; a higher one acts at once.

The LSTM's weights are not public. The learned model here is the project's NumPy forecaster
(:class:`~themis_env.baselines.themis.forecaster.MaxForecaster`) trained on the first 14 days
of the Twitter 2021-08 trace with InfAdapter's inputs and horizon
(``train_forecaster --windows 10 --width 60 --horizon 60 --epochs 80``). Without its weights
file the predictor forecasts the max of the history (the IPA fallback) and says so in
``fallback``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from themis_env.baselines.themis.forecaster import (
    check_margin,
    load_or_fallback,
)

from themis_env.errors import ConfigError

__all__ = [
    "DECISION_INTERVAL_S",
    "DEFAULT_WEIGHTS",
    "HISTORY_S",
    "MARGIN_PCT",
    "STABILISATION",
    "InfForecaster",
    "Stabiliser",
]

DECISION_INTERVAL_S = 30  #: InfAdapter decides every 30 s
HISTORY_S = 600  #: ten minutes of per-second rates in the input
WINDOWS = 10  #: 1-min maxima in the input
WINDOW_S = 60  #: seconds per window, and the forecast horizon
MARGIN_PCT = 10  #: ``PREDICTION_ERROR_PERCENTAGE``
STABILISATION = 4  #: lower forecasts ignored before a scale-down
DEFAULT_WEIGHTS = Path(__file__).with_name("forecaster_twitter.npz")


class InfForecaster:
    """InfAdapter's predictor: int((1 + margin) · int(next-minute max)).

    Args:
        weights: Weights file of a :class:`MaxForecaster` with InfAdapter's shape; ``None`` or
            a missing default file forecasts the max of the history instead.
        margin_pct: Margin added to the forecast [%] (10).
    """

    def __init__(
        self, weights: str | Path | None = DEFAULT_WEIGHTS, margin_pct: float = MARGIN_PCT
    ):
        self.margin_pct = check_margin(margin_pct)
        self.model, self.fallback = load_or_fallback(
            weights, DEFAULT_WEIGHTS, WINDOWS, WINDOW_S, WINDOW_S
        )

    def predict(self, history: np.ndarray) -> int:
        """Planned load [req/s] from per-second rates (oldest first)."""
        h = np.asarray(history, dtype=np.float64)[-HISTORY_S:]
        if len(h) == 0:
            return 0
        if len(h) < HISTORY_S:
            h = np.concatenate([np.full(HISTORY_S - len(h), h[0]), h])
        raw = float(h.max()) if self.model is None else self.model.predict(h)
        return int((1 + self.margin_pct / 100) * int(raw))


class Stabiliser:
    """InfAdapter's stabilisation: act on a lower forecast only after ``interval`` skips.

    Args:
        interval: Lower-or-equal forecasts ignored in a row before acting (4).
    """

    def __init__(self, interval: int = STABILISATION) -> None:
        if int(interval) != interval or interval < 0:
            raise ConfigError(f"interval = {interval!r} must be an int >= 0")
        self.interval = int(interval)
        self.counter = 0

    def reset(self) -> None:
        """Forget the skips of a previous episode."""
        self.counter = 0

    def should_reconfigure(self, forecast: float, planned_load: float) -> bool:
        """Whether to re-solve for ``forecast``, given the load the current plan carries."""
        if forecast <= planned_load and self.counter < self.interval:
            self.counter += 1
            return False
        self.counter = 0
        return True
