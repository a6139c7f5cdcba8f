"""The packed simulator state: one table (kernel.Packed) gives indices, shapes and views."""

from __future__ import annotations

import dataclasses
import math
import operator

import numpy as np
import pytest

from themis_env.sim import kernel as K
from themis_env.sim import simulator as simulator_module
from themis_env.sim.simulator import (
    SNAPSHOT_KEYS,
    ApplyReport,
    IntervalSummary,
    Simulator,
    StageDecision,
)

from .conftest import constant_pipeline, make_sim

_VIEW = {1: K._v1, 2: K._v2, 3: K._v3}


@pytest.fixture
def sim() -> Simulator:
    sim = make_sim(
        constant_pipeline([40.0, 20.0, 30.0], max_cores=3, max_batch=5, max_replicas=4),
        nodes=3,
        cores_per_node=8,
    )
    sim.reset(np.random.default_rng(0), np.full(30, 20.0), [StageDecision(2, 1, 2)] * 3)
    return sim


def _shape(field: K.PackedField, sim: Simulator) -> tuple[int, ...]:
    return tuple(d if isinstance(d, int) else sim.dimensions[d] for d in field.shape)


def test_indices_are_unique_and_contiguous_from_zero():
    assert [int(k) for k in K.Packed] == list(range(K.N_PACKED))
    assert len(K.Packed.__members__) == K.N_PACKED  # no member is an alias of another
    attrs = [k.field.attr for k in K.Packed]
    assert len(set(attrs)) == len(attrs)


def test_rows_are_well_formed():
    for k in K.Packed:
        field = k.field
        assert field.dtype in ("f8", "i8"), k
        assert field.scope in ("scenario", "episode"), k
        assert 1 <= len(field.shape) <= 3, k  # lay holds three sizes
        for d in field.shape:
            assert isinstance(d, str) or (isinstance(d, int) and d >= 1), (k, d)


def test_dimensions_are_the_simulators_sizes(sim):
    named = {d for k in K.Packed for d in k.field.shape if isinstance(d, str)}
    assert named == set(sim.dimensions)
    assert sim.dimensions["stages"] == sim.n_stages == 3
    assert sim.dimensions["slots"] == sim.n_slots == 8
    assert sim.dimensions["nodes"] == sim.cluster.nodes == 3
    assert sim.dimensions["knobs"] == 3 * sim.n_stages
    assert (sim.dimensions["batch_sizes"], sim.dimensions["core_counts"]) == (6, 4)
    assert sim.dimensions["history"] == len(sim.rate_history) == 60


def _packing_order(k: K.Packed) -> tuple[bool, bool]:
    return k.field.scope == "episode", k == K.Packed.BHIST


def test_buffers_hold_the_scenario_fields_then_the_episode_ones_without_gaps(sim):
    for dtype, buf in (("f8", sim._fbuf), ("i8", sim._ibuf)):
        end = 0
        fields = sorted((k for k in K.Packed if k.field.dtype == dtype), key=_packing_order)
        for k in fields:  # declaration order within each group (sorted is stable)
            shape = _shape(k.field, sim)
            assert sim._lay[k, 0] == end, k
            assert tuple(sim._lay[k, 1 : 1 + len(shape)]) == shape, k
            assert not sim._lay[k, 1 + len(shape) :].any(), k
            end += math.prod(shape)
        assert buf.size == end
        assert buf.dtype == np.dtype(dtype)


def test_episode_spans_are_exactly_the_episode_fields_but_the_histograms(sim):
    spans = dict(zip(("f8", "i8"), sim._episode_spans, strict=True))
    for k in K.Packed:
        start, stop = spans[k.field.dtype]
        offset = int(sim._lay[k, 0])
        inside = start <= offset < stop
        assert inside == (k.field.scope == "episode" and k != K.Packed.BHIST), k
        if inside:
            assert offset + math.prod(_shape(k.field, sim)) <= stop, k


def test_every_field_is_a_declared_attribute_viewing_its_place(sim):
    declared = {name for name, hint in Simulator.__annotations__.items() if hint == "np.ndarray"}
    assert declared == {k.field.attr for k in K.Packed}
    buffers = {"f8": sim._fbuf, "i8": sim._ibuf}
    for k in K.Packed:
        field = k.field
        view = getattr(sim, field.attr)
        assert view.shape == _shape(field, sim), k
        assert view.dtype == np.dtype(field.dtype), k
        assert np.shares_memory(view, buffers[field.dtype]), k
    # Distinct values everywhere: the kernel's view of each index is the attribute's.
    sim._fbuf[:] = np.arange(sim._fbuf.size)
    sim._ibuf[:] = np.arange(sim._ibuf.size)
    for k in K.Packed:
        field = k.field
        kernel_view = _VIEW[len(field.shape)](buffers[field.dtype], sim._lay, k)
        np.testing.assert_array_equal(kernel_view, getattr(sim, field.attr), err_msg=str(k))
        assert kernel_view.flags.c_contiguous, k
        assert np.shares_memory(kernel_view, buffers[field.dtype]), k  # a view, not a copy


def test_reset_keeps_the_scenario_fields_and_restarts_the_episode(sim):
    for _ in range(10):
        sim.run_interval(np.array([3, 2, 4] * 3, dtype=np.int64), 1.0)
    scenario = {k: getattr(sim, k.field.attr).copy() for k in K.Packed}
    sim.reset(np.random.default_rng(1), np.zeros(5), [StageDecision(1, 1, 1)] * 3)
    for k, before in scenario.items():
        if k.field.scope == "scenario":
            np.testing.assert_array_equal(getattr(sim, k.field.attr), before, err_msg=str(k))
    assert sim.ep[K.E_ARRIVED] == 0 and not sim.ep_hist.any() and not sim.rate_history.any()
    assert not sim.bhist.any()  # reset clears only the rows holding counts: all of them


