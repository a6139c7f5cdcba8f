"""Residual RL on Themis: an agent picks a load multiplier, Themis's controller plans for it."""

import json
import shutil

import gymnasium as gym
import numpy as np
import pytest
from themis_env.agents.artifacts import agent_files, interface_mismatches
from themis_env.agents.envs import import_wrappers
from themis_env.agents.evaluate import agent_fits, load_agent, required_env_kwargs
from themis_env.agents.padded import StageFeatures
from themis_env.agents.residual import (
    HEADROOM_FACTORS,
    HEADROOM_LAYOUT,
    ConstantHeadroomPolicy,
    ThemisHeadroom,
    headroom_interface,
)

import themis_env  # noqa: F401
from themis_env.errors import ConfigError, InvalidActionError, PolicyError
from themis_env.evaluation.registry import make_policy

from .helpers import episode_actions, stepped_through, tiny_trained
from .test_padded_variants import _registered_scenarios

ENV_ID = "themis_env/InferenceCluster-v1"
ONE = HEADROOM_FACTORS.index(1.0)
WRAPPERS = [
    "themis_env.agents.wrappers.RandomWindowReset",
    "themis_env.agents.residual.ThemisHeadroom",
    {"themis_env.agents.padded.StageFeatures": {"forecast": "none", "variants": 5}},
]

# As shipped: a factor holds 10 s.
HELD = [WRAPPERS[0], {WRAPPERS[1]: {"hold_s": 10}}, WRAPPERS[2]]


def _episode(env: gym.Env, act, seed: int = 3) -> list[tuple[object, float, list]]:
    """(observation, reward, targets in force) after each step of one episode."""
    obs, _ = env.reset(seed=seed)
    out, done = [], False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(act(obs))
        out.append((obs.tolist(), reward, env.unwrapped.current_targets))
        done = terminated or truncated
    return out


@pytest.mark.filterwarnings("ignore:trace 'twitter-2021-08' is not available")
@pytest.mark.parametrize(
    ("scenario", "themis"),
    [("smoke-video", "themis"), ("video-arxiv-variants", "themis-variants")],
)
def test_factor_one_is_themis_bit_for_bit(scenario, themis):
    make = dict(scenario=scenario, obs_mode="flat", episode_s=120)
    plain = gym.make(ENV_ID, **make)
    policy = make_policy(themis, plain)

    def themis_act(obs):
        return policy.act(obs)

    policy.reset()
    expected = _episode(plain, themis_act)
    assert len({str(t) for _, _, t in expected}) > 3  # Themis does act in this episode
    # Through the wrapper, stepping the env itself: the wrapper's own env action is recorded.
    wrapped = ThemisHeadroom(gym.make(ENV_ID, **make))
    assert stepped_through(wrapped, ONE) == expected
    # And through its own step, and as the constant-factor policy at 1.
    assert _episode(wrapped, lambda obs: ONE) == expected
    fresh = gym.make(ENV_ID, **make)  # themis-variants reads its first variants when built
    constant = ConstantHeadroomPolicy(fresh, factor=1.0)
    constant.reset()
    assert _episode(fresh, constant.act) == expected


@pytest.mark.filterwarnings("ignore:trace 'twitter-2021-08' is not available")
def test_a_larger_factor_plans_for_more_load():
    env = gym.make(ENV_ID, scenario="smoke-video", obs_mode="flat", episode_s=60)
    cores = {}
    for index in (ONE, len(HEADROOM_FACTORS) - 1):
        wrapped = ThemisHeadroom(env)
        wrapped.reset(seed=0)
        for _ in range(30):
            *_, info = wrapped.step(index)
        cores[index] = env.unwrapped.episode_kpis()["mean_cores"]
        assert wrapped.factor == HEADROOM_FACTORS[index]
    assert cores[len(HEADROOM_FACTORS) - 1] > cores[ONE]


