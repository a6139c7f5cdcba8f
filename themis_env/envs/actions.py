"""Action forms of the env, picked by name: ``target``, ``delta`` and ``continuous``.

Every form is stable-baselines3-compatible (no Dict actions) and decodes to one
(replicas, cores, batch) target per stage. An action outside the space raises
:class:`~themis_env.errors.InvalidActionError` naming the entry, its value and its bounds;
clipping exists only as an explicit wrapper (:class:`themis_env.envs.wrappers.ClipAction`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from gymnasium import spaces

from themis_env.errors import InvalidActionError, PolicyError
from themis_env.sim.simulator import UNUSED_SLOT, StageDecision, target_entries

__all__ = [
    "ACTION_MODES",
    "KNOBS",
    "UNUSED_SLOT",
    "ActionCodec",
    "ContinuousCodec",
    "DeltaCodec",
    "StageLimits",
    "TargetCodec",
    "make_codec",
]

KNOBS = ("replicas", "cores", "batch")
_CLIP_HINT = " (wrap the env in themis_env.envs.wrappers.ClipAction to clip instead)"


@dataclass(frozen=True)
class StageLimits:
    """Bounds of one stage's knobs (inclusive), in the flat order of its entries.

    A stage's entries are its replica counts (one per replica slot: the stage's model, or one
    per variant), then cores and batch. Every stage of a pipeline has the same number of
    replica slots (the most variants of any stage); slots a stage does not use are fixed at 0.
    With one slot the entries are (replicas, cores, batch).

    Attributes:
        name: Stage name.
        min_replicas: Fewest replicas (of a stage without variants; a variant may be at 0).
        max_replicas: Most replicas (of each variant).
        max_cores: Most cores per replica (the fewest is 1).
        max_batch: Largest batch size (the smallest is 1).
        variants: Names of the stage's variants; empty for a stage with one model.
        slots: Replica entries of the stage in the flat layout.
    """

    name: str
    min_replicas: int
    max_replicas: int
    max_cores: int
    max_batch: int
    variants: tuple[str, ...] = ()
    slots: int = 1

    @property
    def lows(self) -> tuple[int, ...]:
        """Lowest value of each entry."""
        return tuple(lo for _, lo, _ in self._entries())

    @property
    def highs(self) -> tuple[int, ...]:
        """Highest value of each entry."""
        return tuple(hi for _, _, hi in self._entries())

    @property
    def knobs(self) -> tuple[str, ...]:
        """The name of each entry (``replicas``, ``replicas of resnet50``, ``cores``, ...)."""
        return tuple(name for name, _, _ in self._entries())

    def _entries(self) -> list[tuple[str, int, int]]:
        # The simulator's definition, so that the action space and its limits agree.
        return target_entries(
            self.min_replicas,
            self.max_replicas,
            self.max_cores,
            self.max_batch,
            self.variants,
            self.slots,
        )


class ActionCodec:
    """Maps env actions to stage targets and back; subclasses define one action form.

    Args:
        limits: One entry per stage, in stage order.
    """

    mode = ""

    def __init__(self, limits: Sequence[StageLimits]) -> None:
        self.limits = list(limits)
        self.n_stages = len(self.limits)
        self.lows = np.array([lo for s in self.limits for lo in s.lows], dtype=np.int64)
        self.highs = np.array([hi for s in self.limits for hi in s.highs], dtype=np.int64)
        self.width = len(self.limits[0].lows)  # entries per stage
        self._knob = [knob for s in self.limits for knob in s.knobs]
        # "stage 'detector' cores" for entry i, used in error messages.
        self.entry_names = [f"stage {s.name!r} {knob}" for s in self.limits for knob in s.knobs]
        self.space = self._space()
        self.shape = self.space.shape
        # Plain-int copies for the per-step checks.
        self._lows = self.lows.tolist()
        self._highs = self.highs.tolist()
        self._nvec = getattr(self.space, "nvec", np.zeros(0, dtype=np.int64)).tolist()
        self._nvec_array = np.asarray(self._nvec, dtype=np.int64)

    # ------------------------------------------------------------------ to override
    def _space(self) -> spaces.Space:
        raise NotImplementedError

    def _entry_bounds(self, i: int) -> str:
        """The allowed values of entry ``i`` and their meaning, for error messages."""
        raise NotImplementedError

    def decode_values(self, action: object, current: Sequence[int]) -> tuple[list[int], int]:
        """Targets for ``action``, flat (3 per stage), and how many knobs were held at a limit.

        Args:
            action: An action of this form.
            current: The targets in force, flat (replicas, cores, batch per stage).

        Raises:
            InvalidActionError: if ``action`` is not in the action space.
        """
        raise NotImplementedError

    def decode(
        self, action: object, current: Sequence[StageDecision]
    ) -> tuple[list[StageDecision], int]:
        """Targets for ``action`` given the ``current`` targets, and how many knobs were held.

        Raises:
            InvalidActionError: if ``action`` is not in the action space.
        """
        values, held = self.decode_values(action, _flat(current))
        return self._to_targets(values), held

    def encode(
        self, targets: Sequence[Sequence[int]], current: Sequence[StageDecision]
    ) -> np.ndarray:
        """The action that asks for ``targets`` (clamped to the limits) from ``current``."""
        raise NotImplementedError

    def decode_batch(
        self, actions: np.ndarray, current: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`decode_values` for a batch: row i of ``actions`` from row i of ``current``.

        Args:
            actions: One action of this form per row, shape (N, *action shape).
            current: The targets in force, flat, one row per action (int64, (N, entries)).

        Returns:
            The targets (int64, as ``current``) and the knobs held per row (int64, (N,)).

        Raises:
            InvalidActionError: for the first row not in the action space, as
                :meth:`decode_values` words it.
        """
        rows = [self.decode_values(a, c) for a, c in zip(actions, current.tolist(), strict=True)]
        return (
            np.array([r[0] for r in rows], dtype=np.int64).reshape(current.shape),
            np.array([r[1] for r in rows], dtype=np.int64),
        )

    def encode_batch(self, targets: np.ndarray, current: np.ndarray) -> np.ndarray:
        """:meth:`encode` row by row: targets and current targets flat, (N, entries) each."""
        k = self.width
        rows = [
            self.encode(t.reshape(-1, k), self._to_targets(c))
            for t, c in zip(targets, current.tolist(), strict=True)
        ]
        return np.stack(rows)

    def _batch_integers(self, actions: np.ndarray) -> np.ndarray:
        """A batch of MultiDiscrete actions as int64, or the error of its first bad row."""
        arr = np.asarray(actions)
        if arr.ndim == 2 and arr.shape[1:] == self.shape and arr.dtype.kind in "iuf":
            ints = arr.astype(np.int64)
            whole = arr.dtype.kind != "f" or bool(np.all(ints == arr))
            if whole and bool(np.all((ints >= 0) & (ints < self._nvec_array))):
                return ints
        for row in arr if arr.ndim >= 1 else [arr]:
            self._integers(row)  # raises naming the entry
        raise InvalidActionError(
            f"a batch of {self.mode!r} actions needs shape (n, {self.shape[0]}), got {arr.shape}"
        )

    def masks(self, current: Sequence[StageDecision], free_cores: np.ndarray) -> np.ndarray:
        """Flat boolean mask over the MultiDiscrete values (sb3-contrib ``MaskablePPO`` layout)."""
        raise PolicyError(
            f"action masks exist for the MultiDiscrete action modes 'target' and 'delta'; this "
            f"env uses action_mode={self.mode!r}"
        )

    # ------------------------------------------------------------------ shared
    def _fail(self, action: object, i: int, why: str) -> InvalidActionError:
        return InvalidActionError(
            f"{self.mode!r} action {np.asarray(action).tolist()!r}: action[{i}] "
            f"({self.entry_names[i]}) {why}; allowed: {self._entry_bounds(i)}. "
            f"The action space is {self.space}{_CLIP_HINT}"
        )

    def _array(self, action: object) -> np.ndarray:
        """``action`` as an array of the space's shape holding numbers, or an error."""
        try:
            arr = np.asarray(action)
        except (TypeError, ValueError) as exc:  # ragged sequences
            raise InvalidActionError(
                f"{self.mode!r} action {action!r} is not an array of numbers; the action space "
                f"is {self.space}"
            ) from exc
        if arr.shape != self.shape:
            raise InvalidActionError(
                f"{self.mode!r} action {action!r} has shape {arr.shape}; the action space "
                f"{self.space} needs shape {self.shape} ({self.width} entries per stage: "
                f"{', '.join(self.limits[0].knobs)})"
            )
        if arr.dtype.kind not in "iuf":
            raise InvalidActionError(
                f"{self.mode!r} action {action!r} holds {arr.dtype} values; it must hold numbers "
                f"(the action space is {self.space})"
            )
        return arr

    def _integers(self, action: object) -> list[int]:
        """A MultiDiscrete action as Python ints, each checked against ``[0, nvec)``.

        Plain Python: on a handful of entries it costs less than the equivalent NumPy calls.
        """
        arr = self._array(action)
        values = arr.tolist()
        if arr.dtype.kind == "f":
            for i, v in enumerate(values):
                if not (math.isfinite(v) and v == int(v)):
                    raise self._fail(action, i, f"= {v!r} is not a whole number")
            values = [int(v) for v in values]
        for i, (v, n) in enumerate(zip(values, self._nvec, strict=True)):
            if not 0 <= v < n:
                raise self._fail(action, i, f"= {v} is outside [0, {n - 1}]")
        return values

    def _to_targets(self, v: Sequence[int]) -> list[StageDecision]:
        k = self.width
        if k == 3:
            return [
                StageDecision(v[3 * s], v[3 * s + 1], v[3 * s + 2]) for s in range(self.n_stages)
            ]
        return [tuple(v[k * s : k * (s + 1)]) for s in range(self.n_stages)]  # type: ignore[misc]

    @staticmethod
    def _replica_room(free_cores: np.ndarray, cores: int) -> int:
        """How many more replicas of ``cores`` cores the nodes can place (first fit)."""
        return int(np.floor_divide(np.maximum(free_cores, 0), max(cores, 1)).sum())


