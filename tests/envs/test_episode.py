"""Episodes: reset options, truncation and KPIs, reward from info, observation content, render."""

from __future__ import annotations

from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.wrappers import TimeLimit

from themis_env.envs import InferenceClusterEnv
from themis_env.envs.wrappers import EpisodeKpisOnTruncation
from themis_env.errors import ConfigError, ScenarioNotFound, TraceError

from .conftest import make

INFO_KEYS = {
    "sim_time_s",
    "trace_uri",
    "trace_fallback",
    "replicas",
    "cores",
    "batch",
    "arrivals",
    "completions",
    "late",
    "dropped",
    "violation",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "cores_allocated",
    "cost",
    "queue_len",
    "horizontal_actions",
    "vertical_actions",
    "failed_resizes",
    "pending_replicas",
    "clamped",
    "reward_terms",
}
KPI_KEYS = {
    "slo_violation_rate",
    "late_or_dropped_fraction",
    "slo_attainment",
    "goodput",
    "requests",
    "completed",
    "late",
    "dropped",
    "cost_core_seconds",
    "cost_memory_equivalent",
    "mean_cores",
    "latency_mean_ms",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "episode_s",
    "cost",
    "horizontal_actions",
    "vertical_actions",
    "failed_resizes",
    "trace_fallback",
}


def test_episode_ends_by_truncation_at_the_window_end_with_kpis(env):
    env.reset(seed=0)
    steps, total = 0, {"requests": 0, "late": 0, "dropped": 0, "h": 0}
    while True:
        _, _, terminated, truncated, info = env.step(env.action_space.sample())
        steps += 1
        assert terminated is False
        assert set(info) >= INFO_KEYS
        total["requests"] += info["arrivals"]
        total["h"] += info["horizontal_actions"]
        if truncated:
            break
        assert "episode_kpis" not in info
    assert steps == 20 and info["sim_time_s"] == 20.0
    kpis = info["episode_kpis"]
    assert set(kpis) == KPI_KEYS
    assert kpis["episode_s"] == 20.0
    assert kpis["requests"] == total["requests"] > 0
    assert kpis["horizontal_actions"] == total["h"]
    assert 0.0 <= kpis["slo_violation_rate"] <= 1.0
    # Request level: completed within the SLO over arrived (drops, late and queued ones miss).
    within = kpis["completed"] - kpis["late"]
    assert kpis["slo_attainment"] == within / kpis["requests"]
    assert kpis["goodput"] == within / 20.0
    assert kpis["slo_attainment"] <= 1.0 - kpis["late_or_dropped_fraction"]


@pytest.mark.parametrize(
    ("overrides", "interval"),
    [({}, 1.0), ({"decision_interval_s": 0.5}, 0.5), ({"decision_interval_s": 2}, 2.0)],
)
def test_reward_is_minus_weighted_violation_and_normalised_cost(overrides, interval):
    env = make(reward={"w_slo": 2.0, "w_cost": 0.7}, **overrides)
    env.reset(seed=1)
    cluster_cores = 2 * 16
    for _ in range(12):
        _, reward, _, _, info = env.step(env.action_space.sample())
        cost_rate = info["cost"] / interval / cluster_cores  # core-seconds → normalised cores
        assert info["cores_allocated"] == pytest.approx(info["cost"] / interval)
        expected = -(2.0 * info["violation"] + 0.7 * cost_rate)
        assert reward == pytest.approx(expected, rel=1e-12, abs=1e-12)
        assert info["reward_terms"]["slo"] == pytest.approx(-2.0 * info["violation"])
        assert info["reward_terms"]["cost"] == pytest.approx(-0.7 * cost_rate)
        assert 0.0 <= info["violation"] <= 1.0


def test_cost_budget_charges_only_the_cost_above_it():
    env = make(reward={"w_slo": 0.0, "w_cost": 1.0, "cost_scale": 1.0, "cost_budget": 6.0})
    env.reset(seed=0)
    seen = set()
    for target in ([(2, 1, 1), (1, 1, 1)], [(4, 2, 1), (2, 2, 1)], [(8, 2, 1), (4, 2, 1)]):
        action = env.unwrapped.encode_targets(target)
        for _ in range(3):
            _, reward, _, _, info = env.step(action)
            assert reward == pytest.approx(-max(0.0, info["cores_allocated"] - 6.0), abs=1e-12)
            seen.add(info["cores_allocated"] > 6.0)
    assert seen == {True, False}  # both sides of the budget were tried


