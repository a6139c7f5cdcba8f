"""The observation: what a policy sees after each step, as a Dict or a flat Box.

Every entry is float32 with finite bounds. Values are clipped to their bounds: queue lengths,
rates and latencies can exceed any bound under overload, so their caps are documented here
and the raw figures are in ``info``.

After a step the observation is the simulator's monitoring vector
(:func:`themis_env.sim.kernel.write_monitor`), written and clipped in the step's compiled call:
the entries below are that vector's parts, in its order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from gymnasium import spaces

from themis_env.sim.simulator import SNAPSHOT_KEYS

__all__ = [
    "LATENCY_CAP_MS",
    "OBS_MODES",
    "QUEUE_CAP",
    "RATE_CAP",
    "ObservationEntry",
    "ObservationLayout",
]

OBS_MODES = ("dict", "flat")
QUEUE_CAP = 1e5  # [requests] cap of queue_len
LATENCY_CAP_MS = 1e5  # [ms] cap of latency_ms
RATE_CAP = 1e5  # [req/s] cap of arrival_rate
# Observation keys filled from the simulator's stage snapshot, and its column names.
_FROM_SNAPSHOT = {
    "replicas": "replicas",
    "replicas_ready": "ready",
    "replicas_starting": "starting",
    "replicas_pending": "pending",
    "cores": "cores",
    "batch": "batch",
    "queue_len": "queue_len",
    "utilisation": "utilisation",
}


@dataclass(frozen=True)
class ObservationEntry:
    """One key of the observation.

    Attributes:
        key: Dict key.
        size: Number of values.
        high: Upper bound of each value (the lower bound is 0).
        unit: Unit of the values.
        doc: What the values mean.
    """

    key: str
    size: int
    high: np.ndarray
    unit: str
    doc: str


class ObservationLayout:
    """Keys, shapes and bounds of the observation, and the conversions between its forms.

    The flat form concatenates the entries in :attr:`keys` order. (The Dict *space* lists its
    keys sorted, as ``gymnasium.spaces.Dict`` does; observations are looked up by key.)

    Args:
        max_replicas: Per stage.
        max_cores: Per stage.
        max_batch: Per stage.
        history_s: Seconds of arrival-rate history.
        n_nodes: Nodes of the cluster.
        cores_per_node: Cores of each node.
        variant_slots: Replica slots per stage (the most variants of any stage). Above 1, two
            entries follow the others: ``variant_replicas`` (replicas per stage and slot) and
            ``accuracy`` (the stage's served accuracy).
        accuracy_high: Per stage, its best normalised variant accuracy (bounds ``accuracy``).
    """

    def __init__(
        self,
        max_replicas: Sequence[int],
        max_cores: Sequence[int],
        max_batch: Sequence[int],
        history_s: int,
        n_nodes: int,
        cores_per_node: int,
        variant_slots: int = 1,
        accuracy_high: Sequence[float] = (),
    ) -> None:
        n = len(max_replicas)
        rep = np.asarray(max_replicas, dtype=np.float32)

        def full(value: float, size: int) -> np.ndarray:
            return np.full(size, value, dtype=np.float32)

        def entry(key: str, size: int, high: np.ndarray, unit: str, doc: str) -> ObservationEntry:
            return ObservationEntry(key, size, np.asarray(high, dtype=np.float32), unit, doc)

        self.entries = [
            entry("replicas", n, rep, "replicas", "replicas that exist and are not being removed"),
            entry("replicas_ready", n, rep, "replicas", "replicas past their cold start"),
            entry("replicas_starting", n, rep, "replicas", "replicas in cold start"),
            entry("replicas_pending", n, rep, "replicas", "asked for, not placed (no node room)"),
            entry("cores", n, max_cores, "cores", "cores per replica (the stage's target)"),
            entry("batch", n, max_batch, "requests", "batch size"),
            entry("queue_len", n, full(QUEUE_CAP, n), "requests", "waiting in the stage queue"),
            entry("utilisation", n, full(1.0, n), "1", "busy fraction of ready replicas"),
            entry(
                "arrival_rate",
                history_s,
                full(RATE_CAP, history_s),
                "req/s",
                "observed arrivals per second, oldest first",
            ),
            entry("latency_ms", 3, full(LATENCY_CAP_MS, 3), "ms", "p50, p95, p99 end to end"),
            entry("violation", 1, full(1.0, 1), "1", "SLO violation of the last interval"),
            entry(
                "free_cores",
                n_nodes,
                full(float(cores_per_node), n_nodes),
                "cores",
                "free cores per node",
            ),
        ]
        if variant_slots > 1:
            self.entries += [
                entry(
                    "variant_replicas",
                    n * variant_slots,
                    np.repeat(rep, variant_slots),
                    "replicas",
                    "replicas per stage and variant (stage-major), not being removed",
                ),
                entry(
                    "accuracy",
                    n,
                    np.asarray(accuracy_high, dtype=np.float32),
                    "1",
                    "mean normalised accuracy of the requests the stage served, last interval",
                ),
            ]
        self.keys = [e.key for e in self.entries]
        # fill_after_interval copies the simulator's snapshot columns into the first entries.
        snapshot = [_FROM_SNAPSHOT.get(k) for k in self.keys[: len(SNAPSHOT_KEYS)]]
        assert snapshot == list(SNAPSHOT_KEYS), "observation and stage snapshot disagree"
        self.high = np.concatenate([e.high for e in self.entries])
        self.size = int(self.high.size)
        self.dict_space = spaces.Dict(
            {
                e.key: spaces.Box(np.zeros(e.size, dtype=np.float32), e.high, dtype=np.float32)
                for e in self.entries
            }
        )
        self.flat_space = spaces.Box(
            np.zeros(self.size, dtype=np.float32), self.high.copy(), dtype=np.float32
        )
        self.slices: dict[str, slice] = {}
        start = 0
        for e in self.entries:
            self.slices[e.key] = slice(start, start + e.size)
            start += e.size
        self._items = list(self.slices.items())

    def space(self, mode: str) -> spaces.Space:
        """The Dict (``mode="dict"``) or flat Box (``mode="flat"``) space."""
        return self.dict_space if mode == "dict" else self.flat_space

    def build(self, values: Mapping[str, object], mode: str) -> dict[str, np.ndarray] | np.ndarray:
        """Clip raw values to their bounds and return a fresh observation in ``mode``."""
        buf = np.empty(self.size, dtype=np.float32)
        for key, sl in self._items:
            buf[sl] = values[key]
        # minimum/maximum in place: np.clip costs several times more per call at this size.
        np.minimum(buf, self.high, out=buf)
        np.maximum(buf, 0.0, out=buf)
        return buf if mode == "flat" else self.views(buf)

    def views(self, flat: np.ndarray) -> dict[str, np.ndarray]:
        """The dict observation of a flat one (views into it)."""
        return {key: flat[sl] for key, sl in self._items}

    def as_dict(self, obs: Mapping[str, np.ndarray] | np.ndarray) -> dict[str, np.ndarray]:
        """The dict form of an observation given in either form (flat: views, batched too)."""
        if not isinstance(obs, np.ndarray):  # checked first: an ABC's isinstance costs a µs
            if isinstance(obs, Mapping):
                return dict(obs)
            obs = np.asarray(obs)
        return {key: obs[..., sl] for key, sl in self._items}

    def table(self) -> str:
        """A Markdown table of the observation entries (key, shape, meaning, unit, bounds)."""
        rows = ["| key | shape | meaning | unit | min | max |", "|---|---|---|---|---|---|"]
        for e in self.entries:
            high = np.unique(e.high)
            shown = f"{float(high[0]):g}" if high.size == 1 else "per entry"
            rows.append(f"| `{e.key}` | ({e.size},) | {e.doc} | {e.unit} | 0 | {shown} |")
        return "\n".join(rows)
