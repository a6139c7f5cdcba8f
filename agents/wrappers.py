"""Env wrappers used by the training scripts.

``RandomWindowReset`` makes every episode start at a random window of the scenario's trace, so
an agent does not overfit one stretch of traffic. ``FitDeltaAction`` gives an agent one step
per knob per decision and holds growth the cluster has no free cores for; ``FitScaleAction``
adds halving and doubling, so a knob crosses its range in a few decisions. (DQN's discrete
moves come from ``themis_env.envs.wrappers.DiscreteActionWrapper``.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from themis_env.envs.actions import ActionCodec, DeltaCodec, StageDecision
from themis_env.envs.wrappers import cluster_env
from themis_env.errors import ConfigError

__all__ = [
    "RandomWindowReset",
    "FitDeltaAction",
    "FitScaleAction",
    "ScaleCodec",
    "TRAINING_ONLY_WRAPPERS",
]

# Wrappers that change only how episodes are drawn during training; an evaluated agent does not
# need them (the evaluation decides its own windows).
TRAINING_ONLY_WRAPPERS = ("themis_env.agents.wrappers.RandomWindowReset",)


class RandomWindowReset(gym.Wrapper):
    """Pass ``options={"random_window": True}`` on every reset.

    The env then draws the window start with its own generator within the scenario's
    ``trace.sample_range`` (or the whole trace), so a seeded run sees a reproducible
    sequence of windows. Options given to ``reset`` are kept; an explicit ``start_s`` wins.
    A scenario without an episode length (no ``episode_s``, no ``trace.duration_s``, none in
    the options) plays its whole trace: there is no window to draw, and the reset is plain.

    Example:
        >>> import themis_env  # doctest: +SKIP
        >>> env = RandomWindowReset(gym.make("themis_env/InferenceCluster-v0",
        ...                                  scenario="video-arxiv-train"))  # doctest: +SKIP
    """

    def reset(
        self, *, seed: int | None = None, options: Mapping[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Reset on a random window of the trace."""
        merged = dict(options or {})
        if "start_s" not in merged and self._has_window(merged):
            merged.setdefault("random_window", True)
        return self.env.reset(seed=seed, options=merged)

    def _has_window(self, options: Mapping[str, Any]) -> bool:
        scenario = getattr(self.env.unwrapped, "scenario", None)
        if scenario is None:  # not a cluster env: its reset decides what the option means
            return True
        lengths = (options.get("episode_s"), scenario.episode_s, scenario.trace.duration_s)
        return any(n is not None for n in lengths)