def test_memory_equivalent_cost_and_explicit_cost_scale():
    env = make(cost="memory-equivalent", reward={"w_slo": 0.0, "w_cost": 1.0, "cost_scale": 50.0})
    env.reset(seed=0)
    _, reward, _, _, info = env.step(env.action_space.sample())
    assert info["cost"] > info["cores_allocated"]  # memory GB + 18 GB per core
    assert reward == pytest.approx(-info["cost"] / 50.0)


def test_observation_reflects_the_cluster(env):
    obs, _ = env.reset(seed=0)
    assert obs["replicas"].tolist() == [2, 1] and obs["replicas_ready"].tolist() == [2, 1]
    assert obs["free_cores"].sum() == 32 - 3
    assert not obs["arrival_rate"].any() and not obs["latency_ms"].any()
    obs, _, _, _, info = env.step(env.unwrapped.encode_targets([(4, 2, 2), (1, 1, 1)]))
    # Two new detector replicas are cold-starting (5-20 s) after one second.
    assert obs["replicas"][0] == 4 and obs["replicas_starting"][0] == 2
    assert obs["cores"][0] == 2 and obs["batch"][0] == 2
    assert obs["arrival_rate"][-1] == info["arrivals"]
    assert obs["free_cores"].sum() == 32 - 4 * 2 - 1
    assert obs["violation"][0] == pytest.approx(info["violation"])
    assert obs["queue_len"].tolist() == info["queue_len"]


def test_flat_observation_is_the_dict_in_layout_order():
    flat_env, dict_env = make(obs_mode="flat"), make()
    flat, _ = flat_env.reset(seed=4)
    as_dict, _ = dict_env.reset(seed=4)
    action = flat_env.action_space.sample()
    flat, *_ = flat_env.step(action)
    as_dict, *_ = dict_env.step(action)
    assert flat.shape == flat_env.observation_space.shape
    unpacked = flat_env.unwrapped.obs_as_dict(flat)
    assert list(unpacked) == flat_env.unwrapped.layout.keys
    for key, value in as_dict.items():
        np.testing.assert_array_equal(unpacked[key], value)


def test_latencies_are_zero_not_nan_when_nothing_completed():
    # A batch of 8 on one detector core takes about 1.5 s: nothing completes in the first 0.5 s.
    env = make(decision_interval_s=0.5)
    env.reset(seed=0)
    obs, _, _, _, info = env.step(env.unwrapped.encode_targets([(1, 1, 8), (1, 1, 8)]))
    assert info["completions"] == 0 and info["arrivals"] > 0
    assert info["latency_p50_ms"] == info["latency_p95_ms"] == info["latency_p99_ms"] == 0.0
    assert not obs["latency_ms"].any()


def test_reset_options_choose_the_window():
    env = make(episode_s=30)
    _, info = env.reset(seed=0, options={"start_s": 100, "episode_s": 10})
    base = env.unwrapped
    rates = base.workload.rates
    assert len(rates) == 10 and base.workload.start_s == 100
    full = make(episode_s=200).unwrapped
    full.reset(seed=0)
    np.testing.assert_array_equal(rates, full.workload.rates[100:110])
    steps = 0
    while not env.step(env.action_space.sample())[3]:
        steps += 1
    assert steps + 1 == 10
    # Without options the next episode is the scenario's window again.
    env.reset()
    assert len(base.workload.rates) == 30 and base.workload.start_s == 0


