"""Wrappers: ClipAction (Box and MultiDiscrete), DiscreteActionWrapper, the KPIs on truncation."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from themis_env.envs.wrappers import ClipAction, DiscreteActionWrapper
from themis_env.errors import ConfigError, InvalidActionError

from .conftest import make, rollout


def targets(env: gym.Env) -> list[tuple[int, int, int]]:
    return [tuple(d) for d in env.unwrapped.current_targets]


def test_clip_action_clips_a_box_and_counts_the_entries():
    env = ClipAction(make(action_mode="continuous"))
    env.reset(seed=0)
    assert env.action_space == env.unwrapped.action_space  # not widened: SAC/TD3 still work
    _, _, _, _, info = env.step(np.array([5.0, -3.0, 0.0, 1.0, -1.0, 1.2]))
    assert info["clipped_action_entries"] == 3
    assert targets(env) == [(32, 1, 4), (32, 1, 8)]
    _, _, _, _, info = env.step(np.zeros(6, dtype=np.float32))
    assert info["clipped_action_entries"] == 0


def test_clip_action_rounds_and_clips_multidiscrete():
    env = ClipAction(make())
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.array([40, -2, 2.6, 1, 99, 0]))
    assert info["clipped_action_entries"] == 4
    assert targets(env) == [(32, 1, 4), (2, 8, 1)]


def test_clip_action_leaves_nan_to_the_env_error():
    env = ClipAction(make(action_mode="continuous"))
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match="nan"):
        env.step(np.array([np.nan, 0, 0, 0, 0, 0]))


def test_clip_action_needs_a_box_or_multidiscrete():
    with pytest.raises(ConfigError, match="Box or MultiDiscrete"):
        ClipAction(DiscreteActionWrapper(make()))


def test_clip_action_keeps_determinism_and_spec_recording():
    env = ClipAction(make(action_mode="continuous"))
    other = ClipAction(make(action_mode="continuous"))
    first, second = rollout(env, seed=1, steps=8), rollout(other, seed=1, steps=8)
    assert [r[1] for r in first[1:]] == [r[1] for r in second[1:]]
    assert env.spec.additional_wrappers[-1].name == "ClipAction"


def test_discrete_wrapper_has_one_move_per_stage_knob_and_direction():
    env = DiscreteActionWrapper(make())
    assert env.action_space == gym.spaces.Discrete(1 + 6 * 2)
    assert env.move_names[:3] == ["keep", "detector replicas -1", "detector replicas +1"]
    assert env.move_names[-1] == "classifier batch +1"


@pytest.mark.parametrize("action_mode", ["target", "delta", "continuous"])
def test_discrete_moves_change_one_knob_in_any_action_mode(action_mode):
    env = DiscreteActionWrapper(make(action_mode=action_mode))
    env.reset(seed=0)
    start = targets(env)  # detector (2, 1, 1), classifier (1, 1, 1)
    _, _, _, _, info = env.step(0)
    assert targets(env) == start and info["move"] == "keep"
    env.step(np.int64(2))  # detector replicas +1
    env.step(10)  # classifier cores +1
    _, _, _, _, info = env.step(12)  # classifier batch +1
    assert targets(env) == [(3, 1, 1), (1, 2, 2)]
    assert info["move"] == "classifier batch +1" and info["move_held"] is False


def test_discrete_move_past_a_limit_is_held_and_said():
    env = DiscreteActionWrapper(make())
    env.reset(seed=0)
    _, _, _, _, info = env.step(3)  # detector cores -1 from 1
    assert info["move_held"] is True and targets(env)[0] == (2, 1, 1)


@pytest.mark.parametrize("action", [13, -1, 2.0, np.array([1, 2])])
def test_discrete_wrapper_rejects_actions_outside_its_space(action):
    env = DiscreteActionWrapper(make())
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match=r"\[0, 12\]"):
        env.step(action)


def test_discrete_masks_allow_keep_and_forbid_moves_past_limits():
    env = DiscreteActionWrapper(make(cluster={"nodes": 1, "cores_per_node": 3}))
    env.reset(seed=0)
    masks = env.action_masks()
    assert masks.shape == (13,) and masks[0]
    allowed = {name for name, ok in zip(env.move_names, masks, strict=True) if ok}
    # 3 cores all used by the three one-core replicas: no growth fits; shrinking the
    # single-replica classifier or any knob already at 1 is past a limit.
    assert allowed == {"keep", "detector replicas -1", "detector batch +1", "classifier batch +1"}


@pytest.mark.sb3
def test_discrete_wrapper_works_with_sb3_check_env():
    checker = pytest.importorskip("stable_baselines3.common.env_checker")
    checker.check_env(DiscreteActionWrapper(make()))


def wrapper_types(env: gym.Env) -> list[type]:
    kinds = []
    while isinstance(env, gym.Wrapper):
        kinds.append(type(env))
        env = env.env
    return kinds
