"""Action forms of the env, picked by name: target, delta and continuous.

Every form is stable-baselines3-compatible (no Dict actions) and decodes to one
(replicas, cores, batch) target per stage. An action outside the space raises
:class:`~themis_env.errors.InvalidActionError`; clipping exists only as an explicit wrapper.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from gymnasium import spaces

from themis_env.errors import InvalidActionError
from themis_env.sim.simulator import StageDecision

__all__ = ["StageLimits", "ActionCodec", "ACTION_MODES", "make_codec"]

KNOBS = ("replicas", "cores", "batch")


@dataclass(frozen=True)
class StageLimits:
    """Bounds of one stage's knobs (inclusive)."""

    name: str
    min_replicas: int
    max_replicas: int
    max_cores: int
    max_batch: int

    @property
    def lows(self) -> tuple[int, int, int]:
        """Lowest (replicas, cores, batch)."""
        return (self.min_replicas, 1, 1)

    @property
    def highs(self) -> tuple[int, int, int]:
        """Highest (replicas, cores, batch)."""
        return (self.max_replicas, self.max_cores, self.max_batch)


class ActionCodec:
    """Maps env actions to stage targets and back."""

    mode = "target"

    def __init__(self, limits: Sequence[StageLimits]) -> None:
        self.limits = list(limits)
        self.lows = np.array([lo for s in self.limits for lo in s.lows], dtype=np.int64)
        self.highs = np.array([hi for s in self.limits for hi in s.highs], dtype=np.int64)
        self.space = self._space()

    def _space(self) -> spaces.Space:
        return spaces.MultiDiscrete(self.highs - self.lows + 1)

    def _check(self, action: object) -> np.ndarray:
        arr = np.asarray(action)
        if arr.shape != self.space.shape or not self.space.contains(arr.astype(self.space.dtype, copy=False)):
            raise InvalidActionError(
                f"action {action!r} (type {type(action).__name__}) is not in the {self.mode!r} action "
                f"space {self.space}; each entry i must lie in [0, {self.space_high_text()}]"
                " (wrap the env in themis_env.envs.wrappers.ClipAction to clip instead)"
            )
        if not np.issubdtype(arr.dtype, np.number) or not np.all(np.isfinite(arr)):
            raise InvalidActionError(f"action {action!r} must hold finite numbers")
        return arr

    def space_high_text(self) -> str:
        """Upper bounds of the action entries, for error messages."""
        return str((self.highs - self.lows).tolist())

    def decode(self, action: object, current: Sequence[StageDecision]) -> tuple[list[StageDecision], int]:
        """Targets for ``action`` given the ``current`` targets; also how many knobs were clamped."""
        arr = self._check(action).astype(np.int64)
        return self._to_targets(arr + self.lows), 0

    def encode(self, targets: Sequence[Sequence[int]], current: Sequence[StageDecision]) -> np.ndarray:
        """The action that asks for ``targets`` (clamped to the limits)."""
        flat = np.clip(np.asarray(targets, dtype=np.int64).reshape(-1), self.lows, self.highs)
        return (flat - self.lows).astype(self.space.dtype)

    def _to_targets(self, flat: np.ndarray) -> list[StageDecision]:
        return [StageDecision(int(flat[3 * s]), int(flat[3 * s + 1]), int(flat[3 * s + 2])) for s in range(len(self.limits))]


class DeltaCodec(ActionCodec):
    """Per stage and knob, one of {−1, 0, +1} (encoded 0, 1, 2); results are held within limits."""

    mode = "delta"

    def _space(self) -> spaces.Space:
        return spaces.MultiDiscrete(np.full(3 * len(self.limits), 3))

    def space_high_text(self) -> str:
        """Upper bounds of the action entries."""
        return "2 (0: -1, 1: keep, 2: +1)"

    def decode(self, action: object, current: Sequence[StageDecision]) -> tuple[list[StageDecision], int]:
        """Targets = current + delta, held at the limits (the number held is reported)."""
        arr = self._check(action).astype(np.int64) - 1
        wanted = np.asarray(current, dtype=np.int64).reshape(-1) + arr
        held = np.clip(wanted, self.lows, self.highs)
        return self._to_targets(held), int(np.count_nonzero(held != wanted))

    def encode(self, targets: Sequence[Sequence[int]], current: Sequence[StageDecision]) -> np.ndarray:
        """One step toward ``targets``."""
        diff = np.asarray(targets, dtype=np.int64).reshape(-1) - np.asarray(current, dtype=np.int64).reshape(-1)
        return (np.sign(diff) + 1).astype(self.space.dtype)


class ContinuousCodec(ActionCodec):
    """Box[−1, 1] per stage and knob, mapped linearly onto [low, high] and rounded."""

    mode = "continuous"

    def _space(self) -> spaces.Space:
        n = 3 * len(self.limits)
        return spaces.Box(-1.0, 1.0, shape=(n,), dtype=np.float32)

    def space_high_text(self) -> str:
        """Bounds of the action entries."""
        return "[-1, 1] as float32"

    def decode(self, action: object, current: Sequence[StageDecision]) -> tuple[list[StageDecision], int]:
        """Targets = round(low + (a + 1) / 2 · (high − low))."""
        arr = self._check(action).astype(np.float64)
        flat = np.rint(self.lows + (arr + 1.0) * 0.5 * (self.highs - self.lows)).astype(np.int64)
        return self._to_targets(flat), 0

    def encode(self, targets: Sequence[Sequence[int]], current: Sequence[StageDecision]) -> np.ndarray:
        """The point of the box that decodes to ``targets``."""
        flat = np.clip(np.asarray(targets, dtype=np.float64).reshape(-1), self.lows, self.highs)
        span = np.maximum(self.highs - self.lows, 1)
        return (2.0 * (flat - self.lows) / span - 1.0).astype(np.float32)


ACTION_MODES = {"target": ActionCodec, "delta": DeltaCodec, "continuous": ContinuousCodec}


def make_codec(mode: str, limits: Sequence[StageLimits]) -> ActionCodec:
    """The codec for an action mode name."""
    return ACTION_MODES[mode](limits)
