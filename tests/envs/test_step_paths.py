"""The compiled per-step path gives what the definitions in the env's docstring give."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import themis_env  # noqa: F401  (registers the ids)
from themis_env.errors import InvalidActionError


def _expected_observation(env) -> np.ndarray:
    """The observation built the slow way: from the simulator's state and the step's info."""
    base = env.unwrapped
    state, stats = base.sim.state, base._last_stats
    done = stats.completed > 0
    latency = [stats.latency_p50_ms, stats.latency_p95_ms, stats.latency_p99_ms] if done else 0.0
    values = {
        "replicas": state.replicas,
        "replicas_ready": state.ready,
        "replicas_starting": state.starting,
        "replicas_pending": state.pending,
        "cores": state.cores,
        "batch": state.batch,
        "queue_len": state.queue_len,
        "utilisation": base.sim.stage_snapshot[:, -1],
        "arrival_rate": base.sim.rate_history,
        "latency_ms": latency,
        "violation": stats.violation,
        "free_cores": state.free_cores,
    }
    return base.layout.build(values, "flat")


def test_observation_after_a_step_is_the_documented_one():
    env = gym.make("themis_env/InferenceCluster-v0", obs_mode="flat", episode_s=120)
    env.reset(seed=4)
    env.action_space.seed(4)
    arrivals = []
    for _ in range(120):
        obs, _, _, _, info = env.step(env.action_space.sample())
        arrivals.append(info["arrivals"])
        np.testing.assert_array_equal(obs, _expected_observation(env))
    history = env.unwrapped.obs_as_dict(obs)["arrival_rate"]
    np.testing.assert_array_equal(history, np.float32(arrivals[-len(history) :]))


def test_any_integer_action_form_gives_the_same_episode():
    def rollout(convert):
        env = gym.make("themis_env/InferenceCluster-v0", episode_s=60)
        env.reset(seed=1)
        env.action_space.seed(1)
        out = []
        for _ in range(60):
            obs, reward, _, _, info = env.step(convert(env.action_space.sample()))
            out.append((reward, info["queue_len"], obs["latency_ms"].tolist()))
        return out

    def readonly(a):
        a = a.copy()
        a.flags.writeable = False
        return a

    def strided(a):
        wide = np.zeros(2 * a.size, dtype=np.int64)
        wide[::2] = a
        return wide[::2]

    fast = rollout(lambda a: a)  # int64 arrays: the codec is skipped
    assert rollout(readonly) == fast
    assert rollout(strided) == fast
    assert rollout(lambda a: a.astype(np.int32)) == fast
    assert rollout(lambda a: a.tolist()) == fast
    assert rollout(lambda a: a.astype(np.float64)) == fast


@pytest.mark.parametrize("bad", [[40, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, -1]])
def test_out_of_space_int64_action_is_rejected_by_the_codec_and_changes_nothing(bad):
    env = gym.make("themis_env/InferenceCluster-v0")
    env.reset(seed=0)
    env.step(env.action_space.sample())
    base = env.unwrapped
    time_before, targets_before = base.sim.time, base.current_targets
    with pytest.raises(InvalidActionError, match=r"action\[\d\] \(stage '\w+' \w+\)"):
        env.step(np.array(bad, dtype=np.int64))
    assert base.sim.time == time_before and base.current_targets == targets_before
