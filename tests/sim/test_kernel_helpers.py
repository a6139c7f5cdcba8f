"""Kernel helpers that replaced slower equivalents: each must give exactly the old result."""

from __future__ import annotations

import numpy as np
import pytest

from themis_env.config import ColdStartConfig
from themis_env.sim import kernel as K
from themis_env.sim import simulator
from themis_env.sim.numpy_loops import EXP_LOOP

from .conftest import constant_pipeline, make_sim


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


@pytest.mark.parametrize(
    "cold",
    [
        ColdStartConfig(),  # lognormal, the default
        ColdStartConfig(sigma=2.5, min_s=0.0, max_s=1e6),  # wide: exp's whole range
        ColdStartConfig(distribution="uniform", min_s=2.0, max_s=30.0),
        ColdStartConfig(distribution="constant", median_s=50.0, max_s=40.0),  # clipped
    ],
)
def test_kernel_draws_the_cold_starts_numpy_draws(cold):
    # The native vector env's kernel draws cold starts itself: the same numbers, leaving the
    # generator in the same state, as the simulator's NumPy draw.
    if cold.distribution == "lognormal" and not EXP_LOOP:
        pytest.skip("NumPy's exp loop was not found: the kernel leaves lognormals to NumPy")
    sim = make_sim(constant_pipeline(), cold_start=cold)
    for n in (1, 7, 64, 1000):
        sim._rng = np.random.default_rng(n)
        expected = sim._cold_starts(n)
        expected_state = sim._rng.bit_generator.state
        rng = np.random.default_rng(n)
        dst = np.full(n, np.nan)
        assert K.draw_cold_starts(rng, sim.prm, EXP_LOOP, dst)
        np.testing.assert_array_equal(dst.view(np.int64), expected.view(np.int64))
        assert rng.bit_generator.state == expected_state


def test_refill_cold_keeps_the_unused_draws_and_refuses_what_does_not_fit():
    sim = make_sim(constant_pipeline(), cold_start=ColdStartConfig(distribution="uniform"))
    cold = np.arange(10.0 * K.COLD_BLOCK)
    cpos = np.array([5, 9])
    rng = np.random.default_rng(0)
    assert K.refill_cold(rng, sim.prm, EXP_LOOP, cold, cpos, 3)
    assert cpos.tolist() == [0, 4 + K.COLD_BLOCK]
    np.testing.assert_array_equal(cold[:4], [5.0, 6.0, 7.0, 8.0])
    np.testing.assert_array_equal(
        cold[4 : 4 + K.COLD_BLOCK], np.random.default_rng(0).uniform(5.0, 20.0, K.COLD_BLOCK)
    )
    before = cold.copy()
    assert not K.refill_cold(rng, sim.prm, EXP_LOOP, cold, cpos, 10 * K.COLD_BLOCK)
    np.testing.assert_array_equal(cold, before)  # too many for the buffer: nothing changed
    assert cpos.tolist() == [0, 4 + K.COLD_BLOCK]


@pytest.mark.parametrize("exponential", [False, True])
def test_refill_randoms_draws_numpys_stream_after_the_unused_draws(exponential):
    sim = make_sim(constant_pipeline([10.0, 10.0]))
    sim.prm[K.P_EXPONENTIAL] = float(exponential)
    ep = np.zeros(K.N_EP)
    ep[[K.E_U_POS, K.E_U_END, K.E_Z_POS, K.E_Z_END]] = (3, 8, 1, 2)
    ubuf, zbuf = np.arange(3.0 * K.RANDOM_BLOCK), -np.arange(3.0 * K.RANDOM_BLOCK)
    need = K.NEED_UNIFORMS | K.NEED_NORMALS | K.NEED_QUEUE
    rng = np.random.default_rng(4)
    left = K.refill_randoms(rng, sim.prm, ep, ubuf, zbuf, need, 10, 9000, 2)
    assert left == K.NEED_QUEUE  # not a draw: the simulator's
    numpy_rng = np.random.default_rng(4)
    uniforms = numpy_rng.random(K.RANDOM_BLOCK)  # a block: more than the 10 new requests
    service = numpy_rng.standard_exponential if exponential else numpy_rng.standard_normal
    draws = service(2 * (9000 + 10))  # one per request and stage: more than a block
    np.testing.assert_array_equal(ubuf[: 5 + K.RANDOM_BLOCK], [3, 4, 5, 6, 7, *uniforms])
    np.testing.assert_array_equal(zbuf[: 1 + draws.size], [-1, *draws])
    assert ep[[K.E_U_POS, K.E_U_END, K.E_Z_POS, K.E_Z_END]].tolist() == [
        0,
        5 + K.RANDOM_BLOCK,
        0,
        1 + draws.size,
    ]
    # No room for the uniforms: nothing is drawn, not even the service draws after them.
    state = rng.bit_generator.state
    small = np.zeros(10)
    assert K.refill_randoms(rng, sim.prm, ep, small, zbuf, need, 10, 9000, 2) == need
    assert rng.bit_generator.state == state


