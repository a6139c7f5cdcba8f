"""The observation: what a policy sees after each step, as a Dict or a flat Box.

Every entry is float32 with finite bounds. Values are clipped to their bounds (queue lengths
and latencies can exceed any bound under overload; the clipping is documented here and the
raw figures are in ``info``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from gymnasium import spaces

__all__ = ["ObservationLayout", "OBS_MODES", "QUEUE_CAP", "LATENCY_CAP_MS", "RATE_CAP"]

OBS_MODES = ("dict", "flat")
QUEUE_CAP = 1e5  # [requests]
LATENCY_CAP_MS = 1e5  # [ms]
RATE_CAP = 1e5  # [req/s]


@dataclass(frozen=True)
class _Entry:
    key: str
    size: int
    high: np.ndarray
    doc: str


class ObservationLayout:
    """Keys, shapes and bounds of the observation, and the conversions between its forms.

    Args:
        max_replicas: Per stage.
        max_cores: Per stage.
        max_batch: Per stage.
        history_s: Seconds of arrival-rate history.
        n_nodes: Nodes of the cluster.
        cores_per_node: Cores of each node.
    """

    def __init__(
        self,
        max_replicas: Sequence[int],
        max_cores: Sequence[int],
        max_batch: Sequence[int],
        history_s: int,
        n_nodes: int,
        cores_per_node: int,
    ) -> None:
        n_stages = len(max_replicas)
        rep = np.asarray(max_replicas, dtype=np.float32)
        stage = (n_stages,)

        def full(value: float, shape: tuple[int, ...]) -> np.ndarray:
            return np.full(shape, value, dtype=np.float32)

        self.entries = [
            _Entry("replicas", n_stages, rep, "replicas that exist and are not being removed"),
            _Entry("replicas_ready", n_stages, rep, "replicas past their cold start"),
            _Entry("replicas_starting", n_stages, rep, "replicas in cold start"),
            _Entry("replicas_pending", n_stages, rep, "replicas asked for but not placed (no room)"),
            _Entry("cores", n_stages, np.asarray(max_cores, dtype=np.float32), "cores per replica (target)"),
            _Entry("batch", n_stages, np.asarray(max_batch, dtype=np.float32), "batch size"),
            _Entry("queue_len", n_stages, full(QUEUE_CAP, stage), "requests waiting in the stage queue"),
            _Entry("utilisation", n_stages, full(1.0, stage), "busy fraction of ready replicas"),
            _Entry("arrival_rate", history_s, full(RATE_CAP, (history_s,)), "arrivals per second, oldest first"),
            _Entry("latency_ms", 3, full(LATENCY_CAP_MS, (3,)), "p50, p95, p99 end-to-end latency [ms]"),
            _Entry("violation", 1, full(1.0, (1,)), "SLO violation of the last interval"),
            _Entry("free_cores", n_nodes, full(float(cores_per_node), (n_nodes,)), "free cores per node"),
        ]
        self.keys = [e.key for e in self.entries]
        self.dict_space = spaces.Dict(
            {e.key: spaces.Box(np.zeros_like(e.high), e.high, dtype=np.float32) for e in self.entries}
        )
        low = np.concatenate([np.zeros(e.size, dtype=np.float32) for e in self.entries])
        high = np.concatenate([e.high for e in self.entries])
        self.flat_space = spaces.Box(low, high, dtype=np.float32)
        self._slices = {}
        start = 0
        for e in self.entries:
            self._slices[e.key] = slice(start, start + e.size)
            start += e.size
        self.highs = {e.key: e.high for e in self.entries}

    def space(self, mode: str) -> spaces.Space:
        """The Dict or flat Box space."""
        return self.dict_space if mode == "dict" else self.flat_space

    def build(self, values: dict[str, np.ndarray], mode: str) -> dict[str, np.ndarray] | np.ndarray:
        """Clip raw values to their bounds and return the observation in ``mode``."""
        clipped = {
            k: np.clip(np.asarray(values[k], dtype=np.float32), 0.0, self.highs[k]) for k in self.keys
        }
        if mode == "dict":
            return clipped
        return np.concatenate([clipped[k] for k in self.keys])

    def as_dict(self, obs: dict[str, np.ndarray] | np.ndarray) -> dict[str, np.ndarray]:
        """The dict form of an observation given in either form."""
        if isinstance(obs, dict):
            return obs
        arr = np.asarray(obs)
        return {k: arr[..., self._slices[k]] for k in self.keys}

    def table(self) -> str:
        """A Markdown table of the observation entries (used in docs)."""
        rows = ["| key | shape | meaning | min | max |", "|---|---|---|---|---|"]
        for e in self.entries:
            rows.append(f"| `{e.key}` | ({e.size},) | {e.doc} | 0 | {float(e.high.max()):g} |")
        return "\n".join(rows)