def test_random_window_is_drawn_with_the_env_generator():
    env = make(episode_s=30)
    starts = []
    for seed in (0, 1, 2, 0):
        env.reset(seed=seed, options={"random_window": True})
        starts.append(env.unwrapped.workload.start_s)
        assert len(env.unwrapped.workload.rates) == 30
    assert starts[0] == starts[3]
    assert len(set(starts[:3])) > 1
    assert all(0 <= s <= 660 - 30 for s in starts)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"start": 3}, r"reset option 'start' is not allowed.*Did you mean 'start_s'"),
        ({"episode_s": 0}, r"'episode_s' = 0 must be a whole number of seconds >= 1"),
        ({"start_s": -5}, r"'start_s' = -5 must be a whole number"),
        ({"start_s": 2.5}, r"'start_s' = 2.5"),
        ({"random_window": "yes"}, r"'random_window' = 'yes' must be true or false"),
        ({"random_window": True, "start_s": 3}, r"exclude each other"),
    ],
)
def test_bad_reset_options_raise(env, options, match):
    with pytest.raises(ConfigError, match=match):
        env.reset(seed=0, options=options)


def test_random_window_without_a_length_is_a_clear_error():
    env = make(episode_s=None)  # the bursty trace spec has no duration_s
    with pytest.raises(TraceError, match="episode length"):
        env.reset(seed=0, options={"random_window": True})


def test_bad_overrides_and_scenarios_raise_at_construction():
    with pytest.raises(ConfigError, match=r"unknown key 'cluster.node'.*Did you mean 'nodes'"):
        make(cluster={"node": 3})
    with pytest.raises(ConfigError, match=r"unknown key 'episode_length'"):
        make(episode_length=3)
    with pytest.raises(ConfigError, match=r"'reward.w_cost' = -1.0 is not allowed; it must be >="):
        make(reward={"w_cost": -1})
    with pytest.raises(ScenarioNotFound, match=r"unknown scenario 'video-arxiv-bursti'.*Did you"):
        make(scenario="video-arxiv-bursti")


def test_step_before_reset_raises():
    env = make().unwrapped
    with pytest.raises(gym.error.ResetNeeded):
        env.step(env.action_space.sample())
    with pytest.raises(gym.error.ResetNeeded):
        env.action_masks()


def test_privileged_rates_match_the_episode(env):
    env.reset(seed=0)
    base = env.unwrapped
    assert len(base.episode_rates) == 20
    env.step(env.action_space.sample())
    np.testing.assert_array_equal(base.future_rates(5), base.episode_rates[1:6])
    assert base.future_rates(40)[19:].sum() == 0.0  # zeros past the end


def test_ansi_render_is_one_status_line():
    env = make(render_mode="ansi")
    env.reset(seed=0)
    assert env.render().startswith("t=0.0s detector=2x1c/b1 classifier=1x1c/b1")
    env.step(env.unwrapped.encode_targets([(3, 2, 4), (1, 1, 1)]))
    line = env.render()
    assert isinstance(line, str) and "\n" not in line
    assert "t=1.0s" in line and "detector=3x2c/b4" in line and "viol=" in line


def test_rgb_array_render_is_an_image():
    pytest.importorskip("matplotlib")
    env = make(render_mode="rgb_array")
    env.reset(seed=0)
    for _ in range(5):
        env.step(env.action_space.sample())
    frame = env.render()
    assert isinstance(frame, np.ndarray) and frame.dtype == np.uint8
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.shape[0] > 100
    assert frame.std() > 0  # something was drawn


def test_describe_is_the_plain_scenario(env):
    described = env.unwrapped.describe()
    assert described["name"] == "video-arxiv-bursty"
    assert described["episode_s"] == 20
    assert described["cluster"]["nodes"] == 2


@pytest.mark.parametrize("action_mode", ["target", "delta"])
def test_observed_replica_counts_add_up_under_random_actions(action_mode):
    env = make(action_mode=action_mode, episode_s=60, cluster={"nodes": 2, "cores_per_node": 8})
    env.reset(seed=1)
    env.action_space.seed(1)
    for _ in range(60):
        obs, _, _, _, info = env.step(env.action_space.sample())
        ready_or_starting = obs["replicas_ready"] + obs["replicas_starting"]
        np.testing.assert_array_equal(obs["replicas"], ready_or_starting)
        # Every replica asked for exists or is pending, never silently dropped.
        np.testing.assert_array_equal(obs["replicas"] + obs["replicas_pending"], info["replicas"])
        assert 0 <= obs["free_cores"].min() and obs["free_cores"].max() <= 8


