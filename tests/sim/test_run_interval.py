"""The fused per-step path: run_interval is apply + advance, on packed state that copies well."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from themis_env.sim.simulator import SNAPSHOT_KEYS, StageDecision

from .conftest import constant_pipeline, make_sim

INITIAL = [StageDecision(2, 1, 2), StageDecision(1, 1, 1)]


def _pair(seed: int = 3):
    sims = []
    for _ in range(2):
        sim = make_sim(
            constant_pipeline([60.0, 30.0], max_cores=4, max_batch=4),
            nodes=2,
            cores_per_node=6,
            service_noise_cv=0.2,
        )
        sim.reset(np.random.default_rng(seed), np.full(120, 25.0), INITIAL)
        sims.append(sim)
    return sims


def _decisions(n: int) -> list[list[tuple[int, int, int]]]:
    rng = np.random.default_rng(11)
    plans = [[(2, 1, 2), (1, 1, 1)], [(6, 2, 4), (5, 3, 2)], [(1, 4, 1), (3, 1, 4)]]
    # Held targets most of the time, as a policy would; every few steps a new one (some do
    # not fit the 12 cores, so deferred resizes and pending replicas are retried).
    return [plans[int(rng.integers(3))] if k % 4 == 0 else plans[0] for k in range(n)]


def test_run_interval_equals_apply_then_advance():
    slow, fast = _pair()
    for decision in _decisions(100):
        report = slow.apply([StageDecision(*d) for d in decision])
        stats = slow.advance(1.0)
        summary = fast.run_interval(np.array(decision, dtype=np.int64).ravel(), 1.0)
        assert (summary.arrived, summary.completed, summary.late, summary.dropped) == (
            stats.arrived,
            stats.completed,
            stats.late,
            stats.dropped,
        )
        assert summary.violation == stats.violation
        assert summary.core_seconds == stats.core_seconds
        assert summary.memory_cost == stats.memory_cost
        assert summary.cores_allocated == stats.cores_allocated
        np.testing.assert_array_equal(
            [summary.latency_p50_ms, summary.latency_p99_ms],
            [stats.latency_p50_ms, stats.latency_p99_ms],
        )
        assert summary.horizontal_actions == report.horizontal_actions
        assert summary.vertical_actions == report.vertical_actions
        assert summary.failed_resizes == report.total_failed_resizes
        assert summary.pending == report.total_pending
        np.testing.assert_array_equal(fast.second_records(), stats.seconds)
        np.testing.assert_array_equal(fast.queue_len, stats.queue_len)
        assert _states_equal(fast.state, slow.state)
    assert fast.episode_kpis() == slow.episode_kpis()
    np.testing.assert_array_equal(fast.rate_history, slow.rate_history)


def _states_equal(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_stage_snapshot_matches_the_state():
    sim, _ = _pair()
    for decision in _decisions(30):
        sim.run_interval(np.array(decision, dtype=np.int64).ravel(), 1.0)
        snap = dict(zip(SNAPSHOT_KEYS, sim.stage_snapshot.T, strict=True))
        state = sim.state
        for key, field in (("replicas", "replicas"), ("ready", "ready"), ("starting", "starting")):
            np.testing.assert_array_equal(snap[key], getattr(state, field))
        np.testing.assert_array_equal(snap["pending"], state.pending)
        np.testing.assert_array_equal(snap["cores"], state.cores)
        np.testing.assert_array_equal(snap["batch"], state.batch)
        np.testing.assert_array_equal(snap["queue_len"], state.queue_len)


def test_monitor_vector_is_the_snapshot_history_latency_and_free_cores():
    sim, _ = _pair()
    size = sim.monitor_size
    high = np.full(size, 1e9, dtype=np.float32)
    high[0] = 1.0  # replicas of the first stage clipped to 1
    for decision in _decisions(10):
        vec = np.full(size, np.nan, dtype=np.float32)
        summary = sim.run_interval(np.array(decision, dtype=np.int64).ravel(), 1.0, vec, high)
    s, h = sim.n_stages, len(sim.rate_history)
    expected_snapshot = sim.stage_snapshot.T.ravel().astype(np.float32)
    expected_snapshot[0] = min(expected_snapshot[0], 1.0)
    np.testing.assert_array_equal(vec[: 8 * s], expected_snapshot)
    np.testing.assert_array_equal(vec[8 * s : 8 * s + h], sim.rate_history.astype(np.float32))
    latency = [summary.latency_p50_ms, summary.latency_p95_ms, summary.latency_p99_ms]
    np.testing.assert_array_equal(vec[8 * s + h : 8 * s + h + 3], np.float32(latency))
    assert vec[8 * s + h + 3] == np.float32(summary.violation)
    np.testing.assert_array_equal(vec[8 * s + h + 4 :], sim.free_cores().astype(np.float32))
    # The history holds the arrivals of the last seconds, oldest first.
    assert sim.rate_history[-1] == sim.second_records()[-1, 1]


def test_invalid_targets_raise_naming_the_entry_and_change_nothing():
    sim, _ = _pair()
    sim.run_interval(np.array([2, 1, 2, 1, 1, 1], dtype=np.int64), 1.0)
    before = sim._fbuf.copy(), sim._ibuf.copy(), sim.time
    with pytest.raises(ValueError, match=r"stage 1 .*cores = 9 is outside \[1, 4\]"):
        sim.run_interval(np.array([2, 1, 2, 1, 9, 1], dtype=np.int64), 1.0)
    np.testing.assert_array_equal(sim._fbuf, before[0])
    np.testing.assert_array_equal(sim._ibuf, before[1])
    assert sim.time == before[2]


@pytest.mark.parametrize("copy", ["clone", "pickle"])
def test_copies_have_their_own_packed_state(copy):
    sim, _ = _pair()
    for decision in _decisions(10):
        sim.run_interval(np.array(decision, dtype=np.int64).ravel(), 1.0)
    twin = sim.clone() if copy == "clone" else pickle.loads(pickle.dumps(sim))
    # The named arrays are views of the twin's own buffers, not copies or the original's.
    assert np.shares_memory(twin.rep_f, twin._fbuf) and np.shares_memory(twin.rep_i, twin._ibuf)
    assert not np.shares_memory(twin._fbuf, sim._fbuf)
    kpis = twin.episode_kpis()
    for decision in _decisions(10):
        sim.run_interval(np.array(decision, dtype=np.int64).ravel(), 1.0)
    assert twin.episode_kpis() == kpis  # untouched by the original's steps
    for decision in _decisions(10):
        twin.run_interval(np.array(decision, dtype=np.int64).ravel(), 1.0)
    assert twin.episode_kpis() == sim.episode_kpis()
