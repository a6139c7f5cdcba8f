"""The training action wrappers: the moves they make, the growth they hold, their errors."""

import gymnasium as gym
import numpy as np
import pytest
from themis_env.agents.wrappers import FitDeltaAction, FitScaleAction, ScaleCodec

import themis_env  # noqa: F401
from themis_env.envs.actions import StageDecision
from themis_env.errors import ConfigError, InvalidActionError

ENV_ID = "themis_env/InferenceCluster-v0"
HALVE, MINUS, KEEP, PLUS, DOUBLE = range(5)


def _env(wrapper, **overrides):
    mode = "target" if wrapper is FitScaleAction else "delta"
    env = wrapper(gym.make(ENV_ID, scenario="smoke-video", action_mode=mode, **overrides))
    env.reset(seed=0)
    return env


def test_scale_moves_stop_at_the_limits_and_count_what_they_could_not_move():
    env = gym.make(ENV_ID, scenario="smoke-video")
    codec = ScaleCodec(env.unwrapped.stage_limits)
    now = [StageDecision(3, 5, 1), StageDecision(1, 8, 8)]
    targets, held = codec.decode(
        [HALVE, DOUBLE, DOUBLE, HALVE, PLUS, KEEP], now
    )  # replicas 3 -> 1, cores 5 -> 8 (not 10), batch 1 -> 2; 1 -> 1 held, 8 -> 8 held, keep
    assert targets == [StageDecision(1, 8, 2), StageDecision(1, 8, 8)]
    assert held == 2
    targets, held = codec.decode([MINUS, MINUS, KEEP, DOUBLE, HALVE, HALVE], now)
    assert targets == [StageDecision(2, 4, 1), StageDecision(2, 4, 4)] and held == 0


@pytest.mark.parametrize(
    ("target", "moves"),
    [
        ((8, 8, 8), [DOUBLE, PLUS, DOUBLE]),  # from (4, 7, 4)
        ((4, 7, 4), [KEEP, KEEP, KEEP]),
        ((1, 1, 1), [HALVE, HALVE, HALVE]),
        ((5, 6, 3), [PLUS, MINUS, MINUS]),
    ],
)
def test_scale_encode_takes_the_move_that_lands_closest(target, moves):
    codec = ScaleCodec(gym.make(ENV_ID, scenario="smoke-video").unwrapped.stage_limits)
    now = [StageDecision(4, 7, 4), StageDecision(1, 1, 1)]
    action = codec.encode([target, (1, 1, 1)], now)
    assert action.tolist() == [*moves, KEEP, KEEP, KEEP]


def test_out_of_space_moves_are_refused_with_the_allowed_values():
    env = _env(FitScaleAction)
    assert env.action_space == gym.spaces.MultiDiscrete([5] * 6)
    with pytest.raises(InvalidActionError, match=r"action\[1\].*cores.*= 5 is outside \[0, 4\]"):
        env.step([2, 5, 2, 2, 2, 2])
    with pytest.raises(InvalidActionError, match="0 \\(halve\\), 1 \\(-1\\), 2 \\(keep\\)"):
        env.step([2, 2, 2, 2, 2, -1])
    with pytest.raises(InvalidActionError, match="has shape"):
        env.step([2, 2, 2])


def test_doubling_reaches_eight_cores_in_three_decisions():
    env = _env(FitScaleAction)
    for _ in range(3):
        env.step([KEEP, DOUBLE, KEEP, KEEP, KEEP, KEEP])
    assert env.unwrapped.current_targets[0].cores == 8  # smoke-video starts at 1 core


def test_growth_beyond_the_free_cores_is_held_and_placed_replicas_only_are_asked():
    # One 16-core node; the start holds 3 cores (2 x 1 + 1 x 1).
    env = _env(FitScaleAction, cluster={"nodes": 1})
    env.step([KEEP, DOUBLE, KEEP, KEEP, KEEP, KEEP])  # detector cores 1 -> 2: 2 more cores
    env.step([KEEP, DOUBLE, KEEP, KEEP, KEEP, KEEP])  # 2 -> 4: 4 more, 9 in use
    assert env.held == 0
    env.step([KEEP, DOUBLE, KEEP, KEEP, KEEP, KEEP])  # 4 -> 8 needs 8, 7 free: held
    assert env.unwrapped.current_targets[0].cores == 4 and env.held == 1
    env.step([DOUBLE, KEEP, KEEP, KEEP, KEEP, KEEP])  # 2 -> 4 replicas of 4 cores: one fits
    assert env.unwrapped.current_targets[0].replicas == 3 and env.held == 1
    _, _, _, _, info = env.step([KEEP] * 6)
    assert info["pending_replicas"] == 0


def test_scale_moves_need_an_env_that_takes_whole_targets():
    with pytest.raises(ConfigError, match="action_mode='target'"):
        FitScaleAction(gym.make(ENV_ID, scenario="smoke-video", action_mode="delta"))
    env = FitScaleAction(gym.make(ENV_ID, scenario="smoke-video", action_mode="continuous"))
    env.reset(seed=0)
    env.step([DOUBLE, DOUBLE, DOUBLE, KEEP, KEEP, KEEP])
    assert env.unwrapped.current_targets[0] == StageDecision(4, 2, 2)


@pytest.mark.parametrize("wrapper", [FitDeltaAction, FitScaleAction])
def test_random_moves_never_ask_for_more_growth_than_the_free_cores(wrapper):
    # Each wrapper's own accounting: FitDeltaAction charges a replica step the current cores,
    # FitScaleAction the new ones.
    env = _env(wrapper)
    env.action_space.seed(0)
    for _ in range(2000):
        before = env.unwrapped.current_targets
        free = float(env.unwrapped.sim.free_cores().clip(min=0).sum())
        _, _, _, truncated, _ = env.step(env.action_space.sample())
        grown = 0
        for old, new in zip(before, env.unwrapped.current_targets, strict=True):
            per_replica = new.cores if wrapper is FitScaleAction else old.cores
            grown += max(new.cores - old.cores, 0) * old.replicas
            grown += max(new.replicas - old.replicas, 0) * per_replica
        assert grown <= free
        if truncated:
            env.reset()


@pytest.mark.filterwarnings("ignore:trace .* is not available here")
def test_fit_delta_and_fit_scale_actions_move_each_variants_replicas():
    env = FitDeltaAction(gym.make("themis_env/InfAdapter-Resnet-v0", action_mode="delta"))
    width = 7  # five variant replica counts, cores, batch
    assert env.action_space.shape == (width,)
    env.reset(seed=0)
    before = list(env.unwrapped.current_targets[0])
    grow_second_variant = np.ones(width, dtype=np.int64)
    grow_second_variant[1] = 2
    env.step(grow_second_variant)
    after = list(env.unwrapped.current_targets[0])
    assert after[1] == before[1] + 1 and after[:1] + after[2:] == before[:1] + before[2:]
    scale = FitScaleAction(gym.make("themis_env/InfAdapter-Resnet-v1", action_mode="target"))
    assert scale.action_space.nvec.tolist() == [5] * width
    scale.reset(seed=0)
    before = list(scale.unwrapped.current_targets[0])  # two ResNet18 replicas
    moves = np.full(width, 2)
    moves[0], moves[3] = 0, 3  # halve ResNet18, +1 ResNet101
    scale.step(moves)
    after = list(scale.unwrapped.current_targets[0])
    assert after == [before[0] // 2, 0, 0, 1, 0, *before[5:]]