@pytest.mark.filterwarnings("ignore:trace 'twitter-2021-08' is not available")
def test_a_held_factor_plays_the_same_episode_stepped_whole_or_decision_by_decision():
    make = dict(scenario="smoke-video", obs_mode="flat", episode_s=60)
    choices = [6, 0, 3, 5, 1, 2, 4]
    whole = ThemisHeadroom(gym.make(ENV_ID, **make), hold_s=10)
    assert whole.hold == 10
    whole.reset(seed=1)
    returns, factors = [], []
    for choice in choices[:6]:
        _, reward, _, truncated, _ = whole.step(choice)
        returns.append(reward)
        factors.append(whole.factor)
    assert truncated and factors == [HEADROOM_FACTORS[c] for c in choices[:6]]
    # As the evaluator drives it: an action every decision, a new factor every 10th only.
    env = gym.make(ENV_ID, **make)
    stepwise = ThemisHeadroom(env, hold_s=10)
    obs, _ = env.reset(seed=1)
    stepwise.start_episode()
    rewards = []
    for t in range(60):
        stepwise.observe(obs)
        # Between choices the action is ignored: pass another one to show it.
        action = choices[t // 10] if t % 10 == 0 else choices[(t + 3) % 7]
        obs, reward, *_ = env.step(stepwise.action(action))
        rewards.append(reward)
    assert [sum(rewards[i : i + 10], 0.0) for i in range(0, 60, 10)] == returns
    with pytest.raises(ConfigError, match="hold_s = 0"):
        ThemisHeadroom(env, hold_s=0)


@pytest.mark.filterwarnings("ignore:trace 'twitter-2021-08' is not available")
def test_every_registered_scenario_gets_the_same_spaces():
    spaces = set()
    for scenario in _registered_scenarios():
        env = StageFeatures(
            ThemisHeadroom(gym.make(ENV_ID, scenario=scenario, obs_mode="flat", episode_s=30)),
            forecast="none",
            variants=5,
        )
        obs, _ = env.reset(seed=0)
        for action in (0, len(HEADROOM_FACTORS) - 1):
            obs, *_ = env.step(action)
            assert env.observation_space.contains(obs), scenario
        spaces.add((env.observation_space.shape, repr(env.action_space)))
    assert spaces == {((139,), repr(gym.spaces.Discrete(len(HEADROOM_FACTORS))))}


@pytest.mark.filterwarnings("ignore:trace 'twitter-2021-08' is not available")
@pytest.mark.parametrize("bad", [7, -1, 1.0, np.array([0, 1]), "1"])
def test_a_bad_factor_index_is_refused_naming_the_allowed_ones(bad):
    env = ThemisHeadroom(gym.make(ENV_ID, scenario="smoke-video", obs_mode="flat"))
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match=r"one integer index 0\.\.6 into the factors"):
        env.step(bad)


def test_bad_factors_and_chains_are_refused():
    env = gym.make(ENV_ID, scenario="smoke-video", obs_mode="flat")
    with pytest.raises(ConfigError, match="factors = \\[1.0, 0.0\\]"):
        ThemisHeadroom(env, factors=[1.0, 0.0])
    with pytest.raises(PolicyError, match="themis-headroom factors"):
        ConstantHeadroomPolicy(env, factor=-1)
    with pytest.raises(ConfigError, match="StageFeatures with variants"):
        headroom_interface(env, WRAPPERS[:2] + ["themis_env.agents.padded.StageFeatures"])
    with pytest.raises(gym.error.ResetNeeded, match="no observation"):
        ThemisHeadroom(env).action(ONE)


def test_the_interface_names_the_layout_and_fits_one_model_and_variant_scenarios():
    variants = gym.make(ENV_ID, scenario="ipa-video-bursty", obs_mode="flat")
    record = headroom_interface(variants, WRAPPERS)
    assert record["layout"] == HEADROOM_LAYOUT
    assert record["factors"] == list(HEADROOM_FACTORS) and record["hold_s"] is None
    assert record["max_variants"] == 5
    for scenario in ("smoke-video", "nlp-2025-twitter", "infadapter-resnet"):
        env = gym.make(ENV_ID, scenario=scenario, obs_mode="flat")
        assert interface_mismatches(record, env) == [], scenario
    (problem,) = interface_mismatches({**record, "max_stages": 1}, variants)
    assert "stages" in problem
    assert [name for name, _, _ in import_wrappers(WRAPPERS, trusted=False)][1] == WRAPPERS[1]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:trace 'twitter-2021-08' is not available")
def test_a_saved_agent_loads_as_data_and_acts_as_it_trained(tmp_path):
    pytest.importorskip("stable_baselines3")
    final = tiny_trained(tmp_path, HELD, HEADROOM_LAYOUT)
    # The same agent unpickled from its zip and statistics (its manifest without the safe keys).
    legacy_dir = tmp_path / "legacy"
    legacy_dir.mkdir()
    files = agent_files(final)
    for path in (files.model, files.vecnormalize):
        shutil.copy(path, legacy_dir / path.name)
    manifest = json.loads(files.manifest.read_text())
    for key in ("policy", "obs_normalisation"):
        manifest.pop(key)
    (legacy_dir / files.manifest.name).write_text(json.dumps(manifest))
    for scenario in ("smoke-video", "video-arxiv-variants"):
        env = gym.make(ENV_ID, scenario=scenario, episode_s=30, **required_env_kwargs(final))
        assert agent_fits(final, env) == []
        safe = load_agent(str(final), env)
        legacy = load_agent(str(legacy_dir / files.model.name), env, trust=True)
        # reset() restarts the wrapper's controller: the same episode again.
        episodes = [episode_actions(env, safe, 30, legacy) for _ in range(2)]
        assert episodes[0] == episodes[1]
