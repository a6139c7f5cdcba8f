"""The Gymnasium/SB3 contract, checked on every registered id and every action × obs mode."""

from __future__ import annotations

import importlib
import pickle
import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.registration import EnvSpec
from gymnasium.utils.env_checker import check_env

import themis_env
from themis_env.envs import InferenceClusterEnv
from themis_env.envs.registration import preset_scenarios, register_envs

from .conftest import ALL_IDS, MODES, SHARED, check_allowed, make, rollout, same


def test_registered_ids_cover_the_paper_pipelines_and_traces():
    assert ALL_IDS[0] == "themis_env/InferenceCluster-v1"
    assert len(ALL_IDS) == len(set(ALL_IDS)) == 16
    for version in (0, 1):  # v0 ids stay registered beside the latest
        for pipe in ("Video", "Sentiment", "Nlp"):
            for trace in ("Bursty", "Steady", "Fluctuating", "Twitter"):
                env_id = f"themis_env/{pipe}-{trace}-v{version}"
                assert env_id in gym.registry
                scenario = preset_scenarios(version)[env_id]
                assert scenario == f"{pipe.lower()}-arxiv-{trace.lower()}"


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_gymnasium_check_env(env_id):
    env = make(env_id)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    check_allowed(caught)
    env.close()


@pytest.mark.parametrize(("action_mode", "obs_mode"), MODES)
def test_gymnasium_check_env_every_mode(action_mode, obs_mode):
    env = make(action_mode=action_mode, obs_mode=obs_mode)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped, skip_render_check=True)
    check_allowed(caught)


@pytest.mark.sb3
@pytest.mark.parametrize("env_id", ALL_IDS)
def test_sb3_check_env(env_id):
    sb3_checker = pytest.importorskip("stable_baselines3.common.env_checker")
    env = make(env_id)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sb3_checker.check_env(env)
    check_allowed(caught)


@pytest.mark.sb3
@pytest.mark.parametrize(("action_mode", "obs_mode"), MODES)
def test_sb3_check_env_every_mode(action_mode, obs_mode):
    sb3_checker = pytest.importorskip("stable_baselines3.common.env_checker")
    env = make(action_mode=action_mode, obs_mode=obs_mode)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sb3_checker.check_env(env)
    check_allowed(caught)


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_same_seed_gives_identical_rollouts_and_obs_stay_in_space(env_id):
    # 200 steps over 60-s episodes: also covers resets without a seed in between.
    first = rollout(make(env_id, episode_s=60), seed=3, steps=200)
    second = rollout(make(env_id, episode_s=60), seed=3, steps=200)
    assert len(first) == len(second) > 200
    for i, (a, b) in enumerate(zip(first, second, strict=True)):
        assert same(a, b), f"step {i} differs"


@pytest.mark.parametrize(("action_mode", "obs_mode"), MODES)
def test_same_seed_identical_every_mode_and_different_seeds_differ(action_mode, obs_mode):
    def run(seed: int) -> list:
        return rollout(make(action_mode=action_mode, obs_mode=obs_mode), seed=seed, steps=20)

    assert same(run(5), run(5))
    assert not same(run(5), run(6))


def test_an_episode_does_not_depend_on_the_episodes_before_it():
    fresh = make()
    used = make()
    used.reset(seed=9)
    for _ in range(25):  # past one truncation
        _, _, _, truncated, _ = used.step(used.action_space.sample())
        if truncated:
            used.reset()
    assert same(rollout(fresh, seed=11, steps=15), rollout(used, seed=11, steps=15))


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_pickle_round_trip(env_id):
    env = make(env_id)
    fresh = pickle.loads(pickle.dumps(env))
    assert same(rollout(fresh, seed=2, steps=5), rollout(env, seed=2, steps=5))
    # Mid-episode: the copy carries the simulator and generator state.
    env.reset(seed=4)
    actions = [env.action_space.sample() for _ in range(6)]
    for a in actions[:3]:
        env.step(a)
    copy = pickle.loads(pickle.dumps(env))
    for a in actions[3:]:
        assert same(env.step(a), copy.step(a))


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_spec_json_round_trip_and_make_from_it(env_id):
    env = make(env_id, obs_mode="flat", reward={"w_cost": 0.5}, cluster={"nodes": 3})
    text = env.spec.to_json()
    spec = EnvSpec.from_json(text)
    assert spec == env.spec
    assert spec.kwargs["reward"] == {"w_cost": 0.5}
    remade = gym.make(spec)
    assert remade.unwrapped.scenario == env.unwrapped.scenario
    assert remade.unwrapped.scenario.cluster.nodes == 3
    assert same(rollout(remade, seed=1, steps=5), rollout(env, seed=1, steps=5))


def test_make_with_module_prefix_in_a_fresh_process(tmp_path):
    code = (
        "import sys, gymnasium as gym\n"
        "assert 'themis_env' not in sys.modules\n"
        "env = gym.make('themis_env:themis_env/InferenceCluster-v0', episode_s=5)\n"
        "env.reset(seed=0)\n"
        "print(type(env.unwrapped).__name__, env.step(env.action_space.sample())[3])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["InferenceClusterEnv", "False"]


def test_registration_is_idempotent():
    before = {env_id: gym.registry[env_id] for env_id in ALL_IDS}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        register_envs()
        importlib.reload(themis_env)
    assert not [w for w in caught if "Overriding" in str(w.message)]
    assert all(gym.registry[env_id] is spec for env_id, spec in before.items())
    assert themis_env.registered_ids() == ALL_IDS


def test_env_docstring_has_the_spec_sections():
    doc = InferenceClusterEnv.__doc__
    sections = [
        "## Description",
        "## Action Space",
        "## Observation Space",
        "## Rewards",
        "## Starting State",
        "## Episode End",
        "## Arguments",
        "## Version History",
    ]
    positions = [doc.index(s) for s in sections]
    assert positions == sorted(positions)
    # The observation table lists every key of the real space, with its unit.
    env = InferenceClusterEnv()
    for key in env.observation_space.spaces:
        assert f"| {key} |" in doc, key


def test_every_observation_entry_is_float32_with_finite_bounds():
    for obs_mode in ("dict", "flat"):
        space = InferenceClusterEnv(obs_mode=obs_mode).observation_space
        boxes = space.spaces.values() if obs_mode == "dict" else [space]
        for box in boxes:
            assert box.dtype == np.float32
            assert np.all(np.isfinite(box.low)) and np.all(np.isfinite(box.high))
            assert np.all(box.low == 0) and np.all(box.high > 0)


@pytest.mark.parametrize("env_id", [i for i in ALL_IDS if "Twitter" in i])
def test_twitter_presets_use_the_real_trace_or_say_they_fell_back(env_id):
    if SHARED is not None:
        _, info = make(env_id).reset(seed=0)
        assert info["trace_uri"] == "twitter-2021-08" and info["trace_fallback"] is False
    env = make(env_id, trace_dir=None)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        _, info = env.reset(seed=0)
    if info["trace_fallback"]:  # no Twitter trace in the package's own search path
        assert info["trace_uri"].startswith("synthetic:")
        *_, truncated, info = env.step(env.action_space.sample())
        assert info["trace_fallback"] is True
