"""A small learned load forecaster: the max rate of the next 10 s from the last 60 s.

The Themis authors train a Keras LSTM(25) on the first 14 days of the Twitter 2021-08 trace
(``mehransi/Themis@b01017f:adapter/LSTM/train.py``): the input is the six 10-s maxima of the last 60
s, the target the max of the next 10 s, samples every 10 s, zero seconds (gaps in the capture)
removed. Their weights are not public. This module is a NumPy-only stand-in trained the same way
(see ``baselines/themis/train_forecaster.py``): a one-hidden-layer MLP on the six maxima divided by
their mean, predicting the next max in the same unit, so it applies to any trace scaling (the
scenarios divide the trace by 1.5 to 21). Inference costs a few microseconds.

The window count, window width and horizon are parameters (defaults: Themis's six 10-s windows
and 10-s horizon), so IPA and InfAdapter train and load the same model with their own inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from themis_env.errors import ConfigError

__all__ = [
    "WINDOWS",
    "WINDOW_S",
    "DEFAULT_WEIGHTS",
    "MaxForecaster",
    "window_maxima",
    "features",
    "load_or_fallback",
    "check_margin",
]

WINDOWS = 6  #: 10-s maxima in the input
WINDOW_S = 10  #: seconds per window (and the forecast horizon)
DEFAULT_WEIGHTS = Path(__file__).with_name("forecaster_twitter.npz")


def window_maxima(history: np.ndarray, windows: int = WINDOWS, width: int = WINDOW_S) -> np.ndarray:
    """The maxima of the last ``windows`` windows of ``width`` seconds, oldest first.

    A history shorter than that is padded by repeating its last window's maximum, as the
    authors' adapter pads its input (an empty history gives zeros).
    """
    h = np.asarray(history, dtype=np.float64)
    usable = (len(h) // width) * width
    if usable == 0:
        last = float(h.max()) if len(h) else 0.0
        return np.full(windows, last)
    maxima = h[len(h) - usable :].reshape(-1, width).max(axis=1)[-windows:]
    if len(maxima) < windows:
        maxima = np.concatenate([maxima, np.full(windows - len(maxima), maxima[-1])])
    return maxima


def features(maxima: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale-free inputs: maxima over their mean (rows), and that mean (to scale back)."""
    m = np.atleast_2d(np.asarray(maxima, dtype=np.float64))
    scale = np.maximum(m.mean(axis=1, keepdims=True), 1e-9)
    return m / scale, scale[:, 0]


@dataclass
class MaxForecaster:
    """One-hidden-layer tanh MLP: six relative 10-s maxima → next-10-s max (relative).

    Attributes:
        w1: (W, H) input weights, W windows (6 for Themis).
        b1: (H,) hidden bias.
        w2: (H,) output weights.
        b2: Output bias.
        meta: Training record (trace, split, seed, errors), saved with the weights.
        width_s: Seconds per input window.
        horizon_s: Seconds the forecast max covers (a multiple of ``width_s``).
    """

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: float
    meta: dict[str, Any] = field(default_factory=dict)
    width_s: int = WINDOW_S
    horizon_s: int = WINDOW_S

    @property
    def windows(self) -> int:
        """Number of input windows W."""
        return int(self.w1.shape[0])

    @classmethod
    def init(
        cls,
        hidden: int = 16,
        seed: int = 0,
        windows: int = WINDOWS,
        width_s: int = WINDOW_S,
        horizon_s: int = WINDOW_S,
    ) -> MaxForecaster:
        """Random small weights (Glorot-style scale)."""
        rng = np.random.default_rng(seed)
        return cls(
            rng.normal(0, 1 / np.sqrt(windows), (windows, hidden)),
            np.zeros(hidden),
            rng.normal(0, 1 / np.sqrt(hidden), hidden),
            1.0,
            width_s=width_s,
            horizon_s=horizon_s,
        )

    def predict_relative(self, x: np.ndarray) -> np.ndarray:
        """Relative next max for relative inputs ``x`` of shape (N, W)."""
        return np.tanh(x @ self.w1 + self.b1) @ self.w2 + self.b2

    def predict(self, history: np.ndarray) -> float:
        """Forecast max rate of the next ``horizon_s`` [req/s] from a per-second history."""
        x, scale = features(window_maxima(history, self.windows, self.width_s))
        return float(max(0.0, self.predict_relative(x)[0] * scale[0]))

    def save(self, path: str | Path) -> None:
        """Write the weights and the training record to an ``.npz`` file."""
        meta = {k: str(v) for k, v in self.meta.items()}
        np.savez(
            path,
            w1=self.w1,
            b1=self.b1,
            w2=self.w2,
            b2=np.array(self.b2),
            meta_keys=np.array(list(meta)),
            meta_values=np.array(list(meta.values())),
            width_s=np.array(self.width_s),
            horizon_s=np.array(self.horizon_s),
        )

    @classmethod
    def load(
        cls,
        path: str | Path,
        windows: int = WINDOWS,
        width_s: int = WINDOW_S,
        horizon_s: int = WINDOW_S,
    ) -> MaxForecaster:
        """Read weights written by :meth:`save`, for the given inputs and horizon.

        Files without ``width_s``/``horizon_s`` entries are 10-s Themis files.

        Raises:
            ConfigError: when the file is missing, is not a forecaster file, or was trained for
                other inputs or another horizon.
        """
        path = Path(path)
        if not path.is_file():
            raise ConfigError(
                f"no trained forecaster at {path}; train one with "
                "`python -m themis_env.baselines.themis.train_forecaster`"
            )
        try:
            with np.load(path) as data:
                meta = dict(
                    zip(data["meta_keys"].tolist(), data["meta_values"].tolist(), strict=True)
                )
                model = cls(data["w1"], data["b1"], data["w2"], float(data["b2"]), meta)
                if "width_s" in data:
                    model.width_s = int(data["width_s"])
                    model.horizon_s = int(data["horizon_s"])
        except (KeyError, ValueError, OSError) as exc:
            raise ConfigError(f"{path} is not a forecaster weights file: {exc}") from exc
        if (
            model.w1.shape[0] != windows
            or model.w1.shape[1] != model.b1.shape[0] != model.w2.shape[0]
        ):
            raise ConfigError(
                f"{path}: weight shapes {model.w1.shape}, {model.w2.shape} do not fit"
            )
        if (model.width_s, model.horizon_s) != (width_s, horizon_s):
            raise ConfigError(
                f"{path} forecasts {model.horizon_s} s from {model.width_s}-s windows; "
                f"expected {horizon_s} s from {width_s}-s windows"
            )
        return model


def load_or_fallback(
    weights: str | Path | None, default: Path, windows: int, width: int, horizon: int
) -> tuple[MaxForecaster | None, str]:
    """The forecaster stored in ``weights``, or ``None`` and why the max of the history stands in.

    ``None``, or a package's ``default`` file where it is not installed, falls back to the max
    of the history (IPA's and InfAdapter's own fallback while history is short).
    """
    if weights is None:
        return None, "no weights given: max of the history"
    if Path(weights) == default and not default.is_file():
        return None, f"{default.name} missing: max of the history"
    return MaxForecaster.load(weights, windows, width, horizon), ""


def check_margin(margin_pct: float) -> float:
    """A forecast margin [%] as a float; below −100 % (a negative forecast) is an error."""
    if not np.isfinite(margin_pct) or margin_pct < -100:
        raise ConfigError(f"margin_pct = {margin_pct!r} must be a number >= -100")
    return float(margin_pct)
