"""Static and random policies."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
from themis_env.baselines import make_policy
from themis_env.baselines.simple import RandomPolicy, StaticPolicy, size_stage

from tests.baselines.helpers import decode
from themis_env.config import load_pipeline
from themis_env.errors import PolicyError


def brute_force(latency, rate, batch, max_cores, max_replicas):
    """Fewest total cores, then lowest service time, of all (replicas, cores) serving rate."""
    best = None
    for c in range(1, max_cores + 1):
        for n in range(1, max_replicas + 1):
            if n * latency.throughput_rps(batch, c) >= rate:
                key = (n * c, latency.service_ms(batch, c), n, c)
                best = key if best is None or key < best else best
                break
    return best[2], best[3]


@pytest.mark.parametrize("rate", [0.0, 3.0, 14.0, 40.0, 97.5, 150.0])
@pytest.mark.parametrize("batch", [1, 4])
def test_size_stage_is_the_cheapest_allocation(rate, batch):
    for model in load_pipeline("themis-arxiv/video").models:
        got = size_stage(model.latency, rate, batch, 8, 1, 32)
        assert got == brute_force(model.latency, rate, batch, 8, 32)
        n, c = got
        assert n * model.latency.throughput_rps(batch, c) >= rate


def test_size_stage_respects_budget_and_limits():
    latency = load_pipeline("themis-arxiv/video").models[0].latency  # yolov5n
    # Under a 100 ms budget 1 core (176 ms at batch 1) is out: the cheapest is 2 cores (99 ms).
    n, c = size_stage(latency, 10.0, 1, 8, 1, 32, max_service_ms=100.0)
    assert c == 2 and n == math.ceil(10.0 / latency.throughput_rps(1, 2))
    # A budget nothing meets is ignored.
    unbudgeted = size_stage(latency, 10.0, 1, 8, 1, 32)
    assert size_stage(latency, 10.0, 1, 8, 1, 32, max_service_ms=1.0) == unbudgeted
    # More load than the limits carry: every replica at the fastest core count.
    assert size_stage(latency, 1e4, 1, 8, 1, 32) == (32, 8)
    # 10 req/s: 1 core needs ceil(10 / 5.67) = 2 replicas, 2 cores ceil(10 / 10.09) = 1: both
    # 2 cores in all, the faster one wins the tie. At utilisation 0.5: 4 x 1 core or 2 x 2.
    assert size_stage(latency, 10.0, 1, 8, 1, 32) == (1, 2)
    assert size_stage(latency, 10.0, 1, 8, 1, 32, utilisation=0.5) == (2, 2)


@pytest.mark.parametrize("mode", ["peak", "mean"])
def test_static_policy_serves_its_rate(mode):
    env = gym.make("themis_env/Video-Bursty-v0", episode_s=120)
    policy = make_policy("static", env, mode=mode)
    assert isinstance(policy, StaticPolicy) and policy.privileged
    obs, _ = env.reset(seed=3)
    rates = env.unwrapped.episode_rates
    expected_rate = rates.max() if mode == "peak" else rates.mean()
    assert policy.sized_rate() == pytest.approx(expected_rate)
    first = decode(env, policy.act(obs))
    for (n, c, b), model in zip(first, env.unwrapped.pipeline.models, strict=True):
        assert b == 1
        assert n * model.latency.throughput_rps(b, c) >= expected_rate
    for _ in range(5):  # the allocation holds
        obs, *_ = env.step(policy.act(obs))
        assert decode(env, policy.act(obs)) == first
    env.close()


def test_static_peak_needs_at_least_the_mean():
    env = gym.make("themis_env/Video-Bursty-v0", episode_s=120)
    obs, _ = env.reset(seed=0)
    peak = decode(env, make_policy("static", env).act(obs))
    mean = decode(env, make_policy("static", env, mode="mean").act(obs))
    assert sum(n * c for n, c, _ in peak) >= sum(n * c for n, c, _ in mean)
    with pytest.raises(PolicyError, match="peak"):
        make_policy("static", env, mode="max")
    with pytest.raises(PolicyError, match="utilisation"):
        make_policy("static", env, utilisation=1.5)
    env.close()


@pytest.mark.parametrize("action_mode", ["target", "delta", "continuous"])
def test_random_policy_is_seeded_and_in_the_space(action_mode):
    env = gym.make("themis_env/Video-Bursty-v0", episode_s=30, action_mode=action_mode)
    a, b = make_policy("random", env, seed=7), make_policy("random", env, seed=7)
    other = make_policy("random", env, seed=8)
    assert isinstance(a, RandomPolicy)
    first = [a.act(None) for _ in range(20)]
    assert all(env.action_space.contains(x) for x in first)
    assert all(np.array_equal(x, b.act(None)) for x in first)
    assert not all(np.array_equal(x, other.act(None)) for x in first)
    a.reset()
    assert all(np.array_equal(x, a.act(None)) for x in first)
    # predict with episode_start resets too.
    a.act(None)
    assert np.array_equal(a.predict(None, episode_start=np.array([True]))[0], first[0])
    env.close()


def test_random_policy_rejects_a_bad_seed():
    env = gym.make("themis_env/Video-Bursty-v0", episode_s=30)
    with pytest.raises(PolicyError, match="seed"):
        make_policy("random", env, seed=-1)
    env.close()
