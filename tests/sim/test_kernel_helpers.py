"""Kernel helpers that replaced slower equivalents: each must give exactly the old result."""

from __future__ import annotations

import numpy as np
import pytest

from themis_env.sim import kernel as K
from themis_env.sim import simulator


@pytest.mark.parametrize("n", [0, 1, 5, K._BUCKET_SORT_MIN - 1, K._BUCKET_SORT_MIN, 100, 5000])
def test_sorted_uniforms_is_base_plus_the_sorted_uniforms(n):
    rng = np.random.default_rng(n)
    u = rng.random(n)
    if n > 2:
        u[:2] = [np.nextafter(1.0, 0.0), 0.0]  # the ends of [0, 1)
        u[-1] = u[-2]  # a tie
    dst = np.full(n, np.nan)
    count = np.full(n + 1, 7.0)  # scratch: what it held must not matter
    K._sorted_uniforms(u, 17.0, dst, count)
    np.testing.assert_array_equal(dst, 17.0 + np.sort(u))


def test_sorted_uniforms_of_a_clustered_draw():
    # All values in one bucket: the insertion pass does all the work, still exactly.
    u = 0.5 + 1e-6 * np.random.default_rng(0).random(300)
    dst, count = np.empty(300), np.empty(301)
    K._sorted_uniforms(u, 3.0, dst, count)
    np.testing.assert_array_equal(dst, 3.0 + np.sort(u))


def test_ring_length_is_a_power_of_two():
    # The kernel wraps bucket indices onto the ring with a mask.
    n = simulator._RING_BUCKETS
    assert n > 0 and n & (n - 1) == 0
    for t in (0.0, 1.0, 511.9, 512.0, 1e6 + 0.25):
        assert K._bucket_of(t, 0.5, n) == int(np.floor(t / 0.5 + 1e-9)) % n