def test_an_episode_that_is_not_a_whole_number_of_intervals_is_refused():
    # Was accepted: 25 s at 10 s per decision ran 3 steps, 30 s, billing 5 s past the window.
    env = make(decision_interval_s=10, episode_s=20)
    with pytest.raises(
        ConfigError, match="'decision_interval_s' = 10 does not divide 'episode_s' = 25"
    ):
        env.reset(seed=0, options={"episode_s": 25})
    env = make(decision_interval_s=10, episode_s=20)
    env.reset(seed=0, options={"episode_s": 30})
    steps = 0
    truncated = False
    while not truncated:
        *_, truncated, info = env.step(env.action_space.sample())
        steps += 1
    assert steps == 3 and info["sim_time_s"] == 30.0


def _run_to_truncation(env: gym.Env) -> tuple[int, dict]:
    env.reset(seed=0)
    env.action_space.seed(0)
    steps, truncated, info = 0, False, {}
    while not truncated:
        _, _, terminated, truncated, info = env.step(env.action_space.sample())
        assert not terminated
        steps += 1
        assert ("episode_kpis" in info) == truncated
    return steps, info


@pytest.mark.parametrize(
    "env_id",
    ["themis_env/Video-Bursty-v1", "themis_env/Video-Bursty-v0", "themis_env/InferenceCluster-v1"],
)
def test_gym_make_max_episode_steps_truncation_carries_the_episode_kpis(env_id):
    """``gym.make(id, max_episode_steps=N)``: the env truncates with the TimeLimit, with KPIs.

    The env reads the limit of the ``make`` call that builds it (Gymnasium has no hook for
    it; this test fails if a Gymnasium release changes how ``make`` holds the limit).
    """
    env = gym.make(env_id, max_episode_steps=4)
    assert env.unwrapped.max_episode_steps == 4
    steps, info = _run_to_truncation(env)
    assert steps == 4
    np.testing.assert_equal(info["episode_kpis"], env.unwrapped.episode_kpis())  # NaN == NaN
    assert info["episode_kpis"]["episode_s"] == 4.0
    # The next episode counts from its reset again.
    assert _run_to_truncation(env)[0] == 4


def test_the_step_limit_comes_only_from_the_make_call_building_the_env():
    """Without a limit, or built another way, the env runs to its trace window's end."""
    assert gym.make("themis_env/Video-Bursty-v1").unwrapped.max_episode_steps is None
    assert InferenceClusterEnv("smoke-video").max_episode_steps is None
    env = InferenceClusterEnv("smoke-video", max_episode_steps=3)  # the class takes it itself
    assert _run_to_truncation(env)[0] == 3
    with pytest.raises(ConfigError, match="max_episode_steps = 0 must be None or >= 1"):
        InferenceClusterEnv("smoke-video", max_episode_steps=0)
    # A registered spec's own limit counts when make is given none.
    spec = gym.spec("themis_env/Video-Bursty-v1")
    assert gym.make(replace(spec, max_episode_steps=5)).unwrapped.max_episode_steps == 5
    # Native vector envs take the limit themselves (their clusters carry none).
    vec = gym.make_vec("themis_env/Video-Bursty-v1", num_envs=2, max_episode_steps=3)
    assert [e.max_episode_steps for e in vec.envs] == [None, None]
    vec.close()


@pytest.mark.parametrize("env_id", ["themis_env/Video-Bursty-v0", "themis_env/InferenceCluster-v0"])
def test_an_explicit_time_limit_truncation_carries_the_episode_kpis(env_id):
    """A TimeLimit wrapped by hand is invisible to the env: EpisodeKpisOnTruncation adds them."""
    env = EpisodeKpisOnTruncation(TimeLimit(gym.make(env_id), max_episode_steps=4))
    steps, info = _run_to_truncation(env)
    assert steps == 4
    np.testing.assert_equal(info["episode_kpis"], env.unwrapped.episode_kpis())  # NaN == NaN