def test_reset_state_is_a_fresh_simulators_whatever_the_episode_left(sim):
    for k in K.Packed:
        if k.field.scope == "episode":
            getattr(sim, k.field.attr)[...] = 7
    fresh = make_sim(
        constant_pipeline([40.0, 20.0, 30.0], max_cores=3, max_batch=5, max_replicas=4),
        nodes=3,
        cores_per_node=8,
    )
    for s in (sim, fresh):
        s.reset(np.random.default_rng(1), np.full(5, 3.0), [StageDecision(1, 1, 1)] * 3)
    for k in K.Packed:
        a, b = getattr(sim, k.field.attr), getattr(fresh, k.field.attr)
        np.testing.assert_array_equal(a, b, err_msg=str(k))


def test_reset_clears_latency_histogram_rows_of_completions_still_ahead(sim):
    sim.run_interval(np.array([3, 2, 4] * 3, dtype=np.int64), 1.0)
    sim.bhist[7, 3] = 5  # a count in a bucket not reduced yet, as the kernel records one
    sim.bhist[7, K.BH_LO], sim.bhist[7, K.BH_HI] = 3, 4
    sim.reset(np.random.default_rng(1), np.zeros(5), [StageDecision(1, 1, 1)] * 3)
    assert not sim.bhist.any()


@pytest.mark.parametrize("gather", [False, True])
def test_interval_summary_is_the_kernel_output_by_name(gather, monkeypatch):
    assert set(simulator_module._SUMMARY_SOURCES) == set(IntervalSummary._fields)
    if gather:  # the path run_interval takes once the kernel's slots leave the summary's order
        index = simulator_module._SUMMARY_INDEX
        monkeypatch.setattr(simulator_module, "_gather_summary", operator.itemgetter(*index))
    # Overloaded at times, with a tight SLO: late, dropped and failed resizes all occur.
    pipeline = constant_pipeline(
        [40.0, 20.0, 30.0], slo_ms=150.0, drop_after_slo=2.0, max_cores=3, max_batch=5
    )
    # Accuracies, so that the completions' accuracy is a column of its own.
    models = tuple(
        dataclasses.replace(m, accuracy=0.5 + 0.1 * i, accuracy_metric="a")
        for i, m in enumerate(pipeline.models)
    )
    pipeline = dataclasses.replace(pipeline, models=models)
    sim = make_sim(pipeline, nodes=3, cores_per_node=8)
    sim.reset(np.random.default_rng(0), np.full(30, 60.0), [StageDecision(2, 1, 2)] * 3)
    rows = []
    for step in range(8):
        values = [(1 + step % 3, 1 + step % 2, 2)] * 3
        summary = sim.run_interval(np.array(values, dtype=np.int64).ravel(), 1.0)
        out, totals = sim.out, sim._totals
        expected = {
            "arrived": out[K.O_ARRIVED],
            "completed": out[K.O_COMPLETED],
            "late": out[K.O_LATE],
            "dropped": out[K.O_DROPPED],
            "latency_sum_s": out[K.O_LATENCY_SUM],
            "latency_p50_ms": out[K.O_P50],
            "latency_p95_ms": out[K.O_P95],
            "latency_p99_ms": out[K.O_P99],
            "n_seconds": out[K.O_SECONDS],
            "core_seconds": out[K.O_CORE_SECONDS],
            "violation": out[K.O_VIOLATION],
            "memory_cost": out[K.O_MEMORY_COST],
            "accuracy_sum": out[K.O_ACCURACY_SUM],
            "horizontal_actions": totals[K.T_HORIZONTAL],
            "vertical_actions": totals[K.T_VERTICAL],
            "failed_resizes": totals[K.T_FAILED],
            "pending": totals[K.T_PENDING],
            "t0": step,
            "t1": step + 1,
        }
        np.testing.assert_array_equal(list(summary), [expected[f] for f in summary._fields])
        rows.append(list(summary))
    # No two fields agree at every step, so any two exchanged would have been caught.
    columns = {tuple(map(repr, column)) for column in zip(*rows, strict=True)}
    assert len(columns) == len(IntervalSummary._fields)


def test_apply_report_is_the_kernels_rows_by_name(sim):
    report = sim.apply([StageDecision(4, 3, 1), StageDecision(1, 1, 1), StageDecision(2, 1, 2)])
    assert isinstance(report, ApplyReport)
    rows = {
        "added": K.R_ADDED,
        "removed": K.R_REMOVED,
        "resized": K.R_RESIZED,
        "failed_resizes": K.R_FAILED,
        "pending": K.R_PENDING,
    }
    for name, column in rows.items():
        np.testing.assert_array_equal(getattr(report, name), sim._report[:, column], name)
    assert (report.added[0], report.removed[1]) == (2, 1)
    assert report.horizontal_actions == sim._totals[K.T_HORIZONTAL] == 2
    assert report.vertical_actions == sim._totals[K.T_VERTICAL]
    assert report.total_failed_resizes == sim._totals[K.T_FAILED]
    assert report.total_pending == sim._totals[K.T_PENDING]


def test_snapshot_columns_are_adjacent_and_in_order():
    # stage_snapshot is one slice of out_stage, and the monitor vector walks the same range.
    columns = list(simulator_module._SNAPSHOT_COLUMNS.values())
    assert columns == list(range(K.OS_LIVE, K.OS_UTILISATION + 1))
    assert K.SNAPSHOT_COLUMNS == slice(columns[0], columns[-1] + 1)
    assert SNAPSHOT_KEYS == tuple(simulator_module._SNAPSHOT_COLUMNS)
