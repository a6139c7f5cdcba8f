"""Themis's answer to a resize the node defers: a new replica of the wanted size, then the old goes.

After ``react_to_update_status`` in ``mehransi/Themis`` ``adapter/main.py`` at ``8b3bfdd``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from themis_env.baselines import make_policy
from themis_env.baselines.themis.controller import Decision

pytestmark = pytest.mark.filterwarnings("ignore:.*is out of date:DeprecationWarning")


class _Fixed:
    """A controller stand-in that always asks for the same targets and records what it saw."""

    stabilisation = 0

    def __init__(self, targets: list[tuple[int, int, int]]) -> None:
        self.targets = tuple(targets)
        self.seen: list[list[tuple[int, int, int]]] = []

    def decide(self, history: Any, current: Any, ready: Any = None) -> Decision:
        self.seen.append(list(current))
        return Decision(self.targets, "vertical", 10, 10.0)

    def reset(self) -> None:
        pass


def _obs(replicas: list[int], starting: list[int], cores: list[int]) -> dict[str, np.ndarray]:
    f = np.float32
    return {
        "replicas": np.array(replicas, f),
        "replicas_ready": np.array(replicas, f) - np.array(starting, f),
        "replicas_starting": np.array(starting, f),
        "replicas_pending": np.zeros(2, f),
        "cores": np.array(cores, f),
        "batch": np.ones(2, f),
        "arrival_rate": np.full(10, 10.0, f),
    }


def _policy(env_id: str, unresized: list[int], free: list[float]):
    env = gym.make(env_id, scenario="smoke-video", episode_s=20)
    core = env.unwrapped
    env.reset(seed=0)
    policy = make_policy("themis", env)
    policy.controller = _Fixed([(2, 4, 1), (1, 2, 1)])
    # The cluster's state as the policy reads it through its view.
    core.unresized_replicas = lambda: np.array(unresized)
    core.free_cores = lambda: np.array(free, dtype=float)
    core.obs_as_dict = lambda obs: obs
    policy._steps = 5  # past the first decision, which holds (no arrivals seen yet)
    return policy


def _targets(policy, obs) -> list[tuple[int, int, int]]:
    return list(policy._next_decision(obs).targets)


def test_a_deferred_resize_is_replaced_then_the_old_replica_removed_once_the_new_is_ready():
    policy = _policy("themis_env/InferenceCluster-v1", unresized=[1, 0], free=[2.0, 6.0])
    assert policy.resize_fallback and policy.describe()["resize_fallback"] is True
    # Stage 0 runs 2 replicas at the 4 cores asked for, one of them not resized: one more
    # replica of 4 cores (node 1 has room for one).
    assert _targets(policy, _obs([2, 1], [0, 0], [4, 2])) == [(3, 4, 1), (1, 2, 1)]
    # While it starts the stage keeps 3, and the controller still sees 2.
    assert _targets(policy, _obs([3, 1], [1, 0], [4, 2])) == [(3, 4, 1), (1, 2, 1)]
    assert policy.controller.seen[-1][0] == (2, 4, 1)
    # Ready: back to 2 (the env's scale-in removes the unresized replica first).
    assert _targets(policy, _obs([3, 1], [0, 0], [4, 2])) == [(2, 4, 1), (1, 2, 1)]


def test_no_replacement_without_room_for_it_nor_for_an_infeasible_size():
    policy = _policy("themis_env/InferenceCluster-v1", unresized=[1, 0], free=[2.0, 3.0])
    assert _targets(policy, _obs([2, 1], [0, 0], [4, 2])) == [(2, 4, 1), (1, 2, 1)]
    policy = _policy("themis_env/InferenceCluster-v1", unresized=[1, 0], free=[16.0, 16.0])
    policy.controller = _Fixed([(2, 20, 1), (1, 2, 1)])  # beyond a 16-core node
    assert _targets(policy, _obs([2, 1], [0, 0], [20, 2]))[0] == (2, 20, 1)


def test_the_fallback_is_off_where_resizes_fail_v0_so_those_episodes_are_unchanged():
    policy = _policy("themis_env/InferenceCluster-v0", unresized=[1, 0], free=[2.0, 6.0])
    assert not policy.resize_fallback
    assert _targets(policy, _obs([2, 1], [0, 0], [4, 2])) == [(2, 4, 1), (1, 2, 1)]
