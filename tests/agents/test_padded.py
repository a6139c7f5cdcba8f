"""The padded-stage layout: one observation and action shape for every pipeline."""

import gymnasium as gym
import numpy as np
import pytest
from themis_env.agents.evaluate import agent_fits
from themis_env.agents.padded import (
    MAX_STAGES,
    PADDED_LAYOUT,
    PadStageActions,
    StageFeatures,
)
from themis_env.agents.train import train
from themis_env.agents.wrappers import FitDeltaAction, FitScaleAction

import themis_env  # noqa: F401
from themis_env.errors import ConfigError

from .helpers import assert_acts_on, tiny_args, tiny_config

ENV_ID = "themis_env/InferenceCluster-v0"
# Two, two and three stages; 1-s and 0.5-s decisions; cores and memory-equivalent cost.
SCENARIOS = ("smoke-video", "sentiment-2025-twitter", "nlp-arxiv-twitter")
PADDED_WRAPPERS = [
    "themis_env.agents.wrappers.RandomWindowReset",
    "themis_env.agents.wrappers.FitScaleAction",
    {"themis_env.agents.padded.StageFeatures": {"forecast": "heuristic"}},
    "themis_env.agents.padded.PadStageActions",
]


def _padded(scenario: str, forecast: str = "heuristic", **overrides) -> gym.Env:
    env = gym.make(ENV_ID, scenario=scenario, obs_mode="flat", **overrides)
    return PadStageActions(StageFeatures(FitScaleAction(env), forecast=forecast))


@pytest.mark.filterwarnings("ignore:trace 'twitter-2021-08' is not available")
def test_every_pipeline_gets_the_same_spaces_with_its_missing_stages_masked():
    shapes = set()
    for scenario in SCENARIOS:
        env = _padded(scenario, episode_s=20)
        obs, _ = env.reset(seed=0)
        n = env.unwrapped.n_stages
        names = StageFeatures.feature_names()
        present = [obs[names.index(f"stage{i}.present")] for i in range(MAX_STAGES)]
        assert present == [1.0] * n + [0.0] * (MAX_STAGES - n)
        for _ in range(15):
            obs, *_ = env.step(env.action_space.sample())
            assert env.observation_space.contains(obs)
            for i in range(n, MAX_STAGES):  # a missing stage's row stays all zeros
                row = [obs[names.index(name)] for name in names if name.startswith(f"stage{i}.")]
                assert not any(row)
        shapes.add((env.observation_space.shape, tuple(env.action_space.nvec)))
    assert shapes == {((len(StageFeatures.feature_names()),), (5,) * 3 * MAX_STAGES)}


def test_the_entries_of_a_missing_stage_are_ignored():
    env = _padded("smoke-video")
    env.reset(seed=0)
    action = np.full(3 * MAX_STAGES, 2)
    other = action.copy()
    other[6:] = [4, 0, 3]  # the video pipeline has no third stage
    assert np.array_equal(env.action(action), env.action(other))
    assert env.action(action).shape == (6,)


def test_the_forecast_features_are_zero_without_a_forecast_and_load_the_predictor_with_one():
    names = StageFeatures.feature_names()
    for forecast, expect_nonzero in (("none", False), ("learned", True)):
        env = _padded("smoke-video", forecast=forecast)
        env.reset(seed=0)
        for _ in range(20):
            obs, *_ = env.step(np.full(3 * MAX_STAGES, 2))
        value = obs[names.index("forecast_over_load")]
        assert bool(value > 0) == expect_nonzero


def test_bad_settings_name_the_problem():
    env = gym.make(ENV_ID, scenario="smoke-video", obs_mode="flat")
    with pytest.raises(ConfigError, match="forecast = 'lstm'; allowed"):
        StageFeatures(env, forecast="lstm")
    with pytest.raises(ConfigError, match="MultiDiscrete of 3 equal entries per stage"):
        PadStageActions(env)  # the env's own target space has unequal entries
    variants = gym.make(ENV_ID, scenario="video-arxiv-variants", action_mode="delta")
    with pytest.raises(ConfigError, match="model variants"):
        PadStageActions(FitDeltaAction(variants))


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:trace 'twitter-2021-08' is not available")
def test_an_agent_trained_on_one_pipeline_acts_on_the_others(tmp_path, monkeypatch):
    config = tiny_config(tmp_path, PADDED_WRAPPERS, n_steps=64)
    args = tiny_args(tmp_path, "ppo", [], config=str(config), timesteps=64, n_envs=1)
    result = train(args, argv=[])
    assert_acts_on(result.final, ENV_ID, SCENARIOS, episode_s=5)
    variants = gym.make(ENV_ID, scenario="video-arxiv-variants", obs_mode="flat")
    assert any("model variants" in p for p in agent_fits(result.final, variants))
    manifest = (tmp_path / "ppo" / "ppo.json").read_text()
    assert PADDED_LAYOUT in manifest
