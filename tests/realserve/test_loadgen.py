"""The open-loop generator draws arrivals as the simulator does: Poisson within each second."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from themis_env.realserve import poisson_arrivals


def test_arrivals_are_sorted_and_poisson_per_second() -> None:
    rates = np.array([0.0, 50.0, 200.0, 5.0] * 50)
    arrivals = poisson_arrivals(rates, np.random.default_rng(1))
    assert np.all(np.diff(arrivals) >= 0)
    counts = np.bincount(np.floor(arrivals).astype(int), minlength=len(rates))
    assert counts[0::4].sum() == 0
    for offset, rate in ((1, 50.0), (2, 200.0), (3, 5.0)):
        per_second = counts[offset::4]
        # 50 seconds of Poisson(rate): mean within 4 standard errors, variance about the mean.
        assert abs(per_second.mean() - rate) < 4 * np.sqrt(rate / 50)
        assert 0.4 * rate < per_second.var() < 2.0 * rate
    # Uniform inside their second.
    frac = arrivals - np.floor(arrivals)
    assert abs(frac.mean() - 0.5) < 0.02


def test_same_seed_same_arrivals() -> None:
    rates = np.full(10, 30.0)
    a = poisson_arrivals(rates, np.random.default_rng(7))
    b = poisson_arrivals(rates, np.random.default_rng(7))
    assert np.array_equal(a, b)


@pytest.mark.parametrize("rates", [[-1.0], [np.nan], [[1.0]]])
def test_bad_rates_are_refused(rates: list) -> None:
    with pytest.raises(ValueError, match="finite req/s >= 0"):
        poisson_arrivals(np.array(rates), np.random.default_rng(0))


def test_the_package_imports_without_torch_and_themis_env_does_not_import_it() -> None:
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import themis_env\n"
        "assert 'themis_env.realserve' not in sys.modules\n"
        "import themis_env.realserve, themis_env.realserve.check\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
