"""Train the Themis load forecaster on the first 14 days of the Twitter 2021-08 trace.

As the authors trained their LSTM (``mehransi/Themis@b01017f:adapter/LSTM/train.py``): per-second
rates with the zero seconds (capture gaps) removed, days 0–13 for training and the rest for testing,
one sample every 10 s with the six 10-s maxima of the last 60 s as input and the max of the next 10
s as target. The model is :class:`~themis_env.baselines.themis.forecaster.MaxForecaster` (NumPy
MLP), trained with Adam on the mean squared error of the relative target, the last 10 % of the
training days held out for early stopping. Prints test errors beside two baselines (the last 10-s
max, and the heuristic predictor) and writes the weights with their training record.

Usage::

    python -m themis_env.baselines.themis.train_forecaster --trace-dir /path/to/traces \
        --out baselines/themis/forecaster_twitter.npz

``--windows/--width/--horizon`` train the same model for other inputs: IPA's forecaster
(twelve 10-s maxima, next 20 s) with ``--windows 12 --width 10 --horizon 20 --out
baselines/ipa/forecaster_twitter.npz``, InfAdapter's (ten 1-min maxima, next minute) with
``--windows 10 --width 60 --horizon 60 --out baselines/infadapter/forecaster_twitter.npz``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
from themis_env.baselines.themis.forecaster import (
    DEFAULT_WEIGHTS,
    WINDOW_S,
    WINDOWS,
    MaxForecaster,
    features,
)

DAY_S = 86_400


def load_rates(trace_dir: str | None) -> np.ndarray:
    """Per-second rates of ``twitter-2021-08`` (through ``themis_env.traces``)."""
    from themis_env import traces

    return np.asarray(traces.load("twitter-2021-08", trace_dir=trace_dir).rps, dtype=np.float64)


def samples(
    rates: np.ndarray, windows: int = WINDOWS, width: int = WINDOW_S, horizon: int = WINDOW_S
) -> tuple[np.ndarray, np.ndarray]:
    """(``windows`` maxima of ``width`` s, max of the next ``horizon`` s) every ``width`` s.

    Zero seconds are removed first; ``horizon`` must be a multiple of ``width``. The defaults
    are Themis's: six 10-s maxima and the next 10-s max.
    """
    if horizon % width:
        raise ValueError(f"horizon {horizon} s must be a multiple of the window width {width} s")
    ahead = horizon // width
    x = rates[rates > 0]
    blocks = x[: len(x) // width * width].reshape(-1, width).max(axis=1)
    n = len(blocks) - windows - ahead + 1
    idx = np.arange(n)[:, None] + np.arange(windows)[None, :]
    target = blocks[windows + np.arange(n)[:, None] + np.arange(ahead)[None, :]].max(axis=1)
    return blocks[idx], target


def heuristic(maxima: np.ndarray) -> np.ndarray:
    """The default predictor on the same inputs: last max plus its rise (0 if falling)."""
    return maxima[:, -1] + np.maximum(0.0, maxima[:, -1] - maxima[:, -2])


def train(
    x: np.ndarray,
    y: np.ndarray,
    *,
    hidden: int,
    epochs: int,
    seed: int,
    lr: float = 3e-3,
    batch: int = 256,
    width: int = WINDOW_S,
    horizon: int = WINDOW_S,
) -> tuple[MaxForecaster, list[float]]:
    """Adam on the MSE of relative targets; returns the best model on the held-out tail."""
    xr, scale = features(x)
    yr = y / scale
    cut = int(len(xr) * 0.9)
    xt, yt, xv, yv = xr[:cut], yr[:cut], xr[cut:], yr[cut:]
    model = MaxForecaster.init(hidden, seed, x.shape[1], width, horizon)
    params = [model.w1, model.b1, model.w2, np.array([model.b2])]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    rng = np.random.default_rng(seed)
    best, best_params, history = np.inf, [p.copy() for p in params], []
    step = 0
    for _ in range(epochs):
        order = rng.permutation(len(xt))
        for start in range(0, len(order), batch):
            i = order[start : start + batch]
            a = np.tanh(xt[i] @ params[0] + params[1])
            err = a @ params[2] + params[3][0] - yt[i]
            g_out = 2 * err / len(i)
            g_a = np.outer(g_out, params[2]) * (1 - a**2)
            grads = [xt[i].T @ g_a, g_a.sum(axis=0), a.T @ g_out, np.array([g_out.sum()])]
            step += 1
            for k, (p, g) in enumerate(zip(params, grads, strict=True)):
                m[k] = 0.9 * m[k] + 0.1 * g
                v[k] = 0.999 * v[k] + 0.001 * g * g
                p -= lr * (m[k] / (1 - 0.9**step)) / (np.sqrt(v[k] / (1 - 0.999**step)) + 1e-8)
        pred = np.tanh(xv @ params[0] + params[1]) @ params[2] + params[3][0]
        loss = float(np.mean((pred - yv) ** 2))
        history.append(loss)
        if loss < best:
            best, best_params = loss, [p.copy() for p in params]
    w1, b1, w2, b2 = best_params
    return MaxForecaster(w1, b1, w2, float(b2[0]), width_s=width, horizon_s=horizon), history


def main(argv: list[str] | None = None) -> int:
    """Train, evaluate and save; returns the process exit code."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trace-dir", default=None, help="folder holding twitter_2021_08_rps.csv")
    ap.add_argument("--out", default=str(DEFAULT_WEIGHTS), help="weights file to write (.npz)")
    ap.add_argument("--train-days", type=int, default=14)
    ap.add_argument("--hidden", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--windows", type=int, default=WINDOWS, help="input windows (6)")
    ap.add_argument("--width", type=int, default=WINDOW_S, help="seconds per window (10)")
    ap.add_argument("--horizon", type=int, default=WINDOW_S, help="forecast horizon [s] (10)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    try:
        rates = load_rates(args.trace_dir)
    except (FileNotFoundError, ValueError) as exc:
        print(f"cannot load twitter-2021-08: {exc}", file=sys.stderr)
        return 2
    split = args.train_days * DAY_S
    shape = (args.windows, args.width, args.horizon)
    x_train, y_train = samples(rates[:split], *shape)
    x_test, y_test = samples(rates[split:], *shape)
    model, history = train(
        x_train,
        y_train,
        hidden=args.hidden,
        epochs=args.epochs,
        seed=args.seed,
        width=args.width,
        horizon=args.horizon,
    )
    xr, scale = features(x_test)
    learned = np.maximum(0.0, model.predict_relative(xr) * scale)
    errors = {
        "learned": learned - y_test,
        "last_max": x_test[:, -1] - y_test,
        "heuristic": heuristic(x_test) - y_test,
    }
    report = {
        name: {
            "mae": round(float(np.mean(np.abs(e))), 3),
            "rmse": round(float(np.sqrt(np.mean(e**2))), 3),
            "under_rate": round(float(np.mean(e < 0)), 3),
        }
        for name, e in errors.items()
    }
    model.meta = {
        "trace": "twitter-2021-08",
        "train_days": args.train_days,
        "train_samples": len(y_train),
        "test_samples": len(y_test),
        "hidden": args.hidden,
        "epochs": args.epochs,
        "seed": args.seed,
        "windows": args.windows,
        "width_s": args.width,
        "horizon_s": args.horizon,
        "val_mse": round(min(history), 6),
        "test": json.dumps(report),
    }
    model.save(args.out)
    print(
        f"samples: train {len(y_train)}, test {len(y_test)} ({args.width}-s stride, "
        "zero seconds removed)"
    )
    for name, r in report.items():
        print(
            f"{name:>10}: MAE {r['mae']:.2f} req/s, RMSE {r['rmse']:.2f}, "
            f"under-forecast {r['under_rate']:.1%}"
        )
    print(f"wrote {args.out} in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
