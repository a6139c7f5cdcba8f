"""The latency fit recovers known coefficients and keeps them non-negative."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from themis_env.errors import ConfigError
from themis_env.profiling import fit_latency, nnls
from themis_env.profiling.fit import design_matrix

from .conftest import latency

GRID = list(itertools.product((1, 2, 4, 8), (1, 2, 4, 8)))  # (cores, batch)


@pytest.mark.parametrize(
    "params",
    [
        (34.693, 2.058, 19.479, 14.259),  # Themis arXiv ResNet18
        (39.909, 7.784, 1.833, 0.451),  # Themis 2025 YOLOv10n
        (12.0, 0.0, 0.0, 3.0),  # serial part only in zeta
    ],
)
def test_fit_recovers_known_coefficients(params: tuple[float, float, float, float]) -> None:
    cores, batches = zip(*GRID, strict=True)
    y = [latency(params, b, c) for c, b in GRID]
    fit = fit_latency(batches, cores, y)
    np.testing.assert_allclose(fit.params, params, rtol=1e-7, atol=1e-7)
    assert fit.max_relative_error < 1e-9
    assert fit.predict_ms(3, 5) == pytest.approx(latency(params, 3, 5))


def test_fit_with_noise_stays_close_and_non_negative() -> None:
    params = (30.0, 2.0, 0.0, 10.0)
    rng = np.random.default_rng(1)
    cores, batches = zip(*GRID, strict=True)
    y = [latency(params, b, c) * rng.lognormal(0.0, 0.03) for c, b in GRID]
    fit = fit_latency(batches, cores, y)
    assert all(v >= 0 for v in fit.params)
    # γ and ζ trade off against each other under noise; the latencies stay close.
    np.testing.assert_allclose(fit.params, params, atol=3.0)
    for c, b in GRID:
        assert fit.predict_ms(b, c) == pytest.approx(latency(params, b, c), rel=0.05)
    assert 0 < fit.mean_relative_error <= fit.max_relative_error < 0.15
    expected = np.abs(design_matrix(batches, cores) @ np.array(fit.params) - y) / y
    np.testing.assert_allclose(fit.relative_errors, expected)


def test_a_coefficient_that_would_be_negative_is_held_at_zero() -> None:
    # Latency falling with the batch size has no non-negative fit but a constant-free one.
    cores, batches = zip(*GRID, strict=True)
    y = [latency((10.0, 0.0, 5.0, 20.0), b, c) - 0.5 * b for c, b in GRID]
    fit = fit_latency(batches, cores, y)
    assert fit.beta == 0.0
    assert all(v >= 0 for v in fit.params)


def test_nnls_matches_scipy() -> None:
    optimize = pytest.importorskip("scipy.optimize")
    rng = np.random.default_rng(2)
    for _ in range(30):
        a = rng.uniform(0.1, 2.0, size=(12, 4))
        y = a @ rng.normal(size=4) + rng.normal(scale=0.2, size=12)
        ours = nnls(a, y)
        theirs, _ = optimize.nnls(a, y)
        assert np.sum((a @ ours - y) ** 2) == pytest.approx(np.sum((a @ theirs - y) ** 2))
        np.testing.assert_allclose(ours, theirs, atol=1e-6)


@pytest.mark.parametrize(
    ("batches", "cores", "y", "match"),
    [
        ([1, 2], [1, 1], [1.0, 2.0], "two batch sizes and two core counts"),
        ([1, 1], [1, 2], [1.0, 2.0], "two batch sizes and two core counts"),
        ([1, 2, 1], [1, 1, 2], [1.0, 2.0], "one length"),
        ([1, 2, 1, 2], [1, 1, 2, 2], [1.0, 2.0, 0.0, 1.0], "latencies_ms must be finite"),
        ([0, 2, 1, 2], [1, 1, 2, 2], [1.0, 2.0, 1.0, 1.0], "batches must be finite and > 0"),
    ],
)
def test_bad_points_are_refused(
    batches: list[int], cores: list[int], y: list[float], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        fit_latency(batches, cores, y)
