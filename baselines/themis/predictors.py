"""Load predictors for the Themis controller: the max arrival rate of the next seconds.

Themis asks, every decision, whether the load will grow over the next 10 s (``Adapter.adapt``,
``mehransi/Themis`` ``adapter/main.py``):
the arXiv code forecasts the max rate of the next 10 s with an LSTM; the 2025 code classifies
whether that max exceeds the current throughput. Here every predictor forecasts the max
[req/s]; the 2025 rule compares it with the throughput. Three are shipped:

* ``heuristic`` (default): the max of the last 10 s plus its rise over the 10 s before
  (0 if falling). It needs no training and no privileged data.
* ``learned``: the small MLP of :mod:`themis_env.baselines.themis.forecaster`, trained like the
  authors' LSTM on the first 14 days of the Twitter 2021-08 trace. Without its weights file the
  factory falls back to ``heuristic`` with a warning, and the policy records the fallback.
* ``oracle``: the true max of the next seconds, read from the env's trace (privileged: an
  upper bound, never a competitor).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
from themis_env.baselines.themis.forecaster import DEFAULT_WEIGHTS, MaxForecaster

from themis_env.envs.views import PrivilegedView, privileged_view
from themis_env.errors import ConfigError, PolicyError, did_you_mean

__all__ = [
    "PREDICTORS",
    "LoadPredictor",
    "HeuristicPredictor",
    "LearnedPredictor",
    "OraclePredictor",
    "make_predictor",
]


class LoadPredictor:
    """Base class: forecast the max arrival rate [req/s] over the next ``horizon_s`` seconds.

    Attributes:
        name: Predictor name.
        privileged: True if it reads the future (not observable).
    """

    name = "predictor"
    privileged = False
    fallback_from: str | None = None  # set when this predictor stands in for another

    def reset(self) -> None:
        """Forget the previous episode."""

    def predict_max(self, history: np.ndarray, horizon_s: float) -> float:
        """Max rate expected over the next ``horizon_s`` s, from the per-second ``history``."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """Name and settings, for result records."""
        out: dict[str, Any] = {"name": self.name, "privileged": self.privileged}
        if self.fallback_from:
            out["fallback_from"] = self.fallback_from
        return out


class HeuristicPredictor(LoadPredictor):
    """max(last W s) + max(0, max(last W s) − max(the W s before)), W = ``window_s``.

    A rising load is extrapolated one window ahead; a steady or falling one is predicted to
    stay at its recent max. With less than 2W seconds of history the rise term is 0.

    Args:
        window_s: Window W [s] (default 10, the authors' window).
    """

    name = "heuristic"

    def __init__(self, window_s: int = 10) -> None:
        if window_s < 1:
            raise ConfigError(f"window_s = {window_s} must be >= 1")
        self.window_s = int(window_s)

    def predict_max(self, history: np.ndarray, horizon_s: float) -> float:  # noqa: D102
        if len(history) == 0:
            return 0.0
        w = self.window_s
        recent = float(np.max(history[-w:]))
        if len(history) < 2 * w:
            return recent
        before = float(np.max(history[-2 * w : -w]))
        return recent + max(0.0, recent - before)

    def describe(self) -> dict[str, Any]:  # noqa: D102
        return {**super().describe(), "window_s": self.window_s}


class LearnedPredictor(LoadPredictor):
    """The trained forecaster of :mod:`~themis_env.baselines.themis.forecaster`.

    Six 10-s maxima in, the next 10 s's maximum out.

    Args:
        weights: Path of the ``.npz`` weights (default: the shipped
            ``baselines/themis/forecaster_twitter.npz``).

    Raises:
        ConfigError: when the weights file is missing or malformed.
    """

    name = "learned"

    def __init__(self, weights: str | Path | None = None) -> None:
        self.path = Path(weights) if weights is not None else DEFAULT_WEIGHTS
        self.model = MaxForecaster.load(self.path)

    def predict_max(self, history: np.ndarray, horizon_s: float) -> float:  # noqa: D102
        if len(history) == 0:
            return 0.0
        return self.model.predict(history)

    def describe(self) -> dict[str, Any]:  # noqa: D102
        return {**super().describe(), "weights": str(self.path), "trained": self.model.meta}


class OraclePredictor(LoadPredictor):
    """Privileged: the true max rate of the next seconds, from the env's episode trace.

    Args:
        trace: The env's privileged view (its ``future_rates`` is read).
    """

    name = "oracle"
    privileged = True

    def __init__(self, trace: PrivilegedView) -> None:
        self.trace = trace

    def predict_max(self, history: np.ndarray, horizon_s: float) -> float:  # noqa: D102
        future = self.trace.future_rates(max(1, int(np.ceil(horizon_s))))
        return float(future.max()) if len(future) else 0.0


PREDICTORS = ("heuristic", "learned", "oracle")


def make_predictor(spec: str | LoadPredictor, env: Any = None, **kwargs: Any) -> LoadPredictor:
    """Build a predictor by name (``heuristic``, ``learned``, ``oracle``) or pass one through.

    ``learned`` without weights warns and returns the heuristic, marked with
    ``fallback_from = "learned"`` so records say so.

    Raises:
        PolicyError: for an unknown name, or ``oracle`` without an env.
    """
    if isinstance(spec, LoadPredictor):
        return spec
    if spec == "heuristic":
        return HeuristicPredictor(**kwargs)
    if spec == "learned":
        try:
            return LearnedPredictor(**kwargs)
        except ConfigError as exc:
            warnings.warn(
                f"learned load predictor unavailable ({exc}); using the heuristic predictor",
                stacklevel=2,
            )
            fallback = HeuristicPredictor()
            fallback.fallback_from = "learned"
            return fallback
    if spec == "oracle":
        if env is None:
            raise PolicyError("the oracle predictor reads the env's future trace: pass env")
        return OraclePredictor(privileged_view(env))
    raise PolicyError(
        f"unknown load predictor {spec!r}.{did_you_mean(str(spec), PREDICTORS)} "
        f"Choose one of {list(PREDICTORS)}"
    )
