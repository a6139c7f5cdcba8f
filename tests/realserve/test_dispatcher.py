"""The real dispatcher batches by the simulator's rule (``themis_env.sim.kernel``)."""

from __future__ import annotations

import math

import pytest

from themis_env.realserve import BatchFormer, pick_replica


def _fill(former: BatchFormer, arrivals: list[float]) -> None:
    for i, a in enumerate(arrivals):
        former.add(a, i)


def test_a_batch_closes_at_its_b_th_request() -> None:
    former = BatchFormer(3)
    _fill(former, [0.1, 0.2])
    assert former.closed(0.25) is None and former.deadline_s() == math.inf
    former.add(0.3, 2)
    batch = former.closed(0.3)
    assert batch is not None and batch.requests == (0, 1, 2) and batch.close_s == 0.3
    assert former.handed(0.31) is batch and len(former) == 0


def test_a_partial_batch_closes_at_the_timeout_with_the_requests_taken_by_then() -> None:
    former = BatchFormer(4, timeout_s=0.05)
    _fill(former, [0.10, 0.12])
    assert former.deadline_s() == pytest.approx(0.15)
    assert former.closed(0.149) is None
    # Seen late (at 0.2): a request that arrived after the timeout is not in the batch.
    former.add(0.16, 2)
    batch = former.closed(0.2)
    assert batch is not None and batch.requests == (0, 1)
    assert batch.close_s == pytest.approx(0.15)
    assert len(former) == 3  # the closed batch and the queued request


def test_the_b_th_request_after_the_timeout_closes_the_batch_by_timeout() -> None:
    former = BatchFormer(2, timeout_s=0.05)
    _fill(former, [0.0, 0.08])
    batch = former.closed(0.08)
    assert batch is not None and batch.requests == (0,) and batch.close_s == pytest.approx(0.05)


def test_requests_queued_while_a_batch_waits_are_taken_at_its_hand_over() -> None:
    # Batch k-1 waits for a replica; requests arriving meanwhile are taken when it is handed
    # over, so the next batch's timeout counts from then, not from their arrival.
    former = BatchFormer(3, timeout_s=0.05)
    _fill(former, [0.0, 0.01, 0.02, 0.03, 0.04])
    first = former.closed(0.04)
    assert first is not None and first.requests == (0, 1, 2)
    assert former.closed(0.5) is first  # still waiting for a replica: nothing new forms
    former.handed(0.5)
    assert former.deadline_s() == pytest.approx(0.55)
    assert former.closed(0.54) is None
    second = former.closed(0.55)
    assert (
        second is not None and second.requests == (3, 4) and second.close_s == pytest.approx(0.55)
    )


def test_without_a_timeout_a_partial_batch_waits() -> None:
    former = BatchFormer(2)
    former.add(0.0, 0)
    assert former.closed(100.0) is None


def test_batch_size_changes_apply_to_the_next_batch() -> None:
    former = BatchFormer(4)
    _fill(former, [0.0, 0.1])
    former.set_batch_size(2)
    batch = former.closed(0.1)
    assert batch is not None and batch.requests == (0, 1)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        former.set_batch_size(0)
    with pytest.raises(ValueError, match="timeout_s must be > 0"):
        BatchFormer(2, timeout_s=0.0)


def test_handing_over_without_a_closed_batch_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="no closed batch"):
        BatchFormer(1).handed(0.0)


def test_the_replica_free_earliest_takes_the_batch_ties_to_the_lowest_slot() -> None:
    assert pick_replica([None, 2.0, 1.0, 1.0]) == 2
    assert pick_replica([0.5, 0.5]) == 0
    assert pick_replica([None, None]) is None
    assert pick_replica([]) is None
