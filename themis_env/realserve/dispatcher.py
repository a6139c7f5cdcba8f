"""The real dispatcher's batching rule, the simulator's FIFO rule in wall-clock time.

It mirrors :mod:`themis_env.sim.kernel` (``_serve_stage``): requests are taken in arrival
order; the dispatcher starts taking requests for batch k when batch k−1 has been handed to a
replica, a request being taken at max(its arrival, that time); the batch closes when it holds
``b`` requests, or ``timeout`` after its first request was taken, with the requests taken by
then; a closed batch goes to the ready replica that freed first (ties to the lowest slot) and
waits, closed, while none is free. No request is dropped (the check's pipelines drop none).

Pure logic over times the caller gives, so the rule is tested without processes or clocks.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Batch", "BatchFormer", "pick_replica"]


@dataclass(frozen=True)
class Batch:
    """A closed batch.

    Attributes:
        requests: Request ids, in arrival order.
        arrivals: Their arrival times [s].
        close_s: When it closed [s]: its b-th request's take time, or first take + timeout.
    """

    requests: tuple[int, ...]
    arrivals: tuple[float, ...]
    close_s: float


class BatchFormer:
    """A stage's FIFO queue and the batch it is forming.

    Args:
        batch_size: Requests per full batch (b).
        timeout_s: A partial batch closes this long after its first request was taken
            [s]; ``inf`` waits for a full batch, as the simulator does without a timeout.
    """

    def __init__(self, batch_size: int, timeout_s: float = math.inf) -> None:
        self.batch_size = batch_size
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0 (inf: none), got {timeout_s}")
        self.timeout_s = timeout_s
        self._queue: deque[tuple[float, int]] = deque()
        self._closed: Batch | None = None
        # When the dispatcher may take requests for its next batch: the last hand-over.
        self.taking_from_s = -math.inf

    def __len__(self) -> int:
        """Requests waiting (in the queue or in a closed batch not yet handed over)."""
        return len(self._queue) + (len(self._closed.requests) if self._closed else 0)

    def set_batch_size(self, batch_size: int) -> None:
        """Change b; it applies from the next batch that closes."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size

    def add(self, arrival_s: float, request: int) -> None:
        """Queue a request that arrived at ``arrival_s`` (arrivals come in time order)."""
        self._queue.append((arrival_s, request))

    def deadline_s(self) -> float:
        """When the forming batch closes by timeout if no request fills it (inf: never)."""
        if self._closed is not None or not self._queue:
            return math.inf
        return max(self._queue[0][0], self.taking_from_s) + self.timeout_s

    def closed(self, now_s: float) -> Batch | None:
        """The closed batch at ``now_s`` (closing one if the rule says so), else None.

        Every queued request must have arrived by ``now_s``.
        """
        if self._closed is not None or not self._queue:
            return self._closed
        q, b = self._queue, self.batch_size
        first = max(q[0][0], self.taking_from_s)
        limit = first + self.timeout_s
        if len(q) >= b and max(q[b - 1][0], self.taking_from_s) <= limit:
            n, close = b, max(q[b - 1][0], self.taking_from_s)
        elif now_s >= limit:
            # Those taken by the timeout: arrived by then (the first b − 1 at most).
            n = 0
            while n < min(len(q), b) and max(q[n][0], self.taking_from_s) <= limit:
                n += 1
            close = limit
        else:
            return None
        taken = [q.popleft() for _ in range(n)]
        self._closed = Batch(tuple(r for _, r in taken), tuple(a for a, _ in taken), close)
        return self._closed

    def handed(self, start_s: float) -> Batch:
        """The closed batch went to a replica at ``start_s``; start taking for the next."""
        if self._closed is None:
            raise RuntimeError("no closed batch to hand over")
        batch, self._closed = self._closed, None
        self.taking_from_s = start_s
        return batch


def pick_replica(available_since: Sequence[float | None]) -> int | None:
    """The slot of the ready, idle replica that freed first (ties: lowest slot), or None.

    Args:
        available_since: Per slot, when the replica became free to take a batch (the end of
            its last batch or of its cold start), or None when busy, starting or removed.
    """
    best: int | None = None
    for slot, since in enumerate(available_since):
        if since is not None and (best is None or since < available_since[best]):
            best = slot
    return best
