"""IPA's load predictor: the max arrival rate of the next 20 s from twelve 10-s maxima.

IPA (arXiv 2308.12871; ``reconfigurable-ml-pipeline/ipa@e1f08dd``, ``optimizer/adapter.py``,
class ``Predictor``) adapts every 10 s. It takes the last two minutes of per-second rates,
aggregates them into 10-s maxima, and feeds the last twelve to an LSTM(25) that predicts the max
of the next 20 s; with fewer than twelve maxima it falls back to the max of what it has
(``backup_predictor_type: max``). The forecast is rounded after a margin (0 % in the paper's
configs).

The LSTM's weights are not public. The learned model here is the project's NumPy forecaster
(:class:`~themis_env.baselines.themis.forecaster.MaxForecaster`) trained the same way on the
first 14 days of the Twitter 2021-08 trace with IPA's inputs and horizon
(``train_forecaster --windows 12 --width 10 --horizon 20``). Without its weights file the
predictor uses the max-of-history fallback for every forecast, and says so in ``fallback``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from themis_env.baselines.themis.forecaster import (
    check_margin,
    load_or_fallback,
)

__all__ = [
    "ADAPTATION_INTERVAL_S",
    "DEFAULT_WEIGHTS",
    "HORIZON_S",
    "WINDOWS",
    "WINDOW_S",
    "IpaForecaster",
]

ADAPTATION_INTERVAL_S = 10  #: IPA decides every 10 s
WINDOWS = 12  #: 10-s maxima in the input (two minutes)
WINDOW_S = 10  #: seconds per window
HORIZON_S = 20  #: the forecast is the max of the next 20 s
DEFAULT_WEIGHTS = Path(__file__).with_name("forecaster_twitter.npz")


class IpaForecaster:
    """IPA's predictor: learned next-20-s max, or the max of the history when it is short.

    Args:
        weights: Weights file of a :class:`MaxForecaster` with IPA's shape; ``None`` or a
            missing default file uses the max-of-history fallback throughout.
        margin_pct: ``predictor_margin`` [%] added before rounding (0 in IPA's configs).
    """

    def __init__(self, weights: str | Path | None = DEFAULT_WEIGHTS, margin_pct: float = 0.0):
        self.margin_pct = check_margin(margin_pct)
        self.model, self.fallback = load_or_fallback(
            weights, DEFAULT_WEIGHTS, WINDOWS, WINDOW_S, HORIZON_S
        )

    def predict(self, history: np.ndarray) -> int:
        """Forecast load [req/s] for the next decision from per-second rates (oldest first)."""
        h = np.asarray(history, dtype=np.float64)
        if len(h) == 0:
            return 0
        if self.model is None or len(h) < WINDOWS * WINDOW_S:
            raw = float(h.max())
        else:
            raw = self.model.predict(h)
        return int(round(raw * (1 + self.margin_pct / 100)))
