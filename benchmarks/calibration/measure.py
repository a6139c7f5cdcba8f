"""Measure the real traces and calibrate the synthetic generators' defaults against them.

Run from a checkout (needs matplotlib and the real traces)::

    python benchmarks/calibration/measure.py --trace-dir ../shared/traces

It prints, for every pattern, the parameters fitted to its reference trace and the current
defaults, then compares the defaults with the reference (mean +- sd over ten seeds), writes
``calibration.json`` and one figure per pattern into this folder, and rewrites the generated
part of ``CALIBRATION.md``. Set the defaults in ``generators.py`` to the fitted values, rerun,
and regenerate the shipped examples (``python -m themis_env.traces.examples``).

References (see CALIBRATION.md for why):

- bursty: the Themis slice ``twitter-2021-08#themis``; burst frequency from the whole Twitter trace;
- steady: ``#ipa-steady-low`` and ``#ipa-steady-high``;
- fluctuating: ``#ipa-fluctuating``;
- diurnal: NASA-HTTP, 1-27 July 1995 (the days before the gap);
- spike: the ten largest match-day peaks of WorldCup98 (per minute);
- mmpp: six-hour gap-free pieces of the Twitter trace;
- ramp: none (a controlled test pattern).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from themis_env import traces
from themis_env.traces.generators import PATTERNS, generate
from themis_env.traces.stats import autocorr, burst_onsets, trace_stats

HERE = Path(__file__).resolve().parent
METRICS = ("cv", "peak_to_mean", "autocorr_1s", "autocorr_10s", "autocorr_60s", "dispersion")
SEEDS_FIT = (0, 1, 2)
SEEDS_CHECK = tuple(range(10))


# -- measurements ---------------------------------------------------------------------------------
def dispersion_index(x: np.ndarray, k: int = 21) -> float:
    """Variance of the counts around a k-s moving mean, over that mean (1 for Poisson)."""
    if x.size <= k:
        return float("nan")
    m = np.convolve(x, np.ones(k) / k, mode="valid")
    r = x[k // 2 : x.size - k // 2] - m
    return float(r.var() / m.mean() * k / (k - 1)) if m.mean() > 0 else float("nan")


def shape_stats(x: np.ndarray) -> dict[str, float]:
    """The statistics compared in the calibration."""
    s = trace_stats(x)
    return {
        "mean": s["mean"],
        "cv": s["std"] / s["mean"] if s["mean"] > 0 else float("nan"),
        "peak_to_mean": s["peak_to_mean"],
        "autocorr_1s": s["autocorr_1s"],
        "autocorr_10s": s["autocorr_10s"],
        "autocorr_60s": s["autocorr_60s"],
        "dispersion": dispersion_index(x),
    }


def average(stats: Sequence[Mapping[str, float]]) -> dict[str, tuple[float, float]]:
    """Mean and standard deviation of each statistic over several series."""
    keys = stats[0].keys()
    return {
        k: (float(np.mean([s[k] for s in stats])), float(np.std([s[k] for s in stats])))
        for k in keys
    }


def distance(
    synth: Mapping[str, float], real: Mapping[str, float], metrics: Sequence[str]
) -> float:
    """Sum of errors: relative for spreads and peak-to-mean, absolute for correlations.

    Dispersion uses the absolute log ratio.
    """
    total = 0.0
    for m in metrics:
        a, b = synth[m], real[m]
        if m in ("cv", "peak_to_mean") or m.endswith("_std"):
            total += abs(a - b) / b
        elif m == "dispersion":
            total += abs(math.log(a / b))
        else:
            total += abs(a - b)
    return total


def gap_free_segments(
    x: np.ndarray, min_gap: int = 60, min_len: int = 6 * 3600
) -> list[tuple[int, int]]:
    """[first, end) pieces between zero runs of at least ``min_gap`` seconds (missing data)."""
    z = np.concatenate(([0], (x == 0).astype(np.int8), [0]))
    d = np.diff(z)
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    pieces, prev = [], 0
    for a, b in zip(starts, ends, strict=True):
        if b - a >= min_gap:
            if a - prev >= min_len:
                pieces.append((prev, int(a)))
            prev = int(b)
    if x.size - prev >= min_len:
        pieces.append((prev, int(x.size)))
    return pieces


# -- fitting --------------------------------------------------------------------------------------
def grid_fit(
    pattern: str,
    grid: Mapping[str, Sequence[Any]],
    references: Sequence[np.ndarray],
    metrics: Sequence[str],
    fixed: Mapping[str, Any] | None = None,
    stat_fn: Callable[[np.ndarray], dict[str, float]] = shape_stats,
) -> tuple[dict[str, Any], float]:
    """Grid search: the parameters whose synthetic series (3 seeds) best match the references."""
    real = [stat_fn(r) for r in references]
    best, best_d = {}, math.inf
    keys = list(grid)
    for combo in itertools.product(*(grid[k] for k in keys)):
        params = dict(zip(keys, combo, strict=True), **(fixed or {}))
        d = 0.0
        for ref, rs in zip(references, real, strict=True):
            synth = [
                stat_fn(
                    generate(
                        pattern, seed=s, mean=float(ref.mean()), duration=ref.size, **params
                    ).rps
                )
                for s in SEEDS_FIT
            ]
            avg = {k: v[0] for k, v in average(synth).items()}
            d += distance(avg, rs, metrics)
        if d < best_d:
            best, best_d = params, d
    return best, best_d


def check(pattern: str, reference: np.ndarray, stat_fn: Callable = shape_stats) -> dict[str, Any]:
    """Real statistics vs the current defaults (mean +- sd over ten seeds).

    The synthetic series have the reference's mean and length.
    """
    synth = [
        stat_fn(
            generate(pattern, seed=s, mean=float(reference.mean()), duration=reference.size).rps
        )
        for s in SEEDS_CHECK
    ]
    return {"real": stat_fn(reference), "synthetic": average(synth)}


def measure_bursty_shape(x: np.ndarray) -> dict[str, float]:
    """Surge shape of the Themis slice, read off its 10-s means."""
    base = float(np.median(x[:50]))
    m10 = np.convolve(x, np.ones(10) / 10, mode="same")
    plateau = float(np.median(x[120:380]))
    lo, hi = base + 0.1 * (plateau - base), base + 0.9 * (plateau - base)
    start = int(np.argmax(m10 > lo))
    full = int(np.argmax(m10 > hi))
    last_hi = int(np.flatnonzero(m10 > hi)[-1])
    end = int(np.flatnonzero(m10 > lo)[-1])
    # The trapezoid's rise/decay are 0->100 %, the crossings 10->90 %: scale by 1/0.8.
    return {
        "base": base,
        "plateau": plateau,
        "height": plateau / base,
        "first": start - 0.125 * (full - start),
        "rise": (full - start) / 0.8,
        "hold": float(last_hi - full),
        "decay": (end - last_hi) / 0.8,
    }


def measure_spikes(counts: np.ndarray, top: int = 10) -> list[dict[str, float]]:
    """The ``top`` largest WorldCup peaks a day apart: height over the pre-match level, decay."""
    events: list[dict[str, float]] = []
    for i in np.argsort(-counts):
        i = int(i)
        if i < 240 or any(abs(i - e["minute"]) < 1440 for e in events):
            continue
        base = float(np.median(counts[i - 210 : i - 150]))
        peak = float(counts[i])
        k = i
        while k < counts.size - 1 and counts[k] > base + (peak - base) / math.e:
            k += 1
        events.append(
            {
                "minute": i,
                "base": base,
                "peak": peak,
                "height": peak / base,
                "decay_s": (k - i) * 60.0,
            }
        )
        if len(events) == top:
            break
    return events


def diurnal_profile(x: np.ndarray, days: int) -> np.ndarray:
    """Mean rate per hour of day over ``days`` whole days."""
    return x[: days * 86400].reshape(days, 24, 3600).mean(axis=(0, 2))


def harmonic_fit(profile: np.ndarray) -> tuple[float, float]:
    """Relative amplitude and peak second of the 24-h cosine that best fits an hourly profile."""
    t = (np.arange(24) + 0.5) * 3600.0
    w = 2 * math.pi * t / 86400.0
    a = np.c_[np.ones(24), np.cos(w), np.sin(w)]
    c0, c1, c2 = np.linalg.lstsq(a, profile, rcond=None)[0]
    peak = (math.atan2(c2, c1) % (2 * math.pi)) / (2 * math.pi) * 86400.0
    return float(math.hypot(c1, c2) / c0), float(peak)


def residual_stats(x: np.ndarray) -> dict[str, float]:
    """Wander around the daily cycle.

    Std and autocorrelation (10 min, 1 h) of log(10-min mean / mean of that hour of day).
    """
    days = x.size // 86400
    prof = diurnal_profile(x, days)
    m = x[: days * 86400].reshape(-1, 600).mean(axis=1)
    expected = np.repeat(prof, 6)[np.arange(m.size) % 144]
    r = np.log((m + 1e-9) / expected)
    return {
        "resid_std": float(r.std()),
        "resid_acf_10min": autocorr(r, 1),
        "resid_acf_1h": autocorr(r, 6),
    }


def mmpp_stats(x: np.ndarray) -> dict[str, float]:
    """Long-range statistics for the MMPP.

    The cv of the 60-s means, their autocorrelation at 1 min and 1 h, and bursts per hour.
    """
    m = x[: x.size // 60 * 60].reshape(-1, 60).mean(axis=1)
    return {
        "cv_60s": float(m.std() / m.mean()),
        "acf_60s": autocorr(m, 1),
        "acf_1h": autocorr(m, 60),
        "bursts_per_hour": float(burst_onsets(x).size / (x.size / 3600.0)),
    }


def mmpp_distance(
    synth: Mapping[str, float], real: Mapping[str, float], metrics: Sequence[str]
) -> float:
    """Relative error of cv, absolute of correlations and burst rate."""
    return (
        abs(synth["cv_60s"] - real["cv_60s"]) / real["cv_60s"]
        + abs(synth["acf_60s"] - real["acf_60s"])
        + abs(synth["acf_1h"] - real["acf_1h"])
        + abs(synth["bursts_per_hour"] - real["bursts_per_hour"])
        / max(real["bursts_per_hour"], 0.1)
    )


# -- figures --------------------------------------------------------------------------------------
def _acf_curve(x: np.ndarray, lags: np.ndarray) -> np.ndarray:
    return np.array([autocorr(x, int(k)) for k in lags])


def figure(
    path: Path, title: str, real: np.ndarray, synth: np.ndarray, real_label: str, step: int = 1
) -> None:
    """Series (real above, synthetic below, same scale) and their autocorrelation up to 300 s."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(9, 7.2))
    top = max(real.max(), synth.max()) * 1.05
    for ax, x, label, color in (
        (axes[0], real, real_label, "tab:blue"),
        (axes[1], synth, "synthetic (defaults, seed 0)", "tab:orange"),
    ):
        t = np.arange(x.size) * step
        ax.plot(t, x, lw=0.5, color=color)
        ax.set_ylim(0, top)
        ax.set_xlim(0, t[-1] if t.size else 1)
        ax.set_ylabel("req/s")
        ax.set_title(f"{label}: mean {x.mean():.3g}, max {x.max():.3g}", fontsize=9)
    axes[1].set_xlabel("time [s]")
    lags = np.arange(1, min(301, real.size // 2, synth.size // 2))
    axes[2].plot(lags * step, _acf_curve(real, lags), color="tab:blue", label=real_label)
    axes[2].plot(lags * step, _acf_curve(synth, lags), color="tab:orange", label="synthetic")
    for lag in (1, 10, 60):
        if lag <= lags[-1] * step:
            axes[2].axvline(lag, color="grey", lw=0.5, ls=":")
    axes[2].set_xlabel("lag [s]")
    axes[2].set_ylabel("autocorrelation")
    axes[2].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def spike_figure(path: Path, real_minutes: np.ndarray, real_base: float, synth: np.ndarray) -> None:
    """A WorldCup match peak (per minute) and the synthetic spike (per second).

    Both are divided by their level before the event.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 1, figsize=(9, 5.4))
    axes[0].plot(np.arange(real_minutes.size), real_minutes / real_base, lw=0.8, color="tab:blue")
    axes[0].set_xlabel("time [min]")
    axes[0].set_title(
        "worldcup-1998: a match peak, counts per minute / pre-match level", fontsize=9
    )
    synth_base = float(np.median(synth[: max(10, synth.size // 5)]))
    axes[1].plot(np.arange(synth.size), synth / synth_base, lw=0.5, color="tab:orange")
    axes[1].set_xlabel("time [s]")
    axes[1].set_title(
        "synthetic:spike (defaults, seed 0, 660 s) / its level before the spike", fontsize=9
    )
    top = max(float(real_minutes.max() / real_base), float(synth.max() / synth_base)) * 1.05
    for ax in axes:
        ax.set_ylim(0, top)
        ax.set_ylabel("x pre-event level")
    fig.suptitle("spike: same height, compressed time scale (hours -> minutes)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


# -- report ---------------------------------------------------------------------------------------
def _row(
    name: str,
    real: Mapping[str, float],
    synth: Mapping[str, tuple[float, float]],
    keys: Sequence[str],
) -> list[str]:
    lines = [f"| {name} (real) | " + " | ".join(f"{real[k]:.3g}" for k in keys) + " |"]
    lines.append(
        f"| {name} (synthetic) | "
        + " | ".join(f"{synth[k][0]:.3g} ± {synth[k][1]:.2g}" for k in keys)
        + " |"
    )
    return lines


def _table(
    rows: list[tuple[str, Mapping[str, float], Mapping[str, tuple[float, float]]]],
    keys: Sequence[str],
) -> list[str]:
    out = ["| series | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for name, real, synth in rows:
        out += _row(name, real, synth, keys)
    return out


def _defaults(pattern: str) -> dict[str, Any]:
    return {k: d for k, (_, d, _) in PATTERNS[pattern].params.items()}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the calibration."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--trace-dir", default="../shared/traces", help="folder with the real traces"
    )
    parser.add_argument(
        "--out", default=str(HERE), help="folder for calibration.json and the figures"
    )
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    tw = traces.load("twitter-2021-08", trace_dir=args.trace_dir).rps
    nasa = traces.load("nasa-1995", trace_dir=args.trace_dir).rps
    wc_trace = traces.load("worldcup-1998", trace_dir=args.trace_dir)
    wc_minutes = wc_trace.rps.reshape(-1, 60)[:, 0] * 60.0  # the per-minute counts ('hold' rule)

    def window(name: str) -> np.ndarray:
        return traces.load(f"twitter-2021-08#{name}", trace_dir=args.trace_dir).rps

    result: dict[str, Any] = {"fitted": {}, "defaults": {}, "checks": {}, "measured": {}}
    md: list[str] = []

    # bursty ----------------------------------------------------------------------------------
    themis = window("themis")
    shape = measure_bursty_shape(themis)
    segments = gap_free_segments(tw)
    n_bursts = sum(burst_onsets(tw[a:b]).size for a, b in segments)
    hours = sum(b - a for a, b in segments) / 3600.0
    big = 0
    for a, b in segments:
        x = tw[a:b]
        for o in burst_onsets(x):
            if o >= 600 and o + 300 <= x.size and x[o : o + 300].mean() > 3 * x[o - 600 : o].mean():
                big += 1
    rate = n_bursts / hours
    shape_fixed = {k: round(shape[k], 1) for k in ("height", "first", "rise", "hold", "decay")}
    shape_fixed["every"] = round(3600.0 / rate, -2)
    fit, _ = grid_fit(
        "bursty",
        {"sigma": (0.0, 0.04, 0.08, 0.12), "tau": (5.0, 15.0, 30.0, 60.0)},
        [themis],
        METRICS,
        fixed=shape_fixed,
    )
    result["measured"]["bursty"] = {
        **shape,
        "twitter_bursts_per_hour": rate,
        "twitter_hours": hours,
        "twitter_big_surges": big,
    }
    result["fitted"]["bursty"] = fit
    long = generate("bursty", seed=0, mean=63.6, duration=7 * 86400).rps
    synth_rate = burst_onsets(long).size / (long.size / 3600.0)
    result["measured"]["bursty"]["synthetic_bursts_per_hour_7d"] = synth_rate

    # steady ----------------------------------------------------------------------------------
    steady_refs = [window("ipa-steady-low"), window("ipa-steady-high")[:600]]
    result["fitted"]["steady"], _ = grid_fit(
        "steady",
        {"sigma": (0.0, 0.02, 0.04, 0.06, 0.08, 0.12), "tau": (5.0, 30.0, 120.0)},
        steady_refs,
        METRICS,
    )

    # fluctuating -----------------------------------------------------------------------------
    fl = window("ipa-fluctuating")
    result["fitted"]["fluctuating"], _ = grid_fit(
        "fluctuating",
        {
            "amplitude": (0.6, 0.75, 0.9),
            "period": (600.0, 1200.0),
            "sigma": (0.3, 0.45, 0.6),
            "tau": (120.0, 240.0, 480.0),
        },
        [fl],
        METRICS,
    )

    # diurnal ---------------------------------------------------------------------------------
    nasa_days = nasa[: 27 * 86400]
    amp, peak = harmonic_fit(diurnal_profile(nasa_days, 27))
    wc_sec = wc_trace.rps[150 * 60 :]  # 1998-05-01 00:00 GMT onwards
    wc_amp, wc_peak = harmonic_fit(diurnal_profile(wc_sec, 40))
    result["measured"]["diurnal"] = {
        "nasa_amplitude": amp,
        "nasa_peak_s": peak,
        "worldcup_amplitude_40d": wc_amp,
        "worldcup_peak_s_gmt": wc_peak,
    }
    nasa_week = nasa_days[: 7 * 86400]
    fixed = {"amplitude": round(amp, 2), "peak": round(peak, -2)}
    result["fitted"]["diurnal"], _ = grid_fit(
        "diurnal",
        {"sigma": (0.2, 0.3, 0.4, 0.5), "tau": (3600.0, 7200.0, 14400.0, 28800.0)},
        [nasa_week],
        ("resid_std", "resid_acf_10min", "resid_acf_1h"),
        fixed=fixed,
        stat_fn=residual_stats,
    )
    result["fitted"]["diurnal"].update(fixed)

    # spike -----------------------------------------------------------------------------------
    events = measure_spikes(wc_minutes)
    result["measured"]["spike"] = {"events": events}
    result["fitted"]["spike"] = {
        "height": round(float(np.median([e["height"] for e in events])), 1),
        "worldcup_decay_s": float(np.median([e["decay_s"] for e in events])),
    }

    # mmpp ------------------------------------------------------------------------------------
    pieces = [tw[a : a + 6 * 3600] for a, b in segments[:8]]
    best, best_d = None, math.inf
    real_m = [mmpp_stats(p) for p in pieces]
    real_avg = {k: float(np.mean([r[k] for r in real_m])) for k in real_m[0]}
    for lo_, hi_, dwell in itertools.product(
        (0.6, 0.75, 0.85, 0.9), (1.15, 1.3, 1.6, 2.0), (300.0, 900.0, 1800.0, 3600.0)
    ):
        levels = f"{lo_},1,{hi_}"
        synth = [
            mmpp_stats(
                generate(
                    "mmpp", seed=s, mean=63.6, duration=6 * 3600, levels=levels, dwell=dwell
                ).rps
            )
            for s in SEEDS_FIT
        ]
        avg = {k: float(np.mean([s[k] for s in synth])) for k in synth[0]}
        d = mmpp_distance(avg, real_avg, ())
        if d < best_d:
            best, best_d = {"levels": levels, "dwell": dwell}, d
    result["fitted"]["mmpp"] = best
    result["measured"]["mmpp"] = real_avg

    # checks of the current defaults ----------------------------------------------------------
    for pattern in PATTERNS:
        result["defaults"][pattern] = _defaults(pattern)
    checks = {
        "bursty (Themis slice)": check("bursty", themis),
        "steady (IPA steady low)": check("steady", steady_refs[0]),
        "steady (IPA steady high)": check("steady", steady_refs[1]),
        "fluctuating (IPA fluctuating)": check("fluctuating", fl),
    }
    mm_synth = [
        mmpp_stats(generate("mmpp", seed=s, mean=63.6, duration=6 * 3600).rps) for s in SEEDS_CHECK
    ]
    di_check = check("diurnal", nasa_week, residual_stats)
    result["checks"] = {
        k: {"real": v["real"], "synthetic": v["synthetic"]} for k, v in checks.items()
    }
    result["checks"]["diurnal (NASA, first week)"] = di_check
    result["checks"]["mmpp (Twitter, 6-h pieces)"] = {
        "real": real_avg,
        "synthetic": average(mm_synth),
    }

    # figures ---------------------------------------------------------------------------------
    figs = {
        "bursty": (
            themis,
            generate("bursty", mean=themis.mean(), duration=themis.size).rps,
            "twitter-2021-08#themis",
        ),
        "steady": (
            steady_refs[0],
            generate("steady", mean=steady_refs[0].mean(), duration=steady_refs[0].size).rps,
            "#ipa-steady-low",
        ),
        "fluctuating": (
            fl,
            generate("fluctuating", mean=fl.mean(), duration=fl.size).rps,
            "#ipa-fluctuating",
        ),
        "mmpp": (
            pieces[0],
            generate("mmpp", mean=pieces[0].mean(), duration=pieces[0].size).rps,
            "Twitter, first 6-h piece",
        ),
    }
    for name, (real, synth, label) in figs.items():
        figure(out / f"{name}.png", f"{name}: real vs synthetic", real, synth, label)
    # Diurnal and spike live on longer scales: compare 10-min means and per-minute counts.
    nw = nasa_week.reshape(-1, 600).mean(axis=1)
    sw = (
        generate("diurnal", mean=nasa_week.mean(), duration=nasa_week.size)
        .rps.reshape(-1, 600)
        .mean(axis=1)
    )
    figure(
        out / "diurnal.png",
        "diurnal: 10-min means over a week (ACF lags in 10-min steps x 600 s)",
        nw,
        sw,
        "NASA 1-7 July 1995",
        step=600,
    )
    e = events[1] if len(events) > 1 else events[0]
    i = int(e["minute"])
    spike_figure(
        out / "spike.png",
        wc_minutes[i - 240 : i + 60],
        e["base"],
        generate("spike", mean=144.0, duration=660).rps,
    )

    # report ----------------------------------------------------------------------------------
    keys = (
        "mean",
        "cv",
        "peak_to_mean",
        "autocorr_1s",
        "autocorr_10s",
        "autocorr_60s",
        "dispersion",
    )
    md.append("### Fitted parameters and current defaults\n")
    md.append("| pattern | fitted on the reference | default in generators.py |")
    md.append("|---|---|---|")
    for pattern in PATTERNS:
        fitted = result["fitted"].get(pattern)
        fitted_text = (
            ", ".join(
                f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in fitted.items()
            )
            if fitted
            else "not calibrated"
        )
        default_text = ", ".join(f"{k}={v}" for k, v in result["defaults"][pattern].items())
        md.append(f"| {pattern} | {fitted_text} | {default_text} |")
    bm = result["measured"]["bursty"]
    md.append("")
    md.append(
        f"Themis slice surge (10-s means): base {bm['base']:.1f}, plateau {bm['plateau']:.1f} "
        f"req/s (height {bm['height']:.2f}); rise {bm['rise']:.0f} s, hold {bm['hold']:.0f} s, "
        f"decay {bm['decay']:.0f} s, onset {bm['first']:.0f} s. Twitter bursts: {n_bursts} "
        f"onsets in {hours:.0f} gap-free hours = "
        f"{rate:.2f} per hour (of which {big} are surges to more than 3x the level before); "
        f"synthetic bursty with the defaults over 7 days: {synth_rate:.2f} per hour."
    )
    dm = result["measured"]["diurnal"]
    md.append(
        "\nDaily cycle (24-h cosine fitted to the hourly means): NASA 1-27 July amplitude "
        f"{dm['nasa_amplitude']:.2f}, "
        f"peak at {dm['nasa_peak_s'] / 3600:.1f} h local time; WorldCup 1 May - 9 June amplitude "
        f"{dm['worldcup_amplitude_40d']:.2f}, peak at {dm['worldcup_peak_s_gmt'] / 3600:.1f} h GMT."
    )
    hs = [e["height"] for e in events]
    ds = [e["decay_s"] / 60 for e in events]
    md.append(
        "\nWorldCup peaks (10 largest, a day apart): peak / pre-match level "
        f"{min(hs):.1f}-{max(hs):.1f}, median {np.median(hs):.2f}; decay to 1/e of the excess in "
        f"{min(ds):.0f}-{max(ds):.0f} min, "
        f"median {np.median(ds):.0f} min."
    )
    md.append(
        "\n### Defaults vs the references\n\nSynthetic: mean ± sd over 10 seeds, at the "
        "reference's mean and length.\n"
    )
    md += _table([(k, v["real"], v["synthetic"]) for k, v in checks.items()], keys)
    md.append("")
    md += _table(
        [("diurnal (NASA, first week)", di_check["real"], di_check["synthetic"])],
        ("resid_std", "resid_acf_10min", "resid_acf_1h"),
    )
    md.append("")
    md += _table(
        [("mmpp (Twitter, 6-h pieces)", real_avg, average(mm_synth))],
        ("cv_60s", "acf_60s", "acf_1h", "bursts_per_hour"),
    )
    md.append(
        "\n_Generated by `python benchmarks/calibration/measure.py` in "
        f"{time.perf_counter() - t0:.0f} s._"
    )

    (out / "calibration.json").write_text(
        json.dumps(result, indent=1, default=float) + "\n", encoding="utf-8"
    )
    doc = HERE / "CALIBRATION.md"
    if doc.is_file() and out.resolve() == HERE:
        text = doc.read_text(encoding="utf-8")
        new = re.sub(
            r"(<!-- BEGIN GENERATED -->\n).*(<!-- END GENERATED -->)",
            lambda m: m.group(1) + "\n".join(md) + "\n" + m.group(2),
            text,
            flags=re.S,
        )
        doc.write_text(new, encoding="utf-8")
    print("\n".join(md))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