class FitDeltaAction(gym.ActionWrapper):
    """Per stage and knob −1 / keep / +1, with growth that does not fit the cluster held.

    The action space is ``MultiDiscrete([3] * 3S)`` (0: −1, 1: keep, 2: +1 for replicas,
    cores, batch of each stage; with model variants, a replica count per variant slot before
    cores and batch), whatever the wrapped env's ``action_mode``: the resulting
    targets go to the env through ``encode_targets``. A step past a knob's limits, or growth
    the free cores cannot hold (replicas that could not be placed, cores a resize could not
    get), is replaced by "keep"; when several growth steps fit alone but not together, the
    later stages' are held. Without this, asking for capacity that does not exist costs
    nothing (unplaced replicas are free), which leaves an agent a flat reward landscape at
    "ask for everything".

    Args:
        env: A (possibly wrapped) :class:`~themis_env.envs.InferenceClusterEnv`.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        base = cluster_env(env, "FitDeltaAction")
        self._base = base
        self._codec = DeltaCodec(base.stage_limits)
        # One entry per knob: with model variants a stage has a replica count per variant slot.
        self.action_space = self._codec.space
        self.held = 0

    def action(self, action: Any) -> np.ndarray:
        """The wrapped env's action for the delta ``action`` after holding what does not fit."""
        current = self._base.current_targets
        free = self._base.free_cores()
        steps = np.asarray(action, dtype=np.int64).reshape(-1).copy()
        self._codec.decode(steps, current)  # raises InvalidActionError outside the space
        allowed = self._codec.masks(current, free).reshape(-1, 3)
        unfit = ~allowed[np.arange(len(steps)), steps]
        steps[unfit] = 1
        # Growth judged knob by knob may not fit together: hold the later ones. A stage's
        # entries are its replica counts (one per variant slot), then cores, then batch: a new
        # replica needs the stage's cores, a core more per replica needs its replica count.
        budget = float(np.maximum(free, 0).sum())
        width = self._codec.width
        for s, d in enumerate(current):
            slots = width - 2
            needs = [(k, d[slots]) for k in range(slots)] + [(slots, sum(d[:slots]))]
            for knob, need in needs:
                i = width * s + knob
                if steps[i] == 2:
                    if need > budget:
                        steps[i] = 1
                        unfit[i] = True
                    else:
                        budget -= need
        self.held = int(unfit.sum())
        targets, _ = self._codec.decode(steps, current)
        return self._base.encode_targets(targets)

    @staticmethod
    def batch(
        wrappers: Sequence[FitDeltaAction],
        actions: np.ndarray,
        current: np.ndarray,
        free: np.ndarray,
    ) -> np.ndarray:
        """:meth:`action` of N wrappers at once, in NumPy (a native vector env's clusters).

        Args:
            wrappers: Cluster i's wrapper, for each i (they share the stage limits).
            actions: Row i: cluster i's delta action.
            current: Row i: cluster i's targets in force, flat (int64, (N, entries)).
            free: Row i: cluster i's free cores per node (N, nodes).

        Returns:
            Row i: what :meth:`action` gives cluster i's env; each wrapper's ``held`` is set.
        """
        first = wrappers[0]
        codec, width = first._codec, first._codec.width
        slots = width - 2
        steps = codec._batch_integers(actions).copy()  # raises naming a bad entry
        n, k = steps.shape
        cur = current.reshape(n, -1, width)
        room = np.maximum(free, 0)
        free_total = room.sum(axis=1)
        # DeltaCodec.masks, for every cluster: growth fits the free cores, each knob alone.
        cores_now = cur[:, :, slots]
        replica_fits = (room[:, None, :] // np.maximum(cores_now, 1)[:, :, None]).sum(axis=2) >= 1
        grow_fits = np.ones(cur.shape, dtype=bool)
        grow_fits[:, :, :slots] = replica_fits[:, :, None]
        grow_fits[:, :, slots] = cur[:, :, :slots].sum(axis=2) <= free_total[:, None]
        flat = cur.reshape(n, k)
        allowed = np.where(
            steps == 0,
            flat > codec.lows,
            np.where(steps == 2, (flat < codec.highs) & grow_fits.reshape(n, k), True),
        )
        unfit = ~allowed
        steps[unfit] = 1
        # Growth that fits knob by knob but not together: the later ones held, as action().
        budget = free_total.astype(np.float64)
        for s in range(cur.shape[1]):
            for knob in range(slots + 1):
                i = width * s + knob
                need = cur[:, s, slots] if knob < slots else cur[:, s, :slots].sum(axis=1)
                grow = steps[:, i] == 2
                over = grow & (need > budget)
                steps[over, i] = 1
                unfit[over, i] = True
                budget = budget - np.where(grow & ~over, need, 0)
        for wrapper, held in zip(wrappers, unfit.sum(axis=1).tolist(), strict=True):
            wrapper.held = held
        targets = np.minimum(np.maximum(flat + steps - 1, codec.lows), codec.highs)
        return first._base.codec.encode_batch(targets, flat)  # type: ignore[attr-defined]


class ScaleCodec(ActionCodec):
    """Per stage and knob one of five moves: 0 halve, 1 −1, 2 keep, 3 +1, 4 double.

    Halving rounds down. A move past a knob's limits stops at the limit (doubling 5 cores
    of at most 8 gives 8); a move that cannot change the value at all is counted as held.
    """

    mode = "scale"
    MOVES = ("halve", "-1", "keep", "+1", "double")

    def _space(self) -> spaces.Space:
        return spaces.MultiDiscrete(np.full(self.lows.size, len(self.MOVES)))

    def _entry_bounds(self, i: int) -> str:
        return ", ".join(f"{k} ({m})" for k, m in enumerate(self.MOVES))

    @staticmethod
    def _move(value: int, move: int) -> int:
        return (value // 2, value - 1, value, value + 1, value * 2)[move]

    def decode_values(self, action: object, current: Sequence[int]) -> tuple[list[int], int]:
        """Targets after each knob's move, held within the limits (the number held returned)."""
        moves = self._integers(action)
        out, held = [], 0
        for x, m, lo, hi in zip(current, moves, self._lows, self._highs, strict=True):
            y = min(max(self._move(x, m), lo), hi)
            held += m != 2 and y == x
            out.append(y)
        return out, held

    def encode(
        self, targets: Sequence[Sequence[int]], current: Sequence[StageDecision]
    ) -> np.ndarray:
        """The move per knob that lands closest to ``targets`` (keep on a tie)."""
        want = np.asarray(targets, dtype=np.int64).reshape(-1)
        now = [v for d in current for v in d]
        moves = []
        for x, t, lo, hi in zip(now, want.tolist(), self._lows, self._highs, strict=True):
            reach = [abs(min(max(self._move(x, m), lo), hi) - t) for m in range(5)]
            moves.append(min(range(5), key=lambda m: (reach[m], m != 2)))
        return np.asarray(moves, dtype=self.space.dtype)


class FitScaleAction(gym.ActionWrapper):
    """Per stage and knob halve / −1 / keep / +1 / double, with growth that does not fit held.

    The action space is ``MultiDiscrete([5] * 3S)`` (:class:`ScaleCodec`'s moves for replicas,
    cores, batch of each stage); with model variants a stage has a move per variant slot's
    replica count before cores and batch (the env's own entries). The wrapped env must take
    whole targets (``action_mode``
    ``"target"`` or ``"continuous"``): a ``"delta"`` env would cut every move to one step.
    From one core a replica reaches eight in three decisions, where :class:`FitDeltaAction`
    takes seven: an agent can answer a surge (or give back a surge's cores) about as fast as
    Themis's vertical phase does.

    Growth is checked stage by stage against the free cores left by the stages before: a core
    step that does not fit for every replica is held; replicas are added as far
    as whole replicas fit on the nodes (a partial step counts as held). The check is on the
    free cores before the decision, node by node for new replicas but in total for resizes, so
    a resize can still wait for room on its replica's node (the env retries it, as Kubernetes
    would). With variants the variant slots are grown in slot order, and a stage whose moves
    would leave no replica of any variant keeps one of the variant it has most of (a stage
    without variants never goes below ``min_replicas`` either).

    Args:
        env: A (possibly wrapped) :class:`~themis_env.envs.InferenceClusterEnv` whose
            ``action_mode`` is ``"target"`` or ``"continuous"``.

    Raises:
        ConfigError: for an env in ``"delta"`` mode.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        base = cluster_env(env, "FitScaleAction")
        if base.action_mode == "delta":
            raise ConfigError(
                "FitScaleAction halves and doubles the knobs, which a 'delta' env cannot take in "
                "one decision: build the env with action_mode='target' (or 'continuous')"
            )
        self._base = base
        self._codec = ScaleCodec(base.stage_limits)
        self.action_space = self._codec.space
        self.held = 0

    def action(self, action: Any) -> np.ndarray:
        """The wrapped env's action for the moves in ``action`` after holding what does not fit."""
        current = self._base.current_targets
        free = np.maximum(self._base.free_cores(), 0)
        wanted, self.held = self._codec.decode(action, current)  # raises outside the space
        return self._base.encode_targets(self._fit(current, wanted, free))

    def _fit(
        self, current: Sequence[Sequence[int]], wanted: Sequence[Sequence[int]], free: np.ndarray
    ) -> list[tuple[int, ...]]:
        """Per stage, the wanted targets with what does not fit held.

        A stage's target is the replicas of each variant slot (one slot for a stage of one
        model), then cores and batch.
        """
        budget = int(free.sum())
        targets = []
        for now, want in zip(current, wanted, strict=True):
            slots = len(now) - 2
            counts_now, cores_now = list(now[:slots]), int(now[slots])
            counts, cores, batch = list(want[:slots]), int(want[slots]), int(want[slots + 1])
            total_now = sum(counts_now)
            if cores > cores_now and (cores - cores_now) * total_now > budget:
                cores = cores_now
                self.held += 1
            budget -= max(cores - cores_now, 0) * total_now
            if sum(counts) == 0 and total_now > 0:
                # No replica of any variant would leave the stage unable to serve at all.
                counts[int(np.argmax(counts_now))] = 1
                self.held += 1
            room = min(int((free // cores).sum()), budget // cores)
            for k in range(slots):
                if counts[k] > counts_now[k]:
                    added = max(min(counts[k] - counts_now[k], room), 0)
                    self.held += added < counts[k] - counts_now[k]
                    counts[k] = counts_now[k] + added
                    room -= added
                    budget -= added * cores
            targets.append((*counts, cores, batch))
        return targets