def test_entry_point_is_the_compiled_code_of_the_arguments_types():
    from numba import njit

    from themis_env.sim.batch import entry_point

    @njit
    def scaled_sum(x, k):  # type: ignore[no-untyped-def]
        return x.sum() * k

    x = np.arange(4.0)
    assert scaled_sum(x, 2) == 12.0  # compiled for (float64 1-D C array, int64)
    call = entry_point(scaled_sum, (x, 2))
    assert call is not scaled_sum and call(x, 3) == scaled_sum(x, 3) == 18.0
    # Types it was not compiled for, or an object without numba's internals: the dispatcher.
    assert entry_point(scaled_sum, (x.astype(np.float32), 2)) is scaled_sum
    assert entry_point(max, (1, 2)) is max


def test_address_table_names_each_episode_buffer_and_refuses_a_wrong_one():
    from themis_env.sim.batch import EPISODE_BUFFERS, address_table, set_addresses
    from themis_env.sim.simulator import StageDecision

    sim = make_sim(constant_pipeline())
    sim.reset(np.random.default_rng(0), np.full(30, 5.0), [StageDecision(1, 1, 1)])
    buffers = sim.episode_buffers
    table = address_table(2)
    set_addresses(table, 1, buffers)
    assert not table[0].any()
    for j, array in enumerate(buffers):
        assert table[1, j, 0] == array.ctypes.data
        assert tuple(table[1, j, 1 : 1 + array.ndim]) == array.shape
        assert not table[1, j, 1 + array.ndim :].any()
    wrong = list(buffers)
    wrong[1] = buffers[1][:, :, ::2]  # the queue, not C-ordered
    with pytest.raises(ValueError, match=f"episode buffer {EPISODE_BUFFERS[1]}: a C-ordered 3-D"):
        set_addresses(table, 0, wrong)
    with pytest.raises(ValueError, match="8 episode buffers, expected 9"):
        set_addresses(table, 0, buffers[:8])


def test_count_stages_counts_as_the_array_definitions_do():
    rng = np.random.default_rng(7)
    S, R, Q = 3, 12, 40
    rep_f = np.zeros((S, R, K.N_REP_F))
    rep_i = np.zeros((S, R, K.N_REP_I), dtype=np.int64)
    rep_i[:, :, K.I_ACTIVE] = rng.integers(0, 2, (S, R))
    rep_f[:, :, K.F_SERVING_UNTIL] = np.where(rng.random((S, R)) < 0.3, 5.0, np.inf)
    rep_f[:, :, K.F_READY_AT] = rng.choice([0.0, 4.0, 10.0, 10.5], (S, R))
    queue = np.zeros((S, K.N_QUEUE_ROWS, Q))
    queue[:, K.Q_ARRIVE] = rng.uniform(0.0, 20.0, (S, Q))
    qptr = np.array([[0, 0], [3, 17], [5, Q]])
    now = 10.0
    counts = np.full((S, K.N_SC), -1, dtype=np.int64)
    K.count_stages(now, rep_f, rep_i, queue, qptr, counts)
    active = rep_i[:, :, K.I_ACTIVE] == 1
    removing = rep_f[:, :, K.F_SERVING_UNTIL] < np.inf
    live = active & ~removing
    np.testing.assert_array_equal(counts[:, K.SC_LIVE], live.sum(axis=1))
    ready = live & (rep_f[:, :, K.F_READY_AT] <= now)
    np.testing.assert_array_equal(counts[:, K.SC_READY], ready.sum(axis=1))
    np.testing.assert_array_equal(counts[:, K.SC_DRAINING], (active & removing).sum(axis=1))
    waiting = [np.count_nonzero(queue[s, K.Q_ARRIVE, a:b] < now) for s, (a, b) in enumerate(qptr)]
    np.testing.assert_array_equal(counts[:, K.SC_WAITING], waiting)
    assert counts[1:, K.SC_WAITING].min() > 0 and counts[:, K.SC_DRAINING].sum() > 0


def test_latency_bin_values_are_the_compiled_pow():
    from numba import njit

    @njit
    def centre(k):  # type: ignore[no-untyped-def]
        return K.LAT_BASE_MS * K.LAT_GROWTH ** (k + 0.5)

    compiled = np.array([centre(k) for k in range(K.N_LAT_BINS)])
    np.testing.assert_array_equal(K.LAT_BIN_VALUES, compiled)
    assert K.lat_bin_value(K.N_LAT_BINS - 1) == compiled[-1]