class TargetCodec(ActionCodec):
    """``MultiDiscrete``: per stage ``[replicas − min_replicas, cores − 1, batch − 1]``."""

    mode = "target"

    def _space(self) -> spaces.Space:
        return spaces.MultiDiscrete(self.highs - self.lows + 1)

    def _entry_bounds(self, i: int) -> str:
        lo, hi = int(self.lows[i]), int(self.highs[i])
        return f"0..{hi - lo} meaning {self._knob[i]} {lo}..{hi}"

    def decode_values(self, action: object, current: Sequence[int]) -> tuple[list[int], int]:
        """Targets = lows + action (nothing is ever held)."""
        values = self._integers(action)
        return [v + lo for v, lo in zip(values, self._lows, strict=True)], 0

    def decode_batch(
        self, actions: np.ndarray, current: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Targets = lows + actions, row by row (see :meth:`ActionCodec.decode_batch`)."""
        return self._batch_integers(actions) + self.lows, np.zeros(len(current), dtype=np.int64)

    def encode(
        self, targets: Sequence[Sequence[int]], current: Sequence[StageDecision]
    ) -> np.ndarray:
        """The action asking for ``targets`` (clamped to the limits)."""
        flat = np.clip(np.asarray(targets, dtype=np.int64).reshape(-1), self.lows, self.highs)
        return (flat - self.lows).astype(self.space.dtype)

    def encode_batch(self, targets: np.ndarray, current: np.ndarray) -> np.ndarray:
        """:meth:`encode` of each row of ``targets`` (N, entries)."""
        return (np.clip(targets, self.lows, self.highs) - self.lows).astype(self.space.dtype)

    def masks(self, current: Sequence[StageDecision], free_cores: np.ndarray) -> np.ndarray:
        """Values that fit the free cores now, each knob changed alone; the current one always.

        Replica counts fit if the extra replicas (at the stage's current cores) can be placed
        first-fit on the nodes; core counts fit if the growth of every current replica fits in
        the cluster's free cores; batch sizes always fit. Several knobs changed at once may
        still not fit: the shortfall is then reported in ``info`` (pending replicas, failed
        resizes).
        """
        free_total = float(np.maximum(free_cores, 0).sum())
        out = []
        for d, lim in zip(current, self.limits, strict=True):
            counts, cores_now = d[: lim.slots], d[lim.slots]
            room = self._replica_room(free_cores, cores_now)
            for n, lo, hi in zip(counts, lim.lows, lim.highs, strict=False):
                out.append(np.arange(lo, hi + 1) <= n + room)
            cores = np.arange(1, lim.max_cores + 1)
            out.append((cores - cores_now) * sum(counts) <= free_total)
            out.append(np.ones(lim.max_batch, dtype=bool))
        return np.concatenate(out)


class DeltaCodec(ActionCodec):
    """Per stage and knob one of {−1, 0, +1} (encoded 0, 1, 2); results held within limits."""

    mode = "delta"

    def _space(self) -> spaces.Space:
        return spaces.MultiDiscrete(np.full(self.lows.size, 3))

    def _entry_bounds(self, i: int) -> str:
        return "0 (-1), 1 (keep), 2 (+1)"

    def decode_values(self, action: object, current: Sequence[int]) -> tuple[list[int], int]:
        """Targets = current + delta, held at the limits (the number held is returned)."""
        values = self._integers(action)
        wanted = [x + v - 1 for x, v in zip(current, values, strict=True)]
        bounds = zip(wanted, self._lows, self._highs, strict=True)
        held = [min(max(w, lo), hi) for w, lo, hi in bounds]
        return held, sum(h != w for h, w in zip(held, wanted, strict=True))

    def decode_batch(
        self, actions: np.ndarray, current: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Targets = current + delta held at the limits, row by row (the held counted)."""
        wanted = current + self._batch_integers(actions) - 1
        held = np.minimum(np.maximum(wanted, self.lows), self.highs)
        return held, np.count_nonzero(held != wanted, axis=1)

    def encode(
        self, targets: Sequence[Sequence[int]], current: Sequence[StageDecision]
    ) -> np.ndarray:
        """One step from ``current`` toward ``targets``."""
        diff = np.asarray(targets, dtype=np.int64).reshape(-1) - np.asarray(
            current, dtype=np.int64
        ).reshape(-1)
        return (np.sign(diff) + 1).astype(self.space.dtype)

    def encode_batch(self, targets: np.ndarray, current: np.ndarray) -> np.ndarray:
        """:meth:`encode` of each row of ``targets`` from that of ``current`` (N, entries)."""
        return (np.sign(targets - current) + 1).astype(self.space.dtype)

    def masks(self, current: Sequence[StageDecision], free_cores: np.ndarray) -> np.ndarray:
        """Steps that stay within the limits and, for growth, fit the free cores; keep always."""
        free_total = float(np.maximum(free_cores, 0).sum())
        out = []
        for d, lim in zip(current, self.limits, strict=True):
            cores_now = d[lim.slots]
            replica_fits = self._replica_room(free_cores, cores_now) >= 1
            fits = (replica_fits,) * lim.slots + (sum(d[: lim.slots]) <= free_total, True)
            for value, lo, hi, grow_fits in zip(d, lim.lows, lim.highs, fits, strict=True):
                out.append((value > lo, True, value < hi and grow_fits))
        return np.array(out, dtype=bool).reshape(-1)


class ContinuousCodec(ActionCodec):
    """``Box[−1, 1]`` per stage and knob, mapped linearly onto [low, high] and rounded."""

    mode = "continuous"

    def _space(self) -> spaces.Space:
        return spaces.Box(-1.0, 1.0, shape=(self.lows.size,), dtype=np.float32)

    def _entry_bounds(self, i: int) -> str:
        lo, hi = int(self.lows[i]), int(self.highs[i])
        return f"[-1, 1] mapped onto {self._knob[i]} {lo}..{hi}"

    def decode_values(self, action: object, current: Sequence[int]) -> tuple[list[int], int]:
        """Targets = round(low + (a + 1) / 2 · (high − low)), halves to even.

        Plain Python on a handful of entries: the same float operations in the same order as
        the NumPy expression, and ``round`` rounds halves to even as ``np.rint`` does.
        """
        values = [float(v) for v in self._array(action).tolist()]
        for i, v in enumerate(values):
            if not math.isfinite(v):
                raise self._fail(action, i, f"= {v!r} is not a finite number")
        for i, v in enumerate(values):
            if not -1.0 <= v <= 1.0:
                raise self._fail(action, i, f"= {v!r} is outside [-1, 1]")
        bounds = zip(values, self._lows, self._highs, strict=True)
        return [round(lo + (v + 1.0) * 0.5 * (hi - lo)) for v, lo, hi in bounds], 0

    def decode_batch(
        self, actions: np.ndarray, current: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`decode_values` row by row, in NumPy: the same operations in the same order."""
        arr = np.asarray(actions)
        if arr.ndim == 2 and arr.shape[1:] == self.shape and arr.dtype.kind in "iuf":
            a = arr.astype(np.float64)
            if bool(np.all((a >= -1.0) & (a <= 1.0))):  # False for NaN
                span = (self.highs - self.lows).astype(np.float64)
                values = np.rint(self.lows + (a + 1.0) * 0.5 * span).astype(np.int64)
                return values, np.zeros(len(arr), dtype=np.int64)
        return super().decode_batch(arr, current)  # raises naming the bad entry

    def encode(
        self, targets: Sequence[Sequence[int]], current: Sequence[StageDecision]
    ) -> np.ndarray:
        """The point of the box that decodes to ``targets``."""
        flat = np.clip(np.asarray(targets, dtype=np.float64).reshape(-1), self.lows, self.highs)
        span = np.maximum(self.highs - self.lows, 1)
        return (2.0 * (flat - self.lows) / span - 1.0).astype(np.float32)

    def encode_batch(self, targets: np.ndarray, current: np.ndarray) -> np.ndarray:
        """:meth:`encode` of each row of ``targets`` (N, entries): the same operations."""
        flat = np.clip(np.asarray(targets, dtype=np.float64), self.lows, self.highs)
        span = np.maximum(self.highs - self.lows, 1)
        return (2.0 * (flat - self.lows) / span - 1.0).astype(np.float32)


def _flat(current: Sequence[Sequence[int]]) -> list[int]:
    return [int(x) for d in current for x in d]


ACTION_MODES: dict[str, type[ActionCodec]] = {
    "target": TargetCodec,
    "delta": DeltaCodec,
    "continuous": ContinuousCodec,
}


def make_codec(mode: str, limits: Sequence[StageLimits]) -> ActionCodec:
    """The codec for an action mode name (one of :data:`ACTION_MODES`)."""
    return ACTION_MODES[mode](limits)
